/* test-gguf-arch: llama.cpp's naming, permutation and pre-tokenizer tables.
 *
 * Expected names are copied by hand from llama.cpp's gguf-py/gguf/
 * constants.py (TENSOR_NAMES: "token_embd", "blk.{bid}.attn_q",
 * "blk.{bid}.attn_output", "blk.{bid}.ffn_gate", "output_norm", "output",
 * "position_embd", "blk.{bid}.attn_qkv", …) and tensor_mapping.py (the HF
 * names: "model.layers.{bid}.self_attn.q_proj" for llama-hf,
 * "transformer.h.{bid}.attn.c_attn" and "transformer.h.{bid}.mlp.c_fc" for
 * gpt2). The permutation is checked on a hand-worked example of
 * LlamaModel.permute (reshape [n_head, 2, d/2, in], swap axes 1 and 2) and
 * on real data: stories260K.bin (llama2.c, adjacent pairs) against
 * llama2c/hf/model.safetensors (halves), bit for bit. The pre-tokenizer
 * regexes (src/llama-vocab.cpp) must compile in PCRE2 and split as
 * llama.cpp's do on a few hand-worked strings. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/fsout.h"
#include "model/gguf_arch.h"

static void check_pair(const char *arch, const char *hf, const char *gguf)
{
    char out[128];
    int rc = ft_gguf_arch_to_gguf(arch, hf, out, sizeof out);
    CHECK_MSG(rc == 1 && !strcmp(out, gguf), "%s: %s -> %s (rc %d), want %s", arch, hf,
              rc == 1 ? out : "-", rc, gguf);
    rc = ft_gguf_arch_to_hf(arch, gguf, out, sizeof out);
    CHECK_MSG(rc == 1 && !strcmp(out, hf), "%s: %s -> %s (rc %d), want %s", arch, gguf,
              rc == 1 ? out : "-", rc, hf);
}

static void test_names(void)
{
    char out[128];
    const char *llama[][2] = {
        {"model.embed_tokens.weight", "token_embd.weight"},
        {"model.norm.weight", "output_norm.weight"},
        {"lm_head.weight", "output.weight"},
        {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
        {"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
        {"model.layers.11.self_attn.k_proj.weight", "blk.11.attn_k.weight"},
        {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
        {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
        {"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"},
        {"model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight"},
        {"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight"},
        {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"},
    };
    const char *qwen2[][2] = {
        {"model.layers.1.self_attn.q_proj.bias", "blk.1.attn_q.bias"},
        {"model.layers.1.self_attn.k_proj.bias", "blk.1.attn_k.bias"},
        {"model.layers.1.self_attn.v_proj.bias", "blk.1.attn_v.bias"},
    };
    const char *gpt2[][2] = {
        {"transformer.wte.weight", "token_embd.weight"},
        {"transformer.wpe.weight", "position_embd.weight"},
        {"transformer.h.0.ln_1.weight", "blk.0.attn_norm.weight"},
        {"transformer.h.0.ln_1.bias", "blk.0.attn_norm.bias"},
        {"transformer.h.0.attn.c_attn.weight", "blk.0.attn_qkv.weight"},
        {"transformer.h.0.attn.c_attn.bias", "blk.0.attn_qkv.bias"},
        {"transformer.h.0.attn.c_proj.weight", "blk.0.attn_output.weight"},
        {"transformer.h.0.attn.c_proj.bias", "blk.0.attn_output.bias"},
        {"transformer.h.1.ln_2.weight", "blk.1.ffn_norm.weight"},
        {"transformer.h.1.ln_2.bias", "blk.1.ffn_norm.bias"},
        {"transformer.h.1.mlp.c_fc.weight", "blk.1.ffn_up.weight"},
        {"transformer.h.1.mlp.c_fc.bias", "blk.1.ffn_up.bias"},
        {"transformer.h.1.mlp.c_proj.weight", "blk.1.ffn_down.weight"},
        {"transformer.h.1.mlp.c_proj.bias", "blk.1.ffn_down.bias"},
        {"transformer.ln_f.weight", "output_norm.weight"},
        {"transformer.ln_f.bias", "output_norm.bias"},
        {"lm_head.weight", "output.weight"},
    };

    for (size_t i = 0; i < sizeof llama / sizeof llama[0]; i++) {
        check_pair("llama", llama[i][0], llama[i][1]);
        check_pair("qwen2", llama[i][0], llama[i][1]);
    }
    for (size_t i = 0; i < sizeof qwen2 / sizeof qwen2[0]; i++)
        check_pair("qwen2", qwen2[i][0], qwen2[i][1]);
    for (size_t i = 0; i < sizeof gpt2 / sizeof gpt2[0]; i++)
        check_pair("gpt2", gpt2[i][0], gpt2[i][1]);

    /* GPT2Model checkpoints without the prefix; buffers GGUF leaves out. */
    CHECK(ft_gguf_arch_to_gguf("gpt2", "h.2.attn.c_attn.weight", out, sizeof out) == 1);
    CHECK_STR(out, "blk.2.attn_qkv.weight");
    CHECK(ft_gguf_arch_to_gguf("gpt2", "wte.weight", out, sizeof out) == 1);
    CHECK_STR(out, "token_embd.weight");
    CHECK(ft_gguf_arch_to_gguf("gpt2", "transformer.h.0.attn.bias", out, sizeof out) == 0);
    CHECK(ft_gguf_arch_to_gguf("gpt2", "h.0.attn.masked_bias", out, sizeof out) == 0);
    CHECK(ft_gguf_arch_to_gguf("llama", "model.layers.0.self_attn.rotary_emb.inv_freq", out,
                               sizeof out) == 0);

    /* Unknown names, architectures, malformed layer numbers, small buffers. */
    CHECK(ft_gguf_arch_to_gguf("llama", "model.layers.0.mlp.fc.weight", out, sizeof out) == -1);
    CHECK(ft_gguf_arch_to_gguf("llama", "model.layers.x.mlp.up_proj.weight", out,
                               sizeof out) == -1);
    CHECK(ft_gguf_arch_to_gguf("llama", "model.layers.01.mlp.up_proj.weight", out,
                               sizeof out) == -1);
    CHECK(ft_gguf_arch_to_gguf("llama", "model.layers..mlp.up_proj.weight", out,
                               sizeof out) == -1);
    CHECK(ft_gguf_arch_to_gguf("falcon", "lm_head.weight", out, sizeof out) == -1);
    CHECK(ft_gguf_arch_to_hf("llama", "blk.0.attn_qkv.weight", out, sizeof out) == -1);
    CHECK(ft_gguf_arch_to_hf("gpt2", "blk.0.attn_q.weight", out, sizeof out) == -1);
    CHECK(ft_gguf_arch_to_gguf("llama", "model.norm.weight", out, 8) == -1);
}

