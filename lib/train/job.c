/* job: one ft-train run (see job.h). */
#define _GNU_SOURCE
#include "train/job.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapt/adapter.h"
#include "adapt/prefix.h"
#include "core/fsout.h"
#include "eval/metrics.h"
#include "eval/score.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "model/config.h"
#include "model/dtype.h"
#include "model/gguf.h"
#include "nn/optim.h"
#include "text/tokenizer.h"
#include "train/export.h"

/* Everything a run holds, freed in one place. */
typedef struct job_state {
    ft_model *m;
    ft_tokenizer *tok;
    ft_spool *spool, *eval_spool;
    ft_row *rows, *eval_rows;
    size_t n_rows, n_eval_rows;
    uint64_t stream_hash;
    ft_trainer *trainer;
    ft_lora *lora;
    char *plan_extra;
    ft_prefix_adapter *prefix;  /* ptuning */
    char *ckpt_dir;
    int from_scratch;
    ft_template *tpl;           /* sft, chat, classify */
    ft_task_source task, eval_task;
    char *labels_json, *verbalizer_json;
} job_state;

static const char *const method_names[] = {"full", "freeze", "lora", "ptuning"};
static const char *const task_names[] = {"lm", "sft", "chat", "classify"};

int ft_job_method(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, method_names[i]))
            return i;
    return -1;
}

int ft_job_task(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, task_names[i]))
            return i;
    return -1;
}

char *ft_job_ckpt_dir(const char *output, ft_err *err)
{
    static const char *const ext[] = {".tar.gz", ".tar.xz", ".tar.zst", ".tgz", ".tar",
                                      ".zip"};
    size_t n = strlen(output);
    char *s;

    while (n > 1 && output[n - 1] == '/')
        n--;
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
        size_t k = strlen(ext[i]);
        if (n > k && !strncmp(output + n - k, ext[i], k)) {
            n -= k;
            break;
        }
    }
    if (asprintf(&s, "%.*s.ckpt", (int)n, output) < 0)
        return ft_err_set(err, "out of memory"), NULL;
    return s;
}

/* --- Before anything is read: can the outputs be written? ----------------- */

static int has_steps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= !strncmp(e->d_name, "step-", 5);
    if (d)
        closedir(d);
    return found;
}

static int check_outputs(const ft_job *j, job_state *s, ft_err *err)
{
    struct stat st;

    if (j->dry_run)
        return 0;
    if (!j->force && stat(j->output, &st) == 0)
        return ft_err_set(err, "%s: already exists (use --force to replace it)", j->output);
    char *copy = ft_strdup(j->output, err);
    if (!copy)
        return -1;
    const char *dir = dirname(copy);
    int ok = access(dir, W_OK) == 0;
    if (!ok)
        ft_err_errno(err, dir);
    free(copy);
    if (!ok)
        return ft_err_prefix(err, "cannot write %s", j->output);

    /* Checkpoints of an earlier run are continued with --resume, or replaced
     * with --force, never mixed with this one's. */
    if (!j->train.resume && has_steps(s->ckpt_dir)) {
        if (!j->force)
            return ft_err_set(err, "%s holds checkpoints of another run (--resume %s "
                              "continues it; --force starts over)", s->ckpt_dir, s->ckpt_dir);
        DIR *d = opendir(s->ckpt_dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strncmp(e->d_name, "step-", 5))
                continue;
            char *p = ft_path_join(s->ckpt_dir, e->d_name, NULL);
            if (p)
                ft_rmtree(p);
            free(p);
        }
        if (d)
            closedir(d);
    }
    return 0;
}

/* --- The model ------------------------------------------------------------- */

/* Pre-training from random weights (as Hugging Face initialises them):
 * matrices and embeddings normal(0, initializer_range), norm weights 1,
 * biases 0; GPT-2's residual projections (attn.c_proj, mlp.c_proj) with the
 * standard deviation divided by sqrt(2 * n_layer), as GPT2PreTrainedModel. */
static ft_model *init_model(const ft_job *j, ft_err *err)
{
    ft_config cfg;
    char *text;
    size_t n;
    double std = 0.02;

    if (ft_read_file(j->init_config, (size_t)16 << 20, &text, &n, err) < 0)
        return NULL;
    int rc = ft_config_parse(&cfg, text, n, j->init_config, err);
    free(text);
    if (rc < 0)
        return NULL;
    json_t *ir = json_object_get(cfg.json, "initializer_range");
    if (json_is_number(ir) && json_number_value(ir) > 0)
        std = json_number_value(ir);

    ft_model *m = ft_model_new(&cfg, err);
    if (!m) {
        ft_config_free(&cfg);
        return NULL;
    }
    ft_model_init_random(m, j->train.seed, (float)std);
    if (m->cfg.family == FT_FAMILY_GPT2) {
        float scale = (float)(1.0 / sqrt(2.0 * m->cfg.n_layers));
        for (int i = 0; i < m->n_tensors; i++) {
            const ft_tensor *t = &m->tensors[i];
            if (t->layer < 0 || (t->role != FT_ROLE_O && t->role != FT_ROLE_DOWN))
                continue;
            float *p = ft_model_param(m, i);
            for (size_t k = 0; k < t->numel; k++)
                p[k] *= scale;
        }
    }
    return m;
}

