/* ft-label: pseudo-labels for self-training. Each record's "text" is
 * classified by a model (and adapter) through the library's label scoring,
 * optionally with a temperature fitted on a labelled dev stream; the
 * confident records are kept. Or, with --generate, a "response" is sampled
 * for each "prompt". See ft-label(1).
 *
 * Records are read in chunks, scored together (the scorer batches rows
 * across a chunk), and written in input order. --top-per-class needs the
 * whole stream before it can choose: the records then wait in an unlinked
 * temporary file, and only their scores stay in memory. --generate reads
 * -b records that need a response, generates for them together
 * (eval/gen.h), and writes them with the records between in input order. */
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
#include "eval/calibrate.h"
#include "eval/gen.h"
#include "eval/score.h"
#include "eval/select.h"
#include "genarg.h"
#include "modelarg.h"
#include "prog.h"
#include "recout.h"
#include "scorearg.h"

enum {
    OPT_TOKENIZER = FT_OPT_FIRST_PRIVATE, OPT_LABELS, OPT_VERBALIZER, OPT_TEMPLATE,
    OPT_LENGTH_NORM, OPT_MAX_LEN, OPT_THRESHOLD, OPT_TOP, OPT_KEEP_ALL, OPT_ABSTAIN,
    OPT_RELABEL, OPT_SOFT, OPT_CALIBRATE, OPT_GENERATE, OPT_MAX_RECORD
};

static const struct option long_opts[] = {
    {"model", required_argument, 0, 'm'}, {"adapter", required_argument, 0, 'a'},
    {"tokenizer", required_argument, 0, OPT_TOKENIZER},
    {"output", required_argument, 0, 'o'}, {"labels", required_argument, 0, OPT_LABELS},
    {"verbalizer", required_argument, 0, OPT_VERBALIZER},
    {"template", required_argument, 0, OPT_TEMPLATE},
    {"length-norm", no_argument, 0, OPT_LENGTH_NORM},
    {"max-len", required_argument, 0, OPT_MAX_LEN},
    {"batch-size", required_argument, 0, 'b'},
    {"threshold", required_argument, 0, OPT_THRESHOLD},
    {"top-per-class", required_argument, 0, OPT_TOP},
    {"keep-all", no_argument, 0, OPT_KEEP_ALL}, {"abstain", no_argument, 0, OPT_ABSTAIN},
    {"relabel", no_argument, 0, OPT_RELABEL}, {"soft", no_argument, 0, OPT_SOFT},
    {"calibrate", required_argument, 0, OPT_CALIBRATE},
    {"generate", no_argument, 0, OPT_GENERATE},
    FT_GENARG_LONG,
    {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD}, FT_PROG_LONG};

struct options {
    const char *model, *adapter, *tokenizer, *output, *template_spec, *calibrate, *input;
    char **labels;
    int n_labels;
    const char *verbalizer;
    int length_norm, max_len, batch_size;
    double threshold;          /* < 0: none */
    long top;                  /* 0: none */
    int keep_all, abstain, relabel, soft, generate;
    ft_genarg gen;             /* --generate's sampling */
    size_t max_record_bytes;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-label -m MODEL [-a ADAPTER] [options] [FILE]\n"
            "       ft-label -m MODEL [-a ADAPTER] --generate [options] [FILE]\n"
            "Label each record's \"text\" with a model (FILE or standard input to standard\n"
            "output): adds \"label\", \"confidence\" and \"source\": \"pseudo\"; keeps the\n"
            "confident ones. With --generate, add a \"response\" for each \"prompt\".\n"
            "\n"
            "Model:\n"
            "  -m, --model MODEL       model directory, archive, GGUF or llama2.c .bin\n"
            "  -a, --adapter DIR       a LoRA or P-tuning v2 adapter (PEFT layout)\n"
            "      --tokenizer FILE    tokenizer.json when the model has none\n"
            "  -o, --output FILE       write records here (default standard output)\n"
            "  -b, --batch-size N      rows per forward pass, or with --generate records\n"
            "                          generated together (default 8)\n"
            "Classification (defaults from the model's or adapter's ft metadata):\n"
            "      --labels A,B,...    the label set\n"
            "      --verbalizer L=W,...  the word scored for a label (needs --labels)\n"
            "      --template T        plain, alpaca, chatml, llama2, llama3 or a string\n"
            "                          with {text}\n"
            "      --length-norm       score labels by mean log-probability per token\n"
            "      --max-len N         tokens per scored row (texts are cut to fit)\n"
            "      --calibrate DEV     fit a temperature on the labelled stream DEV first\n"
            "      --soft              add \"probs\", the distribution over the labels\n"
            "      --relabel           classify records that have a \"label\" too, moving\n"
            "                          it to \"gold_label\" (else they pass unchanged)\n"
            "Selection (default: every record labelled):\n"
            "      --threshold P       keep records whose confidence is at least P\n"
            "      --top-per-class K   keep the K most confident records of each class\n"
            "      --keep-all          keep and label every record\n"
            "      --abstain           keep the others too, unlabelled, \"abstained\": true\n"
            "Generation (--generate):\n"
            "      --max-tokens N      new tokens at most (default 256)\n"
            "      --temperature T     0 greedy (default), else sample at T\n"
            "      --top-k K           sample among the K likeliest (default 0: all)\n"
            "      --top-p P           nucleus sampling mass (default 1)\n"
            "      --stop STRING       end the response at STRING (repeatable)\n"
            "      --max-record-bytes N  largest record accepted (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    int opt, select = 0, cls_opts = 0;
    ft_err err;

