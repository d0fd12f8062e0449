/* ft-tokenize: add token ids to records (a model's tokenizer), or turn ids
 * back into text with --decode. Tokenizing is lib/text/tokenizer.c; this
 * file reads options and streams records. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/progress.h"
#include "prog.h"
#include "recout.h"
#include "text/tokenizer.h"
#include "tokmodel.h"

enum {
    OPT_TOKENIZER = FT_OPT_FIRST_PRIVATE,
    OPT_FIELD,
    OPT_DECODE,
    OPT_NO_SPECIAL,
    OPT_SPLIT_SPECIAL,
    OPT_KEEP_SPECIAL,
    OPT_FIX_UTF8,
    OPT_MAX_RECORD,
};

struct options {
    const char *model, *tokenizer, *field, *output;
    int decode, no_special, split_special, keep_special, fix_utf8;
    size_t max_record_bytes;
    char **inputs;
    int n_inputs;
};

/* What streaming needs. */
struct run {
    struct options *o;
    ft_tokenizer *tok;
    ft_recout out;
    ft_rec_builder b;
    int32_t *ids;
    size_t cap;
    uint64_t n_records, n_tokens;
    ft_progress pg;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-tokenize (-m MODEL | --tokenizer FILE) [options] [FILE...]\n"
            "Add \"tokens\" (token ids of the \"text\" field) to each record of FILEs or\n"
            "standard input; with --decode, turn \"tokens\" back into \"text\".\n"
            "\n"
            "  -m, --model MODEL       a model directory or archive (its tokenizer.json,\n"
            "                          tokenizer_config.json, generation_config.json)\n"
            "                          or a GGUF file (its tokenizer.ggml.* metadata)\n"
            "      --tokenizer FILE    a tokenizer.json (or GPT-2's vocab.json)\n"
            "      --field NAME        the text field (default \"text\")\n"
            "      --decode            ids to text: \"tokens\" becomes the text field\n"
            "      --no-special        do not add BOS/EOS around the text\n"
            "      --split-special     special tokens written in the text are plain text\n"
            "      --keep-special      --decode: write special tokens' text (default: drop)\n"
            "      --fix-utf8          invalid UTF-8 becomes U+FFFD (default: an error)\n"
            "  -o, --output FILE       records to FILE instead of standard output\n"
            "      --max-record-bytes N  largest record (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},
        {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"field", required_argument, 0, OPT_FIELD},
        {"decode", no_argument, 0, OPT_DECODE},
        {"no-special", no_argument, 0, OPT_NO_SPECIAL},
        {"split-special", no_argument, 0, OPT_SPLIT_SPECIAL},
        {"keep-special", no_argument, 0, OPT_KEEP_SPECIAL},
        {"fix-utf8", no_argument, 0, OPT_FIX_UTF8},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
        FT_PROG_LONG,
    };
    ft_err err;
    int c;

    o->field = "text";
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "m:o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'm':
            o->model = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_TOKENIZER:
            o->tokenizer = optarg;
            break;
        case OPT_FIELD:
            if (!*optarg || !strcmp(optarg, "tokens"))
                ft_prog_usage_error("--field: not a text field name: \"%s\"", optarg);
            o->field = optarg;
            break;
        case OPT_DECODE:
            o->decode = 1;
            break;
        case OPT_NO_SPECIAL:
            o->no_special = 1;
            break;
        case OPT_SPLIT_SPECIAL:
            o->split_special = 1;
            break;
        case OPT_KEEP_SPECIAL:
            o->keep_special = 1;
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
    if (!o->model == !o->tokenizer)
        ft_prog_usage_error("give one of -m MODEL and --tokenizer FILE");
    if (o->decode && (o->no_special || o->split_special || o->fix_utf8))
        ft_prog_usage_error("--no-special, --split-special and --fix-utf8 are for encoding");
    if (!o->decode && o->keep_special)
        ft_prog_usage_error("--keep-special goes with --decode");
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

