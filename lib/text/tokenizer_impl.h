/* tokenizer_impl: the inside of ft_tokenizer, shared by tokenizer.c (build,
 * encode, decode) and tokenizer_json.c (files in, tokenizer.json out).
 * Nothing outside lib/text includes this. */
#ifndef FT_TEXT_TOKENIZER_IMPL_H
#define FT_TEXT_TOKENIZER_IMPL_H

#include <jansson.h>

#include "text/bpe.h"
#include "text/normalizer.h"
#include "text/pretok.h"
#include "text/tokenizer.h"

/* An added token: matched in the text before anything else. */
typedef struct ft_added {
    int32_t id;
    char *content;
    size_t len;
    int special, lstrip, rstrip, single_word, normalized;
} ft_added;

/* Added tokens by first byte, longest first within a byte. */
typedef struct ft_matcher {
    uint32_t *order;         /* indices into added[] */
    size_t n;
    uint32_t first[257];     /* order[first[b] .. first[b+1]) start with byte b */
} ft_matcher;

struct ft_tokenizer {
    int kind;
    int32_t n_vocab;
    char **str;              /* [n_vocab] the vocabulary's spelling, NULL: no token */
    unsigned char *type;     /* [n_vocab] enum ft_tok_type */
    unsigned char *in_model; /* [n_vocab] the BPE model's vocabulary has it */
    float *score;            /* [n_vocab] or NULL */
    char *dec;               /* decoded bytes of every token, back to back */
    size_t *dec_off;         /* [n_vocab + 1] */
    size_t max_dec;

    /* The model. */
    ft_bpe *bpe;
    int32_t *merges;         /* [2 * n_merges] left, right in rank order */
    size_t n_merges, cap_merges;
    int byte_fallback, fuse_unk, ignore_merges, merges_by_score;
    int32_t unk_id;
    int cp_byte[324];        /* byte-level stand-in code point -> byte, or -1 */
    int byte_cp[256];

    /* Around the model. */
    ft_added *added;
    size_t n_added, cap_added;
    ft_matcher m_raw, m_norm;
    ft_normalizer *norm;
    ft_pretok *pre;
    char **patterns;         /* byte-level regexes, for writers */
    size_t n_patterns;
    int strip_space;         /* decoding drops the first token's leading space */
    int space_prefix;        /* SPM: encoding puts U+2581 before the text */

    /* Special ids. */
    int32_t prefix[8], suffix[8];
    size_t n_prefix, n_suffix;
    int32_t bos_id, eos_id, pad_id;
    int32_t *eos_ids;
    size_t n_eos;

    /* The tokenizer.json sections ft does not rebuild, kept for writing. */
    json_t *j_normalizer, *j_pre, *j_post, *j_decoder;

    /* Scratch for encoding. */
    char *fixed;
    size_t fixed_cap;
};

/* Building, in this order: alloc, set tokens, index, add merges, add added
 * tokens, finish. */
ft_tokenizer *ft_tokenizer_alloc(int kind, int32_t n_vocab, ft_err *err);
int ft_tokenizer_set_token(ft_tokenizer *t, int32_t id, const char *s, int type, ft_err *err);
/* Decoded bytes and model keys of every token. */
int ft_tokenizer_index(ft_tokenizer *t, ft_err *err);
/* The id of a model token spelled as in the vocabulary, or -1. */
int32_t ft_tokenizer_model_id(const ft_tokenizer *t, const char *s, size_t n);
/* A merge by spelling; rank is its position. The error names the merge. */
int ft_tokenizer_add_merge(ft_tokenizer *t, const char *left, size_t n_left, const char *right,
                           size_t n_right, uint32_t rank, ft_err *err);
/* SentencePiece without merges: every pair of normal tokens that makes a
 * normal token, ranked by that token's score. */
int ft_tokenizer_merges_from_scores(ft_tokenizer *t, ft_err *err);
int ft_tokenizer_add_added(ft_tokenizer *t, const ft_added *a, ft_err *err);
/* Units, matchers and defaults; after it the tokenizer encodes. */
int ft_tokenizer_finish(ft_tokenizer *t, ft_err *err);
/* The tokenizer.json sections of a tokenizer made from arrays (in
 * tokenizer_json.c). */
int ft_tokenizer_synth_sections(ft_tokenizer *t, int nfc, ft_err *err);

#endif
