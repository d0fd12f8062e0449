/* gen: template, sampler and stop strings around prompts (see gen.h). */
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

static int on_token(void *ctx, int row, int32_t id)
{
    sink *s = (sink *)ctx + row;
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

/* The prompt as training renders it (the tokens before the empty
 * response's target), cut from the left to leave room for the answer:
 * *ids (malloc'd) of *n ids, *cut of them dropped. */
static int encode_prompt(ft_gen *g, const char *prompt, size_t len, int32_t **ids, int *n,
                         int *cut, ft_err *err)
{
    size_t n_all = 0, n_ctx;
    int P0 = g->prefix ? g->prefix->P : 0, max_pos = g->m->cfg.max_pos, dropped = 0;
    const int32_t *bos;
    size_t n_bos = ft_tokenizer_prefix(g->tok, &bos);

    ft_rendered_reset(&g->r);
    if (ft_template_sft(g->tpl, &g->r, NULL, prompt, len, "", 0, err) < 0 ||
        ft_rendered_encode(g->tok, &g->r, &g->ids, &g->mask, &n_all, &g->cap, err) < 0)
        return -1;
    for (n_ctx = 0; n_ctx < n_all && !g->mask[n_ctx]; n_ctx++)
        ;
    if (n_ctx == 0)
        return ft_err_set(err, "generation needs a prompt of at least one token");

    /* room for the answer: cut the prompt from the left, after any BOS */
    long room = (long)max_pos - P0 - g->so.max_tokens;
    if (room < (long)n_bos + 1)
        room = (long)max_pos - P0 - 1;
    if ((long)n_ctx > room && room > (long)n_bos) {
        dropped = (int)(n_ctx - (size_t)room);
        memmove(g->ids + n_bos, g->ids + n_bos + dropped,
                (n_ctx - n_bos - dropped) * sizeof *g->ids);
        n_ctx = (size_t)room;
    }
    if (!(*ids = ft_malloc(n_ctx * sizeof **ids, err)))
        return -1;
    memcpy(*ids, g->ids, n_ctx * sizeof **ids);
    *n = (int)n_ctx;
    *cut = dropped;
    return 0;
}

int ft_gen_run_batch(ft_gen *g, int n, const char *const *prompts, const size_t *lens,
                     const uint64_t *seeds, ft_gen_result *res, int *failed, ft_err *err)
{
    ft_sample_row *rows = ft_calloc(n > 0 ? n : 1, sizeof *rows, err);
    sink *sinks = ft_calloc(n > 0 ? n : 1, sizeof *sinks, err);
    int rc = -1, bad = -1;

    memset(res, 0, (size_t)(n > 0 ? n : 0) * sizeof *res);
    if (!rows || !sinks)
        goto out;

    /* every prompt's ids and an empty response */
    for (int i = 0; i < n; i++) {
        int32_t *ids = NULL;
        sinks[i] = (sink){.g = g, .err = err};
        ft_tokenizer_stream_init(&sinks[i].ts, FT_TOK_SKIP_SPECIAL, 1);
        if (encode_prompt(g, prompts[i], lens[i], &ids, &rows[i].n_prompt, &res[i].cut,
                          err) < 0) {
            bad = i;
            goto out;
        }
        rows[i].prompt = ids;
        rows[i].seed = seeds[i];
        if (append(&sinks[i], "", 0) < 0)
            goto out;
    }

    /* the new tokens, decoded as they come, each row into its own sink */
    if (ft_sample_generate_rows(g->m, g->prefix, rows, n, &g->so, on_token, sinks, err) < 0)
        goto out;
    for (int i = 0; i < n; i++) {
        sink *s = &sinks[i];
        if (s->failed) {
            bad = i;
            goto out;
        }

        /* bytes of a character the last token left unfinished */
        size_t tail = s->stopped ? 0 : ft_tokenizer_stream_end(&s->ts, g->piece), old = s->len;
        if (tail) {
            if (append(s, g->piece, tail) < 0)
                goto out;
            if (g->n_stops)
                cut_at_stop(s, old);
        }
        res[i].n_tokens = rows[i].n_out;
    }
    for (int i = 0; i < n; i++) {
        res[i].text = sinks[i].text;
        res[i].n_bytes = sinks[i].len;
        sinks[i].text = NULL;
    }
    rc = 0;
out:
    if (failed)
        *failed = bad;
    for (int i = 0; rows && sinks && i < n; i++) {
        free((int32_t *)rows[i].prompt);
        free(sinks[i].text);
    }
    free(rows);
    free(sinks);
    return rc;
}

int ft_gen_run(ft_gen *g, const char *prompt, size_t len, uint64_t seed, char **text,
               size_t *n_bytes, int *cut, ft_err *err)
{
    ft_gen_result res;
    int rc = ft_gen_run_batch(g, 1, &prompt, &len, &seed, &res, NULL, err);

    *text = res.text;
    *n_bytes = res.n_bytes;
    if (cut)
        *cut = res.cut;
    return rc;
}