/* The tokenizer: --tokenizer, else the model's own when it has one. */
static int load_tokenizer(const ft_job *j, job_state *s, ft_err *err)
{
    char *data;
    size_t n;

    if (j->tokenizer) {
        if (!(s->tok = ft_tokenizer_load(j->tokenizer, err)))
            return -1;
        /* A tokenizer made for another model: refused before any record. */
        if (ft_tokenizer_n_vocab(s->tok) > s->m->cfg.vocab_size)
            return ft_err_set(err, "%s: the tokenizer has %d tokens, more than the model's "
                              "vocabulary of %d", j->tokenizer, ft_tokenizer_n_vocab(s->tok),
                              s->m->cfg.vocab_size);
        return 0;
    }
    if (!j->model)
        return 0;
    /* A GGUF file: the tokenizer in its metadata, when it has one. */
    if (ft_gguf_is_gguf(j->model))
        return ft_convert_tokenizer(j->model, &s->tok, err) < 0 ? -1 : 0;
    struct stat st;
    if (stat(j->model, &st) == 0 && S_ISDIR(st.st_mode)) {
        char *p = ft_path_join(j->model, "tokenizer.json", err);
        int has = p && stat(p, &st) == 0;
        free(p);
        if (has)
            s->tok = ft_tokenizer_load(j->model, err);
        return !has || s->tok ? 0 : -1;
    }
    int rc = ft_checkpoint_read_file(j->model, "tokenizer.json", &data, &n, err);
    if (rc <= 0)
        return rc;
    s->tok = ft_tokenizer_load_json(data, n, j->model, err);
    free(data);
    return s->tok ? 0 : -1;
}

/* --- Methods --------------------------------------------------------------- */

/* --prefix-init's text as ids (the tokenizer's BOS rule, as any text); its
 * length is the prefix's when --prefix-len is not given. */
static int prefix_init_ids(const ft_job *j, job_state *s, ft_prefix_opts *o, int32_t **ids,
                           size_t *n, ft_err *err)
{
    size_t cap = 0;

    if (!s->tok)
        return ft_err_setk(err, FT_ERR_USAGE, "--prefix-init needs a tokenizer (the model's, "
                           "or --tokenizer)");
    *n = 0;
    *ids = NULL;
    if (ft_tokenizer_encode(s->tok, j->prefix_init, strlen(j->prefix_init),
                            FT_TOK_ADD_SPECIAL, ids, n, &cap, err) < 0) {
        free(*ids);
        *ids = NULL;
        return ft_err_prefix(err, "--prefix-init");
    }
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
        return ft_err_setk(err, FT_ERR_USAGE, "--prefix-init: the text has no tokens");
    }
    if (o->n_virtual < 1)
        o->n_virtual = (int)*n;
    else if ((size_t)o->n_virtual != *n) {
        free(*ids);
        *ids = NULL;
        return ft_err_setk(err, FT_ERR_USAGE, "--prefix-init: the text is %zu tokens, "
                           "--prefix-len %d: give one, or make them agree", *n, o->n_virtual);
    }
    return 0;
}

