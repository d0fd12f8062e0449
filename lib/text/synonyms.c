/* synonyms: the synonym dictionary (see synonyms.h).
 *
 * Every string, word key (lower case) or synonym (as spelled), is interned
 * once in a strtab. Adding records (key id, synonym id) pairs; finishing
 * sorts them by key with a counting sort (stable, so insertion order is kept
 * within a key), drops duplicates, and leaves a compressed row index:
 * the synonyms of key id k are list[start[k] .. start[k + 1]). Look-ups go
 * through a separate index of the words that have synonyms, with short
 * words stored in the slot itself: one cache line per look-up, which the
 * caller can prefetch (ft_syn_prefetch) for a whole sentence at once. */
#include "text/synonyms.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"
#include "text/strtab.h"
#include "text/words.h"

typedef struct pair {
    uint32_t key, syn;
} pair;

/* A slot of the word index: 32 bytes, two to a cache line. */
#define SLOT_KEY 19
typedef struct wslot {
    uint32_t start, count;   /* the word's synonyms in list */
    uint32_t key_id;         /* the word in strs (for words longer than SLOT_KEY) */
    uint8_t len;             /* 0: empty; SLOT_KEY + 1: long word */
    char key[SLOT_KEY];
} wslot;

struct ft_synonyms {
    ft_strtab *strs;
    wslot *index;
    size_t index_mask;
    pair *pairs;              /* while adding */
    size_t n_pairs, pairs_cap;
    uint32_t *start;          /* after finishing: per string id, count + 1 items */
    uint32_t *list;
    uint32_t n_words;
    size_t max_tight_bytes;
    int finished;
    char *fold;               /* scratch for lower-casing keys */
    size_t fold_cap;
};

ft_synonyms *ft_syn_new(ft_err *err)
{
    ft_synonyms *s = ft_calloc(1, sizeof *s, err);
    if (!s)
        return NULL;
    s->strs = ft_strtab_new(err);
    if (!s->strs) {
        free(s);
        return NULL;
    }
    return s;
}

void ft_syn_free(ft_synonyms *s)
{
    if (!s)
        return;
    ft_strtab_free(s->strs);
    free(s->pairs);
    free(s->start);
    free(s->list);
    free(s->index);
    free(s->fold);
    free(s);
}

/* Intern the lower-case form of a word; its id. */
static int64_t intern_key(ft_synonyms *s, const char *w, size_t n, ft_err *err)
{
    if (ft_grow(&s->fold, &s->fold_cap, 3 * n + 4, 1, err) < 0)
        return -1;
    size_t len = ft_words_lower(w, n, s->fold);
    int64_t id = ft_strtab_intern(s->strs, s->fold, len, err);
    int32_t cp;

    /* Only words starting with a tight character bound longest match. */
    if (id >= 0 && len > s->max_tight_bytes) {
        ft_utf8_decode(s->fold, 0, &cp);
        if (ft_words_is_tight(cp))
            s->max_tight_bytes = len;
    }
    return id;
}

static int add_ids(ft_synonyms *s, int64_t key, int64_t syn, ft_err *err)
{
    if (ft_grow(&s->pairs, &s->pairs_cap, s->n_pairs + 1, sizeof *s->pairs, err) < 0)
        return -1;
    s->pairs[s->n_pairs].key = (uint32_t)key;
    s->pairs[s->n_pairs].syn = (uint32_t)syn;
    s->n_pairs++;
    return 0;
}

int ft_syn_add(ft_synonyms *s, const char *word, size_t word_len, const char *syn,
               size_t syn_len, ft_err *err)
{
    int64_t k, v, v_key;

    if (s->finished)
        return ft_err_set(err, "synonyms: adding after the dictionary was finished");
    k = intern_key(s, word, word_len, err);
    if (k < 0)
        return -1;
    v = ft_strtab_intern(s->strs, syn, syn_len, err);
    if (v < 0)
        return -1;

    /* A synonym that is the word itself in another case is no synonym. */
    v_key = intern_key(s, syn, syn_len, err);
    if (v_key < 0)
        return -1;
    if (v_key == k)
        return 0;
    return add_ids(s, k, v, err);
}

