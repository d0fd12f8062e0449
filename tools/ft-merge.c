/* ft-merge: fold LoRA adapters into a model and write it (Hugging Face
 * directory or GGUF), or write the adapters as one llama.cpp adapter GGUF,
 * or --inspect an adapter or model (see ft-merge(1)). The work is in
 * lib/adapt/merge.c, lib/adapt/lora_gguf.c and lib/model/convert.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/adapter.h"
#include "adapt/lora_gguf.h"
#include "adapt/merge.h"
#include "inspect.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "model/dtype.h"
#include "model/safetensors.h"
#include "prog.h"
#include "train/export.h"

enum {
    OPT_FORMAT = FT_OPT_FIRST_PRIVATE, OPT_DTYPE, OPT_WEIGHTS, OPT_NAME, OPT_INSPECT,
    OPT_TOKENIZER
};
enum { FORMAT_GGUF_LORA = 3 };
#define MAX_ADAPTERS 64

struct options {
    const char *model, *output, *name, *inspect, *tokenizer;
    const char *adapters[MAX_ADAPTERS];
    int n_adapters;
    double weights[MAX_ADAPTERS];
    int n_weights;
    int format;          /* FT_FORMAT_HF, FT_FORMAT_GGUF, FORMAT_GGUF_LORA; 0: by -o */
    int dtype;           /* FT_DTYPE_*, -1: each tensor as loaded */
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-merge -m MODEL -a ADAPTER [-a ADAPTER...] -o OUT [options]\n"
            "       ft-merge --inspect PATH [-m MODEL]\n"
            "Fold LoRA adapters into a model: W' = W + sum of w_i * s_i * B_i * A_i, in f32,\n"
            "with s_i each adapter's own scale (alpha/r, or alpha/sqrt(r) with rsLoRA).\n"
            "Or write the adapters as one llama.cpp LoRA adapter GGUF, or describe an\n"
            "adapter or model.\n"
            "\n"
            "  -m, --model MODEL       the base (Hugging Face directory or archive, GGUF,\n"
            "                          llama2.c checkpoint)\n"
            "  -a, --adapter DIR       a PEFT LoRA adapter directory (repeatable)\n"
            "  -o, --output OUT        where to write (refused if it exists, unless -f)\n"
            "      --weights W,W,...   one weight per adapter (default: all 1)\n"
            "      --format F          hf, gguf or gguf-lora (default: gguf when OUT ends\n"
            "                          in .gguf, else hf)\n"
            "      --dtype T           f32, f16 or bf16 (default: each tensor as loaded;\n"
            "                          gguf-lora: f32)\n"
            "      --tokenizer PATH    write the tokenizer of PATH (a tokenizer.json, a\n"
            "                          model) instead of MODEL's\n"
            "      --name NAME         general.name of a GGUF output\n"
            "      --inspect PATH      describe an adapter, model or GGUF file on stdout;\n"
            "                          with -m, also whether it fits that model\n" FT_PROG_HELP);
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

static void parse_weights(struct options *o, const char *s)
{
    char *copy = strdup(s), *save = NULL;
    if (!copy)
        ft_prog_fail("out of memory");
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (o->n_weights == MAX_ADAPTERS)
            ft_prog_usage_error("--weights: more than %d weights", MAX_ADAPTERS);
        o->weights[o->n_weights++] = ft_prog_double("--weights", t, -1e6, 1e6);
    }
    free(copy);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"adapter", required_argument, 0, 'a'},
        {"output", required_argument, 0, 'o'},
        {"weights", required_argument, 0, OPT_WEIGHTS},
        {"format", required_argument, 0, OPT_FORMAT},
        {"dtype", required_argument, 0, OPT_DTYPE},
        {"name", required_argument, 0, OPT_NAME},
        {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"inspect", required_argument, 0, OPT_INSPECT},
        FT_PROG_LONG,
    };
    int c;

    o->dtype = -1;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "m:a:o:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'a':
            if (o->n_adapters == MAX_ADAPTERS)
                ft_prog_usage_error("more than %d adapters", MAX_ADAPTERS);
            o->adapters[o->n_adapters++] = optarg;
            break;
        case 'o': o->output = optarg; break;
        case OPT_WEIGHTS: parse_weights(o, optarg); break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "gguf-lora"))
                o->format = FORMAT_GGUF_LORA;
            else if ((o->format = ft_convert_format_parse(optarg)) < 0)
                ft_prog_usage_error("--format: \"%s\" is not hf, gguf or gguf-lora", optarg);
            break;
        case OPT_DTYPE: o->dtype = parse_dtype(optarg); break;
        case OPT_NAME: o->name = optarg; break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case OPT_INSPECT: o->inspect = optarg; break;
        default: usage(2);
        }
    }
    if (optind < argc)
        ft_prog_usage_error("unexpected argument \"%s\"", argv[optind]);
    if (o->inspect) {
        if (o->n_adapters || o->output)
            ft_prog_usage_error("--inspect takes no -a or -o");
        return;
    }
    if (!o->model || !o->n_adapters || !o->output)
        ft_prog_usage_error("-m MODEL, -a ADAPTER and -o OUT are needed (see --help)");
    if (o->n_weights && o->n_weights != o->n_adapters)
        ft_prog_usage_error("--weights: %d weights for %d adapters", o->n_weights,
                            o->n_adapters);
    if (!o->format)
        o->format = ft_convert_format_of(o->output);
}

