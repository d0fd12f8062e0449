/* attention: causal multi-head self-attention with grouped-query heads and an
 * optional prefix of P key/value entries before the real tokens.
 *
 * The prefix is P-tuning v2's (PEFT's past_key_values) and also the KV cache
 * of generation: its keys are used as given (never rotated here), every real
 * token attends to all P of them, and causally to the real tokens up to
 * itself. Real token t sits at position P + t (the caller rotates q and k, or
 * adds learned positions, accordingly).
 *
 * Legend: B batch rows, T real tokens, P prefix entries, nh query heads, nkv
 * key/value heads (nh a multiple of nkv; query head h reads kv head
 * h / (nh/nkv)), hd head size, S = P + T keys per query.
 *   qkv   [B, T, ld]        q heads in columns [0, nh·hd), k heads in
 *                           [nh·hd, (nh+nkv)·hd), v heads after them
 *   pk,pv [nkv, cap, hd]    prefix keys and values (first P of cap entries;
 *                           shared by all B rows); NULL when P = 0
 *   probs [B, nh, T, S]     softmax probabilities kept for backward
 *                           (NULL: inference, nothing kept)
 *   out   [B, T, nh·hd]     the heads' outputs side by side (o_proj's input)
 * Backward adds into dqkv [B, T, ld] and, when given, dpk/dpv [nkv, cap, hd].
 *
 * Per-row prefixes (a batch of KV caches; forward only): when stride > 0,
 * row b reads its own prefix at pk/pv + row[b]·stride (row NULL: b·stride),
 * of which the first row_P[row[b]] <= P entries (row_P NULL: P), and its
 * real token t sits at position row_P[row[b]] + t. A row's output is the
 * same bits as with its prefix alone as the one shared prefix (generation
 * relies on it: a response must not depend on its batch).
 *
 * Threading: one parallel loop over (row, head) pairs, each running its small
 * products single-threaded (PERF.md); scratch is per thread, sized by
 * ft_attention_scratch_floats, for n_slots threads at most. Results do not
 * depend on the thread count except through the prefix-gradient sum. */
#ifndef FT_NN_ATTENTION_H
#define FT_NN_ATTENTION_H

#include <stddef.h>

typedef struct ft_attn_dims {
    int B, T, P;
    int nh, nkv, hd;
    int ld;   /* row stride of qkv and dqkv, at least (nh + 2·nkv)·hd */
    int cap;  /* prefix entries allocated per kv head (>= P) */
    size_t stride;     /* floats from one row's prefix to the next; 0: one
                          prefix shared by all rows */
    const int *row;    /* [B] the prefix each row reads; NULL: row b's own */
    const int *row_P;  /* entries used of each prefix; NULL: P of every one */
} ft_attn_dims;

/* Floats of scratch each thread needs (forward without probs, or backward). */
size_t ft_attention_scratch_floats(const ft_attn_dims *d, int backward);

void ft_attention_forward(float *out, float *probs, const float *qkv, const float *pk,
                          const float *pv, const ft_attn_dims *d, float *scratch,
                          int n_slots);

void ft_attention_backward(float *dqkv, float *dpk, float *dpv, const float *dout,
                           const float *qkv, const float *pk, const float *pv,
                           const float *probs, const ft_attn_dims *d, float *scratch,
                           int n_slots);

#endif
