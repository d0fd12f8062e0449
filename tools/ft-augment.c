/* ft-augment: each record, then --num-aug label-preserving rewrites of its
 * text (EDA synonym replacement, insertion, swap and deletion, sentence
 * reordering, rule-based perturbation). A pure record filter: rewrites keep
 * every other key byte for byte and in order; id becomes "<id>#k", and
 * aug_of, aug and aug_seed are added. Records are rewritten in parallel in
 * batches and written in input order; rewrite k of a record depends only on
 * (--seed, id, k), so the output is the same for any thread count. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/progress.h"
#include "data/records.h"
#include "prog.h"
#include "recout.h"
#include "text/augment.h"
#include "text/augrec.h"
#include "text/wordnet.h"
#include "text/words.h"

#define BATCH 1024

struct opts {
    ft_aug_opts aug;
    long num_aug;
    const char *field;
    int no_original;
    const char *synonyms, *wordnet_dir, *stopwords, *rules;
    int no_wordnet, no_default_rules;
    size_t max_record_bytes;
    const char *output;
    char **inputs;
    int n_inputs;
};

/* Resources shared read-only by every thread. */
struct res {
    ft_synonyms *syn;
    ft_strtab *stop;
    ft_perturb *rules;
    ft_augmenter *aug;
    ft_aug_work **work;      /* one per thread */
    int n_work;
};

/* One record of a batch: its bytes and fields (copied out of the reader),
 * and its outputs. */
struct slot {
    uint8_t *data;
    size_t n_bytes, cap;
    ft_record rec;
    ft_field *fields;
    size_t fields_cap;
    ft_rec_builder *out;     /* num_aug builders */
    int failed;
    ft_err err;
    uint32_t unchanged;
};

enum {
    OPT_NUM_AUG = FT_OPT_FIRST_PRIVATE, OPT_OPS, OPT_OPS_PER_AUG, OPT_ALPHA, OPT_ALPHA_SR,
    OPT_ALPHA_RI, OPT_ALPHA_RS, OPT_P_RD, OPT_FIELD, OPT_NO_ORIGINAL, OPT_SYNONYMS,
    OPT_NO_WORDNET, OPT_WORDNET, OPT_STOPWORDS, OPT_RULES, OPT_NO_DEFAULT_RULES,
    OPT_MAX_RECORD
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
        "usage: ft-augment [options] [-o FILE] [FILE...] < records > records\n"
        "Write each record, then N label-preserving rewrites of its text.\n\n"
        "  -n, --num-aug N       rewrites per record (default 4)\n"
        "      --ops LIST        operations, in rotation order (default sr,ri,rs,rd;\n"
        "                        also reorder, perturb)\n"
        "      --ops-per-aug M   operations chained in one rewrite (default 1)\n"
        "      --alpha A         set --alpha-sr, --alpha-ri, --alpha-rs and --p-rd\n"
        "      --alpha-sr A      share of words replaced by synonyms (default 0.1)\n"
        "      --alpha-ri A      share of words inserted (default 0.1)\n"
        "      --alpha-rs A      share of words swapped (default 0.1)\n"
        "      --p-rd P          probability of deleting each word (default 0.1)\n"
        "      --field KEY       the text to rewrite: text (default), prompt, response\n"
        "      --no-original     write the rewrites only\n"
        "      --synonyms FILE   word<TAB>synonym lines, added to WordNet's\n"
        "      --no-wordnet      synonyms from --synonyms only\n"
        "      --wordnet DIR     WordNet dict directory (default $WNSEARCHDIR or\n"
        "                        /usr/share/wordnet)\n"
        "      --stopwords FILE  stop words, one a line (default: ft's English list)\n"
        "      --rules FILE      perturbation rules added to ft's English ones\n"
        "      --no-default-rules  only the rules of --rules\n"
        "      --max-record-bytes N  refuse larger records (default 64M)\n"
        "  -o, --output FILE     write to FILE, whole or not at all (default: standard\n"
        "                        output)\n"
        FT_PROG_HELP);
    exit(status);
}

