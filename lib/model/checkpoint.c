/* checkpoint: Hugging Face model directories and archives, read and written
 * (see checkpoint.h).
 *
 * A "source" hides where the files come from: a directory (files opened by
 * path, safetensors mapped) or an archive (the few members a model needs
 * read into memory in one pass, since archives are streams). */
#include "model/checkpoint.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsout.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/llama2c.h"
#include "model/safetensors.h"

/* Files that travel with a model when it is saved from another. */
static const char *const side_files[] = {
    "tokenizer.json",  "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json", "generation_config.json", "tokenizer.model",
    "vocab.json",      "merges.txt",            NULL};

typedef struct member {
    char *name;              /* path inside the archive, relative to root */
    unsigned char *data;
    size_t n_bytes;
} member;

typedef struct source {
    const char *path;
    int is_dir;
    member *mem;
    size_t n_mem, cap_mem;
} source;

static void source_free(source *s)
{
    for (size_t i = 0; i < s->n_mem; i++) {
        free(s->mem[i].name);
        free(s->mem[i].data);
    }
    free(s->mem);
    s->mem = NULL;
    s->n_mem = 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The members a model needs: config, index, shards, and one extra file. */
static int wanted(const char *name, const char *extra)
{
    const char *b = base_name(name);
    return !strcmp(b, "config.json") || !strcmp(b, "model.safetensors.index.json") ||
           ends_with(b, ".safetensors") || (extra && !strcmp(b, extra));
}

static int read_member(struct archive *a, member *m, const char *path, ft_err *err)
{
    size_t cap = 0;

    for (;;) {
        if (m->n_bytes + 65536 + 1 > cap &&
            ft_grow(&m->data, &cap, m->n_bytes + 65536 + 1, 1, err) < 0)
            return -1;
        la_ssize_t r = archive_read_data(a, m->data + m->n_bytes, cap - m->n_bytes - 1);
        if (r < 0)
            return ft_err_set(err, "%s: %s: %s", path, m->name, archive_error_string(a));
        if (r == 0)
            break;
        m->n_bytes += (size_t)r;
    }
    m->data[m->n_bytes] = '\0';
    return 0;
}

/* Read the wanted members of an archive; names become relative to the
 * folder of the shallowest config.json. */
static int archive_load(source *s, const char *extra, ft_err *err)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    int rc = -1;

    if (!a)
        return ft_err_set(err, "%s: out of memory opening the archive", s->path);
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, s->path, 1 << 16) != ARCHIVE_OK) {
        ft_err_set(err, "%s: %s", s->path, archive_error_string(a));
        goto out;
    }
    for (;;) {
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            ft_err_set(err, "%s: %s", s->path, archive_error_string(a));
            goto out;
        }
        const char *name = archive_entry_pathname(e);
        if (!name || archive_entry_filetype(e) != AE_IFREG || !wanted(name, extra))
            continue;
        while (!strncmp(name, "./", 2))
            name += 2;
        if (ft_grow(&s->mem, &s->cap_mem, s->n_mem + 1, sizeof *s->mem, err) < 0)
            goto out;
        member *m = &s->mem[s->n_mem++];
        memset(m, 0, sizeof *m);
        if (!(m->name = ft_strdup(name, err)) || read_member(a, m, s->path, err) < 0)
            goto out;
    }

    /* the model's folder: where the shallowest config.json is */
    const char *root = NULL;
    size_t root_len = 0;
    for (size_t i = 0; i < s->n_mem; i++) {
        const char *n = s->mem[i].name;
        if (strcmp(base_name(n), "config.json"))
            continue;
        if (!root || strlen(n) < strlen(root)) {
            root = n;
            root_len = strlen(n) - strlen("config.json");
        }
    }
    if (!root) {
        ft_err_set(err, "%s: no config.json in the archive", s->path);
        goto out;
    }
    char *prefix = ft_strdup(root, err);
    if (!prefix)
        goto out;
    prefix[root_len] = '\0';
    for (size_t i = 0; i < s->n_mem; i++) {
        member *m = &s->mem[i];
        if (strncmp(m->name, prefix, root_len) || strchr(m->name + root_len, '/')) {
            m->name[0] = '\0'; /* outside the model's folder: ignored */
            continue;
        }
        memmove(m->name, m->name + root_len, strlen(m->name + root_len) + 1);
    }
    free(prefix);
    rc = 0;
out:
    archive_read_free(a);
    return rc;
}