    o->threshold = -1;
    ft_genarg_init(&o->gen);
    while ((opt = getopt_long(argc, argv, FT_PROG_SHORT "m:a:o:b:", long_opts, NULL)) != -1) {
        if (ft_prog_common(opt, optarg, usage) || ft_genarg_take(&o->gen, opt, optarg))
            continue;
        switch (opt) {
        case 'm': o->model = optarg; break;
        case 'a': o->adapter = optarg; break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_LABELS:
            ft_strv_free(o->labels, o->n_labels);
            if (ft_labels_parse(optarg, &o->labels, &o->n_labels, &err) < 0)
                ft_prog_usage_error("--labels: %s", err.msg);
            cls_opts = 1;
            break;
        case OPT_VERBALIZER: o->verbalizer = optarg; cls_opts = 1; break;
        case OPT_TEMPLATE: o->template_spec = optarg; break;
        case OPT_LENGTH_NORM: o->length_norm = 1; cls_opts = 1; break;
        case OPT_MAX_LEN: o->max_len = (int)ft_prog_long("--max-len", optarg, 2, 1 << 24); break;
        case 'b': o->batch_size = (int)ft_prog_long("--batch-size", optarg, 1, 1 << 16); break;
        case OPT_THRESHOLD:
            o->threshold = ft_prog_double("--threshold", optarg, 0, 1);
            select = 1;
            break;
        case OPT_TOP:
            o->top = ft_prog_long("--top-per-class", optarg, 1, 1L << 40);
            select = 1;
            break;
        case OPT_KEEP_ALL: o->keep_all = 1; break;
        case OPT_ABSTAIN: o->abstain = 1; break;
        case OPT_RELABEL: o->relabel = 1; break;
        case OPT_SOFT: o->soft = 1; cls_opts = 1; break;
        case OPT_CALIBRATE: o->calibrate = optarg; cls_opts = 1; break;
        case OPT_GENERATE: o->generate = 1; break;
        case OPT_MAX_RECORD:
            if (ft_parse_bytes(optarg, &o->max_record_bytes, &err) < 0 ||
                o->max_record_bytes == 0)
                ft_prog_usage_error("--max-record-bytes: %s",
                                    o->max_record_bytes ? err.msg : "must be > 0");
            break;
        default: usage(2);
        }
    }
    if (optind < argc - 1)
        ft_prog_usage_error("more than one input file");
    o->input = optind < argc ? argv[optind] : "-";
    if (!o->model)
        ft_prog_usage_error("no model: give -m MODEL");
    if (o->generate && (cls_opts || select || o->keep_all || o->abstain))
        ft_prog_usage_error("--generate writes responses: the classification and selection "
                            "options do not apply");
    if (!o->generate && o->gen.given)
        ft_prog_usage_error("--max-tokens, --temperature, --top-k, --top-p and --stop need "
                            "--generate");
    if (o->keep_all && (select || o->abstain))
        ft_prog_usage_error("--keep-all keeps every record: it excludes --threshold, "
                            "--top-per-class and --abstain");
    if (o->abstain && !select)
        ft_prog_usage_error("--abstain needs --threshold or --top-per-class");
    if (o->verbalizer && !o->labels)
        ft_prog_usage_error("--verbalizer needs --labels");
    if (!strcmp(o->input, "-") && isatty(0))
        ft_prog_usage_error("standard input is a terminal: pipe records in or give a FILE");
}

/* --- Records ---------------------------------------------------------------- */

static int key_is(const ft_field *f, const char *key)
{
    return f->key_str && f->key_len == strlen(key) && !memcmp(f->key_str, key, f->key_len);
}

static int label_index(const char *const *labels, int L, const char *s, size_t len)
{
    for (int c = 0; c < L; c++)
        if (strlen(labels[c]) == len && !memcmp(labels[c], s, len))
            return c;
    return -1;
}

