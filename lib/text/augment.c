/* augment: the rewrite operations (see augment.h).
 *
 * A text is prepared once per record (a "doc"): its tokens with their
 * lower-case keys, capitalisation and synonyms, its sentences, and which
 * perturbation rules fire on which sentence, each computed on first use.
 * Word operations copy the tokens into an item list (white space before,
 * text, alive flag), edit that list and render it; sentence operations
 * render spans. When rewrites chain operations, the intermediate text gets
 * a doc of its own (tmp). */
#include "text/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/rng.h"
#include "text/rx.h"
#include "text/sentences.h"
#include "text/words.h"

static const char *const op_names[FT_AUG_N_OPS] = {"sr", "ri", "rs", "rd", "reorder",
                                                  "perturb"};

struct ft_augmenter {
    ft_aug_opts o;
    const ft_synonyms *syn;
    const ft_strtab *stop;
    const ft_perturb *rules;
    ft_sentencer *sent;      /* when reorder or perturb is on */
    ft_words_dict dict;      /* longest match of tight scripts against syn */
};

/* What word edits need to know of a token. */
typedef struct tokinfo {
    uint32_t key_off, key_len;   /* lower-case form, in doc.keys */
    const uint32_t *syn;         /* synonyms when the word may be replaced */
    uint32_t n_syn;
    uint32_t group;              /* replaceable words with the same key share one */
    uint8_t cas;                 /* FT_CASE_* */
    uint64_t h;                  /* hash of the key */
} tokinfo;

typedef struct hit {
    uint32_t sent, rule;         /* this rule fires on this sentence */
} hit;

typedef struct doc {
    const char *text;
    size_t n;
    int have_words, have_sents, have_hits;
    ft_tok *toks;
    size_t n_toks, toks_cap;
    tokinfo *info;
    size_t info_cap;
    uint32_t n_words;
    char *keys;
    size_t keys_len, keys_cap;
    uint32_t *groups;            /* per group: its first token */
    size_t n_groups, groups_cap;
    uint32_t *slots;             /* hash set of group keys: group + 1, 0 empty */
    size_t slots_cap;
    ft_span *sents;
    size_t n_sents, sents_cap;
    hit *hits;
    size_t n_hits, hits_cap;
} doc;

enum { SRC_TEXT, SRC_ARENA, SRC_SPACE, SRC_NONE };

/* A token in an edited text: the white space before it (used when it is not
 * the first item rendered) and its text, each from the doc's text, the
 * arena, or a literal. */
typedef struct item {
    uint32_t sep_off, sep_len, off, len;
    uint8_t sep_src, src, kind, tight, alive;
} item;

struct ft_aug_work {
    const ft_augmenter *a;
    ft_rx_match *m;
    doc orig, tmp;
    char *tmp_text;              /* the text of tmp (owned) */
    size_t tmp_cap;
    char *out;                   /* an operation's result */
    size_t out_len, out_cap;
    item *items;
    size_t n_items, items_cap;
    char *arena;                 /* replacement words */
    size_t arena_len, arena_cap;
    uint32_t *idx;               /* scratch indices */
    size_t idx_cap;
    item *items2;                /* the list being built by ri */
    size_t items2_cap;
    uint32_t *ins_gap;           /* ri: the word gap of each insertion */
    size_t ins_cap;
    item *ins;                   /* ri: the inserted items, in draw order */
    size_t ins_items_cap;
    uint32_t *pick;              /* sr: chosen synonym + 1 per group, 0 none */
    size_t pick_cap;
    char *pbuf;                  /* a perturbed sentence */
    size_t pbuf_len, pbuf_cap;
    char aug[80];
};

/* --- Options -------------------------------------------------------------- */

void ft_aug_opts_default(ft_aug_opts *o)
{
    memset(o, 0, sizeof *o);
    o->ops[0] = FT_AUG_SR;
    o->ops[1] = FT_AUG_RI;
    o->ops[2] = FT_AUG_RS;
    o->ops[3] = FT_AUG_RD;
    o->n_ops = 4;
    o->alpha_sr = o->alpha_ri = o->alpha_rs = o->p_rd = 0.1;
    o->ops_per_aug = 1;
}

