/* ft-eval: evaluate predictions -- classification scores with a bootstrap
 * interval and calibration error, generation scores, or the paired
 * comparison of two systems -- as a JSON report on stdout and a table on
 * stderr (see ft-eval(1)). The scores are lib/eval; this file reads
 * options and records. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "data/records.h"
#include "eval/report.h"
#include "eval/score.h"
#include "prog.h"

enum { OPT_TASK = FT_OPT_FIRST_PRIVATE, OPT_LABELS, OPT_COMPARE, OPT_MAX_RECORD };

static const struct option long_opts[] = {
    {"task", required_argument, 0, OPT_TASK}, {"labels", required_argument, 0, OPT_LABELS},
    {"compare", no_argument, 0, OPT_COMPARE},
    {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD}, FT_PROG_LONG};

struct options {
    int task;
    char **labels;
    int n_labels;
    int compare;
    size_t max_record_bytes;
    char **inputs;
    int n_inputs;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-eval [--task classify|sft] [options] [FILE]\n"
            "       ft-eval --compare A.mp B.mp\n"
            "Score the predictions in a record stream (FILE or standard input): a JSON\n"
            "report on standard output, a table on standard error.\n"
            "\n"
            "      --task T            classify (default): true class in \"gold_label\",\n"
            "                          else \"label\"; prediction in \"prediction\", else\n"
            "                          \"label\" beside \"gold_label\"; confidence from\n"
            "                          \"confidence\" or \"probs\"\n"
            "                          sft: reference in \"gold_response\", else \"response\";\n"
            "                          generated text in \"prediction\", else \"response\"\n"
            "                          beside \"gold_response\"\n"
            "      --labels A,B,...    the label set (default: every label seen, sorted);\n"
            "                          a label outside it is an error\n"
            "      --compare           A.mp and B.mp hold predictions for the same records:\n"
            "                          accuracy of each, difference, paired-bootstrap p\n"
            "      --max-record-bytes N  largest record accepted (default 64M)\n" FT_PROG_HELP
            "\nThe report's keys are listed in ft-eval(1).\n");
    exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    ft_err err;
    int opt;

    o->task = FT_EVAL_CLASSIFY;
    while ((opt = getopt_long(argc, argv, FT_PROG_SHORT, long_opts, NULL)) != -1) {
        if (ft_prog_common(opt, optarg, usage))
            continue;
        switch (opt) {
        case OPT_TASK:
            if (!strcmp(optarg, "classify"))
                o->task = FT_EVAL_CLASSIFY;
            else if (!strcmp(optarg, "sft"))
                o->task = FT_EVAL_SFT;
            else if (!strcmp(optarg, "lm"))
                ft_prog_usage_error("--task lm: perplexity needs a model (-m), which this "
                                    "build of ft-eval does not take yet");
            else
                ft_prog_usage_error("--task: unknown task \"%s\" (classify, sft)", optarg);
            break;
        case OPT_LABELS:
            ft_strv_free(o->labels, o->n_labels);
            if (ft_labels_parse(optarg, &o->labels, &o->n_labels, &err) < 0)
                ft_prog_usage_error("--labels: %s", err.msg);
            break;
        case OPT_COMPARE:
            o->compare = 1;
            break;
        case OPT_MAX_RECORD:
            if (ft_parse_bytes(optarg, &o->max_record_bytes, &err) < 0 ||
                o->max_record_bytes == 0)
                ft_prog_usage_error("--max-record-bytes: %s",
                                    o->max_record_bytes ? err.msg : "must be > 0");
            break;
        default:
            usage(2);
        }
    }
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
    if (o->compare && o->n_inputs != 2)
        ft_prog_usage_error("--compare takes two prediction streams, A.mp and B.mp");
    if (o->compare && o->task != FT_EVAL_CLASSIFY)
        ft_prog_usage_error("--compare compares classifications (--task classify)");
    if (!o->compare && o->n_inputs > 1)
        ft_prog_usage_error("more than one input file");
    if (!o->compare && (o->n_inputs == 0 || !strcmp(o->inputs[0], "-")) && isatty(0))
        ft_prog_usage_error("standard input is a terminal: pipe records in or give a FILE");
}

/* A string field: 1 when present (*s, *len set), 0 when absent, -1 when it
 * is not a string. */
static int str_field(const ft_record *rec, const char *key, const char **s, size_t *len,
                     ft_err *err)
{
    const ft_field *f = ft_record_get(rec, key);

    if (!f)
        return 0;
    return ft_field_str(f, s, len, err) < 0 ? -1 : 1;
}

/* A true value and a prediction by the rule of --help: truth in gold_KEY,
 * else KEY; prediction in "prediction", else KEY beside gold_KEY. */
typedef struct pair {
    const char *truth, *pred;
    size_t truth_len, pred_len;
} pair;