/* P-tuning v2: the base frozen, a prefix new or from --init-adapter. */
static int apply_ptuning(const ft_job *j, job_state *s, ft_err *err)
{
    ft_model *m = s->m;
    ft_prefix_opts o = j->prefix;
    int32_t *ids = NULL;
    size_t n_ids = 0;

    for (int i = 0; i < m->n_tensors; i++)
        ft_model_set_trainable(m, i, 0);
    if (j->init_adapter) {
        int kind = ft_adapter_kind(j->init_adapter, err);
        if (kind < 0)
            return -1;
        if (kind != FT_ADAPTER_PREFIX)
            return ft_err_set(err, "%s: a LoRA adapter cannot start P-tuning (it needs a "
                              "PREFIX_TUNING adapter)", j->init_adapter);
        s->prefix = ft_prefix_load(&m->cfg, j->init_adapter, &o, err);
        if (s->prefix && s->prefix->peft_output_only)
            return ft_err_set(err, "%s: the prefix holds only its projection's output (as "
                              "PEFT saves it), not the MLP: it cannot be trained further",
                              j->init_adapter);
    } else {
        if (j->prefix_init && prefix_init_ids(j, s, &o, &ids, &n_ids, err) < 0)
            return -1;
        if (o.n_virtual < 1)
            return ft_err_setk(err, FT_ERR_USAGE, "--method ptuning needs --prefix-len N "
                               "(or --init-adapter DIR, or --prefix-init TEXT)");
        if (o.projection < 0)
            o.projection = 0;
        s->prefix = ft_prefix_new(&m->cfg, &o, j->train.seed, err);
        if (s->prefix && ids && ft_prefix_init_tokens(s->prefix, m, ids, (int)n_ids, err) < 0) {
            free(ids);
            return -1;
        }
        free(ids);
    }
    if (!s->prefix || ft_prefix_setup_train(s->prefix, err) < 0)
        return -1;

    /* Real tokens sit at positions P .. P+T-1 (DESIGN.md). */
    if (s->prefix->N + j->train.seq_len > m->cfg.max_pos)
        return ft_err_set(err, "a prefix of %d and rows of %d tokens exceed the model's "
                          "context of %d positions", s->prefix->N, j->train.seq_len,
                          m->cfg.max_pos);
    return 0;
}

/* The prefix's tensors into the trainer, and its hooks. */
static int add_prefix(job_state *s, ft_err *err)
{
    ft_prefix_adapter *a = s->prefix;
    ft_train_hooks h = {a, ft_prefix_hook_before_micro, ft_prefix_hook_after_backward,
                        ft_prefix_hook_after_update};
    for (int i = 0; i < a->n_t; i++)
        if (ft_trainer_add_param(s->trainer, a->t[i].name, a->t[i].param, a->t[i].grad,
                                 a->t[i].ndim, a->t[i].shape, err) < 0)
            return -1;
    ft_trainer_set_hooks(s->trainer, &h);
    return 0;
}

static int apply_method(const ft_job *j, job_state *s, ft_err *err)
{
    ft_model *m = s->m;

    switch (j->method) {
    case FT_METHOD_FULL:
        return 0;
    case FT_METHOD_FREEZE: {
        const char **names = ft_calloc((size_t)m->n_tensors, sizeof *names, err);
        unsigned char *flags = ft_calloc((size_t)m->n_tensors, 1, err);
        int rc = -1;
        if (names && flags) {
            for (int i = 0; i < m->n_tensors; i++)
                names[i] = m->tensors[i].name;
            rc = ft_freeze_select(&j->freeze, names, m->n_tensors, m->cfg.n_layers, flags,
                                  err);
            for (int i = 0; rc == 0 && i < m->n_tensors; i++)
                ft_model_set_trainable(m, i, flags[i]);
        }
        free(names);
        free(flags);
        return rc;
    }
    case FT_METHOD_LORA:
        /* the base frozen whole; A and B join the trainer in add_lora */
        for (int i = 0; i < m->n_tensors; i++)
            ft_model_set_trainable(m, i, 0);
        s->lora = j->init_adapter ? ft_lora_load(m, j->init_adapter, err)
                                  : ft_lora_new(m, &j->lora, j->train.seed, err);
        if (!s->lora || ft_lora_setup_train(s->lora, err) < 0)
            return -1;
        ft_lora_attach(s->lora);
        if (asprintf(&s->plan_extra, "method=lora r=%d alpha=%.17g rslora=%d dropout=%.17g "
                                     "modules=%d", s->lora->r, s->lora->alpha,
                     s->lora->rslora, s->lora->dropout, s->lora->n_mods) < 0)
            return ft_err_set(err, "out of memory");
        return 0;
    case FT_METHOD_PTUNING:
        return apply_ptuning(j, s, err);
    default:
        return ft_err_set(err, "unknown method %d", j->method);
    }
}

/* Dropout masks of a micro-batch come from the trainer's random stream
 * (saved in checkpoints), so a resumed run draws the same ones. */
static int lora_before_micro(void *ctx, ft_batch *b, int train, ft_rng *rng, ft_err *err)
{
    ft_lora *l = ctx;
    (void)b;
    (void)err;
    if (train && l->dropout > 0)
        ft_lora_reseed(l, ft_rng_u64(rng));
    return 0;
}

