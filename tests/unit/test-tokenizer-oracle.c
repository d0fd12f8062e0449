/* test-tokenizer-oracle: ft's token ids against independent encoders.
 *
 * tests/node/tok-oracle.mjs builds tokenizer files and encodes hand cases,
 * every EDA test sentence and SpamAssassin messages with gpt-3-encoder,
 * @huggingface/tokenizers (GPT-2, Llama 3, SmolLM and Qwen2 style
 * tokenizer.json) and
 * llama-tokenizer-js (Llama 2, two tokenizer.json forms); ft must give the
 * same ids for every text, and byte-level decoding must give the text back.
 * The oracle's outputs are kept in build/tok-oracle, stamped with a hash of
 * the script and the data folder's name, until either changes. Skips when
 * node, the npm oracles or the shared data are absent. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "core/hash.h"
#include "text/tokenizer.h"

static const char *sets[] = {"gpt2", "hf-gpt2", "hf-llama3", "llama2"};

/* Run the oracle (every set at once) unless the stamp says its outputs
 * come from this script and data folder. */
static int run_oracles(const char *root, const char *data, const char *out)
{
    char script[8192], cmd[32768], path[8192], want[64], *src, *old = NULL;
    size_t n, n_old = 0, k;
    ft_err err = {0};
    snprintf(script, sizeof script, "%.4000s/tests/node/tok-oracle.mjs", root);
    if (ft_read_file(script, 1 << 20, &src, &n, &err) < 0)
        return -1;
    snprintf(want, sizeof want, "%016llx %016llx\n",
             (unsigned long long)ft_hash64(src, n, 0),
             (unsigned long long)ft_hash64(data, strlen(data), 0));
    free(src);
    snprintf(path, sizeof path, "%.4000s/stamp", out);
    if (ft_read_file(path, 1024, &old, &n_old, &err) == 0 && strcmp(old, want) == 0) {
        free(old);
        return 0;
    }
    free(old);
    remove(path);
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        snprintf(path, sizeof path, "%.4000s/%s.done", out, sets[i]);
        remove(path);
    }

    k = (size_t)snprintf(cmd, sizeof cmd, "cd '%.4000s/tests/node' && (", root);
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        k += (size_t)snprintf(cmd + k, sizeof cmd - k,
                              "node tok-oracle.mjs '%.4000s' '%.4000s' %s & ", data, out, sets[i]);
    snprintf(cmd + k, sizeof cmd - k, "wait)");
    if (system(cmd) != 0)
        return -1;
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        snprintf(path, sizeof path, "%.4000s/%s.done", out, sets[i]);
        if (access(path, R_OK) != 0)
            return -1;
    }
    snprintf(path, sizeof path, "%.4000s/stamp", out);
    return ft_write_file(path, want, strlen(want), &err);
}