static double unit(const char *opt, const char *arg)
{
    return ft_prog_double(opt, arg, 0.0, 1.0);
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longs[] = {
        {"num-aug", required_argument, 0, 'n'}, {"ops", required_argument, 0, OPT_OPS},
        {"ops-per-aug", required_argument, 0, OPT_OPS_PER_AUG},
        {"alpha", required_argument, 0, OPT_ALPHA},
        {"alpha-sr", required_argument, 0, OPT_ALPHA_SR},
        {"alpha-ri", required_argument, 0, OPT_ALPHA_RI},
        {"alpha-rs", required_argument, 0, OPT_ALPHA_RS},
        {"p-rd", required_argument, 0, OPT_P_RD}, {"field", required_argument, 0, OPT_FIELD},
        {"no-original", no_argument, 0, OPT_NO_ORIGINAL},
        {"output", required_argument, 0, 'o'},
        {"synonyms", required_argument, 0, OPT_SYNONYMS},
        {"no-wordnet", no_argument, 0, OPT_NO_WORDNET},
        {"wordnet", required_argument, 0, OPT_WORDNET},
        {"stopwords", required_argument, 0, OPT_STOPWORDS},
        {"rules", required_argument, 0, OPT_RULES},
        {"no-default-rules", no_argument, 0, OPT_NO_DEFAULT_RULES},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD}, FT_PROG_LONG};
    ft_err err;
    int c;

    ft_aug_opts_default(&o->aug);
    o->num_aug = 4;
    o->field = "text";
    while ((c = getopt_long(argc, argv, "n:o:" FT_PROG_SHORT, longs, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'o': o->output = optarg; break;
        case 'n': o->num_aug = ft_prog_long("--num-aug", optarg, 0, 100000); break;
        case OPT_OPS:
            if (ft_aug_parse_ops(&o->aug, optarg, &err) < 0)
                ft_prog_usage_error("--ops: %s", err.msg);
            break;
        case OPT_OPS_PER_AUG:
            o->aug.ops_per_aug = (int)ft_prog_long("--ops-per-aug", optarg, 1, FT_AUG_N_OPS);
            break;
        case OPT_ALPHA:
            o->aug.alpha_sr = o->aug.alpha_ri = o->aug.alpha_rs = o->aug.p_rd =
                unit("--alpha", optarg);
            break;
        case OPT_ALPHA_SR: o->aug.alpha_sr = unit("--alpha-sr", optarg); break;
        case OPT_ALPHA_RI: o->aug.alpha_ri = unit("--alpha-ri", optarg); break;
        case OPT_ALPHA_RS: o->aug.alpha_rs = unit("--alpha-rs", optarg); break;
        case OPT_P_RD: o->aug.p_rd = unit("--p-rd", optarg); break;
        case OPT_FIELD: o->field = optarg; break;
        case OPT_NO_ORIGINAL: o->no_original = 1; break;
        case OPT_SYNONYMS: o->synonyms = optarg; break;
        case OPT_NO_WORDNET: o->no_wordnet = 1; break;
        case OPT_WORDNET: o->wordnet_dir = optarg; break;
        case OPT_STOPWORDS: o->stopwords = optarg; break;
        case OPT_RULES: o->rules = optarg; break;
        case OPT_NO_DEFAULT_RULES: o->no_default_rules = 1; break;
        case OPT_MAX_RECORD:
            if (ft_parse_bytes(optarg, &o->max_record_bytes, &err) < 0)
                ft_prog_usage_error("--max-record-bytes: %s", err.msg);
            break;
        default: usage(2);
        }
    }
    if (!*o->field)
        ft_prog_usage_error("--field: empty key");
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

static int uses(const struct opts *o, int op)
{
    for (int i = 0; i < o->aug.n_ops; i++)
        if (o->aug.ops[i] == op)
            return 1;
    return 0;
}

/* Load what the chosen operations need, from ft's share folder by default. */
static void load(const struct opts *o, struct res *r)
{
    char path[4096];
    ft_err err;

    if (uses(o, FT_AUG_SR) || uses(o, FT_AUG_RI)) {
        if (!(r->syn = ft_syn_new(&err)) || !(r->stop = ft_strtab_new(&err)))
            ft_prog_die(&err);
        if (!o->no_wordnet && ft_wordnet_load(r->syn, o->wordnet_dir, &err) < 0)
            ft_prog_fail("WordNet: %s (install wordnet-base, or give --wordnet DIR or "
                         "--no-wordnet)", err.msg);
        if (o->synonyms && ft_syn_load_tsv(r->syn, o->synonyms, &err) < 0)
            ft_prog_die(&err);
        if (ft_syn_finish(r->syn, &err) < 0)
            ft_prog_die(&err);
        if (ft_syn_count_words(r->syn) == 0)
            ft_prog_warn("no synonyms: sr and ri change nothing");
        snprintf(path, sizeof path, "%s/stopwords-en.txt", ft_prog_share_dir());
        if (ft_strtab_load_lines(r->stop, o->stopwords ? o->stopwords : path,
                                 ft_words_lower, &err) < 0)
            ft_prog_die(&err);
    }
    if (uses(o, FT_AUG_PERTURB)) {
        if (!(r->rules = ft_perturb_new(&err)))
            ft_prog_die(&err);
        snprintf(path, sizeof path, "%s/perturb-en.rules", ft_prog_share_dir());
        if (!o->no_default_rules && ft_perturb_load(r->rules, path, &err) < 0)
            ft_prog_die(&err);
        if (o->rules && ft_perturb_load(r->rules, o->rules, &err) < 0)
            ft_prog_die(&err);
    }
    if (!(r->aug = ft_aug_new(&o->aug, r->syn, r->stop, r->rules, &err)))
        ft_prog_die(&err);
    r->n_work = omp_get_max_threads();
    if (!(r->work = ft_calloc((size_t)r->n_work, sizeof *r->work, &err)))
        ft_prog_die(&err);
    for (int i = 0; i < r->n_work; i++)
        if (!(r->work[i] = ft_aug_work_new(r->aug, &err)))
            ft_prog_die(&err);
}

/* Copy a record out of the reader's buffer into a slot. */
static int slot_take(struct slot *s, const ft_record *rec, ft_err *err)
{
    if (ft_grow(&s->data, &s->cap, rec->n_bytes, 1, err) < 0 ||
        ft_grow(&s->fields, &s->fields_cap, rec->n_fields + 1, sizeof *s->fields, err) < 0)
        return -1;
    memcpy(s->data, rec->data, rec->n_bytes);
    s->rec = *rec;
    s->rec.data = s->data;
    s->rec.fields = s->fields;
    for (uint32_t i = 0; i < rec->n_fields; i++) {
        const ft_field *f = &rec->fields[i];
        ft_field *g = &s->fields[i];
        *g = *f;
        g->key = s->data + (f->key - rec->data);
        g->val = s->data + (f->val - rec->data);
        if (f->key_str)
            g->key_str = (const char *)s->data + (f->key_str - (const char *)rec->data);
    }
    s->failed = 0;
    s->unchanged = 0;
    return 0;
}

/* Rewrite a batch in parallel, then write it in order; stop at an error. */
static void flush_batch(const struct opts *o, struct res *r, struct slot *slots, size_t n,
                        ft_writer *wr, const char *name, uint64_t *n_unchanged)
{
    ft_err err;

#pragma omp parallel for schedule(dynamic, 16)
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (ft_augrec_build(r->work[omp_get_thread_num()], &s->rec, o->field,
                            (uint32_t)o->num_aug, ft_prog.seed, s->out, &s->unchanged,
                            &s->err) < 0)
            s->failed = 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct slot *s = &slots[i];
        if (s->failed) {
            if (ft_writer_flush(wr, &err) < 0)
                ft_prog_die(&err);
            ft_prog_fail("%s: record %" PRIu64 " (byte %" PRIu64 "): %s", name,
                         s->rec.number, s->rec.offset, s->err.msg);
        }
        if (!o->no_original && ft_writer_put_raw(wr, &s->rec, &err) < 0)
            ft_prog_die(&err);
        for (long k = 0; k < o->num_aug; k++)
            if (ft_writer_put(wr, &s->out[k], &err) < 0)
                ft_prog_die(&err);
        *n_unchanged += s->unchanged;
    }
}

