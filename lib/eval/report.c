/* report: ft-eval's accumulator and its JSON and table forms (see
 * report.h). */
#include "eval/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/metrics.h"

struct ft_eval {
    int task;
    uint64_t seed;
    int n_boot;                /* bootstrap resamples */
    int fixed;                 /* labels fixed up front */
    char **names;              /* [k] */
    size_t *name_len;
    int k, k_cap;
    int *truth, *pred;         /* [n] indices into names */
    double *conf;              /* [n] NAN when unknown */
    size_t n, cap;
    int no_conf;               /* some record had no confidence */
    double nll, tokens, bytes; /* lm */
    double em, f1, rouge;      /* sft sums */
    size_t n_texts;            /* lm and sft records */
};

ft_eval *ft_eval_new(int task, uint64_t seed, int n_boot, ft_err *err)
{
    ft_eval *e = ft_calloc(1, sizeof *e, err);

    if (e) {
        e->task = task;
        e->seed = seed;
        e->n_boot = n_boot;
    }
    return e;
}

void ft_eval_free(ft_eval *e)
{
    if (!e)
        return;
    for (int c = 0; c < e->k; c++)
        free(e->names[c]);
    free(e->names);
    free(e->name_len);
    free(e->truth);
    free(e->pred);
    free(e->conf);
    free(e);
}

int ft_eval_label_index(const ft_eval *e, const char *name, size_t len)
{
    for (int c = 0; c < e->k; c++)
        if (e->name_len[c] == len && !memcmp(e->names[c], name, len))
            return c;
    return -1;
}

static int add_name(ft_eval *e, const char *name, size_t len, ft_err *err)
{
    size_t cap = (size_t)e->k_cap;
    char *s;

    if (ft_grow(&e->names, &cap, (size_t)e->k + 1, sizeof *e->names, err) < 0)
        return -1;
    cap = (size_t)e->k_cap;
    if (ft_grow(&e->name_len, &cap, (size_t)e->k + 1, sizeof *e->name_len, err) < 0)
        return -1;
    e->k_cap = (int)cap;
    if (!(s = ft_malloc(len + 1, err)))
        return -1;
    memcpy(s, name, len);
    s[len] = '\0';
    e->names[e->k] = s;
    e->name_len[e->k] = len;
    return e->k++;
}

int ft_eval_set_labels(ft_eval *e, const char *const *names, int k, ft_err *err)
{
    for (int c = 0; c < k; c++) {
        if (ft_eval_label_index(e, names[c], strlen(names[c])) >= 0)
            return ft_err_setk(err, FT_ERR_USAGE, "label '%s' given twice", names[c]);
        if (add_name(e, names[c], strlen(names[c]), err) < 0)
            return -1;
    }
    e->fixed = 1;
    return 0;
}

/* The index of a label, added to an open set; -1 with a message when a
 * fixed set does not hold it. */
static int label_of(ft_eval *e, const char *name, size_t len, ft_err *err)
{
    int c = ft_eval_label_index(e, name, len);

    if (c >= 0)
        return c;
    if (e->fixed)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)len, name);
    return add_name(e, name, len, err);
}

int ft_eval_add_classify(ft_eval *e, const char *truth, size_t truth_len, const char *pred,
                         size_t pred_len, double confidence, ft_err *err)
{
    int t = label_of(e, truth, truth_len, err), p;

    if (t < 0 || (p = label_of(e, pred, pred_len, err)) < 0)
        return -1;
    size_t cap = e->cap;
    if (ft_grow(&e->truth, &cap, e->n + 1, sizeof *e->truth, err) < 0)
        return -1;
    cap = e->cap;
    if (ft_grow(&e->pred, &cap, e->n + 1, sizeof *e->pred, err) < 0)
        return -1;
    cap = e->cap;
    if (ft_grow(&e->conf, &cap, e->n + 1, sizeof *e->conf, err) < 0)
        return -1;
    e->cap = cap;
    e->truth[e->n] = t;
    e->pred[e->n] = p;
    e->conf[e->n] = confidence;
    e->no_conf |= isnan(confidence);
    e->n++;
    return 0;
}

void ft_eval_add_lm(ft_eval *e, double nll_nats, double n_tokens, double n_bytes)
{
    e->nll += nll_nats;
    e->tokens += n_tokens;
    e->bytes += n_bytes;
    e->n_texts++;
}

void ft_eval_add_sft(ft_eval *e, const char *pred, const char *ref)
{
    e->em += ft_metrics_exact_match(pred, ref);
    e->f1 += ft_metrics_token_f1(pred, ref);
    e->rouge += ft_metrics_rouge_l(pred, ref);
    e->n_texts++;
}

