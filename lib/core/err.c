/* err: error messages and checked allocation (see err.h). */
#include "core/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void err_vset(ft_err *err, int kind, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->kind = kind;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
}

int ft_err_set(ft_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, FT_ERR_RUNTIME, fmt, ap);
    va_end(ap);
    return -1;
}

int ft_err_setk(ft_err *err, int kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, kind, fmt, ap);
    va_end(ap);
    return -1;
}

int ft_err_prefix(ft_err *err, const char *fmt, ...)
{
    char head[FT_ERR_MAX];
    va_list ap;
    size_t h, m;

    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head - 2, fmt, ap);
    va_end(ap);
    strcat(head, ": ");
    h = strlen(head);
    m = strlen(err->msg);
    if (h + m >= sizeof err->msg)
        m = sizeof err->msg - 1 - h;
    memmove(err->msg + h, err->msg, m);
    memcpy(err->msg, head, h);
    err->msg[h + m] = '\0';
    return -1;
}

int ft_err_errno(ft_err *err, const char *what)
{
    int e = errno;
    return ft_err_setk(err, e == EPIPE ? FT_ERR_PIPE : FT_ERR_RUNTIME, "%s: %s", what,
                       strerror(e));
}

void *ft_malloc(size_t n_bytes, ft_err *err)
{
    void *p = malloc(n_bytes ? n_bytes : 1);
    if (!p)
        ft_err_set(err, "out of memory (%zu bytes)", n_bytes);
    return p;
}

void *ft_calloc(size_t count, size_t size, ft_err *err)
{
    if (size && count > SIZE_MAX / size) {
        ft_err_set(err, "out of memory (%zu x %zu bytes)", count, size);
        return NULL;
    }
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        ft_err_set(err, "out of memory (%zu bytes)", count * size);
    return p;
}

void *ft_realloc(void *p, size_t n_bytes, ft_err *err)
{
    void *q = realloc(p, n_bytes ? n_bytes : 1);
    if (!q)
        ft_err_set(err, "out of memory (%zu bytes)", n_bytes);
    return q;
}

char *ft_strdup(const char *s, ft_err *err)
{
    size_t n = strlen(s) + 1;
    char *p = ft_malloc(n, err);
    if (p)
        memcpy(p, s, n);
    return p;
}

int ft_grow(void *p, size_t *cap, size_t need, size_t elem_size, ft_err *err)
{
    void **arr = p;
    size_t n = *cap ? *cap : 16;

    if (need <= *cap)
        return 0;
    while (n < need) {
        if (n > SIZE_MAX / 2 / elem_size)
            return ft_err_set(err, "out of memory (array of %zu items)", need);
        n *= 2;
    }
    void *q = ft_realloc(*arr, n * elem_size, err);
    if (!q)
        return -1;
    *arr = q;
    *cap = n;
    return 0;
}
