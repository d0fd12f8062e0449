/* gguf_model: models and tokenizers in GGUF files (see gguf_model.h).
 *
 * Metadata keys are gguf-py/gguf/constants.py's Keys ("{arch}.block_count",
 * "{arch}.attention.head_count_kv", "tokenizer.ggml.tokens", …); the
 * values written and their types follow convert_hf_to_gguf.py
 * (Model.set_gguf_parameters, LlamaModel, GPT2Model, _set_vocab_gpt2,
 * _set_vocab_sentencepiece) and gguf_writer.py (uint32 for sizes and ids,
 * float32 for epsilons and the rope base, bool for add_bos_token). The
 * defaults for what a file leaves out are llama.cpp's (src/llama-vocab.cpp:
 * SentencePiece files default to BOS 1, EOS 2, UNK 0 and adding BOS; the
 * Llama 3 pre-tokenizers turn on ignore_merges and BOS). */
#include "model/gguf_model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/dtype.h"
#include "model/gguf.h"
#include "model/gguf_arch.h"
#include "nn/rope.h"

/* general.file_type (gguf-py LlamaFileType): ALL_F32, MOSTLY_F16, MOSTLY_BF16. */
enum { FILE_TYPE_F32 = 0, FILE_TYPE_F16 = 1, FILE_TYPE_BF16 = 32 };

static const char *arch_of(int family)
{
    return family == FT_FAMILY_GPT2 ? "gpt2" : family == FT_FAMILY_QWEN2 ? "qwen2" : "llama";
}

const char *ft_gguf_model_arch(const ft_config *c)
{
    return arch_of(c->family);
}

/* ------------------------------------------------------------ reading */

/* "{arch}.suffix" */
static const char *akey(const ft_gguf *g, const char *suffix)
{
    static __thread char k[160];
    snprintf(k, sizeof k, "%s.%s", g->arch, suffix);
    return k;
}

/* An integer key that must be there and be in [lo, hi]. */
static int need_int(const ft_gguf *g, const char *key, int64_t lo, int64_t hi, int *out,
                    int required, ft_err *err)
{
    int64_t v;
    int rc = ft_gguf_get_int(g, key, &v, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (required)
            return ft_err_set(err, "%s: no %s key", g->path, key);
        return 0;
    }
    if (v < lo || v > hi)
        return ft_err_set(err, "%s: %s is %lld, out of range", g->path, key, (long long)v);
    *out = (int)v;
    return 1;
}

static int tensor_is_f(const ft_gguf_tensor *t)
{
    return t->type == FT_GGUF_T_F32 || t->type == FT_GGUF_T_F16 || t->type == FT_GGUF_T_BF16;
}

static int dtype_of_ttype(int type)
{
    return type == FT_GGUF_T_F16 ? FT_DTYPE_F16 : type == FT_GGUF_T_BF16 ? FT_DTYPE_BF16
                                                                         : FT_DTYPE_F32;
}

/* The classifier is the embedding when output.weight is absent, or when its
 * bytes are the embedding's (convert_hf_to_gguf.py copies GPT-2's). */
static int is_tied(const ft_gguf *g)
{
    const ft_gguf_tensor *out = ft_gguf_tensor_find(g, "output.weight");
    const ft_gguf_tensor *emb = ft_gguf_tensor_find(g, "token_embd.weight");
    if (!out)
        return 1;
    return emb && out->type == emb->type && out->n_bytes == emb->n_bytes &&
           !memcmp(out->data, emb->data, out->n_bytes);
}

/* A float key: 1 found, 0 absent, -1 wrong type. float32 values become
 * the shortest decimal that reads back as the same float32 (1e-5, not
 * 9.99999974737875e-06), the value the file's writer started from. */
static int get_float(const ft_gguf *g, const char *key, double *out, ft_err *err)
{
    const ft_gguf_kv *kv = ft_gguf_find(g, key);
    char buf[32];
    int rc = ft_gguf_get_float(g, key, out, err);

    if (rc <= 0 || kv->type != FT_GGUF_F32)
        return rc;
    for (int p = 1; p <= 9; p++) {
        double d;
        snprintf(buf, sizeof buf, "%.*g", p, *out);
        d = strtod(buf, NULL);
        if ((float)d == (float)*out) {
            *out = d;
            break;
        }
    }
    return 1;
}

/* v rounded to 5 significant digits: the scaling parameters fitted from
 * float32 factors are those numbers give or take a few float32 ulps. */
static double snap(double v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.5g", v);
    return strtod(buf, NULL);
}

/* Llama 3 rope scaling from rope_freqs.weight, the per-frequency divisors
 * convert_hf_to_gguf.py's LlamaModel writes for rope_type "llama3"
 * (1 for high frequencies, factor for low ones, a blend between). The
 * divisors fix factor (their largest) and, through the blended ones, the
 * two wavelength thresholds relative to the original context length
 * ({arch}.rope.scaling.original_context_length, 8192 when absent): the
 * parameters are fitted, then checked by recomputing every divisor. */
