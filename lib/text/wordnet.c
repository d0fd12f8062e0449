/* wordnet: synsets of the WordNet data files (see wordnet.h).
 *
 * A data line is
 *     offset lex_filenum ss_type w_cnt word lex_id [word lex_id ...] p_cnt ...
 * with w_cnt and lex_id in hexadecimal; only the words are read, the rest of
 * the line (pointers, frames, gloss) is skipped. Lines starting with spaces
 * are the licence header. */
#include "text/wordnet.h"

#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"

const char *ft_wordnet_default_dir(void)
{
    const char *d = getenv("WNSEARCHDIR");
    return d && *d ? d : "/usr/share/wordnet";
}

/* The next space-separated field of [*p, end) on the current line. */
static int next_field(const char **p, const char *end, const char **f, size_t *len)
{
    const char *q = *p;
    while (q < end && *q == ' ')
        q++;
    *f = q;
    while (q < end && *q != ' ' && *q != '\n')
        q++;
    *len = (size_t)(q - *f);
    *p = q;
    return *len > 0;
}

static int hex_value(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                   : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16u;
        if (d > 15 || *v > 0xfffff)
            return -1;
        *v = *v * 16 + d;
    }
    return n > 0 ? 0 : -1;
}

/* Add the synset on one data line. buf receives the cleaned-up words. */
static int add_line(ft_synonyms *s, const char *p, const char *end, char *buf,
                    ft_err *err)
{
    const char *f, *words[256];
    size_t len, lens[256], used = 0;
    unsigned w_cnt;

    /* offset, lex_filenum, ss_type, then the word count. */
    for (int i = 0; i < 3; i++)
        if (!next_field(&p, end, &f, &len))
            return ft_err_set(err, "truncated synset");
    if (!next_field(&p, end, &f, &len) || hex_value(f, len, &w_cnt) < 0 || w_cnt == 0 ||
        w_cnt > 255)
        return ft_err_set(err, "bad word count");

    for (unsigned i = 0; i < w_cnt; i++) {
        const char *lex;
        size_t lex_len;
        if (!next_field(&p, end, &f, &len) || !next_field(&p, end, &lex, &lex_len))
            return ft_err_set(err, "truncated word list");

        /* Drop an adjective marker, spell underscores as spaces. */
        if (len > 3 && f[len - 1] == ')') {
            const char *open = memchr(f, '(', len);
            if (open && open > f)
                len = (size_t)(open - f);
        }
        char *w = buf + used;
        for (size_t j = 0; j < len; j++)
            w[j] = f[j] == '_' ? ' ' : f[j];
        words[i] = w;
        lens[i] = len;
        used += len;
    }
    return ft_syn_add_group(s, words, lens, w_cnt, err);
}

static int load_file(ft_synonyms *s, const char *dir, const char *name, ft_err *err)
{
    char *path = ft_path_join(dir, name, err), *data, *buf;
    size_t n, line = 0;
    int rc = 0;

    if (!path)
        return -1;
    if (ft_read_file(path, (size_t)1 << 30, &data, &n, err) < 0) {
        free(path);
        return -1;
    }
    buf = ft_malloc(n + 1, err);   /* a line's words never outgrow the file */
    if (!buf)
        rc = -1;
    for (const char *p = data, *end = data + n; rc == 0 && p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        line++;
        if (*p != ' ' && eol > p && add_line(s, p, eol, buf, err) < 0) {
            ft_err_prefix(err, "%s: line %zu", path, line);
            rc = -1;
        }
        p = eol + 1;
    }
    free(buf);
    free(data);
    free(path);
    return rc;
}

int ft_wordnet_load(ft_synonyms *s, const char *dir, ft_err *err)
{
    static const char *const files[] = {"data.noun", "data.verb", "data.adj", "data.adv"};

    if (!dir)
        dir = ft_wordnet_default_dir();
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (load_file(s, dir, files[i], err) < 0)
            return -1;
    return 0;
}
