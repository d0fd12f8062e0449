/* bpe: the merge engine (see bpe.h).
 *
 * Three open-addressing hash tables: the vocabulary (unit strings to ids),
 * the merges ((left, right) to rank and merged id) and the word cache (word
 * bytes to ids). Short words merge by scanning an array of pair ranks; long
 * ones through a heap over a linked list, with the same order: lowest rank,
 * then leftmost position. */
#include "text/bpe.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* Words up to this many symbols merge by scanning; longer ones by heap. */
#define SCAN_MAX 64
/* Words longer than this are not cached (long runs, whole SentencePiece
 * texts), and the cache is emptied when it holds this many words. */
#define CACHE_WORD_MAX 256
#define CACHE_WORDS_MAX (1u << 20)

/* --- A byte-string map --------------------------------------------------- */

typedef struct smap_slot {
    uint64_t hash;
    uint64_t head;       /* the key's first 8 bytes, zero-padded */
    uint32_t off, len;   /* key bytes in keys[]; used: len != UINT32_MAX */
    uint32_t val, aux;
} smap_slot;

/* The first 8 bytes of a key, zero-padded: keys of up to 8 bytes compare
 * without touching the key arena. */
static inline uint64_t key_head(const void *key, size_t len)
{
    uint64_t h = 0;
    if (len >= 8)
        memcpy(&h, key, 8);
    else
        for (size_t i = 0; i < len; i++)
            h |= (uint64_t)((const unsigned char *)key)[i] << (8 * i);
    return h;
}

typedef struct smap {
    smap_slot *slots;
    size_t mask, count;
    char *keys;
    size_t keys_len, keys_cap;
} smap;

static int smap_init(smap *m, size_t n_slots, ft_err *err)
{
    memset(m, 0, sizeof *m);
    m->slots = ft_malloc(n_slots * sizeof *m->slots, err);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < n_slots; i++)
        m->slots[i].len = UINT32_MAX;
    m->mask = n_slots - 1;
    return 0;
}

static void smap_free(smap *m)
{
    free(m->slots);
    free(m->keys);
    memset(m, 0, sizeof *m);
}

static void smap_clear(smap *m)
{
    for (size_t i = 0; i <= m->mask; i++)
        m->slots[i].len = UINT32_MAX;
    m->count = 0;
    m->keys_len = 0;
}

static smap_slot *smap_find(const smap *m, const void *key, size_t len, uint64_t h)
{
    size_t i = h & m->mask;
    uint64_t head = key_head(key, len);
    for (;;) {
        smap_slot *s = &m->slots[i];
        if (s->len == UINT32_MAX)
            return s;
        if (s->hash == h && s->len == len && s->head == head &&
            (len <= 8 || memcmp(m->keys + s->off + 8, (const char *)key + 8, len - 8) == 0))
            return s;
        i = (i + 1) & m->mask;
    }
}

static int smap_grow(smap *m, ft_err *err)
{
    smap old = *m;
    if (smap_init(m, (old.mask + 1) * 2, err) < 0) {
        *m = old;
        return -1;
    }
    m->keys = old.keys;
    m->keys_len = old.keys_len;
    m->keys_cap = old.keys_cap;
    m->count = old.count;
    for (size_t i = 0; i <= old.mask; i++) {
        if (old.slots[i].len == UINT32_MAX)
            continue;
        size_t j = old.slots[i].hash & m->mask;
        while (m->slots[j].len != UINT32_MAX)
            j = (j + 1) & m->mask;
        m->slots[j] = old.slots[i];
    }
    free(old.slots);
    return 0;
}