/* Every adapter must be LoRA: a prefix cannot be folded into weights. */
static void check_kinds(const struct options *o)
{
    ft_err err;
    for (int i = 0; i < o->n_adapters; i++) {
        int kind = ft_adapter_kind(o->adapters[i], &err);
        if (kind < 0)
            ft_prog_die(&err);
        if (kind == FT_ADAPTER_PREFIX)
            ft_prog_usage_error("%s: a P-tuning v2 (prefix) adapter changes no weight and "
                                "cannot be merged; load it at inference instead (-a %s)",
                                o->adapters[i], o->adapters[i]);
    }
}

/* The base, untied first when an adapter works on either half of a tied
 * embedding/classifier pair (never changed silently through the other). */
static ft_model *load_base(const struct options *o)
{
    ft_err err;
    ft_model *m = ft_checkpoint_load(o->model, &err), *u;
    int parts = 0;

    if (!m)
        ft_prog_die(&err);
    for (int i = 0; i < o->n_adapters; i++) {
        int rc = ft_merge_adapter_touches(o->adapters[i], &err);
        if (rc < 0)
            ft_prog_die(&err);
        parts |= rc;
    }
    if ((parts & FT_MERGE_EMBED) && o->format == FORMAT_GGUF_LORA)
        ft_prog_fail("%s: LoRA on the token embedding is not written to llama.cpp adapter "
                     "files (merge it instead)", o->model);
    if (!m->cfg.tied || !parts)
        return m;
    if (o->format == FORMAT_GGUF_LORA && m->cfg.family != FT_FAMILY_GPT2)
        ft_prog_fail("%s: an adapter on lm_head of a tied model: llama.cpp's file of this "
                     "model has no output.weight to apply it to", o->model);
    if (!(u = ft_merge_untie(m, &err)))
        ft_prog_die(&err);
    if (!ft_prog.quiet)
        fprintf(stderr, "%s: an adapter changes %s, which %s ties to the %s: the output "
                "gets its own lm_head (tie_word_embeddings false) and only the adapted one "
                "changes\n", ft_prog.name,
                parts == FT_MERGE_HEAD ? "lm_head"
                : parts == FT_MERGE_EMBED ? "the embedding" : "lm_head and the embedding",
                o->model, parts == FT_MERGE_EMBED ? "classifier" : "embedding");
    ft_model_free(m);
    return u;
}

/* Adapter i for m, its embedding LoRA (if any) apart. */
static ft_lora *load_adapter(ft_model *m, const char *dir, ft_merge_embed *e)
{
    ft_err err;
    ft_lora *l = ft_lora_load_flags(m, dir, FT_LORA_SKIP_EMBEDDING, &err);
    if (!l || ft_merge_embed_load(m, dir, l->r, e, &err) < 0)
        ft_prog_die(&err);
    return l;
}

/* What an adapter ft-train made was trained for: the task, template,
 * length and labels in its safetensors metadata. The merged model carries
 * them, so ft-eval and ft-label score it as they score the adapter. */
static const char *const task_keys[] = {"ft_task", "ft_template", "ft_max_len", "ft_labels",
                                        "ft_verbalizer"};
#define N_TASK_KEYS (sizeof task_keys / sizeof *task_keys)

static void adapter_task(const char *dir, char *vals[N_TASK_KEYS])
{
    ft_err err;
    char *p = ft_path_join(dir, "adapter_model.safetensors", &err);
    ft_safetensors *sf = p ? ft_safetensors_open(p, &err) : NULL;

    if (!sf)
        ft_prog_die(&err);
    for (size_t k = 0; k < N_TASK_KEYS; k++) {
        const char *v = ft_safetensors_meta(sf, task_keys[k]);
        vals[k] = v ? strdup(v) : NULL;
        if (v && !vals[k])
            ft_prog_fail("out of memory");
    }
    ft_safetensors_close(sf);
    free(p);
}

/* The key, value list of the first adapter's task when every adapter has
 * the same one (NULL when the first has none; with a warning when they
 * differ, since no one task describes the sum). */
