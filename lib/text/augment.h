/* augment: label-preserving rewrites of a text (EDA and more).
 *
 * Operations (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for
 * Boosting Performance on Text Classification Tasks", EMNLP-IJCNLP; plus two
 * sentence-level ones):
 *   sr       replace n distinct non-stop words that have synonyms, each (every
 *            occurrence) by one random synonym, keeping its capitalisation
 *   ri       n times, insert a random synonym of a random non-stop word of the
 *            text at a random word position
 *   rs       n times, swap two random words
 *   rd       delete each word with probability p; never every word
 *   reorder  shuffle the sentences (a text of one sentence is left alone)
 *   perturb  rewrite one sentence with one rule that fires on it (perturb.h)
 * with n = max(1, floor(alpha * words)), alpha per operation (0 turns the
 * operation off). Words and punctuation are told apart (words.h): word edits
 * move, replace or delete words only, and punctuation stays where it was.
 * Words with a digit are never replaced or used as an insertion source.
 *
 * Rewrite k of a record applies the operation at position (s + k - 1) mod
 * n_ops of the enabled list, s a random start per record; when it leaves the
 * text unchanged (no synonym, one sentence, no rule fires...), the next
 * operations in the list are tried in turn. With ops_per_aug M, up to M
 * operations that change the text are chained. Every random choice of
 * rewrite k comes from a generator seeded by (run seed, record id, k) only,
 * so a rewrite never depends on other records, threads or rewrites.
 *
 * Not here: records, ids and output keys (the program), loading resources
 * (synonyms.h, wordnet.h, perturb.h, strtab.h). */
#ifndef FT_TEXT_AUGMENT_H
#define FT_TEXT_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "text/perturb.h"
#include "text/strtab.h"
#include "text/synonyms.h"

enum {
    FT_AUG_SR,
    FT_AUG_RI,
    FT_AUG_RS,
    FT_AUG_RD,
    FT_AUG_REORDER,
    FT_AUG_PERTURB,
    FT_AUG_N_OPS
};

typedef struct ft_aug_opts {
    int ops[FT_AUG_N_OPS];   /* enabled operations, in rotation order */
    int n_ops;
    double alpha_sr, alpha_ri, alpha_rs, p_rd;
    int ops_per_aug;         /* operations chained in one rewrite (>= 1) */
} ft_aug_opts;

/* EDA's defaults: sr, ri, rs, rd; every alpha and p 0.1; one op a rewrite. */
void ft_aug_opts_default(ft_aug_opts *o);
/* Set o->ops from a comma-separated list of names ("sr,rd,reorder"). */
int ft_aug_parse_ops(ft_aug_opts *o, const char *list, ft_err *err);
const char *ft_aug_op_name(int op);

typedef struct ft_augmenter ft_augmenter;
typedef struct ft_aug_work ft_aug_work;

/* The resources are borrowed and must outlive the augmenter: syn (NULL:
 * sr and ri never change a text), stop words in lower case (NULL: none),
 * rules (NULL or empty: perturb never changes a text). Read-only afterwards:
 * one augmenter serves every thread. */
ft_augmenter *ft_aug_new(const ft_aug_opts *o, const ft_synonyms *syn,
                         const ft_strtab *stop, const ft_perturb *rules, ft_err *err);
void ft_aug_free(ft_augmenter *a);

/* Per-thread scratch. */
ft_aug_work *ft_aug_work_new(const ft_augmenter *a, ft_err *err);
void ft_aug_work_free(ft_aug_work *w);

/* The seed of one record's rewrites: from the run's seed and the record id
 * (its raw msgpack bytes, so the id 7 and the id "7" differ). */
uint64_t ft_aug_record_seed(uint64_t seed, const void *id, size_t id_bytes);

/* Take a text to rewrite; it must stay valid until the next prepare. Invalid
 * UTF-8 is an error: "invalid UTF-8 at byte N". */
int ft_aug_prepare(ft_aug_work *w, const char *text, size_t n, ft_err *err);

/* Rewrite k (1-based) of the prepared text. *out (valid until the next call)
 * receives the text and *aug the operations applied, joined by '+' ("sr",
 * "sr+rd"); when no enabled operation changes the text, *out is the text
 * itself and *aug names the first operation tried. */
int ft_aug_rewrite(ft_aug_work *w, uint64_t record_seed, uint32_t k, const char **out,
                   size_t *out_len, const char **aug, ft_err *err);

#endif
