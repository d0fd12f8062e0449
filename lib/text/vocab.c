/* vocab: byte-level BPE training (see vocab.h for the rule).
 *
 * Words are counted once each (a string table and a count per word). For
 * training every distinct word becomes an array of symbol ids; a pair table
 * keeps each adjacent pair's weighted count and the words it was seen in,
 * and a max-heap orders the pairs. Counts only fall after a pair first
 * appears (every new adjacency involves the token just made), so the heap
 * holds upper bounds: a popped pair whose count has fallen goes back with
 * its count, and one whose count is current is the best pair. */
#define _GNU_SOURCE /* memmem */
#include <stdlib.h>
#include <string.h>

#include "data/utf8.h"
#include "text/normalizer.h"
#include "text/pattern.h"
#include "text/pretok.h"
#include "text/strtab.h"
#include "text/vocab.h"

struct ft_vocab {
    size_t size;
    uint64_t min_frequency;
    char **special;
    size_t n_special;
    char *pattern;
    int nfc, add_bos;
    ft_normalizer *norm;
    ft_pretok *pre;
    ft_strtab *words;
    uint64_t *freq;          /* [distinct words] */
    size_t cap_freq;
    uint64_t n_pieces;
};

/* --- Counting ------------------------------------------------------------- */

static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>", NULL};
static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", NULL};

/* The id of the first special token with one of the names, or -1. */
static int32_t first_named(const char *const *special, size_t n, const char *const *names)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; names[k]; k++)
            if (!strcmp(special[i], names[k]))
                return (int32_t)i;
    return -1;
}

void ft_vocab_free(ft_vocab *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_special; i++)
        free(v->special[i]);
    free(v->special);
    free(v->pattern);
    ft_normalizer_free(v->norm);
    ft_pretok_free(v->pre);
    ft_strtab_free(v->words);
    free(v->freq);
    free(v);
}

/* GPT-2's stand-in character of each byte, as UTF-8 (2 bytes at most). */
static int byte_char(int b, char out[3])
{
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE, n = 0;
    int cp = b;
    if (!printable) {
        for (int c = 0; c < b; c++)
            n += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE);
        cp = 256 + n;
    }
    int len = ft_utf8_encode((uint32_t)cp, out);
    out[len] = 0;
    return cp;
}

ft_vocab *ft_vocab_new(const ft_vocab_opts *o, ft_err *err)
{
    if (o->size < 256 + o->n_special) {
        ft_err_set(err, "vocabulary size %zu is below the %zu byte and special tokens",
                   o->size, 256 + o->n_special);
        return NULL;
    }
    if (o->size > (1u << 24)) {
        ft_err_set(err, "vocabulary size %zu is above %u", o->size, 1u << 24);
        return NULL;
    }
    for (size_t i = 0; i < o->n_special; i++) {
        const char *s = o->special[i];
        if (!*s) {
            ft_err_set(err, "special token %zu is empty", i + 1);
            return NULL;
        }
        if (ft_utf8_valid_prefix(s, strlen(s)) != strlen(s)) {
            ft_err_set(err, "special token %zu is not UTF-8", i + 1);
            return NULL;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s, o->special[j])) {
                ft_err_set(err, "special token \"%s\" given twice", s);
                return NULL;
            }
        char c[3];
        for (int b = 0; b < 256; b++)
            if (byte_char(b, c) >= 0 && !strcmp(c, s)) {
                ft_err_set(err, "special token \"%s\" is a byte token", s);
                return NULL;
            }
    }

    if (o->add_bos && first_named(o->special, o->n_special, bos_names) < 0) {
        ft_err_set(err, "a BOS token is asked for, but no special token is <s>, "
                        "<|begin_of_text|> or <|endoftext|>");
        return NULL;
    }

    ft_vocab *v = ft_calloc(1, sizeof *v, err);
    if (!v)
        return NULL;
    v->size = o->size;
    v->min_frequency = o->min_frequency;
    v->nfc = o->nfc;
    v->add_bos = o->add_bos;
    if (!(v->special = ft_calloc(o->n_special + 1, sizeof *v->special, err)))
        goto fail;
    for (; v->n_special < o->n_special; v->n_special++)
        if (!(v->special[v->n_special] = ft_strdup(o->special[v->n_special], err)))
            goto fail;
    if (o->pattern && !(v->pattern = ft_strdup(o->pattern, err)))
        goto fail;
    if (!(v->norm = ft_normalizer_new(err)) || !(v->pre = ft_pretok_new(err)) ||
        !(v->words = ft_strtab_new(err)))
        goto fail;
    if (v->nfc && ft_normalizer_add_form(v->norm, FT_NORM_NFC, err) < 0)
        goto fail;
    if (ft_pretok_add_regex(v->pre, v->pattern ? v->pattern : ft_pattern_gpt2,
                            FT_SPLIT_ISOLATED, 0, err) < 0)
        goto fail;
    return v;
