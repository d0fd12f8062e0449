/* ft-split: cut a record stream by a hash of each id: a test split,
 * shards, samples, per-class samples, or a bounded-memory shuffle. The
 * choices are in lib/data/split.c; this file reads options and streams. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "data/split.h"
#include "prog.h"
#include "recout.h"

enum {
    OPT_TEST = FT_OPT_FIRST_PRIVATE,
    OPT_TEST_OUT,
    OPT_PARTS,
    OPT_PART,
    OPT_SAMPLE,
    OPT_PER_CLASS,
    OPT_SHUFFLE,
    OPT_BUFFER,
    OPT_MAX_RECORD,
    OPT_REST,
};

enum mode { MODE_NONE, MODE_TEST, MODE_PARTS, MODE_SAMPLE, MODE_PER_CLASS, MODE_SHUFFLE };

struct options {
    int mode;
    double test;
    long parts, part;
    long sample;
    long buffer;
    size_t max_record_bytes;
    const char *output, *test_out, *rest;
    char **inputs;
    int n_inputs;
};

/* What the run needs while streaming. */
struct run {
    struct options *o;
    ft_recout main, test, rest;
    int has_main, has_test, has_rest;
    int stdin_fd;               /* --rest: standard input spooled, else -1 */
    ft_sampler *sampler;
    ft_shuffler *shuffler;
    uint64_t n_in, n_test;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-split MODE [options] [FILE...]\n"
            "Cut a record stream (FILEs, or standard input) by a seeded hash of each\n"
            "record's id: a record's fate depends only on its id and the seed.\n"
            "\n"
            "Modes (one of):\n"
            "      --test F             a fraction F of records to --test-out, the rest\n"
            "                           to standard output (or -o)\n"
            "      --parts N --part K   shard K (1..N) of N\n"
            "      --sample N           N records (the N smallest hashes), in stream order\n"
            "      --per-class N        N records of each label\n"
            "      --shuffle            a random order, from a buffer of --buffer records\n"
            "\n"
            "Options:\n"
            "  -o, --output FILE        records (train side) to FILE ('-': standard output)\n"
            "      --test-out FILE      the test side to FILE ('-': standard output)\n"
            "      --rest FILE          --sample, --per-class: the records not sampled to\n"
            "                           FILE, in stream order\n"
            "      --buffer N           --shuffle buffer in records (default 10000)\n"
            "      --max-record-bytes N largest record (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

static void set_mode(struct options *o, int mode, const char *name)
{
    if (o->mode != MODE_NONE && o->mode != mode)
        ft_prog_usage_error("%s: only one of --test, --parts, --sample, --per-class and "
                            "--shuffle at a time",
                            name);
    o->mode = mode;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"test", required_argument, 0, OPT_TEST},
        {"test-out", required_argument, 0, OPT_TEST_OUT},
        {"parts", required_argument, 0, OPT_PARTS},
        {"part", required_argument, 0, OPT_PART},
        {"sample", required_argument, 0, OPT_SAMPLE},
        {"per-class", required_argument, 0, OPT_PER_CLASS},
        {"shuffle", no_argument, 0, OPT_SHUFFLE},
        {"buffer", required_argument, 0, OPT_BUFFER},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
        {"rest", required_argument, 0, OPT_REST},
        FT_PROG_LONG,
    };
    ft_err err;
    int c;

    o->buffer = 10000;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_TEST:
            set_mode(o, MODE_TEST, "--test");
            o->test = ft_prog_double("--test", optarg, 0.0, 1.0);
            break;
        case OPT_TEST_OUT:
            o->test_out = optarg;
            break;
        case OPT_REST:
            o->rest = optarg;
            break;
        case OPT_PARTS:
            set_mode(o, MODE_PARTS, "--parts");
            o->parts = ft_prog_long("--parts", optarg, 1, 1L << 30);
            break;
        case OPT_PART:
            set_mode(o, MODE_PARTS, "--part");
            o->part = ft_prog_long("--part", optarg, 1, 1L << 30);
            break;
        case OPT_SAMPLE:
            set_mode(o, MODE_SAMPLE, "--sample");
            o->sample = ft_prog_long("--sample", optarg, 0, 1L << 40);
            break;
        case OPT_PER_CLASS:
            set_mode(o, MODE_PER_CLASS, "--per-class");
            o->sample = ft_prog_long("--per-class", optarg, 0, 1L << 40);
            break;
        case OPT_SHUFFLE:
            set_mode(o, MODE_SHUFFLE, "--shuffle");
            break;
        case OPT_BUFFER:
            o->buffer = ft_prog_long("--buffer", optarg, 1, 1L << 40);
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
    if (o->mode == MODE_NONE)
        ft_prog_usage_error("nothing to do: give --test, --parts, --sample, --per-class "
                            "or --shuffle");
    if (o->mode == MODE_PARTS && (!o->parts || !o->part))
        ft_prog_usage_error("--parts N and --part K go together");
    if (o->mode == MODE_PARTS && o->part > o->parts)
        ft_prog_usage_error("--part %ld: must be between 1 and --parts (%ld)", o->part,
                            o->parts);
    if (o->test_out && o->mode != MODE_TEST)
        ft_prog_usage_error("--test-out goes with --test");
    if (o->test_out && !strcmp(o->test_out, "-") && o->output && !strcmp(o->output, "-"))
        ft_prog_usage_error("-o and --test-out cannot both be standard output");
    if (o->rest && o->mode != MODE_SAMPLE && o->mode != MODE_PER_CLASS)
        ft_prog_usage_error("--rest goes with --sample or --per-class");
    if (o->rest && !strcmp(o->rest, "-") && (!o->output || !strcmp(o->output, "-")))
        ft_prog_usage_error("the sample and --rest cannot both be standard output: give -o");
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

