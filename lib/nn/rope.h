/* rope: rotary position embedding in the Hugging Face half-rotation layout:
 * within a head of size hd (half = hd/2), feature i pairs with i + half and
 * the pair turns by the angle pos · inv_freq[i]:
 *   out[i]        = x[i]·cos − x[i+half]·sin
 *   out[i + half] = x[i+half]·cos + x[i]·sin
 * inv_freq[i] = theta^(−2i/hd), optionally rescaled the Llama 3 way.
 * (llama2.c and llama.cpp rotate adjacent pairs; their q/k rows are permuted
 * at load and save, so this layout is the only one inside ft.)
 *
 * Legend: B rows, T tokens, nh heads, hd head size, ld row stride.
 *   x [B, T, ld]  the nh heads sit at x[0 .. nh·hd) of each row; rotated in
 *                 place; token t has position pos0 + t.
 * Backward turns the gradient back by the same angle (the transpose of a
 * rotation), also in place. The tables are computed in double. */
#ifndef FT_NN_ROPE_H
#define FT_NN_ROPE_H

#include "core/err.h"

enum { FT_ROPE_SCALING_NONE = 0, FT_ROPE_SCALING_LLAMA3 = 1 };

typedef struct ft_rope_scaling {
    int kind;                    /* FT_ROPE_SCALING_* */
    double factor;               /* llama3: 8 for Llama 3.1 */
    double low_freq_factor;      /* llama3: 1 */
    double high_freq_factor;     /* llama3: 4 */
    double original_max_pos;     /* llama3: 8192 */
} ft_rope_scaling;

typedef struct ft_rope {
    int hd;         /* head size (even) */
    int n_pos;      /* positions the tables cover */
    float *cos;     /* [n_pos, hd/2] */
    float *sin;     /* [n_pos, hd/2] */
} ft_rope;

/* Tables for positions [0, n_pos); scaling may be NULL. 0 or -1. */
int ft_rope_init(ft_rope *r, int hd, int n_pos, double theta, const ft_rope_scaling *scaling,
                 ft_err *err);
void ft_rope_free(ft_rope *r);

/* The frequencies alone (hd/2 of them), for tests and tools. */
void ft_rope_inv_freq(double *inv_freq, int hd, double theta, const ft_rope_scaling *scaling);

void ft_rope_forward(float *x, int ld, const ft_rope *r, int pos0, int B, int T, int nh);
void ft_rope_backward(float *dx, int ld, const ft_rope *r, int pos0, int B, int T, int nh);

#endif
