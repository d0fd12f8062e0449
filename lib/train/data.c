/* data: spool, rows, shuffling and micro-batches (see data.h). */
#include "train/data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/hash.h"
#include "core/rng.h"

/* One example: its tokens' place in the array, and its weight. */
struct spool_example {
    uint64_t start;
    uint32_t len;
    float weight;
};

/* A file written sequentially, then mapped read-only. */
typedef struct spool_file {
    FILE *f;
    void *map;
    size_t n_bytes;
} spool_file;

struct ft_spool {
    spool_file tok, mask;
    int has_mask;             /* some example had a mask: mask.f holds one per token */
    uint64_t n_tokens;
    struct spool_example *ex;
    size_t n_examples, cap;
    int sealed;
};

static int file_open(spool_file *sf, ft_err *err)
{
    const char *dir = getenv("TMPDIR");
    char path[4096];

    snprintf(path, sizeof path, "%s/ft-spool-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return ft_err_errno(err, "temporary spool file");
    unlink(path);
    sf->f = fdopen(fd, "w+b");
    if (!sf->f) {
        close(fd);
        return ft_err_errno(err, "temporary spool file");
    }
    return 0;
}

static int file_write(spool_file *sf, const void *p, size_t n, ft_err *err)
{
    if (n && fwrite(p, 1, n, sf->f) != n)
        return ft_err_errno(err, "writing the temporary spool file");
    sf->n_bytes += n;
    return 0;
}

static int file_map(spool_file *sf, ft_err *err)
{
    if (fflush(sf->f) != 0)
        return ft_err_errno(err, "writing the temporary spool file");
    if (!sf->n_bytes)
        return 0;
    sf->map = mmap(NULL, sf->n_bytes, PROT_READ, MAP_SHARED, fileno(sf->f), 0);
    if (sf->map == MAP_FAILED) {
        sf->map = NULL;
        return ft_err_errno(err, "mapping the temporary spool file");
    }
    return 0;
}

static void file_close(spool_file *sf)
{
    if (sf->map)
        munmap(sf->map, sf->n_bytes);
    if (sf->f)
        fclose(sf->f);
    memset(sf, 0, sizeof *sf);
}

ft_spool *ft_spool_new(ft_err *err)
{
    ft_spool *s = ft_calloc(1, sizeof *s, err);
    if (!s)
        return NULL;
    if (file_open(&s->tok, err) < 0) {
        free(s);
        return NULL;
    }
    return s;
}

void ft_spool_free(ft_spool *s)
{
    if (!s)
        return;
    file_close(&s->tok);
    file_close(&s->mask);
    free(s->ex);
    free(s);
}

/* The first example with a mask: every token before it was a target. */
static int start_mask(ft_spool *s, ft_err *err)
{
    static const uint8_t ones[4096] = {[0 ... 4095] = 1};

    if (file_open(&s->mask, err) < 0)
        return -1;
    for (uint64_t done = 0; done < s->n_tokens;) {
        size_t k = s->n_tokens - done < 4096 ? (size_t)(s->n_tokens - done) : 4096;
        if (file_write(&s->mask, ones, k, err) < 0)
            return -1;
        done += k;
    }
    s->has_mask = 1;
    return 0;
}

int ft_spool_add(ft_spool *s, const int32_t *ids, const uint8_t *mask, size_t n,
                 float weight, ft_err *err)
{
    static const uint8_t ones[4096] = {[0 ... 4095] = 1};

    if (n > UINT32_MAX)
        return ft_err_set(err, "an example of %zu tokens is too long", n);
    if (mask && !s->has_mask && start_mask(s, err) < 0)
        return -1;
    if (ft_grow(&s->ex, &s->cap, s->n_examples + 1, sizeof *s->ex, err) < 0)
        return -1;

    if (file_write(&s->tok, ids, n * sizeof *ids, err) < 0)
        return -1;
    if (s->has_mask) {
        if (mask && file_write(&s->mask, mask, n, err) < 0)
            return -1;
        for (size_t done = 0; !mask && done < n;) {
            size_t k = n - done < 4096 ? n - done : 4096;
            if (file_write(&s->mask, ones, k, err) < 0)
                return -1;
            done += k;
        }
    }
    s->ex[s->n_examples++] = (struct spool_example){s->n_tokens, (uint32_t)n, weight};
    s->n_tokens += n;
    return 0;
}

int ft_spool_seal(ft_spool *s, ft_err *err)
{
    if (file_map(&s->tok, err) < 0)
        return -1;
    if (s->has_mask && file_map(&s->mask, err) < 0)
        return -1;
    s->sealed = 1;
    return 0;
}

const int32_t *ft_spool_ids(const ft_spool *s)
{
    return s->tok.map;
}

const uint8_t *ft_spool_mask(const ft_spool *s)
{
    return s->has_mask ? s->mask.map : NULL;
}

uint64_t ft_spool_n_tokens(const ft_spool *s)
{
    return s->n_tokens;
}

size_t ft_spool_n_examples(const ft_spool *s)
{
    return s->n_examples;
}

void ft_spool_example(const ft_spool *s, size_t i, uint64_t *start, uint32_t *n,
                      float *weight)
{
    *start = s->ex[i].start;
    *n = s->ex[i].len;
    *weight = s->ex[i].weight;
}

int ft_spool_read(ft_spool *s, int fd, const char *name, ft_record_fn fn, void *ctx,
                  uint64_t *stream_hash, ft_err *err)
{
    ft_reader *r = ft_reader_open(fd, name, 0, err);
    ft_hasher *h = ft_hasher_new(0);
    ft_record rec;
    int rc;

    if (!r || !h) {
        if (!h)
            ft_err_set(err, "out of memory");
        ft_reader_free(r);
        ft_hasher_free(h);
        return -1;
    }
    while ((rc = ft_reader_next(r, &rec, err)) == 1) {
        ft_hasher_update(h, rec.data, rec.n_bytes);
        if (fn(ctx, &rec, s, err) < 0) {
            ft_err_prefix(err, "%s: record %llu", ft_reader_name(r),
                          (unsigned long long)rec.number);
            break;
        }
    }
    if (rc == 0 && ft_reader_count(r) == 0) {
        ft_err_set(err, "%s: empty stream (no records)", ft_reader_name(r));
        rc = -1;
    } else if (rc == 1) {
        rc = -1;
    }
    *stream_hash = ft_hasher_digest(h);
    ft_hasher_free(h);
    ft_reader_free(r);
    return rc;
}

/* --- --task lm ------------------------------------------------------------- */

int ft_lm_record(void *ctx, const ft_record *rec, ft_spool *s, ft_err *err)
{
    ft_lm_source *src = ctx;
    const ft_field *tok = ft_record_get(rec, "tokens");
    const ft_field *wf = ft_record_get(rec, "weight");
    double weight = 1.0;
    size_t n = 0;

    if (wf && !ft_field_is_nil(wf)) {
        if (ft_field_num(wf, &weight, err) < 0)
            return -1;
        if (!isfinite(weight) || weight < 0)
            return ft_err_set(err, "field weight: %g is not a finite number >= 0",
                              weight);
    }

    /* Token ids as given, else the text through the tokenizer. */
    if (tok) {
        int32_t *ids;
        if (ft_field_int_array(tok, &ids, &n, err) < 0)
            return -1;
        if (ft_grow(&src->buf, &src->cap, n + 1, sizeof *src->buf, err) < 0) {
            free(ids);
            return -1;
        }
        if (n)
            memcpy(src->buf, ids, n * sizeof *ids);
        free(ids);
    } else {
        const ft_field *tf = ft_record_get(rec, "text");
        const char *text;
        size_t len;
        if (!tf)
            return ft_err_set(err, "no \"text\" or \"tokens\" field");
        if (ft_field_str(tf, &text, &len, err) < 0)
            return -1;
        if (!src->encode)
            return ft_err_set(err, "no \"tokens\" field, and no tokenizer for \"text\"");
        if (src->encode(src->encode_ctx, text, len, &src->buf, &n, &src->cap, err) < 0)
            return -1;
    }

    /* An empty record adds nothing, not even an end of sequence. */
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (src->buf[i] < 0 || (src->vocab > 0 && src->buf[i] >= src->vocab))
            return ft_err_set(err, "token %ld at position %zu is outside the vocabulary "
                              "(0..%ld)", (long)src->buf[i], i, (long)src->vocab - 1);
    if (!tok && src->eos >= 0 && src->buf[n - 1] != src->eos) {
        if (ft_grow(&src->buf, &src->cap, n + 1, sizeof *src->buf, err) < 0)
            return -1;
        src->buf[n++] = src->eos;
    }
    return ft_spool_add(s, src->buf, NULL, n, (float)weight, err);
}

void ft_lm_source_free(ft_lm_source *src)
{
    free(src->buf);
    src->buf = NULL;
    src->cap = 0;
}

/* --- Rows ------------------------------------------------------------------ */

static uint32_t count_targets(const ft_spool *s, uint64_t start, uint32_t len)
{
    const uint8_t *mask = ft_spool_mask(s);
    uint32_t k = 0;

    if (!mask)
        return len - 1;
    for (uint32_t i = 1; i < len; i++)
        k += mask[start + i] != 0;
    return k;
}

static int push_row(const ft_spool *s, ft_row **rows, size_t *n, size_t *cap,
                    uint64_t start, uint32_t len, float weight, ft_err *err)
{
    uint32_t k = count_targets(s, start, len);
    if (k == 0)
        return 0;
    if (ft_grow(rows, cap, *n + 1, sizeof **rows, err) < 0)
        return -1;
    (*rows)[*n] = (ft_row){start, len, k, weight};
    (*n)++;
    return 0;
}

int ft_rows_pack(const ft_spool *s, int seq_len, int across, ft_row **rows,
                 size_t *n_rows, ft_err *err)
{
    size_t n = 0, cap = 0, i = 0;

    *rows = NULL;
    if (seq_len < 1)
        return ft_err_set(err, "sequence length %d is below 1", seq_len);

    /* Runs of consecutive examples with one weight, each cut into windows
     * of seq_len + 1 tokens with a stride of seq_len. */
    while (i < s->n_examples) {
        uint64_t a = s->ex[i].start;
        float w = s->ex[i].weight;
        i++;
        while (across && i < s->n_examples && s->ex[i].weight == w)
            i++;
        uint64_t b = i < s->n_examples ? s->ex[i].start : s->n_tokens;
        for (uint64_t at = a; at + 2 <= b; at += (uint64_t)seq_len) {
            uint32_t len = b - at < (uint64_t)seq_len + 1 ? (uint32_t)(b - at)
                                                          : (uint32_t)seq_len + 1;
            if (push_row(s, rows, &n, &cap, at, len, w, err) < 0) {
                free(*rows);
                *rows = NULL;
                return -1;
            }
        }
    }
    *n_rows = n;
    return 0;
}

int ft_rows_examples(const ft_spool *s, int seq_len, ft_row **rows, size_t *n_rows,
                     ft_err *err)
{
    size_t n = 0, cap = 0;

    *rows = NULL;
    for (size_t i = 0; i < s->n_examples; i++) {
        const struct spool_example *e = &s->ex[i];
        if (e->len > (uint64_t)seq_len + 1) {
            free(*rows);
            *rows = NULL;
            return ft_err_set(err, "example %zu has %u tokens, more than the sequence "
                              "length %d + 1", i + 1, e->len, seq_len);
        }
        if (e->len >= 2 &&
            push_row(s, rows, &n, &cap, e->start, e->len, e->weight, err) < 0) {
            free(*rows);
            *rows = NULL;
            return -1;
        }
    }
    *n_rows = n;
    return 0;
}

void ft_rows_order(size_t n_rows, uint64_t seed, int64_t epoch, int shuffle,
                   uint32_t *order)
{
    ft_rng rng;

    for (size_t i = 0; i < n_rows; i++)
        order[i] = (uint32_t)i;
    if (!shuffle || n_rows < 2)
        return;
    ft_rng_seed(&rng, seed, FT_DATA_SHUFFLE_STREAM + (uint64_t)epoch);
    for (size_t i = n_rows - 1; i > 0; i--) {
        size_t j = (size_t)ft_rng_below(&rng, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static const ft_row *group_rows;

static int by_len_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (group_rows[x].len != group_rows[y].len)
        return group_rows[x].len < group_rows[y].len ? 1 : -1;
    return x < y ? -1 : x > y;
}

void ft_rows_group(const ft_row *rows, size_t n_rows, size_t group, uint32_t *order)
{
    if (group < 2)
        return;
    group_rows = rows;
    for (size_t lo = 0; lo < n_rows; lo += group) {
        size_t n = n_rows - lo < group ? n_rows - lo : group;
        qsort(order + lo, n, sizeof *order, by_len_desc);
    }
}

double ft_rows_padding(const ft_row *rows, size_t n_rows, uint64_t seed, int shuffle,
                       size_t group, int B)
{
    uint32_t *order = malloc(n_rows * sizeof *order);
    double slots = 0, used = 0;

    if (!order || n_rows == 0 || B < 1) {
        free(order);
        return 0;
    }
    ft_rows_order(n_rows, seed, 0, shuffle, order);
    ft_rows_group(rows, n_rows, group, order);
    for (size_t lo = 0; lo < n_rows; lo += (size_t)B) {
        size_t n = n_rows - lo < (size_t)B ? n_rows - lo : (size_t)B;
        uint32_t T = 0;
        for (size_t i = 0; i < n; i++) {
            T = rows[order[lo + i]].len - 1 > T ? rows[order[lo + i]].len - 1 : T;
            used += rows[order[lo + i]].len - 1;
        }
        slots += (double)T * (double)n;
    }
    free(order);
    return slots > 0 ? 1.0 - used / slots : 0;
}

double ft_batch_fill(const ft_spool *s, const ft_row *rows, const uint32_t *pick,
                     int n, int B, int T, int32_t *tokens, int32_t *targets,
                     float *weights)
{
    const int32_t *ids = ft_spool_ids(s);
    const uint8_t *mask = ft_spool_mask(s);
    double denom = 0;

    for (int b = 0; b < B; b++) {
        int32_t *tk = tokens + (size_t)b * T, *tg = targets + (size_t)b * T;
        int used = 0;
        if (b < n) {
            const ft_row *r = &rows[pick[b]];
            const int32_t *x = ids + r->start;
            const uint8_t *mk = mask ? mask + r->start : NULL;
            used = (int)r->len - 1;
            for (int t = 0; t < used; t++) {
                tk[t] = x[t];
                tg[t] = !mk || mk[t + 1] ? x[t + 1] : -1;
            }
            weights[b] = r->weight;
            denom += (double)r->weight * r->n_targets;
        } else {
            weights[b] = 0;
        }
        for (int t = used; t < T; t++) {
            tk[t] = 0;
            tg[t] = -1;
        }
    }
    return denom;
}