/* One record through the chosen mode. */
static int split_one(struct run *r, const ft_record *rec, ft_err *err)
{
    struct options *o = r->o;
    char tmp[24];
    const char *key, *label;
    size_t n, label_len;

    if (o->mode == MODE_SHUFFLE)
        return ft_shuffler_push(r->shuffler, rec, r->main.w, err);
    if (ft_split_id(rec, tmp, &key, &n, err) < 0)
        return -1;
    switch (o->mode) {
    case MODE_TEST:
        if (ft_split_unit(ft_split_hash(key, n, ft_prog.seed)) < o->test) {
            r->n_test++;
            return r->has_test ? ft_writer_put_raw(r->test.w, rec, err) : 0;
        }
        return r->has_main ? ft_writer_put_raw(r->main.w, rec, err) : 0;
    case MODE_PARTS: {
        uint64_t h = ft_split_hash(key, n, ft_prog.seed ^ FT_SPLIT_SALT_PART);
        long part = (long)(ft_split_unit(h) * (double)o->parts);
        return part + 1 == o->part ? ft_writer_put_raw(r->main.w, rec, err) : 0;
    }
    case MODE_SAMPLE:
    case MODE_PER_CLASS: {
        uint64_t h = ft_split_hash(key, n, ft_prog.seed ^ FT_SPLIT_SALT_SAMPLE);
        label = "";
        label_len = 0;
        if (o->mode == MODE_PER_CLASS) {
            const ft_field *f = ft_record_get(rec, "label");
            if (!f)
                return ft_err_set(err, "no \"label\" (--per-class samples by label)");
            if (ft_field_str(f, &label, &label_len, err) < 0)
                return -1;
        }
        return ft_sampler_offer(r->sampler, label, label_len, h, rec, err);
    }
    }
    return 0;
}

/* A descriptor for an input: standard input (or its spooled copy, read
 * from the start) or a file opened now. */
static int open_input(struct run *r, const char *path, ft_err *err)
{
    int fd;

    if (strcmp(path, "-"))
        fd = open(path, O_RDONLY | O_CLOEXEC);
    else if (r->stdin_fd < 0)
        fd = dup(0);
    else
        fd = dup(r->stdin_fd);
    if (fd < 0)
        return ft_err_errno(err, path);
    if (r->stdin_fd >= 0 && !strcmp(path, "-") && lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return ft_err_errno(err, "spooled standard input");
    }
    return fd;
}

/* The whole of standard input into an unlinked temporary file, so that
 * --rest can read it a second time. */