/* The slot for key, inserted (with val 0) when new. */
static smap_slot *smap_put(smap *m, const void *key, size_t len, ft_err *err)
{
    uint64_t h = XXH3_64bits(key, len);
    smap_slot *s = smap_find(m, key, len, h);
    if (s->len != UINT32_MAX)
        return s;
    if ((m->count + 1) * 2 > m->mask + 1) {
        if (smap_grow(m, err) < 0)
            return NULL;
        s = smap_find(m, key, len, h);
    }
    if (len >= UINT32_MAX || m->keys_len + len > UINT32_MAX) {
        ft_err_set(err, "vocabulary too large");
        return NULL;
    }
    if (ft_grow(&m->keys, &m->keys_cap, m->keys_len + len + 1, 1, err) < 0)
        return NULL;
    memcpy(m->keys + m->keys_len, key, len);
    s->hash = h;
    s->head = key_head(key, len);
    s->off = (uint32_t)m->keys_len;
    s->len = (uint32_t)len;
    s->val = s->aux = 0;
    m->keys_len += len;
    m->count++;
    return s;
}

/* --- The pair table ---------------------------------------------------- */

#define PAIR_EMPTY UINT64_MAX

typedef struct pair_slot {
    uint64_t key;        /* left << 32 | right */
    uint32_t rank;
    int32_t merged;
} pair_slot;

static inline uint64_t pair_key(int32_t left, int32_t right)
{
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

static inline size_t pair_hash(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 29) & mask;
}

/* --- The engine ---------------------------------------------------------- */

struct ft_bpe {
    int unit;
    smap vocab;
    pair_slot *pairs;
    size_t pairs_mask, n_pairs;
    int32_t byte_ids[256];
    int byte_fallback, fuse_unk, ignore_merges;
    int32_t unk_id;

    smap cache;          /* word -> (offset, count) in cache_ids */
    int32_t *cache_ids;
    size_t cache_n, cache_cap;

    /* Scratch for one word. */
    int32_t *sym, *merged, *next, *prev;
    uint32_t *rank;
    size_t scratch_cap;
    struct heap_ent *heap;
    size_t heap_cap;
};

typedef struct heap_ent {
    uint32_t rank, pos;
    int32_t left, right;
} heap_ent;

ft_bpe *ft_bpe_new(int unit, ft_err *err)
{
    ft_bpe *b = ft_calloc(1, sizeof *b, err);
    if (!b)
        return NULL;
    b->unit = unit;
    b->unk_id = -1;
    for (int i = 0; i < 256; i++)
        b->byte_ids[i] = -1;
    b->pairs_mask = 1023;
    b->pairs = ft_malloc((b->pairs_mask + 1) * sizeof *b->pairs, err);
    if (!b->pairs || smap_init(&b->vocab, 1024, err) < 0 ||
        smap_init(&b->cache, 4096, err) < 0) {
        ft_bpe_free(b);
        return NULL;
    }
    for (size_t i = 0; i <= b->pairs_mask; i++)
        b->pairs[i].key = PAIR_EMPTY;
    return b;
}

void ft_bpe_free(ft_bpe *b)
{
    if (!b)
        return;
    smap_free(&b->vocab);
    smap_free(&b->cache);
    free(b->pairs);
    free(b->cache_ids);
    free(b->sym);
    free(b->merged);
    free(b->next);
    free(b->prev);
    free(b->rank);
    free(b->heap);
    free(b);
}

int ft_bpe_add_token(ft_bpe *b, const void *key, size_t n_bytes, int32_t id, ft_err *err)
{
    smap_slot *s = smap_put(&b->vocab, key, n_bytes, err);
    if (!s)
        return -1;
    s->val = (uint32_t)id;
    return 0;
}

int32_t ft_bpe_lookup(const ft_bpe *b, const void *key, size_t n_bytes)
{
    smap_slot *s = smap_find(&b->vocab, key, n_bytes, XXH3_64bits(key, n_bytes));
    return s->len == UINT32_MAX ? -1 : (int32_t)s->val;
}