static int source_open(source *s, const char *path, const char *extra, ft_err *err)
{
    struct stat st;

    memset(s, 0, sizeof *s);
    s->path = path;
    if (stat(path, &st) < 0)
        return ft_err_errno(err, path);
    if (S_ISDIR(st.st_mode)) {
        s->is_dir = 1;
        return 0;
    }
    return archive_load(s, extra, err);
}

static member *source_member(source *s, const char *name)
{
    for (size_t i = 0; i < s->n_mem; i++)
        if (!strcmp(s->mem[i].name, name))
            return &s->mem[i];
    return NULL;
}

/* "dir/name" or "archive: name", for messages; a static buffer. */
static const char *where(const source *s, const char *name)
{
    static char buf[4200];
    snprintf(buf, sizeof buf, s->is_dir ? "%s/%s" : "%s: %s", s->path, name);
    return buf;
}

/* A whole file of the model: 1 read, 0 absent, -1 error. */
static int source_read(source *s, const char *name, char **data, size_t *n, ft_err *err)
{
    if (s->is_dir) {
        char *p = ft_path_join(s->path, name, err);
        struct stat st;
        if (!p)
            return -1;
        if (stat(p, &st) < 0 && errno == ENOENT) {
            free(p);
            return 0;
        }
        int rc = ft_read_file(p, (size_t)1 << 30, data, n, err);
        free(p);
        return rc < 0 ? -1 : 1;
    }
    member *m = source_member(s, name);
    if (!m)
        return 0;
    *data = ft_malloc(m->n_bytes + 1, err);
    if (!*data)
        return -1;
    memcpy(*data, m->data, m->n_bytes + 1);
    *n = m->n_bytes;
    return 1;
}

/* Open a safetensors file of the model; NULL with *missing set when absent. */
static ft_safetensors *source_tensors(source *s, const char *name, int *missing, ft_err *err)
{
    *missing = 0;
    if (s->is_dir) {
        char *p = ft_path_join(s->path, name, err);
        struct stat st;
        if (!p)
            return NULL;
        if (stat(p, &st) < 0 && errno == ENOENT) {
            *missing = 1;
            free(p);
            return NULL;
        }
        ft_safetensors *t = ft_safetensors_open(p, err);
        free(p);
        return t;
    }
    member *m = source_member(s, name);
    if (!m || !m->data) {
        *missing = 1;
        return NULL;
    }
    void *data = m->data;
    m->data = NULL; /* now the safetensors' */
    return ft_safetensors_from_memory(data, m->n_bytes, where(s, name), err);
}

/* --- Loading -------------------------------------------------------------- */

typedef struct shards {
    char **file;             /* file names */
    ft_safetensors **st;
    int n;
    json_t *map;             /* weight_map of the index, or NULL */
} shards;

static void shards_free(shards *sh)
{
    for (int i = 0; i < sh->n; i++) {
        free(sh->file[i]);
        ft_safetensors_close(sh->st[i]);
    }
    free(sh->file);
    free(sh->st);
    if (sh->map)
        json_decref(sh->map);
}

static int shard_add(shards *sh, source *s, const char *file, const char *named_by,
                     ft_err *err)
{
    int missing;

    for (int i = 0; i < sh->n; i++)
        if (!strcmp(sh->file[i], file))
            return 0;
    if (!*file || strchr(file, '/') || !strcmp(file, ".."))
        return ft_err_set(err, "%s: bad shard file name \"%s\"", named_by, file);
    char **f = realloc(sh->file, (sh->n + 1) * sizeof *f);
    if (f)
        sh->file = f;
    ft_safetensors **t = realloc(sh->st, (sh->n + 1) * sizeof *t);
    if (t)
        sh->st = t;
    if (!f || !t)
        return ft_err_set(err, "out of memory");
    sh->st[sh->n] = source_tensors(s, file, &missing, err);
    if (!sh->st[sh->n]) {
        if (missing)
            ft_err_set(err, "%s: names \"%s\", which is missing", named_by, file);
        return -1;
    }
    if (!(sh->file[sh->n] = ft_strdup(file, err))) {
        ft_safetensors_close(sh->st[sh->n]);
        return -1;
    }
    sh->n++;
    return 0;
}