static int read_rope_freqs(const ft_gguf *g, ft_config *c, ft_err *err)
{
    const ft_gguf_tensor *t = ft_gguf_tensor_find(g, "rope_freqs.weight");
    ft_rope_scaling *rs = &c->rope_scaling;
    int half = c->head_dim / 2, n = 0, old_ctx = 8192;
    double f[512], plain[512], scaled[512], sx = 0, ss = 0, sxs = 0, sss = 0;

    if (strcmp(g->arch, "llama") || t->type != FT_GGUF_T_F32 || t->n_elems != half ||
        half > 512)
        return ft_err_set(err, "%s: rope_freqs.weight is not %d float32 factors of a llama "
                          "model", g->path, half);
    if (need_int(g, akey(g, "rope.scaling.original_context_length"), 1, 1 << 26, &old_ctx, 0,
                 err) < 0)
        return -1;
    rs->kind = FT_ROPE_SCALING_LLAMA3;
    rs->factor = 1;
    rs->original_max_pos = old_ctx;
    for (int i = 0; i < half; i++) {
        float v;
        memcpy(&v, t->data + 4 * (size_t)i, 4);
        f[i] = v;
        rs->factor = fmax(rs->factor, v);
    }
    rs->factor = snap(rs->factor);
    ft_rope_inv_freq(plain, c->head_dim, c->rope_theta, NULL);

    /* Blended divisors: smooth s = (1/f - 1/factor) / (1 - 1/factor) and
     * old/wavelength = low + s (high - low); least squares for low, high. */
    for (int i = 0; i < half && rs->factor > 1; i++) {
        if (f[i] <= 1 + 1e-6 || f[i] >= rs->factor * (1 - 1e-6))
            continue;
        double sm = (1 / f[i] - 1 / rs->factor) / (1 - 1 / rs->factor);
        double x = old_ctx * plain[i] / (2 * M_PI);
        sx += x, ss += sm, sxs += x * sm, sss += sm * sm, n++;
    }
    if (n >= 2) {
        double slope = (n * sxs - ss * sx) / (n * sss - ss * ss);
        rs->low_freq_factor = snap((sx - slope * ss) / n);
        rs->high_freq_factor = snap(rs->low_freq_factor + slope);
    } else {
        rs->low_freq_factor = 1, rs->high_freq_factor = 4; /* Llama 3's */
    }

    /* The fitted parameters must give back every divisor. */
    ft_rope_inv_freq(scaled, c->head_dim, c->rope_theta, rs);
    for (int i = 0; i < half; i++)
        if (fabs(plain[i] / scaled[i] - f[i]) > 1e-4 * f[i])
            return ft_err_set(err, "%s: rope_freqs.weight does not follow Llama 3's rope "
                              "scaling (factor %d: %g)", g->path, i, f[i]);
    return 0;
}

/* The sizes the keys give must be those of the tensors, checked before
 * anything is allocated from them: the embedding's width, the number of
 * blocks, the feed-forward width. */
static int shapes_fit(const ft_gguf *g, const ft_config *c, const ft_gguf_tensor *emb,
                      ft_err *err)
{
    const ft_gguf_tensor *t;
    char name[64];

    if (emb->ne[0] != c->dim)
        return ft_err_set(err, "%s: %s is %d but token_embd.weight is [%lld, %lld] "
                          "(dimensions fastest first)", g->path, akey(g, "embedding_length"),
                          c->dim, (long long)emb->ne[0], (long long)emb->ne[1]);
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", c->n_layers - 1);
    if (!ft_gguf_tensor_find(g, name))
        return ft_err_set(err, "%s: %s is %d but there is no tensor %s", g->path,
                          akey(g, "block_count"), c->n_layers, name);
    t = ft_gguf_tensor_find(g, "blk.0.ffn_down.weight");
    if (t && t->ne[0] != c->hidden_dim)
        return ft_err_set(err, "%s: %s is %d but blk.0.ffn_down.weight is [%lld, %lld] "
                          "(dimensions fastest first)", g->path,
                          akey(g, "feed_forward_length"), c->hidden_dim, (long long)t->ne[0],
                          (long long)t->ne[1]);
    return 0;
}