const char *ft_aug_op_name(int op)
{
    return op >= 0 && op < FT_AUG_N_OPS ? op_names[op] : "?";
}

int ft_aug_parse_ops(ft_aug_opts *o, const char *list, ft_err *err)
{
    int n = 0, seen[FT_AUG_N_OPS] = {0};

    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        int op = -1;
        for (int i = 0; i < FT_AUG_N_OPS; i++)
            if (strlen(op_names[i]) == len && memcmp(op_names[i], p, len) == 0)
                op = i;
        if (op < 0)
            return ft_err_setk(err, FT_ERR_USAGE, "unknown operation \"%.*s\" (expected sr, "
                               "ri, rs, rd, reorder or perturb)", (int)len, p);
        if (seen[op]++)
            return ft_err_setk(err, FT_ERR_USAGE, "operation %s given twice", op_names[op]);
        o->ops[n++] = op;
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0)
        return ft_err_setk(err, FT_ERR_USAGE, "no operation given");
    o->n_ops = n;
    return 0;
}

/* --- Resources and scratch ---------------------------------------------- */

ft_augmenter *ft_aug_new(const ft_aug_opts *o, const ft_synonyms *syn,
                         const ft_strtab *stop, const ft_perturb *rules, ft_err *err)
{
    ft_augmenter *a = ft_calloc(1, sizeof *a, err);

    if (!a)
        return NULL;
    a->o = *o;
    if (a->o.ops_per_aug < 1)
        a->o.ops_per_aug = 1;
    a->syn = syn;
    a->stop = stop;
    a->rules = rules;
    if (syn) {
        a->dict.has = ft_syn_has;
        a->dict.ctx = syn;
        a->dict.max_bytes = ft_syn_max_tight_bytes(syn);
    }
    for (int i = 0; i < o->n_ops; i++)
        if (o->ops[i] == FT_AUG_REORDER || o->ops[i] == FT_AUG_PERTURB)
            if (!a->sent && !(a->sent = ft_sent_new(err))) {
                free(a);
                return NULL;
            }
    return a;
}

void ft_aug_free(ft_augmenter *a)
{
    if (!a)
        return;
    ft_sent_free(a->sent);
    free(a);
}

ft_aug_work *ft_aug_work_new(const ft_augmenter *a, ft_err *err)
{
    ft_aug_work *w = ft_calloc(1, sizeof *w, err);
    if (!w)
        return NULL;
    w->a = a;
    w->m = ft_rx_match_new(err);
    if (!w->m) {
        free(w);
        return NULL;
    }
    return w;
}

static void doc_free(doc *d)
{
    free(d->toks);
    free(d->info);
    free(d->keys);
    free(d->groups);
    free(d->slots);
    free(d->sents);
    free(d->hits);
}

void ft_aug_work_free(ft_aug_work *w)
{
    if (!w)
        return;
    ft_rx_match_free(w->m);
    doc_free(&w->orig);
    doc_free(&w->tmp);
    free(w->tmp_text);
    free(w->out);
    free(w->items);
    free(w->items2);
    free(w->ins_gap);
    free(w->ins);
    free(w->pick);
    free(w->arena);
    free(w->idx);
    free(w->pbuf);
    free(w);
}

uint64_t ft_aug_record_seed(uint64_t seed, const void *id, size_t id_bytes)
{
    return ft_hash64(id, id_bytes, seed);
}

static void doc_reset(doc *d, const char *text, size_t n)
{
    d->text = text;
    d->n = n;
    d->have_words = d->have_sents = d->have_hits = 0;
}

int ft_aug_prepare(ft_aug_work *w, const char *text, size_t n, ft_err *err)
{
    long bad = ft_utf8_invalid_at(text, n);
    if (bad >= 0)
        return ft_err_set(err, "invalid UTF-8 at byte %ld", bad);
    if (n >= UINT32_MAX)
        return ft_err_set(err, "text of %zu bytes is too long", n);
    doc_reset(&w->orig, text, n);
    return 0;
}

