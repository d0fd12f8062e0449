/* select: which pseudo-labelled records ft-label keeps.
 *
 * A record has a predicted class and a confidence (the probability of that
 * class). The rules:
 *   threshold P     eligible when confidence >= P (P < 0: every record)
 *   top per class K among the eligible records of each predicted class, the
 *                   K most confident; equal confidences go to the earlier
 *                   record, so the choice depends on nothing but the input
 *                   (K 0: no limit)
 * A class with fewer than K eligible records keeps all of them; the counts
 * say so, and the program warns.
 *
 * Not here: what happens to records not kept (dropped, or kept unlabelled
 * with --abstain), which is the program's business. */
#ifndef FT_EVAL_SELECT_H
#define FT_EVAL_SELECT_H

#include <stddef.h>

#include "core/err.h"

/* keep [n] gets 1 for the records kept, 0 otherwise; kept_per_class [k]
 * (may be NULL) the number kept of each class. cls [n] in [0, k). */
int ft_select_records(unsigned char *keep, size_t *kept_per_class, const int *cls,
                      const double *conf, size_t n, int k, double threshold, size_t top_k,
                      ft_err *err);

/* Whether one record passes the threshold alone (the streaming case, no
 * top-per-class). */
int ft_select_passes(double conf, double threshold);

#endif