/* A string field: 1 present, 0 absent, -1 not a string. */
static int str_field(const ft_record *rec, const char *key, const char **s, size_t *len,
                     ft_err *err)
{
    const ft_field *f = ft_record_get(rec, key);

    if (!f)
        return 0;
    return ft_field_str(f, s, len, err) < 0 ? -1 : 1;
}

/* The fields a labelled record keeps: every field in order but those
 * ft-label writes; the true value key moves to gold_key under --relabel
 * (unless the record already has one, which then stays and the old value
 * goes). */
static void copy_fields(ft_rec_builder *b, const ft_record *rec, const char *key,
                        const char *gold_key, int relabel, const char *const *owned)
{
    int has_gold = ft_record_get(rec, gold_key) != NULL;

    for (uint32_t i = 0; i < rec->n_fields; i++) {
        const ft_field *f = &rec->fields[i];
        int skip = 0;
        for (const char *const *k = owned; *k; k++)
            skip |= key_is(f, *k);
        if (skip)
            continue;
        if (key_is(f, key)) {
            if (relabel && !has_gold)
                ft_rec_raw(b, gold_key, f->val, f->val_bytes);
            continue;
        }
        ft_rec_copy(b, f);
    }
}

/* --- Classification ---------------------------------------------------------- */

enum { PASS, LABEL, ABSTAIN, DROP };

/* Records waiting to be scored, their raw bytes back to back. */
typedef struct chunk {
    uint8_t *buf;
    size_t len, cap;
    size_t n, n_cap;
    uint64_t *number;           /* [n] position in the input */
    int *need;                  /* [n] 1: to classify */
    size_t *text_off, *text_len;
    const char **texts;         /* [n_text] into buf, set before scoring */
    size_t *lens;
    size_t n_text;
} chunk;

struct run {
    const struct options *o;
    const char *path;           /* the stream being read, for messages */
    ft_scorer *sc;
    const char *const *labels;
    int L;
    double T;                   /* temperature */
    ft_recout out;
    ft_rec_builder b;
    ft_progress pg;
    chunk ck;
    double *loglik, *probs;     /* [chunk records, L] */
    int chunk_records;
    /* --top-per-class: the spool and every record's result */
    FILE *spool;
    size_t n_all, all_cap;
    unsigned char *all_need;
    int *all_pred;
    double *all_conf, *all_probs;
    /* counts */
    uint64_t n_in, n_label, n_abstain, n_drop, n_pass;
};

static int chunk_add(chunk *c, const ft_record *rec, int need, const char *text,
                     size_t text_len, ft_err *err)
{
    size_t cap = c->n_cap;

    if (ft_grow(&c->buf, &c->cap, c->len + rec->n_bytes, 1, err) < 0 ||
        ft_grow(&c->number, &cap, c->n + 1, sizeof *c->number, err) < 0)
        return -1;
    cap = c->n_cap;
    if (ft_grow(&c->need, &cap, c->n + 1, sizeof *c->need, err) < 0)
        return -1;
    cap = c->n_cap;
    if (ft_grow(&c->text_off, &cap, c->n + 1, sizeof *c->text_off, err) < 0)
        return -1;
    cap = c->n_cap;
    if (ft_grow(&c->text_len, &cap, c->n + 1, sizeof *c->text_len, err) < 0)
        return -1;
    cap = c->n_cap;
    if (ft_grow(&c->texts, &cap, c->n + 1, sizeof *c->texts, err) < 0)
        return -1;
    cap = c->n_cap;
    if (ft_grow(&c->lens, &cap, c->n + 1, sizeof *c->lens, err) < 0)
        return -1;
    c->n_cap = cap;
    memcpy(c->buf + c->len, rec->data, rec->n_bytes);
    c->number[c->n] = rec->number;
    c->need[c->n] = need;
    c->text_off[c->n] = need ? c->len + (size_t)((const uint8_t *)text - rec->data) : 0;
    c->text_len[c->n] = text_len;
    c->len += rec->n_bytes;
    c->n++;
    return 0;
}

static void chunk_free(chunk *c)
{
    free(c->buf);
    free(c->number);
    free(c->need);
    free(c->text_off);
    free(c->text_len);
    free(c->texts);
    free(c->lens);
}

/* The scorer names a failing text by its index in the call ("text 3: ...");
 * say which input record that was instead. */
static int name_failed_text(struct run *r, ft_err *err)
{
    chunk *c = &r->ck;
    size_t k, off;
    int pos = 0;

    if (sscanf(err->msg, "text %zu: %n", &k, &pos) != 1 || pos == 0)
        return ft_err_prefix(err, "%s: records %" PRIu64 "-%" PRIu64, r->path,
                             c->number[0], c->number[c->n - 1]);
    off = (size_t)pos;
    for (size_t i = 0, t = 0; i < c->n; i++)
        if (c->need[i] && t++ == k) {
            char rest[FT_ERR_MAX];
            snprintf(rest, sizeof rest, "%s", err->msg + off);
            return ft_err_set(err, "%s: record %" PRIu64 ": %s", r->path, c->number[i], rest);
        }
    return ft_err_prefix(err, "%s", r->path);
}

