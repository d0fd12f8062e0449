/* ft-eval: evaluate a model or its predictions -- classification scores
 * with a bootstrap interval and calibration error, perplexity and bits per
 * byte, generation scores, or the paired comparison of two systems -- as a
 * JSON report on stdout and a table on stderr (see ft-eval(1)). The scores
 * are lib/eval; this file reads options and records. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/progress.h"
#include "data/records.h"
#include "eval/calibrate.h"
#include "eval/gen.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "eval/score.h"
#include "genarg.h"
#include "modelarg.h"
#include "prog.h"
#include "recout.h"
#include "scorearg.h"

enum {
    OPT_TASK = FT_OPT_FIRST_PRIVATE, OPT_LABELS, OPT_COMPARE, OPT_MAX_RECORD, OPT_TOKENIZER,
    OPT_VERBALIZER, OPT_TEMPLATE, OPT_LENGTH_NORM, OPT_MAX_LEN, OPT_PREDICTIONS, OPT_SEQ_LEN,
    OPT_RESAMPLES
};

static const struct option long_opts[] = {
    {"task", required_argument, 0, OPT_TASK}, {"labels", required_argument, 0, OPT_LABELS},
    {"compare", no_argument, 0, OPT_COMPARE},
    {"resamples", required_argument, 0, OPT_RESAMPLES},
    {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
    {"model", required_argument, 0, 'm'}, {"adapter", required_argument, 0, 'a'},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER},
    {"verbalizer", required_argument, 0, OPT_VERBALIZER},
    {"template", required_argument, 0, OPT_TEMPLATE},
    {"length-norm", no_argument, 0, OPT_LENGTH_NORM},
    {"max-len", required_argument, 0, OPT_MAX_LEN},
    {"batch-size", required_argument, 0, 'b'},
    {"predictions", required_argument, 0, OPT_PREDICTIONS},
    {"seq-len", required_argument, 0, OPT_SEQ_LEN},
    FT_GENARG_LONG, FT_PROG_LONG};

struct options {
    int task;                  /* 0: from the model's metadata, else classify */
    char **labels;
    int n_labels;
    int compare;
    int resamples;             /* bootstrap resamples */
    size_t max_record_bytes;
    const char *model, *adapter, *tokenizer, *verbalizer, *template_spec, *predictions;
    int length_norm, max_len, batch_size, seq_len;
    ft_genarg gen;             /* sft's sampling */
    char **inputs;
    int n_inputs;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-eval [-m MODEL [-a ADAPTER]] [--task classify|lm|sft] [options] [FILE]\n"
            "       ft-eval --compare A.mp B.mp\n"
            "Evaluate a model on a record stream (FILE or standard input), or score the\n"
            "predictions the records carry: a JSON report on standard output, a table\n"
            "on standard error.\n"
            "\n"
            "      --task T            classify: true class in \"gold_label\", else \"label\";\n"
            "                          without -m the prediction is \"prediction\", else\n"
            "                          \"label\" beside \"gold_label\"\n"
            "                          lm: perplexity and bits per byte of \"text\" (-m)\n"
            "                          sft: generate for \"prompt\" (-m), or take\n"
            "                          \"prediction\"; reference \"gold_response\", else\n"
            "                          \"response\"\n"
            "                          default: the task stored in the model, else classify\n"
            "      --labels A,B,...    the label set (default: the model's; without -m\n"
            "                          every label seen, sorted); others are an error\n"
            "      --compare           A.mp and B.mp hold predictions for the same records:\n"
            "                          accuracy of each, difference, paired-bootstrap p\n"
            "      --resamples N       bootstrap resamples of the accuracy interval and of\n"
            "                          --compare's p (default 1000)\n"
            "      --predictions FILE  write each record with its prediction (-m)\n"
            "Model (-m):\n"
            "  -m, --model MODEL       model directory, archive, GGUF or llama2.c .bin\n"
            "  -a, --adapter DIR       a LoRA or P-tuning v2 adapter (PEFT layout)\n"
            "      --tokenizer FILE    tokenizer.json when the model has none\n"
            "      --verbalizer L=W,...  classify: the word scored for a label\n"
            "      --template T        plain, alpaca, chatml, llama2, llama3 or a string\n"
            "      --length-norm       classify: mean log-probability per label token\n"
            "      --max-len N         classify: tokens per scored row\n"
            "  -b, --batch-size N      classify: rows per forward pass (default 8)\n"
            "      --seq-len N         lm: window length (default: the model's context,\n"
            "                          at most 1024); windows advance by N/2\n"
            "      --max-tokens N      sft: new tokens at most (default 256)\n"
            "      --temperature T     sft: 0 greedy (default), else sample at T\n"
            "      --top-k K, --top-p P  sft: sampling filters (default off)\n"
            "      --stop STRING       sft: end a response at STRING (repeatable)\n"
            "      --max-record-bytes N  largest record accepted (default 64M)\n" FT_PROG_HELP
            "\nThe report's keys are listed in ft-eval(1).\n");
    exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    ft_err err;
    int opt, model_opts = 0;

    ft_genarg_init(&o->gen);
    o->resamples = FT_EVAL_BOOT;
    while ((opt = getopt_long(argc, argv, FT_PROG_SHORT "m:a:b:", long_opts, NULL)) != -1) {
        if (ft_prog_common(opt, optarg, usage))
            continue;
        if (ft_genarg_take(&o->gen, opt, optarg)) {
            model_opts = 1;
            continue;
        }
        switch (opt) {
        case OPT_TASK:
            if (!strcmp(optarg, "classify"))
                o->task = FT_EVAL_CLASSIFY;
            else if (!strcmp(optarg, "sft"))
                o->task = FT_EVAL_SFT;
            else if (!strcmp(optarg, "lm"))
                o->task = FT_EVAL_LM;
            else
                ft_prog_usage_error("--task: unknown task \"%s\" (classify, lm, sft)", optarg);
            break;
        case OPT_LABELS:
            ft_strv_free(o->labels, o->n_labels);
            if (ft_labels_parse(optarg, &o->labels, &o->n_labels, &err) < 0)
                ft_prog_usage_error("--labels: %s", err.msg);
            break;
        case OPT_COMPARE: o->compare = 1; break;
        case OPT_RESAMPLES:
            o->resamples = (int)ft_prog_long("--resamples", optarg, 1, 10000000);
            break;
        case OPT_MAX_RECORD:
            if (ft_parse_bytes(optarg, &o->max_record_bytes, &err) < 0 ||
                o->max_record_bytes == 0)
                ft_prog_usage_error("--max-record-bytes: %s",
                                    o->max_record_bytes ? err.msg : "must be > 0");
            break;
        case 'm': o->model = optarg; break;
        case 'a': o->adapter = optarg; model_opts = 1; break;
        case OPT_TOKENIZER: o->tokenizer = optarg; model_opts = 1; break;
        case OPT_VERBALIZER: o->verbalizer = optarg; model_opts = 1; break;
        case OPT_TEMPLATE: o->template_spec = optarg; model_opts = 1; break;
        case OPT_LENGTH_NORM: o->length_norm = 1; model_opts = 1; break;
        case OPT_MAX_LEN:
            o->max_len = (int)ft_prog_long("--max-len", optarg, 2, 1 << 24);
            model_opts = 1;
            break;
        case 'b':
            o->batch_size = (int)ft_prog_long("--batch-size", optarg, 1, 1 << 16);
            model_opts = 1;
            break;
        case OPT_PREDICTIONS: o->predictions = optarg; model_opts = 1; break;
        case OPT_SEQ_LEN:
            o->seq_len = (int)ft_prog_long("--seq-len", optarg, 2, 1 << 24);
            model_opts = 1;
            break;
        default: usage(2);
        }
    }
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
    if (o->compare && o->n_inputs != 2)
        ft_prog_usage_error("--compare takes two prediction streams, A.mp and B.mp");
    if (o->compare && (o->model || model_opts || (o->task && o->task != FT_EVAL_CLASSIFY)))
        ft_prog_usage_error("--compare compares two classification prediction streams: "
                            "no model options, no other task");
    if (!o->model && model_opts)
        ft_prog_usage_error("-a, --predictions and the scoring and generation options "
                            "need a model (-m)");
    if (!o->model && o->task == FT_EVAL_LM)
        ft_prog_usage_error("--task lm: perplexity needs a model (-m)");
    if (o->verbalizer && !o->labels)
        ft_prog_usage_error("--verbalizer needs --labels");
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

    if (!(s.ev = ft_eval_new(o->task ? o->task : FT_EVAL_CLASSIFY, ft_prog.seed, o->resamples,
                              &err)))
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

