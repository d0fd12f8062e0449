/* sample: next-token choice and KV-cache generation (see sample.h). A
 * single sequence is a batch of one. */
#include "model/sample.h"

#include <math.h>
#include <stdio.h>
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

/* One sequence of a batch. */
typedef struct seq {
    ft_sample s;         /* its chooser, seeded with its own seed */
    int32_t *gen;        /* [max_new + 1] new tokens */
    int n_gen, n_emitted;
    int len;             /* cache entries in use: prefix, prompt, fed tokens */
    int cap;             /* its context: prefix + prompt + max_new, at most max_pos */
    int done;
} seq;

/* Row i's next token: EOS and a complete stop sequence end the row; tokens
 * that might begin the stop sequence are held back; a row without room
 * for another token ends with what it holds let out. Sets q->done. */
static void seq_take(seq *q, int i, int32_t next, const ft_sample_opts *o, int max_new,
                     ft_sample_emit_row emit, void *ctx)
{
    int is_eos = 0, end = 0;

    for (int k = 0; k < o->n_eos; k++)
        is_eos |= next == o->eos[k];
    if (is_eos) {
        end = 1;
    } else {
        q->gen[q->n_gen++] = next;
        if (o->n_stop > 0 && q->n_gen >= o->n_stop &&
            !memcmp(q->gen + q->n_gen - o->n_stop, o->stop, o->n_stop * sizeof *q->gen)) {
            q->n_gen -= o->n_stop;
            end = 1;
        }
    }
    int hold = end || o->n_stop <= 0 ? 0 : stop_overlap(q->gen, q->n_gen, o->stop, o->n_stop);
    end |= q->n_gen >= max_new || q->len + 2 > q->cap;
    if (end)
        hold = 0;
    for (; q->n_emitted < q->n_gen - hold; q->n_emitted++)
        if (emit && emit(ctx, i, q->gen[q->n_emitted])) {
            end = 1;
            break;
        }
    q->done = end;
}