/* Score the chunk's texts: loglik, then probabilities at the temperature. */
static int chunk_score(struct run *r, ft_err *err)
{
    chunk *c = &r->ck;

    c->n_text = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->need[i]) {
            c->texts[c->n_text] = (const char *)c->buf + c->text_off[i];
            c->lens[c->n_text++] = c->text_len[i];
        }
    if (c->n_text && ft_scorer_run(r->sc, c->texts, c->lens, c->n_text, r->loglik, NULL, err) < 0)
        return name_failed_text(r, err);
    for (size_t t = 0; t < c->n_text; t++)
        ft_calib_softmax(r->probs + t * r->L, r->loglik + t * r->L, r->L, r->T);
    return 0;
}

/* Check a present label against the set: "label" normally, the gold label
 * under --relabel. Returns 1 when the record has a label. */
static int check_label(struct run *r, const ft_record *rec, ft_err *err)
{
    const char *s;
    size_t len;
    int has = str_field(rec, "label", &s, &len, err);

    if (has < 0)
        return -1;
    if (has && label_index(r->labels, r->L, s, len) < 0)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)len, s);
    return has;
}

/* Take one input record into the chunk. */
static int take_record(struct run *r, const ft_record *rec, ft_err *err)
{
    const char *text = NULL;
    size_t len = 0;
    int has_label = check_label(r, rec, err), has_text, need;

    if (has_label < 0)
        return -1;
    need = !has_label || r->o->relabel;
    if (need) {
        if ((has_text = str_field(rec, "text", &text, &len, err)) < 0)
            return -1;
        if (!has_text)
            return ft_err_set(err, "no \"text\" field");
    }
    return chunk_add(&r->ck, rec, need, text, len, err);
}

/* One output record: PASS as read; LABEL and ABSTAIN annotated. */
static int put_record(struct run *r, const ft_record *rec, int what, int pred, double conf,
                      const double *probs, ft_err *err)
{
    static const char *const owned[] = {"confidence", "probs", "source", "abstained", NULL};
    ft_rec_builder *b = &r->b;

    switch (what) {
    case PASS: r->n_pass++; return ft_writer_put_raw(r->out.w, rec, err);
    case DROP: r->n_drop++; return 0;
    }
    ft_rec_reset(b);
    copy_fields(b, rec, "label", "gold_label", r->o->relabel, owned);
    if (what == LABEL)
        ft_rec_cstr(b, "label", r->labels[pred]);
    else
        ft_rec_bool(b, "abstained", 1);
    ft_rec_double(b, "confidence", conf);
    if (r->o->soft) {
        ft_rec_key(b, "probs");
        ft_rec_val_map(b, (uint32_t)r->L);
        for (int c = 0; c < r->L; c++) {
            ft_rec_val_str(b, r->labels[c], strlen(r->labels[c]));
            ft_rec_val_double(b, probs[c]);
        }
    }
    if (what == LABEL)
        ft_rec_cstr(b, "source", "pseudo");
    *(what == LABEL ? &r->n_label : &r->n_abstain) += 1;
    return ft_writer_put(r->out.w, b, err);
}

/* Best class of a probability row. */
static int argmax(const double *p, int L)
{
    int best = 0;

    for (int c = 1; c < L; c++)
        if (p[c] > p[best])
            best = c;
    return best;
}

/* Keep a chunk's results for --top-per-class, and its records in the spool. */
static int chunk_keep(struct run *r, ft_err *err)
{
    chunk *c = &r->ck;
    size_t need = r->n_all + c->n, cap = r->all_cap;

    if (ft_grow(&r->all_need, &cap, need, 1, err) < 0)
        return -1;
    cap = r->all_cap;
    if (ft_grow(&r->all_pred, &cap, need, sizeof *r->all_pred, err) < 0)
        return -1;
    cap = r->all_cap;
    if (ft_grow(&r->all_conf, &cap, need, sizeof *r->all_conf, err) < 0)
        return -1;
    if (r->o->soft) {
        size_t pcap = r->all_cap * (size_t)r->L;
        if (ft_grow(&r->all_probs, &pcap, need * (size_t)r->L, sizeof *r->all_probs, err) < 0)
            return -1;
    }
    r->all_cap = cap;
    for (size_t i = 0, t = 0; i < c->n; i++, r->n_all++) {
        r->all_need[r->n_all] = (unsigned char)c->need[i];
        r->all_pred[r->n_all] = 0;
        r->all_conf[r->n_all] = 0;
        if (!c->need[i])
            continue;
        const double *p = r->probs + t++ * r->L;
        r->all_pred[r->n_all] = argmax(p, r->L);
        r->all_conf[r->n_all] = p[r->all_pred[r->n_all]];
        if (r->o->soft)
            memcpy(r->all_probs + r->n_all * r->L, p, (size_t)r->L * sizeof *p);
    }
    if (c->len && fwrite(c->buf, 1, c->len, r->spool) != c->len)
        return ft_err_errno(err, "temporary file");
    return 0;
}