/* --- Lazily computed facts of a doc --------------------------------------- */

static int same_key(const doc *d, size_t i, size_t j)
{
    const tokinfo *a = &d->info[i], *b = &d->info[j];
    return a->key_len == b->key_len &&
           memcmp(d->keys + a->key_off, d->keys + b->key_off, a->key_len) == 0;
}

/* Give replaceable words with the same key one group (numbered in text
 * order), through a hash set of the groups' keys. */
static int group_words(doc *d, ft_err *err)
{
    size_t n_slots = 16;

    while (n_slots < 2 * d->n_toks)
        n_slots *= 2;
    if (ft_grow(&d->slots, &d->slots_cap, n_slots, sizeof *d->slots, err) < 0)
        return -1;
    memset(d->slots, 0, n_slots * sizeof *d->slots);
    d->n_groups = 0;
    for (size_t i = 0; i < d->n_toks; i++) {
        tokinfo *ti = &d->info[i];
        if (!ti->n_syn)
            continue;
        size_t h = (size_t)ft_hash64(d->keys + ti->key_off, ti->key_len, 0);
        for (h &= n_slots - 1;; h = (h + 1) & (n_slots - 1)) {
            uint32_t g = d->slots[h];
            if (g && same_key(d, d->groups[g - 1], i)) {
                ti->group = g - 1;
                break;
            }
            if (g)
                continue;
            if (ft_grow(&d->groups, &d->groups_cap, d->n_groups + 1, sizeof *d->groups,
                        err) < 0)
                return -1;
            d->groups[d->n_groups] = (uint32_t)i;
            ti->group = (uint32_t)d->n_groups++;
            d->slots[h] = (uint32_t)d->n_groups;
            break;
        }
    }
    return 0;
}

/* The synonyms of a lower-case word, none for a stop word. */
static uint32_t word_synonyms(const ft_augmenter *a, const char *key, size_t len, uint64_t h,
                              const uint32_t **syn)
{
    uint32_t n = ft_syn_lookup_hashed(a->syn, key, len, h, syn);
    if (n && a->stop && ft_strtab_find(a->stop, key, len) >= 0)
        n = 0;
    return n;
}

static int ensure_words(ft_aug_work *w, doc *d, ft_err *err)
{
    const ft_augmenter *a = w->a;

    if (d->have_words)
        return 0;
    if (ft_words_split(d->text, d->n, a->syn ? &a->dict : NULL, &d->toks, &d->n_toks,
                       &d->toks_cap, err) < 0 ||
        ft_grow(&d->info, &d->info_cap, d->n_toks + 1, sizeof *d->info, err) < 0)
        return -1;
    d->keys_len = 0;
    d->n_words = 0;
    for (size_t i = 0; i < d->n_toks; i++) {
        const ft_tok *t = &d->toks[i];
        tokinfo *ti = &d->info[i];
        int letter, digit;

        memset(ti, 0, sizeof *ti);
        if (t->kind != FT_TOK_WORD)
            continue;
        d->n_words++;

        /* Lower-case key and capitalisation. */
        if (ft_grow(&d->keys, &d->keys_cap, d->keys_len + 3 * (size_t)t->len + 4, 1, err) < 0)
            return -1;
        ti->key_off = (uint32_t)d->keys_len;
        ti->key_len = (uint32_t)ft_words_lower(d->text + t->off, t->len, d->keys + d->keys_len);
        d->keys_len += ti->key_len;
        ti->cas = (uint8_t)ft_words_case(d->text + t->off, t->len);

        /* Words with letters and no digit may have synonyms: hash them and
         * ask for their cache lines now, so the look-ups below overlap. */
        if (!a->syn)
            continue;
        ft_words_traits(d->text + t->off, t->len, &letter, &digit);
        if (!letter || digit)
            continue;
        ti->n_syn = UINT32_MAX;
        ti->h = ft_syn_hash(d->keys + ti->key_off, ti->key_len);
        ft_syn_prefetch(a->syn, ti->h);
    }
    for (size_t i = 0; i < d->n_toks; i++) {
        tokinfo *ti = &d->info[i];
        if (ti->n_syn == UINT32_MAX)
            ti->n_syn = word_synonyms(a, d->keys + ti->key_off, ti->key_len, ti->h, &ti->syn);
    }
    if (group_words(d, err) < 0)
        return -1;
    d->have_words = 1;
    return 0;
}

