/* tok_bench: tokens per second of ft's tokenizer alone, on one thread.
 *
 *   tok_bench TOKENIZER TEXTS PASSES
 *
 * TEXTS holds texts back to back, each a 4-byte little-endian length and
 * its UTF-8 bytes (bench/tok_bench_hf.mjs writes it). The first pass
 * starts from a fresh tokenizer (an empty word cache, as for one run over a
 * corpus); the next PASSES - 1 reuse it. Prints one TSV line per pass kind:
 *   ft  first|warm  TEXTS  TOKENS  CPU-SECONDS  WALL-SECONDS  HASH
 * (warm: the pass of least CPU time). HASH is a 32-bit FNV-1a of the ids (each id xored in whole),
 * to compare with the reference's. Times are CPU seconds of this process
 * (the machine is shared). Built by bench/run-tokenize.sh; not part of
 * `make`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/fsout.h"
#include "text/tokenizer.h"

static double now_s(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* One pass over every text: token count and the hash of the ids. */
static int pass(ft_tokenizer *t, const char *buf, size_t n, size_t *n_texts, uint64_t *tokens,
                uint32_t *hash, ft_err *err)
{
    int32_t *ids = NULL;
    size_t cap = 0;
    uint32_t h = 2166136261u;
    *n_texts = 0;
    *tokens = 0;
    for (size_t off = 0; off + 4 <= n;) {
        const unsigned char *p = (const unsigned char *)buf + off;
        size_t len = p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24, k = 0;
        if (off + 4 + len > n)
            return ft_err_set(err, "texts file truncated at byte %zu", off);
        if (ft_tokenizer_encode(t, buf + off + 4, len, 0, &ids, &k, &cap, err) < 0) {
            free(ids);
            return -1;
        }
        for (size_t i = 0; i < k; i++) {
            h ^= (uint32_t)ids[i];
            h *= 16777619u;
        }
        *tokens += k;
        (*n_texts)++;
        off += 4 + len;
    }
    free(ids);
    *hash = h;
    return 0;
}

int main(int argc, char **argv)
{
    ft_err err = {0};
    char *buf;
    size_t n, n_texts;
    uint64_t tokens;
    uint32_t hash;
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    double best_cpu = 1e30, best_wall = 0;

    if (argc < 3 || passes < 1) {
        fprintf(stderr, "usage: tok_bench TOKENIZER TEXTS PASSES\n");
        return 2;
    }
    ft_tokenizer *t = ft_tokenizer_load(argv[1], &err);
    if (!t || ft_read_file(argv[2], (size_t)1 << 34, &buf, &n, &err) < 0) {
        fprintf(stderr, "tok_bench: %s\n", err.msg);
        return 1;
    }
    for (int i = 0; i < passes; i++) {
        double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID), w0 = now_s(CLOCK_MONOTONIC);
        if (pass(t, buf, n, &n_texts, &tokens, &hash, &err) < 0) {
            fprintf(stderr, "tok_bench: %s\n", err.msg);
            return 1;
        }
        double cpu = now_s(CLOCK_PROCESS_CPUTIME_ID) - c0, wall = now_s(CLOCK_MONOTONIC) - w0;
        if (i == 0)
            printf("ft\tfirst\t%zu\t%llu\t%.4f\t%.4f\t%08x\n", n_texts,
                   (unsigned long long)tokens, cpu, wall, hash);
        else if (cpu < best_cpu) {
            best_cpu = cpu;
            best_wall = wall;
        }
    }
    if (passes > 1)
        printf("ft\twarm\t%zu\t%llu\t%.4f\t%.4f\t%08x\n", n_texts, (unsigned long long)tokens,
               best_cpu, best_wall, hash);
    free(buf);
    ft_tokenizer_free(t);
    return 0;
}
