/* test-gguf-model: models and tokenizers through GGUF files.
 *
 *  - stories260K (shared data) written as GGUF and read back reproduces
 *    llama2c/reference.tsv (an independent float64 implementation): listed
 *    logits, log-sum-exp per position, mean cross-entropy; its parameters
 *    are those of the .bin bit for bit; f16 and bf16 files hold the rounded
 *    values.
 *  - Random llama, qwen2 and gpt2 models from the PyTorch reference
 *    (tests/ref/engine_ref.py) survive HF -> GGUF -> HF with identical
 *    logits, and match PyTorch's expected logits on the way.
 *  - Tokenizers survive GGUF: GPT-2's (shared data; "Hello world" is
 *    [15496, 995] and " Hello" [18435], as published with the vocabulary) and
 *    a hand-made SentencePiece one whose encodings are worked out by hand;
 *    @huggingface/gguf sees the keys llama.cpp's converter writes
 *    (tokenizer.ggml.model "gpt2" / "llama", tokens, merges, scores,
 *    token_type, special ids; gguf-py constants.py Keys.Tokenizer).
 *  - Bad models: a quantized tensor, an architecture ft does not run, a
 *    missing key, an unknown pre-tokenizer: one-line errors; every byte
 *    before the data of a small file changed four ways: a load or a
 *    one-line error naming the file, never a crash. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "text/tokenizer.h"

static char tmpdir[256];

static char *tmp_path(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* ------------------------------------------------- @huggingface/gguf */

static int have_node(void)
{
    const char *root = getenv("FT_ROOT");
    char p[1024];
    snprintf(p, sizeof p, "%s/tests/node/node_modules/@huggingface/gguf/package.json",
             root ? root : ".");
    return access(p, R_OK) == 0 && system("node --version >/dev/null 2>&1") == 0;
}

/* The dump of gguf-dump.mjs, line by line (malloc'd, NULL-terminated). */
static char **node_dump(const char *path)
{
    const char *root = getenv("FT_ROOT");
    char cmd[1200], *line = NULL;
    size_t cap = 0, n = 0;
    char **lines = calloc(100000, sizeof *lines);
    ssize_t len;
    FILE *p;

    snprintf(cmd, sizeof cmd, "node %s/tests/node/gguf-dump.mjs %s", root ? root : ".", path);
    p = popen(cmd, "r");
    while (p && (len = getline(&line, &cap, p)) > 0 && n < 99999) {
        if (line[len - 1] == '\n')
            line[len - 1] = 0;
        lines[n++] = strdup(line);
    }
    free(line);
    CHECK(p && pclose(p) == 0);
    return lines;
}

static void free_lines(char **lines)
{
    for (char **l = lines; *l; l++)
        free(*l);
    free(lines);
}

/* Some line starts with want. */
static void expect_line(char **lines, const char *want, const char *what)
{
    size_t n = strlen(want);
    for (char **l = lines; *l; l++)
        if (!strncmp(*l, want, n))
            return;
    CHECK_MSG(0, "%s: @huggingface/gguf did not report: %s", what, want);
}

/* ------------------------------------------------------ stories260K */

#define MAX_IDS 64

typedef struct reference {
    int input[MAX_IDS], n_input;
    double mean_ce;
    int top_id[MAX_IDS][5];
    double top_logit[MAX_IDS][5];
    double lse[MAX_IDS];
} reference;

static int load_reference(const char *path, reference *ref)
{
    FILE *f = fopen(path, "r");
    char line[8192], *p;
    int at;

    if (!f)
        return -1;
    memset(ref, 0, sizeof *ref);
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (line[0] == '#' || !tab)
            continue;
        *tab = 0;
        p = tab + 1;
        if (!strcmp(line, "input")) {
            while (ref->n_input < MAX_IDS && *p && *p != '\n')
                ref->input[ref->n_input++] = (int)strtol(p, &p, 10);
        } else if (!strcmp(line, "mean_next_token_cross_entropy")) {
            ref->mean_ce = atof(p);
        } else if (sscanf(line, "logits_top5_at_%d", &at) == 1 && at >= 0 && at < MAX_IDS) {
            for (int k = 0; k < 5; k++) {
                ref->top_id[at][k] = (int)strtol(p, &p, 10);
                ref->top_logit[at][k] = strtod(p + 1, &p);
            }
        } else if (!strcmp(line, "logsumexp_per_position")) {
            for (int t = 0; t < ref->n_input; t++)
                ref->lse[t] = strtod(p, &p);
        }
    }
    fclose(f);
    return ref->n_input == 16 ? 0 : -1;
}