static int ensure_sents(ft_aug_work *w, doc *d, ft_err *err)
{
    if (d->have_sents)
        return 0;
    if (ft_sent_split(w->a->sent, w->m, d->text, d->n, &d->sents, &d->n_sents,
                      &d->sents_cap, err) < 0)
        return -1;
    d->have_sents = 1;
    return 0;
}

static int ensure_hits(ft_aug_work *w, doc *d, ft_err *err)
{
    const ft_perturb *rules = w->a->rules;

    if (d->have_hits)
        return 0;
    if (ensure_sents(w, d, err) < 0)
        return -1;
    d->n_hits = 0;
    for (size_t s = 0; rules && s < d->n_sents; s++) {
        const char *t = d->text + d->sents[s].off;
        for (size_t r = 0; r < ft_perturb_count(rules); r++) {
            int rc = ft_perturb_fires(rules, r, w->m, t, d->sents[s].len, err);
            if (rc < 0)
                return -1;
            if (!rc)
                continue;
            if (ft_grow(&d->hits, &d->hits_cap, d->n_hits + 1, sizeof *d->hits, err) < 0)
                return -1;
            d->hits[d->n_hits].sent = (uint32_t)s;
            d->hits[d->n_hits].rule = (uint32_t)r;
            d->n_hits++;
        }
    }
    d->have_hits = 1;
    return 0;
}

/* --- Items: edit and render ------------------------------------------------ */

static int build_items(ft_aug_work *w, const doc *d, ft_err *err)
{
    if (ft_grow(&w->items, &w->items_cap, d->n_toks + 1, sizeof *w->items, err) < 0)
        return -1;
    for (size_t i = 0; i < d->n_toks; i++) {
        const ft_tok *t = &d->toks[i];
        item *it = &w->items[i];
        /* The first token's own white space leads the text: before it, when
         * something is inserted, goes a plain space. */
        it->sep_off = t->ws;
        it->sep_len = i ? t->off - t->ws : 1;
        it->sep_src = i ? SRC_TEXT : SRC_SPACE;
        it->off = t->off;
        it->len = t->len;
        it->src = SRC_TEXT;
        it->kind = t->kind;
        it->tight = t->tight;
        it->alive = 1;
    }
    w->n_items = d->n_toks;
    w->arena_len = 0;
    return 0;
}

static int out_add(ft_aug_work *w, const char *s, size_t n, ft_err *err)
{
    if (w->out_len + n + 1 > w->out_cap &&
        ft_grow(&w->out, &w->out_cap, w->out_len + n + 1, 1, err) < 0)
        return -1;
    memcpy(w->out + w->out_len, s, n);
    w->out_len += n;
    return 0;
}

static const char *item_str(const ft_aug_work *w, const doc *d, int src, uint32_t off)
{
    return src == SRC_TEXT ? d->text + off : src == SRC_ARENA ? w->arena + off : " ";
}

/* A run of bytes being rendered: pieces that follow each other in memory
 * (unchanged stretches of the text) are copied in one go. */
typedef struct span {
    const char *p;
    size_t len;
} span;

static void emit(ft_aug_work *w, span *sp, const char *p, size_t len)
{
    if (p == sp->p + sp->len) {
        sp->len += len;
        return;
    }
    memcpy(w->out + w->out_len, sp->p, sp->len);
    w->out_len += sp->len;
    sp->p = p;
    sp->len = len;
}

/* Render the items into w->out: the text's leading white space, the items
 * (each after its separator, except the first), the trailing white space.
 * Returns 1 when the result differs from the doc's text, 0 when not. */