fail:
    ft_vocab_free(v);
    return NULL;
}

static int count_piece(void *ctx, const char *piece, size_t n, ft_err *err)
{
    ft_vocab *v = ctx;
    int64_t id = ft_strtab_intern(v->words, piece, n, err);
    if (id < 0)
        return -1;
    if ((size_t)id >= v->cap_freq) {
        size_t old = v->cap_freq;
        if (ft_grow(&v->freq, &v->cap_freq, (size_t)id + 1, sizeof *v->freq, err) < 0)
            return -1;
        memset(v->freq + old, 0, (v->cap_freq - old) * sizeof *v->freq);
    }
    v->freq[id]++;
    v->n_pieces++;
    return 0;
}

/* Text between special tokens: normalize, cut, count. */
static int count_span(ft_vocab *v, const char *s, size_t n, ft_err *err)
{
    const char *out;
    size_t n_out;
    if (n == 0)
        return 0;
    if (ft_normalizer_run(v->norm, s, n, &out, &n_out, err) < 0)
        return -1;
    return ft_pretok_run(v->pre, out, n_out, 1, count_piece, v, err);
}

/* The first special token at or after s, longest on a tie; NULL if none. */
static const char *next_special(const ft_vocab *v, const char *s, size_t n, size_t *len)
{
    const char *best = NULL;
    *len = 0;
    for (size_t i = 0; i < v->n_special; i++) {
        size_t k = strlen(v->special[i]);
        const char *at = memmem(s, n, v->special[i], k);
        if (at && (!best || at < best || (at == best && k > *len))) {
            best = at;
            *len = k;
        }
    }
    return best;
}

int ft_vocab_add_text(ft_vocab *v, const char *text, size_t n, ft_err *err)
{
    size_t ok = ft_utf8_valid_prefix(text, n), len;
    if (ok < n)
        return ft_err_set(err, "invalid UTF-8 at byte %zu", ok);
    while (n > 0) {
        const char *sp = next_special(v, text, n, &len);
        size_t before = sp ? (size_t)(sp - text) : n;
        if (count_span(v, text, before, err) < 0)
            return -1;
        if (!sp)
            break;
        text += before + len;
        n -= before + len;
    }
    return 0;
}

size_t ft_vocab_n_words(const ft_vocab *v)
{
    return ft_strtab_count(v->words);
}

uint64_t ft_vocab_n_pieces(const ft_vocab *v)
{
    return v->n_pieces;
}

/* --- Pairs ---------------------------------------------------------------- */

typedef struct pair {
    int32_t left, right;
    int64_t count;           /* weighted adjacent occurrences */
    uint32_t *pos;           /* words it was seen in (may be stale) */
    uint32_t n_pos, cap_pos;
    uint32_t touched;        /* the round it last gained occurrences */
} pair;

typedef struct heap_item {
    int64_t count;
    int32_t left, right;
} heap_item;

typedef struct trainer {
    const ft_vocab *v;
    /* Words as symbols. */
    int32_t *sym;
    size_t *off;             /* [n_words] start in sym */
    uint32_t *len;           /* [n_words] current symbols */
    uint32_t *stamp;         /* [n_words] the round it was last merged in */
    uint32_t n_words;
    /* Pairs, found by (left, right) in an open-addressing table of indices. */
    pair *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *slot;          /* index + 1, 0: empty */
    size_t n_slots;
    heap_item *heap;
    size_t n_heap, cap_heap;
    uint32_t *touched;       /* pairs that gained occurrences this round */
    size_t n_touched, cap_touched;
    uint32_t round;
    /* The vocabulary. */
    ft_strtab *tokens;       /* spelling -> id */
    int32_t *merges;         /* [2 * n_merges] */
    size_t n_merges, cap_merges;
} trainer;

static uint64_t pair_hash(int32_t l, int32_t r)
{
    uint64_t k = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return k;
}

static int rehash(trainer *tr, ft_err *err)
{
    size_t n = tr->n_slots ? 2 * tr->n_slots : 1024;
    uint32_t *slot = ft_calloc(n, sizeof *slot, err);
    if (!slot)
        return -1;
    for (size_t i = 0; i < tr->n_pairs; i++) {
        size_t h = pair_hash(tr->pairs[i].left, tr->pairs[i].right) & (n - 1);
        while (slot[h])
            h = (h + 1) & (n - 1);
        slot[h] = (uint32_t)i + 1;
    }
    free(tr->slot);
    tr->slot = slot;
    tr->n_slots = n;
    return 0;
}