static void augment_stream(const struct opts *o, struct res *r, int fd, const char *name,
                           ft_writer *wr, struct slot *slots, ft_progress *pg,
                           uint64_t *n_rec, uint64_t *n_unchanged)
{
    ft_err err;
    ft_record rec;
    ft_reader *rd = ft_reader_open(fd, name, o->max_record_bytes, &err);
    size_t n = 0;
    int rc;

    if (!rd)
        ft_prog_die(&err);
    while ((rc = ft_reader_next(rd, &rec, &err)) == 1) {
        if (slot_take(&slots[n++], &rec, &err) < 0)
            ft_prog_die(&err);
        if (n == BATCH) {
            flush_batch(o, r, slots, n, wr, ft_reader_name(rd), n_unchanged);
            *n_rec += n;
            n = 0;
            ft_progress_draw(pg, 0, "%" PRIu64 " records, %.0f records/s", *n_rec,
                             *n_rec / (ft_progress_elapsed(pg) + 1e-9));
        }
    }
    flush_batch(o, r, slots, n, wr, ft_reader_name(rd), n_unchanged);
    *n_rec += n;
    if (rc < 0) {
        ft_err werr;
        if (ft_writer_flush(wr, &werr) < 0)
            ft_prog_die(&werr);
        ft_prog_die(&err);
    }
    ft_reader_free(rd);
}