static int render_items(ft_aug_work *w, const doc *d, ft_err *err)
{
    const ft_tok *last = &d->toks[d->n_toks - 1];
    size_t need = d->n + 1, end = last->off + last->len;
    span sp = {d->text, d->toks[0].off};
    int first = 1;

    for (size_t i = 0; i < w->n_items; i++)
        need += w->items[i].sep_len + w->items[i].len;
    if (need > w->out_cap && ft_grow(&w->out, &w->out_cap, need, 1, err) < 0)
        return -1;
    w->out_len = 0;
    for (size_t i = 0; i < w->n_items; i++) {
        const item *it = &w->items[i];
        if (!it->alive)
            continue;
        if (!first && it->sep_src != SRC_NONE)
            emit(w, &sp, item_str(w, d, it->sep_src, it->sep_off), it->sep_len);
        emit(w, &sp, item_str(w, d, it->src, it->off), it->len);
        first = 0;
    }
    emit(w, &sp, d->text + end, d->n - end);
    emit(w, &sp, NULL, 0);
    return w->out_len != d->n || memcmp(w->out, d->text, d->n) != 0;
}

/* Append s to the arena, in capitalisation pattern cas; its offset. */
static int64_t arena_add(ft_aug_work *w, int cas, const char *s, size_t n, uint32_t *len,
                         ft_err *err)
{
    if (w->arena_len + 3 * n + 4 > w->arena_cap &&
        ft_grow(&w->arena, &w->arena_cap, w->arena_len + 3 * n + 4, 1, err) < 0)
        return -1;
    size_t off = w->arena_len;
    *len = (uint32_t)ft_words_recase(cas, s, n, w->arena + off);
    w->arena_len += *len;
    return (int64_t)off;
}

static uint32_t count_for(double alpha, uint32_t n_words)
{
    double n = floor(alpha * n_words);
    return n < 1 ? 1 : (uint32_t)n;
}

static int grow_idx(ft_aug_work *w, size_t n, ft_err *err)
{
    return ft_grow(&w->idx, &w->idx_cap, n + 1, sizeof *w->idx, err);
}

/* --- The operations: 1 changed (result in w->out), 0 unchanged, -1 error -- */

static int op_sr(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    const ft_aug_opts *o = &w->a->o;

    if (o->alpha_sr <= 0)
        return 0;
    if (ensure_words(w, d, err) < 0)
        return -1;
    uint32_t n_cand = (uint32_t)d->n_groups;
    if (n_cand == 0)
        return 0;
    if (grow_idx(w, n_cand, err) < 0 ||
        ft_grow(&w->pick, &w->pick_cap, n_cand, sizeof *w->pick, err) < 0 ||
        build_items(w, d, err) < 0)
        return -1;

    /* Draw n distinct words (groups) without replacement, one synonym each. */
    uint32_t n = count_for(o->alpha_sr, d->n_words);
    if (n > n_cand)
        n = n_cand;
    for (uint32_t g = 0; g < n_cand; g++) {
        w->idx[g] = g;
        w->pick[g] = 0;
    }
    for (uint32_t c = 0; c < n; c++) {
        uint32_t j = c + (uint32_t)ft_rng_below(r, n_cand - c), g = w->idx[j];
        w->idx[j] = w->idx[c];
        w->idx[c] = g;
        const tokinfo *ti = &d->info[d->groups[g]];
        w->pick[g] = ti->syn[ft_rng_below(r, ti->n_syn)] + 1;
    }

    /* Every occurrence, in the capitalisation of each. */
    for (size_t i = 0; i < d->n_toks; i++) {
        const tokinfo *ti = &d->info[i];
        size_t syn_len;
        if (!ti->n_syn || !w->pick[ti->group])
            continue;
        const char *syn = ft_syn_str(w->a->syn, w->pick[ti->group] - 1, &syn_len);
        int64_t off = arena_add(w, ti->cas, syn, syn_len, &w->items[i].len, err);
        if (off < 0)
            return -1;
        w->items[i].off = (uint32_t)off;
        w->items[i].src = SRC_ARENA;
        w->items[i].tight = 0;
    }
    return render_items(w, d, err);
}