/* Write a chunk's records now (no --top-per-class). */
static int chunk_write(struct run *r, ft_err *err)
{
    chunk *c = &r->ck;
    ft_reader *rd = ft_reader_mem(c->buf, c->len, "chunk", 0, err);
    ft_record rec;
    size_t t = 0;

    if (!rd)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        if (ft_reader_next(rd, &rec, err) != 1)
            goto fail;
        int what = PASS, pred = 0;
        double conf = 0;
        const double *p = NULL;
        if (c->need[i]) {
            p = r->probs + t++ * r->L;
            pred = argmax(p, r->L);
            conf = p[pred];
            what = ft_select_passes(conf, r->o->threshold) ? LABEL
                   : r->o->abstain                         ? ABSTAIN
                                                           : DROP;
        }
        if (put_record(r, &rec, what, pred, conf, p, err) < 0)
            goto fail;
    }
    ft_reader_free(rd);
    return 0;
fail:
    ft_reader_free(rd);
    return -1;
}

static int chunk_flush(struct run *r, ft_err *err)
{
    if (!r->ck.n)
        return 0;
    if (chunk_score(r, err) < 0 || (r->o->top ? chunk_keep(r, err) : chunk_write(r, err)) < 0)
        return -1;
    r->n_in += r->ck.n;
    r->ck.n = r->ck.len = 0;
    ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %.1f records/s", r->n_in,
                     r->n_in / (ft_progress_elapsed(&r->pg) + 1e-9));
    return 0;
}

/* --top-per-class: choose, then write the spooled records in input order. */
static int write_selected(struct run *r, ft_err *err)
{
    size_t m = 0, *kept = NULL, *idx = NULL;
    int *cls = NULL, rc = -1;
    double *conf = NULL;
    unsigned char *keep = NULL;
    ft_reader *rd = NULL;
    ft_record rec;

    /* The records to classify, in a dense list for the selection. */
    cls = ft_malloc((r->n_all + 1) * sizeof *cls, err);
    conf = ft_malloc((r->n_all + 1) * sizeof *conf, err);
    idx = ft_malloc((r->n_all + 1) * sizeof *idx, err);
    keep = ft_malloc(r->n_all + 1, err);
    kept = ft_calloc((size_t)r->L, sizeof *kept, err);
    if (!cls || !conf || !idx || !keep || !kept)
        goto out;
    for (size_t i = 0; i < r->n_all; i++)
        if (r->all_need[i]) {
            cls[m] = r->all_pred[i];
            conf[m] = r->all_conf[i];
            idx[m++] = i;
        }
    if (ft_select_records(keep, kept, cls, conf, m, r->L, r->o->threshold, (size_t)r->o->top,
                          err) < 0)
        goto out;
    for (int c = 0; c < r->L; c++)
        if (kept[c] < (size_t)r->o->top)
            ft_prog_warn("class '%s': %zu records kept, fewer than --top-per-class %ld",
                         r->labels[c], kept[c], r->o->top);

    /* Read the spool back in order. */
    if (fflush(r->spool) != 0 || fseek(r->spool, 0, SEEK_SET) != 0) {
        ft_err_errno(err, "temporary file");
        goto out;
    }
    if (!(rd = ft_reader_open(fileno(r->spool), "temporary file", r->o->max_record_bytes, err)))
        goto out;
    for (size_t i = 0, j = 0; i < r->n_all; i++) {
        if (ft_reader_next(rd, &rec, err) != 1) {
            ft_err_set(err, "temporary file: fewer records than written");
            goto out;
        }
        int what = PASS;
        if (r->all_need[i]) {
            what = keep[j++] ? LABEL : r->o->abstain ? ABSTAIN : DROP;
        }
        if (put_record(r, &rec, what, r->all_pred[i], r->all_conf[i],
                       r->all_probs ? r->all_probs + i * r->L : NULL, err) < 0)
            goto out;
    }
    rc = 0;
out:
    ft_reader_free(rd);
    free(cls);
    free(conf);
    free(idx);
    free(keep);
    free(kept);
    return rc;
}

typedef int (*take_fn)(struct run *r, const ft_record *rec, ft_err *err);
typedef int (*flush_fn)(struct run *r, ft_err *err);

