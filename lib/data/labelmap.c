/* labelmap: value <-> name maps for labels (see labelmap.h). A handful of
 * classes at most, so lookups are linear. */
#include "data/labelmap.h"

#include <stdlib.h>
#include <string.h>

struct ft_labelmap {
    char *text;      /* spec copy, cut in place into NUL-terminated parts */
    char **from, **to;
    size_t n;
};

void ft_labelmap_free(ft_labelmap *m)
{
    if (!m)
        return;
    free(m->text);
    free(m->from);
    free(m->to);
    free(m);
}

static int same(const char *a, const char *s, size_t n)
{
    return strlen(a) == n && memcmp(a, s, n) == 0;
}

ft_labelmap *ft_labelmap_parse(const char *spec, ft_err *err)
{
    ft_labelmap *m = ft_calloc(1, sizeof *m, err);
    size_t parts = 1, i, j;
    char *p;

    if (!m)
        return NULL;
    for (p = (char *)spec; *p; p++)
        parts += *p == ',';
    m->text = ft_strdup(spec, err);
    m->from = ft_calloc(parts, sizeof *m->from, err);
    m->to = ft_calloc(parts, sizeof *m->to, err);
    if (!m->text || !m->from || !m->to)
        goto fail;
    for (p = m->text; p;) {
        char *next = strchr(p, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(p, '=');
        if (!eq) {
            ft_err_setk(err, FT_ERR_USAGE, "--label-map: \"%s\" is not VALUE=NAME", p);
            goto fail;
        }
        *eq = '\0';
        if (strchr(eq + 1, '=')) {
            ft_err_setk(err, FT_ERR_USAGE, "--label-map: two '=' in \"%s=%s\"", p, eq + 1);
            goto fail;
        }
        m->from[m->n] = p;
        m->to[m->n] = eq + 1;
        m->n++;
        p = next;
    }
    for (i = 0; i < m->n; i++)
        for (j = 0; j < i; j++) {
            if (!strcmp(m->from[i], m->from[j])) {
                ft_err_setk(err, FT_ERR_USAGE, "--label-map: \"%s\" is mapped twice",
                            m->from[i]);
                goto fail;
            }
            if (!strcmp(m->to[i], m->to[j])) {
                ft_err_setk(err, FT_ERR_USAGE,
                            "--label-map: two values map to \"%s\" (no way back)",
                            m->to[i]);
                goto fail;
            }
        }
    return m;

fail:
    ft_labelmap_free(m);
    return NULL;
}

static const char *lookup(char *const *keys, char *const *vals, size_t n_items,
                          const char *s, size_t n, size_t *out_len)
{
    for (size_t i = 0; i < n_items; i++)
        if (same(keys[i], s, n)) {
            *out_len = strlen(vals[i]);
            return vals[i];
        }
    return NULL;
}

const char *ft_labelmap_get(const ft_labelmap *m, const char *s, size_t n,
                            size_t *out_len)
{
    return lookup(m->from, m->to, m->n, s, n, out_len);
}

const char *ft_labelmap_inverse(const ft_labelmap *m, const char *s, size_t n,
                                size_t *out_len)
{
    return lookup(m->to, m->from, m->n, s, n, out_len);
}