/* The config from the architecture's keys. */
static int read_config(const ft_gguf *g, ft_config *c, ft_err *err)
{
    const ft_gguf_tensor *emb = ft_gguf_tensor_find(g, "token_embd.weight");
    const char *s, *eps_key;
    size_t len;
    double f;
    int rc, rope_dims = 0;

    memset(c, 0, sizeof *c);
    if (!strcmp(g->arch, "llama"))
        c->family = FT_FAMILY_LLAMA;
    else if (!strcmp(g->arch, "qwen2"))
        c->family = FT_FAMILY_QWEN2;
    else if (!strcmp(g->arch, "gpt2"))
        c->family = FT_FAMILY_GPT2;
    else
        return ft_err_set(err, "%s: architecture \"%s\" is not supported (ft reads llama, "
                          "qwen2 and gpt2)", g->path, g->arch);
    snprintf(c->model_type, sizeof c->model_type, "%s", g->arch);
    if (!emb || emb->n_dims != 2)
        return ft_err_set(err, "%s: no 2-D tensor token_embd.weight", g->path);

    /* Sizes. */
    if (need_int(g, akey(g, "embedding_length"), 1, 1 << 20, &c->dim, 1, err) < 0 ||
        need_int(g, akey(g, "block_count"), 1, 4096, &c->n_layers, 1, err) < 0 ||
        need_int(g, akey(g, "attention.head_count"), 1, 1 << 16, &c->n_heads, 1, err) < 0 ||
        need_int(g, akey(g, "context_length"), 1, 1 << 26, &c->max_pos, 1, err) < 0)
        return -1;
    c->hidden_dim = 4 * c->dim;
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->dim / c->n_heads;
    c->vocab_size = (int)emb->ne[1];
    if (need_int(g, akey(g, "feed_forward_length"), 1, 1 << 22, &c->hidden_dim,
                 c->family != FT_FAMILY_GPT2, err) < 0 ||
        need_int(g, akey(g, "attention.head_count_kv"), 1, 1 << 16, &c->n_kv_heads, 0,
                 err) < 0 ||
        need_int(g, akey(g, "attention.key_length"), 1, 1 << 16, &c->head_dim, 0, err) < 0 ||
        need_int(g, akey(g, "rope.dimension_count"), 1, 1 << 16, &rope_dims, 0, err) < 0 ||
        need_int(g, akey(g, "vocab_size"), 1, 1 << 24, &c->vocab_size, 0, err) < 0)
        return -1;
    if (c->vocab_size != emb->ne[1])
        return ft_err_set(err, "%s: %s is %d but token_embd.weight has %lld rows", g->path,
                          akey(g, "vocab_size"), c->vocab_size, (long long)emb->ne[1]);
    if (c->family != FT_FAMILY_GPT2 && rope_dims && rope_dims != c->head_dim)
        return ft_err_set(err, "%s: rotary over %d of %d head dimensions is not supported",
                          g->path, rope_dims, c->head_dim);
    if (shapes_fit(g, c, emb, err) < 0)
        return -1;

    /* Norm epsilon, rope. */
    eps_key = c->family == FT_FAMILY_GPT2 ? "attention.layer_norm_epsilon"
                                          : "attention.layer_norm_rms_epsilon";
    if ((rc = get_float(g, akey(g, eps_key), &c->norm_eps, err)) < 0)
        return -1;
    if (rc == 0)
        return ft_err_set(err, "%s: no %s key", g->path, akey(g, eps_key));
    c->rope_theta = 10000;
    if ((rc = get_float(g, akey(g, "rope.freq_base"), &f, err)) < 0)
        return -1;
    if (rc)
        c->rope_theta = f;
    if ((rc = ft_gguf_get_str(g, akey(g, "rope.scaling.type"), &s, &len, err)) < 0)
        return -1;
    if (rc && !(len == 4 && !memcmp(s, "none", 4)))
        return ft_err_set(err, "%s: rope scaling \"%.*s\" is not supported", g->path,
                          (int)len, s);
    if (ft_gguf_tensor_find(g, "rope_freqs.weight") && read_rope_freqs(g, c, err) < 0)
        return -1;

    /* Biases a llama file may carry (llama.cpp's llama loads them when present). */
    c->qkv_bias = ft_gguf_tensor_find(g, "blk.0.attn_q.bias") != NULL;
    c->o_bias = c->family != FT_FAMILY_GPT2 && ft_gguf_tensor_find(g, "blk.0.attn_output.bias");
    c->mlp_bias = c->family != FT_FAMILY_GPT2 && ft_gguf_tensor_find(g, "blk.0.ffn_up.bias");
    c->tied = is_tied(g);

    /* BOS and EOS, for generation even without a tokenizer. */
    c->bos_id = -1;
    if (need_int(g, "tokenizer.ggml.bos_token_id", 0, INT32_MAX, &c->bos_id, 0, err) < 0 ||
        (rc = need_int(g, "tokenizer.ggml.eos_token_id", 0, INT32_MAX, &c->eos_ids[0], 0,
                       err)) < 0)
        return -1;
    c->n_eos = rc;
    if (ft_config_finish(c, g->path, err) < 0)
        return -1;
    return 0;
}

/* Copy one GGUF tensor into ft's parameter t, checking its shape and type. */
static int read_tensor(const ft_gguf *g, const ft_gguf_tensor *gt, ft_model *m, ft_tensor *t,
                       int heads, ft_err *err)
{
    int64_t rows = t->shape[0], cols = t->ndim == 2 ? t->shape[1] : 1;
    float *dst = m->params + t->offset;
    int dtype;

    if (!tensor_is_f(gt))
        return ft_err_set(err, "%s: tensor %s has type %s; ft reads F32, F16 and BF16 tensors "
                          "(quantized models are not supported yet)", g->path, gt->name,
                          ft_gguf_ttype_name(gt->type));
    if (gt->n_dims != t->ndim || gt->ne[0] != (t->ndim == 2 ? cols : rows) ||
        (t->ndim == 2 && gt->ne[1] != rows))
        return ft_err_set(err, "%s: tensor %s is [%lld, %lld], expected [%lld, %lld] "
                          "(dimensions fastest first)", g->path, gt->name,
                          (long long)gt->ne[0], (long long)gt->ne[1],
                          (long long)(t->ndim == 2 ? cols : rows),
                          (long long)(t->ndim == 2 ? rows : 1));
    dtype = dtype_of_ttype(gt->type);
    t->dtype = dtype;
    if (!heads) {
        ft_dtype_to_f32(dst, gt->data, t->numel, dtype);
        return 0;
    }

    /* Adjacent pairs (llama.cpp) back to halves (Hugging Face). */
    float *tmp = ft_malloc(t->numel * sizeof *tmp, err);
    if (!tmp)
        return -1;
    ft_dtype_to_f32(tmp, gt->data, t->numel, dtype);
    if (rows % (2 * heads))
        return free(tmp), ft_err_set(err, "%s: tensor %s: %lld rows do not split into %d "
                                     "heads of even size", g->path, gt->name, (long long)rows,
                                     heads);
    ft_gguf_arch_permute(dst, tmp, rows, (size_t)cols * sizeof(float), heads, 0);
    free(tmp);
    return 0;
}

