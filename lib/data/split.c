/* split: seeded, stable choices per record (see split.h). */
#include "data/split.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/rng.h"

int ft_split_id(const ft_record *rec, char *tmp, const char **key, size_t *n,
                ft_err *err)
{
    const ft_field *f = ft_record_get(rec, "id");
    int64_t v;

    if (!f)
        return ft_err_set(err, "no \"id\" (ft-import gives every record one)");
    if (ft_field_str(f, key, n, NULL) == 0)
        return 0;
    if (ft_field_int(f, &v, NULL) == 0) {
        *n = (size_t)snprintf(tmp, 24, "%lld", (long long)v);
        *key = tmp;
        return 0;
    }
    return ft_err_set(err, "\"id\" is neither a string nor an integer");
}

uint64_t ft_split_hash(const char *key, size_t n, uint64_t seed)
{
    return ft_hash64(key, n, seed);
}

double ft_split_unit(uint64_t h)
{
    return (double)(h >> 11) * (1.0 / 9007199254740992.0);
}

/* --- Samples ---------------------------------------------------------------- */

typedef struct kept {
    uint64_t h, seq;
    uint8_t *data;
    size_t len;
} kept;

typedef struct group {
    char *name;
    size_t name_len;
    kept *heap;     /* max-heap on h: the root is the first to go */
    size_t n;
} group;

struct ft_sampler {
    size_t k;
    group *groups;
    size_t n_groups, cap;
    uint64_t seq;
};

ft_sampler *ft_sampler_new(size_t k, ft_err *err)
{
    ft_sampler *s = ft_calloc(1, sizeof *s, err);
    if (s)
        s->k = k;
    return s;
}

static int later(const kept *a, const kept *b)
{
    return a->h > b->h || (a->h == b->h && a->seq > b->seq);
}

static void sift_down(kept *heap, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && later(&heap[l], &heap[m]))
            m = l;
        if (r < n && later(&heap[r], &heap[m]))
            m = r;
        if (m == i)
            return;
        kept t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static void sift_up(kept *heap, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!later(&heap[i], &heap[p]))
            return;
        kept t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
    }
}

/* The group named name, created on first sight. Labels are few, so the
 * search is linear. */
static group *find_group(ft_sampler *s, const char *name, size_t len, ft_err *err)
{
    for (size_t i = 0; i < s->n_groups; i++)
        if (s->groups[i].name_len == len && !memcmp(s->groups[i].name, name, len))
            return &s->groups[i];
    if (ft_grow(&s->groups, &s->cap, s->n_groups + 1, sizeof *s->groups, err) < 0)
        return NULL;
    group *g = &s->groups[s->n_groups];
    memset(g, 0, sizeof *g);
    g->heap = ft_calloc(s->k ? s->k : 1, sizeof *g->heap, err);
    g->name = ft_malloc(len + 1, err);
    if (!g->heap || !g->name) {
        free(g->heap);
        free(g->name);
        return NULL;
    }
    memcpy(g->name, name, len);
    g->name[len] = '\0';
    g->name_len = len;
    s->n_groups++;
    return g;
}

int ft_sampler_offer(ft_sampler *s, const char *name, size_t name_len, uint64_t h,
                     const ft_record *rec, ft_err *err)
{
    group *g = find_group(s, name, name_len, err);
    kept e = {h, s->seq++, NULL, rec->n_bytes};

    if (!g)
        return -1;
    if (s->k == 0)
        return 0;
    if (g->n == s->k && !later(&g->heap[0], &e))
        return 0;
    e.data = ft_malloc(rec->n_bytes, err);
    if (!e.data)
        return -1;
    memcpy(e.data, rec->data, rec->n_bytes);
    if (g->n < s->k) {
        g->heap[g->n] = e;
        sift_up(g->heap, g->n++);
    } else {
        free(g->heap[0].data);
        g->heap[0] = e;
        sift_down(g->heap, g->n, 0);
    }
    return 0;
}

