/* scorearg: the label scorer of ft-label and ft-eval from their options
 * (-m, -a, --tokenizer, --labels, --verbalizer, --template, --length-norm,
 * --max-len, --batch-size); what an option leaves unset comes from the
 * task metadata stored in the adapter or model. */
#ifndef FT_SCOREARG_H
#define FT_SCOREARG_H

#include "eval/score.h"

typedef struct ft_scorearg {
    const char *model, *adapter, *tokenizer, *template_spec, *verbalizer;
    char **labels;             /* NULL: stored */
    int n_labels;
    int length_norm, batch_size, max_len;
} ft_scorearg;

/* The scorer, or exit: 2 for a bad --verbalizer, 1 for anything else
 * (a model without a stored label set and no --labels included, since that
 * is a fact about the model); fewer than two labels is an error too. */
ft_scorer *ft_scorearg_open(const ft_scorearg *a);

#endif