/* The index of a pair, added with count 0 when new; -1 on failure. */
static long pair_index(trainer *tr, int32_t l, int32_t r, ft_err *err)
{
    if (2 * (tr->n_pairs + 1) > tr->n_slots && rehash(tr, err) < 0)
        return -1;
    size_t h = pair_hash(l, r) & (tr->n_slots - 1);
    for (; tr->slot[h]; h = (h + 1) & (tr->n_slots - 1)) {
        pair *p = &tr->pairs[tr->slot[h] - 1];
        if (p->left == l && p->right == r)
            return (long)(tr->slot[h] - 1);
    }
    if (tr->n_pairs >= UINT32_MAX - 1)
        return ft_err_set(err, "too many distinct pairs");
    if (ft_grow(&tr->pairs, &tr->cap_pairs, tr->n_pairs + 1, sizeof *tr->pairs, err) < 0)
        return -1;
    tr->pairs[tr->n_pairs] = (pair){.left = l, .right = r};
    tr->slot[h] = (uint32_t)++tr->n_pairs;
    return (long)(tr->n_pairs - 1);
}

static long pair_find(const trainer *tr, int32_t l, int32_t r)
{
    size_t h = pair_hash(l, r) & (tr->n_slots - 1);
    for (; tr->slot[h]; h = (h + 1) & (tr->n_slots - 1)) {
        const pair *p = &tr->pairs[tr->slot[h] - 1];
        if (p->left == l && p->right == r)
            return (long)(tr->slot[h] - 1);
    }
    return -1;
}

/* Add delta occurrences of (l, r), seen in word w when delta > 0. */
static int pair_add(trainer *tr, int32_t l, int32_t r, int64_t delta, uint32_t w, ft_err *err)
{
    long i = pair_index(tr, l, r, err);
    if (i < 0)
        return -1;
    pair *p = &tr->pairs[i];
    p->count += delta;
    if (delta <= 0)
        return 0;
    if (p->n_pos == 0 || p->pos[p->n_pos - 1] != w) {
        size_t cap = p->cap_pos;
        if (ft_grow(&p->pos, &cap, (size_t)p->n_pos + 1, sizeof *p->pos, err) < 0)
            return -1;
        p->cap_pos = (uint32_t)cap;
        p->pos[p->n_pos++] = w;
    }
    if (p->touched != tr->round) {
        p->touched = tr->round;
        if (ft_grow(&tr->touched, &tr->cap_touched, tr->n_touched + 1, sizeof *tr->touched,
                    err) < 0)
            return -1;
        tr->touched[tr->n_touched++] = (uint32_t)i;
    }
    return 0;
}

/* --- Heap: most occurrences first, then the smallest (left, right) ------- */

static int heap_before(const heap_item *a, const heap_item *b)
{
    if (a->count != b->count)
        return a->count > b->count;
    if (a->left != b->left)
        return a->left < b->left;
    return a->right < b->right;
}

static int heap_push(trainer *tr, heap_item it, ft_err *err)
{
    if (ft_grow(&tr->heap, &tr->cap_heap, tr->n_heap + 1, sizeof *tr->heap, err) < 0)
        return -1;
    size_t i = tr->n_heap++;
    while (i > 0 && heap_before(&it, &tr->heap[(i - 1) / 2])) {
        tr->heap[i] = tr->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    tr->heap[i] = it;
    return 0;
}

static heap_item heap_pop(trainer *tr)
{
    heap_item top = tr->heap[0], last = tr->heap[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(&tr->heap[c + 1], &tr->heap[c]))
            c++;
        if (!heap_before(&tr->heap[c], &last))
            break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n)
        tr->heap[i] = last;
    return top;
}

/* --- Training ------------------------------------------------------------- */

static void trainer_free(trainer *tr)
{
    free(tr->sym);
    free(tr->off);
    free(tr->len);
    free(tr->stamp);
    for (size_t i = 0; i < tr->n_pairs; i++)
        free(tr->pairs[i].pos);
    free(tr->pairs);
    free(tr->slot);
    free(tr->heap);
    free(tr->touched);
    ft_strtab_free(tr->tokens);
    free(tr->merges);
}