/* Read a stream through take, flushing every chunk_records records. Errors
 * name the file and the record. */
static int read_stream(struct run *r, const char *path, take_fn take, flush_fn flush,
                       ft_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    ft_reader *rd;
    ft_record rec;
    int rc;

    if (fd < 0)
        return ft_err_errno(err, path);
    if (!(rd = ft_reader_open(fd, path, r->o->max_record_bytes, err))) {
        if (fd > 0)
            close(fd);
        return -1;
    }
    r->path = ft_reader_name(rd);
    while ((rc = ft_reader_next(rd, &rec, err)) == 1) {
        if (take(r, &rec, err) < 0) {
            if (err->kind != FT_ERR_PIPE)
                ft_err_prefix(err, "%s: record %" PRIu64, ft_reader_name(rd), rec.number);
            rc = -1;
            break;
        }
        if (r->ck.n >= (size_t)r->chunk_records && flush(r, err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && flush(r, err) < 0)
        rc = -1;
    r->path = NULL;
    ft_reader_free(rd);
    if (fd > 0)
        close(fd);
    return rc;
}

/* --calibrate: the dev stream's scores and true classes. */
typedef struct dev {
    double *loglik;
    int *y;
    size_t n, cap;
} dev;

static dev the_dev;

static int dev_take(struct run *r, const ft_record *rec, ft_err *err)
{
    const char *text, *s;
    size_t len, slen;
    int has;

    if ((has = str_field(rec, "gold_label", &s, &slen, err)) < 0 ||
        (!has && (has = str_field(rec, "label", &s, &slen, err)) < 0))
        return -1;
    if (!has)
        return ft_err_set(err, "no \"label\" field: a calibration stream is labelled");
    if (label_index(r->labels, r->L, s, slen) < 0)
        return ft_err_set(err, "label '%.*s' is not in the label set", (int)slen, s);
    if ((has = str_field(rec, "text", &text, &len, err)) < 0)
        return -1;
    if (!has)
        return ft_err_set(err, "no \"text\" field");
    size_t cap = the_dev.cap;
    if (ft_grow(&the_dev.y, &cap, the_dev.n + r->ck.n + 1, sizeof *the_dev.y, err) < 0)
        return -1;
    the_dev.y[the_dev.n + r->ck.n] = label_index(r->labels, r->L, s, slen);
    the_dev.cap = cap;
    return chunk_add(&r->ck, rec, 1, text, len, err);
}

static int dev_flush(struct run *r, ft_err *err)
{
    size_t cap = the_dev.n * (size_t)r->L, need = (the_dev.n + r->ck.n) * (size_t)r->L;

    if (!r->ck.n)
        return 0;
    if (chunk_score(r, err) < 0 ||
        ft_grow(&the_dev.loglik, &cap, need, sizeof *the_dev.loglik, err) < 0)
        return -1;
    memcpy(the_dev.loglik + the_dev.n * r->L, r->loglik, r->ck.n * r->L * sizeof *r->loglik);
    the_dev.n += r->ck.n;
    r->ck.n = r->ck.len = 0;
    return 0;
}

static void calibrate(struct run *r)
{
    ft_calib_fit fit;
    ft_err err;

    r->T = 1;
    if (read_stream(r, r->o->calibrate, dev_take, dev_flush, &err) < 0)
        ft_prog_die(&err);
    if (ft_calib_fit_temperature(&fit, the_dev.loglik, the_dev.y, the_dev.n, r->L, &err) < 0)
        ft_prog_fail("%s: %s", r->o->calibrate, err.msg);
    r->T = fit.T;
    if (!ft_prog.quiet)
        fprintf(stderr, "%s: temperature %.4g from %zu records of %s (NLL %.4f -> %.4f)\n",
                ft_prog.name, fit.T, the_dev.n, r->o->calibrate, fit.nll_before,
                fit.nll_after);
    if (fit.at_bound)
        ft_prog_warn("the temperature reached the end of its range [%g, %g]",
                     FT_CALIB_T_MIN, FT_CALIB_T_MAX);
    free(the_dev.loglik);
    free(the_dev.y);
}

static void open_scorer(struct run *r)
{
    const struct options *o = r->o;
    ft_scorearg a = {o->model, o->adapter, o->tokenizer, o->template_spec, o->verbalizer,
                     o->labels, o->n_labels, o->length_norm, o->batch_size, o->max_len};

    r->sc = ft_scorearg_open(&a);
    r->L = ft_scorer_labels(r->sc, &r->labels);
}

static void run_classify(const struct options *o)
{
    struct run r = {.o = o, .T = 1};
    ft_err err;

    open_scorer(&r);
    r.chunk_records = 64;
    r.loglik = malloc((size_t)r.chunk_records * r.L * sizeof *r.loglik);
    r.probs = malloc((size_t)r.chunk_records * r.L * sizeof *r.probs);
    if (!r.loglik || !r.probs)
        ft_prog_fail("out of memory");
    if (o->calibrate)
        calibrate(&r);
    if (o->top && !(r.spool = tmpfile()))
        ft_prog_fail("temporary file: %s", strerror(errno));
    if (ft_recout_open(&r.out, o->output, ft_prog.force, &err) < 0)
        ft_prog_die(&err);
    ft_rec_init(&r.b);
    ft_progress_init(&r.pg, ft_prog.quiet ? -1 : ft_prog.progress);
    if (read_stream(&r, o->input, take_record, chunk_flush, &err) < 0 ||
        (o->top && write_selected(&r, &err) < 0)) {
        ft_progress_end(&r.pg);
        ft_recout_abort(&r.out);
        ft_prog_die(&err);
    }
    ft_progress_end(&r.pg);
    if (ft_recout_commit(&r.out, &err) < 0)
        ft_prog_die(&err);
    if (!ft_prog.quiet)
        fprintf(stderr,
                "%s: %" PRIu64 " records: %" PRIu64 " labelled, %" PRIu64 " abstained, %" PRIu64
                " dropped, %" PRIu64 " passed with their own label\n",
                ft_prog.name, r.n_in, r.n_label, r.n_abstain, r.n_drop, r.n_pass);
    if (r.spool)
        fclose(r.spool);
    ft_rec_free(&r.b);
    chunk_free(&r.ck);
    free(r.loglik);
    free(r.probs);
    free(r.all_need);
    free(r.all_pred);
    free(r.all_conf);
    free(r.all_probs);
    ft_scorer_free(r.sc);
}

/* --- Generation ------------------------------------------------------------------ */

struct gen_run {
    const struct options *o;
    const char *path;           /* the stream being read, for messages */
    ft_gen *g;
    ft_recout out;
    ft_rec_builder b;
    ft_progress pg;
    chunk ck;                   /* records waiting; need: a response to make */
    size_t n_need, batch;       /* records in ck to generate for; at most */
    uint64_t *seeds;            /* [batch] */
    ft_gen_result *res;         /* [batch] */
    uint64_t n_in, n_gen, n_pass, n_cut, n_tokens;
};

/* Take one input record into the waiting chunk. */
static int gen_take(struct gen_run *r, const ft_record *rec, ft_err *err)
{
    const char *prompt = NULL, *s;
    size_t len = 0, slen;
    int has, need;

    if ((has = str_field(rec, "response", &s, &slen, err)) < 0)
        return -1;
    need = !has || r->o->relabel;
    if (need) {
        if ((has = str_field(rec, "prompt", &prompt, &len, err)) < 0)
            return -1;
        if (!has)
            return ft_err_set(err, "no \"prompt\" field");
    }
    if (chunk_add(&r->ck, rec, need, prompt, len, err) < 0)
        return -1;
    r->n_need += need;
    return 0;
}

/* One output record: as read, or with its response. */
static int gen_put(struct gen_run *r, const ft_record *rec, const ft_gen_result *res,
                   ft_err *err)
{
    static const char *const owned[] = {"source", NULL};

    if (!res) {
        r->n_pass++;
        return ft_writer_put_raw(r->out.w, rec, err);
    }
    r->n_gen++;
    r->n_cut += res->cut > 0;
    r->n_tokens += (uint64_t)res->n_tokens;
    ft_rec_reset(&r->b);
    copy_fields(&r->b, rec, "response", "gold_response", r->o->relabel, owned);
    ft_rec_str(&r->b, "response", res->text, res->n_bytes);
    ft_rec_cstr(&r->b, "source", "pseudo");
    return ft_writer_put(r->out.w, &r->b, err);
}

/* Generate for the waiting records together, then write them all in input
 * order. Errors name the record. */
static int gen_flush(struct gen_run *r, ft_err *err)
{
    chunk *c = &r->ck;
    ft_reader *rd = NULL;
    ft_record rec;
    int failed = -1, rc = -1;
    size_t t = 0;

    if (!c->n)
        return 0;

    /* Each record's draws depend on the seed and its position only. */
    c->n_text = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->need[i]) {
            c->texts[c->n_text] = (const char *)c->buf + c->text_off[i];
            c->lens[c->n_text] = c->text_len[i];
            r->seeds[c->n_text++] = ft_prog.seed * 0x9E3779B97F4A7C15ULL + c->number[i];
        }
    if (c->n_text && ft_gen_run_batch(r->g, (int)c->n_text, c->texts, c->lens, r->seeds,
                                      r->res, &failed, err) < 0) {
        for (size_t i = 0, k = 0; failed >= 0 && i < c->n; i++)
            if (c->need[i] && k++ == (size_t)failed)
                return ft_err_prefix(err, "%s: record %" PRIu64, r->path, c->number[i]);
        return ft_err_prefix(err, "%s: records %" PRIu64 "-%" PRIu64, r->path, c->number[0],
                             c->number[c->n - 1]);
    }

    if (!(rd = ft_reader_mem(c->buf, c->len, "chunk", 0, err)))
        goto out;
    for (size_t i = 0; i < c->n; i++)
        if (ft_reader_next(rd, &rec, err) != 1 ||
            gen_put(r, &rec, c->need[i] ? &r->res[t++] : NULL, err) < 0)
            goto out;
    rc = 0;
out:
    ft_reader_free(rd);
    for (size_t k = 0; k < c->n_text; k++)
        free(r->res[k].text);
    r->n_in += c->n;
    c->n = c->len = 0;
    r->n_need = 0;
    double secs = ft_progress_elapsed(&r->pg) + 1e-9;
    ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %.2f records/s, %.1f tokens/s", r->n_in,
                     r->n_in / secs, r->n_tokens / secs);
    return rc;
}