/* Give item it the separator that goes after an item whose text is tight
 * (prev_tight): nothing between two tight words, else a space. */
static void set_sep(item *it, int prev_tight)
{
    int glue = it->tight && prev_tight;
    it->sep_src = glue ? SRC_NONE : SRC_SPACE;
    it->sep_off = 0;
    it->sep_len = glue ? 0 : 1;
}

static int op_ri(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    uint32_t n_src = 0;

    if (w->a->o.alpha_ri <= 0)
        return 0;
    if (ensure_words(w, d, err) < 0 || grow_idx(w, d->n_toks, err) < 0)
        return -1;
    for (size_t i = 0; i < d->n_toks; i++)
        if (d->info[i].n_syn)
            w->idx[n_src++] = (uint32_t)i;
    if (n_src == 0)
        return 0;
    if (build_items(w, d, err) < 0)
        return -1;

    /* Draw the insertions: a synonym (as spelled) of a random source word,
     * and a gap: before word g, or after the last word (g = n_words). */
    uint32_t n = count_for(w->a->o.alpha_ri, d->n_words), nw = d->n_words;
    if (ft_grow(&w->ins_gap, &w->ins_cap, n, sizeof *w->ins_gap, err) < 0 ||
        ft_grow(&w->ins, &w->ins_items_cap, n, sizeof *w->ins, err) < 0)
        return -1;
    for (uint32_t c = 0; c < n; c++) {
        const tokinfo *ti = &d->info[w->idx[ft_rng_below(r, n_src)]];
        size_t syn_len;
        const char *syn = ft_syn_str(w->a->syn, ti->syn[ft_rng_below(r, ti->n_syn)],
                                     &syn_len);
        item *it = &w->ins[c];
        int32_t cp;
        int64_t off = arena_add(w, FT_CASE_LOWER, syn, syn_len, &it->len, err);
        if (off < 0)
            return -1;
        it->off = (uint32_t)off;
        it->src = SRC_ARENA;
        it->kind = FT_TOK_WORD;
        ft_utf8_decode(syn, 0, &cp);
        it->tight = (uint8_t)ft_words_is_tight(cp);
        it->alive = 1;
        w->ins_gap[c] = (uint32_t)ft_rng_below(r, (uint64_t)nw + 1);
    }

    /* Order the insertions by gap (counting sort, stable): those of gap g
     * are order[start[g] .. start[g + 1]). idx is free again. */
    if (grow_idx(w, (size_t)nw + 2 + n, err) < 0 ||
        ft_grow(&w->items2, &w->items2_cap, w->n_items + n, sizeof *w->items2, err) < 0)
        return -1;
    uint32_t *start = w->idx, *order = w->idx + nw + 2;
    memset(start, 0, ((size_t)nw + 2) * sizeof *start);
    for (uint32_t c = 0; c < n; c++)
        start[w->ins_gap[c] + 1]++;
    for (uint32_t g = 0; g <= nw; g++)
        start[g + 1] += start[g];
    for (uint32_t c = 0; c < n; c++)
        order[start[w->ins_gap[c]]++] = c;
    for (uint32_t g = nw + 1; g > 0; g--)
        start[g] = start[g - 1];
    start[0] = 0;

    /* Merge: the insertions of gap g go before word g, the first taking the
     * word's separator; those of the last gap right behind the last word. */
    size_t m = 0;
    uint32_t word = 0;
    for (size_t i = 0; i < w->n_items; i++) {
        item it = w->items[i];
        if (it.kind != FT_TOK_WORD) {
            w->items2[m++] = it;
            continue;
        }
        uint32_t g = word++;
        int prev_tight = -1;
        for (uint32_t c = start[g]; c < start[g + 1]; c++) {
            item x = w->ins[order[c]];
            if (prev_tight < 0) {
                x.sep_src = it.sep_src;
                x.sep_off = it.sep_off;
                x.sep_len = it.sep_len;
            } else {
                set_sep(&x, prev_tight);
            }
            w->items2[m++] = x;
            prev_tight = x.tight;
        }
        if (prev_tight >= 0)
            set_sep(&it, prev_tight);
        w->items2[m++] = it;
        if (g + 1 < nw)
            continue;
        prev_tight = it.tight;
        for (uint32_t c = start[nw]; c < start[nw + 1]; c++) {
            item x = w->ins[order[c]];
            set_sep(&x, prev_tight);
            w->items2[m++] = x;
            prev_tight = x.tight;
        }
    }

    item *t = w->items;
    size_t t_cap = w->items_cap;
    w->items = w->items2;
    w->items_cap = w->items2_cap;
    w->items2 = t;
    w->items2_cap = t_cap;
    w->n_items = m;
    return render_items(w, d, err);
}