static int read_tensors(const ft_gguf *g, ft_model *m, ft_err *err)
{
    const char *arch = arch_of(m->cfg.family);
    char name[128];
    int used = 0;

    for (int i = 0; i < m->n_tensors; i++) {
        ft_tensor *t = &m->tensors[i];
        const ft_gguf_tensor *gt;
        int heads;

        if (ft_gguf_arch_to_gguf(arch, t->name, name, sizeof name) != 1)
            return ft_err_set(err, "%s: no GGUF name for %s", g->path, t->name);
        if (!(gt = ft_gguf_tensor_find(g, name)))
            return ft_err_set(err, "%s: no tensor %s", g->path, name);
        heads = ft_gguf_arch_permute_heads(g->arch, name, m->cfg.n_heads, m->cfg.n_kv_heads);
        if (read_tensor(g, gt, m, t, heads, err) < 0)
            return -1;
        used++;
    }

    /* Every tensor of the file must have found its place. */
    if (m->cfg.tied && ft_gguf_tensor_find(g, "output.weight"))
        used++;
    if (m->cfg.rope_scaling.kind == FT_ROPE_SCALING_LLAMA3)
        used++; /* rope_freqs.weight, read into the config */
    if (used != g->n_tensors) {
        for (int64_t i = 0; i < g->n_tensors; i++) {
            char hf[160];
            if (ft_gguf_arch_to_hf(arch, g->tensors[i].name, hf, sizeof hf) != 1 ||
                ft_model_find(m, hf) < 0)
                if ((strcmp(g->tensors[i].name, "output.weight") || !m->cfg.tied) &&
                    strcmp(g->tensors[i].name, "rope_freqs.weight"))
                    return ft_err_set(err, "%s: tensor %s has no place in a %s model",
                                      g->path, g->tensors[i].name, arch);
        }
    }
    return 0;
}

/* --------------------------------------------------- tokenizer, read */

/* Strings of a GGUF array copied NUL-terminated, in one block. */
static char **copy_strs(const ft_gguf_kv *kv, ft_err *err)
{
    size_t total = 0, len;
    char **v, *p;

    for (uint64_t i = 0; i < kv->n; i++) {
        ft_gguf_arr_str(kv, i, &len);
        total += len + 1;
    }
    v = ft_malloc(kv->n * sizeof *v + total + 1, err);
    if (!v)
        return NULL;
    p = (char *)(v + kv->n);
    for (uint64_t i = 0; i < kv->n; i++) {
        const char *s = ft_gguf_arr_str(kv, i, &len);
        v[i] = p;
        memcpy(p, s, len);
        p[len] = 0;
        p += len + 1;
    }
    return v;
}

static int opt_id(const ft_gguf *g, const char *key, int32_t *id, ft_err *err)
{
    int v = 0;
    int rc = need_int(g, key, -1, INT32_MAX, &v, 0, err);
    if (rc > 0)
        *id = v;
    return rc < 0 ? -1 : 0;
}

static int opt_bool(const ft_gguf *g, const char *key, int *out, ft_err *err)
{
    return ft_gguf_get_bool(g, key, out, err) < 0 ? -1 : 0;
}

/* The llama.cpp names that turn on ignore_merges and BOS (llama-vocab.cpp). */
static int pre_is_llama3(const char *pre)
{
    static const char *const names[] = {"llama3", "llama-v3", "llama-bpe", "falcon3",
                                        "pixtral", "tekken", NULL};
    for (int i = 0; names[i]; i++)
        if (!strcmp(pre, names[i]))
            return 1;
    return 0;
}