/* A and B of every adapted module, under PEFT's tensor names. */
static int add_lora(const ft_job *j, job_state *s, ft_err *err)
{
    ft_lora *l = s->lora;
    char name[600];

    for (int i = 0; i < l->n_mods; i++) {
        const ft_lora_module *md = &l->mods[i];
        int sa[2] = {l->r, md->in}, sb[2] = {md->out, l->r};
        ft_lora_tensor_name(l, i, 0, name, sizeof name);
        if (ft_trainer_add_param(s->trainer, name, md->A, md->dA, 2, sa, err) < 0)
            return -1;
        ft_lora_tensor_name(l, i, 1, name, sizeof name);
        if (ft_trainer_add_param(s->trainer, name, md->B, md->dB, 2, sb, err) < 0)
            return -1;
    }
    ft_train_hooks h = {l, lora_before_micro, NULL, NULL};
    ft_trainer_set_hooks(s->trainer, &h);
    return ft_lora_reserve(l, (size_t)j->train.batch_size * j->train.seq_len, err);
}

/* --- Tasks ----------------------------------------------------------------- */

static int encode_text(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n,
                       size_t *cap, ft_err *err)
{
    return ft_tokenizer_encode(ctx, text, len, FT_TOK_ADD_SPECIAL | FT_TOK_FIX_UTF8, ids,
                               n, cap, err);
}

/* The task's reader for one stream: the training stream's label set (from
 * --labels or the data) is fixed for the evaluation stream. */
static int task_source(const ft_job *j, job_state *s, ft_task_source *src, int eval,
                       ft_err *err)
{
    memset(src, 0, sizeof *src);
    src->task = j->task;
    src->tok = s->tok;
    src->tpl = s->tpl;
    src->max_len = j->train.seq_len + 1;
    src->truncate = j->truncate;
    src->vocab = s->m->cfg.vocab_size;
    src->verbalizer = j->verbalizer;
    src->keep = eval && j->task == FT_TASK_CLASSIFY;
    if (!s->tok)
        return ft_err_setk(err, FT_ERR_USAGE, "--task %s needs a tokenizer (the model's "
                           "tokenizer.json, or --tokenizer)", task_names[j->task]);
    if (j->task != FT_TASK_CLASSIFY)
        return 0;

    /* The label set: the training stream's for evaluation, else --labels. */
    const ft_task_source *from = eval ? &s->task : NULL;
    char **labels = NULL;
    int n = 0;
    if (from) {
        labels = ft_calloc((size_t)from->n_labels, sizeof *labels, err);
        if (!labels)
            return -1;
        n = from->n_labels;
        for (int l = 0; l < n; l++)
            if (!(labels[l] = ft_strdup(from->labels[l], err))) {
                ft_strv_free(labels, n);
                return -1;
            }
    } else if (j->labels && ft_labels_parse(j->labels, &labels, &n, err) < 0) {
        return -1;
    }
    if (!labels)
        return 0;
    src->labels = labels;
    src->n_labels = src->cap_labels = n;
    src->fixed = 1;
    if (!(src->words = ft_calloc((size_t)n, sizeof *src->words, err)))
        return -1;
    if (from) {
        for (int l = 0; l < n; l++)
            if (!(src->words[l] = ft_strdup(from->words[l], err)))
                return -1;
        return 0;
    }
    char **w;
    if (j->verbalizer && ft_verbalizer_parse(j->verbalizer, labels, n, &w, err) < 0)
        return -1;
    for (int l = 0; l < n; l++)
        src->words[l] = j->verbalizer ? w[l] : ft_strdup(labels[l], err);
    if (j->verbalizer)
        free(w);
    for (int l = 0; l < n; l++)
        if (!src->words[l])
            return ft_err_set(err, "out of memory");
    return 0;
}

/* Read one stream (fd) into a spool and rows. */
static int read_stream(const ft_job *j, job_state *s, int fd, const char *name,
                       ft_spool **spool, ft_row **rows, size_t *n_rows, uint64_t *hash,
                       ft_err *err)
{
    ft_lm_source src = {0};
    int rc, eval = spool == &s->eval_spool;

    if (!(*spool = ft_spool_new(err)))
        return -1;
    if (j->task != FT_TASK_LM) {
        /* One masked example per record, one row per example. */
        ft_task_source *ts = eval ? &s->eval_task : &s->task;
        if (task_source(j, s, ts, eval, err) < 0)
            return -1;
        if (ft_spool_read(*spool, fd, name, ft_task_record, ts, hash, err) < 0 ||
            ft_spool_seal(*spool, err) < 0)
            return -1;
        if (!eval && j->task == FT_TASK_CLASSIFY && !ts->fixed &&
            ft_task_source_sort_labels(ts, err) < 0)
            return ft_err_prefix(err, "%s", name);
        if (ft_rows_examples(*spool, j->train.seq_len, rows, n_rows, err) < 0)
            return -1;
        return *n_rows ? 0 : ft_err_set(err, "%s: no examples to train on", name);
    }
    src.encode = s->tok ? encode_text : NULL;
    src.encode_ctx = s->tok;
    src.eos = s->tok ? ft_tokenizer_eos(s->tok) : -1;
    if (src.eos < 0 && s->m->cfg.n_eos > 0)
        src.eos = s->m->cfg.eos_ids[0];
    src.vocab = s->m->cfg.vocab_size;

    rc = ft_spool_read(*spool, fd, name, ft_lm_record, &src, hash, err);
    ft_lm_source_free(&src);
    if (rc < 0 || ft_spool_seal(*spool, err) < 0)
        return -1;
    if (ft_rows_pack(*spool, j->train.seq_len, j->pack, rows, n_rows, err) < 0)
        return -1;
    if (*n_rows == 0)
        return ft_err_set(err, "%s: no tokens to train on (every record is empty or a "
                          "single token)", name);
    return 0;
}