int ft_syn_add_group(ft_synonyms *s, const char *const *words, const size_t *lens, size_t n,
                     ft_err *err)
{
    int64_t small[2 * 64], *ids = small;
    int rc = 0;

    if (s->finished)
        return ft_err_set(err, "synonyms: adding after the dictionary was finished");
    if (n > 64 && !(ids = ft_malloc(2 * n * sizeof *ids, err)))
        return -1;

    /* Each member's spelling and key once, then every ordered pair. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        ids[2 * i] = ft_strtab_intern(s->strs, words[i], lens[i], err);
        ids[2 * i + 1] = intern_key(s, words[i], lens[i], err);
        if (ids[2 * i] < 0 || ids[2 * i + 1] < 0)
            rc = -1;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        for (size_t j = 0; j < n && rc == 0; j++)
            if (ids[2 * i + 1] != ids[2 * j + 1])
                rc = add_ids(s, ids[2 * i + 1], ids[2 * j], err);
    if (ids != small)
        free(ids);
    return rc;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\r' || c == '\f' || c == '\v';
}

int ft_syn_load_tsv(ft_synonyms *s, const char *path, ft_err *err)
{
    char *data;
    size_t n, line = 0;
    int rc = 0;

    if (ft_read_file(path, (size_t)1 << 31, &data, &n, err) < 0)
        return -1;
    long bad = ft_utf8_invalid_at(data, n);
    if (bad >= 0) {
        for (long i = 0; i < bad; i++)
            line += data[i] == '\n';
        free(data);
        return ft_err_set(err, "%s: line %zu: invalid UTF-8", path, line + 1);
    }
    for (size_t i = 0; i < n && rc == 0;) {
        size_t end = i, a = i, b;
        while (end < n && data[end] != '\n')
            end++;
        b = end;
        i = end + 1;
        line++;

        /* Trim blanks (not tabs: they separate fields); skip comments. */
        while (a < b && is_blank(data[a]))
            a++;
        while (b > a && is_blank(data[b - 1]))
            b--;
        if (a == b || data[a] == '#')
            continue;
        const char *tab = memchr(data + a, '\t', b - a);
        if (!tab || tab == data + a) {
            rc = ft_err_set(err, "%s: line %zu: expected word<TAB>synonym", path, line);
            break;
        }

        /* The word, then each non-empty synonym after it. */
        size_t wlen = (size_t)(tab - (data + a));
        for (size_t f = (size_t)(tab - data) + 1; f <= b && rc == 0;) {
            size_t g = f;
            while (g < b && data[g] != '\t')
                g++;
            if (g > f)
                rc = ft_syn_add(s, data + a, wlen, data + f, g - f, err);
            f = g + 1;
        }
        if (rc < 0)
            ft_err_prefix(err, "%s: line %zu", path, line);
    }
    free(data);
    return rc;
}

