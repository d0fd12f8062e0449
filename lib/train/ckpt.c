/* ckpt: the trainer's checkpoints -- write one atomically, keep the newest,
 * find and restore one exactly (see train.h for the layout). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/fsout.h"
#include "model/safetensors.h"
#include "train/train_impl.h"

#define CKPT_FORMAT "ft-train checkpoint 1"
#define STATE_FILE "state.safetensors"
#define JSON_FILE "trainer_state.json"

static void hex64(char out[17], uint64_t v)
{
    snprintf(out, 17, "%016" PRIx64, v);
}

static int unhex64(const char *s, uint64_t *v)
{
    char *end;
    if (!s || strlen(s) != 16)
        return -1;
    errno = 0;
    *v = strtoull(s, &end, 16);
    return *end || errno ? -1 : 0;
}

static void put_str(json_t *o, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put_str(json_t *o, const char *key, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_object_set_new(o, key, json_string(buf));
}

char *ft_trainer_options_json(const ft_trainer *t, ft_err *err)
{
    const ft_train_opts *o = &t->o;
    json_t *j = json_object();

    /* Doubles as %.17g: equal text means the same bits. */
    put_str(j, "batch_size", "%d", o->batch_size);
    put_str(j, "grad_accum", "%d", o->grad_accum);
    put_str(j, "seq_len", "%d", o->seq_len);
    put_str(j, "prefix_len", "%d", o->prefix_len);
    put_str(j, "shuffle", "%d", o->shuffle);
    put_str(j, "epochs", "%" PRId64, o->max_steps ? 0 : o->epochs);
    put_str(j, "max_steps", "%" PRId64, o->max_steps);
    put_str(j, "lr", "%.17g", o->lr);
    put_str(j, "beta1", "%.17g", o->beta1);
    put_str(j, "beta2", "%.17g", o->beta2);
    put_str(j, "eps", "%.17g", o->eps);
    put_str(j, "weight_decay", "%.17g", o->weight_decay);
    put_str(j, "clip", "%.17g", o->clip);
    put_str(j, "schedule", "%s", ft_sched_name(o->sched));
    put_str(j, "warmup", "%" PRId64, o->warmup);
    put_str(j, "seed", "%" PRIu64, o->seed);
    put_str(j, "method", "%s", o->plan_extra ? o->plan_extra : "");
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!s)
        ft_err_set(err, "out of memory");
    return s;
}

/* --- Writing --------------------------------------------------------------- */

static int write_state_json(const ft_trainer *t, const char *path, ft_err *err)
{
    char h[17];
    json_error_t jerr;
    char *opts = ft_trainer_options_json(t, err);
    if (!opts)
        return -1;
    json_t *j = json_object(), *rng = json_array(), *es = json_object();

    json_object_set_new(j, "format", json_string(CKPT_FORMAT));
    json_object_set_new(j, "step", json_integer(t->step));
    json_object_set_new(j, "epoch", json_integer(t->step / t->per_epoch));
    json_object_set_new(j, "update_in_epoch", json_integer(t->step % t->per_epoch));
    json_object_set_new(j, "total_updates", json_integer(t->total));
    json_object_set_new(j, "tokens_seen", json_integer((json_int_t)t->tokens_seen));
    for (int i = 0; i < 4; i++) {
        hex64(h, t->rng.s[i]);
        json_array_append_new(rng, json_string(h));
    }
    json_object_set_new(j, "rng", rng);
    hex64(h, t->stream_hash);
    json_object_set_new(j, "stream_hash", json_string(h));
    hex64(h, t->frozen_hash);
    json_object_set_new(j, "frozen_hash", json_string(h));
    json_object_set_new(es, "best_loss",
                        isnan(t->best_eval) ? json_null() : json_real(t->best_eval));
    json_object_set_new(es, "best_step", json_integer(t->best_step));
    json_object_set_new(es, "bad_evals", json_integer(t->bad_evals));
    json_object_set_new(es, "last_loss",
                        isnan(t->last_eval) ? json_null() : json_real(t->last_eval));
    json_object_set_new(j, "early_stopping", es);
    json_object_set_new(j, "options", json_loads(opts, 0, &jerr));
    free(opts);

    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(j);
    if (!text)
        return ft_err_set(err, "out of memory");
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = ft_write_file(path, text, n + 1, err);
    free(text);
    return rc;
}

