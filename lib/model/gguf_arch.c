/* gguf_arch: llama.cpp's naming, permutation and pre-tokenizer tables
 * (see gguf_arch.h). */
#include "model/gguf_arch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- tensor names */

/* HF name ↔ GGUF name, "%d" standing for the layer. GGUF names are
 * gguf-py/gguf/constants.py TENSOR_NAMES ("token_embd", "blk.{bid}.attn_q",
 * …) plus ".weight" / ".bias"; the HF names are those tensor_mapping.py
 * lists for llama-hf ("model.layers.{bid}.self_attn.q_proj", …) and gpt2
 * ("transformer.h.{bid}.attn.c_attn", …). */
typedef struct name_pair {
    const char *hf;
    const char *gguf;
} name_pair;

static const name_pair llama_names[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
    {"model.layers.%d.input_layernorm.weight", "blk.%d.attn_norm.weight"},
    {"model.layers.%d.self_attn.q_proj.weight", "blk.%d.attn_q.weight"},
    {"model.layers.%d.self_attn.q_proj.bias", "blk.%d.attn_q.bias"},
    {"model.layers.%d.self_attn.k_proj.weight", "blk.%d.attn_k.weight"},
    {"model.layers.%d.self_attn.k_proj.bias", "blk.%d.attn_k.bias"},
    {"model.layers.%d.self_attn.v_proj.weight", "blk.%d.attn_v.weight"},
    {"model.layers.%d.self_attn.v_proj.bias", "blk.%d.attn_v.bias"},
    {"model.layers.%d.self_attn.o_proj.weight", "blk.%d.attn_output.weight"},
    {"model.layers.%d.self_attn.o_proj.bias", "blk.%d.attn_output.bias"},
    {"model.layers.%d.post_attention_layernorm.weight", "blk.%d.ffn_norm.weight"},
    {"model.layers.%d.mlp.gate_proj.weight", "blk.%d.ffn_gate.weight"},
    {"model.layers.%d.mlp.up_proj.weight", "blk.%d.ffn_up.weight"},
    {"model.layers.%d.mlp.down_proj.weight", "blk.%d.ffn_down.weight"},
    {"model.layers.%d.mlp.gate_proj.bias", "blk.%d.ffn_gate.bias"},
    {"model.layers.%d.mlp.up_proj.bias", "blk.%d.ffn_up.bias"},
    {"model.layers.%d.mlp.down_proj.bias", "blk.%d.ffn_down.bias"},
    {NULL, NULL},
};

static const name_pair gpt2_names[] = {
    {"transformer.wte.weight", "token_embd.weight"},
    {"transformer.wpe.weight", "position_embd.weight"},
    {"transformer.ln_f.weight", "output_norm.weight"},
    {"transformer.ln_f.bias", "output_norm.bias"},
    {"lm_head.weight", "output.weight"},
    {"transformer.h.%d.ln_1.weight", "blk.%d.attn_norm.weight"},
    {"transformer.h.%d.ln_1.bias", "blk.%d.attn_norm.bias"},
    {"transformer.h.%d.attn.c_attn.weight", "blk.%d.attn_qkv.weight"},
    {"transformer.h.%d.attn.c_attn.bias", "blk.%d.attn_qkv.bias"},
    {"transformer.h.%d.attn.c_proj.weight", "blk.%d.attn_output.weight"},
    {"transformer.h.%d.attn.c_proj.bias", "blk.%d.attn_output.bias"},
    {"transformer.h.%d.ln_2.weight", "blk.%d.ffn_norm.weight"},
    {"transformer.h.%d.ln_2.bias", "blk.%d.ffn_norm.bias"},
    {"transformer.h.%d.mlp.c_fc.weight", "blk.%d.ffn_up.weight"},
    {"transformer.h.%d.mlp.c_fc.bias", "blk.%d.ffn_up.bias"},
    {"transformer.h.%d.mlp.c_proj.weight", "blk.%d.ffn_down.weight"},
    {"transformer.h.%d.mlp.c_proj.bias", "blk.%d.ffn_down.bias"},
    {NULL, NULL},
};