static void check_reference(ft_model *m, const reference *ref)
{
    ft_err err;
    int V = m->cfg.vocab_size, T = ref->n_input;
    float *logits = malloc((size_t)T * V * sizeof *logits);
    int32_t tokens[MAX_IDS], targets[MAX_IDS];
    double sum, n;

    CHECK(ft_model_setup(m, 1, T, 0, 0, &err) == 0);
    for (int t = 0; t < T; t++) {
        tokens[t] = ref->input[t];
        targets[t] = t + 1 < T ? ref->input[t + 1] : -1;
    }
    ft_batch b = {.B = 1, .T = T, .tokens = tokens};
    CHECK(ft_model_logits(m, &b, NULL, logits, &err) == 0);
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (int k = 0; k < 5; k++)
            CHECK_REL(l[ref->top_id[t][k]], ref->top_logit[t][k], 1e-4, 0);
        for (int v = 0; v < V; v++)
            mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < V; v++)
            s += exp(l[v] - mx);
        CHECK_REL(mx + log(s), ref->lse[t], 1e-4, 0);
    }
    b.targets = targets;
    CHECK(ft_model_loss(m, &b, NULL, &sum, &n, &err) == 0);
    CHECK_REL(sum / n, ref->mean_ce, 1e-4, 0);
    free(logits);
}

