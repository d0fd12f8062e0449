/* hash: stable 64-bit hashes (XXH64 from libxxhash) for splitting by id,
 * fingerprinting training streams and checkpoints. The values are the same
 * on every machine and every release of ft: split sides depend on them. */
#ifndef FT_CORE_HASH_H
#define FT_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t ft_hash64(const void *data, size_t n_bytes, uint64_t seed);

/* Incremental form for long inputs. */
typedef struct ft_hasher ft_hasher;
ft_hasher *ft_hasher_new(uint64_t seed);
void ft_hasher_update(ft_hasher *h, const void *data, size_t n_bytes);
uint64_t ft_hasher_digest(const ft_hasher *h);
void ft_hasher_free(ft_hasher *h);

#endif
