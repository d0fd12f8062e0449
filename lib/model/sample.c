/* sample: next-token choice and KV-cache generation (see sample.h). */
#include "model/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

ft_sample_opts ft_sample_defaults(const ft_model *m)
{
    ft_sample_opts o;

    memset(&o, 0, sizeof o);
    o.max_tokens = 256;
    o.temperature = 1.0f;
    o.top_p = 1.0f;
    if (m) {
        for (int i = 0; i < m->cfg.n_eos && i < FT_SAMPLE_MAX_EOS; i++)
            o.eos[i] = m->cfg.eos_ids[i];
        o.n_eos = m->cfg.n_eos < FT_SAMPLE_MAX_EOS ? m->cfg.n_eos : FT_SAMPLE_MAX_EOS;
    }
    return o;
}

int ft_sample_init(ft_sample *s, int V, const ft_sample_opts *o, ft_err *err)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->V = V;
    ft_rng_seed(&s->rng, o->seed, 0);
    s->idx = ft_calloc(V, sizeof *s->idx, err);
    s->prob = ft_calloc(V, sizeof *s->prob, err);
    if (!s->idx || !s->prob) {
        ft_sample_free(s);
        return -1;
    }
    return 0;
}

void ft_sample_free(ft_sample *s)
{
    free(s->idx);
    free(s->prob);
    s->idx = NULL;
    s->prob = NULL;
}

static const float *sort_logits;

/* Descending by logit, ascending id on ties: the same order everywhere. */
static int by_logit(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    if (sort_logits[i] != sort_logits[j])
        return sort_logits[i] > sort_logits[j] ? -1 : 1;
    return i - j;
}

int32_t ft_sample_pick(ft_sample *s, const float *logits)
{
    int V = s->V, n = V, best = 0;

    /* greedy */
    for (int v = 1; v < V; v++)
        best = logits[v] > logits[best] ? v : best;
    if (s->o.temperature <= 0)
        return best;

    /* candidates, likeliest first when a filter needs the order */
    for (int v = 0; v < V; v++)
        s->idx[v] = v;
    int filtered = (s->o.top_k > 0 && s->o.top_k < V) || s->o.top_p < 1.0f;
    if (filtered) {
        sort_logits = logits;
        qsort(s->idx, V, sizeof *s->idx, by_logit);
    }
    if (s->o.top_k > 0 && s->o.top_k < n)
        n = s->o.top_k;

    /* softmax at the temperature over the candidates */
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = expf((logits[s->idx[i]] - logits[best]) / s->o.temperature);
        sum += s->prob[i];
    }

    /* nucleus: the smallest prefix whose mass reaches top_p */
    if (s->o.top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += s->prob[i];
            if (cum >= s->o.top_p * sum) {
                n = i + 1;
                sum = cum;
                break;
            }
        }
    }

    /* draw */
    double r = ft_rng_uniform(&s->rng) * sum, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (r < acc)
            return s->idx[i];
    }
    return s->idx[n - 1];
}

/* Longest k < n_stop such that gen ends with the first k ids of stop. */
static int stop_overlap(const int32_t *gen, int n_gen, const int32_t *stop, int n_stop)
{
    for (int k = n_stop - 1 < n_gen ? n_stop - 1 : n_gen; k > 0; k--)
        if (!memcmp(gen + n_gen - k, stop, k * sizeof *stop))
            return k;
    return 0;
}

int ft_sample_generate(ft_model *m, const ft_prefix *prefix, const int32_t *prompt,
                       int n_prompt, const ft_sample_opts *o, int32_t *out, int *n_out,
                       ft_sample_emit emit, void *ctx, ft_err *err)
{
    const ft_config *c = &m->cfg;
    int P0 = prefix ? prefix->P : 0, max_new = o->max_tokens > 0 ? o->max_tokens : 0;
    int cap = P0 + n_prompt + max_new, n_gen = 0, n_emitted = 0, rc = -1;
    int32_t *gen = NULL;
    float *logits = NULL;
    ft_prefix cache = {0};
    ft_sample s = {0};

    if (n_out)
        *n_out = 0;
    if (n_prompt < 1)
        return ft_err_set(err, "generation needs a prompt of at least one token");
    if (c->max_pos > 0 && cap > c->max_pos)
        cap = c->max_pos;
    if (P0 + n_prompt > cap && P0 > 0)
        return ft_err_set(err, "prompt of %d tokens after a prefix of %d exceeds the "
                          "model's %d positions", n_prompt, P0, c->max_pos);
    if (n_prompt > cap)
        return ft_err_set(err, "prompt of %d tokens exceeds the model's %d positions",
                          n_prompt, c->max_pos);

    /* buffers: one row, the prompt at most, a cache for everything */
    if (ft_model_setup(m, 1, n_prompt, cap, 0, err) < 0 ||
        ft_sample_init(&s, c->vocab_size, o, err) < 0)
        goto out;
    gen = ft_calloc(max_new + 1, sizeof *gen, err);
    logits = ft_calloc(c->vocab_size, sizeof *logits, err);
    cache.kv = ft_calloc(ft_prefix_floats(c, cap), sizeof *cache.kv, err);
    if (!gen || !logits || !cache.kv)
        goto out;
    cache.cap = cap;
    cache.append = 1;

    /* the P-tuning prefix goes first in the cache, head by head */
    if (P0 > 0) {
        size_t rows = (size_t)c->n_layers * 2 * c->n_kv_heads, hd = c->head_dim;
        for (size_t r = 0; r < rows; r++)
            memcpy(cache.kv + r * cap * hd, prefix->kv + r * prefix->cap * hd,
                   (size_t)P0 * hd * sizeof *cache.kv);
        cache.P = P0;
    }

    /* the prompt, then one token at a time */
    ft_batch b = {.B = 1, .T = n_prompt, .tokens = prompt, .prefix = &cache};
    int32_t next;
    while (n_gen < max_new && cache.P + b.T + 1 <= cap) {
        int last = b.T - 1;
        if (ft_model_logits(m, &b, &last, logits, err) < 0)
            goto out;
        cache.P += b.T;
        next = ft_sample_pick(&s, logits);

        int is_eos = 0;
        for (int i = 0; i < o->n_eos; i++)
            is_eos |= next == o->eos[i];
        if (is_eos)
            break;
        gen[n_gen++] = next;

        /* a complete stop sequence ends it; a partial one is held back */
        if (o->n_stop > 0 && n_gen >= o->n_stop &&
            !memcmp(gen + n_gen - o->n_stop, o->stop, o->n_stop * sizeof *gen)) {
            n_gen -= o->n_stop;
            break;
        }
        int hold = o->n_stop > 0 ? stop_overlap(gen, n_gen, o->stop, o->n_stop) : 0;
        for (; n_emitted < n_gen - hold; n_emitted++)
            if (emit && emit(ctx, gen[n_emitted]))
                goto done;

        b.T = 1;
        b.tokens = &gen[n_gen - 1];
    }
    for (; n_emitted < n_gen; n_emitted++)
        if (emit && emit(ctx, gen[n_emitted]))
            break;
done:
    if (out)
        memcpy(out, gen, n_gen * sizeof *gen);
    if (n_out)
        *n_out = n_gen;
    rc = 0;
out:
    ft_sample_free(&s);
    free(gen);
    free(logits);
    free(cache.kv);
    return rc;
}