static int write_state_tensors(const ft_trainer *t, const char *path, ft_err *err)
{
    static const char *const meta[] = {"format", CKPT_FORMAT, NULL};
    static const char *const kind[4] = {"param.", "exp_avg.", "exp_avg_sq.", "best."};
    int nk = t->best ? 4 : 3;
    size_t n = t->n_params * (size_t)nk;
    ft_st_entry *e = ft_calloc(n ? n : 1, sizeof *e, err);
    char **names = ft_calloc(n ? n : 1, sizeof *names, err);
    int rc = -1;

    if (!e || !names)
        goto done;
    for (size_t i = 0; i < t->n_params; i++) {
        const ft_train_param *p = &t->params[i];
        size_t off = t->opt.slots[i].moment_offset;
        const float *data[4] = {p->param, t->opt.m + off, t->opt.v + off,
                                t->best ? t->best + off : NULL};
        for (int k = 0; k < nk; k++) {
            size_t at = i * (size_t)nk + (size_t)k;
            ft_st_entry *x = &e[at];
            if (asprintf(&names[at], "%s%s", kind[k], p->name) < 0) {
                names[at] = NULL;
                ft_err_set(err, "out of memory");
                goto done;
            }
            x->name = names[at];
            x->dtype = FT_DTYPE_F32;
            x->ndim = 1;
            x->shape[0] = (int64_t)p->numel;
            x->f32 = data[k];
        }
    }
    rc = ft_safetensors_write(path, e, (int)n, meta, err);
done:
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(e);
    return rc;
}