static void test_stories(void)
{
    const char *data = check_data_dir();
    char bin[4096], tsv[4096];
    reference ref;
    ft_err err;
    ft_model *a, *b;
    ft_tokenizer *tok = (ft_tokenizer *)1;

    if (!data) {
        printf("skipping stories260K: no shared data\n");
        return;
    }
    snprintf(bin, sizeof bin, "%s/llama2c/stories260K.bin", data);
    snprintf(tsv, sizeof tsv, "%s/llama2c/reference.tsv", data);
    CHECK(load_reference(tsv, &ref) == 0);
    a = ft_checkpoint_load(bin, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    if (!a)
        return;

    /* f32: the same parameters, the reference's values. */
    CHECK_MSG(ft_gguf_model_save(a, NULL, tmp_path("s.gguf"), FT_DTYPE_F32, NULL, 0, &err) == 0,
              "%s", err.msg);
    b = ft_gguf_model_load(tmp_path("s.gguf"), &tok, &err);
    CHECK_MSG(b != NULL, "%s", err.msg);
    CHECK(tok == NULL);
    if (b) {
        CHECK(b->cfg.tied && b->cfg.n_kv_heads == 4 && b->cfg.head_dim == 8);
        CHECK(b->cfg.norm_eps == 1e-5 && b->cfg.rope_theta == 10000);
        CHECK(b->n_params == a->n_params &&
              !memcmp(a->params, b->params, a->n_params * sizeof *a->params));
        check_reference(b, &ref);
    }
    ft_model_free(b);

    /* f16 and bf16: every matrix rounded, norms kept. */
    int dtypes[] = {FT_DTYPE_F16, FT_DTYPE_BF16};
    for (int d = 0; d < 2; d++) {
        float *want = malloc(a->n_params * sizeof *want);
        memcpy(want, a->params, a->n_params * sizeof *want);
        for (int i = 0; i < a->n_tensors; i++)
            if (a->tensors[i].ndim == 2)
                ft_dtype_round(want + a->tensors[i].offset, a->tensors[i].numel, dtypes[d]);
        CHECK(ft_gguf_model_save(a, NULL, tmp_path("h.gguf"), dtypes[d], NULL, 1, &err) == 0);
        b = ft_checkpoint_load(tmp_path("h.gguf"), &err);
        CHECK_MSG(b != NULL, "%s", err.msg);
        if (b) {
            CHECK(!memcmp(want, b->params, a->n_params * sizeof *want));
            CHECK_INT(b->tensors[b->embed_id].dtype, dtypes[d]);
        }
        ft_model_free(b);
        free(want);
    }
    ft_model_free(a);
}

/* --------------------------------------------- HF -> GGUF -> HF, logits */

static float *logits_of(ft_model *m, const ft_st_tensor *tokens, ft_err *err)
{
    int B = (int)tokens->shape[0], T = (int)tokens->shape[1], V = m->cfg.vocab_size;
    float *out = malloc((size_t)B * T * V * sizeof *out);
    ft_batch b = {.B = B, .T = T, .tokens = (const int32_t *)tokens->data};
    if (ft_model_setup(m, B, T, 0, 0, err) < 0 || ft_model_logits(m, &b, NULL, out, err) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_family(const char *family, const char *label, const char *extra)
{
    const char *root = getenv("FT_ROOT");
    char cmd[2048], *dir = tmp_path(label), *gguf, *back, path[1024];
    ft_safetensors *exp;
    const ft_st_tensor *tokens, *want;
    ft_model *m0, *m1, *m2;
    float *l0, *l1, *l2;
    ft_err err;

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/engine_ref.py --family %s --out %s "
             "%s >/dev/null", root ? root : ".", family, dir, extra);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    exp = ft_safetensors_open(path, &err);
    CHECK_MSG(exp != NULL, "%s", err.msg);
    if (!exp)
        return;
    tokens = ft_safetensors_find(exp, "tokens");
    want = ft_safetensors_find(exp, "logits");

    m0 = ft_checkpoint_load(dir, &err);
    CHECK_MSG(m0 != NULL, "%s: %s", label, err.msg);
    snprintf(path, sizeof path, "%s.gguf", dir);
    gguf = strdup(path);
    snprintf(path, sizeof path, "%s-back", dir);
    back = strdup(path);
    CHECK_MSG(m0 && ft_gguf_model_save(m0, NULL, gguf, -1, label, 0, &err) == 0, "%s",
              err.msg);
    m1 = ft_checkpoint_load(gguf, &err);
    CHECK_MSG(m1 != NULL, "%s: %s", label, err.msg);
    CHECK_MSG(m1 && ft_checkpoint_save(m1, back, -1, 0, NULL, &err) == 0, "%s", err.msg);
    m2 = ft_checkpoint_load(back, &err);
    CHECK_MSG(m2 != NULL, "%s: %s", label, err.msg);
    if (!m0 || !m1 || !m2 || !tokens || !want)
        goto out;

    /* The configuration and every parameter survive. */
    CHECK(m1->cfg.tied == m0->cfg.tied && m2->cfg.tied == m0->cfg.tied);
    CHECK(m1->cfg.qkv_bias == m0->cfg.qkv_bias && m1->cfg.n_kv_heads == m0->cfg.n_kv_heads);
    CHECK(m1->cfg.norm_eps == m0->cfg.norm_eps && m2->cfg.norm_eps == m0->cfg.norm_eps);
    CHECK(m1->cfg.rope_theta == m0->cfg.rope_theta);
    CHECK(!memcmp(&m1->cfg.rope_scaling, &m0->cfg.rope_scaling, sizeof m0->cfg.rope_scaling));
    CHECK(!memcmp(&m2->cfg.rope_scaling, &m0->cfg.rope_scaling, sizeof m0->cfg.rope_scaling));
    CHECK(m1->n_params == m0->n_params && m2->n_params == m0->n_params);
    CHECK(!memcmp(m0->params, m1->params, m0->n_params * sizeof(float)));
    CHECK(!memcmp(m0->params, m2->params, m0->n_params * sizeof(float)));

    /* Identical logits, and PyTorch's within rounding. */
    l0 = logits_of(m0, tokens, &err);
    l1 = logits_of(m1, tokens, &err);
    l2 = logits_of(m2, tokens, &err);
    CHECK(l0 && l1 && l2);
    if (l0 && l1 && l2) {
        size_t n = want->numel;
        CHECK_MSG(!memcmp(l0, l1, n * sizeof *l0), "%s: GGUF logits differ", label);
        CHECK_MSG(!memcmp(l0, l2, n * sizeof *l0), "%s: HF-again logits differ", label);
        float *w = malloc(n * sizeof *w);
        ft_safetensors_read_f32(exp, want, w, &err);
        double worst = 0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs(l1[i] - w[i]) / fmax(fabs(w[i]), 1));
        CHECK_MSG(worst < 1e-4, "%s: logits off PyTorch's by %g", label, worst);
        free(w);
    }
    free(l0);
    free(l1);
    free(l2);
out:
    ft_model_free(m0);
    ft_model_free(m1);
    ft_model_free(m2);
    ft_safetensors_close(exp);
    free(gguf);
    free(back);
}

/* ------------------------------------------------------- tokenizers */

static ft_model *tiny_model(int family, int vocab, ft_err *err)
{
    ft_config c = {0};
    ft_model *m;
    c.family = family;
    snprintf(c.model_type, sizeof c.model_type, "%s", family == FT_FAMILY_GPT2 ? "gpt2"
                                                                                 : "llama");
    c.dim = 8, c.hidden_dim = 16, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1;
    if (family == FT_FAMILY_GPT2)
        c.n_kv_heads = 2;
    c.head_dim = 4, c.vocab_size = vocab, c.max_pos = 16, c.norm_eps = 1e-5;
    c.rope_theta = 10000, c.tied = 1, c.bos_id = -1;
    if (ft_config_finish(&c, "tiny", err) < 0)
        return NULL;
    m = ft_model_new(&c, err);
    if (m)
        ft_model_init_random(m, 7, 0.1f);
    return m;
}

/* Both tokenizers encode (and decode) texts the same way. */
static void same_encodings(ft_tokenizer *a, ft_tokenizer *b, const char *what)
{
    const char *texts[] = {"Hello world", " Hello",
                           "It's 2024: caf\xc3\xa9 \xe2\x82\xac" "12,345!\n\n",
                           "  spaces   and\ttabs", "ab ab b", "\xc3\xa7"};
    ft_err err;
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *x = NULL, *y = NULL;
        size_t nx = 0, ny = 0, cx = 0, cy = 0;
        int ra = ft_tokenizer_encode(a, texts[i], strlen(texts[i]), FT_TOK_ADD_SPECIAL, &x, &nx,
                                     &cx, &err);
        int rb = ft_tokenizer_encode(b, texts[i], strlen(texts[i]), FT_TOK_ADD_SPECIAL, &y, &ny,
                                     &cy, &err);
        CHECK_MSG(ra == 0 && rb == 0 && nx == ny && (!nx || !memcmp(x, y, nx * sizeof *x)),
                  "%s: \"%s\" encodes differently after GGUF", what, texts[i]);
        if (nx != ny || (nx && memcmp(x, y, nx * sizeof *x))) {
            for (size_t k = 0; k < nx; k++)
                fprintf(stderr, " %d", x[k]);
            fprintf(stderr, " vs");
            for (size_t k = 0; k < ny; k++)
                fprintf(stderr, " %d", y[k]);
            fprintf(stderr, "\n");
        }
        free(x);
        free(y);
    }
}

