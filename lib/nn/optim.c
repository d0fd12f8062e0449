/* optim: AdamW, clipping and schedules (see optim.h). */
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Gradient norms are summed in chunks of this many elements, then the chunk
 * sums in order, so the result does not depend on the thread count. */
#define NORM_CHUNK 16384

int ft_optim_decays(int ndim)
{
    return ndim >= 2;
}

void ft_adamw_init(ft_adamw *o, double beta1, double beta2, double eps,
                   double weight_decay)
{
    memset(o, 0, sizeof *o);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
    o->weight_decay = weight_decay;
}

int ft_adamw_add(ft_adamw *o, float *param, float *grad, size_t n_elems, int decay,
                 ft_err *err)
{
    if (ft_grow(&o->slots, &o->cap_slots, o->n_slots + 1, sizeof *o->slots, err) < 0)
        return -1;
    ft_adamw_slot *s = &o->slots[o->n_slots++];
    s->param = param;
    s->grad = grad;
    s->n_elems = n_elems;
    s->moment_offset = o->n_elems;
    s->decay = decay;
    o->n_elems += n_elems;
    return 0;
}

int ft_adamw_alloc(ft_adamw *o, ft_err *err)
{
    size_t n = o->n_elems ? o->n_elems : 1;
    o->m = ft_calloc(n, sizeof(float), err);
    o->v = o->m ? ft_calloc(n, sizeof(float), err) : NULL;
    return o->v ? 0 : -1;
}

void ft_adamw_free(ft_adamw *o)
{
    free(o->slots);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

/* The scalar factors of one update, rounded to float as torch's kernels
 * round Python scalars for a float tensor. */
struct adamw_factors {
    float b1, c1, b2, c2, decay, bc2_sqrt, eps, neg_step;
};

static void update_slot(const ft_adamw_slot *s, float *m, float *v,
                        const struct adamw_factors *f)
{
    float *p = s->param;
    const float *g = s->grad;
    float decay = s->decay ? f->decay : 1.0f;
    long n = (long)s->n_elems;

#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) {
        float pi = s->decay ? p[i] * decay : p[i];
        float mi = f->b1 * m[i] + f->c1 * g[i];
        float vi = f->b2 * v[i] + f->c2 * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = pi + f->neg_step * (mi / (sqrtf(vi) / f->bc2_sqrt + f->eps));
    }
}

void ft_adamw_step(ft_adamw *o, double lr)
{
    struct adamw_factors f;

    /* Bias corrections for update t, in double as torch computes them. */
    o->t++;
    double bc1 = 1.0 - pow(o->beta1, (double)o->t);
    double bc2 = 1.0 - pow(o->beta2, (double)o->t);
    f.b1 = (float)o->beta1;
    f.c1 = (float)(1.0 - o->beta1);
    f.b2 = (float)o->beta2;
    f.c2 = (float)(1.0 - o->beta2);
    f.decay = (float)(1.0 - lr * o->weight_decay);
    f.bc2_sqrt = (float)sqrt(bc2);
    f.eps = (float)o->eps;
    f.neg_step = (float)(-lr / bc1);

    for (size_t k = 0; k < o->n_slots; k++) {
        const ft_adamw_slot *s = &o->slots[k];
        update_slot(s, o->m + s->moment_offset, o->v + s->moment_offset, &f);
    }
}

/* Sum of squares of one array, chunk by chunk in a fixed order. */
static double sum_squares(const float *x, size_t n)
{
    size_t n_chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double total = 0;

    if (n_chunks <= 1) {
        for (size_t i = 0; i < n; i++)
            total += (double)x[i] * x[i];
        return total;
    }
    double *part = malloc(n_chunks * sizeof *part);
    if (!part) {
        /* No room for the partial sums: the serial order is deterministic too. */
        for (size_t i = 0; i < n; i++)
            total += (double)x[i] * x[i];
        return total;
    }
#pragma omp parallel for schedule(static)
    for (long c = 0; c < (long)n_chunks; c++) {
        size_t lo = (size_t)c * NORM_CHUNK, hi = lo + NORM_CHUNK < n ? lo + NORM_CHUNK : n;
        double s = 0;
        for (size_t i = lo; i < hi; i++)
            s += (double)x[i] * x[i];
        part[c] = s;
    }
    for (size_t c = 0; c < n_chunks; c++)
        total += part[c];
    free(part);
    return total;
}

double ft_adamw_grad_norm(const ft_adamw *o)
{
    double total = 0;
    for (size_t k = 0; k < o->n_slots; k++)
        total += sum_squares(o->slots[k].grad, o->slots[k].n_elems);
    return sqrt(total);
}

double ft_adamw_clip(ft_adamw *o, double max_norm)
{
    double norm = ft_adamw_grad_norm(o);

    /* torch: clip_coef = max_norm / (total_norm + 1e-6), clamped to 1. A
     * non-finite norm is left for the caller to report. */
    if (max_norm <= 0 || !isfinite(norm))
        return norm;
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0)
        return norm;
    float c = (float)coef;
    for (size_t k = 0; k < o->n_slots; k++) {
        float *g = o->slots[k].grad;
        long n = (long)o->slots[k].n_elems;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (long i = 0; i < n; i++)
            g[i] *= c;
    }
    return norm;
}

double ft_sched_factor(const ft_sched *s, int64_t step)
{
    if (step < s->warmup)
        return (double)step / (double)(s->warmup > 1 ? s->warmup : 1);
    int64_t span = s->total - s->warmup > 1 ? s->total - s->warmup : 1;
    switch (s->kind) {
    case FT_SCHED_LINEAR: {
        double f = (double)(s->total - step) / (double)span;
        return f > 0 ? f : 0;
    }
    case FT_SCHED_COSINE: {
        double progress = (double)(step - s->warmup) / (double)span;
        double f = 0.5 * (1.0 + cos(M_PI * 0.5 * 2.0 * progress));
        return f > 0 ? f : 0;
    }
    default:
        return 1.0;
    }
}

static const char *const sched_names[] = {"constant", "linear", "cosine"};

int ft_sched_parse(const char *name)
{
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, sched_names[k]))
            return k;
    return -1;
}

const char *ft_sched_name(int kind)
{
    return kind >= 0 && kind < 3 ? sched_names[kind] : "?";
}
