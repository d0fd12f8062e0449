/* rng: the one random number generator of ft (xoshiro256**, seeded by
 * splitmix64), so that --seed repeats every random choice on every machine.
 * Not for cryptography. The state is a plain struct: copy it to fork a
 * stream, store its four words in a checkpoint to resume exactly. */
#ifndef FT_CORE_RNG_H
#define FT_CORE_RNG_H

#include <stdint.h>

typedef struct ft_rng {
    uint64_t s[4];
} ft_rng;

/* Seed from a 64-bit value; stream picks an independent sequence for the
 * same seed (e.g. one per record or per thread). */
void ft_rng_seed(ft_rng *r, uint64_t seed, uint64_t stream);
uint64_t ft_rng_u64(ft_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double ft_rng_uniform(ft_rng *r);
/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t ft_rng_below(ft_rng *r, uint64_t n);
/* Standard normal (Box-Muller; one draw per call, deterministic). */
double ft_rng_normal(ft_rng *r);

#endif
