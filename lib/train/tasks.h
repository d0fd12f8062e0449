/* tasks: what a record means to ft-train beyond language modelling --
 * instruction tuning (sft), chat and classification by label words -- as
 * masked examples in the spool (data.h).
 *
 * Every example is rendered by a template (text/template.h) into context
 * and target segments, tokenized segment by segment (ft_rendered_encode:
 * the tokenizer's BOS first, EOS where the template ends an answer), so
 * the loss mask is exact. Records:
 *   sft       prompt, response (not empty), optional system
 *   chat      messages: [{role, content}], roles system (first only),
 *             user, assistant; loss on every assistant turn
 *   classify  text, label; the target is the label's word (verbalizer)
 * and an optional weight (a finite number >= 0) for each. "tokens" is not
 * used by these tasks: the fields are tokenized here.
 *
 * Truncation to max_len tokens (with truncate 1; else such a record is an
 * error): classify keeps the longest prefix of the text (whole characters)
 * that fits with template and label word; sft drops the prompt's start,
 * keeping the longest suffix that fits, never the response; chat drops the
 * oldest user/assistant exchanges (a system turn stays), then cuts the
 * last user turn's start as sft does. When even an empty text or prompt
 * does not fit, the record is an error. Cut points are found by bisection
 * over character boundaries.
 *
 * Not here: the spool and rows (data.h), scoring (eval/score.h). */
#ifndef FT_TRAIN_TASKS_H
#define FT_TRAIN_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/records.h"
#include "text/template.h"
#include "text/tokenizer.h"
#include "train/data.h"

enum ft_task { FT_TASK_LM, FT_TASK_SFT, FT_TASK_CHAT, FT_TASK_CLASSIFY };

typedef struct ft_task_source {
    int task;                /* FT_TASK_SFT, _CHAT or _CLASSIFY */
    ft_tokenizer *tok;       /* borrowed */
    const ft_template *tpl;  /* borrowed */
    int max_len;             /* tokens per example */
    int truncate;            /* 1: cut as above; 0: too long is an error */
    int32_t vocab;           /* the model's: every id must lie below it */

    /* classify: the label set. fixed 1: given (--labels), a label outside
     * it is an error; 0: grows with the data (first-seen order; sort with
     * ft_task_source_sort_labels after reading). words[l] is label l's
     * word; verbalizer (NULL: none) is --verbalizer, consulted for labels
     * met in the data. */
    char **labels, **words;
    int n_labels, cap_labels;
    int fixed;
    const char *verbalizer;

    /* keep 1: remember each classify record's text and label name (for
     * scoring the evaluation stream). */
    int keep;
    char **kept_text;
    size_t *kept_len;
    char **kept_label;
    size_t n_kept, cap_kept;

    size_t n_truncated;      /* examples cut to fit */

    /* scratch */
    ft_rendered r;
    int32_t *ids;
    uint8_t *mask;
    size_t n, cap;
    ft_turn *turns;
    char (*roles)[16];
    size_t cap_turns;
} ft_task_source;

/* An ft_record_fn (ctx: an ft_task_source). */
int ft_task_record(void *ctx, const ft_record *rec, ft_spool *s, ft_err *err);

/* Sort a label set taken from the data (byte order) and check the
 * verbalizer names only labels of the set. Labels kept for scoring are
 * names, unaffected. */
int ft_task_source_sort_labels(ft_task_source *src, ft_err *err);

/* The word of a label under a verbalizer spec ("a=x,b=y"), malloc'd: the
 * label itself when the spec does not name it. */
char *ft_task_word(const char *verbalizer, const char *label, size_t len, ft_err *err);

/* Frees what the source owns (labels, words, kept texts, scratch). */
void ft_task_source_free(ft_task_source *src);

#endif
