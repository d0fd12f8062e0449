/* scorearg: open the label scorer from program options (see scorearg.h). */
#include "scorearg.h"

#include "prog.h"

ft_scorer *ft_scorearg_open(const ft_scorearg *a)
{
    ft_score_opts so = {0};
    char **words = NULL;
    const char *const *labels;
    ft_scorer *sc;
    ft_err err;

    so.template_spec = a->template_spec;
    so.labels = (const char *const *)a->labels;
    so.n_labels = a->n_labels;
    so.length_norm = a->length_norm;
    so.batch_size = a->batch_size;
    so.max_len = a->max_len;
    if (a->verbalizer) {
        if (ft_verbalizer_parse(a->verbalizer, a->labels, a->n_labels, &words, &err) < 0)
            ft_prog_usage_error("--verbalizer: %s", err.msg);
        so.words = (const char *const *)words;
    }
    if (!(sc = ft_scorer_open(a->model, a->adapter, a->tokenizer, &so, &err))) {
        if (err.kind == FT_ERR_USAGE)
            err.kind = FT_ERR_RUNTIME;
        ft_prog_die(&err);
    }
    ft_strv_free(words, a->n_labels);
    int L = ft_scorer_labels(sc, &labels);
    if (L < 2) {
        ft_scorer_free(sc); /* before exit: nothing left for a leak checker */
        ft_prog_fail("%s: a label set of %d label%s: classification needs two at least",
                     a->adapter ? a->adapter : a->model, L, L == 1 ? "" : "s");
    }
    return sc;
}
