/* ft-export: records to JSON Lines, CSV, TSV or plain text. The work is in
 * lib/data/export.c; this file reads options, records, and reports. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsout.h"
#include "core/parse.h"
#include "data/export.h"
#include "prog.h"

enum {
    OPT_FORMAT = FT_OPT_FIRST_PRIVATE,
    OPT_FIELDS,
    OPT_HEADER,
    OPT_NO_HEADER,
    OPT_LABEL_MAP,
    OPT_MAX_RECORD,
};

struct options {
    ft_export_opts ex;
    char *fields_text;
    const char **fields;
    ft_labelmap *label_map;
    size_t max_record_bytes;
    const char *output;
    char **inputs;
    int n_inputs;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-export [options] [FILE...]\n"
            "Write records (from FILEs, or standard input) as JSON Lines, CSV, TSV or\n"
            "text.\n"
            "\n"
            "  -o, --output FILE        write to FILE (default: standard output)\n"
            "      --format F           jsonl (default), csv, tsv or text\n"
            "      --fields LIST        columns for csv/tsv (default label,text), keys for\n"
            "                           jsonl (default all), the field for text (text)\n"
            "      --header             csv/tsv: a first row naming the columns (the\n"
            "                           default when --fields is given)\n"
            "      --no-header          csv/tsv: no header row\n"
            "      --label-map MAP      label names back to values: 0=negative,1=positive\n"
            "      --max-record-bytes N largest record (default 64M)\n" FT_PROG_HELP);
    exit(status);
}

/* "a,b,c" into a NULL-terminated list cut in place. */
static const char **split_list(char *s, size_t *n)
{
    size_t k = 1;
    for (char *p = s; *p; p++)
        k += *p == ',';
    const char **v = calloc(k + 1, sizeof *v);
    if (!v)
        ft_prog_fail("out of memory");
    *n = 0;
    for (char *p = s; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p == '\0')
            ft_prog_usage_error("--fields: empty field name");
        v[(*n)++] = p;
        p = comma;
    }
    return v;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'},
        {"format", required_argument, 0, OPT_FORMAT},
        {"fields", required_argument, 0, OPT_FIELDS},
        {"header", no_argument, 0, OPT_HEADER},
        {"no-header", no_argument, 0, OPT_NO_HEADER},
        {"label-map", required_argument, 0, OPT_LABEL_MAP},
        {"max-record-bytes", required_argument, 0, OPT_MAX_RECORD},
        FT_PROG_LONG,
    };
    ft_err err;
    int c;

    o->ex.header = -1;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'o':
            o->output = optarg;
            break;
        case OPT_FORMAT:
            o->ex.format = ft_export_format_parse(optarg);
            if (o->ex.format < 0)
                ft_prog_usage_error("--format: unknown format \"%s\"", optarg);
            break;
        case OPT_FIELDS:
            free(o->fields);
            free(o->fields_text);
            o->fields_text = strdup(optarg);
            if (!o->fields_text)
                ft_prog_fail("out of memory");
            o->fields = split_list(o->fields_text, &o->ex.n_fields);
            break;
        case OPT_HEADER:
            o->ex.header = 1;
            break;
        case OPT_NO_HEADER:
            o->ex.header = 0;
            break;
        case OPT_LABEL_MAP:
            ft_labelmap_free(o->label_map);
            o->label_map = ft_labelmap_parse(optarg, &err);
            if (!o->label_map)
                ft_prog_die(&err);
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
    o->ex.fields = o->fields;
    o->ex.label_map = o->label_map;
    o->inputs = argv + optind;
    o->n_inputs = argc - optind;
}

/* Every record of one input through the exporter. */
static int export_input(ft_export *ex, const char *path, size_t max_bytes, ft_err *err)
{
    int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
    ft_record rec;
    int rc;

    if (fd < 0)
        return ft_err_errno(err, path);
    ft_reader *r = ft_reader_open(fd, path, max_bytes, err);
    if (!r) {
        if (fd > 0)
            close(fd);
        return -1;
    }
    while ((rc = ft_reader_next(r, &rec, err)) == 1)
        if (ft_export_record(ex, &rec, err) < 0) {
            ft_err_prefix(err, "%s", ft_reader_name(r));
            rc = -1;
            break;
        }
    ft_reader_free(r);
    if (fd > 0)
        close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o = {0};
    char *stdin_only[] = {"-"};
    ft_out out = {0};
    ft_export *ex;
    ft_err err;
    int fd = 1;

    ft_prog_init("ft-export");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.n_inputs == 0) {
        o.inputs = stdin_only;
        o.n_inputs = 1;
    }
    if (o.output && strcmp(o.output, "-")) {
        if (ft_out_begin(&out, o.output, 0, ft_prog.force, &err) < 0)
            ft_prog_die(&err);
        fd = open(out.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) {
            ft_err_errno(&err, out.tmp);
            ft_out_abort(&out);
            ft_prog_die(&err);
        }
    }
    ex = ft_export_new(&o.ex, fd, o.output, &err);
    if (!ex)
        ft_prog_die(&err);
    for (int i = 0; i < o.n_inputs; i++) {
        if (export_input(ex, o.inputs[i], o.max_record_bytes, &err) < 0) {
            /* Whole records before the fault stay written (not to a file). */
            ft_err flush_err;
            if (fd == 1)
                ft_export_flush(ex, &flush_err);
            else
                ft_out_abort(&out);
            ft_prog_die(&err);
        }
    }
    if (ft_export_flush(ex, &err) < 0)
        ft_prog_die(&err);
    if (fd != 1 && (close(fd) < 0 || ft_out_commit(&out, &err) < 0)) {
        ft_out_abort(&out);
        ft_prog_die(&err);
    }
    ft_export_free(ex);
    ft_labelmap_free(o.label_map);
    free(o.fields);
    free(o.fields_text);
    return 0;
}
