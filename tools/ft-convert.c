/* ft-convert: a model from one format and storage type to another. The
 * work is in lib/model/convert.c; this file reads options and reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "prog.h"
#include "train/export.h"

enum { OPT_FORMAT = FT_OPT_FIRST_PRIVATE, OPT_DTYPE, OPT_TOKENIZER, OPT_NAME };

struct options {
    const char *model;
    const char *output;
    int format;          /* FT_FORMAT_*, 0: from the output's name */
    int dtype;           /* FT_DTYPE_*, -1: as loaded */
    const char *tokenizer;
    const char *name;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-convert -m MODEL -o OUT [options]\n"
            "Convert a model between formats and storage types. MODEL is a Hugging Face\n"
            "directory or archive, a GGUF file or a llama2.c checkpoint; OUT is a Hugging\n"
            "Face directory, an archive of one (.tar, .tar.gz, .tar.xz, .tar.zst, .zip)\n"
            "or a GGUF file.\n"
            "\n"
            "  -m, --model MODEL       the model to convert\n"
            "  -o, --output OUT        where to write it (refused if it exists, unless -f)\n"
            "      --format F          hf or gguf (default: gguf when OUT ends in .gguf,\n"
            "                          else hf)\n"
            "      --dtype T           f32, f16 or bf16 (default: each tensor as loaded)\n"
            "      --tokenizer PATH    take the tokenizer from PATH (a tokenizer.json, a\n"
            "                          model) instead of MODEL\n"
            "      --name NAME         general.name of a GGUF output\n" FT_PROG_HELP);
    exit(status);
}

static int parse_dtype(const char *s)
{
    if (!strcmp(s, "f32"))
        return FT_DTYPE_F32;
    if (!strcmp(s, "f16"))
        return FT_DTYPE_F16;
    if (!strcmp(s, "bf16"))
        return FT_DTYPE_BF16;
    ft_prog_usage_error("--dtype: \"%s\" is not f32, f16 or bf16", s);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"output", required_argument, 0, 'o'},
        {"format", required_argument, 0, OPT_FORMAT},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"name", required_argument, 0, OPT_NAME},
        FT_PROG_LONG,
    };
    int c;

    o->dtype = -1;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "m:o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'o': o->output = optarg; break;
        case OPT_FORMAT:
            if ((o->format = ft_convert_format_parse(optarg)) < 0)
                ft_prog_usage_error("--format: \"%s\" is not hf or gguf", optarg);
            break;
        case OPT_DTYPE: o->dtype = parse_dtype(optarg); break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case OPT_NAME: o->name = optarg; break;
        default: usage(2);
        }
    }
    if (optind < argc)
        ft_prog_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!o->model || !o->output)
        ft_prog_usage_error("both -m MODEL and -o OUT are needed (see --help)");
    if (!o->format)
        o->format = ft_convert_format_of(o->output);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    ft_tokenizer *tok = NULL;
    ft_model *m;
    ft_err err;
    const char *copy_from = NULL;

    ft_prog_init("ft-convert");
    parse_options(argc, argv, &o);
    ft_prog_start();

    /* Refuse an existing output before the (possibly long) load. */
    if (!ft_prog.force && access(o.output, F_OK) == 0)
        ft_prog_fail("%s: already exists (use --force to replace it)", o.output);
    if (!(m = ft_checkpoint_load(o.model, &err)))
        ft_prog_die(&err);

    /* The tokenizer: --tokenizer's, else the model's own. A Hugging Face
     * output from a Hugging Face model copies the tokenizer files instead. */
    if (ft_convert_pick_tokenizer(o.model, o.tokenizer, o.format, &tok, &copy_from, &err) < 0)
        ft_prog_die(&err);
    if (!tok && !copy_from)
        ft_prog_warn("%s: no tokenizer; the output has none", o.model);

    /* A Hugging Face output whose name ends in .tar, .tar.gz, .tar.xz,
     * .tar.zst or .zip is written as that archive (as ft-train does). */
    int rc = o.format == FT_FORMAT_HF && ft_export_is_archive(o.output)
                 ? ft_export_model(m, o.output, o.dtype, ft_prog.force, tok ? NULL : copy_from,
                                   NULL, tok, NULL, &err)
                 : ft_convert_save(m, tok, copy_from, o.output, o.format, o.dtype, o.name,
                                   ft_prog.force, &err);
    if (rc < 0)
        ft_prog_die(&err);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    return 0;
}