/* The item indices of the words, in w->idx; their count. */
static uint32_t word_items(ft_aug_work *w)
{
    uint32_t n = 0;
    for (size_t i = 0; i < w->n_items; i++)
        if (w->items[i].kind == FT_TOK_WORD)
            w->idx[n++] = (uint32_t)i;
    return n;
}

static int op_rs(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    if (w->a->o.alpha_rs <= 0)
        return 0;
    if (ensure_words(w, d, err) < 0 || grow_idx(w, d->n_toks, err) < 0)
        return -1;
    if (d->n_words < 2)
        return 0;
    if (build_items(w, d, err) < 0)
        return -1;
    uint32_t nw = word_items(w);
    for (uint32_t c = 0, n = count_for(w->a->o.alpha_rs, nw); c < n; c++) {
        uint32_t i = (uint32_t)ft_rng_below(r, nw), j = (uint32_t)ft_rng_below(r, nw - 1);
        if (j >= i)
            j++;

        /* Swap the words, not the white space around them. */
        item *a = &w->items[w->idx[i]], *b = &w->items[w->idx[j]];
        uint32_t off = a->off, len = a->len;
        uint8_t src = a->src, tight = a->tight;
        a->off = b->off, a->len = b->len, a->src = b->src, a->tight = b->tight;
        b->off = off, b->len = len, b->src = src, b->tight = tight;
    }
    return render_items(w, d, err);
}

static int op_rd(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    uint32_t kept = 0;

    if (w->a->o.p_rd <= 0)
        return 0;
    if (ensure_words(w, d, err) < 0 || grow_idx(w, d->n_toks, err) < 0)
        return -1;
    if (d->n_words < 2)
        return 0;
    if (build_items(w, d, err) < 0)
        return -1;
    uint32_t nw = word_items(w);
    for (uint32_t i = 0; i < nw; i++) {
        int del = ft_rng_uniform(r) < w->a->o.p_rd;
        w->items[w->idx[i]].alive = (uint8_t)!del;
        kept += !del;
    }
    /* Never every word: keep one at random, as EDA does. */
    if (kept == 0)
        w->items[w->idx[ft_rng_below(r, nw)]].alive = 1;
    return render_items(w, d, err);
}

/* Render the doc's sentences in order perm, sentence k replaced by (rep,
 * rep_len) when rep is not NULL. Separators stay in place. */