/* The tokenizer of an open file: 1 with *out set, 0 when the file has none. */
static int read_tokenizer(const ft_gguf *g, ft_tokenizer **out, ft_err *err)
{
    const ft_gguf_kv *tokens = NULL, *scores = NULL, *types = NULL, *merges = NULL;
    const char *model, *pre_s;
    size_t model_len, pre_len;
    char pre[64] = "default";
    char **tok_strs = NULL, **merge_strs = NULL;
    float *score_v = NULL;
    int32_t *type_v = NULL, eot = -1, eom = -1, extra[2];
    ft_tok_spec spec;
    int rc;

    *out = NULL;
    rc = ft_gguf_get_str(g, "tokenizer.ggml.model", &model, &model_len, err);
    if (rc < 0)
        return -1;
    if (rc == 0 || (model_len == 4 && !memcmp(model, "none", 4)) ||
        (model_len == 8 && !memcmp(model, "no_vocab", 8)))
        return 0;
    ft_tokenizer_spec_init(&spec);
    if (model_len == 4 && !memcmp(model, "gpt2", 4))
        spec.kind = FT_TOK_BYTE_BPE;
    else if (model_len == 5 && !memcmp(model, "llama", 5))
        spec.kind = FT_TOK_SPM_BPE;
    else
        return ft_err_set(err, "%s: tokenizer model \"%.*s\" is not supported (ft reads "
                          "\"gpt2\" and \"llama\")", g->path, (int)model_len, model);

    /* Vocabulary. */
    if ((rc = ft_gguf_get_arr(g, "tokenizer.ggml.tokens", FT_GGUF_STR, &tokens, err)) <= 0)
        return rc < 0 ? -1 : ft_err_set(err, "%s: no tokenizer.ggml.tokens", g->path);
    if (ft_gguf_get_arr(g, "tokenizer.ggml.scores", FT_GGUF_F32, &scores, err) < 0)
        return -1;
    /* Token types: int32 as the converter writes them, any integer type read. */
    types = ft_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != FT_GGUF_ARR || types->elem_type == FT_GGUF_F32 ||
                  types->elem_type == FT_GGUF_BOOL || types->elem_type == FT_GGUF_STR ||
                  types->elem_type == FT_GGUF_ARR || types->elem_type == FT_GGUF_F64))
        return ft_err_set(err, "%s: tokenizer.ggml.token_type is not an array of integers",
                          g->path);
    if (ft_gguf_get_arr(g, "tokenizer.ggml.merges", FT_GGUF_STR, &merges, err) < 0)
        return -1;
    if ((scores && scores->n != tokens->n) || (types && types->n != tokens->n))
        return ft_err_set(err, "%s: tokenizer.ggml.scores or token_type does not have one "
                          "entry per token (%llu)", g->path, (unsigned long long)tokens->n);
    if (spec.kind == FT_TOK_BYTE_BPE && !merges)
        return ft_err_set(err, "%s: a gpt2 tokenizer without tokenizer.ggml.merges", g->path);

    /* Special ids and flags, llama.cpp's defaults first. */
    if (spec.kind == FT_TOK_SPM_BPE) {
        spec.bos_id = 1, spec.eos_id = 2, spec.unk_id = 0;
        spec.add_bos = 1, spec.add_space_prefix = 1;
    }
    if ((rc = ft_gguf_get_str(g, "tokenizer.ggml.pre", &pre_s, &pre_len, err)) < 0)
        return -1;
    if (rc)
        snprintf(pre, sizeof pre, "%.*s", (int)(pre_len < 63 ? pre_len : 63), pre_s);
    if (spec.kind == FT_TOK_BYTE_BPE) {
        int n;
        spec.patterns = ft_gguf_arch_pre_regexes(pre, &n);
        if (!spec.patterns)
            return ft_err_set(err, "%s: tokenizer.ggml.pre \"%.*s\" is not a pre-tokenizer ft "
                              "knows", g->path, (int)pre_len, pre_s);
        spec.n_patterns = (size_t)n;
        spec.ignore_merges = spec.add_bos = pre_is_llama3(pre);
        /* No Unicode normalization: llama.cpp applies none to byte-level
         * vocabularies (not even NFC for "qwen2", whose tokenizer.json asks
         * for it), and a model read from GGUF should be trained on the ids
         * it will be run on. */
        spec.nfc = 0;
    }
    if (opt_id(g, "tokenizer.ggml.bos_token_id", &spec.bos_id, err) < 0 ||
        opt_id(g, "tokenizer.ggml.eos_token_id", &spec.eos_id, err) < 0 ||
        opt_id(g, "tokenizer.ggml.unknown_token_id", &spec.unk_id, err) < 0 ||
        opt_id(g, "tokenizer.ggml.padding_token_id", &spec.pad_id, err) < 0 ||
        opt_id(g, "tokenizer.ggml.eot_token_id", &eot, err) < 0 ||
        opt_id(g, "tokenizer.ggml.eom_token_id", &eom, err) < 0 ||
        opt_bool(g, "tokenizer.ggml.add_bos_token", &spec.add_bos, err) < 0 ||
        opt_bool(g, "tokenizer.ggml.add_eos_token", &spec.add_eos, err) < 0 ||
        opt_bool(g, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix, err) < 0)
        return -1;
    if (eot >= 0)
        extra[spec.n_eos_extra++] = eot;
    if (eom >= 0)
        extra[spec.n_eos_extra++] = eom;
    spec.eos_extra = extra;

    /* Arrays as the builder takes them. */
    rc = -1;
    tok_strs = copy_strs(tokens, err);
    merge_strs = merges ? copy_strs(merges, err) : NULL;
    score_v = scores ? ft_malloc(tokens->n * sizeof *score_v + 1, err) : NULL;
    type_v = types ? ft_malloc(tokens->n * sizeof *type_v + 1, err) : NULL;
    if (!tok_strs || (merges && !merge_strs) || (scores && !score_v) || (types && !type_v))
        goto out;
    for (uint64_t i = 0; scores && i < tokens->n; i++)
        score_v[i] = (float)ft_gguf_arr_float(scores, i);
    for (uint64_t i = 0; types && i < tokens->n; i++)
        type_v[i] = (int32_t)ft_gguf_arr_int(types, i);
    spec.n_tokens = (size_t)tokens->n;
    spec.tokens = (const char *const *)tok_strs;
    spec.scores = score_v;
    spec.types = type_v;
    spec.n_merges = merges ? (size_t)merges->n : 0;
    spec.merges = (const char *const *)merge_strs;
    *out = ft_tokenizer_build(&spec, err);
    rc = *out ? 1 : ft_err_prefix(err, "%s", g->path);