static int read_pair(const ft_record *rec, const char *key, const char *gold_key, pair *p,
                     ft_err *err)
{
    const char *s;
    size_t len;
    int has_gold, has_key, has_pred;

    if ((has_gold = str_field(rec, gold_key, &p->truth, &p->truth_len, err)) < 0 ||
        (has_key = str_field(rec, key, &s, &len, err)) < 0 ||
        (has_pred = str_field(rec, "prediction", &p->pred, &p->pred_len, err)) < 0)
        return -1;
    if (!has_gold && !has_key)
        return ft_err_set(err, "no \"%s\" field (the true value)", key);
    if (!has_gold) {
        p->truth = s;
        p->truth_len = len;
    }
    if (has_pred)
        return 0;
    if (has_gold && has_key) {
        p->pred = s;
        p->pred_len = len;
        return 0;
    }
    return ft_err_set(err, "no prediction: no \"prediction\" field, nor \"%s\" beside \"%s\"",
                      key, gold_key);
}

/* The predicted class's probability: "confidence", else probs[pred], else
 * NAN. */
static int read_confidence(const ft_record *rec, const pair *p, double *conf, ft_err *err)
{
    const ft_field *f = ft_record_get(rec, "confidence");
    ft_mp_cursor c;
    uint32_t n;

    *conf = NAN;
    if (f) {
        if (ft_field_num(f, conf, err) < 0)
            return -1;
        if (!(*conf >= 0 && *conf <= 1))
            return ft_err_set(err, "field \"confidence\": %g is not a probability", *conf);
        return 0;
    }
    if (!(f = ft_record_get(rec, "probs")))
        return 0;
    c = (ft_mp_cursor){f->val, f->val + f->val_bytes};
    if (ft_mp_map(&c, &n, err) < 0)
        return ft_err_prefix(err, "field \"probs\"");
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        size_t klen;
        double v;
        if (ft_mp_str(&c, &k, &klen, err) < 0 || ft_mp_num(&c, &v, err) < 0)
            return ft_err_prefix(err, "field \"probs\"");
        if (klen == p->pred_len && !memcmp(k, p->pred, klen))
            *conf = v;
    }
    return 0;
}

/* Records marked abstained by ft-label carry no prediction: counted apart. */
static int is_abstained(const ft_record *rec)
{
    const ft_field *f = ft_record_get(rec, "abstained");
    int v = 0;

    return f && ft_field_bool(f, &v, NULL) == 0 && v;
}

/* Reads one input file record by record; fn handles a record. */
typedef int (*record_fn)(void *ctx, const ft_record *rec, ft_err *err);

static int read_input(const char *path, size_t max_bytes, record_fn fn, void *ctx,
                      uint64_t *n_records, ft_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    ft_record rec;
    int rc;

    if (fd < 0)
        return ft_err_errno(err, path);
    ft_reader *rd = ft_reader_open(fd, path, max_bytes, err);
    if (!rd) {
        if (fd > 0)
            close(fd);
        return -1;
    }
    while ((rc = ft_reader_next(rd, &rec, err)) == 1) {
        if (fn(ctx, &rec, err) < 0) {
            ft_err_prefix(err, "%s: record %" PRIu64, ft_reader_name(rd), rec.number);
            rc = -1;
            break;
        }
    }
    if (n_records)
        *n_records = ft_reader_count(rd);
    ft_reader_free(rd);
    if (fd > 0)
        close(fd);
    return rc;
}

/* --- Scoring a stream ------------------------------------------------------ */

struct score {
    const struct options *o;
    ft_eval *ev;
    uint64_t abstained;
};

static int score_record(void *ctx, const ft_record *rec, ft_err *err)
{
    struct score *s = ctx;
    pair p;
    double conf;

    if (s->o->task == FT_EVAL_SFT) {
        if (read_pair(rec, "response", "gold_response", &p, err) < 0)
            return -1;
        char *pred = strndup(p.pred, p.pred_len), *ref = strndup(p.truth, p.truth_len);
        if (!pred || !ref) {
            free(pred);
            free(ref);
            return ft_err_set(err, "out of memory");
        }
        ft_eval_add_sft(s->ev, pred, ref);
        free(pred);
        free(ref);
        return 0;
    }
    if (is_abstained(rec)) {
        s->abstained++;
        return 0;
    }
    if (read_pair(rec, "label", "gold_label", &p, err) < 0 ||
        read_confidence(rec, &p, &conf, err) < 0)
        return -1;
    return ft_eval_add_classify(s->ev, p.truth, p.truth_len, p.pred, p.pred_len, conf, err);
}

static void emit(json_t *report)
{
    char *text = json_dumps(report, JSON_REAL_PRECISION(12));

    if (!text)
        ft_prog_fail("out of memory");
    puts(text);
    free(text);
    if (!ft_prog.quiet)
        ft_eval_table(report, stderr);
}