static int read_data(const ft_job *j, job_state *s, ft_err *err)
{
    int fd = 0;
    const char *name = "standard input";
    uint64_t eval_hash;

    if (j->input && strcmp(j->input, "-")) {
        if ((fd = open(j->input, O_RDONLY | O_CLOEXEC)) < 0)
            return ft_err_errno(err, j->input);
        name = j->input;
    }
    int rc = read_stream(j, s, fd, name, &s->spool, &s->rows, &s->n_rows, &s->stream_hash,
                         err);
    if (fd > 0)
        close(fd);
    if (rc < 0 || !j->eval_path)
        return rc;
    if ((fd = open(j->eval_path, O_RDONLY | O_CLOEXEC)) < 0)
        return ft_err_errno(err, j->eval_path);
    rc = read_stream(j, s, fd, j->eval_path, &s->eval_spool, &s->eval_rows, &s->n_eval_rows,
                     &eval_hash, err);
    close(fd);
    return rc;
}

/* --- The plan (--dry-run) --------------------------------------------------- */

static void print_plan(const ft_job *j, const job_state *s, const ft_train_plan *p,
                       FILE *f)
{
    const ft_config *c = &s->m->cfg;
    const ft_train_opts *o = &j->train;

    fprintf(f, "model        %s%s: %d layers, dim %d, %d heads (%d kv), vocab %d\n",
            c->model_type, s->from_scratch ? " (random init)" : "", c->n_layers, c->dim,
            c->n_heads, c->n_kv_heads, c->vocab_size);
    fprintf(f, "parameters   %zu in all, %zu trained (%.2f%%) in %zu tensors\n",
            p->n_params_total, p->n_params_trained,
            100.0 * (double)p->n_params_trained / (double)p->n_params_total,
            p->n_tensors_trained);
    fprintf(f, "method       %s", method_names[j->method]);
    if (j->method == FT_METHOD_FREEZE && j->freeze.regex)
        fprintf(f, ": tensors matching '%s'", j->freeze.regex);
    else if (j->method == FT_METHOD_FREEZE)
        fprintf(f, ": layers '%s' and the final norm", j->freeze.layers ? j->freeze.layers
                                                                         : "2");
    if (j->method == FT_METHOD_FREEZE && j->freeze.train_embeddings)
        fprintf(f, ", embeddings");
    if (s->lora) {
        const ft_lora *l = s->lora;
        fprintf(f, ": r %d, alpha %g, scale %g%s, dropout %g, %d modules (", l->r, l->alpha,
                l->scale, l->rslora ? " (rsLoRA)" : "", l->dropout, l->n_mods);
        for (int i = 0; i < l->n_target_names; i++)
            fprintf(f, "%s%s", i ? "," : "", l->target_names[i]);
        fprintf(f, ")");
        if (l->layers) {
            fprintf(f, " in layers ");
            for (int i = 0; i < l->n_layers; i++)
                fprintf(f, "%s%d", i ? "," : "", l->layers[i]);
        }
        if (j->init_adapter)
            fprintf(f, ", continuing %s", j->init_adapter);
    }
    if (s->prefix && s->prefix->H)
        fprintf(f, ": prefix %d, projection %d", s->prefix->N, s->prefix->H);
    else if (s->prefix)
        fprintf(f, ": prefix %d", s->prefix->N);
    if (s->prefix && s->prefix->dropout > 0)
        fprintf(f, ", dropout %g", s->prefix->dropout);
    fprintf(f, "\n");
    if (j->task != FT_TASK_LM) {
        fprintf(f, "task         %s, template %s", task_names[j->task],
                ft_template_spec(s->tpl));
        if (j->task == FT_TASK_CLASSIFY) {
            fprintf(f, ", labels (%s)", s->task.fixed ? "given" : "from the data, sorted");
            for (int l = 0; l < s->task.n_labels; l++)
                fprintf(f, "%s%s", l ? ", " : " ", s->task.labels[l]);
            if (j->verbalizer) {
                fprintf(f, "; words");
                for (int l = 0; l < s->task.n_labels; l++)
                    fprintf(f, "%s'%s'", l ? ", " : " ", s->task.words[l]);
            }
        }
        fprintf(f, "; %zu of %zu examples cut to %d tokens\n", s->task.n_truncated,
                ft_spool_n_examples(s->spool), o->seq_len + 1);
    }
    fprintf(f, "data         %zu records, %" PRIu64 " tokens -> %zu rows of up to %d "
               "tokens (%s, %s%s)\n",
            ft_spool_n_examples(s->spool), ft_spool_n_tokens(s->spool), p->n_rows,
            o->seq_len + 1, j->task != FT_TASK_LM ? "one example per row"
                            : j->pack ? "packed" : "one record per row",
            o->shuffle ? "shuffled each epoch" : "in order",
            o->group_by_length ? ", grouped by length" : "");
    if (j->task != FT_TASK_LM)
        fprintf(f, "padding      %.1f%% of the batches' token slots in the first epoch\n",
                100.0 * ft_rows_padding(s->rows, s->n_rows, o->seed, o->shuffle,
                                        o->group_by_length ? (size_t)50 * o->batch_size *
                                                                 o->grad_accum : 0,
                                        o->batch_size));
    fprintf(f, "batches      %d rows x %d accumulated = %d rows per update, %" PRId64
               " updates per epoch\n",
            o->batch_size, o->grad_accum, o->batch_size * o->grad_accum,
            p->updates_per_epoch);
    fprintf(f, "run          %" PRId64 " updates", p->total_updates);
    if (!o->max_steps)
        fprintf(f, " (%" PRId64 " epochs)", o->epochs);
    if (p->start_update)
        fprintf(f, ", resuming after update %" PRId64, p->start_update);
    fprintf(f, "; lr %g, %s, warm-up %" PRId64 "; AdamW betas (%g, %g), eps %g, weight "
               "decay %g; clip %g\n",
            o->lr, ft_sched_name(o->sched), o->warmup, o->beta1, o->beta2, o->eps,
            o->weight_decay, o->clip);
    if (s->eval_rows)
        fprintf(f, "eval         %zu rows every %" PRId64 " updates, patience %d\n",
                s->n_eval_rows, o->eval_every, o->patience);
    if (o->save_every)
        fprintf(f, "checkpoints  every %" PRId64 " updates into %s, keeping %d\n",
                o->save_every, s->ckpt_dir, o->keep);
    fprintf(f, "memory       estimated peak %.1f MiB\n", (double)p->mem_bytes / 1048576.0);
}

