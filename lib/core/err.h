/* err: how the library reports failure.
 *
 * Library functions never print and never exit. A function that can fail
 * takes an ft_err *, fills it with one human sentence (no program name, no
 * newline) and returns -1 or NULL; the program prints it once, prefixed with
 * its name, and chooses the exit status. Context is added by prefixing as an
 * error travels up ("train.tsv: record 12: no \"text\" field"). */
#ifndef FT_CORE_ERR_H
#define FT_CORE_ERR_H

#include <stddef.h>

#define FT_ERR_MAX 1024

/* kind tells the program which exit status fits: a runtime failure (1),
 * a usage error (2), or a closed downstream pipe (quiet exit 0). */
enum ft_err_kind { FT_ERR_RUNTIME = 1, FT_ERR_USAGE = 2, FT_ERR_PIPE = 3 };

typedef struct ft_err {
    int kind;
    char msg[FT_ERR_MAX];
} ft_err;

/* Set the message (printf format); returns -1 so callers can
 * "return ft_err_set(err, ...)". err may be NULL. */
int ft_err_set(ft_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Same, with a kind other than FT_ERR_RUNTIME. */
int ft_err_setk(ft_err *err, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context followed by ": " to an error already set; returns -1. */
int ft_err_prefix(ft_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Set the message from errno: "what: strerror(errno)"; returns -1.
 * EPIPE makes an FT_ERR_PIPE error. */
int ft_err_errno(ft_err *err, const char *what);

/* Checked allocation: NULL with "out of memory (N bytes)" on failure.
 * ft_calloc's product is checked for overflow. */
void *ft_malloc(size_t n_bytes, ft_err *err);
void *ft_calloc(size_t count, size_t size, ft_err *err);
void *ft_realloc(void *p, size_t n_bytes, ft_err *err);
char *ft_strdup(const char *s, ft_err *err);

/* Grow *p (an array of elem_size items, *cap of them) to hold at least
 * need items, doubling; 0 on success. */
int ft_grow(void *p, size_t *cap, size_t need, size_t elem_size, ft_err *err);

#endif