/* HF tensors GGUF leaves out: buffers recomputed at load
 * (convert_hf_to_gguf.py skips rotary_emb.inv_freq, and GPT2Model skips
 * ".attn.bias" and ".attn.masked_bias"). */
static const char *const skipped[] = {
    "model.layers.%d.self_attn.rotary_emb.inv_freq",
    "transformer.h.%d.attn.bias",
    "transformer.h.%d.attn.masked_bias",
    NULL,
};

static const name_pair *names_of(const char *arch)
{
    if (!strcmp(arch, "llama") || !strcmp(arch, "qwen2"))
        return llama_names;
    if (!strcmp(arch, "gpt2"))
        return gpt2_names;
    return NULL;
}

/* Match name against a pattern with at most one "%d" (a layer number
 * without sign or leading zeros): 1 with *layer set (-1 without %d). */
static int match(const char *pat, const char *name, int *layer)
{
    const char *d = strstr(pat, "%d");
    size_t pre, post, n = strlen(name);
    long v = 0;
    const char *p;

    *layer = -1;
    if (!d)
        return !strcmp(pat, name);
    pre = (size_t)(d - pat);
    post = strlen(d + 2);
    if (n < pre + post + 1 || strncmp(pat, name, pre) || strcmp(d + 2, name + n - post))
        return 0;
    for (p = name + pre; p < name + n - post; p++) {
        if (*p < '0' || *p > '9' || v > 100000000)
            return 0;
        v = v * 10 + (*p - '0');
    }
    if (name[pre] == '0' && n - post - pre > 1)
        return 0;
    *layer = (int)v;
    return 1;
}

static int fill(char *out, size_t out_size, const char *pat, int layer)
{
    int n = layer >= 0 ? snprintf(out, out_size, pat, layer) : snprintf(out, out_size, "%s",
                                                                        pat);
    return n >= 0 && (size_t)n < out_size ? 1 : -1;
}

int ft_gguf_arch_to_gguf(const char *arch, const char *hf, char *out, size_t out_size)
{
    const name_pair *t = names_of(arch);
    char full[256];
    int layer;

    if (!t)
        return -1;
    /* GPT-2 checkpoints saved from GPT2Model lack the prefix. */
    if (t == gpt2_names && strncmp(hf, "transformer.", 12) && strcmp(hf, "lm_head.weight")) {
        snprintf(full, sizeof full, "transformer.%s", hf);
        hf = full;
    }
    for (int i = 0; skipped[i]; i++)
        if (match(skipped[i], hf, &layer))
            return 0;
    for (; t->hf; t++)
        if (match(t->hf, hf, &layer))
            return fill(out, out_size, t->gguf, layer);
    return -1;
}

int ft_gguf_arch_to_hf(const char *arch, const char *gguf, char *out, size_t out_size)
{
    const name_pair *t = names_of(arch);
    int layer;

    if (!t)
        return -1;
    for (; t->hf; t++)
        if (match(t->gguf, gguf, &layer))
            return fill(out, out_size, t->hf, layer);
    return -1;
}

/* ------------------------------------------------------ rotary layout */

/* convert_hf_to_gguf.py, LlamaModel.modify_tensors: q_proj (weight and
 * bias) is permuted by n_head, k_proj by n_head_kv; only for the llama
 * architecture (Qwen2Model and GPT2Model do not permute). */
int ft_gguf_arch_permute_heads(const char *arch, const char *gguf, int n_heads,
                               int n_kv_heads)
{
    int layer;

    if (strcmp(arch, "llama"))
        return 0;
    if (match("blk.%d.attn_q.weight", gguf, &layer) || match("blk.%d.attn_q.bias", gguf, &layer))
        return n_heads;
    if (match("blk.%d.attn_k.weight", gguf, &layer) || match("blk.%d.attn_k.bias", gguf, &layer))
        return n_kv_heads;
    return 0;
}

