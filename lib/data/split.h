/* split: the choices ft-split makes, each a pure function of a record's
 * id, the seed and the options, so that they are the same on every run and
 * machine and do not depend on the other records or their order.
 *
 * The id's bytes: a string id's UTF-8 bytes; an integer id's decimal text
 * (so 12 and "12" fall on the same side). Each choice hashes them with
 * XXH64 under its own seed, so that the choices are independent:
 *   test side     h = XXH64(id, seed);              test when h / 2^64 < fraction
 *   part (0-based) h = XXH64(id, seed ^ 0x70617274); part = floor(h / 2^64 * parts)
 *   sample order  h = XXH64(id, seed ^ 0x73616d70); smallest h kept
 * (0x70617274 is "part", 0x73616d70 "samp" in ASCII; h / 2^64 is computed as
 * (h >> 11) * 2^-53.)
 *
 * Sampling keeps the N records of smallest sample hash (a bottom-k sketch):
 * a uniform sample without replacement whose members stay members of any
 * sample of a smaller stream that contains them. Shuffling is the one
 * order-dependent operation: a buffer of N records from which a seeded
 * generator picks the next one out. */
#ifndef FT_DATA_SPLIT_H
#define FT_DATA_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/records.h"

#define FT_SPLIT_SALT_PART 0x70617274u
#define FT_SPLIT_SALT_SAMPLE 0x73616d70u

/* The bytes that stand for rec's id: *key points into rec or into tmp
 * (at least 24 bytes). Error when there is no id or it is neither a
 * string nor an integer. */
int ft_split_id(const ft_record *rec, char *tmp, const char **key, size_t *n,
                ft_err *err);
/* XXH64 of the id's bytes under seed; the choices below take it. */
uint64_t ft_split_hash(const char *key, size_t n, uint64_t seed);
/* h / 2^64 in [0, 1) with 53 bits. */
double ft_split_unit(uint64_t h);

/* --- Samples ---------------------------------------------------------------- */

/* Keeps, per group (a label, or one group for all), the k records with the
 * smallest hashes; records are copied. */
typedef struct ft_sampler ft_sampler;

ft_sampler *ft_sampler_new(size_t k, ft_err *err);
/* Offer a record with its sample hash, in group (bytes, may be empty). */
int ft_sampler_offer(ft_sampler *s, const char *group, size_t group_len, uint64_t h,
                     const ft_record *rec, ft_err *err);
/* Write every kept record, in the order they came, to w. */
int ft_sampler_write(ft_sampler *s, ft_writer *w, ft_err *err);
/* The stream positions (0-based, in offer order) of every kept record,
 * ascending, in a new array of *n entries (NULL when none). */
int ft_sampler_positions(const ft_sampler *s, uint64_t **pos, size_t *n, ft_err *err);
/* The number of groups seen, and how many records group g kept. */
size_t ft_sampler_groups(const ft_sampler *s);
size_t ft_sampler_kept(const ft_sampler *s, size_t g, const char **name, size_t *len);
void ft_sampler_free(ft_sampler *s);

/* --- Shuffle ---------------------------------------------------------------- */

typedef struct ft_shuffler ft_shuffler;

/* A buffer of n records, seeded. */
ft_shuffler *ft_shuffler_new(size_t n, uint64_t seed, ft_err *err);
/* Put a record in; once the buffer is full, a random one comes out to w. */
int ft_shuffler_push(ft_shuffler *s, const ft_record *rec, ft_writer *w, ft_err *err);
/* At the end: the rest of the buffer, in random order, to w. */
int ft_shuffler_drain(ft_shuffler *s, ft_writer *w, ft_err *err);
void ft_shuffler_free(ft_shuffler *s);

#endif