/* --- Running a model -------------------------------------------------------- */

#define CHUNK_RECORDS 64

struct model_run {
    const struct options *o;
    const char *path;          /* the input's name, for messages */
    ft_eval *ev;
    ft_recout out;             /* --predictions */
    int has_out;
    ft_rec_builder b;
    ft_progress pg;
    uint64_t n_done;
    /* classify: a chunk of records, raw bytes back to back */
    ft_scorer *sc;
    const char *const *labels;
    int L;
    uint8_t *buf;
    size_t len, cap, n, n_cap;
    uint64_t *number;
    size_t *text_off, *text_len, *truth_off, *truth_len;
    const char **texts;
    size_t *lens;
    double *loglik, *probs;    /* [CHUNK_RECORDS, L] */
    /* lm and sft */
    ft_modelarg ma;
    ft_gen *g;
    int T;                     /* lm window */
    int32_t *ids, *targets;
    size_t ids_cap;
};

/* The truth of a classified record: gold_label, else label. */
static int read_truth(const ft_record *rec, const char *key, const char *gold_key,
                      const char **s, size_t *len, ft_err *err)
{
    int has = str_field(rec, gold_key, s, len, err);

    if (has == 0)
        has = str_field(rec, key, s, len, err);
    if (has < 0)
        return -1;
    if (!has)
        return ft_err_set(err, "no \"%s\" field (the true value)", key);
    return 0;
}