static void encode_is(ft_tokenizer *t, const char *text, const int32_t *want, size_t n)
{
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    ft_err err;
    CHECK(ft_tokenizer_encode(t, text, strlen(text), 0, &ids, &n_ids, &cap, &err) == 0);
    CHECK_MSG(n_ids == n && !memcmp(ids, want, n * sizeof *ids), "\"%s\": %zu ids", text,
              n_ids);
    free(ids);
}

static void test_gpt2_tokenizer(void)
{
    const char *data = check_data_dir();
    char dir[4096];
    ft_err err;
    ft_tokenizer *tok, *back = NULL;
    ft_model *m, *m2;
    const int32_t hello[] = {15496, 995}, space_hello[] = {18435};

    if (!data) {
        printf("skipping the GPT-2 tokenizer: no shared data\n");
        return;
    }
    snprintf(dir, sizeof dir, "%s/gpt2", data);
    tok = ft_tokenizer_load(dir, &err);
    CHECK_MSG(tok != NULL, "%s", err.msg);
    m = tiny_model(FT_FAMILY_GPT2, 50257, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    if (!tok || !m)
        return;
    CHECK_MSG(ft_gguf_model_save(m, tok, tmp_path("gpt2tok.gguf"), FT_DTYPE_F16, NULL, 0,
                                 &err) == 0, "%s", err.msg);
    m2 = ft_gguf_model_load(tmp_path("gpt2tok.gguf"), &back, &err);
    CHECK_MSG(m2 && back, "%s", err.msg);
    if (back) {
        encode_is(back, "Hello world", hello, 2);
        encode_is(back, " Hello", space_hello, 1);
        same_encodings(tok, back, "gpt2");
        CHECK_INT(ft_tokenizer_n_vocab(back), 50257);
        CHECK_INT(ft_tokenizer_eos(back), ft_tokenizer_eos(tok));
    }

    /* What llama.cpp will read (convert_hf_to_gguf.py _set_vocab_gpt2). */
    if (have_node()) {
        char **l = node_dump(tmp_path("gpt2tok.gguf"));
        expect_line(l, "kv general.architecture string \"gpt2\"", "gpt2 tok");
        expect_line(l, "kv tokenizer.ggml.model string \"gpt2\"", "gpt2 tok");
        expect_line(l, "kv tokenizer.ggml.pre string \"gpt-2\"", "gpt2 tok");
        expect_line(l, "kv tokenizer.ggml.tokens array<string> 50257 [\"!\",\"\\\"\",\"#\"",
                    "gpt2 tok");
        expect_line(l, "kv tokenizer.ggml.merges array<string> 50000 [\"\xc4\xa0 t\","
                    "\"\xc4\xa0 a\",\"h e\"", "gpt2 tok");
        expect_line(l, "kv tokenizer.ggml.token_type array<int32> 50257 [1,1,1", "gpt2 tok");
        expect_line(l, "tensor token_embd.weight F16 8,50257 ", "gpt2 tok");
        expect_line(l, "tensor output.weight F16 8,50257 ", "gpt2 tok");
        expect_line(l, "tensor position_embd.weight F32 8,16 ", "gpt2 tok");
        expect_line(l, "kv general.file_type uint32 1", "gpt2 tok");
        if (ft_tokenizer_eos(tok) == 50256)
            expect_line(l, "kv tokenizer.ggml.eos_token_id uint32 50256", "gpt2 tok");
        free_lines(l);
    }
    ft_tokenizer_free(back);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    ft_model_free(m2);
}

/* Byte-level tokenizer.json files with the pre-tokenizers of SmolLM
 * (Digits then GPT-2's ByteLevel regex), Llama 3 (a Split regex, ByteLevel
 * without one) and ft-vocab (ByteLevel, GPT-2's regex): GGUF names them
 * "smollm", "llama-bpe" and "gpt-2" (convert_hf_to_gguf.py's
 * get_vocab_base_pre) and they encode the same after the trip. */
static void test_pre_names(void)
{
    static const char *pres[][2] = {
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\","
         "\"individual_digits\":true},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
         "\"trim_offsets\":true,\"use_regex\":true}]}", "smollm"},
        {"{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
         "{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
         "\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|"
         "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
         "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
         "\"use_regex\":false}]}", "llama-bpe"},
        {"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
         "\"use_regex\":true}", "gpt-2"},
    };
    char json[4096], want[128];
    ft_err err;

    for (int i = 0; i < 3; i++) {
        ft_tokenizer *tok, *back = NULL;
        ft_model *m, *m2;
        snprintf(json, sizeof json,
                 "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
                 "\"pre_tokenizer\":%s,\"post_processor\":null,\"decoder\":{\"type\":"
                 "\"ByteLevel\"},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,"
                 "\"1\":2,\"2\":3,\"3\":4,\"\u0120\":5,\"ab\":6,\"\u0120a\":7,\"'\":8,"
                 "\"s\":9,\"'s\":10,\"12\":11},\"merges\":[\"a b\",\"\u0120 a\","
                 "\"' s\",\"1 2\"]}}", pres[i][0]);
        tok = ft_tokenizer_load_json(json, strlen(json), pres[i][1], &err);
        CHECK_MSG(tok != NULL, "%s: %s", pres[i][1], err.msg);
        m = tiny_model(FT_FAMILY_LLAMA, 12, &err);
        if (!tok || !m)
            return;
        CHECK_MSG(ft_gguf_model_save(m, tok, tmp_path("pre.gguf"), -1, NULL, 1, &err) == 0,
                  "%s: %s", pres[i][1], err.msg);
        m2 = ft_gguf_model_load(tmp_path("pre.gguf"), &back, &err);
        CHECK_MSG(m2 && back, "%s: %s", pres[i][1], err.msg);
        if (back) {
            same_encodings(tok, back, pres[i][1]);
            const char *texts[] = {"ab 123 a's", "a12b"};
            for (int k = 0; k < 2; k++) {
                int32_t *x = NULL, *y = NULL;
                size_t nx = 0, ny = 0, cx = 0, cy = 0;
                CHECK(ft_tokenizer_encode(tok, texts[k], strlen(texts[k]), 0, &x, &nx, &cx,
                                          &err) == 0);
                CHECK(ft_tokenizer_encode(back, texts[k], strlen(texts[k]), 0, &y, &ny, &cy,
                                          &err) == 0);
                CHECK_MSG(nx == ny && (!nx || !memcmp(x, y, nx * sizeof *x)), "%s: \"%s\"",
                          pres[i][1], texts[k]);
                free(x);
                free(y);
            }
        }
        if (have_node()) {
            char **l = node_dump(tmp_path("pre.gguf"));
            snprintf(want, sizeof want, "kv tokenizer.ggml.pre string \"%s\"", pres[i][1]);
            expect_line(l, want, pres[i][1]);
            free_lines(l);
        }
        ft_tokenizer_free(tok);
        ft_tokenizer_free(back);
        ft_model_free(m);
        ft_model_free(m2);
    }
}