int ft_sample_generate_rows(ft_model *m, const ft_prefix *prefix, ft_sample_row *rows, int n,
                            const ft_sample_opts *o, ft_sample_emit_row emit, void *ctx,
                            ft_err *err)
{
    const ft_config *c = &m->cfg;
    int P0 = prefix ? prefix->P : 0, max_new = o->max_tokens > 0 ? o->max_tokens : 0;
    int V = c->vocab_size, cap = 0, max_prompt = 1, rc = -1, exact = m->exact_rows;
    size_t slot_floats;
    seq *q = NULL;
    float *logits = NULL, *kv = NULL;
    int32_t *tokens = NULL;
    int *act = NULL, *used = NULL, *pos = NULL;

    /* every row's context: prefix, prompt and new tokens within max_pos */
    for (int i = 0; i < n; i++) {
        char at[32] = "";
        int ci = P0 + rows[i].n_prompt + max_new;
        rows[i].n_out = 0;
        if (n > 1)
            snprintf(at, sizeof at, "row %d: ", i);
        if (rows[i].n_prompt < 1)
            return ft_err_set(err, "%sgeneration needs a prompt of at least one token", at);
        if (c->max_pos > 0 && ci > c->max_pos)
            ci = c->max_pos;
        if (P0 + rows[i].n_prompt > ci && P0 > 0)
            return ft_err_set(err, "%sprompt of %d tokens after a prefix of %d exceeds the "
                              "model's %d positions", at, rows[i].n_prompt, P0, c->max_pos);
        if (rows[i].n_prompt > ci)
            return ft_err_set(err, "%sprompt of %d tokens exceeds the model's %d positions", at,
                              rows[i].n_prompt, c->max_pos);
        cap = ci > cap ? ci : cap;
        max_prompt = rows[i].n_prompt > max_prompt ? rows[i].n_prompt : max_prompt;
    }
    if (n < 1)
        return 0;

    /* buffers: activations for one prompt (for n rows of one token below),
     * a cache per row; rows of several computed each on its own (model.h:
     * exact_rows), one row alone through BLAS unless the caller asked for
     * exact rows (ft-label does, so its -b changes no byte) */
    if (ft_model_setup(m, 1, max_prompt, cap, 0, err) < 0)
        return -1;
    m->exact_rows = exact || n > 1;
    slot_floats = ft_prefix_floats(c, cap);
    q = ft_calloc(n, sizeof *q, err);
    logits = ft_calloc((size_t)n * V, sizeof *logits, err);
    kv = ft_calloc(slot_floats * n, sizeof *kv, err);
    tokens = ft_calloc(n, sizeof *tokens, err);
    act = ft_calloc(n, sizeof *act, err);
    used = ft_calloc(n, sizeof *used, err);
    pos = ft_calloc(n, sizeof *pos, err);
    if (!q || !logits || !kv || !tokens || !act || !used || !pos)
        goto out;
    for (int i = 0; i < n; i++) {
        ft_sample_opts oi = *o;
        oi.seed = rows[i].seed;
        if (ft_sample_init(&q[i].s, V, &oi, err) < 0 ||
            !(q[i].gen = ft_calloc(max_new + 1, sizeof *q[i].gen, err)))
            goto out;
        q[i].cap = P0 + rows[i].n_prompt + max_new;
        if (c->max_pos > 0 && q[i].cap > c->max_pos)
            q[i].cap = c->max_pos;
    }

    /* the P-tuning prefix first in every row's cache, head by head */
    if (P0 > 0) {
        size_t nr = (size_t)c->n_layers * 2 * c->n_kv_heads, hd = c->head_dim;
        for (int i = 0; i < n; i++)
            for (size_t r = 0; r < nr; r++)
                memcpy(kv + i * slot_floats + r * cap * hd, prefix->kv + r * prefix->cap * hd,
                       (size_t)P0 * hd * sizeof *kv);
    }

    /* each prompt on its own (the shapes of a row alone), its first token */
    for (int i = 0; i < n; i++) {
        ft_prefix cache = {.P = P0, .cap = cap, .kv = kv + i * slot_floats, .append = 1};
        ft_batch b = {.B = 1, .T = rows[i].n_prompt, .tokens = rows[i].prompt, .prefix = &cache};
        int last = b.T - 1;

        q[i].len = P0;
        if (max_new < 1 || q[i].len + b.T + 1 > q[i].cap) {
            q[i].done = 1;
            continue;
        }
        if (ft_model_logits(m, &b, &last, logits, err) < 0)
            goto out;
        q[i].len += b.T;
        seq_take(&q[i], i, ft_sample_pick(&q[i].s, logits), o, max_new, emit, ctx);
    }

    /* then one token of every row still going per step, each row against
     * its own cache */
    if (n > 1 && ft_model_setup(m, n, 1, cap, 0, err) < 0)
        goto out;
    for (;;) {
        int A = 0, P = 0;
        for (int i = 0; i < n; i++) {
            if (q[i].done)
                continue;
            act[A] = i;
            tokens[A++] = q[i].gen[q[i].n_gen - 1];
            used[i] = q[i].len;
            P = used[i] > P ? used[i] : P;
        }
        if (!A)
            break;
        ft_prefix cache = {.P = P, .cap = cap, .kv = kv, .append = 1, .rows = n, .row = act,
                           .used = used};
        ft_batch b = {.B = A, .T = 1, .tokens = tokens, .prefix = &cache};
        if (ft_model_logits(m, &b, pos, logits, err) < 0)
            goto out;
        for (int a = 0; a < A; a++) {
            seq *qa = &q[act[a]];
            qa->len++;
            seq_take(qa, act[a], ft_sample_pick(&qa->s, logits + (size_t)a * V), o, max_new,
                     emit, ctx);
        }
    }

    for (int i = 0; i < n; i++) {
        if (rows[i].out)
            memcpy(rows[i].out, q[i].gen, q[i].n_gen * sizeof *q[i].gen);
        rows[i].n_out = q[i].n_gen;
    }
    rc = 0;
out:
    m->exact_rows = exact;
    for (int i = 0; q && i < n; i++) {
        ft_sample_free(&q[i].s);
        free(q[i].gen);
    }
    free(q);
    free(logits);
    free(kv);
    free(tokens);
    free(act);
    free(used);
    free(pos);
    return rc;
}

/* One row's emit, for ft_sample_generate. */
typedef struct one_emit {
    ft_sample_emit emit;
    void *ctx;
} one_emit;

static int emit_one(void *ctx, int row, int32_t id)
{
    one_emit *e = ctx;

    (void)row;
    return e->emit ? e->emit(e->ctx, id) : 0;
}

int ft_sample_generate(ft_model *m, const ft_prefix *prefix, const int32_t *prompt,
                       int n_prompt, const ft_sample_opts *o, int32_t *out, int *n_out,
                       ft_sample_emit emit, void *ctx, ft_err *err)
{
    ft_sample_row row = {.prompt = prompt, .n_prompt = n_prompt, .seed = o->seed, .out = out};
    one_emit e = {emit, ctx};
    int rc = ft_sample_generate_rows(m, prefix, &row, 1, o, emit_one, &e, err);

    if (n_out)
        *n_out = rc < 0 ? 0 : row.n_out;
    return rc;
}
