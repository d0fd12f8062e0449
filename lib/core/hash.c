/* hash: thin wrapper over XXH64 (see hash.h). */
#include "core/hash.h"

#include <xxhash.h>

uint64_t ft_hash64(const void *data, size_t n_bytes, uint64_t seed)
{
    return XXH64(data, n_bytes, seed);
}

ft_hasher *ft_hasher_new(uint64_t seed)
{
    XXH64_state_t *s = XXH64_createState();
    if (s)
        XXH64_reset(s, seed);
    return (ft_hasher *)s;
}

void ft_hasher_update(ft_hasher *h, const void *data, size_t n_bytes)
{
    XXH64_update((XXH64_state_t *)h, data, n_bytes);
}

uint64_t ft_hasher_digest(const ft_hasher *h)
{
    return XXH64_digest((const XXH64_state_t *)h);
}

void ft_hasher_free(ft_hasher *h)
{
    XXH64_freeState((XXH64_state_t *)h);
}
