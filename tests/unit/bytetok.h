/* bytetok: a byte-level tokenizer for tests, built in memory: the 256 bytes
 * (GPT-2's printable stand-ins) as ids 0-255, then the given special tokens
 * from 256 on (256 BOS, 257 EOS), no merges. Static functions: include it in
 * one test file. */
#ifndef FT_TESTS_BYTETOK_H
#define FT_TESTS_BYTETOK_H

#include <stdio.h>

#include "text/tokenizer.h"

/* GPT-2's printable stand-in of byte b, as UTF-8. */
static void bytetok_char(int b, char *out)
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = b;
    if (!printable) {
        int k = 0;
        for (int x = 0; x < b; x++) {
            int p = (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
            k += !p;
        }
        cp = 256 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* n_special (at most 16) specials after the bytes; add_bos as the
 * tokenizer's add_bos_token. NULL (and a line on stderr) on failure. */
static ft_tokenizer *bytetok_new(const char *const *specials, int n_special, int add_bos)
{
    static char chars[256][4];
    const char *tokens[256 + 16];
    int32_t types[256 + 16];
    ft_tok_spec spec;
    ft_err err;

    if (n_special > 16)
        return NULL;
    for (int b = 0; b < 256; b++) {
        bytetok_char(b, chars[b]);
        tokens[b] = chars[b];
        types[b] = FT_TOKT_NORMAL;
    }
    for (int k = 0; k < n_special; k++) {
        tokens[256 + k] = specials[k];
        types[256 + k] = FT_TOKT_CONTROL;
    }
    ft_tokenizer_spec_init(&spec);
    spec.kind = FT_TOK_BYTE_BPE;
    spec.n_tokens = 256 + n_special;
    spec.tokens = tokens;
    spec.types = types;
    spec.bos_id = 256;
    spec.eos_id = 257;
    spec.add_bos = add_bos;
    ft_tokenizer *t = ft_tokenizer_build(&spec, &err);
    if (!t)
        fprintf(stderr, "tokenizer: %s\n", err.msg);
    return t;
}

#endif