/* A SentencePiece BPE vocabulary small enough to work by hand: control
 * tokens, the 256 byte tokens, and merges by score. */
static ft_tokenizer *spm_tokenizer(ft_err *err)
{
    static char bytes[256][8];
    const char *tokens[266];
    float scores[266] = {0};
    int32_t types[266];
    ft_tok_spec s;

    tokens[0] = "<unk>", types[0] = FT_TOKT_UNKNOWN;
    tokens[1] = "<s>", types[1] = FT_TOKT_CONTROL;
    tokens[2] = "</s>", types[2] = FT_TOKT_CONTROL;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        tokens[3 + b] = bytes[b], types[3 + b] = FT_TOKT_BYTE;
    }
    const char *pieces[] = {"\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab",
                            "\xe2\x96\x81" "ab", "\xe2\x96\x81" "b"};
    const float piece_scores[] = {0, 0, 0, -1, -2, -3, -4};
    for (int i = 0; i < 7; i++) {
        tokens[259 + i] = pieces[i];
        scores[259 + i] = piece_scores[i];
        types[259 + i] = FT_TOKT_NORMAL;
    }
    ft_tokenizer_spec_init(&s);
    s.kind = FT_TOK_SPM_BPE;
    s.n_tokens = 266;
    s.tokens = tokens;
    s.scores = scores;
    s.types = types;
    s.bos_id = 1, s.eos_id = 2, s.unk_id = 0;
    s.add_bos = 1, s.add_space_prefix = 1;
    return ft_tokenizer_build(&s, err);
}