/* LlamaModel.permute reshapes [n_head, 2, d/2, ...], swaps the middle
 * axes and flattens: pair row 2i + j of a head comes from half-layout row
 * j·d/2 + i. */
void ft_gguf_arch_permute(void *dst, const void *src, int64_t rows, size_t row_bytes,
                          int n_heads, int to_pairs)
{
    int64_t d = rows / n_heads, half = d / 2;
    unsigned char *o = dst;
    const unsigned char *s = src;

    for (int64_t h = 0; h < n_heads; h++) {
        for (int64_t i = 0; i < half; i++) {
            for (int64_t j = 0; j < 2; j++) {
                int64_t pair = h * d + 2 * i + j, halves = h * d + j * half + i;
                int64_t to = to_pairs ? pair : halves, from = to_pairs ? halves : pair;
                memcpy(o + (size_t)to * row_bytes, s + (size_t)from * row_bytes, row_bytes);
            }
        }
    }
}

/* ------------------------------------------------------ pre-tokenizers */

/* The regexes of src/llama-vocab.cpp, llm_tokenizer_bpe's constructor, by
 * LLAMA_VOCAB_PRE_TYPE, and the names llama_vocab::impl::load maps to each
 * type. Names with custom code in llama.cpp's unicode.cpp (kimi-k2, afmoe)
 * are left out, so they are refused as unknown. */
#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3                                                                        \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                                         \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"      \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_SEED_CODER                                                                    \
    RX_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+"      \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_BLOOM " ?[^(\\s|.,!?\xe2\x80\xa6\xe3\x80\x82\xef\xbc\x8c\xe3\x80\x81\xe0\xa5\xa4" \
                 "\xdb\x94\xd8\x8c)]+"
#define RX_GPT4O_LETTERS(A, B)                                                           \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^" A "]))" B
#define RX_GPT4O                                                                         \
    RX_GPT4O_LETTERS("a-z", "*") "((?=[\\p{L}])([^A-Z]))+" RX_CONTRACTIONS "?|"          \
    RX_GPT4O_LETTERS("a-z", "+") "((?=[\\p{L}])([^A-Z]))*" RX_CONTRACTIONS "?|"          \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_TEKKEN                                                                        \
    RX_GPT4O_LETTERS("a-z", "*") "((?=[\\p{L}])([^A-Z]))+|"                              \
    RX_GPT4O_LETTERS("a-z", "+") "((?=[\\p{L}])([^A-Z]))*|"                              \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const rx_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL};
static const char *const rx_llama3[] = {RX_LLAMA3, NULL};
static const char *const rx_gpt2[] = {RX_GPT2, NULL};
static const char *const rx_qwen2[] = {RX_QWEN2, NULL};
static const char *const rx_starcoder[] = {"\\p{N}", RX_GPT2, NULL};
static const char *const rx_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL};
static const char *const rx_deepseek_coder[] = {
    "[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
    "[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+",
    "\\p{N}", NULL};
static const char *const rx_bloom[] = {RX_BLOOM, NULL};
static const char *const rx_viking[] = {RX_BLOOM, "\\p{N}", NULL};
static const char *const rx_gpt4o[] = {RX_GPT4O, NULL};
static const char *const rx_tekken[] = {RX_TEKKEN, NULL};
static const char *const rx_seed_coder[] = {RX_SEED_CODER, NULL};