static int grow_chunk(struct model_run *r, ft_err *err)
{
    size_t need = r->n + 1, c;
#define GROW(a)                                                                          \
    c = r->n_cap;                                                                        \
    if (ft_grow(&r->a, &c, need, sizeof *r->a, err) < 0)                                 \
        return -1;
    GROW(number) GROW(text_off) GROW(text_len) GROW(truth_off) GROW(truth_len) GROW(texts)
    GROW(lens)
#undef GROW
    r->n_cap = c;
    return 0;
}

static int cls_take(void *ctx, const ft_record *rec, ft_err *err);

/* Score the chunk; add each record to the report and to --predictions. */
static int cls_flush(struct model_run *r, ft_err *err)
{
    ft_reader *rd = NULL;
    ft_record rec;

    if (!r->n)
        return 0;
    for (size_t i = 0; i < r->n; i++) {
        r->texts[i] = (const char *)r->buf + r->text_off[i];
        r->lens[i] = r->text_len[i];
    }
    if (ft_scorer_run(r->sc, r->texts, r->lens, r->n, r->loglik, NULL, err) < 0)
        return ft_err_prefix(err, "%s: records %" PRIu64 "-%" PRIu64, r->path, r->number[0],
                             r->number[r->n - 1]);
    if (r->has_out && !(rd = ft_reader_mem(r->buf, r->len, r->path, 0, err)))
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        double *p = r->probs + i * r->L;
        int pred = ft_calib_softmax(p, r->loglik + i * r->L, r->L, 1.0);
        if (ft_eval_add_classify(r->ev, (const char *)r->buf + r->truth_off[i],
                                 r->truth_len[i], r->labels[pred], strlen(r->labels[pred]),
                                 p[pred], err) < 0)
            goto fail;
        if (!r->has_out)
            continue;
        static const char *const owned[] = {"prediction", "confidence", "probs", NULL};
        if (ft_reader_next(rd, &rec, err) != 1)
            goto fail;
        ft_rec_reset(&r->b);
        ft_rec_copy_except(&r->b, &rec, owned);
        ft_rec_cstr(&r->b, "prediction", r->labels[pred]);
        ft_rec_double(&r->b, "confidence", p[pred]);
        ft_rec_key(&r->b, "probs");
        ft_rec_val_map(&r->b, (uint32_t)r->L);
        for (int c = 0; c < r->L; c++) {
            ft_rec_val_str(&r->b, r->labels[c], strlen(r->labels[c]));
            ft_rec_val_double(&r->b, p[c]);
        }
        if (ft_writer_put(r->out.w, &r->b, err) < 0)
            goto fail;
    }
    ft_reader_free(rd);
    r->n_done += r->n;
    r->n = r->len = 0;
    ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %.1f records/s", r->n_done,
                     r->n_done / (ft_progress_elapsed(&r->pg) + 1e-9));
    return 0;