static void test_spm_tokenizer(void)
{
    ft_err err;
    ft_tokenizer *tok = spm_tokenizer(&err), *back = NULL;
    ft_model *m = tiny_model(FT_FAMILY_LLAMA, 266, &err), *m2;
    /* "ab ab b" -> "▁ab▁ab▁b": ▁a merges first (-1), then ▁a+b (-3), ▁b (-4). */
    const int32_t abab[] = {264, 264, 265};
    /* "ç" is not in the vocabulary: "▁" then its two UTF-8 bytes. */
    const int32_t cedilla[] = {259, 3 + 0xc3, 3 + 0xa7};

    CHECK_MSG(tok && m, "%s", err.msg);
    if (!tok || !m)
        return;
    encode_is(tok, "ab ab b", abab, 3);
    CHECK_MSG(ft_gguf_model_save(m, tok, tmp_path("spm.gguf"), FT_DTYPE_BF16, "spm", 0, &err) ==
                  0, "%s", err.msg);
    m2 = ft_gguf_model_load(tmp_path("spm.gguf"), &back, &err);
    CHECK_MSG(m2 && back, "%s", err.msg);
    if (back) {
        encode_is(back, "ab ab b", abab, 3);
        encode_is(back, "\xc3\xa7", cedilla, 3);
        same_encodings(tok, back, "spm");
        CHECK_INT(ft_tokenizer_bos(back), 1);
        CHECK(ft_tokenizer_adds_bos(back));
        CHECK(ft_tokenizer_score(back, 262) == -1);
    }
    if (have_node()) {
        char **l = node_dump(tmp_path("spm.gguf"));
        expect_line(l, "kv general.name string \"spm\"", "spm");
        expect_line(l, "kv general.file_type uint32 32", "spm");
        expect_line(l, "kv tokenizer.ggml.model string \"llama\"", "spm");
        expect_line(l, "kv tokenizer.ggml.tokens array<string> 266 [\"<unk>\",\"<s>\",\"</s>\","
                    "\"<0x00>\"", "spm");
        expect_line(l, "kv tokenizer.ggml.scores array<float32> 266 [0,0,0,0", "spm");
        expect_line(l, "kv tokenizer.ggml.token_type array<int32> 266 [2,3,3,6,6", "spm");
        expect_line(l, "kv tokenizer.ggml.bos_token_id uint32 1", "spm");
        expect_line(l, "kv tokenizer.ggml.eos_token_id uint32 2", "spm");
        expect_line(l, "kv tokenizer.ggml.unknown_token_id uint32 0", "spm");
        expect_line(l, "kv tokenizer.ggml.add_bos_token bool true", "spm");
        expect_line(l, "kv tokenizer.ggml.add_eos_token bool false", "spm");
        expect_line(l, "tensor token_embd.weight BF16 8,266 ", "spm");
        expect_line(l, "tensor blk.0.attn_k.weight BF16 8,4 ", "spm");
        expect_line(l, "tensor blk.0.attn_norm.weight F32 8 ", "spm");
        free_lines(l);
    }
    ft_tokenizer_free(back);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    ft_model_free(m2);
}