/* Compare every case of a .jsonl file with ft's encoding. */
static void compare(ft_tokenizer *t, const char *cases, const char *label, int round_trip)
{
    FILE *f = fopen(cases, "r");
    CHECK_MSG(f != NULL, "%s: %s", cases, strerror(errno));
    if (!f)
        return;
    char *line = NULL;
    size_t cap = 0, n_cases = 0, n_bad = 0, n_ids = 0, id_cap = 0, total = 0;
    int32_t *ids = NULL;
    ft_err err = {0};
    while (getline(&line, &cap, f) > 0) {
        json_error_t je;
        json_t *c = json_loads(line, JSON_ALLOW_NUL, &je);
        json_t *text = json_object_get(c, "text"), *want = json_object_get(c, "ids");
        int flags = (int)json_integer_value(json_object_get(c, "flags"));
        CHECK_MSG(json_is_string(text) && json_is_array(want), "%s: bad case line", cases);
        if (!json_is_string(text) || !json_is_array(want)) {
            json_decref(c);
            break;
        }
        const char *s = json_string_value(text);
        size_t len = json_string_length(text);
        n_cases++;
        n_ids = 0;
        int rc = ft_tokenizer_encode(t, s, len, flags, &ids, &n_ids, &id_cap, &err);
        size_t first = 0, nw = json_array_size(want);
        while (rc == 0 && first < n_ids && first < nw &&
               ids[first] == json_integer_value(json_array_get(want, first)))
            first++;
        total += nw;
        if (rc < 0 || first < n_ids || first < nw) {
            if (++n_bad <= 5)
                fprintf(stderr, "%s: case %zu (\"%.60s\"): %s at id %zu (ft %ld, oracle %ld; "
                                "%zu vs %zu ids)\n",
                        label, n_cases, s, rc < 0 ? err.msg : "differs", first,
                        first < n_ids ? (long)ids[first] : -1L,
                        first < nw ? (long)json_integer_value(json_array_get(want, first)) : -1L,
                        n_ids, nw);
        } else if (round_trip) {
            char *back;
            size_t nb;
            CHECK(ft_tokenizer_decode(t, ids, n_ids, 0, &back, &nb, &err) == 0);
            if (nb != len || memcmp(back, s, len) != 0) {
                if (++n_bad <= 5)
                    fprintf(stderr, "%s: case %zu (\"%.60s\"): decodes to \"%.60s\"\n", label,
                            n_cases, s, back);
            }
            free(back);
        }
        json_decref(c);
    }
    free(line);
    free(ids);
    fclose(f);
    printf("%s: %zu texts, %zu ids, %zu differ\n", label, n_cases, total, n_bad);
    CHECK_MSG(n_bad == 0, "%s: %zu of %zu texts differ", label, n_bad, n_cases);
    CHECK_MSG(n_cases > 1000, "%s: only %zu cases", label, n_cases);
}

static ft_tokenizer *load(const char *path)
{
    ft_err err = {0};
    ft_tokenizer *t = ft_tokenizer_load(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t;
}

int main(void)
{
    const char *data = check_data_dir(), *root = getenv("FT_ROOT");
    char path[8192], out[4096], a[8192], b[8192];
    if (!data)
        CHECK_SKIP("shared data absent (FT_DATA_DIR)");
    if (!root)
        root = ".";
    snprintf(path, sizeof path, "%.4000s/tests/node/node_modules/gpt-3-encoder/package.json", root);
    if (access(path, R_OK) != 0)
        CHECK_SKIP("npm oracles absent: run (cd tests/node && npm ci)");
    if (system("node --version >/dev/null 2>&1") != 0)
        CHECK_SKIP("node absent");
    snprintf(out, sizeof out, "%.4000s/build/tok-oracle", root);
    snprintf(path, sizeof path, "mkdir -p '%.4000s'", out);
    if (system(path) != 0 || run_oracles(root, data, out) < 0) {
        CHECK_MSG(0, "the oracle script failed");
        return check_done();
    }

    ft_tokenizer *t;
    snprintf(path, sizeof path, "%.4000s/gpt2", data);
    snprintf(a, sizeof a, "%s/gpt2.jsonl", out);
    if ((t = load(path))) {
        compare(t, a, "gpt-3-encoder", 1);
        ft_tokenizer_free(t);
    }

    const char *hf[] = {"hf-gpt2", "hf-llama3", "hf-smollm", "hf-qwen2"};
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/%s.json", out, hf[i]);
        snprintf(b, sizeof b, "%s/%s.jsonl", out, hf[i]);
        if ((t = load(a))) {
            compare(t, b, hf[i], 0);
            ft_tokenizer_free(t);
        }
    }

    const char *spm[] = {"llama2", "llama2-meta"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s.json", out, spm[i]);
        snprintf(b, sizeof b, "%s/%s.jsonl", out, spm[i]);
        if ((t = load(a))) {
            compare(t, b, spm[i], 0);
            ft_tokenizer_free(t);
        }
    }
    return check_done();
}