/* Special tokens, then the byte tokens by code point; words as byte ids. */
static int trainer_init(trainer *tr, const ft_vocab *v, ft_err *err)
{
    int32_t byte_id[256];
    int order[256], cps[256];
    char c[3];
    size_t total = 0, len;

    tr->v = v;
    if (!(tr->tokens = ft_strtab_new(err)))
        return -1;
    for (size_t i = 0; i < v->n_special; i++)
        if (ft_strtab_intern(tr->tokens, v->special[i], strlen(v->special[i]), err) < 0)
            return -1;
    for (int b = 0; b < 256; b++) {
        cps[b] = byte_char(b, c);
        int k = b;
        while (k > 0 && cps[order[k - 1]] > cps[b]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = b;
    }
    for (int i = 0; i < 256; i++) {
        byte_char(order[i], c);
        int64_t id = ft_strtab_intern(tr->tokens, c, strlen(c), err);
        if (id < 0)
            return -1;
        byte_id[order[i]] = (int32_t)id;
    }

    tr->n_words = ft_strtab_count(v->words);
    for (uint32_t w = 0; w < tr->n_words; w++) {
        ft_strtab_str(v->words, w, &len);
        total += len;
    }
    tr->sym = ft_malloc((total + 1) * sizeof *tr->sym, err);
    tr->off = ft_malloc(((size_t)tr->n_words + 1) * sizeof *tr->off, err);
    tr->len = ft_malloc(((size_t)tr->n_words + 1) * sizeof *tr->len, err);
    tr->stamp = ft_calloc((size_t)tr->n_words + 1, sizeof *tr->stamp, err);
    if (!tr->sym || !tr->off || !tr->len || !tr->stamp)
        return -1;
    total = 0;
    for (uint32_t w = 0; w < tr->n_words; w++) {
        const unsigned char *s = (const unsigned char *)ft_strtab_str(v->words, w, &len);
        tr->off[w] = total;
        tr->len[w] = (uint32_t)len;
        for (size_t i = 0; i < len; i++)
            tr->sym[total++] = byte_id[s[i]];
    }

    /* Every adjacent pair of every word, then the heap. */
    tr->round = 1;
    for (uint32_t w = 0; w < tr->n_words; w++) {
        const int32_t *s = tr->sym + tr->off[w];
        for (uint32_t i = 0; i + 1 < tr->len[w]; i++)
            if (pair_add(tr, s[i], s[i + 1], (int64_t)v->freq[w], w, err) < 0)
                return -1;
    }
    return 0;
}

/* Push the pairs that gained occurrences this round. */
static int push_touched(trainer *tr, ft_err *err)
{
    for (size_t i = 0; i < tr->n_touched; i++) {
        const pair *p = &tr->pairs[tr->touched[i]];
        if (p->count > 0 && heap_push(tr, (heap_item){p->count, p->left, p->right}, err) < 0)
            return -1;
    }
    tr->n_touched = 0;
    return 0;
}

/* Merge (a, b) into m in word w, left to right, moving the counts of the
 * pairs around each merge. */
static int merge_word(trainer *tr, uint32_t w, int32_t a, int32_t b, int32_t m, ft_err *err)
{
    int32_t *s = tr->sym + tr->off[w];
    uint32_t n = tr->len[w], j = 0;
    int64_t f = (int64_t)tr->v->freq[w];
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (j > 0 && (pair_add(tr, s[j - 1], a, -f, w, err) < 0 ||
                          pair_add(tr, s[j - 1], m, f, w, err) < 0))
                return -1;
            if (i + 2 < n && (pair_add(tr, b, s[i + 2], -f, w, err) < 0 ||
                              pair_add(tr, m, s[i + 2], f, w, err) < 0))
                return -1;
            s[j++] = m;
            i += 2;
        } else {
            s[j++] = s[i++];
        }
    }
    tr->len[w] = j;
    return 0;
}

