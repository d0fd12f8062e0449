/* gen: template, sampler and stop strings around one prompt (see gen.h). */
#define _GNU_SOURCE /* memmem */
#include "eval/gen.h"

#include <stdlib.h>
#include <string.h>

#include "text/template.h"

struct ft_gen {
    ft_model *m;
    ft_tokenizer *tok;
    const ft_prefix *prefix;
    ft_template *tpl;
    ft_sample_opts so;
    char **stops;
    size_t *stop_len;
    int n_stops;
    size_t max_stop;
    ft_rendered r;
    int32_t *ids;
    uint8_t *mask;
    size_t cap;
    char *piece;          /* [max token bytes + 8] one token's text */
    size_t piece_cap;
};

void ft_gen_free(ft_gen *g)
{
    if (!g)
        return;
    ft_template_free(g->tpl);
    for (int i = 0; i < g->n_stops; i++)
        free(g->stops[i]);
    free(g->stops);
    free(g->stop_len);
    ft_rendered_free(&g->r);
    free(g->ids);
    free(g->mask);
    free(g->piece);
    free(g);
}

ft_gen *ft_gen_new(ft_model *m, ft_tokenizer *tok, const ft_prefix *prefix,
                   const ft_gen_opts *o, ft_err *err)
{
    ft_gen *g = ft_calloc(1, sizeof *g, err);
    const int32_t *eos;
    size_t n_eos;

    if (!g)
        return NULL;
    g->m = m;
    g->tok = tok;
    g->prefix = prefix;
    g->so = o->sample;
    ft_rendered_init(&g->r);
    if (!(g->tpl = ft_template_new(o->template_spec ? o->template_spec : "plain", err)))
        goto fail;

    /* The tokenizer's end ids join the model's. */
    n_eos = ft_tokenizer_eos_ids(tok, &eos);
    for (size_t i = 0; i < n_eos && g->so.n_eos < FT_SAMPLE_MAX_EOS; i++) {
        int seen = 0;
        for (int j = 0; j < g->so.n_eos; j++)
            seen |= g->so.eos[j] == eos[i];
        if (!seen)
            g->so.eos[g->so.n_eos++] = eos[i];
    }
    g->so.stop = NULL;
    g->so.n_stop = 0;

    /* Empty stop strings mean nothing and are left out. */
    g->stops = ft_calloc(o->n_stops + 1, sizeof *g->stops, err);
    g->stop_len = ft_calloc(o->n_stops + 1, sizeof *g->stop_len, err);
    if (!g->stops || !g->stop_len)
        goto fail;
    for (int i = 0; i < o->n_stops; i++) {
        size_t l = strlen(o->stops[i]);
        if (!l)
            continue;
        if (!(g->stops[g->n_stops] = ft_strdup(o->stops[i], err)))
            goto fail;
        g->stop_len[g->n_stops++] = l;
        g->max_stop = l > g->max_stop ? l : g->max_stop;
    }
    g->piece_cap = ft_tokenizer_stream_cap(tok);
    if (!(g->piece = ft_malloc(g->piece_cap, err)))
        goto fail;
    return g;
fail:
    ft_gen_free(g);
    return NULL;
}

/* The response as it grows: decoded text, and the first stop string. */
typedef struct sink {
    ft_gen *g;
    ft_tok_stream ts;
    char *text;
    size_t len, cap;
    int failed;
    int stopped;          /* a stop string ended it */
    ft_err *err;
} sink;

static int append(sink *s, const char *p, size_t n)
{
    if (ft_grow(&s->text, &s->cap, s->len + n + 1, 1, s->err) < 0) {
        s->failed = 1;
        return -1;
    }
    memcpy(s->text + s->len, p, n);
    s->len += n;
    s->text[s->len] = '\0';
    return 0;
}

/* Cut the text at the first stop string that ends in its new bytes (from
 * old on); 1 when one did. */
static int cut_at_stop(sink *s, size_t old)
{
    ft_gen *g = s->g;
    size_t from = old >= g->max_stop ? old - g->max_stop + 1 : 0, best = (size_t)-1;

    for (int i = 0; i < g->n_stops; i++) {
        const char *hit = s->len >= g->stop_len[i]
                              ? memmem(s->text + from, s->len - from, g->stops[i], g->stop_len[i])
                              : NULL;
        if (hit && (size_t)(hit - s->text) < best)
            best = (size_t)(hit - s->text);
    }
    if (best == (size_t)-1)
        return 0;
    s->len = best;
    s->text[best] = '\0';
    return 1;
}

static int on_token(void *ctx, int32_t id)
{
    sink *s = ctx;
    size_t n, old = s->len;

    if (ft_tokenizer_stream_next(s->g->tok, &s->ts, id, s->g->piece, s->g->piece_cap, &n,
                                 s->err) < 0) {
        s->failed = 1;
        return 1;
    }
    if (append(s, s->g->piece, n) < 0)
        return 1;
    s->stopped = s->g->n_stops && cut_at_stop(s, old);
    return s->stopped;
}

int ft_gen_run(ft_gen *g, const char *prompt, size_t len, uint64_t seed, char **text,
               size_t *n_bytes, int *cut, ft_err *err)
{
    size_t n = 0, n_ctx;
    int P0 = g->prefix ? g->prefix->P : 0, max_pos = g->m->cfg.max_pos, dropped = 0;
    ft_sample_opts so = g->so;
    sink s = {.g = g, .err = err};
    const int32_t *bos;
    size_t n_bos = ft_tokenizer_prefix(g->tok, &bos);

    *text = NULL;
    *n_bytes = 0;
    if (cut)
        *cut = 0;

    /* The prompt as training renders it: the tokens before the (empty)
     * response's target. */
    ft_rendered_reset(&g->r);
    if (ft_template_sft(g->tpl, &g->r, NULL, prompt, len, "", 0, err) < 0 ||
        ft_rendered_encode(g->tok, &g->r, &g->ids, &g->mask, &n, &g->cap, err) < 0)
        return -1;
    for (n_ctx = 0; n_ctx < n && !g->mask[n_ctx]; n_ctx++)
        ;

    /* Room for the answer: cut the prompt from the left, after any BOS. */
    long room = (long)max_pos - P0 - so.max_tokens;
    if (room < (long)n_bos + 1)
        room = (long)max_pos - P0 - 1;
    if ((long)n_ctx > room && room > (long)n_bos) {
        dropped = (int)(n_ctx - (size_t)room);
        memmove(g->ids + n_bos, g->ids + n_bos + dropped,
                (n_ctx - n_bos - dropped) * sizeof *g->ids);
        n_ctx = (size_t)room;
    }
    if (cut)
        *cut = dropped;

    ft_tokenizer_stream_init(&s.ts, FT_TOK_SKIP_SPECIAL, 1);
    if (append(&s, "", 0) < 0)
        return -1;
    so.seed = seed;
    if (ft_sample_generate(g->m, g->prefix, g->ids, (int)n_ctx, &so, NULL, NULL, on_token, &s,
                           err) < 0 ||
        s.failed) {
        free(s.text);
        return -1;
    }
    /* Bytes of a character the last token left unfinished. */
    size_t tail = s.stopped ? 0 : ft_tokenizer_stream_end(&s.ts, g->piece), old = s.len;
    if (tail) {
        if (append(&s, g->piece, tail) < 0) {
            free(s.text);
            return -1;
        }
        if (g->n_stops)
            cut_at_stop(&s, old);
    }
    *text = s.text;
    *n_bytes = s.len;
    return 0;
}