static void run_generate(const struct options *o)
{
    struct gen_run r = {.o = o};
    ft_modelarg ma;
    ft_gen_opts go = {0};
    ft_err err;
    int fd = strcmp(o->input, "-") ? open(o->input, O_RDONLY | O_CLOEXEC) : 0;
    ft_reader *rd;
    ft_record rec;
    int rc;

    if (fd < 0)
        ft_prog_fail("%s: %s", o->input, strerror(errno));
    if (ft_modelarg_open(&ma, o->model, o->adapter, o->tokenizer, &err) < 0)
        ft_prog_die(&err);
    go = ft_genarg_opts(&o->gen, ma.m,
                        o->template_spec ? o->template_spec : ma.meta.template_spec);
    r.batch = o->batch_size > 0 ? (size_t)o->batch_size : 8;
    r.seeds = malloc(r.batch * sizeof *r.seeds);
    r.res = malloc(r.batch * sizeof *r.res);
    if (!r.seeds || !r.res)
        ft_prog_fail("out of memory");
    /* every row computed on its own, whatever -b: responses independent of
     * the batch (model.h: exact_rows) */
    ma.m->exact_rows = 1;
    if (!(r.g = ft_gen_new(ma.m, ma.tok, ma.prefix, &go, &err)))
        ft_prog_die(&err);
    if (!(rd = ft_reader_open(fd, o->input, o->max_record_bytes, &err)) ||
        ft_recout_open(&r.out, o->output, ft_prog.force, &err) < 0)
        ft_prog_die(&err);
    r.path = ft_reader_name(rd);
    ft_rec_init(&r.b);
    ft_progress_init(&r.pg, ft_prog.quiet ? -1 : ft_prog.progress);

    /* a batch when enough records need a response (records that pass
     * unchanged wait with them, 64 at most beside a batch) */
    while ((rc = ft_reader_next(rd, &rec, &err)) == 1) {
        if (gen_take(&r, &rec, &err) < 0) {
            if (err.kind != FT_ERR_PIPE)
                ft_err_prefix(&err, "%s: record %" PRIu64, r.path, rec.number);
            rc = -1;
            break;
        }
        if ((r.n_need >= r.batch || r.ck.n >= r.batch + 64) && gen_flush(&r, &err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && gen_flush(&r, &err) < 0)
        rc = -1;
    ft_progress_end(&r.pg);
    if (rc < 0) {
        ft_recout_abort(&r.out);
        ft_prog_die(&err);
    }
    if (ft_recout_commit(&r.out, &err) < 0)
        ft_prog_die(&err);
    if (r.n_cut)
        ft_prog_warn("%" PRIu64 " prompts were cut from the left to leave room for "
                     "--max-tokens", r.n_cut);
    if (!ft_prog.quiet)
        fprintf(stderr, "%s: %" PRIu64 " records: %" PRIu64 " responses generated, %" PRIu64
                " passed with their own response\n", ft_prog.name, r.n_in, r.n_gen, r.n_pass);
    ft_reader_free(rd);
    if (fd > 0)
        close(fd);
    ft_rec_free(&r.b);
    chunk_free(&r.ck);
    free(r.seeds);
    free(r.res);
    ft_gen_free(r.g);
    ft_modelarg_close(&ma);
}

int main(int argc, char **argv)
{
    struct options o = {0};

    ft_prog_init("ft-label");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.generate)
        run_generate(&o);
    else
        run_classify(&o);
    ft_strv_free(o.labels, o.n_labels);
    ft_genarg_free(&o.gen);
    return 0;
}