/* The shards: from the index when there is one, else model.safetensors. */
static int open_shards(shards *sh, source *s, ft_err *err)
{
    char *text = NULL, idx_name[4300];
    size_t n;
    int rc = source_read(s, "model.safetensors.index.json", &text, &n, err);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        int missing;
        if (ft_grow(&sh->file, &(size_t){0}, 1, sizeof *sh->file, err) < 0 ||
            ft_grow(&sh->st, &(size_t){0}, 1, sizeof *sh->st, err) < 0)
            return -1;
        sh->st[0] = source_tensors(s, "model.safetensors", &missing, err);
        if (!sh->st[0]) {
            if (missing)
                ft_err_set(err, "%s: no model.safetensors or model.safetensors.index.json",
                           s->path);
            return -1;
        }
        sh->file[0] = ft_strdup("model.safetensors", err);
        sh->n = 1;
        return sh->file[0] ? 0 : -1;
    }

    /* the index: {"weight_map": {tensor: file}} */
    snprintf(idx_name, sizeof idx_name, "%s", where(s, "model.safetensors.index.json"));
    json_error_t jerr;
    json_t *root = json_loadb(text, n, 0, &jerr);
    free(text);
    if (!root)
        return ft_err_set(err, "%s: not valid JSON: %s", idx_name, jerr.text);
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map)) {
        json_decref(root);
        return ft_err_set(err, "%s: no \"weight_map\" object", idx_name);
    }
    sh->map = json_incref(map);
    json_decref(root);
    const char *k;
    json_t *v;
    json_object_foreach(sh->map, k, v) {
        if (!json_is_string(v))
            return ft_err_set(err, "%s: file of \"%s\" is not a string", idx_name, k);
        if (shard_add(sh, s, json_string_value(v), idx_name, err) < 0)
            return -1;
    }
    if (sh->n == 0)
        return ft_err_set(err, "%s: weight_map is empty", idx_name);
    return 0;
}

/* A tensor by its file name: the shard the index names, or the one file. */
static const ft_st_tensor *shard_find(const shards *sh, const char *name,
                                      const ft_safetensors **in)
{
    int i = 0;
    if (sh->map) {
        json_t *f = json_object_get(sh->map, name);
        if (!json_is_string(f))
            return NULL;
        for (i = 0; i < sh->n && strcmp(sh->file[i], json_string_value(f)); i++)
            ;
        if (i == sh->n)
            return NULL;
    }
    *in = sh->st[i];
    return ft_safetensors_find(sh->st[i], name);
}

/* Name in checkpoint files of a tensor named name inside ft. */
static void file_name(const ft_model *m, const char *name, char *out, size_t n)
{
    if (m->cfg.family == FT_FAMILY_GPT2 && !strncmp(name, "transformer.", 12))
        snprintf(out, n, "%s%s", m->file_prefix, name + 12);
    else
        snprintf(out, n, "%s", name);
}