static int is_step_name(const char *name)
{
    return !strncmp(name, "step-", 5) && strlen(name) == 13 &&
           strspn(name + 5, "0123456789") == 8;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the step-NNNNNNNN entries of dir, sorted (oldest first). */
static char **list_steps(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    while (d && (e = readdir(d))) {
        if (!is_step_name(e->d_name))
            continue;
        if (ft_grow(&names, &cap, *n + 1, sizeof *names, NULL) < 0)
            break;
        if (!(names[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    if (d)
        closedir(d);
    if (*n)
        qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static void free_list(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Keep the newest t->o.keep checkpoints; remove temporaries a killed run
 * left behind (".step-NNNNNNNN.tmp-PID"). */
static void prune(const ft_trainer *t)
{
    size_t n;
    char **names = list_steps(t->o.ckpt_dir, &n);
    DIR *d;
    struct dirent *e;

    for (size_t i = 0; t->o.keep > 0 && i + (size_t)t->o.keep < n; i++) {
        char *p = ft_path_join(t->o.ckpt_dir, names[i], NULL);
        if (p)
            ft_rmtree(p);
        free(p);
    }
    free_list(names, n);
    if (!(d = opendir(t->o.ckpt_dir)))
        return;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, ".step-", 6) || !strstr(e->d_name, ".tmp-"))
            continue;
        char *p = ft_path_join(t->o.ckpt_dir, e->d_name, NULL);
        if (p)
            ft_rmtree(p);
        free(p);
    }
    closedir(d);
}

int ft_trainer_save(ft_trainer *t, ft_err *err)
{
    char name[32];
    ft_out out;
    char *dir, *f1 = NULL, *f2 = NULL;

    if (mkdir(t->o.ckpt_dir, 0777) < 0 && errno != EEXIST)
        return ft_err_errno(err, t->o.ckpt_dir);
    snprintf(name, sizeof name, "step-%08lld", (long long)t->step);
    if (!(dir = ft_path_join(t->o.ckpt_dir, name, err)))
        return -1;
    if (ft_out_begin(&out, dir, 1, 1, err) < 0) {
        free(dir);
        return -1;
    }
    int rc = -1;
    if ((f1 = ft_path_join(out.tmp, STATE_FILE, err)) &&
        (f2 = ft_path_join(out.tmp, JSON_FILE, err)) &&
        write_state_tensors(t, f1, err) == 0 && write_state_json(t, f2, err) == 0 &&
        ft_out_commit(&out, err) == 0)
        rc = 0;
    if (rc < 0) {
        ft_out_abort(&out);
        ft_err_prefix(err, "writing checkpoint %s", dir);
        free(dir);
    } else {
        free(t->last_ckpt);
        t->last_ckpt = dir;
        prune(t);
    }
    free(f1);
    free(f2);
    return rc;
}

/* --- Reading --------------------------------------------------------------- */

/* The checkpoint directory resume names: itself, or its newest step-*. */
static char *resolve(const char *path, ft_err *err)
{
    struct stat st;
    char *f = ft_path_join(path, JSON_FILE, err);
    size_t n;

    if (!f)
        return NULL;
    int direct = stat(f, &st) == 0;
    free(f);
    if (direct)
        return ft_strdup(path, err);
    if (stat(path, &st) < 0) {
        ft_err_errno(err, path);
        return NULL;
    }
    char **names = list_steps(path, &n);
    char *dir = n ? ft_path_join(path, names[n - 1], err) : NULL;
    if (!n)
        ft_err_set(err, "%s: no checkpoint there (no %s, no step-* folder)", path,
                   JSON_FILE);
    free_list(names, n);
    return dir;
}

/* The first option whose value differs, as a message. */
static int compare_options(const ft_trainer *t, json_t *saved, ft_err *err)
{
    json_error_t jerr;
    char *now_text = ft_trainer_options_json(t, err);
    if (!now_text)
        return -1;
    json_t *now = json_loads(now_text, 0, &jerr);
    const char *key;
    json_t *v;
    int rc = 0;

    free(now_text);
    if (!json_is_object(saved)) {
        json_decref(now);
        return ft_err_set(err, "no options recorded");
    }
    json_object_foreach(now, key, v) {
        const char *a = json_string_value(json_object_get(saved, key));
        const char *b = json_string_value(v);
        if (!a || strcmp(a, b)) {
            rc = ft_err_set(err, "it was trained with %s '%s', this run has '%s' (the "
                            "options must be the same to continue exactly)", key,
                            a ? a : "?", b);
            break;
        }
    }
    json_decref(now);
    return rc;
}

static int load_tensors(ft_trainer *t, const char *path, ft_err *err)
{
    static const char *const kind[4] = {"param.", "exp_avg.", "exp_avg_sq.", "best."};
    int nk = t->best ? 4 : 3;
    ft_safetensors *st = ft_safetensors_open(path, err);
    char name[1024];
    int rc = 0;

    if (!st)
        return -1;
    if ((size_t)st->n_tensors != t->n_params * (size_t)nk)
        rc = ft_err_set(err, "%s: %d tensors, this run trains %zu (another method, "
                        "another selection of trainable tensors, or early stopping "
                        "turned on or off?)", path, st->n_tensors / nk, t->n_params);
    for (size_t i = 0; rc == 0 && i < t->n_params; i++) {
        const ft_train_param *p = &t->params[i];
        size_t off = t->opt.slots[i].moment_offset;
        float *dst[4] = {p->param, t->opt.m + off, t->opt.v + off,
                         t->best ? t->best + off : NULL};
        for (int k = 0; rc == 0 && k < nk; k++) {
            snprintf(name, sizeof name, "%s%s", kind[k], p->name);
            const ft_st_tensor *x = ft_safetensors_find(st, name);
            if (!x)
                rc = ft_err_set(err, "%s: no tensor %s (another method or another "
                                "selection of trainable tensors?)", path, name);
            else if (x->numel != p->numel || x->dtype != FT_DTYPE_F32)
                rc = ft_err_set(err, "%s: tensor %s has %zu values, expected %zu f32",
                                path, name, x->numel, p->numel);
            else
                rc = ft_safetensors_read_f32(st, x, dst[k], err);
        }
    }
    ft_safetensors_close(st);
    return rc;
}

static double json_num_or_nan(json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : NAN;
}

int ft_trainer_load(ft_trainer *t, ft_err *err)
{
    json_error_t jerr;
    char *dir = resolve(t->o.resume, err), *jpath = NULL, *spath = NULL;
    json_t *j = NULL;
    uint64_t stream, frozen, rng[4];
    int rc = -1;

    if (!dir)
        return ft_err_prefix(err, "--resume");
    if (!(jpath = ft_path_join(dir, JSON_FILE, err)) ||
        !(spath = ft_path_join(dir, STATE_FILE, err)))
        goto done;
    if (!(j = json_load_file(jpath, 0, &jerr))) {
        ft_err_set(err, "%s: line %d: %s", jpath, jerr.line, jerr.text);
        goto done;
    }
    const char *fmt = json_string_value(json_object_get(j, "format"));
    json_t *rj = json_object_get(j, "rng"), *es = json_object_get(j, "early_stopping");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) || !json_is_integer(json_object_get(j, "step")) ||
        json_array_size(rj) != 4 || !json_is_object(es) ||
        unhex64(json_string_value(json_object_get(j, "stream_hash")), &stream) < 0 ||
        unhex64(json_string_value(json_object_get(j, "frozen_hash")), &frozen) < 0) {
        ft_err_set(err, "%s: not an ft-train checkpoint state", jpath);
        goto done;
    }
    for (int i = 0; i < 4; i++)
        if (unhex64(json_string_value(json_array_get(rj, (size_t)i)), &rng[i]) < 0) {
            ft_err_set(err, "%s: bad random state", jpath);
            goto done;
        }

    /* The same stream, base and options, or nothing. */
    if (stream != t->stream_hash) {
        ft_err_set(err, "%s: the training stream differs from the one this checkpoint "
                   "was trained on (hash %016" PRIx64 ", checkpoint %016" PRIx64 ")", dir,
                   t->stream_hash, stream);
        goto done;
    }
    if (frozen != t->frozen_hash) {
        ft_err_set(err, "%s: the frozen weights differ from the ones this checkpoint "
                   "was trained with (another base model?)", dir);
        goto done;
    }
    if (compare_options(t, json_object_get(j, "options"), err) < 0) {
        ft_err_prefix(err, "%s", dir);
        goto done;
    }
    int64_t step = json_integer_value(json_object_get(j, "step"));
    if (step < 0 || step > t->total) {
        ft_err_set(err, "%s: step %lld is outside this run's %lld updates", jpath,
                   (long long)step, (long long)t->total);
        goto done;
    }
    if (load_tensors(t, spath, err) < 0)
        goto done;

    t->step = t->start_step = step;
    t->opt.t = step;
    memcpy(t->rng.s, rng, sizeof rng);
    t->tokens_seen = (uint64_t)json_integer_value(json_object_get(j, "tokens_seen"));
    t->best_eval = json_num_or_nan(json_object_get(es, "best_loss"));
    t->best_step = json_integer_value(json_object_get(es, "best_step"));
    t->bad_evals = (int)json_integer_value(json_object_get(es, "bad_evals"));
    t->last_eval = json_num_or_nan(json_object_get(es, "last_loss"));
    free(t->last_ckpt);
    t->last_ckpt = dir;
    dir = NULL;
    rc = 0;
done:
    if (rc < 0)
        ft_err_prefix(err, "--resume");
    json_decref(j);
    free(jpath);
    free(spath);
    free(dir);
    return rc;
}