out:
    free(tok_strs);
    free(merge_strs);
    free(score_v);
    free(type_v);
    return rc;
}

ft_model *ft_gguf_model_load(const char *path, ft_tokenizer **tok, ft_err *err)
{
    ft_gguf *g = ft_gguf_open(path, err);
    ft_model *m = NULL;
    ft_config cfg;

    if (tok)
        *tok = NULL;
    if (!g)
        return NULL;
    if (read_config(g, &cfg, err) < 0)
        goto fail;
    if (tok && read_tokenizer(g, tok, err) < 0)
        goto fail;
    if (tok && *tok) {
        const int32_t *eos;
        size_t n_eos = ft_tokenizer_eos_ids(*tok, &eos);
        cfg.bos_id = ft_tokenizer_bos(*tok);
        cfg.n_eos = 0;
        for (size_t i = 0; i < n_eos && cfg.n_eos < FT_CONFIG_MAX_EOS; i++)
            cfg.eos_ids[cfg.n_eos++] = eos[i];
    }
    if (!(m = ft_model_new(&cfg, err)))
        goto fail;
    if (read_tensors(g, m, err) < 0)
        goto fail;
    ft_gguf_close(g);
    return m;
fail:
    ft_model_free(m);
    if (tok) {
        ft_tokenizer_free(*tok);
        *tok = NULL;
    }
    ft_gguf_close(g);
    return NULL;
}

ft_tokenizer *ft_gguf_tokenizer_load(const char *path, ft_err *err)
{
    ft_gguf *g = ft_gguf_open(path, err);
    ft_tokenizer *t = NULL;
    int rc;

    if (!g)
        return NULL;
    rc = read_tokenizer(g, &t, err);
    if (rc == 0)
        ft_err_set(err, "%s: this GGUF file has no tokenizer", path);
    ft_gguf_close(g);
    return rc > 0 ? t : NULL;
}

/* ------------------------------------------------------------ writing */

/* Where a tensor's bytes come from at write time. */
typedef struct wsrc {
    const float *f32;
    size_t numel;
    int64_t rows;
    size_t row_floats;
    int heads;   /* permute rows to adjacent pairs by this many heads; 0: none */
    int dtype;
} wsrc;

static int fill_tensor(void *ctx, void *dst, size_t n_bytes, ft_err *err)
{
    (void)n_bytes;
    const wsrc *s = ctx;
    const float *src = s->f32;
    float *tmp = NULL;

    if (s->heads) {
        if (!(tmp = ft_malloc(s->numel * sizeof *tmp, err)))
            return -1;
        ft_gguf_arch_permute(tmp, s->f32, s->rows, s->row_floats * sizeof(float), s->heads, 1);
        src = tmp;
    }
    ft_dtype_from_f32(dst, src, s->numel, s->dtype);
    free(tmp);
    return 0;
}

static int ttype_of_dtype(int dtype)
{
    return dtype == FT_DTYPE_F16 ? FT_GGUF_T_F16 : dtype == FT_DTYPE_BF16 ? FT_GGUF_T_BF16
                                                                          : FT_GGUF_T_F32;
}

/* The architecture's keys (Model.set_gguf_parameters, LlamaModel and
 * GPT2Model in convert_hf_to_gguf.py). */
int ft_gguf_model_write_config(ft_gguf_writer *w, const ft_config *c, const char *name,
                               int file_type, ft_err *err)
{
    const char *arch = arch_of(c->family);
    char k[160];
    int rc = 0;

#define KEY(suffix) (snprintf(k, sizeof k, "%s.%s", arch, suffix), k)
    rc |= ft_gguf_set_str(w, "general.architecture", arch, err);
    if (name)
        rc |= ft_gguf_set_str(w, "general.name", name, err);
    if (file_type >= 0)
        rc |= ft_gguf_set_u32(w, "general.file_type", (uint32_t)file_type, err);
    rc |= ft_gguf_set_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size, err);
    rc |= ft_gguf_set_u32(w, KEY("context_length"), (uint32_t)c->max_pos, err);
    rc |= ft_gguf_set_u32(w, KEY("embedding_length"), (uint32_t)c->dim, err);
    rc |= ft_gguf_set_u32(w, KEY("block_count"), (uint32_t)c->n_layers, err);
    rc |= ft_gguf_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->hidden_dim, err);
    rc |= ft_gguf_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads, err);
    if (c->family == FT_FAMILY_GPT2) {
        rc |= ft_gguf_set_f32(w, KEY("attention.layer_norm_epsilon"), (float)c->norm_eps, err);
    } else {
        rc |= ft_gguf_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads, err);
        rc |= ft_gguf_set_f32(w, KEY("rope.freq_base"), (float)c->rope_theta, err);
        rc |= ft_gguf_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), (float)c->norm_eps,
                              err);
        rc |= ft_gguf_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->head_dim, err);
        if (c->head_dim * c->n_heads != c->dim) {
            rc |= ft_gguf_set_u32(w, KEY("attention.key_length"), (uint32_t)c->head_dim, err);
            rc |= ft_gguf_set_u32(w, KEY("attention.value_length"), (uint32_t)c->head_dim,
                                  err);
        }
    }