static int render_sents(ft_aug_work *w, const doc *d, const uint32_t *perm, size_t k,
                        const char *rep, size_t rep_len, ft_err *err)
{
    const ft_span *s = d->sents;
    size_t n = d->n_sents;

    w->out_len = 0;
    if (out_add(w, d->text, s[0].off, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t j = perm ? perm[i] : i;
        if (i > 0 && out_add(w, d->text + s[i - 1].off + s[i - 1].len,
                             s[i].off - s[i - 1].off - s[i - 1].len, err) < 0)
            return -1;
        int rc = rep && j == k ? out_add(w, rep, rep_len, err)
                               : out_add(w, d->text + s[j].off, s[j].len, err);
        if (rc < 0)
            return -1;
    }
    size_t end = s[n - 1].off + s[n - 1].len;
    if (out_add(w, d->text + end, d->n - end, err) < 0)
        return -1;
    return w->out_len != d->n || memcmp(w->out, d->text, d->n) != 0;
}

static int op_reorder(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    if (ensure_sents(w, d, err) < 0)
        return -1;
    size_t n = d->n_sents;
    if (n < 2)
        return 0;
    if (grow_idx(w, n, err) < 0)
        return -1;

    /* A uniform shuffle; the identity becomes one random transposition. */
    uint32_t *perm = w->idx;
    int identity = 1;
    for (size_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)ft_rng_below(r, i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (size_t i = 0; i < n && identity; i++)
        identity = perm[i] == i;
    if (identity) {
        size_t i = (size_t)ft_rng_below(r, n), j = (size_t)ft_rng_below(r, n - 1);
        if (j >= i)
            j++;
        perm[i] = (uint32_t)j;
        perm[j] = (uint32_t)i;
    }
    return render_sents(w, d, perm, 0, NULL, 0, err);
}

static int op_perturb(ft_aug_work *w, doc *d, ft_rng *r, ft_err *err)
{
    if (!w->a->rules || ensure_hits(w, d, err) < 0)
        return w->a->rules ? -1 : 0;
    if (d->n_hits == 0)
        return 0;

    /* One (sentence, rule) pair among those that fire, uniformly. */
    const hit *h = &d->hits[ft_rng_below(r, d->n_hits)];
    const ft_span *s = &d->sents[h->sent];
    int rc = ft_perturb_apply(w->a->rules, h->rule, w->m, d->text + s->off, s->len,
                              &w->pbuf, &w->pbuf_len, &w->pbuf_cap, err);
    if (rc <= 0)
        return rc;
    return render_sents(w, d, NULL, h->sent, w->pbuf, w->pbuf_len, err);
}

static int apply_op(ft_aug_work *w, int op, doc *d, ft_rng *r, ft_err *err)
{
    switch (op) {
    case FT_AUG_SR:
        return op_sr(w, d, r, err);
    case FT_AUG_RI:
        return op_ri(w, d, r, err);
    case FT_AUG_RS:
        return op_rs(w, d, r, err);
    case FT_AUG_RD:
        return op_rd(w, d, r, err);
    case FT_AUG_REORDER:
        return op_reorder(w, d, r, err);
    case FT_AUG_PERTURB:
        return op_perturb(w, d, r, err);
    }
    return 0;
}

/* --- Rewrites ------------------------------------------------------------- */

int ft_aug_rewrite(ft_aug_work *w, uint64_t record_seed, uint32_t k, const char **out,
                   size_t *out_len, const char **aug, ft_err *err)
{
    const ft_aug_opts *o = &w->a->o;
    doc *cur = &w->orig;
    ft_rng r;
    int used = 0;
    size_t aug_len = 0;

    /* The record's start in the rotation, then rewrite k's own generator. */
    ft_rng_seed(&r, record_seed, 0);
    uint32_t first = (uint32_t)((ft_rng_below(&r, (uint64_t)o->n_ops) + k - 1) % o->n_ops);
    ft_rng_seed(&r, record_seed, k);

    for (int t = 0; t < o->n_ops && used < o->ops_per_aug; t++) {
        int op = o->ops[(first + (uint32_t)t) % (uint32_t)o->n_ops];
        int rc = apply_op(w, op, cur, &r, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;

        /* Keep the result as the current text: swap it into tmp's buffer. */
        char *t_text = w->tmp_text;
        size_t t_cap = w->tmp_cap;
        w->tmp_text = w->out;
        w->tmp_cap = w->out_cap;
        w->out = t_text;
        w->out_cap = t_cap;
        doc_reset(&w->tmp, w->tmp_text, w->out_len);
        cur = &w->tmp;

        /* At most FT_AUG_N_OPS names of 7 letters and their '+': w->aug fits. */
        if (used)
            w->aug[aug_len++] = '+';
        strcpy(w->aug + aug_len, op_names[op]);
        aug_len += strlen(op_names[op]);
        used++;
    }
    if (!used)
        strcpy(w->aug, op_names[o->ops[first]]);
    *out = cur->text;
    *out_len = cur->n;
    *aug = w->aug;
    return 0;
}
