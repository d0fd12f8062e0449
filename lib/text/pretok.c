/* pretok: pre-tokenizer chains (see pretok.h).
 *
 * A step turns each piece into segments, each a match of its pattern or a
 * gap between matches, and the split behavior decides which segments become
 * pieces and which are glued together, as Hugging Face's
 * NormalizedString::split does. Pieces live in an arena as offsets, since
 * some steps rewrite text. A chain of one isolating regex (GPT-2, Llama 3,
 * Qwen2) skips the arena and hands out slices of the input. */
#define _GNU_SOURCE /* memmem */
#include "text/pretok.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/pattern.h"

enum step_kind { S_REGEX, S_LITERAL, S_BYTELEVEL, S_DIGITS, S_METASPACE, S_WS, S_WSSPLIT };

typedef struct step {
    int kind;
    int behavior, invert;
    ft_pattern *re;        /* S_REGEX, S_BYTELEVEL with regex, S_WS */
    char *lit;             /* S_LITERAL; S_METASPACE: the replacement */
    size_t lit_len;
    int prefix_space;      /* S_BYTELEVEL */
    int individual;        /* S_DIGITS */
    int prepend, split;    /* S_METASPACE */
} step;

typedef struct piece {
    size_t off, len;
    int at_start;
} piece;

typedef struct seg {
    size_t start, end;
    int is_match;
} seg;

struct ft_pretok {
    step *steps;
    size_t n_steps, cap_steps;
    char *arena;
    size_t arena_len, arena_cap;
    piece *cur, *out;
    size_t n_cur, cap_cur, n_out, cap_out;
    seg *segs;
    size_t n_segs, cap_segs;
};

ft_pretok *ft_pretok_new(ft_err *err)
{
    return ft_calloc(1, sizeof(ft_pretok), err);
}

void ft_pretok_free(ft_pretok *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_steps; i++) {
        ft_pattern_free(p->steps[i].re);
        free(p->steps[i].lit);
    }
    free(p->steps);
    free(p->arena);
    free(p->cur);
    free(p->out);
    free(p->segs);
    free(p);
}

