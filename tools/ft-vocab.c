/* ft-vocab: learn a byte-level BPE vocabulary from the text of records and
 * write it as a tokenizer.json. Counting and training are lib/text/vocab.c;
 * this file reads options and streams records. */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/progress.h"
#include "data/records.h"
#include "data/utf8.h"
#include "prog.h"
#include "text/pattern.h"
#include "text/vocab.h"

enum {
    OPT_SIZE = FT_OPT_FIRST_PRIVATE,
    OPT_MIN_FREQUENCY,
    OPT_SPECIAL,
    OPT_PATTERN,
    OPT_NFC,
    OPT_ADD_BOS,
    OPT_FIELD,
    OPT_FIX_UTF8,
    OPT_MAX_RECORD,
};

#define MAX_SPECIAL 64

struct options {
    ft_vocab_opts v;
    const char *special[MAX_SPECIAL];
    char *special_list;
    const char *field, *output;
    int fix_utf8;
    size_t max_record_bytes;
    char **inputs;
    int n_inputs;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-vocab --size N [options] [FILE...]\n"
            "Learn a byte-level BPE vocabulary of N tokens from the \"text\" of the records\n"
            "of FILEs or standard input, and write it as a tokenizer.json.\n"
            "\n"
            "      --size N            tokens in all: special, the 256 bytes, merged\n"
            "      --min-frequency N   merge only pairs seen at least N times (default 2)\n"
            "      --special LIST      special tokens, comma-separated, ids from 0\n"
            "                          (default \"<|endoftext|>\"; \"\" for none)\n"
            "      --pattern P         pre-tokenizer: gpt2 (default), llama3, qwen2 or a regex\n"
            "      --nfc               NFC-normalize text first (as Qwen2)\n"
            "      --add-bos           the tokenizer puts the BOS token before each text\n"
            "      --field NAME        the text field (default \"text\")\n"
            "      --fix-utf8          invalid UTF-8 becomes U+FFFD (default: an error)\n"
            "  -o, --output FILE       tokenizer.json to FILE instead of standard output\n"
            "      --max-record-bytes N  largest record (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

/* --special: a comma-separated list, split in place. */
static void parse_special(struct options *o, char *list)
{
    o->v.n_special = 0;
    if (!*list)
        return;
    for (char *s = list, *comma; s; s = comma ? comma + 1 : NULL) {
        if ((comma = strchr(s, ',')))
            *comma = 0;
        if (o->v.n_special == MAX_SPECIAL)
            ft_prog_usage_error("--special: more than %d tokens", MAX_SPECIAL);
        o->special[o->v.n_special++] = s;
    }
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"size", required_argument, 0, OPT_SIZE},
        {"min-frequency", required_argument, 0, OPT_MIN_FREQUENCY},
        {"special", required_argument, 0, OPT_SPECIAL},
        {"pattern", required_argument, 0, OPT_PATTERN},
        {"nfc", no_argument, 0, OPT_NFC},
        {"add-bos", no_argument, 0, OPT_ADD_BOS},
        {"field", required_argument, 0, OPT_FIELD},
        {"fix-utf8", no_argument, 0, OPT_FIX_UTF8},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
        FT_PROG_LONG,
    };
    ft_err err;
    int c;

    o->field = "text";
    o->v.min_frequency = 2;
    o->special[0] = "<|endoftext|>";
    o->v.n_special = 1;
    o->v.special = o->special;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_SIZE:
            o->v.size = (size_t)ft_prog_long("--size", optarg, 1, 1L << 24);
            break;
        case OPT_MIN_FREQUENCY:
            o->v.min_frequency = (uint64_t)ft_prog_long("--min-frequency", optarg, 1, LONG_MAX);
            break;
        case OPT_SPECIAL:
            free(o->special_list);
            if (!(o->special_list = strdup(optarg)))
                ft_prog_fail("out of memory");
            parse_special(o, o->special_list);
            break;
        case OPT_PATTERN:
            o->v.pattern = !strcmp(optarg, "gpt2")     ? NULL
                           : !strcmp(optarg, "llama3") ? ft_pattern_llama3
                           : !strcmp(optarg, "qwen2")  ? ft_pattern_qwen2
                                                       : optarg;
            if (o->v.pattern && !*o->v.pattern)
                ft_prog_usage_error("--pattern: empty");
            break;
        case OPT_NFC:
            o->v.nfc = 1;
            break;
        case OPT_ADD_BOS:
            o->v.add_bos = 1;
            break;
        case OPT_FIELD:
            if (!*optarg)
                ft_prog_usage_error("--field: empty");
            o->field = optarg;
            break;
        case OPT_FIX_UTF8:
            o->fix_utf8 = 1;
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
    if (o->v.size == 0)
        ft_prog_usage_error("give the vocabulary size: --size N");
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

