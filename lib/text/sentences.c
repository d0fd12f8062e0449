/* sentences: the sentence-boundary pattern and the cutting loop (see
 * sentences.h).
 *
 * The pattern matches the end of a sentence: its final punctuation and any
 * closing quotes or brackets, when white space and more text follow. The
 * abbreviations are one negative look-behind (case-insensitive) with one
 * fixed-length branch each, as PCRE2 requires. */
#include "text/sentences.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Words whose full stop does not end a sentence (regex syntax, no final
 * stop). Kept short on purpose: "no." or "in." end sentences too often. */
static const char *const abbrevs[] = {
    "mr", "mrs", "ms", "mx", "dr", "prof", "sr", "jr", "st", "mt", "rev", "hon",
    "gen", "gov", "sen", "rep", "capt", "col", "lt", "sgt", "cmdr", "adm", "vs",
    "etc", "e\\.g", "i\\.e", "cf", "al", "approx", "dept", "fig", "figs", "inc",
    "ltd", "corp", "vol", "pp", "ca", "jan", "feb", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "u\\.s", "u\\.k", "u\\.n", "a\\.m", "p\\.m",
    "ph\\.d",
};

struct ft_sentencer {
    ft_rx *end;
};

/* Build the pattern text into buf (size cap). */
static size_t build_pattern(char *buf, size_t cap)
{
    size_t n = 0;
    n += (size_t)snprintf(buf + n, cap - n, "(?:[!?]+|(?<!(?i)");
    for (size_t i = 0; i < sizeof abbrevs / sizeof *abbrevs; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s\\b%s", i ? "|" : "", abbrevs[i]);
    n += (size_t)snprintf(buf + n, cap - n,
                          ")(?<!\\b\\p{Lu})(?<![.])\\.(?!\\.)"
                          "|(?<![.])(?:\\.{2,}+|\u2026)(?!\\s+\\p{Ll}))"
                          "[.!?\u2026]*[\"'\u201d\u2019\u00bb)\\]]*(?=\\s+\\S)");
    return n;
}

ft_sentencer *ft_sent_new(ft_err *err)
{
    char buf[2048];
    ft_sentencer *s = ft_calloc(1, sizeof *s, err);

    if (!s)
        return NULL;
    size_t n = build_pattern(buf, sizeof buf);
    s->end = ft_rx_compile(buf, n, err);
    if (!s->end) {
        ft_err_prefix(err, "sentence pattern");
        free(s);
        return NULL;
    }
    return s;
}

void ft_sent_free(ft_sentencer *s)
{
    if (!s)
        return;
    ft_rx_free(s->end);
    free(s);
}

static int is_space_at(const char *t, size_t n, size_t i, size_t *len)
{
    unsigned char c = (unsigned char)t[i];
    if (c == ' ' || (c >= '\t' && c <= '\r')) {
        *len = 1;
        return 1;
    }
    /* No-break and other Unicode spaces the pattern's \s also knows. */
    if (c == 0xc2 && i + 1 < n && ((unsigned char)t[i + 1] == 0xa0 ||
                                   (unsigned char)t[i + 1] == 0x85)) {
        *len = 2;
        return 1;
    }
    if (c == 0xe2 && i + 2 < n && (unsigned char)t[i + 1] == 0x80 &&
        (((unsigned char)t[i + 2] >= 0x80 && (unsigned char)t[i + 2] <= 0x8a) ||
         (unsigned char)t[i + 2] == 0xa8 || (unsigned char)t[i + 2] == 0xa9 ||
         (unsigned char)t[i + 2] == 0xaf)) {
        *len = 3;
        return 1;
    }
    if (c == 0xe3 && i + 2 < n && (unsigned char)t[i + 1] == 0x80 &&
        (unsigned char)t[i + 2] == 0x80) {
        *len = 3;
        return 1;
    }
    return 0;
}

static size_t skip_space(const char *t, size_t n, size_t i)
{
    size_t len;
    while (i < n && is_space_at(t, n, i, &len))
        i += len;
    return i;
}

static int push(ft_span **out, size_t *n_out, size_t *cap, size_t a, size_t b, ft_err *err)
{
    if (ft_grow(out, cap, *n_out + 1, sizeof **out, err) < 0)
        return -1;
    (*out)[*n_out].off = (uint32_t)a;
    (*out)[*n_out].len = (uint32_t)(b - a);
    (*n_out)++;
    return 0;
}

int ft_sent_split(const ft_sentencer *s, ft_rx_match *m, const char *text, size_t n,
                  ft_span **out, size_t *n_out, size_t *cap, ft_err *err)
{
    size_t a = skip_space(text, n, 0), end = n;

    *n_out = 0;
    if (n >= UINT32_MAX)
        return ft_err_set(err, "text of %zu bytes is too long", n);

    /* The text's trailing white space belongs to no sentence. */
    while (end > a) {
        size_t i = end - 1, len;
        while (i > a && ((unsigned char)text[i] & 0xc0) == 0x80)
            i--;
        if (!is_space_at(text, n, i, &len))
            break;
        end = i;
    }
    while (a < end) {
        size_t ms, me;
        int rc = ft_rx_find(s->end, m, text, end, a, &ms, &me, err);
        if (rc < 0)
            return -1;
        if (rc == 0 || me >= end) {
            if (push(out, n_out, cap, a, end, err) < 0)
                return -1;
            break;
        }
        if (push(out, n_out, cap, a, me, err) < 0)
            return -1;
        a = skip_space(text, end, me);
    }
    return 0;
}