#undef KEY
    return rc ? -1 : 0;
}

/* The tokenizer (_set_vocab_gpt2 / _set_vocab_sentencepiece), one token for
 * each of the model's n_model rows (llama.cpp takes the vocabulary size from
 * the token list): ids without a token are written "[PAD<id>]" of type
 * UNUSED as the converter does. SPM
 * tokenizers without scores get scores that make llama.cpp merge in the
 * order of the merge list: a token's score is minus the rank of the first
 * merge that makes it. */
static int write_tokenizer(ft_gguf_writer *w, const ft_tokenizer *t, int32_t n_model,
                           ft_err *err)
{
    int32_t n_tok = ft_tokenizer_n_vocab(t), n = n_model > n_tok ? n_model : n_tok;
    int spm = ft_tokenizer_kind(t) == FT_TOK_SPM_BPE;
    size_t n_merges = ft_tokenizer_n_merges(t);
    char **strs = ft_calloc((size_t)n + 1, sizeof *strs, err);
    char **merges = NULL;
    int32_t *types = ft_malloc((size_t)n * sizeof *types + 1, err);
    float *scores = ft_malloc((size_t)n * sizeof *scores + 1, err);
    int rc = -1;

    if (!strs || !types || !scores)
        goto out;
    for (int32_t i = 0; i < n; i++) {
        const char *s = i < n_tok ? ft_tokenizer_token(t, i) : NULL;
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%d]", i);
        if (!(strs[i] = ft_strdup(s ? s : pad, err)))
            goto out;
        types[i] = s ? ft_tokenizer_token_type(t, i) : FT_TOKT_UNUSED;
        scores[i] = s ? ft_tokenizer_score(t, i) : 0;
    }
    if (spm && !ft_tokenizer_has_scores(t)) {
        for (int32_t i = 0; i < n; i++)
            scores[i] = 0;
        for (size_t r = n_merges; r-- > 0;) {
            int32_t l, rt, id;
            char buf[1024];
            ft_tokenizer_merge(t, r, &l, &rt);
            snprintf(buf, sizeof buf, "%s%s", ft_tokenizer_token(t, l), ft_tokenizer_token(t, rt));
            if ((id = ft_tokenizer_lookup(t, buf)) >= 0)
                scores[id] = -(float)r;
        }
    }

    if (ft_gguf_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2", err) < 0)
        goto out;
    if (!spm) {
        const char *const *pats;
        size_t n_pats = ft_tokenizer_patterns(t, &pats);
        const char *pre = ft_gguf_arch_pre_name(pats, n_pats);
        if (!pre) {
            ft_err_set(err, "the tokenizer's pre-tokenizer (%s) has no llama.cpp name",
                       n_pats ? pats[0] : "not a list of regexes");
            goto out;
        }
        if (ft_gguf_set_str(w, "tokenizer.ggml.pre", pre, err) < 0)
            goto out;
    }
    if (ft_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)strs, NULL,
                            (uint64_t)n, err) < 0)
        goto out;
    if (spm && ft_gguf_set_arr(w, "tokenizer.ggml.scores", FT_GGUF_F32, scores, (uint64_t)n,
                               err) < 0)
        goto out;
    if (ft_gguf_set_arr(w, "tokenizer.ggml.token_type", FT_GGUF_I32, types, (uint64_t)n,
                        err) < 0)
        goto out;
    if (!spm) {
        if (!(merges = ft_calloc(n_merges + 1, sizeof *merges, err)))
            goto out;
        for (size_t i = 0; i < n_merges; i++) {
            int32_t l, r;
            const char *ls, *rs;
            ft_tokenizer_merge(t, i, &l, &r);
            ls = ft_tokenizer_token(t, l), rs = ft_tokenizer_token(t, r);
            if (!(merges[i] = ft_malloc(strlen(ls) + strlen(rs) + 2, err)))
                goto out;
            sprintf(merges[i], "%s %s", ls, rs);
        }
        if (ft_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, NULL,
                                n_merges, err) < 0)
            goto out;
    }

    /* Special ids and what encoding adds. */
    struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", ft_tokenizer_bos(t)},
        {"tokenizer.ggml.eos_token_id", ft_tokenizer_eos(t)},
        {"tokenizer.ggml.unknown_token_id", ft_tokenizer_unk(t)},
        {"tokenizer.ggml.padding_token_id", ft_tokenizer_pad(t)},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= 0 && ft_gguf_set_u32(w, ids[i].key, (uint32_t)ids[i].id, err) < 0)
            goto out;
    if (ft_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", ft_tokenizer_adds_bos(t), err) < 0 ||
        ft_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", ft_tokenizer_adds_eos(t), err) < 0)
        goto out;
    rc = 0;
out:
    for (int32_t i = 0; strs && i < n; i++)
        free(strs[i]);
    for (size_t i = 0; merges && i < n_merges; i++)
        free(merges[i]);
    free(strs);
    free(merges);
    free(types);
    free(scores);
    return rc;
}

