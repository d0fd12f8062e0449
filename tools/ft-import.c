/* ft-import: files, archives and compressed files to records. The work is
 * in lib/data/import.c; this file reads the options and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/progress.h"
#include "data/import.h"
#include "prog.h"
#include "recout.h"

enum {
    OPT_FORMAT = FT_OPT_FIRST_PRIVATE,
    OPT_SCHEMA,
    OPT_GLOB,
    OPT_TEXT_FIELD,
    OPT_LABEL_FIELD,
    OPT_ID,
    OPT_LABEL_MAP,
    OPT_LABEL_FROM_PATH,
    OPT_HEADER,
    OPT_NO_HEADER,
    OPT_PARAGRAPHS,
    OPT_FIX_UTF8,
    OPT_MAX_RECORD,
};

struct options {
    ft_import_opts im;
    const char **globs;
    ft_labelmap *label_map;
    const char *output;
    char **inputs;
    int n_inputs;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-import [options] [FILE...]\n"
            "Read JSONL, JSON, CSV, TSV or text files (also inside .tar, .zip and\n"
            "compressed files; standard input when no FILE) and write records.\n"
            "\n"
            "  -o, --output FILE        write records to FILE (default: standard output)\n"
            "      --format F           jsonl, json, csv, tsv or text (default: by name,\n"
            "                           then by content)\n"
            "      --glob PATTERN       read archive members matching PATTERN (repeatable)\n"
            "      --text-field NAME    the field or column that is the text\n"
            "      --label-field NAME   the field or column that is the label\n"
            "      --id NAME            the field or column that is the id\n"
            "      --label-map MAP      rename label values: 0=negative,1=positive\n"
            "      --label-from-path RE the label is RE's first group on the member path\n"
            "      --schema S           auto, none, alpaca, sharegpt or openai (default auto)\n"
            "      --header             CSV/TSV: the first row names the columns\n"
            "      --no-header          CSV/TSV: every row is label,text\n"
            "      --paragraphs         text: a record per paragraph, not per line\n"
            "      --fix-utf8           replace invalid UTF-8 with U+FFFD instead of failing\n"
            "      --max-record-bytes N largest record (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"format", required_argument, 0, OPT_FORMAT},
        {"schema", required_argument, 0, OPT_SCHEMA},
        {"glob", required_argument, 0, OPT_GLOB},
        {"text-field", required_argument, 0, OPT_TEXT_FIELD},
        {"label-field", required_argument, 0, OPT_LABEL_FIELD},
        {"id", required_argument, 0, OPT_ID},
        {"label-map", required_argument, 0, OPT_LABEL_MAP},
        {"label-from-path", required_argument, 0, OPT_LABEL_FROM_PATH},
        {"header", no_argument, 0, OPT_HEADER},
        {"no-header", no_argument, 0, OPT_NO_HEADER},
        {"paragraphs", no_argument, 0, OPT_PARAGRAPHS},
        {"fix-utf8", no_argument, 0, OPT_FIX_UTF8},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
        FT_PROG_LONG,
    };
    ft_err err;
    int c;

    o->im.header = -1;
    o->globs = calloc((size_t)argc, sizeof *o->globs);
    if (!o->globs)
        ft_prog_fail("out of memory");
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_FORMAT:
            o->im.format = ft_import_format_parse(optarg);
            if (o->im.format < 0)
                ft_prog_usage_error("--format: unknown format \"%s\"", optarg);
            break;
        case OPT_SCHEMA:
            o->im.schema = ft_import_schema_parse(optarg);
            if (o->im.schema < 0)
                ft_prog_usage_error("--schema: unknown schema \"%s\"", optarg);
            break;
        case OPT_GLOB:
            o->globs[o->im.n_globs++] = optarg;
            break;
        case OPT_TEXT_FIELD:
            o->im.text_field = optarg;
            break;
        case OPT_LABEL_FIELD:
            o->im.label_field = optarg;
            break;
        case OPT_ID:
            o->im.id_field = optarg;
            break;
        case OPT_LABEL_MAP:
            ft_labelmap_free(o->label_map);
            o->label_map = ft_labelmap_parse(optarg, &err);
            if (!o->label_map)
                ft_prog_die(&err);
            break;
        case OPT_LABEL_FROM_PATH:
            o->im.label_from_path = optarg;
            break;
        case OPT_HEADER:
            o->im.header = 1;
            break;
        case OPT_NO_HEADER:
            o->im.header = 0;
            break;
        case OPT_PARAGRAPHS:
            o->im.paragraphs = 1;
            break;
        case OPT_FIX_UTF8:
            o->im.fix_utf8 = 1;
            break;
        case OPT_MAX_RECORD:
            if (ft_parse_bytes(optarg, &o->im.max_record_bytes, &err) < 0 ||
                o->im.max_record_bytes == 0)
                ft_prog_usage_error("--max-record-bytes: %s",
                                    o->im.max_record_bytes ? err.msg : "must be > 0");
            break;
        default:
            usage(2);
        }
    }
    o->im.globs = o->globs;
    o->im.label_map = o->label_map;
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

static void on_warn(void *ctx, const char *msg)
{
    (void)ctx;
    ft_prog_warn("%s", msg);
}

static void on_progress(void *ctx, uint64_t records, uint64_t bytes)
{
    ft_progress_draw(ctx, 0, "%llu records, %.1f MB", (unsigned long long)records,
                     bytes / 1e6);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    char *stdin_only[] = {"-"};
    ft_progress progress;
    ft_recout out;
    ft_import *im;
    ft_err err;

    ft_prog_init("ft-import");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.n_inputs == 0) {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }
    ft_progress_init(&progress, ft_prog.progress);
    o.im.warn = on_warn;
    o.im.progress = on_progress;
    o.im.ctx = &progress;

    if (ft_recout_open(&out, o.output, ft_prog.force, &err) < 0)
        ft_prog_die(&err);
    im = ft_import_new(&o.im, out.w, &err);
    if (!im) {
        ft_recout_abort(&out);
        ft_prog_die(&err);
    }
    for (int i = 0; i < o.n_inputs; i++) {
        if (ft_import_path(im, o.inputs[i], &err) < 0) {
            ft_progress_end(&progress);
            ft_recout_abort(&out);
            ft_prog_die(&err);
        }
    }
    ft_progress_end(&progress);
    ft_import_finish(im);
    ft_prog_info("%llu records", (unsigned long long)ft_import_records(im));
    if (ft_recout_commit(&out, &err) < 0)
        ft_prog_die(&err);
    ft_import_free(im);
    ft_labelmap_free(o.label_map);
    free(o.globs);
    return 0;
}
