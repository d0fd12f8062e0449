/* data: the training stream as the loop sees it -- tokenized once into a
 * spool, cut into rows, shuffled per epoch, gathered into micro-batches.
 *
 * Standard input cannot be read twice, so the stream is read once: every
 * record becomes an example (token ids, an optional per-token loss mask, a
 * weight) appended to a temporary file that is unlinked at once and mapped
 * for every later epoch. The raw bytes of the records are hashed on the way,
 * so a resumed run can refuse a different stream.
 *
 * All examples lie end to end in one token array. A row is a slice of it:
 * its first len - 1 tokens are the model's input and tokens 1 .. len - 1 the
 * targets (a token is a target unless the mask says otherwise). For --task
 * lm, records are packed: the array is cut into windows of seq_len + 1
 * tokens that overlap by one, so every token but the first is a target
 * exactly once; a window also ends where the example weight changes, so a
 * row has one weight. Other tasks (the tasks issue) make one row per example.
 *
 * Not here: tokenizers (a callback), the model, the loss. */
#ifndef FT_TRAIN_DATA_H
#define FT_TRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/records.h"

/* --- The spool ------------------------------------------------------------ */

typedef struct ft_spool ft_spool;

/* An empty spool backed by an unlinked temporary file in $TMPDIR (or /tmp). */
ft_spool *ft_spool_new(ft_err *err);
/* Append one example of n tokens. mask (n entries, may be NULL for "all")
 * has mask[i] = 1 when token i is a target, i.e. its prediction from the
 * tokens before it counts in the loss. weight >= 0 scales its loss. */
int ft_spool_add(ft_spool *s, const int32_t *ids, const uint8_t *mask, size_t n,
                 float weight, ft_err *err);
/* Finish writing and map the tokens for reading. */
int ft_spool_seal(ft_spool *s, ft_err *err);
void ft_spool_free(ft_spool *s);

/* After sealing: the token array, the mask array (NULL when no example
 * had a mask), and the examples. */
const int32_t *ft_spool_ids(const ft_spool *s);
const uint8_t *ft_spool_mask(const ft_spool *s);
uint64_t ft_spool_n_tokens(const ft_spool *s);
size_t ft_spool_n_examples(const ft_spool *s);
/* Example i: its first token's index in the array, its length, weight. */
void ft_spool_example(const ft_spool *s, size_t i, uint64_t *start, uint32_t *n,
                      float *weight);

/* Make examples from one record: called once per record of the stream. */
typedef int (*ft_record_fn)(void *ctx, const ft_record *rec, ft_spool *s, ft_err *err);

/* Read the whole stream on fd through fn into s (not sealed yet), hashing
 * the records' raw bytes into *stream_hash (XXH64 of every record's bytes in
 * order, seed 0). An empty stream is an error. Errors carry "NAME: record N:". */
int ft_spool_read(ft_spool *s, int fd, const char *name, ft_record_fn fn, void *ctx,
                  uint64_t *stream_hash, ft_err *err);

/* --- --task lm ------------------------------------------------------------- */

/* Text to token ids: append the ids of text to *ids (a malloc'd array of
 * *cap entries holding *n), growing it as needed. */
typedef int (*ft_encode_fn)(void *ctx, const char *text, size_t len, int32_t **ids,
                            size_t *n, size_t *cap, ft_err *err);

typedef struct ft_lm_source {
    ft_encode_fn encode;   /* NULL: records must carry "tokens" */
    void *encode_ctx;
    int32_t eos;           /* appended after each text unless it ends so; -1 none */
    int32_t vocab;         /* ids must lie in [0, vocab) */
    int32_t *buf;          /* scratch, owned: free with ft_lm_source_free */
    size_t cap;
} ft_lm_source;

/* An ft_record_fn (ctx is an ft_lm_source *): "tokens" when present, used
 * exactly as given (whoever tokenized chose the separators), else "text"
 * through encode followed by EOS; "weight" when present (a finite number
 * >= 0). A record without either field is an error; an empty one adds
 * nothing. */
int ft_lm_record(void *ctx, const ft_record *rec, ft_spool *s, ft_err *err);
void ft_lm_source_free(ft_lm_source *src);

/* --- Rows ------------------------------------------------------------------ */

typedef struct ft_row {
    uint64_t start;        /* first token in the spool's array */
    uint32_t len;          /* tokens, 2 .. seq_len + 1 */
    uint32_t n_targets;    /* target positions among tokens 1 .. len - 1 */
    float weight;
} ft_row;

/* Cut the examples into windows of seq_len + 1 tokens overlapping by one
 * (see above); *rows is malloc'd. across 1 packs consecutive examples of
 * one weight together (--task lm); across 0 cuts each example on its own
 * (--no-pack). A trailing window shorter than two tokens is dropped. */
int ft_rows_pack(const ft_spool *s, int seq_len, int across, ft_row **rows,
                 size_t *n_rows, ft_err *err);
/* One row per example (examples longer than seq_len + 1 are an error, the
 * tasks' truncation having run before). */
int ft_rows_examples(const ft_spool *s, int seq_len, ft_row **rows, size_t *n_rows,
                     ft_err *err);

/* The order of the rows in epoch number epoch (0-based): a Fisher-Yates
 * shuffle driven by ft_rng seeded with (seed, FT_DATA_SHUFFLE_STREAM +
 * epoch), so it depends on nothing but seed and epoch; shuffle 0 gives the
 * stream order. */
#define FT_DATA_SHUFFLE_STREAM 0x5348554646000000ULL
void ft_rows_order(size_t n_rows, uint64_t seed, int64_t epoch, int shuffle,
                   uint32_t *order);

/* --group-by-length: cut order into runs of group rows (the last run may be
 * shorter) and sort each run by row length, longest first, ties in order,
 * so consecutive micro-batches hold rows of like length while the epoch's
 * shuffle still decides which rows meet (as Hugging Face's length-grouped
 * sampler does with its mega-batches). group < 2: order is unchanged. */
void ft_rows_group(const ft_row *rows, size_t n_rows, size_t group, uint32_t *order);

/* The share of padding in the micro-batches of B rows of epoch 0, each
 * padded to its longest row (group as ft_rows_group, 0: none). */
double ft_rows_padding(const ft_row *rows, size_t n_rows, uint64_t seed, int shuffle,
                       size_t group, int B);

/* Fill one micro-batch of n rows (n <= B) into tokens [B, T] and targets
 * [B, T] (-1 = no loss) and weights [B]; rows beyond n, and the tail of
 * short rows, are padding (token 0, target -1, weight 0). T must be at
 * least the longest row's len - 1. Returns the sum of weight * targets. */
double ft_batch_fill(const ft_spool *s, const ft_row *rows, const uint32_t *pick,
                     int n, int B, int T, int32_t *tokens, int32_t *targets,
                     float *weights);

#endif
