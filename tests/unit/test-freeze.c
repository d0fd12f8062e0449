/* test-freeze: which tensors train under --method freeze, for Llama and
 * GPT-2 names, the expected flags written out by hand from the rule in
 * freeze.h. */
#include "train/freeze.h"

#include "check.h"

static const char *const llama[] = {
    "model.embed_tokens.weight",                  /* 0 embedding */
    "model.layers.0.self_attn.q_proj.weight",     /* 1 block 0 */
    "model.layers.0.input_layernorm.weight",      /* 2 block 0 */
    "model.layers.1.mlp.down_proj.weight",        /* 3 block 1 */
    "model.layers.2.self_attn.o_proj.weight",     /* 4 block 2 */
    "model.layers.2.post_attention_layernorm.weight", /* 5 block 2 */
    "model.norm.weight",                          /* 6 final norm */
    "lm_head.weight",                             /* 7 embedding (classifier) */
};

static const char *const gpt2[] = {
    "transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
    "transformer.h.1.mlp.c_proj.bias", "transformer.ln_f.weight", "transformer.ln_f.bias",
};

static void expect(const ft_freeze_spec *spec, const char *const *names, int n,
                   int n_layers, const char *want)
{
    unsigned char got[16];
    ft_err err;
    char s[17] = {0};

    CHECK(ft_freeze_select(spec, names, n, n_layers, got, &err) == 0);
    for (int i = 0; i < n; i++)
        s[i] = (char)('0' + got[i]);
    CHECK_STR(s, want);
}

int main(void)
{
    int kind;

    CHECK_INT(ft_freeze_block_of(llama[3], &kind), 1);
    CHECK_INT(kind, FT_FREEZE_BLOCK);
    CHECK_INT(ft_freeze_block_of(llama[0], &kind), -1);
    CHECK_INT(kind, FT_FREEZE_EMBEDDING);
    CHECK_INT(ft_freeze_block_of(llama[6], &kind), -1);
    CHECK_INT(kind, FT_FREEZE_FINAL_NORM);
    CHECK_INT(ft_freeze_block_of("h.12.attn.c_proj.weight", &kind), 12);
    CHECK_INT(ft_freeze_block_of(gpt2[1], &kind), -1);
    CHECK_INT(kind, FT_FREEZE_EMBEDDING);

    /* Default: the top two blocks (1, 2) and the final norm. */
    expect(&(ft_freeze_spec){NULL, NULL, 0}, llama, 8, 3, "00011110");
    expect(&(ft_freeze_spec){"1", NULL, 0}, llama, 8, 3, "00001110");
    expect(&(ft_freeze_spec){"1", NULL, 1}, llama, 8, 3, "10001111");
    /* An index set: block 0 and the last one. */
    expect(&(ft_freeze_spec){"0,-1", NULL, 0}, llama, 8, 3, "01101110");
    expect(&(ft_freeze_spec){"1-1", NULL, 0}, llama, 8, 3, "00010010");
    /* The example on 8 blocks: 0, 5, 6, 7 (-1 is 7 again), and the
     * final norm. */
    static const char *const deep[] = {
        "model.layers.0.mlp.up_proj.weight", "model.layers.1.mlp.up_proj.weight",
        "model.layers.2.mlp.up_proj.weight", "model.layers.3.mlp.up_proj.weight",
        "model.layers.4.mlp.up_proj.weight", "model.layers.5.mlp.up_proj.weight",
        "model.layers.6.mlp.up_proj.weight", "model.layers.7.mlp.up_proj.weight",
        "model.norm.weight", "model.embed_tokens.weight"};
    expect(&(ft_freeze_spec){"0,5-7,-1", NULL, 0}, deep, 10, 8, "1000011110");
    expect(&(ft_freeze_spec){"-3--2", NULL, 0}, deep, 10, 8, "0000011010");
    /* A regex: exactly what it matches. */
    expect(&(ft_freeze_spec){NULL, "_proj\\.weight$", 0}, llama, 8, 3, "01011000");
    expect(&(ft_freeze_spec){NULL, "norm", 1}, llama, 8, 3, "10100111");
    /* GPT-2: top block, final LayerNorm weight and bias. */
    expect(&(ft_freeze_spec){"1", NULL, 0}, gpt2, 6, 2, "000111");
    expect(&(ft_freeze_spec){"1", NULL, 1}, gpt2, 6, 2, "110111");

    /* Errors. */
    unsigned char got[8];
    ft_err err;
    CHECK(ft_freeze_select(&(ft_freeze_spec){NULL, "^nothing", 0}, llama, 8, 3, got,
                           &err) == -1);
    CHECK_STR(err.msg, "--trainable '^nothing' matches no tensor of the model");
    CHECK_INT(err.kind, FT_ERR_RUNTIME);
    CHECK(ft_freeze_select(&(ft_freeze_spec){NULL, "(", 0}, llama, 8, 3, got, &err) == -1);
    CHECK_INT(err.kind, FT_ERR_USAGE);
    CHECK(ft_freeze_select(&(ft_freeze_spec){"4", NULL, 0}, llama, 8, 3, got, &err) == -1);
    CHECK_INT(err.kind, FT_ERR_USAGE);
    CHECK_STR(err.msg, "--trainable-layers 4: the model has 3 layers");
    CHECK(ft_freeze_select(&(ft_freeze_spec){"0,7", NULL, 0}, llama, 8, 3, got, &err) ==
          -1);
    CHECK_INT(err.kind, FT_ERR_USAGE);
    return check_done();
}