/* One merge: the new token's id (an existing spelling keeps its id). */
static int merge_pair(trainer *tr, long pi, ft_err *err)
{
    int32_t a = tr->pairs[pi].left, b = tr->pairs[pi].right;
    size_t la, lb;
    const char *sa = ft_strtab_str(tr->tokens, (uint32_t)a, &la);
    char *s = ft_malloc(la + 1, err);
    if (!s)
        return -1;
    memcpy(s, sa, la);
    const char *sb = ft_strtab_str(tr->tokens, (uint32_t)b, &lb);
    char *joined = ft_realloc(s, la + lb + 1, err);
    if (!joined) {
        free(s);
        return -1;
    }
    memcpy(joined + la, sb, lb);
    int64_t m = ft_strtab_intern(tr->tokens, joined, la + lb, err);
    free(joined);
    if (m < 0)
        return -1;
    if (ft_grow(&tr->merges, &tr->cap_merges, 2 * (tr->n_merges + 1), sizeof *tr->merges,
                err) < 0)
        return -1;
    tr->merges[2 * tr->n_merges] = a;
    tr->merges[2 * tr->n_merges + 1] = b;
    tr->n_merges++;

    /* The words it occurs in; the list does not change while they merge
     * (new occurrences all involve m). */
    tr->round++;
    uint32_t *pos = tr->pairs[pi].pos, n_pos = tr->pairs[pi].n_pos;
    for (uint32_t k = 0; k < n_pos; k++) {
        uint32_t w = pos[k];
        if (tr->stamp[w] == tr->round)
            continue;
        tr->stamp[w] = tr->round;
        if (merge_word(tr, w, a, b, (int32_t)m, err) < 0)
            return -1;
    }
    tr->pairs[pi].count = 0;
    free(tr->pairs[pi].pos);
    tr->pairs[pi].pos = NULL;
    tr->pairs[pi].n_pos = tr->pairs[pi].cap_pos = 0;
    return push_touched(tr, err);
}

static int learn(trainer *tr, ft_err *err)
{
    if (push_touched(tr, err) < 0)
        return -1;
    while (ft_strtab_count(tr->tokens) < tr->v->size && tr->n_heap > 0) {
        heap_item top = heap_pop(tr);
        long pi = pair_find(tr, top.left, top.right);
        int64_t cur = tr->pairs[pi].count;
        if (top.count != cur) {
            if (cur > 0 && heap_push(tr, (heap_item){cur, top.left, top.right}, err) < 0)
                return -1;
            continue;
        }
        if (cur < 1 || (uint64_t)cur < tr->v->min_frequency)
            break;
        if (merge_pair(tr, pi, err) < 0)
            return -1;
    }
    return 0;
}

/* The tokenizer of the learned vocabulary. */
static ft_tokenizer *build(const trainer *tr, ft_err *err)
{
    const ft_vocab *v = tr->v;
    size_t n = ft_strtab_count(tr->tokens), len, la, lb;
    const char **tokens = ft_calloc(n, sizeof *tokens, err);
    int32_t *types = ft_calloc(n, sizeof *types, err);
    char **merges = ft_calloc(tr->n_merges + 1, sizeof *merges, err);
    ft_tokenizer *t = NULL;
    ft_tok_spec spec;

    if (!tokens || !types || !merges)
        goto done;
    for (size_t id = 0; id < n; id++) {
        tokens[id] = ft_strtab_str(tr->tokens, (uint32_t)id, &len);
        types[id] = id < v->n_special ? FT_TOKT_CONTROL : FT_TOKT_NORMAL;
    }
    for (size_t i = 0; i < tr->n_merges; i++) {
        const char *a = ft_strtab_str(tr->tokens, (uint32_t)tr->merges[2 * i], &la);
        const char *b = ft_strtab_str(tr->tokens, (uint32_t)tr->merges[2 * i + 1], &lb);
        if (!(merges[i] = ft_malloc(la + lb + 2, err)))
            goto done;
        memcpy(merges[i], a, la);
        merges[i][la] = ' ';
        memcpy(merges[i] + la + 1, b, lb + 1);
    }
    ft_tokenizer_spec_init(&spec);
    spec.kind = FT_TOK_BYTE_BPE;
    spec.n_tokens = n;
    spec.tokens = tokens;
    spec.types = types;
    spec.n_merges = tr->n_merges;
    spec.merges = (const char *const *)merges;
    spec.n_patterns = v->pattern ? 1 : 0;
    spec.patterns = (const char *const *)&v->pattern;
    spec.nfc = v->nfc;
    spec.bos_id = first_named((const char *const *)v->special, v->n_special, bos_names);
    spec.eos_id = first_named((const char *const *)v->special, v->n_special, eos_names);
    spec.add_bos = v->add_bos;
    t = ft_tokenizer_build(&spec, err);
done:
    for (size_t i = 0; merges && i < tr->n_merges; i++)
        free(merges[i]);
    free(merges);
    free(types);
    free(tokens);
    return t;
}

ft_tokenizer *ft_vocab_train(ft_vocab *v, ft_err *err)
{
    trainer tr = {0};
    ft_tokenizer *t = NULL;
    if (trainer_init(&tr, v, err) == 0 && learn(&tr, err) == 0)
        t = build(&tr, err);
    trainer_free(&tr);
    return t;
}