int ft_gguf_model_save(const ft_model *m, const ft_tokenizer *tok, const char *path,
                       int dtype, const char *name, int force, ft_err *err)
{
    const char *arch = arch_of(m->cfg.family);
    int gpt2 = m->cfg.family == FT_FAMILY_GPT2;
    int n = m->n_tensors + (gpt2 && m->cfg.tied);
    wsrc *src = ft_calloc((size_t)n, sizeof *src, err);
    ft_gguf_writer *w = ft_gguf_writer_new(err);
    int rc = -1, file_type = -2;
    char gname[128];
    float *freqs = NULL;

    if (!src || !w)
        goto out;
    if (dtype != -1 && dtype != FT_DTYPE_F32 && dtype != FT_DTYPE_F16 && dtype != FT_DTYPE_BF16) {
        ft_err_set(err, "%s: GGUF tensors are written as f32, f16 or bf16", path);
        goto out;
    }
    if (tok && ft_tokenizer_n_vocab(tok) > m->cfg.vocab_size) {
        ft_err_set(err, "%s: the tokenizer has %d tokens, the model only %d", path,
                   ft_tokenizer_n_vocab(tok), m->cfg.vocab_size);
        goto out;
    }

    /* Tensors: 1-D ones and the position table in F32, matrices in dtype;
     * general.file_type from the matrices' type. */
    for (int i = 0; i < n; i++) {
        const ft_tensor *t = &m->tensors[i < m->n_tensors ? i : m->embed_id];
        int64_t ne[2];
        int keep_f32, type;
        wsrc *s = &src[i];

        if (i < m->n_tensors) {
            if (ft_gguf_arch_to_gguf(arch, t->name, gname, sizeof gname) != 1) {
                ft_err_set(err, "%s: no GGUF name for %s", path, t->name);
                goto out;
            }
        } else {
            snprintf(gname, sizeof gname, "output.weight");
        }
        keep_f32 = t->ndim == 1 || t->role == FT_ROLE_POS;
        s->dtype = keep_f32 ? FT_DTYPE_F32 : dtype == -1 ? t->dtype : dtype;
        if (s->dtype != FT_DTYPE_F16 && s->dtype != FT_DTYPE_BF16)
            s->dtype = FT_DTYPE_F32;
        type = ttype_of_dtype(s->dtype);
        if (!keep_f32) {
            int ft = s->dtype == FT_DTYPE_F16 ? FILE_TYPE_F16
                     : s->dtype == FT_DTYPE_BF16 ? FILE_TYPE_BF16 : FILE_TYPE_F32;
            file_type = file_type == -2 || file_type == ft ? ft : -1;
        }
        s->f32 = m->params + t->offset;
        s->numel = t->numel;
        s->rows = t->shape[0];
        s->row_floats = t->ndim == 2 ? (size_t)t->shape[1] : 1;
        s->heads = ft_gguf_arch_permute_heads(arch, gname, m->cfg.n_heads, m->cfg.n_kv_heads);
        ne[0] = t->ndim == 2 ? t->shape[1] : t->shape[0];
        ne[1] = t->shape[0];
        if (ft_gguf_add_tensor_fn(w, gname, type, t->ndim, ne, fill_tensor, s, err) < 0)
            goto out;
    }

    if (ft_gguf_model_write_config(w, &m->cfg, name, file_type < 0 ? -1 : file_type, err) < 0)
        goto out;

    /* Llama 3 rope scaling: the divisors of every frequency, as
     * LlamaModel.generate_extra_tensors writes them. */
    if (m->cfg.rope_scaling.kind == FT_ROPE_SCALING_LLAMA3) {
        int half = m->cfg.head_dim / 2;
        int64_t ne[1] = {half};
        double plain[512], scaled[512];
        char k[128];
        if (half > 512 || !(freqs = ft_malloc((size_t)half * sizeof *freqs, err)))
            goto out;
        ft_rope_inv_freq(plain, m->cfg.head_dim, m->cfg.rope_theta, NULL);
        ft_rope_inv_freq(scaled, m->cfg.head_dim, m->cfg.rope_theta, &m->cfg.rope_scaling);
        for (int i = 0; i < half; i++)
            freqs[i] = (float)(plain[i] / scaled[i]);
        snprintf(k, sizeof k, "%s.rope.scaling.original_context_length", arch);
        if (ft_gguf_add_tensor(w, "rope_freqs.weight", FT_GGUF_T_F32, 1, ne, freqs, err) < 0 ||
            ft_gguf_set_u32(w, k, (uint32_t)m->cfg.rope_scaling.original_max_pos, err) < 0)
            goto out;
    }

    /* Without a tokenizer, "none" (convert_hf_to_gguf.py's _set_vocab_none);
     * the config's BOS and EOS are left out too, so a model gives the same
     * bytes whichever format told them. */
    if (tok ? write_tokenizer(w, tok, m->cfg.vocab_size, err) < 0
            : ft_gguf_set_str(w, "tokenizer.ggml.model", "none", err) < 0) {
        ft_err_prefix(err, "%s", path);
        goto out;
    }
    rc = ft_gguf_write(w, path, force, err);
out:
    ft_gguf_writer_free(w);
    free(src);
    free(freqs);
    return rc;
}