fail:
    ft_reader_free(rd);
    return -1;
}

static int cls_take(void *ctx, const ft_record *rec, ft_err *err)
{
    struct model_run *r = ctx;
    const char *truth, *text;
    size_t tlen, len;
    int has;

    if (read_truth(rec, "label", "gold_label", &truth, &tlen, err) < 0)
        return -1;
    if (ft_eval_label_index(r->ev, truth, tlen) < 0)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)tlen, truth);
    if ((has = str_field(rec, "text", &text, &len, err)) < 0)
        return -1;
    if (!has)
        return ft_err_set(err, "no \"text\" field");
    if (grow_chunk(r, err) < 0 || ft_grow(&r->buf, &r->cap, r->len + rec->n_bytes, 1, err) < 0)
        return -1;
    memcpy(r->buf + r->len, rec->data, rec->n_bytes);
    r->number[r->n] = rec->number;
    r->text_off[r->n] = r->len + (size_t)((const uint8_t *)text - rec->data);
    r->text_len[r->n] = len;
    r->truth_off[r->n] = r->len + (size_t)((const uint8_t *)truth - rec->data);
    r->truth_len[r->n] = tlen;
    r->len += rec->n_bytes;
    r->n++;
    return r->n >= CHUNK_RECORDS ? cls_flush(r, err) : 0;
}

/* Write a record to --predictions with its generated text (pred), or with
 * its NLL and predicted-token count (lm). */
static int put_prediction(struct model_run *r, const ft_record *rec,
                          const char *const *owned, const char *pred, size_t pred_len,
                          double nll, double n_tok, ft_err *err)
{
    if (!r->has_out)
        return 0;
    ft_rec_reset(&r->b);
    ft_rec_copy_except(&r->b, rec, owned);
    if (pred)
        ft_rec_str(&r->b, "prediction", pred, pred_len);
    else {
        ft_rec_double(&r->b, "nll", nll);
        ft_rec_int(&r->b, "n_predicted", (int64_t)n_tok);
    }
    return ft_writer_put(r->out.w, &r->b, err);
}

/* Language modelling: the summed NLL of every token but the first, in
 * windows of T tokens that advance by T/2; each token is scored once, in
 * the first window that reaches it, so all but the first T have at least
 * T/2 tokens of context (Hugging Face's strided perplexity). */