/* What counting needs. */
struct run {
    const struct options *o;
    ft_vocab *v;
    char *fixed;
    size_t fixed_cap;
    uint64_t n_records, n_fixed;
    ft_progress pg;
};

static int count_one(struct run *r, const ft_record *rec, ft_err *err)
{
    const ft_field *f = ft_record_get(rec, r->o->field);
    const char *s;
    size_t len, n_fixed;

    if (!f)
        return ft_err_set(err, "no \"%s\" field", r->o->field);
    if (ft_field_str(f, &s, &len, err) < 0)
        return -1;
    if (r->o->fix_utf8 && ft_utf8_valid_prefix(s, len) < len) {
        if (ft_utf8_fix(s, len, &r->fixed, &r->fixed_cap, &len, &n_fixed, err) < 0)
            return -1;
        s = r->fixed;
        r->n_fixed++;
    }
    if (ft_vocab_add_text(r->v, s, len, err) < 0) {
        int bad_utf8 = strncmp(err->msg, "invalid UTF-8", 13) == 0;
        ft_err_prefix(err, "field \"%s\"", r->o->field);
        if (bad_utf8)
            strncat(err->msg, " (--fix-utf8 replaces it)", FT_ERR_MAX - strlen(err->msg) - 1);
        return -1;
    }
    return 0;
}

static int run_input(struct run *r, const char *path, ft_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    ft_record rec;
    int rc;

    if (fd < 0)
        return ft_err_errno(err, path);
    ft_reader *rd = ft_reader_open(fd, path, r->o->max_record_bytes, err);
    if (!rd) {
        if (fd > 0)
            close(fd);
        return -1;
    }
    while ((rc = ft_reader_next(rd, &rec, err)) == 1) {
        if (count_one(r, &rec, err) < 0) {
            ft_err_prefix(err, "%s: record %" PRIu64 " (byte %" PRIu64 ")", ft_reader_name(rd),
                          rec.number, rec.offset);
            rc = -1;
            break;
        }
        r->n_records++;
        ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %zu distinct words", r->n_records,
                         ft_vocab_n_words(r->v));
    }
    ft_reader_free(rd);
    if (fd > 0)
        close(fd);
    return rc;
}

/* The tokenizer.json to the output file (atomically) or standard output. */
static int write_out(const struct options *o, const ft_tokenizer *t, ft_err *err)
{
    if (o->output && strcmp(o->output, "-"))
        return ft_tokenizer_save(t, o->output, ft_prog.force, err);
    size_t n;
    char *s = ft_tokenizer_to_json(t, &n, err);
    if (!s)
        return -1;
    int rc = fwrite(s, 1, n, stdout) == n ? 0 : ft_err_errno(err, "standard output");
    free(s);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct run r = {.o = &o};
    char *stdin_only[] = {"-"};
    ft_err err;

    ft_prog_init("ft-vocab");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.n_inputs == 0) {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }
    if (!(r.v = ft_vocab_new(&o.v, &err))) {
        err.kind = FT_ERR_USAGE;
        ft_prog_die(&err);
    }
    ft_progress_init(&r.pg, ft_prog.progress);
    for (int i = 0; i < o.n_inputs; i++) {
        if (run_input(&r, o.inputs[i], &err) < 0) {
            ft_progress_end(&r.pg);
            ft_prog_die(&err);
        }
    }
    ft_progress_end(&r.pg);
    if (r.n_fixed)
        ft_prog_warn("%" PRIu64 " records had invalid UTF-8, replaced by U+FFFD", r.n_fixed);
    ft_tokenizer *t = ft_vocab_train(r.v, &err);
    if (!t || write_out(&o, t, &err) < 0)
        ft_prog_die(&err);
    ft_prog_info("%" PRIu64 " records, %" PRIu64 " words (%zu distinct), %ld tokens, %zu merges",
                 r.n_records, ft_vocab_n_pieces(r.v), ft_vocab_n_words(r.v),
                 (long)ft_tokenizer_n_vocab(t), ft_tokenizer_n_merges(t));
    if ((size_t)ft_tokenizer_n_vocab(t) < o.v.size)
        ft_prog_warn("the text has too few pairs seen %" PRIu64 " times: %ld tokens, not %zu",
                     o.v.min_frequency, (long)ft_tokenizer_n_vocab(t), o.v.size);
    ft_tokenizer_free(t);
    ft_vocab_free(r.v);
    free(r.fixed);
    free(o.special_list);
    return 0;
}
