/* normalizer: tokenizer normalizers (see normalizer.h).
 *
 * Each step reads the previous step's text and writes into one of two
 * buffers used in turn; ASCII text skips the Unicode forms, which leave it
 * unchanged. */
#define _GNU_SOURCE /* memmem */
#include "text/normalizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/pattern.h"

enum kind { N_FORM, N_LOWER, N_PREPEND, N_REPLACE, N_STRIP, N_ACCENTS };

typedef struct nstep {
    int kind;
    int form;
    int left, right;
    char *s;             /* prepend text, or literal to replace */
    char *content;       /* replacement */
    ft_pattern *re;
} nstep;

struct ft_normalizer {
    nstep *steps;
    size_t n_steps, cap_steps;
    char *buf[2];
    size_t cap[2];
};

ft_normalizer *ft_normalizer_new(ft_err *err)
{
    return ft_calloc(1, sizeof(ft_normalizer), err);
}

void ft_normalizer_free(ft_normalizer *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_steps; i++) {
        free(n->steps[i].s);
        free(n->steps[i].content);
        ft_pattern_free(n->steps[i].re);
    }
    free(n->steps);
    free(n->buf[0]);
    free(n->buf[1]);
    free(n);
}

size_t ft_normalizer_steps(const ft_normalizer *n)
{
    return n->n_steps;
}

static nstep *add(ft_normalizer *n, int kind, ft_err *err)
{
    if (ft_grow(&n->steps, &n->cap_steps, n->n_steps + 1, sizeof *n->steps, err) < 0)
        return NULL;
    nstep *s = &n->steps[n->n_steps++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    return s;
}

int ft_normalizer_add_form(ft_normalizer *n, int form, ft_err *err)
{
    nstep *s = add(n, N_FORM, err);
    if (!s)
        return -1;
    s->form = form;
    return 0;
}

int ft_normalizer_add_lowercase(ft_normalizer *n, ft_err *err)
{
    return add(n, N_LOWER, err) ? 0 : -1;
}

int ft_normalizer_add_prepend(ft_normalizer *n, const char *str, ft_err *err)
{
    char *copy = ft_strdup(str, err);
    nstep *s = copy ? add(n, N_PREPEND, err) : NULL;
    if (!s) {
        free(copy);
        return -1;
    }
    s->s = copy;
    return 0;
}

int ft_normalizer_add_replace(ft_normalizer *n, const char *pattern, int regex,
                              const char *content, ft_err *err)
{
    ft_pattern *re = NULL;
    char *lit = NULL, *rep = ft_strdup(content, err);
    if (!rep)
        return -1;
    if (regex)
        re = ft_pattern_new(pattern, err);
    else
        lit = ft_strdup(pattern, err);
    nstep *s = (re || lit) ? add(n, N_REPLACE, err) : NULL;
    if (!s) {
        free(rep);
        free(lit);
        ft_pattern_free(re);
        return -1;
    }
    s->s = lit;
    s->re = re;
    s->content = rep;
    return 0;
}

int ft_normalizer_add_strip(ft_normalizer *n, int left, int right, ft_err *err)
{
    nstep *s = add(n, N_STRIP, err);
    if (!s)
        return -1;
    s->left = left;
    s->right = right;
    return 0;
}

int ft_normalizer_add_strip_accents(ft_normalizer *n, ft_err *err)
{
    return add(n, N_ACCENTS, err) ? 0 : -1;
}

/* --- Running -------------------------------------------------------------- */

typedef struct out {
    char **buf;
    size_t *cap;
    size_t len;
} out;

static int put(out *o, const void *s, size_t n, ft_err *err)
{
    if (ft_grow(o->buf, o->cap, o->len + n + 1, 1, err) < 0)
        return -1;
    memcpy(*o->buf + o->len, s, n);
    o->len += n;
    return 0;
}

static int put_cp(out *o, utf8proc_int32_t c, ft_err *err)
{
    utf8proc_uint8_t b[4];
    utf8proc_ssize_t k = utf8proc_encode_char(c, b);
    return put(o, b, (size_t)k, err);
}

static int is_white(utf8proc_int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static int ascii(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] >= 0x80)
            return 0;
    return 1;
}