/* ------------------------------------------------------------ bad models */

typedef struct tiny_spec {
    const char *arch;
    int q_type;          /* attn_q's tensor type */
    int no_blocks;       /* leave block_count out */
    const char *pre;     /* a gpt2 tokenizer with this pre-tokenizer */
    int extra_tensor;    /* a tensor no model has */
} tiny_spec;

/* A llama-shaped file written with the container API (dim 32, 4 heads,
 * 2 kv heads, 1 block, vocab 4), zeros for data. */
static void write_tiny(const char *path, tiny_spec s)
{
    static uint8_t zeros[64 * 1024];
    ft_err err;
    ft_gguf_writer *w = ft_gguf_writer_new(&err);
    char k[128];
    const char *arch = s.arch ? s.arch : "llama";
    struct { const char *name; int n_dims; int64_t ne0, ne1; } t[] = {
        {"token_embd.weight", 2, 32, 4},      {"blk.0.attn_norm.weight", 1, 32, 1},
        {"blk.0.attn_q.weight", 2, 32, 32},   {"blk.0.attn_k.weight", 2, 32, 16},
        {"blk.0.attn_v.weight", 2, 32, 16},   {"blk.0.attn_output.weight", 2, 32, 32},
        {"blk.0.ffn_norm.weight", 1, 32, 1},  {"blk.0.ffn_gate.weight", 2, 32, 64},
        {"blk.0.ffn_up.weight", 2, 32, 64},   {"blk.0.ffn_down.weight", 2, 64, 32},
        {"output_norm.weight", 1, 32, 1},     {"blk.0.ffn_extra.weight", 1, 32, 1},
    };
#define KEY(x) (snprintf(k, sizeof k, "%s.%s", arch, x), k)
    ft_gguf_set_str(w, "general.architecture", arch, &err);
    ft_gguf_set_u32(w, KEY("context_length"), 16, &err);
    ft_gguf_set_u32(w, KEY("embedding_length"), 32, &err);
    if (!s.no_blocks)
        ft_gguf_set_u32(w, KEY("block_count"), 1, &err);
    ft_gguf_set_u32(w, KEY("feed_forward_length"), 64, &err);
    ft_gguf_set_u32(w, KEY("attention.head_count"), 4, &err);
    ft_gguf_set_u32(w, KEY("attention.head_count_kv"), 2, &err);
    ft_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f, &err);
#undef KEY
    if (s.pre) {
        const char *toks[] = {"a", "b", "ab", "c"}, *merges[] = {"a b"};
        ft_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", &err);
        ft_gguf_set_str(w, "tokenizer.ggml.pre", s.pre, &err);
        ft_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4, &err);
        ft_gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 1, &err);
    }
    for (size_t i = 0; i < sizeof t / sizeof t[0] - !s.extra_tensor; i++) {
        int type = i == 2 && s.q_type ? s.q_type : FT_GGUF_T_F32;
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        CHECK(ft_gguf_add_tensor(w, t[i].name, type, t[i].n_dims, ne, zeros, &err) == 0);
    }
    CHECK_MSG(ft_gguf_write(w, path, 1, &err) == 0, "%s", err.msg);
    ft_gguf_writer_free(w);
}

static void expect_model_error(tiny_spec s, const char *want, const char *label)
{
    char *path = tmp_path("bad-model.gguf");
    ft_tokenizer *tok = NULL;
    ft_err err = {0};
    ft_model *m;

    write_tiny(path, s);
    m = ft_gguf_model_load(path, &tok, &err);
    CHECK_MSG(m == NULL, "%s: loaded", label);
    CHECK_MSG(strstr(err.msg, want) != NULL, "%s: \"%s\" lacks \"%s\"", label, err.msg, want);
    CHECK_MSG(!strncmp(err.msg, path, strlen(path)), "%s: \"%s\" does not name the file", label,
              err.msg);
    ft_model_free(m);
    ft_tokenizer_free(tok);
}

