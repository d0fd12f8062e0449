#include <stdlib.h>
#include <string.h>

#include "genarg.h"

void ft_genarg_init(ft_genarg *g)
{
    memset(g, 0, sizeof *g);
    g->max_tokens = 256;
    g->top_p = 1;
}

int ft_genarg_take(ft_genarg *g, int opt, const char *arg)
{
    switch (opt) {
    case FT_GENARG_MAX_TOKENS:
        g->max_tokens = (int)ft_prog_long("--max-tokens", arg, 1, 1 << 24);
        break;
    case FT_GENARG_TEMPERATURE:
        g->temperature = ft_prog_double("--temperature", arg, 0, 1e6);
        break;
    case FT_GENARG_TOP_K: g->top_k = (int)ft_prog_long("--top-k", arg, 0, 1 << 30); break;
    case FT_GENARG_TOP_P: g->top_p = ft_prog_double("--top-p", arg, 1e-9, 1); break;
    case FT_GENARG_STOP: {
        const char **s = realloc(g->stops, (size_t)(g->n_stops + 1) * sizeof *s);
        if (!s)
            ft_prog_fail("out of memory");
        g->stops = s;
        g->stops[g->n_stops++] = arg;
        break;
    }
    default: return 0;
    }
    g->given = 1;
    return 1;
}

ft_gen_opts ft_genarg_opts(const ft_genarg *g, const ft_model *m, const char *template_spec)
{
    ft_gen_opts go = {0};
    go.template_spec = template_spec;
    go.sample = ft_sample_defaults(m);
    go.sample.max_tokens = g->max_tokens;
    go.sample.temperature = (float)g->temperature;
    go.sample.top_k = g->top_k;
    go.sample.top_p = (float)g->top_p;
    go.stops = g->stops;
    go.n_stops = g->n_stops;
    return go;
}

void ft_genarg_free(ft_genarg *g)
{
    free(g->stops);
    g->stops = NULL;
    g->n_stops = 0;
}