static int pairs_grow(ft_bpe *b, ft_err *err)
{
    size_t n = (b->pairs_mask + 1) * 2;
    pair_slot *p = ft_malloc(n * sizeof *p, err);
    if (!p)
        return -1;
    for (size_t i = 0; i < n; i++)
        p[i].key = PAIR_EMPTY;
    for (size_t i = 0; i <= b->pairs_mask; i++) {
        if (b->pairs[i].key == PAIR_EMPTY)
            continue;
        size_t j = pair_hash(b->pairs[i].key, n - 1);
        while (p[j].key != PAIR_EMPTY)
            j = (j + 1) & (n - 1);
        p[j] = b->pairs[i];
    }
    free(b->pairs);
    b->pairs = p;
    b->pairs_mask = n - 1;
    return 0;
}

int ft_bpe_add_merge(ft_bpe *b, int32_t left, int32_t right, int32_t merged, uint32_t rank,
                     ft_err *err)
{
    if ((b->n_pairs + 1) * 2 > b->pairs_mask + 1 && pairs_grow(b, err) < 0)
        return -1;
    uint64_t key = pair_key(left, right);
    size_t i = pair_hash(key, b->pairs_mask);
    while (b->pairs[i].key != PAIR_EMPTY && b->pairs[i].key != key)
        i = (i + 1) & b->pairs_mask;
    if (b->pairs[i].key == PAIR_EMPTY)
        b->n_pairs++;
    b->pairs[i] = (pair_slot){key, rank, merged};
    ft_bpe_clear_cache(b);
    return 0;
}

uint32_t ft_bpe_pair(const ft_bpe *b, int32_t left, int32_t right, int32_t *merged)
{
    uint64_t key = pair_key(left, right);
    size_t i = pair_hash(key, b->pairs_mask);
    for (;;) {
        const pair_slot *s = &b->pairs[i];
        if (s->key == key) {
            *merged = s->merged;
            return s->rank;
        }
        if (s->key == PAIR_EMPTY)
            return FT_BPE_NO_RANK;
        i = (i + 1) & b->pairs_mask;
    }
}

void ft_bpe_set_units(ft_bpe *b, const int32_t *byte_ids, int byte_fallback, int32_t unk_id,
                      int fuse_unk)
{
    for (int i = 0; i < 256; i++)
        b->byte_ids[i] = byte_ids ? byte_ids[i] : -1;
    b->byte_fallback = byte_fallback;
    b->unk_id = unk_id;
    b->fuse_unk = fuse_unk;
    ft_bpe_clear_cache(b);
}

void ft_bpe_set_ignore_merges(ft_bpe *b, int on)
{
    b->ignore_merges = on;
    ft_bpe_clear_cache(b);
}

void ft_bpe_clear_cache(ft_bpe *b)
{
    smap_clear(&b->cache);
    b->cache_n = 0;
}

/* --- Encoding one word -------------------------------------------------- */

static int scratch_reserve(ft_bpe *b, size_t n, ft_err *err)
{
    if (n <= b->scratch_cap)
        return 0;
    size_t cap = b->scratch_cap, c2;
    c2 = cap;
    if (ft_grow(&b->sym, &c2, n, sizeof *b->sym, err) < 0)
        return -1;
    c2 = cap;
    if (ft_grow(&b->merged, &c2, n, sizeof *b->merged, err) < 0)
        return -1;
    c2 = cap;
    if (ft_grow(&b->next, &c2, n, sizeof *b->next, err) < 0)
        return -1;
    c2 = cap;
    if (ft_grow(&b->prev, &c2, n, sizeof *b->prev, err) < 0)
        return -1;
    c2 = cap;
    if (ft_grow(&b->rank, &c2, n, sizeof *b->rank, err) < 0)
        return -1;
    b->scratch_cap = c2;
    return 0;
}