static const struct pre {
    const char *name;
    const char *const *rx;
} pres[] = {
    {"default", rx_default},
    {"llama3", rx_llama3}, {"llama-v3", rx_llama3}, {"llama-bpe", rx_llama3},
    {"falcon3", rx_llama3}, {"pixtral", rx_llama3}, {"dbrx", rx_llama3},
    {"smaug-bpe", rx_llama3}, {"chatglm-bpe", rx_llama3}, {"glm4", rx_llama3},
    {"gpt-2", rx_gpt2}, {"phi-2", rx_gpt2}, {"jina-es", rx_gpt2}, {"jina-de", rx_gpt2},
    {"jina-v2-es", rx_gpt2}, {"jina-v2-de", rx_gpt2}, {"gigachat", rx_gpt2},
    {"exaone4", rx_gpt2}, {"mellum", rx_gpt2}, {"mpt", rx_gpt2}, {"olmo", rx_gpt2},
    {"jais", rx_gpt2}, {"trillion", rx_gpt2}, {"granite-docling", rx_gpt2},
    /* Not a llama.cpp name: GPT-2's own spelled the way this project's
     * docs (and some hand-made files) do; written back as "gpt-2". */
    {"gpt2", rx_gpt2},
    {"qwen2", rx_qwen2}, {"deepseek-r1-qwen", rx_qwen2}, {"megrez", rx_qwen2},
    {"stablelm2", rx_qwen2}, {"hunyuan", rx_qwen2},
    {"smollm", rx_starcoder}, {"starcoder", rx_starcoder}, {"refact", rx_starcoder},
    {"command-r", rx_starcoder}, {"codeshell", rx_starcoder}, {"exaone", rx_starcoder},
    {"minerva-7b", rx_starcoder},
    {"falcon", rx_falcon},
    {"deepseek-coder", rx_deepseek_coder},
    {"bloom", rx_bloom}, {"poro-chat", rx_bloom}, {"gpt3-finnish", rx_bloom},
    {"viking", rx_viking},
    {"gpt-4o", rx_gpt4o}, {"llama4", rx_gpt4o},
    {"tekken", rx_tekken},
    {"seed-coder", rx_seed_coder},
    {"grok-2", rx_qwen2},
    {NULL, NULL},
};

const char *const *ft_gguf_arch_pre_regexes(const char *name, int *n)
{
    *n = 0;
    for (const struct pre *p = pres; p->name; p++) {
        if (strcmp(p->name, name))
            continue;
        while (p->rx[*n])
            (*n)++;
        return p->rx;
    }
    return NULL;
}

/* Pre-tokenizer patterns as tokenizer.json files carry them (Hugging Face
 * spells contractions "(?i:...)" where llama.cpp adapted them), and the
 * name convert_hf_to_gguf.py's get_vocab_base_pre gives those tokenizers. */
#define HF_CONTRACTIONS "(?i:'s|'t|'re|'ve|'m|'ll|'d)"
static const struct {
    const char *pattern;
    int split_digits;
    const char *name;
} pre_by_pattern[] = {
    {RX_GPT2, 0, "gpt-2"},
    {RX_GPT2 "|\\s+", 0, "gpt-2"},
    {RX_GPT2, 1, "smollm"},
    {RX_GPT2 "|\\s+", 1, "smollm"},
    {RX_LLAMA3, 0, "llama-bpe"},
    {HF_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 0, "llama-bpe"},
    {RX_QWEN2, 0, "qwen2"},
    {HF_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
     "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 0, "qwen2"},
};

static int same_list(const char *const *a, size_t n, const char *const *b)
{
    size_t i;
    for (i = 0; i < n && b[i]; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return i == n && !b[i];
}

const char *ft_gguf_arch_pre_name(const char *const *patterns, size_t n)
{
    /* The names convert_hf_to_gguf.py writes, before their aliases. */
    static const char *const preferred[] = {"gpt-2", "llama-bpe", "qwen2", "smollm",
                                            "default", NULL};
    size_t n_hf = sizeof pre_by_pattern / sizeof pre_by_pattern[0];
    int dummy;

    for (size_t i = 0; i < n_hf; i++) {
        int digits = pre_by_pattern[i].split_digits;
        if (n == (size_t)(1 + digits) && !strcmp(pre_by_pattern[i].pattern, patterns[digits]) &&
            (!digits || !strcmp(patterns[0], "\\p{N}")))
            return pre_by_pattern[i].name;
    }
    for (int i = 0; preferred[i]; i++)
        if (same_list(patterns, n, ft_gguf_arch_pre_regexes(preferred[i], &dummy)))
            return preferred[i];
    for (const struct pre *p = pres; p->name; p++)
        if (strcmp(p->name, "gpt2") && same_list(patterns, n, p->rx))
            return p->name;
    return NULL;
}