/* Tensors a file may hold that are not parameters. */
static int skippable(const ft_model *m, const char *name)
{
    if (m->cfg.family == FT_FAMILY_GPT2 &&
        (ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias")))
        return 1;
    if (ends_with(name, ".rotary_emb.inv_freq"))
        return 1;
    return m->cfg.tied && !strcmp(name, "lm_head.weight");
}

static void shape_str(char *out, size_t n, int ndim, const int64_t *shape)
{
    size_t at = (size_t)snprintf(out, n, "[");
    for (int i = 0; i < ndim && at < n; i++)
        at += (size_t)snprintf(out + at, n - at, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (at < n)
        snprintf(out + at, n - at, "]");
}

/* One tensor from the files into the parameter block. */
static int load_tensor(ft_model *m, int id, const shards *sh, source *s, ft_err *err)
{
    ft_tensor *t = &m->tensors[id];
    const ft_safetensors *st = NULL;
    char name[300];

    file_name(m, t->name, name, sizeof name);
    const ft_st_tensor *f = shard_find(sh, name, &st);
    if (!f)
        return ft_err_set(err, "%s: no tensor \"%s\"",
                          sh->map ? where(s, "model.safetensors.index.json") : sh->st[0]->name,
                          name);

    /* the file's shape: [in, out] for Conv1D weights */
    int64_t want[2] = {t->conv1d ? t->shape[1] : t->shape[0],
                       t->conv1d ? t->shape[0] : t->shape[1]};
    if (f->ndim != t->ndim || f->shape[0] != want[0] ||
        (t->ndim == 2 && f->shape[1] != want[1])) {
        char got[64], exp[64];
        shape_str(got, sizeof got, f->ndim, f->shape);
        shape_str(exp, sizeof exp, t->ndim, want);
        return ft_err_set(err, "%s: tensor \"%s\" has shape %s, expected %s for this config",
                          st->name, name, got, exp);
    }
    float *dst = ft_model_param(m, id);
    if (!t->conv1d)
        return ft_safetensors_read_f32(st, f, dst, err);

    /* Conv1D: [in, out] in the file, [out, in] inside ft */
    float *tmp = ft_malloc(t->numel * sizeof *tmp, err);
    if (!tmp || ft_safetensors_read_f32(st, f, tmp, err) < 0) {
        free(tmp);
        return -1;
    }
    int rows = t->shape[0], cols = t->shape[1];
    for (int i = 0; i < cols; i++)
        for (int o = 0; o < rows; o++)
            dst[(size_t)o * cols + i] = tmp[(size_t)i * rows + o];
    free(tmp);
    return 0;
}

static ft_model *hf_load(source *s, ft_err *err)
{
    char *text = NULL, cfg_name[4300];
    size_t n;
    ft_config cfg;
    ft_model *m = NULL;
    shards sh = {0};

    /* config.json */
    snprintf(cfg_name, sizeof cfg_name, "%s", where(s, "config.json"));
    int rc = source_read(s, "config.json", &text, &n, err);
    if (rc <= 0) {
        if (rc == 0)
            ft_err_set(err, "%s: no config.json", s->path);
        return NULL;
    }
    rc = ft_config_parse(&cfg, text, n, cfg_name, err);
    free(text);
    if (rc < 0 || !(m = ft_model_new(&cfg, err)))
        return NULL;

    if (open_shards(&sh, s, err) < 0)
        goto fail;

    /* GPT-2 files name tensors with or without "transformer." */
    if (m->cfg.family == FT_FAMILY_GPT2) {
        const ft_safetensors *st;
        const char *pre = shard_find(&sh, "transformer.wte.weight", &st) ? "transformer."
                          : shard_find(&sh, "wte.weight", &st)           ? ""
                                                                         : NULL;
        if (!pre) {
            ft_err_set(err, "%s: no tensor \"transformer.wte.weight\" (nor \"wte.weight\")",
                       sh.st[0]->name);
            goto fail;
        }
        free(m->file_prefix);
        if (!(m->file_prefix = ft_strdup(pre, err)))
            goto fail;
    }

    /* every parameter */
    for (int i = 0; i < m->n_tensors; i++) {
        if (load_tensor(m, i, &sh, s, err) < 0)
            goto fail;
        const ft_st_tensor *f;
        const ft_safetensors *st;
        char name[300];
        file_name(m, m->tensors[i].name, name, sizeof name);
        f = shard_find(&sh, name, &st);
        m->tensors[i].dtype = f->dtype == FT_DTYPE_F64 ? FT_DTYPE_F32 : f->dtype;
    }

    /* and nothing else: an unknown tensor means a config this code misread */
    for (int k = 0; k < sh.n; k++) {
        for (int i = 0; i < sh.st[k]->n_tensors; i++) {
            const char *fn = sh.st[k]->tensors[i].name;
            char full[300];
            if (skippable(m, fn))
                continue;
            if (m->cfg.family == FT_FAMILY_GPT2 && !*m->file_prefix &&
                strcmp(fn, "lm_head.weight"))
                snprintf(full, sizeof full, "transformer.%s", fn);
            else
                snprintf(full, sizeof full, "%s", fn);
            if (ft_model_find(m, full) < 0) {
                ft_err_set(err, "%s: unexpected tensor \"%s\" for this %s config",
                           sh.st[k]->name, fn, m->cfg.model_type);
                goto fail;
            }
        }
    }
    shards_free(&sh);
    return m;
fail:
    shards_free(&sh);
    ft_model_free(m);
    return NULL;
}

ft_model *ft_checkpoint_load(const char *path, ft_err *err)
{
    source s;
    struct stat st;

    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && ends_with(path, ".bin"))
        return ft_llama2c_load(path, err);
    if (ft_gguf_is_gguf(path))
        return ft_gguf_model_load(path, NULL, err);
    if (source_open(&s, path, NULL, err) < 0) {
        source_free(&s);
        return NULL;
    }
    ft_model *m = hf_load(&s, err);
    source_free(&s);
    return m;
}

int ft_checkpoint_read_file(const char *path, const char *name, char **data,
                            size_t *n_bytes, ft_err *err)
{
    source s;
    struct stat st;

    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && ends_with(path, ".bin"))
        return 0;
    if (ft_gguf_is_gguf(path))
        return 0;
    if (source_open(&s, path, name, err) < 0) {
        source_free(&s);
        return -1;
    }
    int rc = source_read(&s, name, data, n_bytes, err);
    source_free(&s);
    return rc;
}

/* --- Saving --------------------------------------------------------------- */

static int save_files(const ft_model *m, const char *tmp, int dtype, const char *copy_from,
                      ft_err *err)
{
    int n = m->n_tensors, rc = -1;
    ft_st_entry *e = ft_calloc(n, sizeof *e, err);
    float **tr = ft_calloc(n, sizeof *tr, err);
    char **names = ft_calloc(n, sizeof *names, err);
    char *cj = NULL, *path = NULL;
    static const char *const meta[] = {"format", "pt", NULL};

    if (!e || !tr || !names)
        goto out;

    /* config.json: the storage type of the embedding stands for the model */
    int cdt = dtype >= 0 ? dtype : m->tensors[m->embed_id].dtype;
    if (!(cj = ft_config_dump(&m->cfg, ft_dtype_torch_name(cdt), err)) ||
        !(path = ft_path_join(tmp, "config.json", err)) ||
        ft_write_file(path, cj, strlen(cj), err) < 0)
        goto out;
    free(path);
    path = NULL;

    /* model.safetensors, in table order, Conv1D weights back to [in, out] */
    for (int i = 0; i < n; i++) {
        const ft_tensor *t = &m->tensors[i];
        char name[300];
        file_name(m, t->name, name, sizeof name);
        if (!(names[i] = ft_strdup(name, err)))
            goto out;
        e[i].name = names[i];
        e[i].dtype = dtype >= 0 ? dtype : t->dtype;
        if (e[i].dtype != FT_DTYPE_F16 && e[i].dtype != FT_DTYPE_BF16)
            e[i].dtype = FT_DTYPE_F32;
        e[i].ndim = t->ndim;
        e[i].shape[0] = t->conv1d ? t->shape[1] : t->shape[0];
        e[i].shape[1] = t->conv1d ? t->shape[0] : t->shape[1];
        e[i].f32 = m->params + t->offset;
        if (t->conv1d) {
            int rows = t->shape[0], cols = t->shape[1];
            if (!(tr[i] = ft_malloc(t->numel * sizeof **tr, err)))
                goto out;
            for (int o = 0; o < rows; o++)
                for (int c = 0; c < cols; c++)
                    tr[i][(size_t)c * rows + o] = e[i].f32[(size_t)o * cols + c];
            e[i].f32 = tr[i];
        }
    }
    if (!(path = ft_path_join(tmp, "model.safetensors", err)) ||
        ft_safetensors_write(path, e, n, meta, err) < 0)
        goto out;

    /* tokenizer and generation files of the model this one came from */
    for (int i = 0; copy_from && side_files[i]; i++) {
        char *data;
        size_t nb;
        int r = ft_checkpoint_read_file(copy_from, side_files[i], &data, &nb, err);
        if (r < 0)
            goto out;
        if (r == 0)
            continue;
        free(path);
        path = ft_path_join(tmp, side_files[i], err);
        r = path ? ft_write_file(path, data, nb, err) : -1;
        free(data);
        if (r < 0)
            goto out;
    }
    rc = 0;
out:
    for (int i = 0; i < n && tr && names; i++) {
        free(tr[i]);
        free(names[i]);
    }
    free(tr);
    free(names);
    free(e);
    free(cj);
    free(path);
    return rc;
}

int ft_checkpoint_save(const ft_model *m, const char *dir, int dtype, int force,
                       const char *copy_from, ft_err *err)
{
    ft_out o;

    if (dtype >= 0 && dtype != FT_DTYPE_F32 && dtype != FT_DTYPE_F16 && dtype != FT_DTYPE_BF16)
        return ft_err_set(err, "%s: cannot save tensors as %s", dir, ft_dtype_name(dtype));
    if (ft_out_begin(&o, dir, 1, force, err) < 0)
        return -1;
    if (save_files(m, o.tmp, dtype, copy_from, err) < 0 || ft_out_commit(&o, err) < 0) {
        ft_out_abort(&o);
        return -1;
    }
    return 0;
}