static inline size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* The initial symbols of a word into b->sym; returns their count. */
static size_t word_units(ft_bpe *b, const unsigned char *w, size_t len)
{
    size_t n = 0;
    int last_unk = 0;
    if (b->unit == FT_BPE_BYTES) {
        for (size_t i = 0; i < len; i++) {
            int32_t id = b->byte_ids[w[i]];
            if (id < 0)
                id = b->unk_id;
            if (id < 0 || (b->fuse_unk && last_unk && id == b->unk_id))
                continue;
            last_unk = id == b->unk_id;
            b->sym[n++] = id;
        }
        return n;
    }
    for (size_t i = 0; i < len;) {
        size_t cl = utf8_len(w[i]);
        if (cl > len - i)
            cl = len - i;
        int32_t id = ft_bpe_lookup(b, w + i, cl);
        if (id >= 0) {
            b->sym[n++] = id;
            last_unk = 0;
        } else {
            int all = b->byte_fallback;
            for (size_t k = 0; all && k < cl; k++)
                all = b->byte_ids[w[i + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < cl; k++)
                    b->sym[n++] = b->byte_ids[w[i + k]];
                last_unk = 0;
            } else if (b->unk_id >= 0 && !(b->fuse_unk && last_unk)) {
                b->sym[n++] = b->unk_id;
                last_unk = 1;
            }
        }
        i += cl;
    }
    return n;
}

/* Merge short words: a rank per adjacent pair, scan for the lowest. */
static size_t merge_scan(ft_bpe *b, size_t n)
{
    int32_t *s = b->sym, *m = b->merged;
    uint32_t *r = b->rank;
    for (size_t i = 0; i + 1 < n; i++)
        r[i] = ft_bpe_pair(b, s[i], s[i + 1], &m[i]);
    while (n > 1) {
        uint32_t best = FT_BPE_NO_RANK;
        size_t bi = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            if (r[i] < best) {
                best = r[i];
                bi = i;
            }
        }
        if (best == FT_BPE_NO_RANK)
            break;

        /* s[bi] becomes the merged token; drop s[bi+1] and its pair. */
        s[bi] = m[bi];
        memmove(s + bi + 1, s + bi + 2, (n - bi - 2) * sizeof *s);
        if (bi + 2 < n) {
            memmove(r + bi + 1, r + bi + 2, (n - bi - 3) * sizeof *r);
            memmove(m + bi + 1, m + bi + 2, (n - bi - 3) * sizeof *m);
        }
        n--;
        if (bi + 1 < n)
            r[bi] = ft_bpe_pair(b, s[bi], s[bi + 1], &m[bi]);
        if (bi > 0)
            r[bi - 1] = ft_bpe_pair(b, s[bi - 1], s[bi], &m[bi - 1]);
    }
    return n;
}

static inline int heap_less(const heap_ent *a, const heap_ent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(ft_bpe *b, size_t *n, heap_ent e, ft_err *err)
{
    if (ft_grow(&b->heap, &b->heap_cap, *n + 1, sizeof *b->heap, err) < 0)
        return -1;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &b->heap[p]))
            break;
        b->heap[i] = b->heap[p];
        i = p;
    }
    b->heap[i] = e;
    return 0;
}

static heap_ent heap_pop(ft_bpe *b, size_t *n)
{
    heap_ent top = b->heap[0], last = b->heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && heap_less(&b->heap[c + 1], &b->heap[c]))
            c++;
        if (!heap_less(&b->heap[c], &last))
            break;
        b->heap[i] = b->heap[c];
        i = c;
    }
    if (*n > 0)
        b->heap[i] = last;
    return top;
}

/* Queue the pair starting at symbol pos, if it merges. */
static int heap_add_pair(ft_bpe *b, size_t *nh, int32_t pos, ft_err *err)
{
    int32_t nx = b->next[pos], merged;
    if (nx < 0)
        return 0;
    uint32_t rank = ft_bpe_pair(b, b->sym[pos], b->sym[nx], &merged);
    if (rank == FT_BPE_NO_RANK)
        return 0;
    heap_ent e = {rank, (uint32_t)pos, b->sym[pos], b->sym[nx]};
    return heap_push(b, nh, e, err);
}

