/* strtab: interned strings with dense ids (see strtab.h).
 *
 * Open addressing with linear probing over a power-of-two slot array; a slot
 * holds id + 1 (0 is empty) and the string's 32-bit hash tag, so most probes
 * never touch the arena. The table is kept at most half full. */
#include "text/strtab.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"
#include "core/hash.h"

typedef struct slot {
    uint32_t id1;   /* id + 1; 0 marks an empty slot */
    uint32_t tag;   /* low 32 bits of the hash */
} slot;

struct ft_strtab {
    char *arena;          /* strings, each followed by a NUL */
    size_t arena_len, arena_cap;
    uint64_t *offs;       /* per id: offset << 24 | length (length < 16 MiB) */
    size_t n, offs_cap;
    slot *slots;
    size_t n_slots;       /* power of two */
};

#define LEN_BITS 24
#define LEN_MAX ((1u << LEN_BITS) - 1)

static uint64_t str_hash(const char *s, size_t len)
{
    return ft_hash64(s, len, 0x5eed5eedULL);
}

ft_strtab *ft_strtab_new(ft_err *err)
{
    ft_strtab *t = ft_calloc(1, sizeof *t, err);
    if (!t)
        return NULL;
    t->n_slots = 1024;
    t->slots = ft_calloc(t->n_slots, sizeof *t->slots, err);
    if (!t->slots) {
        free(t);
        return NULL;
    }
    return t;
}

void ft_strtab_free(ft_strtab *t)
{
    if (!t)
        return;
    free(t->arena);
    free(t->offs);
    free(t->slots);
    free(t);
}

static const char *entry(const ft_strtab *t, uint32_t id, size_t *len)
{
    uint64_t o = t->offs[id];
    *len = (size_t)(o & LEN_MAX);
    return t->arena + (o >> LEN_BITS);
}

/* The slot where s lives, or the empty slot where it would go. */
static size_t probe(const ft_strtab *t, const char *s, size_t len, uint64_t h)
{
    size_t mask = t->n_slots - 1;
    size_t i = (size_t)(h >> 32) & mask;
    uint32_t tag = (uint32_t)h;

    for (;; i = (i + 1) & mask) {
        const slot *sl = &t->slots[i];
        size_t elen;
        if (!sl->id1)
            return i;
        if (sl->tag != tag)
            continue;
        const char *e = entry(t, sl->id1 - 1, &elen);
        if (elen == len && memcmp(e, s, len) == 0)
            return i;
    }
}

static int rehash(ft_strtab *t, ft_err *err)
{
    size_t n_slots = t->n_slots * 2;
    slot *ns = ft_calloc(n_slots, sizeof *ns, err);
    if (!ns)
        return -1;
    for (size_t i = 0; i < t->n_slots; i++) {
        slot sl = t->slots[i];
        size_t len;
        if (!sl.id1)
            continue;
        const char *s = entry(t, sl.id1 - 1, &len);
        size_t j = (size_t)(str_hash(s, len) >> 32) & (n_slots - 1);
        while (ns[j].id1)
            j = (j + 1) & (n_slots - 1);
        ns[j] = sl;
    }
    free(t->slots);
    t->slots = ns;
    t->n_slots = n_slots;
    return 0;
}

int64_t ft_strtab_find(const ft_strtab *t, const char *s, size_t len)
{
    if (len > LEN_MAX)
        return -1;
    size_t i = probe(t, s, len, str_hash(s, len));
    return t->slots[i].id1 ? (int64_t)t->slots[i].id1 - 1 : -1;
}

int64_t ft_strtab_intern(ft_strtab *t, const char *s, size_t len, ft_err *err)
{
    uint64_t h;
    size_t i;

    if (len > LEN_MAX)
        return ft_err_set(err, "string of %zu bytes is too long for a table", len);
    h = str_hash(s, len);
    i = probe(t, s, len, h);
    if (t->slots[i].id1)
        return t->slots[i].id1 - 1;
    if (t->n >= UINT32_MAX - 1)
        return ft_err_set(err, "string table is full");

    /* Append to the arena and the id list, then take the slot. */
    if (ft_grow(&t->arena, &t->arena_cap, t->arena_len + len + 1, 1, err) < 0 ||
        ft_grow(&t->offs, &t->offs_cap, t->n + 1, sizeof *t->offs, err) < 0)
        return -1;
    memcpy(t->arena + t->arena_len, s, len);
    t->arena[t->arena_len + len] = '\0';
    t->offs[t->n] = (uint64_t)t->arena_len << LEN_BITS | len;
    t->arena_len += len + 1;
    t->slots[i].id1 = (uint32_t)(t->n + 1);
    t->slots[i].tag = (uint32_t)h;
    t->n++;
    if (t->n * 2 > t->n_slots && rehash(t, err) < 0)
        return -1;
    return (int64_t)t->n - 1;
}

const char *ft_strtab_str(const ft_strtab *t, uint32_t id, size_t *len)
{
    size_t l;
    const char *s = entry(t, id, &l);
    if (len)
        *len = l;
    return s;
}

uint32_t ft_strtab_count(const ft_strtab *t)
{
    return (uint32_t)t->n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

int ft_strtab_load_lines(ft_strtab *t, const char *path,
                         size_t (*fold)(const char *s, size_t n, char *out), ft_err *err)
{
    char *data, *buf = NULL;
    size_t n, buf_cap = 0;
    int rc = 0;

    if (ft_read_file(path, (size_t)1 << 30, &data, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t end = i;
        while (end < n && data[end] != '\n')
            end++;
        size_t a = i, b = end;
        i = end + 1;

        /* Trim, skip blanks and comments, fold, add. */
        while (a < b && is_space(data[a]))
            a++;
        while (b > a && is_space(data[b - 1]))
            b--;
        if (a == b || data[a] == '#')
            continue;
        if (!fold) {
            rc = ft_strtab_intern(t, data + a, b - a, err) < 0 ? -1 : 0;
            continue;
        }
        if (ft_grow(&buf, &buf_cap, 3 * (b - a) + 4, 1, err) < 0) {
            rc = -1;
            break;
        }
        size_t len = fold(data + a, b - a, buf);
        rc = ft_strtab_intern(t, buf, len, err) < 0 ? -1 : 0;
    }
    if (rc < 0)
        ft_err_prefix(err, "%s", path);
    free(buf);
    free(data);
    return rc;
}