static int lm_take(void *ctx, const ft_record *rec, ft_err *err)
{
    static const char *const owned[] = {"nll", "n_predicted", NULL};
    struct model_run *r = ctx;
    const ft_field *tf = ft_record_get(rec, "tokens");
    const char *text;
    size_t len = 0, n = 0;
    int has;
    double nll = 0, n_bytes;

    if ((has = str_field(rec, "text", &text, &len, err)) < 0)
        return -1;
    if (tf) {
        int32_t *ids;
        if (ft_field_int_array(tf, &ids, &n, err) < 0)
            return -1;
        if (ft_grow(&r->ids, &r->ids_cap, n + 1, sizeof *r->ids, err) < 0) {
            free(ids);
            return -1;
        }
        memcpy(r->ids, ids, n * sizeof *ids);
        free(ids);
        for (size_t i = 0; i < n; i++)
            if (r->ids[i] < 0 || r->ids[i] >= r->ma.m->cfg.vocab_size)
                return ft_err_set(err, "field \"tokens\": id %d is outside the vocabulary",
                                  (int)r->ids[i]);
    } else if (has) {
        if (ft_tokenizer_encode(r->ma.tok, text, len, FT_TOK_ADD_SPECIAL, &r->ids, &n,
                                &r->ids_cap, err) < 0)
            return ft_err_prefix(err, "field \"text\"");
    } else {
        return ft_err_set(err, "no \"text\" field");
    }
    n_bytes = (double)len;
    if (!has) {
        /* Only ids: the bytes are those of their text. */
        char *t;
        size_t tl;
        if (ft_tokenizer_decode(r->ma.tok, r->ids, n, FT_TOK_SKIP_SPECIAL, &t, &tl, err) < 0)
            return ft_err_prefix(err, "field \"tokens\"");
        free(t);
        n_bytes = (double)tl;
    }

    int T = r->T, stride = T / 2 > 0 ? T / 2 : 1;
    size_t done = 0;
    for (size_t s = 0; n >= 2 && done < n - 1; s += (size_t)stride) {
        int x = (int)((n - 1 - s) < (size_t)T ? n - 1 - s : (size_t)T);
        double sum, w;
        for (int t = 0; t < x; t++)
            r->targets[t] = s + t + 1 > done ? r->ids[s + t + 1] : -1;
        ft_batch b = {.B = 1, .T = x, .tokens = r->ids + s, .targets = r->targets,
                      .prefix = r->ma.prefix};
        if (ft_model_loss(r->ma.m, &b, NULL, &sum, &w, err) < 0)
            return -1;
        nll += sum;
        done = s + (size_t)x;
    }
    double n_pred = n >= 2 ? (double)(n - 1) : 0;
    ft_eval_add_lm(r->ev, nll, n_pred, n_bytes);
    r->n_done++;
    ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %.1f records/s", r->n_done,
                     r->n_done / (ft_progress_elapsed(&r->pg) + 1e-9));
    return put_prediction(r, rec, owned, NULL, 0, nll, n_pred, err);
}

static int sft_take(void *ctx, const ft_record *rec, ft_err *err)
{
    static const char *const owned[] = {"prediction", NULL};
    struct model_run *r = ctx;
    const char *prompt, *ref;
    size_t len, rlen, n;
    char *text, *refz;
    int has;

    if (read_truth(rec, "response", "gold_response", &ref, &rlen, err) < 0 ||
        (has = str_field(rec, "prompt", &prompt, &len, err)) < 0)
        return -1;
    if (!has)
        return ft_err_set(err, "no \"prompt\" field");
    uint64_t seed = ft_prog.seed * 0x9E3779B97F4A7C15ULL + rec->number;
    if (ft_gen_run(r->g, prompt, len, seed, &text, &n, NULL, err) < 0)
        return -1;
    if (!(refz = strndup(ref, rlen))) {
        free(text);
        return ft_err_set(err, "out of memory");
    }
    ft_eval_add_sft(r->ev, text, refz);
    free(refz);
    int rc = put_prediction(r, rec, owned, text, n, 0, 0, err);
    free(text);
    r->n_done++;
    ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %.2f records/s", r->n_done,
                     r->n_done / (ft_progress_elapsed(&r->pg) + 1e-9));
    return rc;
}

/* The task: --task, else the one stored with the model, else classify. */
static int model_task(const struct options *o)
{
    ft_task_meta meta = {0};
    ft_err err;
    int task = FT_EVAL_CLASSIFY;

    if (o->task)
        return o->task;
    if (ft_task_meta_read(o->adapter ? o->adapter : o->model, &meta, &err) < 0)
        ft_prog_die(&err);
    if (meta.task && !strcmp(meta.task, "lm"))
        task = FT_EVAL_LM;
    else if (meta.task && (!strcmp(meta.task, "sft") || !strcmp(meta.task, "chat")))
        task = FT_EVAL_SFT;
    ft_task_meta_free(&meta);
    return task;
}

