/* select: the threshold and top-per-class rules of ft-label (see
 * select.h). */
#include "eval/select.h"

#include <stdlib.h>
#include <string.h>

int ft_select_passes(double conf, double threshold)
{
    return threshold < 0 || conf >= threshold;
}

typedef struct cand {
    int cls;
    double conf;
    size_t i;
} cand;

/* By class, then confidence from high to low, then input position. */
static int cmp_cand(const void *pa, const void *pb)
{
    const cand *a = pa, *b = pb;

    if (a->cls != b->cls)
        return a->cls < b->cls ? -1 : 1;
    if (a->conf != b->conf)
        return a->conf > b->conf ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

int ft_select_records(unsigned char *keep, size_t *kept_per_class, const int *cls,
                      const double *conf, size_t n, int k, double threshold, size_t top_k,
                      ft_err *err)
{
    cand *c;
    size_t m = 0;

    memset(keep, 0, n);
    if (kept_per_class)
        memset(kept_per_class, 0, (size_t)k * sizeof *kept_per_class);
    for (size_t i = 0; i < n; i++)
        if (cls[i] < 0 || cls[i] >= k)
            return ft_err_set(err, "record %zu: class index out of range", i + 1);
    if (n == 0)
        return 0;
    if (!(c = ft_malloc(n * sizeof *c, err)))
        return -1;

    /* The eligible records, in class and confidence order. */
    for (size_t i = 0; i < n; i++)
        if (ft_select_passes(conf[i], threshold))
            c[m++] = (cand){cls[i], conf[i], i};
    qsort(c, m, sizeof *c, cmp_cand);

    /* The first top_k of each class's run. */
    for (size_t j = 0, run = 0; j < m; j++) {
        run = j > 0 && c[j].cls == c[j - 1].cls ? run + 1 : 0;
        if (top_k && run >= top_k)
            continue;
        keep[c[j].i] = 1;
        if (kept_per_class)
            kept_per_class[c[j].cls]++;
    }
    free(c);
    return 0;
}