/* Merge long words: symbols in a linked list, candidate pairs in a heap; a
 * popped pair is used only if it is still there. Compacts b->sym. */
static int merge_heap(ft_bpe *b, size_t n, size_t *n_out, ft_err *err)
{
    size_t nh = 0;
    if (n == 0) {
        *n_out = 0;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        b->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        b->prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++)
        if (heap_add_pair(b, &nh, (int32_t)i, err) < 0)
            return -1;
    while (nh > 0) {
        heap_ent e = heap_pop(b, &nh);
        int32_t pos = (int32_t)e.pos, nx = b->next[pos];
        if (b->sym[pos] != e.left || nx < 0 || b->sym[nx] != e.right)
            continue;
        int32_t merged = -1;
        ft_bpe_pair(b, e.left, e.right, &merged);

        /* pos takes the merged token, nx leaves the list. */
        b->sym[pos] = merged;
        b->sym[nx] = -1;
        b->next[pos] = b->next[nx];
        if (b->next[nx] >= 0)
            b->prev[b->next[nx]] = pos;
        if (b->prev[pos] >= 0 && heap_add_pair(b, &nh, b->prev[pos], err) < 0)
            return -1;
        if (heap_add_pair(b, &nh, pos, err) < 0)
            return -1;
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = b->next[i])
        b->sym[k++] = b->sym[i];
    *n_out = k;
    return 0;
}

static int append_ids(int32_t **ids, size_t *n_ids, size_t *cap, const int32_t *src, size_t n,
                      ft_err *err)
{
    if (ft_grow(ids, cap, *n_ids + n, sizeof **ids, err) < 0)
        return -1;
    if (n)
        memcpy(*ids + *n_ids, src, n * sizeof *src);
    *n_ids += n;
    return 0;
}

static int cache_put(ft_bpe *b, const char *word, size_t len, const int32_t *src, size_t n,
                     ft_err *err)
{
    if (b->cache.count >= CACHE_WORDS_MAX)
        ft_bpe_clear_cache(b);
    if (b->cache_n + n > UINT32_MAX)
        return 0;
    smap_slot *s = smap_put(&b->cache, word, len, err);
    if (!s)
        return -1;
    if (ft_grow(&b->cache_ids, &b->cache_cap, b->cache_n + n, sizeof *b->cache_ids, err) < 0)
        return -1;
    if (n)
        memcpy(b->cache_ids + b->cache_n, src, n * sizeof *src);
    s->val = (uint32_t)b->cache_n;
    s->aux = (uint32_t)n;
    b->cache_n += n;
    return 0;
}

int ft_bpe_encode(ft_bpe *b, const char *word, size_t len, int32_t **ids, size_t *n_ids,
                  size_t *cap, ft_err *err)
{
    if (len == 0)
        return 0;
    int cacheable = len <= CACHE_WORD_MAX;
    if (cacheable) {
        uint64_t h = XXH3_64bits(word, len);
        smap_slot *s = smap_find(&b->cache, word, len, h);
        if (s->len != UINT32_MAX)
            return append_ids(ids, n_ids, cap, b->cache_ids + s->val, s->aux, err);
    }
    if (b->ignore_merges) {
        int32_t id = ft_bpe_lookup(b, word, len);
        if (id >= 0)
            return append_ids(ids, n_ids, cap, &id, 1, err);
    }

    /* A UTF-8 character may fall back to 4 byte symbols. */
    if (scratch_reserve(b, len * 4 + 1, err) < 0)
        return -1;
    size_t n = word_units(b, (const unsigned char *)word, len);
    if (n <= SCAN_MAX)
        n = merge_scan(b, n);
    else if (merge_heap(b, n, &n, err) < 0)
        return -1;

    if (cacheable && cache_put(b, word, len, b->sym, n, err) < 0)
        return -1;
    return append_ids(ids, n_ids, cap, b->sym, n, err);
}
