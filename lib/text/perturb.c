/* perturb: rule files and rule application (see perturb.h). */
#include "text/perturb.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"
#include "text/words.h"

typedef struct rule {
    char *name;
    ft_rx *match;
    ft_rx **unless;
    size_t n_unless, unless_cap;
    char *repl;
    size_t repl_len;
    size_t line;         /* where the rule starts, for messages */
} rule;

struct ft_perturb {
    rule *rules;
    size_t n, cap;
};

ft_perturb *ft_perturb_new(ft_err *err)
{
    return ft_calloc(1, sizeof(ft_perturb), err);
}

static void rule_free(rule *r)
{
    free(r->name);
    ft_rx_free(r->match);
    for (size_t i = 0; i < r->n_unless; i++)
        ft_rx_free(r->unless[i]);
    free(r->unless);
    free(r->repl);
}

void ft_perturb_free(ft_perturb *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
    free(p);
}

static char *dup_n(const char *s, size_t n, ft_err *err)
{
    char *d = ft_malloc(n + 1, err);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* A finished rule has a match and a replacement. */
static int check_rule(const rule *r, const char *name, ft_err *err)
{
    if (!r->match)
        return ft_err_set(err, "%s: line %zu: rule %s has no \"match\"", name, r->line,
                          r->name);
    if (!r->repl)
        return ft_err_set(err, "%s: line %zu: rule %s has no \"replace\"", name, r->line,
                          r->name);
    return 0;
}

/* Apply one directive (keyword, value) to the rule being read. */
static int directive(ft_perturb *p, const char *kw, size_t kw_len, const char *val,
                     size_t val_len, ft_err *err)
{
    rule *r = p->n ? &p->rules[p->n - 1] : NULL;

    if (kw_len == 6 && memcmp(kw, "unless", 6) == 0) {
        if (!r)
            return ft_err_set(err, "\"unless\" before any \"rule\"");
        if (ft_grow(&r->unless, &r->unless_cap, r->n_unless + 1, sizeof *r->unless,
                    err) < 0)
            return -1;
        r->unless[r->n_unless] = ft_rx_compile(val, val_len, err);
        if (!r->unless[r->n_unless])
            return -1;
        r->n_unless++;
        return 0;
    }
    if (kw_len == 5 && memcmp(kw, "match", 5) == 0) {
        if (!r)
            return ft_err_set(err, "\"match\" before any \"rule\"");
        if (r->match)
            return ft_err_set(err, "rule %s has two \"match\" lines", r->name);
        r->match = ft_rx_compile(val, val_len, err);
        return r->match ? 0 : -1;
    }
    if (kw_len == 7 && memcmp(kw, "replace", 7) == 0) {
        if (!r)
            return ft_err_set(err, "\"replace\" before any \"rule\"");
        if (r->repl)
            return ft_err_set(err, "rule %s has two \"replace\" lines", r->name);
        if (ft_rx_check_repl(val, val_len, err) < 0)
            return -1;
        r->repl = dup_n(val, val_len, err);
        r->repl_len = val_len;
        return r->repl ? 0 : -1;
    }
    return ft_err_set(err, "unknown directive \"%.*s\" (expected rule, match, unless or "
                      "replace)", (int)kw_len, kw);
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

int ft_perturb_parse(ft_perturb *p, const char *text, size_t n, const char *name,
                     ft_err *err)
{
    size_t line = 0, first = p->n;
    long bad = ft_utf8_invalid_at(text, n);

    if (bad >= 0) {
        for (long i = 0; i < bad; i++)
            line += text[i] == '\n';
        return ft_err_set(err, "%s: line %zu: invalid UTF-8", name, line + 1);
    }
    for (size_t i = 0; i < n;) {
        size_t a = i, b, k;
        while (i < n && text[i] != '\n')
            i++;
        b = i++;
        line++;

        /* Trim; skip blank and comment lines; split keyword and value. */
        while (a < b && is_ws(text[a]))
            a++;
        while (b > a && is_ws(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        for (k = a; k < b && !is_ws(text[k]);)
            k++;
        size_t kw_len = k - a;
        while (k < b && is_ws(text[k]))
            k++;
        if (k == b)
            return ft_err_set(err, "%s: line %zu: \"%.*s\" needs a value", name, line,
                              (int)kw_len, text + a);

        if (kw_len == 4 && memcmp(text + a, "rule", 4) == 0) {
            /* A new rule: the one before it must be complete. */
            if (p->n > first && check_rule(&p->rules[p->n - 1], name, err) < 0)
                return -1;
            if (ft_grow(&p->rules, &p->cap, p->n + 1, sizeof *p->rules, err) < 0)
                return -1;
            rule *r = &p->rules[p->n];
            memset(r, 0, sizeof *r);
            r->line = line;
            if (!(r->name = dup_n(text + k, b - k, err)))
                return -1;
            p->n++;
            continue;
        }
        if (directive(p, text + a, kw_len, text + k, b - k, err) < 0)
            return ft_err_prefix(err, "%s: line %zu", name, line);
    }
    if (p->n > first)
        return check_rule(&p->rules[p->n - 1], name, err);
    return 0;
}

int ft_perturb_load(ft_perturb *p, const char *path, ft_err *err)
{
    char *text;
    size_t n;

    if (ft_read_file(path, (size_t)64 << 20, &text, &n, err) < 0)
        return -1;
    int rc = ft_perturb_parse(p, text, n, path, err);
    free(text);
    return rc;
}

size_t ft_perturb_count(const ft_perturb *p)
{
    return p->n;
}

const char *ft_perturb_name(const ft_perturb *p, size_t i)
{
    return p->rules[i].name;
}

int ft_perturb_fires(const ft_perturb *p, size_t i, ft_rx_match *m, const char *s,
                     size_t n, ft_err *err)
{
    const rule *r = &p->rules[i];
    size_t a, b;
    int rc = ft_rx_find(r->match, m, s, n, 0, &a, &b, err);

    for (size_t u = 0; rc == 1 && u < r->n_unless; u++) {
        int hit = ft_rx_find(r->unless[u], m, s, n, 0, &a, &b, err);
        rc = hit < 0 ? -1 : hit ? 0 : 1;
    }
    return rc;
}

/* The byte offset of the first cased character of s, or n; its case in
 * *upper. */
static size_t first_cased(const char *s, size_t n, int *upper)
{
    int32_t cp;
    for (size_t i = 0; i < n;) {
        size_t l = ft_utf8_decode(s, i, &cp);
        int c = ft_words_char_case(cp);
        if (c) {
            *upper = c > 0;
            return i;
        }
        i += l;
    }
    return n;
}

/* Upper-case the first letter of out when s's first letter was upper case;
 * the new length, or (size_t)-1 on allocation failure. */
static size_t keep_capital(const char *s, size_t n, char **out, size_t len, size_t *cap,
                           ft_err *err)
{
    int upper = 0, out_upper = 0;
    int32_t cp;
    char up[8];

    if (first_cased(s, n, &upper) == n || !upper)
        return len;
    size_t j = first_cased(*out, len, &out_upper);
    if (j == len || out_upper)
        return len;

    /* Upper case may take more bytes than lower case. */
    size_t l = ft_utf8_decode(*out, j, &cp);
    size_t ul = ft_words_recase(FT_CASE_UPPER, *out + j, l, up);
    if (ul != l) {
        if (ft_grow(out, cap, len + ul - l + 1, 1, err) < 0)
            return (size_t)-1;
        memmove(*out + j + ul, *out + j + l, len - j - l + 1);
    }
    memcpy(*out + j, up, ul);
    return len + ul - l;
}

int ft_perturb_apply(const ft_perturb *p, size_t i, ft_rx_match *m, const char *s, size_t n,
                     char **out, size_t *out_len, size_t *cap, ft_err *err)
{
    const rule *r = &p->rules[i];
    int rc = ft_perturb_fires(p, i, m, s, n, err);

    if (rc <= 0)
        return rc;
    rc = ft_rx_subst(r->match, m, s, n, r->repl, r->repl_len, out, out_len, cap, err);
    if (rc <= 0)
        return rc < 0 ? ft_err_prefix(err, "rule %s", r->name) : 0;
    size_t len = keep_capital(s, n, out, *out_len, cap, err);
    if (len == (size_t)-1)
        return -1;
    *out_len = len;
    return 1;
}