int ft_pretok_behavior(const char *name)
{
    static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext",
                                  "Contiguous"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

size_t ft_pretok_steps(const ft_pretok *p)
{
    return p->n_steps;
}

static step *new_step(ft_pretok *p, int kind, ft_err *err)
{
    if (ft_grow(&p->steps, &p->cap_steps, p->n_steps + 1, sizeof *p->steps, err) < 0)
        return NULL;
    step *s = &p->steps[p->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

int ft_pretok_add_regex(ft_pretok *p, const char *pattern, int behavior, int invert,
                        ft_err *err)
{
    ft_pattern *re = ft_pattern_new(pattern, err);
    if (!re)
        return -1;
    step *s = new_step(p, S_REGEX, err);
    if (!s) {
        ft_pattern_free(re);
        return -1;
    }
    s->re = re;
    s->behavior = behavior;
    s->invert = invert;
    return 0;
}

int ft_pretok_add_literal(ft_pretok *p, const char *lit, int behavior, int invert, ft_err *err)
{
    char *copy = ft_strdup(lit, err);
    step *s = copy ? new_step(p, S_LITERAL, err) : NULL;
    if (!s) {
        free(copy);
        return -1;
    }
    s->lit = copy;
    s->lit_len = strlen(copy);
    s->behavior = behavior;
    s->invert = invert;
    return 0;
}

int ft_pretok_add_bytelevel(ft_pretok *p, int add_prefix_space, int use_regex, ft_err *err)
{
    if (!add_prefix_space && !use_regex)
        return 0;
    ft_pattern *re = NULL;
    if (use_regex && !(re = ft_pattern_new(ft_pattern_gpt2, err)))
        return -1;
    step *s = new_step(p, S_BYTELEVEL, err);
    if (!s) {
        ft_pattern_free(re);
        return -1;
    }
    s->re = re;
    s->prefix_space = add_prefix_space;
    s->behavior = FT_SPLIT_ISOLATED;
    return 0;
}

int ft_pretok_add_digits(ft_pretok *p, int individual, ft_err *err)
{
    step *s = new_step(p, S_DIGITS, err);
    if (!s)
        return -1;
    s->individual = individual;
    s->behavior = individual ? FT_SPLIT_ISOLATED : FT_SPLIT_CONTIGUOUS;
    return 0;
}

int ft_pretok_add_metaspace(ft_pretok *p, const char *replacement, int prepend, int split,
                            ft_err *err)
{
    char *copy = ft_strdup(replacement, err);
    step *s = copy ? new_step(p, S_METASPACE, err) : NULL;
    if (!s) {
        free(copy);
        return -1;
    }
    s->lit = copy;
    s->lit_len = strlen(copy);
    s->prepend = prepend;
    s->split = split;
    s->behavior = FT_SPLIT_MERGED_NEXT;
    return 0;
}

int ft_pretok_add_whitespace(ft_pretok *p, int split_only, ft_err *err)
{
    ft_pattern *re = NULL;
    if (!split_only && !(re = ft_pattern_new("\\w+|[^\\w\\s]+", err)))
        return -1;
    step *s = new_step(p, split_only ? S_WSSPLIT : S_WS, err);
    if (!s) {
        ft_pattern_free(re);
        return -1;
    }
    s->re = re;
    s->behavior = FT_SPLIT_REMOVED;
    s->invert = !split_only;
    return 0;
}

/* --- Segments ------------------------------------------------------------ */

static int push_seg(ft_pretok *p, size_t start, size_t end, int is_match, ft_err *err)
{
    if (ft_grow(&p->segs, &p->cap_segs, p->n_segs + 1, sizeof *p->segs, err) < 0)
        return -1;
    p->segs[p->n_segs++] = (seg){start, end, is_match};
    return 0;
}

static inline size_t utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Record a match [ms, me) after the gap since *prev. */
static int add_match(ft_pretok *p, size_t *prev, size_t ms, size_t me, ft_err *err)
{
    if (*prev < ms && push_seg(p, *prev, ms, 0, err) < 0)
        return -1;
    if (push_seg(p, ms, me, 1, err) < 0)
        return -1;
    *prev = me;
    return 0;
}

static int regex_segs(ft_pretok *p, ft_pattern *re, const char *t, size_t n, ft_err *err)
{
    size_t start = 0, prev = 0, ms, me;
    for (;;) {
        int rc = ft_pattern_find(re, t, n, start, &ms, &me, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        if (add_match(p, &prev, ms, me, err) < 0)
            return -1;
        if (me > ms)
            start = me;
        else if (me < n)
            start = me + utf8_len((unsigned char)t[me]);
        else
            break;
    }
    if (prev < n && push_seg(p, prev, n, 0, err) < 0)
        return -1;
    return 0;
}

static int literal_segs(ft_pretok *p, const char *lit, size_t ll, const char *t, size_t n,
                        ft_err *err)
{
    size_t prev = 0, i = 0;
    while (ll > 0 && i + ll <= n) {
        const char *hit = memmem(t + i, n - i, lit, ll);
        if (!hit)
            break;
        size_t ms = (size_t)(hit - t);
        if (add_match(p, &prev, ms, ms + ll, err) < 0)
            return -1;
        i = ms + ll;
    }
    if (prev < n && push_seg(p, prev, n, 0, err) < 0)
        return -1;
    return 0;
}

static int is_white(utf8proc_int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int is_numeric(utf8proc_int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

/* Every character for which test() holds is a match of its own. */
static int char_segs(ft_pretok *p, int (*test)(utf8proc_int32_t), const char *t, size_t n,
                     ft_err *err)
{
    size_t prev = 0;
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + i, n - i, &c);
        if (k <= 0)
            k = 1, c = 0xFFFD;
        if (test(c) && add_match(p, &prev, i, i + k, err) < 0)
            return -1;
        i += k;
    }
    if (prev < n && push_seg(p, prev, n, 0, err) < 0)
        return -1;
    return 0;
}

/* --- Pieces ----------------------------------------------------------- */

static int push_out(ft_pretok *p, size_t off, size_t len, int at_start, ft_err *err)
{
    if (len == 0)
        return 0;
    if (ft_grow(&p->out, &p->cap_out, p->n_out + 1, sizeof *p->out, err) < 0)
        return -1;
    p->out[p->n_out++] = (piece){off, len, at_start};
    return 0;
}

/* Turn the segments of a piece at base into pieces by behavior. */
static int apply_behavior(ft_pretok *p, size_t base, int at_start, int behavior, int invert,
                          ft_err *err)
{
    seg *s = p->segs;
    size_t n = p->n_segs, first = p->n_out;
    if (invert)
        for (size_t i = 0; i < n; i++)
            s[i].is_match = !s[i].is_match;
    if (behavior == FT_SPLIT_MERGED_NEXT) {
        /* Walk backwards; a match joins the piece after it. */
        int prev_match = 0;
        for (size_t i = n; i-- > 0;) {
            if (s[i].is_match && !prev_match && p->n_out > first)
                p->out[p->n_out - 1].off = base + s[i].start,
                p->out[p->n_out - 1].len += s[i].end - s[i].start;
            else if (ft_grow(&p->out, &p->cap_out, p->n_out + 1, sizeof *p->out, err) < 0)
                return -1;
            else
                p->out[p->n_out++] = (piece){base + s[i].start, s[i].end - s[i].start, 0};
            prev_match = s[i].is_match;
        }
        for (size_t i = first, j = p->n_out; i < --j; i++) {
            piece t = p->out[i];
            p->out[i] = p->out[j];
            p->out[j] = t;
        }
    } else {
        int prev_match = 0;
        for (size_t i = 0; i < n; i++) {
            int glue = 0;
            if (behavior == FT_SPLIT_REMOVED && s[i].is_match)
                continue;
            if (behavior == FT_SPLIT_MERGED_PREV)
                glue = s[i].is_match && !prev_match;
            if (behavior == FT_SPLIT_CONTIGUOUS)
                glue = s[i].is_match && prev_match;
            if (glue && p->n_out > first) {
                p->out[p->n_out - 1].len = base + s[i].end - p->out[p->n_out - 1].off;
            } else {
                if (ft_grow(&p->out, &p->cap_out, p->n_out + 1, sizeof *p->out, err) < 0)
                    return -1;
                p->out[p->n_out++] = (piece){base + s[i].start, s[i].end - s[i].start, 0};
            }
            prev_match = s[i].is_match;
        }
    }

    /* Drop empty pieces; the first one keeps the input's start flag. */
    size_t k = first;
    for (size_t i = first; i < p->n_out; i++) {
        if (p->out[i].len == 0)
            continue;
        p->out[i].at_start = at_start && p->out[i].off == base;
        p->out[k++] = p->out[i];
    }
    p->n_out = k;
    return 0;
}

/* Append bytes (not from the arena itself) to the arena; returns their
 * offset or (size_t)-1. */
static size_t arena_add(ft_pretok *p, const char *s, size_t n, ft_err *err)
{
    if (ft_grow(&p->arena, &p->arena_cap, p->arena_len + n + 1, 1, err) < 0)
        return (size_t)-1;
    memcpy(p->arena + p->arena_len, s, n);
    p->arena_len += n;
    return p->arena_len - n;
}

/* Metaspace: copy the piece with spaces replaced (and maybe prepended). */
static int metaspace_rewrite(ft_pretok *p, const step *st, piece *pc, ft_err *err)
{
    size_t spaces = 0;
    for (size_t i = 0; i < pc->len; i++)
        spaces += p->arena[pc->off + i] == ' ';
    size_t need = pc->len + (spaces + 1) * st->lit_len;
    if (ft_grow(&p->arena, &p->arena_cap, p->arena_len + need + 1, 1, err) < 0)
        return -1;
    char *src = p->arena + pc->off, *dst = p->arena + p->arena_len;
    size_t k = 0;
    for (size_t i = 0; i < pc->len; i++) {
        if (src[i] == ' ') {
            memcpy(dst + k, st->lit, st->lit_len);
            k += st->lit_len;
        } else {
            dst[k++] = src[i];
        }
    }
    int starts = k >= st->lit_len && memcmp(dst, st->lit, st->lit_len) == 0;
    if (!starts && (st->prepend == FT_PREPEND_ALWAYS ||
                    (st->prepend == FT_PREPEND_FIRST && pc->at_start))) {
        memmove(dst + st->lit_len, dst, k);
        memcpy(dst, st->lit, st->lit_len);
        k += st->lit_len;
    }
    pc->off = p->arena_len;
    pc->len = k;
    p->arena_len += k;
    return 0;
}

static int run_step(ft_pretok *p, const step *st, piece pc, ft_err *err)
{
    int rc = 0;
    p->n_segs = 0;
    if (st->kind == S_BYTELEVEL && st->prefix_space &&
        (pc.len == 0 || p->arena[pc.off] != ' ')) {
        if (ft_grow(&p->arena, &p->arena_cap, p->arena_len + pc.len + 2, 1, err) < 0)
            return -1;
        p->arena[p->arena_len] = ' ';
        memcpy(p->arena + p->arena_len + 1, p->arena + pc.off, pc.len);
        pc.off = p->arena_len;
        pc.len++;
        p->arena_len += pc.len;
    }
    if (st->kind == S_METASPACE) {
        if (metaspace_rewrite(p, st, &pc, err) < 0)
            return -1;
        if (!st->split)
            return push_out(p, pc.off, pc.len, pc.at_start, err);
    }

    const char *t = p->arena + pc.off;
    switch (st->kind) {
    case S_REGEX:
    case S_WS:
        rc = regex_segs(p, st->re, t, pc.len, err);
        break;
    case S_BYTELEVEL:
        if (!st->re)
            return push_out(p, pc.off, pc.len, pc.at_start, err);
        rc = regex_segs(p, st->re, t, pc.len, err);
        break;
    case S_LITERAL:
    case S_METASPACE:
        rc = literal_segs(p, st->lit, st->lit_len, t, pc.len, err);
        break;
    case S_DIGITS:
        rc = char_segs(p, is_numeric, t, pc.len, err);
        break;
    case S_WSSPLIT:
        rc = char_segs(p, is_white, t, pc.len, err);
        break;
    }
    if (rc < 0)
        return -1;
    return apply_behavior(p, pc.off, pc.at_start, st->behavior, st->invert, err);
}

/* One isolating (or match-keeping) regex: slices of the input, no arena. */
static int run_fast(ft_pretok *p, const step *st, const char *t, size_t n, ft_pretok_fn fn,
                    void *ctx, ft_err *err)
{
    (void)p;
    size_t start = 0, prev = 0, ms, me;
    int gaps = st->behavior == FT_SPLIT_ISOLATED, rc;
    for (;;) {
        rc = ft_pattern_find(st->re, t, n, start, &ms, &me, err);
        if (rc <= 0)
            break;
        if (gaps && prev < ms && (rc = fn(ctx, t + prev, ms - prev, err)) != 0)
            return rc;
        if (me > ms && (rc = fn(ctx, t + ms, me - ms, err)) != 0)
            return rc;
        prev = me;
        if (me > ms)
            start = me;
        else if (me < n)
            start = me + utf8_len((unsigned char)t[me]);
        else
            break;
    }
    if (rc < 0)
        return -1;
    if (gaps && prev < n)
        return fn(ctx, t + prev, n - prev, err);
    return 0;
}

int ft_pretok_run(ft_pretok *p, const char *text, size_t n, int at_start, ft_pretok_fn fn,
                  void *ctx, ft_err *err)
{
    if (n == 0)
        return 0;
    if (p->n_steps == 0)
        return fn(ctx, text, n, err);
    const step *s0 = &p->steps[0];
    if (p->n_steps == 1 && s0->re && !s0->prefix_space &&
        ((s0->behavior == FT_SPLIT_ISOLATED && !s0->invert) ||
         (s0->behavior == FT_SPLIT_REMOVED && s0->invert)))
        return run_fast(p, s0, text, n, fn, ctx, err);

    /* The general chain: pieces as offsets into the arena. */
    p->arena_len = 0;
    if (arena_add(p, text, n, err) == (size_t)-1)
        return -1;
    p->n_cur = 0;
    if (ft_grow(&p->cur, &p->cap_cur, 1, sizeof *p->cur, err) < 0)
        return -1;
    p->cur[p->n_cur++] = (piece){0, n, at_start};
    for (size_t k = 0; k < p->n_steps; k++) {
        p->n_out = 0;
        for (size_t i = 0; i < p->n_cur; i++)
            if (run_step(p, &p->steps[k], p->cur[i], err) < 0)
                return -1;
        piece *t = p->cur;
        size_t tc = p->cap_cur;
        p->cur = p->out;
        p->cap_cur = p->cap_out;
        p->n_cur = p->n_out;
        p->out = t;
        p->cap_out = tc;
    }
    for (size_t i = 0; i < p->n_cur; i++) {
        int rc = fn(ctx, p->arena + p->cur[i].off, p->cur[i].len, err);
        if (rc != 0)
            return rc;
    }
    return 0;
}