static const char **task_meta(const struct options *o)
{
    static char *first[N_TASK_KEYS];
    static const char *meta[2 * N_TASK_KEYS + 1];
    int n = 0;

    adapter_task(o->adapters[0], first);
    for (int i = 1; i < o->n_adapters; i++) {
        char *v[N_TASK_KEYS];
        int same = 1;
        adapter_task(o->adapters[i], v);
        for (size_t k = 0; k < N_TASK_KEYS; k++) {
            same &= (!v[k] && !first[k]) || (v[k] && first[k] && !strcmp(v[k], first[k]));
            free(v[k]);
        }
        if (!same) {
            if (first[0])
                ft_prog_warn("%s and %s were trained for different tasks: %s carries none "
                             "(give ft-eval and ft-label the task)", o->adapters[0],
                             o->adapters[i], o->output);
            return NULL;
        }
    }
    if (!first[0])
        return NULL;
    for (size_t k = 0; k < N_TASK_KEYS; k++)
        if (first[k]) {
            meta[n++] = task_keys[k];
            meta[n++] = first[k];
        }
    meta[n] = NULL;
    return meta;
}

static const char *dtype_option(int dtype)
{
    return dtype == FT_DTYPE_F16 ? "f16" : dtype == FT_DTYPE_BF16 ? "bf16" : "f32";
}

/* The survival report: a line per changed tensor, then a summary. */
static void report(const ft_model *m, const ft_merge_stat *st, int n)
{
    int worst = -1, most = 0;
    for (int i = 0; i < n; i++) {
        const ft_merge_stat *s = &st[i];
        if (worst < 0 || s->lost > st[worst].lost)
            worst = i;
        most += s->lost > 0.5;
        if (ft_prog.quiet)
            continue;
        fprintf(stderr, "%s: %s: update rms %.3g; as %s %.1f%% of it lost, %.1f%% of its "
                "entries unchanged\n", ft_prog.name, m->tensors[s->id].name, s->rms,
                dtype_option(s->dtype), 100 * s->lost,
                s->n_update ? 100.0 * (double)s->n_unchanged / (double)s->n_update : 0.0);
    }
    if (worst >= 0 && !ft_prog.quiet)
        fprintf(stderr, "%s: tensors merged: %d; the most lost: %.1f%% of %s\n",
                ft_prog.name, n, 100 * st[worst].lost, m->tensors[st[worst].id].name);
    if (most)
        ft_prog_warn("rounding to the output type loses most of the update of %d tensors "
                     "(--dtype f32 keeps it)", most);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    ft_lora *ad[MAX_ADAPTERS] = {0};
    ft_merge_embed emb[MAX_ADAPTERS] = {{0}};
    ft_tokenizer *tok = NULL;
    const char *copy_from = NULL;
    ft_merge_stat *st = NULL;
    int n_st = 0;
    ft_model *m;
    ft_err err;

    ft_prog_init("ft-merge");
    parse_options(argc, argv, &o);
    ft_prog_start();
    if (o.inspect)
        return ft_inspect(stdout, o.inspect, o.model);

    /* Refuse what cannot work before the (possibly long) loads. */
    if (!ft_prog.force && access(o.output, F_OK) == 0)
        ft_prog_fail("%s: already exists (use --force to replace it)", o.output);
    check_kinds(&o);
    m = load_base(&o);
    for (int i = 0; i < o.n_adapters; i++)
        ad[i] = load_adapter(m, o.adapters[i], &emb[i]);

    if (o.format == FORMAT_GGUF_LORA) {
        if (ft_lora_gguf_save(m, ad, o.n_weights ? o.weights : NULL, o.n_adapters, o.output,
                              o.dtype < 0 ? FT_DTYPE_F32 : o.dtype, o.name, ft_prog.force,
                              &err) < 0)
            ft_prog_die(&err);
    } else {
        if (ft_merge_fold(m, ad, emb, o.n_weights ? o.weights : NULL, o.n_adapters, o.dtype,
                          &st, &n_st, &err) < 0)
            ft_prog_die(&err);
        report(m, st, n_st);
        if (ft_convert_pick_tokenizer(o.model, o.tokenizer, o.format, &tok, &copy_from,
                                      &err) < 0)
            ft_prog_die(&err);
        /* A Hugging Face output keeps the adapters' task; a GGUF file is
         * llama.cpp's and holds none. */
        const char **meta = o.format == FT_FORMAT_HF ? task_meta(&o) : NULL;
        int archive = o.format == FT_FORMAT_HF && ft_export_is_archive(o.output);
        int rc = meta || archive
                     ? ft_export_model(m, o.output, o.dtype, ft_prog.force,
                                       tok ? NULL : copy_from, NULL, tok, meta, &err)
                     : ft_convert_save(m, tok, copy_from, o.output, o.format, o.dtype, o.name,
                                       ft_prog.force, &err);
        if (rc < 0)
            ft_prog_die(&err);
    }
    for (int i = 0; i < o.n_adapters; i++) {
        ft_lora_free(ad[i]);
        ft_merge_embed_free(&emb[i]);
    }
    ft_tokenizer_free(tok);
    free(st);
    ft_model_free(m);
    return 0;
}
