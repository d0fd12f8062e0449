/* rx: PCRE2 wrapper (see rx.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/rx.h"

#include <pcre2.h>
#include <stdlib.h>

struct ft_rx {
    pcre2_code *code;
};

struct ft_rx_match {
    pcre2_match_data *md;
};

/* Groups that did not take part, or do not exist, are replaced by nothing:
 * a rule file is checked when loaded (ft_rx_check_repl) and never makes a
 * record fail later. */
#define SUBST_OPTS (PCRE2_SUBSTITUTE_EXTENDED | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | \
                    PCRE2_SUBSTITUTE_UNSET_EMPTY | PCRE2_SUBSTITUTE_UNKNOWN_UNSET)

/* Enough capture pairs for any pattern a rule file may hold. */
#define RX_OVECTOR_PAIRS 100

ft_rx *ft_rx_compile(const char *pattern, size_t len, ft_err *err)
{
    int code;
    PCRE2_SIZE at;
    ft_rx *rx = ft_calloc(1, sizeof *rx, err);

    if (!rx)
        return NULL;
    rx->code = pcre2_compile((PCRE2_SPTR)pattern, len, PCRE2_UTF | PCRE2_UCP, &code, &at,
                             NULL);
    if (!rx->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        ft_err_set(err, "%.*s: at offset %zu: %s", (int)(len > 200 ? 200 : len), pattern,
                   (size_t)at, (const char *)msg);
        free(rx);
        return NULL;
    }
    /* JIT is an optimisation only: without it matching is slower, not wrong. */
    pcre2_jit_compile(rx->code, PCRE2_JIT_COMPLETE);
    return rx;
}

void ft_rx_free(ft_rx *rx)
{
    if (!rx)
        return;
    pcre2_code_free(rx->code);
    free(rx);
}

ft_rx_match *ft_rx_match_new(ft_err *err)
{
    ft_rx_match *m = ft_calloc(1, sizeof *m, err);
    if (!m)
        return NULL;
    m->md = pcre2_match_data_create(RX_OVECTOR_PAIRS, NULL);
    if (!m->md) {
        free(m);
        ft_err_set(err, "out of memory (regex match data)");
        return NULL;
    }
    return m;
}

void ft_rx_match_free(ft_rx_match *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    free(m);
}

static int match_error(int rc, ft_err *err)
{
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return ft_err_set(err, "regular expression: %s", (const char *)msg);
}

int ft_rx_find(const ft_rx *rx, ft_rx_match *m, const char *s, size_t n, size_t start,
               size_t *m_start, size_t *m_end, ft_err *err)
{
    int rc = pcre2_match(rx->code, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, m->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0)
        return match_error(rc, err);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    *m_start = ov[0];
    *m_end = ov[1];
    return 1;
}

int ft_rx_subst(const ft_rx *rx, ft_rx_match *m, const char *s, size_t n, const char *repl,
                size_t repl_len, char **out, size_t *out_len, size_t *cap, ft_err *err)
{
    uint32_t opts = SUBST_OPTS | PCRE2_NO_UTF_CHECK;

    /* Two tries at most: the first reports the size when the buffer is short. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ft_grow(out, cap, n + repl_len + 64, 1, err) < 0)
            return -1;
        PCRE2_SIZE len = *cap;
        int rc = pcre2_substitute(rx->code, (PCRE2_SPTR)s, n, 0, opts, m->md, NULL,
                                  (PCRE2_SPTR)repl, repl_len, (PCRE2_UCHAR *)*out, &len);
        if (rc == 0)
            return 0;
        if (rc > 0) {
            *out_len = len;
            return 1;
        }
        if (rc != PCRE2_ERROR_NOMEMORY)
            return match_error(rc, err);
        if (ft_grow(out, cap, len + 1, 1, err) < 0)
            return -1;
    }
    return ft_err_set(err, "regular expression: substitution result keeps growing");
}

int ft_rx_check_repl(const char *repl, size_t repl_len, ft_err *err)
{
    ft_rx_match *m = ft_rx_match_new(err);
    ft_rx *empty = m ? ft_rx_compile("", 0, err) : NULL;
    char *out = NULL;
    size_t out_len, cap = 0;
    int rc = -1;

    /* An empty pattern matches the empty subject: only the syntax is tried. */
    if (empty)
        rc = ft_rx_subst(empty, m, "", 0, repl, repl_len, &out, &out_len, &cap, err);
    if (rc < 0 && empty)
        ft_err_prefix(err, "replacement %.*s", (int)(repl_len > 200 ? 200 : repl_len), repl);
    free(out);
    ft_rx_free(empty);
    ft_rx_match_free(m);
    return rc < 0 ? -1 : 0;
}