static void test_permute_by_hand(void)
{
    /* 2 heads of d = 4 rows, one int32 per row. HF (halves) rows of a head
     * are [x0 x1 | y0 y1]; llama.cpp pairs them as x0 y0 x1 y1:
     * reshape(2, 2, 2) [h][j][i] -> swapaxes -> [h][i][j]. */
    int32_t hf[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    int32_t want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    int32_t got[8], back[8];
    /* 1 head of d = 6 with 2-int rows: [a b c | d e f] -> a d b e c f. */
    int32_t hf6[12] = {10, 11, 20, 21, 30, 31, 40, 41, 50, 51, 60, 61};
    int32_t want6[12] = {10, 11, 40, 41, 20, 21, 50, 51, 30, 31, 60, 61};
    int32_t got6[12];

    ft_gguf_arch_permute(got, hf, 8, 4, 2, 1);
    CHECK(!memcmp(got, want, sizeof want));
    ft_gguf_arch_permute(back, got, 8, 4, 2, 0);
    CHECK(!memcmp(back, hf, sizeof hf));
    ft_gguf_arch_permute(got6, hf6, 6, 8, 1, 1);
    CHECK(!memcmp(got6, want6, sizeof want6));

    /* Which tensors llama.cpp permutes, by how many heads. */
    CHECK_INT(ft_gguf_arch_permute_heads("llama", "blk.0.attn_q.weight", 8, 4), 8);
    CHECK_INT(ft_gguf_arch_permute_heads("llama", "blk.4.attn_k.weight", 8, 4), 4);
    CHECK_INT(ft_gguf_arch_permute_heads("llama", "blk.4.attn_k.bias", 8, 4), 4);
    CHECK_INT(ft_gguf_arch_permute_heads("llama", "blk.4.attn_v.weight", 8, 4), 0);
    CHECK_INT(ft_gguf_arch_permute_heads("llama", "token_embd.weight", 8, 4), 0);
    CHECK_INT(ft_gguf_arch_permute_heads("qwen2", "blk.0.attn_q.weight", 8, 4), 0);
    CHECK_INT(ft_gguf_arch_permute_heads("gpt2", "blk.0.attn_qkv.weight", 8, 4), 0);
}

/* The data offsets of a tensor in a safetensors header (parsed by hand). */
static const uint8_t *st_tensor(const char *st, size_t st_bytes, const char *name,
                                size_t *n_bytes)
{
    uint64_t hlen;
    char key[160];
    const char *p;
    unsigned long long a, b;

    memcpy(&hlen, st, 8);
    snprintf(key, sizeof key, "\"%s\"", name);
    p = strstr(st + 8, key);
    if (!p || (size_t)(p - st) > 8 + hlen)
        return NULL;
    p = strstr(p, "\"data_offsets\"");
    if (!p || sscanf(p, "\"data_offsets\": [%llu, %llu]", &a, &b) != 2 || b > st_bytes)
        return NULL;
    *n_bytes = (size_t)(b - a);
    return (const uint8_t *)st + 8 + hlen + a;
}

static void test_permute_stories(void)
{
    const char *dir = check_data_dir();
    char path[4096], *bin, *st, name[128];
    size_t bin_bytes, st_bytes, n;
    int32_t h[7];
    int dim, n_layers, n_heads, n_kv, vocab, kv_dim;

    if (!dir) {
        printf("skipping the stories260K permutation: no shared data\n");
        return;
    }
    CHECK(snprintf(path, sizeof path, "%s/llama2c/stories260K.bin", dir) < (int)sizeof path);
    CHECK(ft_read_file(path, 1 << 24, &bin, &bin_bytes, NULL) == 0);
    CHECK(snprintf(path, sizeof path, "%s/llama2c/hf/model.safetensors", dir) < (int)sizeof path);
    CHECK(ft_read_file(path, 1 << 24, &st, &st_bytes, NULL) == 0);
    memcpy(h, bin, sizeof h);
    dim = h[0], n_layers = h[2], n_heads = h[3], n_kv = h[4], vocab = h[5];
    kv_dim = dim * n_kv / n_heads;
    CHECK(dim == 64 && n_layers == 5 && n_heads == 8 && n_kv == 4 && vocab == 512);

    /* llama2.c order: embedding, attention norms, wq, wk (all layers each). */
    const float *wq = (const float *)(bin + 28) + (size_t)vocab * dim + (size_t)n_layers * dim;
    const float *wk = wq + (size_t)n_layers * dim * dim;
    float *got = malloc((size_t)dim * dim * sizeof *got);
    for (int l = 0; l < n_layers; l++) {
        snprintf(name, sizeof name, "model.layers.%d.self_attn.q_proj.weight", l);
        const uint8_t *q = st_tensor(st, st_bytes, name, &n);
        CHECK(q && n == (size_t)dim * dim * 4);
        ft_gguf_arch_permute(got, q, dim, dim * 4, n_heads, 1);
        CHECK_MSG(!memcmp(got, wq + (size_t)l * dim * dim, n), "layer %d: q rows", l);
        ft_gguf_arch_permute(got, wq + (size_t)l * dim * dim, dim, dim * 4, n_heads, 0);
        CHECK_MSG(!memcmp(got, q, n), "layer %d: q rows back", l);

        snprintf(name, sizeof name, "model.layers.%d.self_attn.k_proj.weight", l);
        const uint8_t *k = st_tensor(st, st_bytes, name, &n);
        CHECK(k && n == (size_t)kv_dim * dim * 4);
        ft_gguf_arch_permute(got, k, kv_dim, dim * 4, n_kv, 1);
        CHECK_MSG(!memcmp(got, wk + (size_t)l * kv_dim * dim, n), "layer %d: k rows", l);
    }
    free(got);
    free(bin);
    free(st);
}

/* Split text as llama.cpp's unicode_regex_split does: each regex in turn
 * cuts every piece, matches and the gaps between them becoming pieces.
 * Returns the pieces joined by '|'. */
static void split(const char *const *rx, int n_rx, const char *text, char *out, size_t cap)
{
    char pieces[64][64];
    int n = 1;
    strcpy(pieces[0], text);
    for (int r = 0; r < n_rx; r++) {
        char next[64][64];
        int m = 0, ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)rx[r], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
        pcre2_match_data *md = pcre2_match_data_create(4, NULL);
        for (int i = 0; i < n; i++) {
            size_t len = strlen(pieces[i]), pos = 0, last = 0;
            while (pos <= len && pcre2_match(re, (PCRE2_SPTR)pieces[i], len, pos, 0, md,
                                             NULL) >= 0) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                if (ov[0] > last)
                    snprintf(next[m++], 64, "%.*s", (int)(ov[0] - last), pieces[i] + last);
                if (ov[1] > ov[0])
                    snprintf(next[m++], 64, "%.*s", (int)(ov[1] - ov[0]), pieces[i] + ov[0]);
                last = ov[1];
                pos = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
            }
            if (last < len)
                snprintf(next[m++], 64, "%s", pieces[i] + last);
        }
        memcpy(pieces, next, sizeof next);
        n = m;
        pcre2_match_data_free(md);
        pcre2_code_free(re);
    }
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            strncat(out, "|", cap - strlen(out) - 1);
        strncat(out, pieces[i], cap - strlen(out) - 1);
    }
}