/* A number, or null when it does not exist. */
static json_t *num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* An open label set is reported sorted by bytes: renumber every index. */
static int sort_labels(ft_eval *e, ft_err *err)
{
    int *order, *rank;

    if (e->fixed || e->k < 2)
        return 0;
    order = ft_malloc((size_t)e->k * sizeof *order, err);
    rank = ft_malloc((size_t)e->k * sizeof *rank, err);
    if (!order || !rank) {
        free(order);
        free(rank);
        return -1;
    }
    /* Insertion sort: label sets are small. */
    for (int c = 0; c < e->k; c++) {
        int j = c;
        while (j > 0 && strcmp(e->names[order[j - 1]], e->names[c]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = c;
    }
    char **names = ft_malloc((size_t)e->k * sizeof *names, err);
    size_t *lens = ft_malloc((size_t)e->k * sizeof *lens, err);
    if (!names || !lens) {
        free(names);
        free(lens);
        free(order);
        free(rank);
        return -1;
    }
    for (int r = 0; r < e->k; r++) {
        rank[order[r]] = r;
        names[r] = e->names[order[r]];
        lens[r] = e->name_len[order[r]];
    }
    memcpy(e->names, names, (size_t)e->k * sizeof *names);
    memcpy(e->name_len, lens, (size_t)e->k * sizeof *lens);
    for (size_t i = 0; i < e->n; i++) {
        e->truth[i] = rank[e->truth[i]];
        e->pred[i] = rank[e->pred[i]];
    }
    free(names);
    free(lens);
    free(order);
    free(rank);
    return 0;
}

static json_t *classify_report(ft_eval *e, ft_err *err)
{
    ft_cls_report r;
    json_t *o = json_object(), *labels = json_array(), *per = json_object();
    json_t *conf = json_array(), *ci = json_array();
    double *correct = NULL, lo = NAN, hi = NAN;
    int k = e->k;

    if (sort_labels(e, err) < 0 || ft_metrics_classify(&r, e->truth, e->pred, e->n, k, err) < 0)
        goto fail;
    if (!(correct = ft_malloc((e->n ? e->n : 1) * sizeof *correct, err)))
        goto fail_r;
    for (size_t i = 0; i < e->n; i++)
        correct[i] = e->truth[i] == e->pred[i];
    if (e->n)
        ft_metrics_bootstrap_mean(correct, e->n, e->n_boot, 0.95, e->seed, &lo, &hi);
    json_array_append_new(ci, num(lo));
    json_array_append_new(ci, num(hi));

    for (int c = 0; c < k; c++) {
        json_t *pc = json_object(), *row = json_array();
        json_array_append_new(labels, json_stringn(e->names[c], e->name_len[c]));
        json_object_set_new(pc, "precision", json_real(r.precision[c]));
        json_object_set_new(pc, "recall", json_real(r.recall[c]));
        json_object_set_new(pc, "f1", json_real(r.f1[c]));
        json_object_set_new(pc, "support", json_integer((json_int_t)r.support[c]));
        json_object_set_new(per, e->names[c], pc);
        for (int d = 0; d < k; d++)
            json_array_append_new(row, json_integer((json_int_t)r.confusion[c * k + d]));
        json_array_append_new(conf, row);
    }

    double ece = e->n && !e->no_conf
                     ? ft_metrics_ece(e->truth, e->pred, e->conf, e->n, FT_EVAL_ECE_BINS)
                     : NAN;
    json_object_set_new(o, "task", json_string("classify"));
    json_object_set_new(o, "n", json_integer((json_int_t)e->n));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "accuracy", num(e->n ? r.accuracy : NAN));
    json_object_set_new(o, "accuracy_ci", ci);
    json_object_set_new(o, "macro_f1", num(e->n ? r.macro_f1 : NAN));
    json_object_set_new(o, "macro_precision", num(e->n ? r.macro_precision : NAN));
    json_object_set_new(o, "macro_recall", num(e->n ? r.macro_recall : NAN));
    json_object_set_new(o, "per_class", per);
    json_object_set_new(o, "confusion", conf);
    json_object_set_new(o, "ece", num(ece));
    free(correct);
    ft_cls_report_free(&r);
    return o;
fail_r:
    ft_cls_report_free(&r);
fail:
    json_decref(o);
    json_decref(labels);
    json_decref(per);
    json_decref(conf);
    json_decref(ci);
    return NULL;
}

json_t *ft_eval_report(ft_eval *e, ft_err *err)
{
    json_t *o;
    double n = (double)e->n_texts;

    if (e->task == FT_EVAL_CLASSIFY)
        return classify_report(e, err);
    o = json_object();
    if (!o) {
        ft_err_set(err, "out of memory");
        return NULL;
    }
    json_object_set_new(o, "task", json_string(e->task == FT_EVAL_LM ? "lm" : "sft"));
    json_object_set_new(o, "n", json_integer((json_int_t)e->n_texts));
    if (e->task == FT_EVAL_LM) {
        json_object_set_new(o, "tokens", json_integer((json_int_t)e->tokens));
        json_object_set_new(o, "bytes", json_integer((json_int_t)e->bytes));
        json_object_set_new(o, "nll", num(e->tokens > 0 ? e->nll : NAN));
        json_object_set_new(o, "perplexity", num(ft_metrics_perplexity(e->nll, e->tokens)));
        json_object_set_new(o, "bits_per_byte",
                            num(ft_metrics_bits_per_byte(e->nll, e->bytes)));
    } else {
        json_object_set_new(o, "exact_match", num(n > 0 ? e->em / n : NAN));
        json_object_set_new(o, "token_f1", num(n > 0 ? e->f1 / n : NAN));
        json_object_set_new(o, "rouge_l", num(n > 0 ? e->rouge / n : NAN));
    }
    return o;
}

json_t *ft_eval_compare(const double *correct_a, const double *correct_b, size_t n,
                        int n_boot, uint64_t seed, ft_err *err)
{
    json_t *o = json_object();
    double sa = 0, sb = 0, diff = NAN, p = NAN;

    if (!o) {
        ft_err_set(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        sa += correct_a[i];
        sb += correct_b[i];
    }
    if (n)
        ft_metrics_paired_bootstrap(correct_a, correct_b, n, n_boot, seed, &diff, &p);
    json_object_set_new(o, "task", json_string("compare"));
    json_object_set_new(o, "n", json_integer((json_int_t)n));
    json_object_set_new(o, "accuracy_a", num(n ? sa / n : NAN));
    json_object_set_new(o, "accuracy_b", num(n ? sb / n : NAN));
    json_object_set_new(o, "difference", num(diff));
    json_object_set_new(o, "p_value", num(p));
    return o;
}

/* --- The table --------------------------------------------------------------- */

static void put_num(FILE *f, const char *fmt, const json_t *v)
{
    if (json_is_number(v))
        fprintf(f, fmt, json_number_value(v));
    else
        fprintf(f, "%s", "-");
}

static void key_num(FILE *f, const json_t *r, const char *key, const char *label)
{
    fprintf(f, "  %s ", label);
    put_num(f, "%.4f", json_object_get(r, key));
}

static void classify_table(const json_t *r, FILE *f)
{
    const json_t *labels = json_object_get(r, "labels"), *ci = json_object_get(r, "accuracy_ci");
    const json_t *per = json_object_get(r, "per_class"), *conf = json_object_get(r, "confusion");
    size_t k = json_array_size(labels), w = 9;

    fprintf(f, "n %lld", (long long)json_integer_value(json_object_get(r, "n")));
    key_num(f, r, "accuracy", "accuracy");
    fprintf(f, " [");
    put_num(f, "%.4f", json_array_get(ci, 0));
    fprintf(f, ", ");
    put_num(f, "%.4f", json_array_get(ci, 1));
    fprintf(f, "]");
    key_num(f, r, "macro_f1", "macro-F1");
    key_num(f, r, "ece", "ECE");
    fputc('\n', f);
    for (size_t c = 0; c < k; c++) {
        size_t l = strlen(json_string_value(json_array_get(labels, c)));
        w = l > w ? l : w;
    }
    w = w > 24 ? 24 : w;
    fprintf(f, "%-*s %9s %9s %9s %9s\n", (int)w, "class", "precision", "recall", "f1",
            "support");
    for (size_t c = 0; c < k; c++) {
        const char *name = json_string_value(json_array_get(labels, c));
        const json_t *pc = json_object_get(per, name);
        fprintf(f, "%-*.*s", (int)w, (int)w, name);
        put_num(f, " %9.4f", json_object_get(pc, "precision"));
        put_num(f, " %9.4f", json_object_get(pc, "recall"));
        put_num(f, " %9.4f", json_object_get(pc, "f1"));
        fprintf(f, " %9lld\n", (long long)json_integer_value(json_object_get(pc, "support")));
    }
    fprintf(f, "confusion (rows true, columns predicted):\n%-*s", (int)w, "");
    for (size_t c = 0; c < k; c++)
        fprintf(f, " %9.9s", json_string_value(json_array_get(labels, c)));
    fputc('\n', f);
    for (size_t c = 0; c < k; c++) {
        fprintf(f, "%-*.*s", (int)w, (int)w, json_string_value(json_array_get(labels, c)));
        for (size_t d = 0; d < k; d++)
            fprintf(f, " %9lld",
                    (long long)json_integer_value(json_array_get(json_array_get(conf, c), d)));
        fputc('\n', f);
    }
}

void ft_eval_table(const json_t *r, FILE *f)
{
    const char *task = json_string_value(json_object_get(r, "task"));

    if (!task)
        return;
    if (!strcmp(task, "classify")) {
        classify_table(r, f);
        return;
    }
    fprintf(f, "n %lld", (long long)json_integer_value(json_object_get(r, "n")));
    if (!strcmp(task, "lm")) {
        fprintf(f, "  tokens %lld", (long long)json_integer_value(json_object_get(r, "tokens")));
        key_num(f, r, "perplexity", "perplexity");
        key_num(f, r, "bits_per_byte", "bits/byte");
    } else if (!strcmp(task, "sft")) {
        key_num(f, r, "exact_match", "exact match");
        key_num(f, r, "token_f1", "token F1");
        key_num(f, r, "rouge_l", "ROUGE-L");
    } else {
        key_num(f, r, "accuracy_a", "accuracy A");
        key_num(f, r, "accuracy_b", "accuracy B");
        key_num(f, r, "difference", "A - B");
        key_num(f, r, "p_value", "p");
    }
    fputc('\n', f);
}