static void run_score(const struct options *o)
{
    struct score s = {.o = o};
    const char *path = o->n_inputs ? o->inputs[0] : "-";
    json_t *report;
    ft_err err;

    if (!(s.ev = ft_eval_new(o->task, ft_prog.seed, &err)))
        ft_prog_die(&err);
    if (o->labels && ft_eval_set_labels(s.ev, (const char *const *)o->labels, o->n_labels,
                                        &err) < 0)
        ft_prog_die(&err);
    if (read_input(path, o->max_record_bytes, score_record, &s, NULL, &err) < 0)
        ft_prog_die(&err);
    if (s.abstained)
        ft_prog_warn("%" PRIu64 " abstained records (no prediction) left out", s.abstained);
    if (!(report = ft_eval_report(s.ev, &err)))
        ft_prog_die(&err);
    emit(report);
    json_decref(report);
    ft_eval_free(s.ev);
}

/* --- Comparing two systems ------------------------------------------------- */

struct side {
    const struct options *o;
    ft_eval *labels;         /* checks names against --labels */
    double *correct;
    size_t n, cap;
    uint8_t **ids;           /* raw msgpack of each record's id (NULL: none) */
    size_t *id_bytes;
};

static int side_record(void *ctx, const ft_record *rec, ft_err *err)
{
    struct side *s = ctx;
    const ft_field *id = ft_record_get(rec, "id");
    size_t cap = s->cap;
    pair p;

    if (read_pair(rec, "label", "gold_label", &p, err) < 0)
        return -1;
    if (s->labels && ft_eval_label_index(s->labels, p.truth, p.truth_len) < 0)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)p.truth_len,
                          p.truth);
    if (s->labels && ft_eval_label_index(s->labels, p.pred, p.pred_len) < 0)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)p.pred_len,
                          p.pred);
    if (ft_grow(&s->correct, &cap, s->n + 1, sizeof *s->correct, err) < 0)
        return -1;
    cap = s->cap;
    if (ft_grow(&s->ids, &cap, s->n + 1, sizeof *s->ids, err) < 0)
        return -1;
    cap = s->cap;
    if (ft_grow(&s->id_bytes, &cap, s->n + 1, sizeof *s->id_bytes, err) < 0)
        return -1;
    s->cap = cap;
    s->correct[s->n] = p.truth_len == p.pred_len && !memcmp(p.truth, p.pred, p.pred_len);
    s->ids[s->n] = NULL;
    s->id_bytes[s->n] = 0;
    if (id) {
        if (!(s->ids[s->n] = ft_malloc(id->val_bytes, err)))
            return -1;
        memcpy(s->ids[s->n], id->val, id->val_bytes);
        s->id_bytes[s->n] = id->val_bytes;
    }
    s->n++;
    return 0;
}

static void free_side(struct side *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    free(s->id_bytes);
    free(s->correct);
}

static void run_compare(const struct options *o)
{
    struct side a = {.o = o}, b = {.o = o};
    ft_eval *labels = NULL;
    json_t *report;
    ft_err err;

    if (o->labels) {
        if (!(labels = ft_eval_new(FT_EVAL_CLASSIFY, 0, &err)) ||
            ft_eval_set_labels(labels, (const char *const *)o->labels, o->n_labels, &err) < 0)
            ft_prog_die(&err);
        a.labels = b.labels = labels;
    }
    if (read_input(o->inputs[0], o->max_record_bytes, side_record, &a, NULL, &err) < 0 ||
        read_input(o->inputs[1], o->max_record_bytes, side_record, &b, NULL, &err) < 0)
        ft_prog_die(&err);
    if (a.n != b.n)
        ft_prog_fail("%s has %zu records, %s has %zu: not predictions for the same records",
                     o->inputs[0], a.n, o->inputs[1], b.n);
    for (size_t i = 0; i < a.n; i++)
        if (a.id_bytes[i] != b.id_bytes[i] ||
            (a.id_bytes[i] && memcmp(a.ids[i], b.ids[i], a.id_bytes[i])))
            ft_prog_fail("%s: record %zu: its id differs from record %zu of %s", o->inputs[1],
                         i + 1, i + 1, o->inputs[0]);
    if (!(report = ft_eval_compare(a.correct, b.correct, a.n, ft_prog.seed, &err)))
        ft_prog_die(&err);
    emit(report);
    json_decref(report);
    free_side(&a);
    free_side(&b);
    ft_eval_free(labels);
}

int main(int argc, char **argv)
{
    struct options o = {0};

    ft_prog_init("ft-eval");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.compare)
        run_compare(&o);
    else
        run_score(&o);
    ft_strv_free(o.labels, o.n_labels);
    return 0;
}