uint64_t ft_syn_hash(const char *lower, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;     /* FNV-1a: words are short */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)lower[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* The index of the words with synonyms, at most half full. */
static int build_index(ft_synonyms *s, uint32_t n_strs, ft_err *err)
{
    size_t n_slots = 16;

    while (n_slots < 2 * (size_t)s->n_words)
        n_slots *= 2;
    s->index = ft_calloc(n_slots, sizeof *s->index, err);
    if (!s->index)
        return -1;
    s->index_mask = n_slots - 1;
    for (uint32_t k = 0; k < n_strs; k++) {
        size_t len;
        const char *w = ft_strtab_str(s->strs, k, &len);
        if (s->start[k + 1] == s->start[k])
            continue;
        size_t i = (size_t)ft_syn_hash(w, len) & s->index_mask;
        while (s->index[i].len)
            i = (i + 1) & s->index_mask;
        wslot *sl = &s->index[i];
        sl->start = s->start[k];
        sl->count = s->start[k + 1] - s->start[k];
        sl->key_id = k;
        sl->len = (uint8_t)(len <= SLOT_KEY ? len : SLOT_KEY + 1);
        memcpy(sl->key, w, len <= SLOT_KEY ? len : SLOT_KEY);
    }
    return 0;
}

int ft_syn_finish(ft_synonyms *s, ft_err *err)
{
    uint32_t n_strs = ft_strtab_count(s->strs);
    uint32_t *stamp = NULL;

    if (s->finished)
        return 0;
    free(s->fold);
    s->fold = NULL;
    s->fold_cap = 0;
    s->start = ft_calloc((size_t)n_strs + 1, sizeof *s->start, err);
    s->list = ft_malloc((s->n_pairs ? s->n_pairs : 1) * sizeof *s->list, err);
    stamp = ft_calloc(n_strs ? n_strs : 1, sizeof *stamp, err);
    if (!s->start || !s->list || !stamp) {
        free(stamp);
        return -1;
    }

    /* Counting sort of the pairs by key: counts, prefix sums, placement. */
    for (size_t i = 0; i < s->n_pairs; i++)
        s->start[s->pairs[i].key + 1]++;
    for (uint32_t k = 0; k < n_strs; k++)
        s->start[k + 1] += s->start[k];
    uint32_t *fill = ft_malloc(((size_t)n_strs + 1) * sizeof *fill, err);
    if (!fill) {
        free(stamp);
        return -1;
    }
    memcpy(fill, s->start, ((size_t)n_strs + 1) * sizeof *fill);
    for (size_t i = 0; i < s->n_pairs; i++)
        s->list[fill[s->pairs[i].key]++] = s->pairs[i].syn;

    /* Drop duplicates within each key, compacting the list in place. */
    uint32_t out = 0;
    for (uint32_t k = 0; k < n_strs; k++) {
        uint32_t a = s->start[k], b = s->start[k + 1];
        s->start[k] = out;
        for (uint32_t i = a; i < b; i++) {
            uint32_t v = s->list[i];
            if (stamp[v] == k + 1)
                continue;
            stamp[v] = k + 1;
            s->list[out++] = v;
        }
        if (out > s->start[k])
            s->n_words++;
    }
    s->start[n_strs] = out;
    free(fill);
    free(stamp);
    free(s->pairs);
    s->pairs = NULL;
    if (build_index(s, n_strs, err) < 0)
        return -1;
    s->finished = 1;
    return 0;
}

void ft_syn_prefetch(const ft_synonyms *s, uint64_t h)
{
    if (s->index)
        __builtin_prefetch(&s->index[h & s->index_mask]);
}

uint32_t ft_syn_lookup_hashed(const ft_synonyms *s, const char *lower, size_t len,
                              uint64_t h, const uint32_t **ids)
{
    if (!s->index || len == 0)
        return 0;
    for (size_t i = h & s->index_mask;; i = (i + 1) & s->index_mask) {
        const wslot *sl = &s->index[i];
        size_t kl;
        if (!sl->len)
            return 0;
        if (len <= SLOT_KEY) {
            if (sl->len != len || memcmp(sl->key, lower, len) != 0)
                continue;
        } else {
            const char *k = ft_strtab_str(s->strs, sl->key_id, &kl);
            if (sl->len != SLOT_KEY + 1 || kl != len || memcmp(k, lower, len) != 0)
                continue;
        }
        *ids = s->list + sl->start;
        return sl->count;
    }
}

uint32_t ft_syn_lookup(const ft_synonyms *s, const char *lower, size_t len,
                       const uint32_t **ids)
{
    return ft_syn_lookup_hashed(s, lower, len, ft_syn_hash(lower, len), ids);
}

const char *ft_syn_str(const ft_synonyms *s, uint32_t id, size_t *len)
{
    return ft_strtab_str(s->strs, id, len);
}

uint32_t ft_syn_count_words(const ft_synonyms *s)
{
    return s->n_words;
}

size_t ft_syn_max_tight_bytes(const ft_synonyms *s)
{
    return s->max_tight_bytes;
}

int ft_syn_has(const void *syn, const char *str, size_t len)
{
    const uint32_t *ids;
    return ft_syn_lookup(syn, str, len, &ids) > 0;
}