static void cleanup(struct res *r, struct slot *slots, long num_aug)
{
    for (size_t i = 0; i < BATCH; i++) {
        for (long k = 0; k < num_aug; k++)
            ft_rec_free(&slots[i].out[k]);
        free(slots[i].out);
        free(slots[i].data);
        free(slots[i].fields);
    }
    free(slots);
    for (int i = 0; i < r->n_work; i++)
        ft_aug_work_free(r->work[i]);
    free(r->work);
    ft_aug_free(r->aug);
    ft_perturb_free(r->rules);
    ft_strtab_free(r->stop);
    ft_syn_free(r->syn);
}

/* The output, removed by exit() after a failure unless committed. */
static ft_recout out;
static int out_open;

static void abort_output(void)
{
    if (out_open)
        ft_recout_abort(&out);
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    struct res r = {0};
    struct slot *slots;
    ft_progress pg;
    ft_err err;
    ft_writer *wr;
    uint64_t n_rec = 0, n_unchanged = 0;

    ft_prog_init("ft-augment");
    parse_args(argc, argv, &o);
    ft_prog_start();
    if (ft_recout_open(&out, o.output, ft_prog.force, &err) < 0)
        ft_prog_die(&err);
    out_open = 1;
    atexit(abort_output);
    wr = out.w;
    load(&o, &r);
    if (!(slots = ft_calloc(BATCH, sizeof *slots, &err)))
        ft_prog_die(&err);
    for (size_t i = 0; i < BATCH; i++) {
        if (!(slots[i].out = ft_calloc((size_t)o.num_aug + 1, sizeof *slots[i].out, &err)))
            ft_prog_die(&err);
        for (long k = 0; k < o.num_aug; k++)
            ft_rec_init(&slots[i].out[k]);
    }

    ft_progress_init(&pg, ft_prog.progress);
    for (int i = 0; i < (o.n_inputs ? o.n_inputs : 1); i++) {
        const char *in = o.n_inputs ? o.inputs[i] : "-";
        int fd = strcmp(in, "-") ? open(in, O_RDONLY) : STDIN_FILENO;
        if (fd < 0)
            ft_prog_fail("%s: %s", in, strerror(errno));
        augment_stream(&o, &r, fd, in, wr, slots, &pg, &n_rec, &n_unchanged);
        if (fd != STDIN_FILENO)
            close(fd);
    }
    ft_progress_end(&pg);
    out_open = 0;
    if (ft_recout_commit(&out, &err) < 0)
        ft_prog_die(&err);
    ft_prog_info("%" PRIu64 " records, %" PRIu64 " rewrites, %" PRIu64 " equal to their "
                 "original", n_rec, n_rec * (uint64_t)o.num_aug, n_unchanged);
    cleanup(&r, slots, o.num_aug);
    return 0;
}