static void open_model(struct model_run *r, int task)
{
    const struct options *o = r->o;
    ft_err err;

    if (task == FT_EVAL_CLASSIFY) {
        ft_scorearg a = {o->model, o->adapter, o->tokenizer, o->template_spec, o->verbalizer,
                         o->labels, o->n_labels, o->length_norm, o->batch_size, o->max_len};
        r->sc = ft_scorearg_open(&a);
        r->L = ft_scorer_labels(r->sc, &r->labels);
        r->loglik = malloc((size_t)CHUNK_RECORDS * r->L * sizeof *r->loglik);
        r->probs = malloc((size_t)CHUNK_RECORDS * r->L * sizeof *r->probs);
        if (!r->loglik || !r->probs)
            ft_prog_fail("out of memory");
        if (ft_eval_set_labels(r->ev, r->labels, r->L, &err) < 0)
            ft_prog_die(&err);
        return;
    }
    if (ft_modelarg_open(&r->ma, o->model, o->adapter, o->tokenizer, &err) < 0)
        ft_prog_die(&err);
    if (task == FT_EVAL_LM) {
        int P = r->ma.prefix ? r->ma.prefix->P : 0, room = r->ma.m->cfg.max_pos - P;
        r->T = o->seq_len ? o->seq_len : room < 1024 ? room : 1024;
        if (r->T > room)
            ft_prog_usage_error("--seq-len %d: the model has room for %d tokens", r->T, room);
        if (!(r->targets = malloc((size_t)r->T * sizeof *r->targets)) ||
            ft_model_setup(r->ma.m, 1, r->T, P, 0, &err) < 0)
            ft_prog_die(&err);
        return;
    }
    ft_gen_opts go = {0};
    go = ft_genarg_opts(&o->gen, r->ma.m,
                        o->template_spec ? o->template_spec : r->ma.meta.template_spec);
    if (!(r->g = ft_gen_new(r->ma.m, r->ma.tok, r->ma.prefix, &go, &err)))
        ft_prog_die(&err);
}

static void run_model(const struct options *o)
{
    struct model_run r = {.o = o};
    const char *path = o->n_inputs ? o->inputs[0] : "-";
    int task = model_task(o);
    json_t *report;
    ft_err err;

    if (!(r.ev = ft_eval_new(task, ft_prog.seed, o->resamples, &err)))
        ft_prog_die(&err);
    open_model(&r, task);
    if (o->predictions) {
        if (ft_recout_open(&r.out, o->predictions, ft_prog.force, &err) < 0)
            ft_prog_die(&err);
        r.has_out = 1;
    }
    ft_rec_init(&r.b);
    ft_progress_init(&r.pg, ft_prog.quiet ? -1 : ft_prog.progress);
    r.path = strcmp(path, "-") ? path : "standard input";
    record_fn take = task == FT_EVAL_CLASSIFY ? cls_take : task == FT_EVAL_LM ? lm_take : sft_take;
    if (read_input(path, o->max_record_bytes, take, &r, NULL, &err) < 0 ||
        (task == FT_EVAL_CLASSIFY && cls_flush(&r, &err) < 0)) {
        ft_progress_end(&r.pg);
        if (r.has_out)
            ft_recout_abort(&r.out);
        ft_prog_die(&err);
    }
    ft_progress_end(&r.pg);
    if (r.has_out && ft_recout_commit(&r.out, &err) < 0)
        ft_prog_die(&err);
    if (!(report = ft_eval_report(r.ev, &err)))
        ft_prog_die(&err);
    emit(report);
    json_decref(report);
    ft_rec_free(&r.b);
    ft_eval_free(r.ev);
    ft_scorer_free(r.sc);
    ft_gen_free(r.g);
    if (r.ma.m)
        ft_modelarg_close(&r.ma);
    free(r.buf);
    free(r.number);
    free(r.text_off);
    free(r.text_len);
    free(r.truth_off);
    free(r.truth_len);
    free(r.texts);
    free(r.lens);
    free(r.loglik);
    free(r.probs);
    free(r.ids);
    free(r.targets);
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
        if (!(labels = ft_eval_new(FT_EVAL_CLASSIFY, 0, o->resamples, &err)) ||
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
    if (!(report = ft_eval_compare(a.correct, b.correct, a.n, o->resamples, ft_prog.seed,
                                      &err)))
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
    else if (o.model)
        run_model(&o);
    else
        run_score(&o);
    ft_genarg_free(&o.gen);
    ft_strv_free(o.labels, o.n_labels);
    return 0;
}