static int run_form(const nstep *s, const char *t, size_t n, out *o, ft_err *err)
{
    static const utf8proc_option_t opts[] = {
        UTF8PROC_STABLE | UTF8PROC_COMPOSE, UTF8PROC_STABLE | UTF8PROC_DECOMPOSE,
        UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT,
        UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT};
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t k = utf8proc_map((const utf8proc_uint8_t *)t, (utf8proc_ssize_t)n, &dst,
                                      opts[s->form]);
    if (k < 0)
        return ft_err_set(err, "normalizing: %s", utf8proc_errmsg(k));
    int rc = put(o, dst, (size_t)k, err);
    free(dst);
    return rc;
}

/* Code point by code point: lowercase, or drop combining marks. */
static int run_chars(const nstep *s, const char *t, size_t n, out *o, ft_err *err)
{
    for (size_t i = 0; i < n;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + i, n - i, &c);
        if (k <= 0)
            k = 1, c = 0xFFFD;
        i += k;
        if (s->kind == N_LOWER) {
            if (put_cp(o, utf8proc_tolower(c), err) < 0)
                return -1;
            continue;
        }
        utf8proc_category_t cat = utf8proc_category(c);
        if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
            cat == UTF8PROC_CATEGORY_ME)
            continue;
        if (put_cp(o, c, err) < 0)
            return -1;
    }
    return 0;
}

static int run_replace(const nstep *s, const char *t, size_t n, out *o, ft_err *err)
{
    size_t prev = 0, start = 0, ms, me, cl = strlen(s->content);
    for (;;) {
        int rc;
        if (s->re) {
            rc = ft_pattern_find(s->re, t, n, start, &ms, &me, err);
            if (rc < 0)
                return -1;
        } else {
            size_t ll = strlen(s->s);
            const char *hit = ll && start <= n ? memmem(t + start, n - start, s->s, ll) : NULL;
            rc = hit != NULL;
            if (hit)
                ms = (size_t)(hit - t), me = ms + ll;
        }
        if (rc == 0)
            break;
        if (put(o, t + prev, ms - prev, err) < 0 || put(o, s->content, cl, err) < 0)
            return -1;
        prev = me;
        if (me > ms)
            start = me;
        else if (me < n)  /* a regex's empty match: step one character on */
            start = me + utf8proc_utf8class[(unsigned char)t[me]];
        else
            break;
    }
    return put(o, t + prev, n - prev, err);
}

static int run_strip(const nstep *s, const char *t, size_t n, out *o, ft_err *err)
{
    size_t a = 0, b = n;
    while (s->left && a < b) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + a, b - a, &c);
        if (k <= 0 || !is_white(c))
            break;
        a += k;
    }
    while (s->right && b > a) {
        size_t j = b - 1;
        while (j > a && ((unsigned char)t[j] & 0xC0) == 0x80)
            j--;
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)t + j, b - j, &c);
        if (k <= 0 || !is_white(c))
            break;
        b = j;
    }
    return put(o, t + a, b - a, err);
}

int ft_normalizer_run(ft_normalizer *n, const char *text, size_t len, const char **res,
                      size_t *res_len, ft_err *err)
{
    const char *t = text;
    size_t tl = len;
    int which = 0;
    for (size_t i = 0; i < n->n_steps; i++) {
        const nstep *s = &n->steps[i];
        if (s->kind == N_FORM && ascii(t, tl))
            continue;
        if (s->kind == N_PREPEND && tl == 0)
            continue;
        out o = {&n->buf[which], &n->cap[which], 0};
        int rc = 0;
        switch (s->kind) {
        case N_FORM:
            rc = run_form(s, t, tl, &o, err);
            break;
        case N_LOWER:
        case N_ACCENTS:
            rc = run_chars(s, t, tl, &o, err);
            break;
        case N_PREPEND:
            rc = put(&o, s->s, strlen(s->s), err) < 0 ? -1 : put(&o, t, tl, err);
            break;
        case N_REPLACE:
            rc = run_replace(s, t, tl, &o, err);
            break;
        case N_STRIP:
            rc = run_strip(s, t, tl, &o, err);
            break;
        }
        if (rc < 0)
            return -1;
        if (put(&o, "", 0, err) < 0)
            return -1;
        t = n->buf[which];
        tl = o.len;
        which = !which;
    }
    *res = t;
    *res_len = tl;
    return 0;
}