static void test_pre(void)
{
    const char *names[] = {"default", "llama3", "llama-bpe", "qwen2", "gpt-2", "gpt2",
                           "smollm", "falcon", "deepseek-coder", "bloom", "viking",
                           "gpt-4o", "tekken", "seed-coder", "starcoder", "dbrx"};
    const char *const *rx;
    char out[512];
    int n;

    /* Every regex compiles in PCRE2 as the tokenizers run them. */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        rx = ft_gguf_arch_pre_regexes(names[i], &n);
        CHECK_MSG(rx && n > 0, "no regexes for %s", names[i]);
        for (int r = 0; rx && r < n; r++) {
            int ec;
            PCRE2_SIZE eo;
            pcre2_code *re = pcre2_compile((PCRE2_SPTR)rx[r], PCRE2_ZERO_TERMINATED,
                                           PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
            CHECK_MSG(re != NULL, "%s regex %d does not compile at %zu", names[i], r,
                      (size_t)eo);
            pcre2_code_free(re);
        }
    }
    CHECK(ft_gguf_arch_pre_regexes("no-such-pre", &n) == NULL && n == 0);
    CHECK(ft_gguf_arch_pre_regexes("kimi-k2", &n) == NULL);
    rx = ft_gguf_arch_pre_regexes("default", &n);
    CHECK_INT(n, 4);
    rx = ft_gguf_arch_pre_regexes("smollm", &n);
    CHECK_INT(n, 2);

    /* Hand-worked splits. GPT-2: letters with one leading space, digits
     * likewise, the space before a space run stays with the run. */
    rx = ft_gguf_arch_pre_regexes("gpt-2", &n);
    split(rx, n, "Hello world's 12345  ok", out, sizeof out);
    CHECK_STR(out, "Hello| world|'s| 12345| | ok");
    /* Llama 3: digits in threes, no space before them. */
    rx = ft_gguf_arch_pre_regexes("llama-bpe", &n);
    split(rx, n, "Hello world's 12345  ok", out, sizeof out);
    CHECK_STR(out, "Hello| world|'s| |123|45| | ok");
    /* Qwen2: single digits. */
    rx = ft_gguf_arch_pre_regexes("qwen2", &n);
    split(rx, n, "ab 123", out, sizeof out);
    CHECK_STR(out, "ab| |1|2|3");
    /* SmolLM: digits apart first, then GPT-2's split of the rest. */
    rx = ft_gguf_arch_pre_regexes("smollm", &n);
    split(rx, n, "x 42y", out, sizeof out);
    CHECK_STR(out, "x| |4|2|y");

    /* Names to write for tokenizer.json patterns (tokenizer.json's own
     * spellings of GPT-2's, Llama 3's and Qwen2's) and for llama.cpp's lists. */
    {
        const char *gpt2[] = {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                              "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"};
        const char *smollm[] = {"\\p{N}", gpt2[0]};
        const char *llama3[] = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
                                "\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
        const char *qwen2[] = {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?"
                               "\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                               "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
        const char *other[] = {"\\w+"};
        CHECK_STR(ft_gguf_arch_pre_name(gpt2, 1), "gpt-2");
        CHECK_STR(ft_gguf_arch_pre_name(smollm, 2), "smollm");
        CHECK_STR(ft_gguf_arch_pre_name(llama3, 1), "llama-bpe");
        CHECK_STR(ft_gguf_arch_pre_name(qwen2, 1), "qwen2");
        CHECK(ft_gguf_arch_pre_name(other, 1) == NULL);
        CHECK(ft_gguf_arch_pre_name(smollm + 1, 0) == NULL);
        rx = ft_gguf_arch_pre_regexes("default", &n);
        CHECK_STR(ft_gguf_arch_pre_name(rx, (size_t)n), "default");
        rx = ft_gguf_arch_pre_regexes("llama3", &n);
        CHECK_STR(ft_gguf_arch_pre_name(rx, (size_t)n), "llama-bpe");
        rx = ft_gguf_arch_pre_regexes("gpt2", &n);
        CHECK_STR(ft_gguf_arch_pre_name(rx, (size_t)n), "gpt-2");
        rx = ft_gguf_arch_pre_regexes("tekken", &n);
        CHECK_STR(ft_gguf_arch_pre_name(rx, (size_t)n), "tekken");
    }
}

int main(void)
{
    test_names();
    test_permute_by_hand();
    test_permute_stories();
    test_pre();
    return check_done();
}