/* --- The run --------------------------------------------------------------- */

static int save_output(const ft_job *j, job_state *s, int64_t n_steps, ft_err *err)
{
    char seed[32], hash[32], steps[32];
    snprintf(seed, sizeof seed, "%" PRIu64, j->train.seed);
    snprintf(hash, sizeof hash, "%016" PRIx64, s->stream_hash);
    snprintf(steps, sizeof steps, "%" PRId64, n_steps);
    const char *meta[32] = {"ft_version", j->version ? j->version : "?",
                          "ft_command", j->command_line ? j->command_line : "",
                          "ft_seed", seed,
                          "ft_stream_hash", hash,
                          "ft_method", method_names[j->method],
                          "ft_task", task_names[j->task],
                          "ft_steps", steps,
                          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    char max_len[32];
    int k = 14;
    snprintf(max_len, sizeof max_len, "%d", j->train.seq_len + 1);
    if (j->task != FT_TASK_LM) {
        meta[k++] = "ft_template";
        meta[k++] = ft_template_spec(s->tpl);
        meta[k++] = "ft_max_len";
        meta[k++] = max_len;
    }
    if (j->task == FT_TASK_CLASSIFY) {
        if (ft_task_meta_json((const char *const *)s->task.labels,
                              (const char *const *)s->task.words, s->task.n_labels,
                              &s->labels_json, &s->verbalizer_json, err) < 0)
            return -1;
        meta[k++] = "ft_labels";
        meta[k++] = s->labels_json;
        meta[k++] = "ft_verbalizer";
        meta[k++] = s->verbalizer_json;
    }
    /* LoRA writes a PEFT adapter directory (ft's provenance in its
     * safetensors metadata); full and freeze write a model in its base's
     * storage type, from scratch in f32. P-tuning writes a PEFT prefix
     * adapter the same way. */
    if (s->lora)
        return ft_lora_save(s->lora, j->output, j->force, j->model, meta, err);
    if (s->prefix)
        return ft_prefix_save(s->prefix, j->output, j->force, j->model, meta, err);
    /* A GGUF base's tokenizer lives in its metadata: written out as
     * tokenizer.json so the output is a whole Hugging Face model. */
    return ft_export_model(s->m, j->output, s->from_scratch ? FT_DTYPE_F32 : -1, j->force,
                           j->model, j->tokenizer,
                           j->model && ft_gguf_is_gguf(j->model) ? s->tok : NULL, meta, err);
}

/* Classify with --eval: every held-out text scored against every label
 * (eval/score.h) by the model as it is, adapter included. setup 0: the
 * model is set up for training (during the run), 1: set it up here. */
static int score_eval(const ft_job *j, job_state *s, int setup, double *accuracy,
                      double *macro_f1, ft_err *err)
{
    const ft_task_source *ts = &s->eval_task;
    ft_score_opts so = {ft_template_spec(s->tpl), (const char *const *)s->task.labels,
                        (const char *const *)s->task.words, s->task.n_labels, 0,
                        j->train.batch_size, j->train.seq_len + 1, 0};
    const ft_prefix *seam = s->prefix ? ft_prefix_seam(s->prefix, NULL) : NULL;
    ft_scorer *sc = ft_scorer_new(s->m, s->tok, seam, &so, setup, err);
    int L = s->task.n_labels, rc = -1;
    int *truth = ft_calloc(ts->n_kept, sizeof *truth, err);
    int *pred = ft_calloc(ts->n_kept, sizeof *pred, err);
    double *probs = ft_calloc((size_t)64 * L, sizeof *probs, err);
    ft_cls_report rep;

    if (!sc || !truth || !pred || !probs)
        goto done;
    for (size_t lo = 0; lo < ts->n_kept; lo += 64) {
        size_t n = ts->n_kept - lo < 64 ? ts->n_kept - lo : 64;
        if (ft_scorer_run(sc, (const char *const *)ts->kept_text + lo, ts->kept_len + lo, n,
                          NULL, probs, err) < 0) {
            ft_err_prefix(err, "%s: scoring", j->eval_path);
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            for (int l = 1; l < L; l++)
                if (probs[i * L + l] > probs[i * L + best])
                    best = l;
            pred[lo + i] = best;
            for (int l = 0; l < L; l++)
                if (!strcmp(ts->kept_label[lo + i], s->task.labels[l]))
                    truth[lo + i] = l;
        }
    }
    if (ft_metrics_classify(&rep, truth, pred, ts->n_kept, L, err) < 0)
        goto done;
    *accuracy = rep.accuracy;
    if (macro_f1)
        *macro_f1 = rep.macro_f1;
    ft_cls_report_free(&rep);
    rc = 0;
done:
    ft_scorer_free(sc);
    free(truth);
    free(pred);
    free(probs);
    return rc;
}

/* The trainer's eval_metric: accuracy by label scoring. */
typedef struct eval_ctx {
    const ft_job *j;
    job_state *s;
} eval_ctx;

static int eval_accuracy(void *ctx, double *value, ft_err *err)
{
    eval_ctx *e = ctx;
    return score_eval(e->j, e->s, 0, value, NULL, err);
}

static void free_state(job_state *s)
{
    ft_trainer_free(s->trainer);
    ft_lora_free(s->lora);
    free(s->plan_extra);
    ft_prefix_free(s->prefix);
    ft_spool_free(s->spool);
    ft_spool_free(s->eval_spool);
    free(s->rows);
    free(s->eval_rows);
    ft_tokenizer_free(s->tok);
    ft_model_free(s->m);
    free(s->ckpt_dir);
    ft_template_free(s->tpl);
    ft_task_source_free(&s->task);
    ft_task_source_free(&s->eval_task);
    free(s->labels_json);
    free(s->verbalizer_json);
}

int ft_job_run(const ft_job *j, FILE *plan_out, ft_job_result *res, ft_err *err)
{
    static char last_ckpt[4096];
    job_state s = {0};
    ft_train_opts o = j->train;
    int rc = -1;

    memset(res, 0, sizeof *res);
    res->eval_loss = NAN;
    res->eval_accuracy = res->eval_macro_f1 = NAN;
    if (!j->output && !j->dry_run)
        return ft_err_setk(err, FT_ERR_USAGE, "no output: -o OUT is required");
    if ((j->model != NULL) == (j->init_config != NULL))
        return ft_err_setk(err, FT_ERR_USAGE, "give either -m MODEL or --init CONFIG");
    if (j->output && !o.ckpt_dir && !(s.ckpt_dir = ft_job_ckpt_dir(j->output, err)))
        return -1;
    if (o.ckpt_dir && !(s.ckpt_dir = ft_strdup(o.ckpt_dir, err)))
        return -1;
    o.ckpt_dir = s.ckpt_dir;

    /* Model, tokenizer, method, data, trainer -- in that order. */
    if (check_outputs(j, &s, err) < 0)
        goto done;
    s.from_scratch = j->init_config != NULL;
    if (j->task != FT_TASK_LM &&
        !(s.tpl = ft_template_new(j->template_spec ? j->template_spec : "plain", err)))
        goto done;
    s.m = j->model ? ft_checkpoint_load(j->model, err) : init_model(j, err);
    if (!s.m || load_tokenizer(j, &s, err) < 0 || apply_method(j, &s, err) < 0 ||
        read_data(j, &s, err) < 0)
        goto done;
    res->n_truncated = s.task.n_truncated;
    if (j->task == FT_TASK_CLASSIFY) {
        size_t at = (size_t)snprintf(res->labels_note, sizeof res->labels_note,
                                     "labels (%s):", s.task.fixed ? "given"
                                                                  : "from the data, sorted");
        for (int l = 0; l < s.task.n_labels && at < sizeof res->labels_note; l++)
            at += (size_t)snprintf(res->labels_note + at, sizeof res->labels_note - at,
                                   "%s %s", l ? "," : "", s.task.labels[l]);
    }
    if (j->eval_path && o.eval_every <= 0)
        o.eval_every = o.save_every > 0 ? o.save_every : 100;
    if (s.prefix) {
        o.prefix_len = s.prefix->N;
        if (asprintf(&s.plan_extra, "ptuning prefix=%d projection=%d dropout=%.17g",
                     s.prefix->N, s.prefix->H, s.prefix->dropout) < 0) {
            ft_err_set(err, "out of memory");
            goto done;
        }
    }
    if (j->task != FT_TASK_LM) {
        /* the task shapes the rows: a resume must not change it */
        char *x;
        if (asprintf(&x, "%s%stask=%s template=%s max_len=%d truncate=%d group=%d",
                     s.plan_extra ? s.plan_extra : "", s.plan_extra ? " " : "",
                     task_names[j->task], ft_template_spec(s.tpl), o.seq_len + 1,
                     j->truncate, o.group_by_length) < 0) {
            ft_err_set(err, "out of memory");
            goto done;
        }
        free(s.plan_extra);
        s.plan_extra = x;
    }
    if (s.plan_extra)
        o.plan_extra = s.plan_extra;
    eval_ctx ec = {j, &s};
    if (j->task == FT_TASK_CLASSIFY && s.eval_task.n_kept) {
        o.eval_metric = eval_accuracy;
        o.eval_metric_ctx = &ec;
        o.eval_metric_name = "eval_accuracy";
    }
    if (!(s.trainer = ft_trainer_new(s.m, &o, err)))
        goto done;
    if (s.lora && add_lora(j, &s, err) < 0)
        goto done;
    if (s.prefix && add_prefix(&s, err) < 0)
        goto done;
    ft_trainer_set_data(s.trainer, s.spool, s.rows, s.n_rows, s.stream_hash);
    if (s.eval_rows)
        ft_trainer_set_eval(s.trainer, s.eval_spool, s.eval_rows, s.n_eval_rows);
    if (ft_trainer_prepare(s.trainer, err) < 0)
        goto done;
    if (s.prefix)
        ft_prefix_touch(s.prefix); /* a resume replaced its parameters */
    ft_trainer_plan(s.trainer, &res->plan);
    res->stream_hash = s.stream_hash;
    if (j->dry_run) {
        print_plan(j, &s, &res->plan, plan_out);
        rc = FT_TRAIN_DONE;
        goto done;
    }

    /* Train; a finished run writes the model. */
    rc = ft_trainer_run(s.trainer, err);
    res->steps = ft_trainer_step(s.trainer);
    res->eval_loss = ft_trainer_eval_loss(s.trainer);
    res->block_backward = s.m->n_block_backward;
    if (ft_trainer_last_checkpoint(s.trainer)) {
        snprintf(last_ckpt, sizeof last_ckpt, "%s", ft_trainer_last_checkpoint(s.trainer));
        res->checkpoint = last_ckpt;
    }
    if (rc == FT_TRAIN_DONE && s.lora && ft_lora_check(s.lora, err) < 0)
        rc = -1;
    if (rc != FT_TRAIN_DONE)
        goto done;

    /* The training buffers go before the model is written, so saving never
     * raises the peak. */
    ft_trainer_free(s.trainer);
    s.trainer = NULL;
    if (j->task == FT_TASK_CLASSIFY && s.eval_task.n_kept &&
        score_eval(j, &s, 1, &res->eval_accuracy, &res->eval_macro_f1, err) < 0) {
        rc = -1;
        goto done;
    }
    if (ft_model_setup(s.m, 1, 1, 0, 0, err) < 0 || save_output(j, &s, res->steps, err) < 0)
        rc = -1;
done:
    free_state(&s);
    return rc;
}
