/* genarg: the sampling options ft-label and ft-eval share (--max-tokens,
 * --temperature, --top-k, --top-p, --stop) and the generation options they
 * make. Each program keeps its own help text for them. */
#ifndef FT_GENARG_H
#define FT_GENARG_H

#include <getopt.h>

#include "eval/gen.h"
#include "prog.h"

/* Option values of their own, above any program's private ones. */
enum {
    FT_GENARG_MAX_TOKENS = FT_OPT_FIRST_PRIVATE + 400, FT_GENARG_TEMPERATURE,
    FT_GENARG_TOP_K, FT_GENARG_TOP_P, FT_GENARG_STOP
};

#define FT_GENARG_LONG                                                                   \
    {"max-tokens", required_argument, 0, FT_GENARG_MAX_TOKENS},                          \
        {"temperature", required_argument, 0, FT_GENARG_TEMPERATURE},                    \
        {"top-k", required_argument, 0, FT_GENARG_TOP_K},                                \
        {"top-p", required_argument, 0, FT_GENARG_TOP_P},                                \
        {"stop", required_argument, 0, FT_GENARG_STOP}

typedef struct ft_genarg {
    int max_tokens, top_k;
    double temperature, top_p;
    const char **stops;        /* [n_stops], the strings of argv */
    int n_stops;
    int given;                 /* some option was given */
} ft_genarg;

/* 256 new tokens at most, greedy, no top-k, top-p 1, no stop strings. */
void ft_genarg_init(ft_genarg *g);

/* Takes opt (with its argument) when it is one of the five and returns 1;
 * 0 for any other option. A bad value is a usage error (exit 2). */
int ft_genarg_take(ft_genarg *g, int opt, const char *arg);

/* The options for ft_gen_new: m's EOS ids, the template (NULL: plain). The
 * stop strings are borrowed from g. */
ft_gen_opts ft_genarg_opts(const ft_genarg *g, const ft_model *m, const char *template_spec);

void ft_genarg_free(ft_genarg *g);

#endif
