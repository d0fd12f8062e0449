/* vocab: learning a byte-level BPE vocabulary from text, for a model
 * pre-trained from scratch (ft-vocab).
 *
 * Text is cut into words the way the learned tokenizer will cut it (special
 * tokens' text set apart, NFC when asked, then the pre-tokenizer pattern,
 * GPT-2's by default), and the distinct words are counted. Training then
 * follows the rule of Hugging Face's BpeTrainer: the vocabulary starts with
 * the special tokens (ids 0, 1, ...) and the 256 byte tokens (GPT-2's
 * stand-in characters, in code point order); each step merges the adjacent
 * pair that occurs most often, counting every adjacent position in every
 * word times the word's count, the pair of smallest (left id, right id) on a
 * tie; a word merges left to right without overlap. A merged string already
 * in the vocabulary keeps its id (the merge is still recorded). Training stops
 * at the vocabulary size, or when the best pair occurs fewer than
 * min_frequency times. The result depends only on the multiset of words, so
 * the same text in any order gives the same tokenizer.
 *
 * Not here: reading records (tools/ft-vocab.c), writing tokenizer.json
 * (tokenizer_json.c). */
#ifndef FT_TEXT_VOCAB_H
#define FT_TEXT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "text/tokenizer.h"

typedef struct ft_vocab_opts {
    size_t size;                   /* tokens in all: special + 256 bytes + merged */
    uint64_t min_frequency;        /* a pair seen fewer times is not merged */
    size_t n_special;
    const char *const *special;    /* added tokens, ids 0.. in this order */
    const char *pattern;           /* pre-tokenizer regex; NULL: GPT-2's */
    int nfc;                       /* NFC-normalize (a Qwen2-style tokenizer) */
    int add_bos;                   /* the tokenizer puts BOS before each text */
} ft_vocab_opts;

typedef struct ft_vocab ft_vocab;

/* Checks the options: size within reach, special tokens distinct, not empty
 * and not one of the byte tokens, the pattern compiles. Strings are
 * copied. */
ft_vocab *ft_vocab_new(const ft_vocab_opts *opts, ft_err *err);
void ft_vocab_free(ft_vocab *v);

/* Count the words of a text (UTF-8; invalid bytes are an error "invalid
 * UTF-8 at byte N"). */
int ft_vocab_add_text(ft_vocab *v, const char *text, size_t n_bytes, ft_err *err);

/* Distinct words and all words counted so far. */
size_t ft_vocab_n_words(const ft_vocab *v);
uint64_t ft_vocab_n_pieces(const ft_vocab *v);

/* Learn the merges and build the tokenizer (the caller frees it). The
 * counts stay, so training twice gives the same result. BOS and EOS are the
 * first special tokens named <s>, <|begin_of_text|> or <|endoftext|> and
 * </s>, <|end_of_text|> or <|endoftext|>. */
ft_tokenizer *ft_vocab_train(ft_vocab *v, ft_err *err);

#endif