static void test_bad_models(void)
{
    ft_err err;
    ft_model *m;

    /* The tiny file itself loads (tied: no output.weight). */
    write_tiny(tmp_path("tiny.gguf"), (tiny_spec){0});
    m = ft_gguf_model_load(tmp_path("tiny.gguf"), NULL, &err);
    CHECK_MSG(m != NULL, "%s", err.msg);
    CHECK(m && m->cfg.tied && m->cfg.head_dim == 8 && m->cfg.vocab_size == 4);
    ft_model_free(m);

    expect_model_error((tiny_spec){.q_type = 8}, "tensor blk.0.attn_q.weight has type Q8_0; "
                       "ft reads F32, F16 and BF16", "quantized");
    expect_model_error((tiny_spec){.arch = "falcon"}, "architecture \"falcon\" is not supported",
                       "arch");
    expect_model_error((tiny_spec){.no_blocks = 1}, "no llama.block_count key", "missing key");
    expect_model_error((tiny_spec){.pre = "nonesuch"}, "tokenizer.ggml.pre \"nonesuch\" is not "
                       "a pre-tokenizer ft knows", "pre");
    expect_model_error((tiny_spec){.extra_tensor = 1}, "tensor blk.0.ffn_extra.weight has no "
                       "place in a llama model", "extra tensor");
}

/* Every byte before the data of a small model file with a tokenizer, set
 * to 0 and to 0xff and with its low and high bits flipped: loading either
 * succeeds or fails with one line that starts with the file's name, and
 * never crashes or reads out of bounds (make SANITIZE=1 check runs this
 * under AddressSanitizer). */
static void test_mutations(void)
{
    char *src = tmp_path("mut-src.gguf"), *dst = tmp_path("mut.gguf");
    uint8_t *buf = NULL;
    size_t n = 0;
    FILE *f;
    ft_gguf *g;
    ft_err err;
    uint64_t data_offset;
    int n_tried = 0, n_failed = 0;

    write_tiny(src, (tiny_spec){.pre = "gpt-2"});
    g = ft_gguf_open(src, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (!g)
        return;
    data_offset = g->data_offset;
    ft_gguf_close(g);
    f = fopen(src, "rb");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    n = (size_t)ftell(f);
    rewind(f);
    buf = malloc(n);
    CHECK(fread(buf, 1, n, f) == n);
    fclose(f);
    for (uint64_t off = 0; off < data_offset && off < n; off++) {
        uint8_t old = buf[off];
        const uint8_t vals[4] = {0, 0xff, (uint8_t)(old ^ 1), (uint8_t)(old ^ 0x80)};
        for (int k = 0; k < 4; k++) {
            ft_tokenizer *tok = NULL;
            ft_model *m;
            if (vals[k] == old || (k == 1 && vals[0] == 0xff))
                continue;
            buf[off] = vals[k];
            f = fopen(dst, "wb");
            CHECK(f && fwrite(buf, 1, n, f) == n && fclose(f) == 0);
            memset(&err, 0, sizeof err);
            m = ft_gguf_model_load(dst, &tok, &err);
            n_tried++;
            if (!m) {
                n_failed++;
                CHECK_MSG(!strncmp(err.msg, dst, strlen(dst)) && !strchr(err.msg, '\n'),
                          "byte %llu = 0x%02x: \"%s\"", (unsigned long long)off, vals[k],
                          err.msg);
            }
            ft_model_free(m);
            ft_tokenizer_free(tok);
        }
        buf[off] = old;
    }
    printf("mutations: %d tried, %d refused\n", n_tried, n_failed);
    /* Most changes break something the reader checks. */
    CHECK_MSG(n_failed > n_tried / 2, "%d of %d mutations refused", n_failed, n_tried);
    free(buf);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/ft-test-gguf-model-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_stories();
    test_bad_models();
    test_mutations();
    test_spm_tokenizer();
    test_pre_names();
    test_gpt2_tokenizer();
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0) {
        test_family("llama", "llama", "");
        /* Llama 3 rope scaling goes through rope_freqs.weight and back. */
        test_family("llama", "llama-rope3", "--rope-scaling llama3");
        test_family("qwen2", "qwen2", "");
        test_family("gpt2", "gpt2", "");
    } else {
        printf("skipping the PyTorch reference models: /usr/bin/python3 has no torch\n");
    }
    ft_rmtree(tmpdir);
    return check_done();
}
