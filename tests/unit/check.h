/* check: the unit tests' few macros. A test program runs its checks, prints
 * one line per failure with file and line, and exits 1 if any failed, 77
 * (skipped) through CHECK_SKIP, else 0. Expected values in tests are worked
 * out independently (by hand, by a reference program, or from published
 * data), never read back from the code under test. */
#ifndef FT_TEST_CHECK_H
#define FT_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        check_count++;                                                                   \
        if (!(cond)) {                                                                   \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);     \
        }                                                                                \
    } while (0)

#define CHECK_MSG(cond, ...)                                                             \
    do {                                                                                 \
        check_count++;                                                                   \
        if (!(cond)) {                                                                   \
            check_failures++;                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

#define CHECK_INT(a, b)                                                                  \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a),          \
              (long long)(b))

#define CHECK_STR(a, b)                                                                  \
    CHECK_MSG(strcmp((a), (b)) == 0, "\"%s\" != \"%s\"", (a), (b))

/* |a - b| <= tol * max(|b|, floor) */
#define CHECK_REL(a, b, tol, floor)                                                      \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <=                                         \
                  (tol) * fmax(fabs((double)(b)), (floor)),                              \
              "%.9g vs %.9g (rel tol %g)", (double)(a), (double)(b), (double)(tol))

#define CHECK_SKIP(...)                                                                  \
    do {                                                                                 \
        printf(__VA_ARGS__);                                                             \
        printf("\n");                                                                    \
        exit(77);                                                                        \
    } while (0)

static inline int check_done(void)
{
    printf("%d checks, %d failed\n", check_count, check_failures);
    return check_failures ? 1 : 0;
}

/* ../shared/data, or NULL when absent (tests then skip, saying so). */
static inline const char *check_data_dir(void)
{
    static char path[4096];
    const char *d = getenv("FT_DATA_DIR");
    FILE *f;
    if (!d)
        d = "../shared/data";
    snprintf(path, sizeof path, "%s/README.md", d);
    f = fopen(path, "r");
    if (!f)
        return NULL;
    fclose(f);
    snprintf(path, sizeof path, "%s", d);
    return path;
}

#endif