static int spool_stdin(struct run *r, ft_err *err)
{
    const char *dir = getenv("TMPDIR");
    char path[4096], buf[1 << 16];
    ssize_t n;

    snprintf(path, sizeof path, "%s/ft-split.XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return ft_err_errno(err, path);
    unlink(path);
    while ((n = read(0, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return ft_err_errno(err, "standard input");
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                close(fd);
                return ft_err_errno(err, "spool for standard input");
            }
            off += w;
        }
    }
    r->stdin_fd = fd;
    return 0;
}

/* Pass 2 of --rest: every record whose position is not among the kept
 * ones (pos[*next...] ascending), in stream order. */
static int rest_input(struct run *r, const char *path, const uint64_t *pos, size_t n_pos,
                      size_t *next, uint64_t *seq, ft_err *err)
{
    ft_record rec;
    int rc, fd = open_input(r, path, err);

    if (fd < 0)
        return -1;
    ft_reader *rd = ft_reader_open(fd, path, r->o->max_record_bytes, err);
    if (!rd) {
        close(fd);
        return -1;
    }
    while ((rc = ft_reader_next(rd, &rec, err)) == 1) {
        if (*next < n_pos && pos[*next] == *seq)
            ++*next;
        else if (ft_writer_put_raw(r->rest.w, &rec, err) < 0) {
            rc = -1;
            break;
        }
        ++*seq;
    }
    ft_reader_free(rd);
    close(fd);
    return rc;
}

static int split_input(struct run *r, const char *path, ft_err *err)
{
    ft_record rec;
    int rc, fd = open_input(r, path, err);

    if (fd < 0)
        return -1;
    ft_reader *rd = ft_reader_open(fd, path, r->o->max_record_bytes, err);
    if (!rd) {
        close(fd);
        return -1;
    }
    while ((rc = ft_reader_next(rd, &rec, err)) == 1) {
        r->n_in++;
        if (split_one(r, &rec, err) < 0) {
            if (err->kind != FT_ERR_PIPE)
                ft_err_prefix(err, "%s: record %llu (byte %llu)", ft_reader_name(rd),
                              (unsigned long long)rec.number,
                              (unsigned long long)rec.offset);
            rc = -1;
            break;
        }
    }
    ft_reader_free(rd);
    close(fd);
    return rc;
}

static void fail(struct run *r, ft_err *err)
{
    if (r->has_main)
        ft_recout_abort(&r->main);
    if (r->has_test)
        ft_recout_abort(&r->test);
    if (r->has_rest)
        ft_recout_abort(&r->rest);
    ft_prog_die(err);
}

/* Open the outputs: -o (unless the test side has standard output and -o
 * was not given) and --test-out. */
static void open_outputs(struct run *r, ft_err *err)
{
    struct options *o = r->o;
    int test_stdout = o->test_out && !strcmp(o->test_out, "-");

    if (!test_stdout || o->output) {
        if (ft_recout_open(&r->main, o->output, ft_prog.force, err) < 0)
            fail(r, err);
        r->has_main = 1;
    }
    if (o->test_out) {
        if (ft_recout_open(&r->test, o->test_out, ft_prog.force, err) < 0)
            fail(r, err);
        r->has_test = 1;
    }
    if (o->rest) {
        if (ft_recout_open(&r->rest, o->rest, ft_prog.force, err) < 0)
            fail(r, err);
        r->has_rest = 1;
    }
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct run r = {.o = &o, .stdin_fd = -1};
    char *stdin_only[] = {"-"};
    ft_err err;

    ft_prog_init("ft-split");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.n_inputs == 0) {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }
    open_outputs(&r, &err);
    if (o.rest)
        for (int i = 0; i < o.n_inputs; i++)
            if (!strcmp(o.inputs[i], "-") && r.stdin_fd < 0 && spool_stdin(&r, &err) < 0)
                fail(&r, &err);
    if (o.mode == MODE_SAMPLE || o.mode == MODE_PER_CLASS)
        r.sampler = ft_sampler_new((size_t)o.sample, &err);
    if (o.mode == MODE_SHUFFLE)
        r.shuffler = ft_shuffler_new((size_t)o.buffer, ft_prog.seed, &err);
    if ((o.mode == MODE_SHUFFLE && !r.shuffler) ||
        ((o.mode == MODE_SAMPLE || o.mode == MODE_PER_CLASS) && !r.sampler))
        fail(&r, &err);
    for (int i = 0; i < o.n_inputs; i++)
        if (split_input(&r, o.inputs[i], &err) < 0)
            fail(&r, &err);
    if ((r.sampler && ft_sampler_write(r.sampler, r.main.w, &err) < 0) ||
        (r.shuffler && ft_shuffler_drain(r.shuffler, r.main.w, &err) < 0))
        fail(&r, &err);
    if (o.rest) {
        uint64_t *pos, seq = 0;
        size_t n_pos, next = 0;
        if (ft_sampler_positions(r.sampler, &pos, &n_pos, &err) < 0)
            fail(&r, &err);
        for (int i = 0; i < o.n_inputs; i++)
            if (rest_input(&r, o.inputs[i], pos, n_pos, &next, &seq, &err) < 0) {
                free(pos);
                fail(&r, &err);
            }
        free(pos);
    }
    if (r.sampler && o.mode == MODE_PER_CLASS)
        for (size_t g = 0; g < ft_sampler_groups(r.sampler); g++) {
            const char *name;
            size_t len, kept = ft_sampler_kept(r.sampler, g, &name, &len);
            if (kept < (size_t)o.sample)
                ft_prog_warn("label \"%.*s\": only %zu records (--per-class %ld)",
                             (int)len, name, kept, o.sample);
        }
    if (o.mode == MODE_TEST)
        ft_prog_info("%llu records, %llu in test", (unsigned long long)r.n_in,
                     (unsigned long long)r.n_test);
    if ((r.has_main && ft_recout_commit(&r.main, &err) < 0) ||
        (r.has_test && ft_recout_commit(&r.test, &err) < 0) ||
        (r.has_rest && ft_recout_commit(&r.rest, &err) < 0))
        ft_prog_die(&err);
    ft_sampler_free(r.sampler);
    ft_shuffler_free(r.shuffler);
    return 0;
}
