/* bpe: the merge engine of byte-pair encoding, by ids.
 *
 * A vocabulary maps unit strings to ids and a merge table maps a pair of ids
 * to (rank, merged id). A word is encoded by starting from one symbol per
 * unit (a byte for byte-level models, a UTF-8 character otherwise) and
 * merging the adjacent pair of lowest rank, the leftmost one on ties, until
 * no pair has a rank. That is the rule of Hugging Face's BPE model and of
 * GPT-2's encoder, and, with every pair that makes the same token given the
 * rank of that token's score, of SentencePiece's BPE as llama.cpp runs it.
 * Encoded words are cached (the cache is why encoding is not const).
 *
 * Not here: normalizing, pre-tokenizing, added tokens, files (tokenizer.c). */
#ifndef FT_TEXT_BPE_H
#define FT_TEXT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* What one unit of a word is. */
enum { FT_BPE_BYTES = 1, FT_BPE_CHARS = 2 };

#define FT_BPE_NO_RANK UINT32_MAX

typedef struct ft_bpe ft_bpe;

ft_bpe *ft_bpe_new(int unit, ft_err *err);
void ft_bpe_free(ft_bpe *b);

/* Add a vocabulary entry: the bytes the token stands for (byte-level: the
 * raw bytes, not GPT-2's printable stand-ins). A key added twice keeps the
 * later id. */
int ft_bpe_add_token(ft_bpe *b, const void *key, size_t n_bytes, int32_t id, ft_err *err);
/* The id of a key, or -1. */
int32_t ft_bpe_lookup(const ft_bpe *b, const void *key, size_t n_bytes);

/* Add a merge: left + right -> merged at rank. A pair added twice keeps the
 * later rank (as every reference implementation does). */
int ft_bpe_add_merge(ft_bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank,
                     ft_err *err);
/* The rank of a pair (FT_BPE_NO_RANK when it does not merge); *merged is
 * set when it does. */
uint32_t ft_bpe_pair(const ft_bpe *b, int32_t left, int32_t right, int32_t *merged);

/* Units missing from the vocabulary: with byte_fallback, one symbol per byte
 * from byte_ids[256] (-1 where absent); else unk_id (consecutive unknowns
 * fused into one when fuse_unk); a unit with neither is dropped. For
 * FT_BPE_BYTES, byte_ids gives each byte's own symbol. byte_ids may be NULL. */
void ft_bpe_set_units(ft_bpe *b, const int32_t *byte_ids, int byte_fallback, int32_t unk_id,
                      int fuse_unk);
/* Look the whole word up in the vocabulary before merging (Llama 3). */
void ft_bpe_set_ignore_merges(ft_bpe *b, int on);

/* Encode one word (n_bytes > 0 of valid UTF-8 for FT_BPE_CHARS) and append
 * its ids to *ids (n_ids items, cap capacity, grown as needed). */
int ft_bpe_encode(ft_bpe *b, const char *word, size_t n_bytes, int32_t **ids, size_t *n_ids,
                  size_t *cap, ft_err *err);
/* Drop every cached word. */
void ft_bpe_clear_cache(ft_bpe *b);

#endif