/* Text to ids: every field but "tokens" as it was, then "tokens". */
static int encode_one(struct run *r, const ft_record *rec, ft_err *err)
{
    static const char *const skip[] = {"tokens", NULL};
    const struct options *o = r->o;
    const ft_field *f = ft_record_get(rec, o->field);
    const char *s;
    size_t len, n = 0;
    int flags = (o->no_special ? 0 : FT_TOK_ADD_SPECIAL) |
                (o->split_special ? FT_TOK_SPLIT_SPECIAL : 0) | (o->fix_utf8 ? FT_TOK_FIX_UTF8 : 0);

    if (!f)
        return ft_err_set(err, "no \"%s\" field", o->field);
    if (ft_field_str(f, &s, &len, err) < 0)
        return -1;
    if (ft_tokenizer_encode(r->tok, s, len, flags, &r->ids, &n, &r->cap, err) < 0) {
        int bad_utf8 = strncmp(err->msg, "invalid UTF-8", 13) == 0;
        ft_err_prefix(err, "field \"%s\"", o->field);
        if (bad_utf8)
            strncat(err->msg, " (--fix-utf8 replaces it)", FT_ERR_MAX - strlen(err->msg) - 1);
        return -1;
    }
    ft_rec_reset(&r->b);
    ft_rec_copy_except(&r->b, rec, skip);
    ft_rec_int_array(&r->b, "tokens", r->ids, n);
    r->n_tokens += n;
    return ft_writer_put(r->out.w, &r->b, err);
}

/* Ids to text: every field but "tokens" and the text field, then the text. */
static int decode_one(struct run *r, const ft_record *rec, ft_err *err)
{
    const char *skip[] = {"tokens", r->o->field, NULL};
    const ft_field *f = ft_record_get(rec, "tokens");
    int32_t *ids;
    size_t n, len;
    char *text;

    if (!f)
        return ft_err_set(err, "no \"tokens\" field");
    if (ft_field_int_array(f, &ids, &n, err) < 0)
        return -1;
    int rc = ft_tokenizer_decode(r->tok, ids, n, r->o->keep_special ? 0 : FT_TOK_SKIP_SPECIAL,
                                 &text, &len, err);
    free(ids);
    if (rc < 0)
        return ft_err_prefix(err, "field \"tokens\"");
    ft_rec_reset(&r->b);
    ft_rec_copy_except(&r->b, rec, skip);
    ft_rec_str(&r->b, r->o->field, text, len);
    free(text);
    r->n_tokens += n;
    return ft_writer_put(r->out.w, &r->b, err);
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
        if ((r->o->decode ? decode_one(r, &rec, err) : encode_one(r, &rec, err)) < 0) {
            if (err->kind != FT_ERR_PIPE)
                ft_err_prefix(err, "%s: record %" PRIu64 " (byte %" PRIu64 ")",
                              ft_reader_name(rd), rec.number, rec.offset);
            rc = -1;
            break;
        }
        r->n_records++;
        ft_progress_draw(&r->pg, 0, "%" PRIu64 " records, %" PRIu64 " tokens, %.0f tokens/s",
                         r->n_records, r->n_tokens,
                         r->n_tokens / (ft_progress_elapsed(&r->pg) + 1e-9));
    }
    ft_reader_free(rd);
    if (fd > 0)
        close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct run r = {.o = &o};
    char *stdin_only[] = {"-"};
    ft_err err;

    ft_prog_init("ft-tokenize");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.n_inputs == 0) {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }
    r.tok = o.model ? ft_tokmodel_load(o.model, &err) : ft_tokenizer_load(o.tokenizer, &err);
    if (!r.tok)
        ft_prog_die(&err);
    if (ft_recout_open(&r.out, o.output, ft_prog.force, &err) < 0)
        ft_prog_die(&err);
    ft_rec_init(&r.b);
    ft_progress_init(&r.pg, ft_prog.progress);
    for (int i = 0; i < o.n_inputs; i++) {
        if (run_input(&r, o.inputs[i], &err) < 0) {
            ft_progress_end(&r.pg);
            ft_recout_abort(&r.out);
            ft_prog_die(&err);
        }
    }
    ft_progress_end(&r.pg);
    if (ft_recout_commit(&r.out, &err) < 0)
        ft_prog_die(&err);
    ft_prog_info("%" PRIu64 " records, %" PRIu64 " tokens", r.n_records, r.n_tokens);
    ft_rec_free(&r.b);
    free(r.ids);
    ft_tokenizer_free(r.tok);
    return 0;
}
