/* parse: checked number parsing (see parse.h). */
#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int ft_parse_long(const char *s, long min, long max, long *out, ft_err *err)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return ft_err_set(err, "'%s' is not an integer", s);
    if (v < min || v > max)
        return ft_err_set(err, "%ld is out of range [%ld, %ld]", v, min, max);
    *out = v;
    return 0;
}

int ft_parse_u64(const char *s, uint64_t *out, ft_err *err)
{
    char *end;
    unsigned long long v;

    errno = 0;
    if (*s == '-')
        return ft_err_set(err, "'%s' is not a non-negative integer", s);
    v = strtoull(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE)
        return ft_err_set(err, "'%s' is not a non-negative integer", s);
    *out = v;
    return 0;
}

int ft_parse_double(const char *s, double min, double max, double *out, ft_err *err)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v))
        return ft_err_set(err, "'%s' is not a number", s);
    if (v < min || v > max)
        return ft_err_set(err, "%g is out of range [%g, %g]", v, min, max);
    *out = v;
    return 0;
}

int ft_parse_bytes(const char *s, size_t *out, ft_err *err)
{
    char *end;
    unsigned long long v;
    int shift = 0;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (end == s || errno == ERANGE || *s == '-')
        return ft_err_set(err, "'%s' is not a byte count", s);
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    }
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return ft_err_set(err, "'%s' is not a byte count", s);
    *out = (size_t)v << shift;
    return 0;
}

static int index_one(const char *s, const char *e, int n, int *out, ft_err *err)
{
    char buf[32];
    long v;

    if (e - s <= 0 || e - s >= (long)sizeof buf)
        return ft_err_set(err, "bad index in set");
    memcpy(buf, s, e - s);
    buf[e - s] = '\0';
    if (ft_parse_long(buf, -(long)n, n - 1, &v, err) < 0)
        return -1;
    *out = v < 0 ? (int)(n + v) : (int)v;
    return 0;
}

int ft_parse_index_set(const char *s, int n, unsigned char *mark, ft_err *err)
{
    const char *p = s;

    while (*p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        /* A range a-b: the dash must follow a digit (so "-1" is an index). */
        const char *dash = NULL;
        for (const char *q = p + 1; q < end; q++)
            if (*q == '-' && q[-1] >= '0' && q[-1] <= '9') {
                dash = q;
                break;
            }
        int a, b;
        if (dash) {
            if (index_one(p, dash, n, &a, err) < 0 || index_one(dash + 1, end, n, &b, err) < 0)
                return ft_err_prefix(err, "'%s'", s);
        } else {
            if (index_one(p, end, n, &a, err) < 0)
                return ft_err_prefix(err, "'%s'", s);
            b = a;
        }
        if (a > b)
            return ft_err_set(err, "'%s': empty range %d-%d", s, a, b);
        for (int i = a; i <= b; i++)
            mark[i] = 1;
        p = *end ? end + 1 : end;
    }
    return 0;
}