static int by_seq(const void *a, const void *b)
{
    const kept *x = *(const kept *const *)a, *y = *(const kept *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int ft_sampler_write(ft_sampler *s, ft_writer *w, ft_err *err)
{
    size_t total = 0, i, j, k = 0;
    kept **all;
    int rc = 0;

    for (i = 0; i < s->n_groups; i++)
        total += s->groups[i].n;
    all = ft_calloc(total ? total : 1, sizeof *all, err);
    if (!all)
        return -1;
    for (i = 0; i < s->n_groups; i++)
        for (j = 0; j < s->groups[i].n; j++)
            all[k++] = &s->groups[i].heap[j];
    qsort(all, total, sizeof *all, by_seq);
    for (i = 0; i < total && rc == 0; i++) {
        ft_record rec = {.data = all[i]->data, .n_bytes = all[i]->len};
        rc = ft_writer_put_raw(w, &rec, err);
    }
    free(all);
    return rc;
}

static int by_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int ft_sampler_positions(const ft_sampler *s, uint64_t **pos, size_t *n, ft_err *err)
{
    size_t total = 0, k = 0;

    for (size_t i = 0; i < s->n_groups; i++)
        total += s->groups[i].n;
    *pos = NULL;
    *n = 0;
    if (!total)
        return 0;
    if (!(*pos = ft_calloc(total, sizeof **pos, err)))
        return -1;
    for (size_t i = 0; i < s->n_groups; i++)
        for (size_t j = 0; j < s->groups[i].n; j++)
            (*pos)[k++] = s->groups[i].heap[j].seq;
    qsort(*pos, total, sizeof **pos, by_u64);
    *n = total;
    return 0;
}

size_t ft_sampler_groups(const ft_sampler *s)
{
    return s->n_groups;
}

size_t ft_sampler_kept(const ft_sampler *s, size_t g, const char **name, size_t *len)
{
    *name = s->groups[g].name;
    *len = s->groups[g].name_len;
    return s->groups[g].n;
}

void ft_sampler_free(ft_sampler *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_groups; i++) {
        for (size_t j = 0; j < s->groups[i].n; j++)
            free(s->groups[i].heap[j].data);
        free(s->groups[i].heap);
        free(s->groups[i].name);
    }
    free(s->groups);
    free(s);
}

/* --- Shuffle ---------------------------------------------------------------- */

struct ft_shuffler {
    ft_rng rng;
    kept *slots;
    size_t n, cap;
};

ft_shuffler *ft_shuffler_new(size_t n, uint64_t seed, ft_err *err)
{
    ft_shuffler *s = ft_calloc(1, sizeof *s, err);
    if (!s)
        return NULL;
    s->slots = ft_calloc(n, sizeof *s->slots, err);
    if (!s->slots) {
        free(s);
        return NULL;
    }
    s->cap = n;
    ft_rng_seed(&s->rng, seed, 0);
    return s;
}

int ft_shuffler_push(ft_shuffler *s, const ft_record *rec, ft_writer *w, ft_err *err)
{
    uint8_t *copy = ft_malloc(rec->n_bytes, err);
    if (!copy)
        return -1;
    memcpy(copy, rec->data, rec->n_bytes);
    if (s->n < s->cap) {
        s->slots[s->n].data = copy;
        s->slots[s->n++].len = rec->n_bytes;
        return 0;
    }
    /* Full: a random slot goes out and the new record takes its place. */
    size_t j = (size_t)ft_rng_below(&s->rng, s->cap);
    ft_record out = {.data = s->slots[j].data, .n_bytes = s->slots[j].len};
    int rc = ft_writer_put_raw(w, &out, err);
    free(s->slots[j].data);
    s->slots[j].data = copy;
    s->slots[j].len = rec->n_bytes;
    return rc;
}

int ft_shuffler_drain(ft_shuffler *s, ft_writer *w, ft_err *err)
{
    /* Fisher-Yates over what is left, writing as it goes. */
    while (s->n > 0) {
        size_t j = (size_t)ft_rng_below(&s->rng, s->n);
        ft_record out = {.data = s->slots[j].data, .n_bytes = s->slots[j].len};
        if (ft_writer_put_raw(w, &out, err) < 0)
            return -1;
        free(s->slots[j].data);
        s->slots[j] = s->slots[--s->n];
    }
    return 0;
}

void ft_shuffler_free(ft_shuffler *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->slots[i].data);
    free(s->slots);
    free(s);
}
