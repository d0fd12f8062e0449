/* score: label scoring and the task metadata (see score.h). */
#define _GNU_SOURCE
#include "eval/score.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "adapt/adapter.h"
#include "adapt/lora.h"
#include "adapt/prefix.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "model/gguf_model.h"
#include "model/safetensors.h"
#include "text/template.h"

/* --- String lists ---------------------------------------------------------- */

void ft_strv_free(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Split a comma list into items (malloc'd), empty items kept. */
static int split_commas(const char *s, char ***out, int *n, ft_err *err)
{
    int k = 1;
    for (const char *p = s; *p; p++)
        k += *p == ',';
    char **v = ft_calloc((size_t)k, sizeof *v, err);
    if (!v)
        return -1;
    for (int i = 0; i < k; i++) {
        size_t len = strcspn(s, ",");
        if (!(v[i] = ft_malloc(len + 1, err))) {
            ft_strv_free(v, i);
            return -1;
        }
        memcpy(v[i], s, len);
        v[i][len] = '\0';
        s += len + (s[len] == ',');
    }
    *out = v;
    *n = k;
    return 0;
}

int ft_labels_parse(const char *list, char ***labels, int *n, ft_err *err)
{
    char **v;
    int k;

    if (split_commas(list, &v, &k, err) < 0)
        return -1;
    for (int i = 0; i < k; i++) {
        int bad = !*v[i];
        for (int j = 0; j < i && !bad; j++)
            bad = !strcmp(v[i], v[j]) ? 2 : 0;
        if (bad) {
            ft_err_setk(err, FT_ERR_USAGE, bad == 1 ? "--labels: an empty label name in '%s'"
                                                    : "--labels: label '%s' is named twice",
                        bad == 1 ? list : v[i]);
            ft_strv_free(v, k);
            return -1;
        }
    }
    *labels = v;
    *n = k;
    return 0;
}

int ft_verbalizer_parse(const char *spec, char *const *labels, int n, char ***words,
                        ft_err *err)
{
    char **items, **w = ft_calloc((size_t)n, sizeof *w, err);
    int k, rc = -1;

    if (!w || split_commas(spec, &items, &k, err) < 0) {
        free(w);
        return -1;
    }
    for (int i = 0; i < k; i++) {
        char *eq = strchr(items[i], '=');
        int l = -1;
        if (!eq || !eq[1]) {
            ft_err_setk(err, FT_ERR_USAGE, "--verbalizer: '%s' is not LABEL=WORD", items[i]);
            goto done;
        }
        *eq = '\0';
        for (int j = 0; j < n; j++)
            if (!strcmp(items[i], labels[j]))
                l = j;
        if (l < 0) {
            ft_err_setk(err, FT_ERR_USAGE, "--verbalizer: '%s' is not in the label set",
                        items[i]);
            goto done;
        }
        if (w[l]) {
            ft_err_setk(err, FT_ERR_USAGE, "--verbalizer: label '%s' is named twice",
                        items[i]);
            goto done;
        }
        if (!(w[l] = ft_strdup(eq + 1, err)))
            goto done;
    }
    for (int j = 0; j < n; j++)
        if (!w[j] && !(w[j] = ft_strdup(labels[j], err)))
            goto done;
    rc = 0;
done:
    ft_strv_free(items, k);
    if (rc < 0)
        ft_strv_free(w, n);
    else
        *words = w;
    return rc;
}

/* --- Metadata -------------------------------------------------------------- */

void ft_task_meta_free(ft_task_meta *tm)
{
    free(tm->task);
    free(tm->template_spec);
    ft_strv_free(tm->labels, tm->n_labels);
    ft_strv_free(tm->words, tm->n_labels);
    memset(tm, 0, sizeof *tm);
}

int ft_task_meta_json(const char *const *labels, const char *const *words, int n,
                      char **labels_json, char **verbalizer_json, ft_err *err)
{
    json_t *a = json_array(), *o = json_object();
    int rc = -1;

    *labels_json = *verbalizer_json = NULL;
    for (int i = 0; a && o && i < n; i++)
        if (json_array_append_new(a, json_string(labels[i])) < 0 ||
            json_object_set_new(o, labels[i], json_string(words ? words[i] : labels[i])) < 0)
            goto done;
    if (a && o) {
        *labels_json = json_dumps(a, JSON_COMPACT | JSON_ENSURE_ASCII);
        *verbalizer_json = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    }
    if (*labels_json && *verbalizer_json)
        rc = 0;
done:
    json_decref(a);
    json_decref(o);
    if (rc < 0) {
        free(*labels_json);
        free(*verbalizer_json);
        *labels_json = *verbalizer_json = NULL;
        ft_err_set(err, "out of memory (label metadata)");
    }
    return rc;
}

int ft_task_meta_parse(ft_task_meta *tm, const char *(*get)(void *ctx, const char *key),
                       void *ctx, const char *name, ft_err *err)
{
    const char *task = get(ctx, "ft_task"), *tpl = get(ctx, "ft_template");
    const char *labels = get(ctx, "ft_labels"), *verb = get(ctx, "ft_verbalizer");
    const char *max_len = get(ctx, "ft_max_len");
    json_error_t je;
    json_t *a = NULL, *o = NULL;

    memset(tm, 0, sizeof *tm);
    if (!task)
        return 0;
    if (!(tm->task = ft_strdup(task, err)) || (tpl && !(tm->template_spec = ft_strdup(tpl, err))))
        goto fail;
    if (max_len)
        tm->max_len = atoi(max_len);
    if (!labels)
        return 1;

    /* Labels in order, each with its word (the label itself when absent). */
    a = json_loads(labels, 0, &je);
    o = verb ? json_loads(verb, 0, &je) : NULL;
    if (!json_is_array(a) || json_array_size(a) == 0 || (verb && !json_is_object(o))) {
        ft_err_set(err, "%s: metadata ft_labels/ft_verbalizer is not a JSON array/object",
                   name);
        goto fail;
    }
    int n = (int)json_array_size(a);
    if (!(tm->labels = ft_calloc((size_t)n, sizeof *tm->labels, err)) ||
        !(tm->words = ft_calloc((size_t)n, sizeof *tm->words, err)))
        goto fail;
    tm->n_labels = n;
    for (int i = 0; i < n; i++) {
        const char *l = json_string_value(json_array_get(a, (size_t)i));
        const char *w = o ? json_string_value(json_object_get(o, l ? l : "")) : l;
        if (!l || !w) {
            ft_err_set(err, "%s: metadata ft_labels/ft_verbalizer: label %d has no name or "
                       "word", name, i + 1);
            goto fail;
        }
        if (!(tm->labels[i] = ft_strdup(l, err)) || !(tm->words[i] = ft_strdup(w, err)))
            goto fail;
    }
    json_decref(a);
    json_decref(o);
    return 1;
fail:
    json_decref(a);
    json_decref(o);
    ft_task_meta_free(tm);
    return -1;
}

static const char *st_get(void *ctx, const char *key)
{
    return ft_safetensors_meta(ctx, key);
}

/* The first shard named by a model.safetensors.index.json text. */
static char *first_shard(const char *json, size_t n, const char *name, ft_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, n, 0, &je), *map = json_object_get(root, "weight_map");
    const char *key, *best = NULL;
    json_t *v;
    char *out = NULL;

    json_object_foreach(map, key, v) {
        const char *f = json_string_value(v);
        if (f && (!best || strcmp(f, best) < 0))
            best = f;
    }
    if (best)
        out = ft_strdup(best, err);
    else
        ft_err_set(err, "%s: no weight_map in model.safetensors.index.json", name);
    json_decref(root);
    return out;
}

int ft_task_meta_read(const char *path, ft_task_meta *tm, ft_err *err)
{
    struct stat st;
    ft_safetensors *sf = NULL;
    char *data = NULL, *shard = NULL;
    size_t n;
    int rc;

    memset(tm, 0, sizeof *tm);
    if (stat(path, &st) < 0)
        return ft_err_errno(err, path);

    /* A PEFT adapter directory keeps its metadata in adapter_model. */
    if (S_ISDIR(st.st_mode)) {
        char *cfg = ft_path_join(path, "adapter_config.json", err);
        int is_adapter = cfg && stat(cfg, &st) == 0;
        free(cfg);
        if (is_adapter) {
            char *p = ft_path_join(path, "adapter_model.safetensors", err);
            sf = p ? ft_safetensors_open(p, err) : NULL;
            free(p);
            if (!sf)
                return -1;
            goto parse;
        }
    }

    /* A model: model.safetensors, or its first shard. */
    rc = ft_checkpoint_read_file(path, "model.safetensors", &data, &n, err);
    if (rc == 0) {
        rc = ft_checkpoint_read_file(path, "model.safetensors.index.json", &data, &n, err);
        if (rc <= 0)
            return rc;
        shard = first_shard(data, n, path, err);
        free(data);
        data = NULL;
        if (!shard)
            return -1;
        rc = ft_checkpoint_read_file(path, shard, &data, &n, err);
        if (rc == 0)
            ft_err_set(err, "%s: shard %s is missing", path, shard);
        free(shard);
        if (rc <= 0)
            return -1;
    }
    if (rc < 0)
        return -1;
    if (!(sf = ft_safetensors_from_memory(data, n, path, err)))
        return -1;
parse:
    rc = ft_task_meta_parse(tm, st_get, sf, sf->name, err);
    ft_safetensors_close(sf);
    return rc;
}

/* --- The scorer ------------------------------------------------------------ */

/* One (text, label) row. */
typedef struct score_row {
    size_t text;
    int label;
    uint32_t off, len;     /* into the ids / mask arena */
    uint32_t n_targets;
} score_row;

struct ft_scorer {
    ft_model *m;
    ft_tokenizer *tok;
    const ft_prefix *prefix;
    ft_template *tpl;
    char **labels, **words;
    int L;
    int length_norm, B, max_len;

    /* Owned by ft_scorer_open. */
    int owns;
    ft_lora *lora;
    ft_prefix_adapter *pa;
    ft_task_meta meta;

    int share;             /* score shared prefixes once (ft_score_opts.per_row 0,
                              buffers set up here) */

    /* Scratch. */
    ft_rendered r;
    int32_t *ids;          /* the rows' tokens, back to back */
    uint8_t *mask;
    size_t n_ids, cap_ids;
    score_row *rows;
    size_t cap_rows;
    int32_t *tokens, *targets;
    float *token_loss;
    int *split;            /* [n] tokens of each text run once; 0: per row */
    size_t cap_split;
    uint64_t *row_keys, *text_keys;   /* sort keys, see sort_key */
    size_t cap_row_keys, cap_text_keys;
    uint64_t *label_keys;  /* [B·L] */
    float *cache;          /* B per-row caches (model.h) */
    size_t cap_cache;
    int *crow, *used;      /* [B] each label row's cache; each cache's entries */
};

static int copy_strv(char ***dst, const char *const *src, int n, ft_err *err)
{
    if (!(*dst = ft_calloc((size_t)n, sizeof **dst, err)))
        return -1;
    for (int i = 0; i < n; i++)
        if (!((*dst)[i] = ft_strdup(src[i], err)))
            return -1;
    return 0;
}

ft_scorer *ft_scorer_new(ft_model *m, ft_tokenizer *tok, const ft_prefix *prefix,
                         const ft_score_opts *o, int setup, ft_err *err)
{
    int P = prefix ? prefix->P : 0;
    ft_scorer *s;

    if (o->n_labels < 1)
        return ft_err_setk(err, FT_ERR_USAGE, "no label set to score"), NULL;
    if (!(s = ft_calloc(1, sizeof *s, err)))
        return NULL;
    s->m = m;
    s->tok = tok;
    s->prefix = prefix;
    s->L = o->n_labels;
    s->length_norm = o->length_norm;
    s->B = o->batch_size > 0 ? o->batch_size : 8;
    s->max_len = o->max_len > 0 ? o->max_len : m->cfg.max_pos - P;
    s->share = setup && !o->per_row;
    ft_rendered_init(&s->r);
    if (s->max_len < 2) {
        ft_err_set(err, "rows of %d tokens leave no room for a text and a label", s->max_len);
        goto fail;
    }
    if (copy_strv(&s->labels, o->labels, s->L, err) < 0 ||
        copy_strv(&s->words, o->words ? o->words : o->labels, s->L, err) < 0 ||
        !(s->tpl = ft_template_new(o->template_spec ? o->template_spec : "plain", err)))
        goto fail;
    size_t bt = (size_t)s->B * (size_t)s->max_len;
    if (!(s->tokens = ft_malloc(bt * sizeof *s->tokens, err)) ||
        !(s->targets = ft_malloc(bt * sizeof *s->targets, err)) ||
        !(s->token_loss = ft_malloc(bt * sizeof *s->token_loss, err)) ||
        !(s->crow = ft_malloc((size_t)s->B * sizeof *s->crow, err)) ||
        !(s->used = ft_malloc((size_t)s->B * sizeof *s->used, err)) ||
        !(s->label_keys = ft_malloc((size_t)s->B * s->L * sizeof *s->label_keys, err)))
        goto fail;

    /* shared prefixes: a label row runs after up to max_len cached entries */
    if (setup && ft_model_setup(m, s->B, s->max_len, P + (s->share ? s->max_len : 0), 0,
                                err) < 0)
        goto fail;
    return s;
fail:
    ft_scorer_free(s);
    return NULL;
}

void ft_scorer_free(ft_scorer *s)
{
    if (!s)
        return;
    ft_template_free(s->tpl);
    ft_strv_free(s->labels, s->L);
    ft_strv_free(s->words, s->L);
    ft_rendered_free(&s->r);
    free(s->ids);
    free(s->mask);
    free(s->rows);
    free(s->tokens);
    free(s->targets);
    free(s->token_loss);
    free(s->split);
    free(s->row_keys);
    free(s->text_keys);
    free(s->label_keys);
    free(s->cache);
    free(s->crow);
    free(s->used);
    if (s->owns) {
        if (s->lora)
            ft_model_set_hook(s->m, NULL);
        ft_lora_free(s->lora);
        ft_prefix_free(s->pa);
        ft_tokenizer_free(s->tok);
        ft_model_free(s->m);
        ft_task_meta_free(&s->meta);
    }
    free(s);
}

int ft_scorer_labels(const ft_scorer *s, const char *const **labels)
{
    *labels = (const char *const *)s->labels;
    return s->L;
}

const ft_task_meta *ft_scorer_meta(const ft_scorer *s)
{
    return &s->meta;
}

ft_model *ft_scorer_model(ft_scorer *s)
{
    return s->m;
}

ft_tokenizer *ft_scorer_tokenizer(ft_scorer *s)
{
    return s->tok;
}

/* Render and tokenize text[0..len) with label l, appending to the arena;
 * *n gets the row's token count. */
static int encode_row(ft_scorer *s, const char *text, size_t len, int l, size_t *n,
                      ft_err *err)
{
    size_t before = s->n_ids;
    if (ft_template_classify(s->tpl, &s->r, text, len, s->words[l], strlen(s->words[l]),
                             err) < 0 ||
        ft_rendered_encode(s->tok, &s->r, &s->ids, &s->mask, &s->n_ids, &s->cap_ids, err) < 0)
        return -1;
    *n = s->n_ids - before;
    return 0;
}

/* Does text[0..len) fit max_len with every label? Leaves the arena as it was. */
static int fits(ft_scorer *s, const char *text, size_t len, ft_err *err)
{
    size_t keep = s->n_ids, n;
    for (int l = 0; l < s->L; l++) {
        if (encode_row(s, text, len, l, &n, err) < 0)
            return -1;
        s->n_ids = keep;
        if (n > (size_t)s->max_len)
            return 0;
    }
    return 1;
}

/* The longest prefix of text (at a character start) that fits. */
static int cut_text(ft_scorer *s, const char *text, size_t len, size_t *cut, ft_err *err)
{
    size_t lo = 0, hi = len;
    int f = fits(s, text, 0, err);

    if (f <= 0)
        return f < 0 ? -1 : ft_err_set(err, "the template and a label word alone exceed %d "
                                        "tokens", s->max_len);
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        while (mid > lo && ((unsigned char)text[mid] & 0xC0) == 0x80 && mid < len)
            mid--;
        if (mid == lo) {
            /* no character start between lo and hi: try hi itself */
            size_t h = hi;
            while (h > lo && h < len && ((unsigned char)text[h] & 0xC0) == 0x80)
                h--;
            if (h == lo || (f = fits(s, text, h, err)) == 0)
                break;
            if (f < 0)
                return -1;
            lo = h;
            break;
        }
        if ((f = fits(s, text, mid, err)) < 0)
            return -1;
        if (f)
            lo = mid;
        else
            hi = mid - 1;
    }
    *cut = lo;
    return 0;
}

/* Sort keys: rank ascending, then index; rank = UINT32_MAX - length puts
 * the longest first, so a batch pads little. */
static uint64_t sort_key(uint32_t len, size_t i)
{
    return (uint64_t)(UINT32_MAX - len) << 32 | (uint32_t)i;
}

static int by_key(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The per-row path: rows keys[0 .. n) (the longest first) each through the
 * whole model in batches of B padded to their longest; Σ log p of each
 * row's targets (-CE) into ll. */
static int score_rows(ft_scorer *s, const uint64_t *keys, size_t n, double *ll, ft_err *err)
{
    for (size_t lo = 0; lo < n; lo += (size_t)s->B) {
        int nb = (int)(n - lo < (size_t)s->B ? n - lo : (size_t)s->B);
        int T = (int)s->rows[(uint32_t)keys[lo]].len - 1;
        double sw, sl;
        for (int b = 0; b < nb; b++) {
            const score_row *r = &s->rows[(uint32_t)keys[lo + (size_t)b]];
            const int32_t *x = s->ids + r->off;
            const uint8_t *mk = s->mask + r->off;
            for (int t = 0; t < T; t++) {
                int real = t < (int)r->len - 1;
                s->tokens[(size_t)b * T + t] = real ? x[t] : 0;
                s->targets[(size_t)b * T + t] = real && mk[t + 1] ? x[t + 1] : -1;
            }
        }
        ft_batch batch = {nb, T, s->tokens, s->targets, NULL, s->prefix};
        if (ft_model_loss(s->m, &batch, s->token_loss, &sl, &sw, err) < 0)
            return -1;
        for (int b = 0; b < nb; b++) {
            const score_row *r = &s->rows[(uint32_t)keys[lo + (size_t)b]];
            double sum = 0;
            for (int t = 0; t < T; t++)
                if (s->targets[(size_t)b * T + t] >= 0)
                    sum -= s->token_loss[(size_t)b * T + t];
            ll[r->text * (size_t)s->L + (size_t)r->label] = sum;
        }
    }
    return 0;
}

/* The tokens of text i that run once: those its rows share up to the
 * first target, less one (the position before a target computes its
 * log-probability, which is each label's own). 0 when that leaves none. */
static int shared_split(const ft_scorer *s, size_t i)
{
    const score_row *r0 = &s->rows[i * (size_t)s->L];
    uint32_t c = r0->len;

    for (int l = 0; l < s->L; l++) {
        const score_row *r = &s->rows[i * (size_t)s->L + (size_t)l];
        const uint8_t *mk = s->mask + r->off;
        uint32_t j = 0, lim = r->len < c ? r->len : c;
        while (j < lim && s->ids[r0->off + j] == s->ids[r->off + j] && !(j > 0 && mk[j]))
            j++;
        c = j;
    }
    return c > 1 ? (int)c - 1 : 0;
}

/* Phase 1 for a group of G texts (keys[0 .. G), k = split[i] each, the
 * longest first): tokens [0, k) of each into its own cache, after the
 * P-tuning prefix. No target lies among them. */
static int run_prefixes(ft_scorer *s, const uint64_t *keys, int G, ft_prefix *kv,
                        ft_err *err)
{
    int T = s->split[(uint32_t)keys[0]];

    for (int g = 0; g < G; g++) {
        size_t i = (uint32_t)keys[g];
        const int32_t *x = s->ids + s->rows[i * s->L].off;
        for (int t = 0; t < T; t++)
            s->tokens[(size_t)g * T + t] = t < s->split[i] ? x[t] : 0;
        s->used[g] = (s->prefix ? s->prefix->P : 0) + s->split[i];
    }
    kv->append = 1;
    kv->row = NULL;
    kv->used = NULL;
    kv->P = s->prefix ? s->prefix->P : 0;
    ft_batch b = {G, T, s->tokens, NULL, NULL, kv};
    return ft_model_cache(s->m, &b, err);
}

/* Phase 2 for the same group: every label row's tokens [k, len-1) on its
 * text's cache, in batches of B rows; Σ log p of their targets into ll. */
static int run_labels(ft_scorer *s, const uint64_t *keys, int G, ft_prefix *kv, double *ll,
                      ft_err *err)
{
    uint64_t *rk = s->label_keys;
    size_t n = 0;
    double sw, sl;

    /* rows with tokens left, the longest first: (rank << 32) | (g·L + l) */
    for (int g = 0; g < G; g++) {
        size_t i = (uint32_t)keys[g];
        for (int l = 0; l < s->L; l++) {
            int left = (int)s->rows[i * s->L + (size_t)l].len - 1 - s->split[i];
            if (left > 0)
                rk[n++] = sort_key((uint32_t)left, (size_t)g * s->L + (size_t)l);
        }
    }
    qsort(rk, n, sizeof *rk, by_key);

    kv->append = 0;
    kv->row = s->crow;
    kv->used = s->used;
    for (size_t lo = 0; lo < n; lo += (size_t)s->B) {
        int nb = (int)(n - lo < (size_t)s->B ? n - lo : (size_t)s->B), T = 0;
        kv->P = 0;
        for (int b = 0; b < nb; b++) {
            uint32_t gl = (uint32_t)rk[lo + (size_t)b];
            size_t i = (uint32_t)keys[gl / s->L];
            const score_row *r = &s->rows[i * s->L + gl % s->L];
            int k = s->split[i], left = (int)r->len - 1 - k;
            T = left > T ? left : T;
            s->crow[b] = (int)(gl / s->L);
            kv->P = s->used[s->crow[b]] > kv->P ? s->used[s->crow[b]] : kv->P;
        }
        for (int b = 0; b < nb; b++) {
            uint32_t gl = (uint32_t)rk[lo + (size_t)b];
            size_t i = (uint32_t)keys[gl / s->L];
            const score_row *r = &s->rows[i * s->L + gl % s->L];
            int k = s->split[i], left = (int)r->len - 1 - k;
            const int32_t *x = s->ids + r->off + k;
            const uint8_t *mk = s->mask + r->off + k;
            for (int t = 0; t < T; t++) {
                s->tokens[(size_t)b * T + t] = t < left ? x[t] : 0;
                s->targets[(size_t)b * T + t] = t < left && mk[t + 1] ? x[t + 1] : -1;
            }
        }
        ft_batch b = {nb, T, s->tokens, s->targets, NULL, kv};
        if (ft_model_loss(s->m, &b, s->token_loss, &sl, &sw, err) < 0)
            return -1;
        for (int j = 0; j < nb; j++) {
            uint32_t gl = (uint32_t)rk[lo + (size_t)j];
            size_t at = (size_t)(uint32_t)keys[gl / s->L] * s->L + gl % s->L;
            for (int t = 0; t < T; t++)
                if (s->targets[(size_t)j * T + t] >= 0)
                    ll[at] -= s->token_loss[(size_t)j * T + t];
        }
    }
    return 0;
}

/* The shared path: texts keys[0 .. n) (split > 0, the longest first) in
 * groups of B, each's shared tokens once and the label rows after them. */
static int score_shared(ft_scorer *s, const uint64_t *keys, size_t n, double *ll,
                        ft_err *err)
{
    const ft_config *c = &s->m->cfg;
    int P0 = s->prefix ? s->prefix->P : 0, cap = P0 + s->split[(uint32_t)keys[0]];
    size_t per = ft_prefix_floats(c, cap);

    /* B caches, each opening with the P-tuning prefix, head by head */
    if (ft_grow(&s->cache, &s->cap_cache, (size_t)s->B * per, sizeof *s->cache, err) < 0)
        return -1;
    if (P0 > 0) {
        size_t heads = (size_t)c->n_layers * 2 * c->n_kv_heads, hd = c->head_dim;
        for (int g = 0; g < s->B; g++)
            for (size_t h = 0; h < heads; h++)
                memcpy(s->cache + g * per + h * cap * hd,
                       s->prefix->kv + h * s->prefix->cap * hd, P0 * hd * sizeof *s->cache);
    }

    for (size_t lo = 0; lo < n; lo += (size_t)s->B) {
        int G = (int)(n - lo < (size_t)s->B ? n - lo : (size_t)s->B);
        ft_prefix kv = {.cap = cap, .kv = s->cache, .rows = G};
        if (run_prefixes(s, keys + lo, G, &kv, err) < 0 ||
            run_labels(s, keys + lo, G, &kv, ll, err) < 0)
            return -1;
    }
    return 0;
}

int ft_scorer_run(ft_scorer *s, const char *const *texts, const size_t *lens, size_t n,
                  double *loglik, double *probs, ft_err *err)
{
    size_t n_rows = n * (size_t)s->L, n_alone = 0, n_shared = 0;
    double *ll = loglik;

    if (n == 0)
        return 0;
    if (!ll && !(ll = ft_malloc(n_rows * sizeof *ll, err)))
        return -1;
    if (ft_grow(&s->rows, &s->cap_rows, n_rows, sizeof *s->rows, err) < 0 ||
        ft_grow(&s->split, &s->cap_split, n, sizeof *s->split, err) < 0 ||
        ft_grow(&s->row_keys, &s->cap_row_keys, n_rows, sizeof *s->row_keys, err) < 0 ||
        ft_grow(&s->text_keys, &s->cap_text_keys, n, sizeof *s->text_keys, err) < 0)
        goto fail;

    /* Every (text, label) row, texts cut to fit. */
    s->n_ids = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = lens[i];
        int f = fits(s, texts[i], len, err);
        if (f == 0 && cut_text(s, texts[i], len, &len, err) < 0)
            f = -1;
        if (f < 0) {
            ft_err_prefix(err, "text %zu", i + 1);
            goto fail;
        }
        for (int l = 0; l < s->L; l++) {
            score_row *r = &s->rows[i * (size_t)s->L + (size_t)l];
            size_t at = s->n_ids, k;
            if (encode_row(s, texts[i], len, l, &k, err) < 0) {
                ft_err_prefix(err, "text %zu", i + 1);
                goto fail;
            }
            *r = (score_row){i, l, (uint32_t)at, (uint32_t)k, 0};
            for (size_t t = 1; t < k; t++)
                r->n_targets += s->mask[at + t];
            if (r->n_targets == 0) {
                ft_err_set(err, "text %zu: label '%s' has no tokens", i + 1, s->labels[l]);
                goto fail;
            }
        }
    }

    /* Texts whose rows share leading tokens run them once (the longest
     * first); the others, row by row. */
    for (size_t i = 0; i < n; i++) {
        s->split[i] = s->share ? shared_split(s, i) : 0;
        for (int l = 0; l < s->L; l++)
            ll[i * (size_t)s->L + (size_t)l] = 0;
        if (s->split[i] > 0) {
            s->text_keys[n_shared++] = sort_key((uint32_t)s->split[i], i);
            continue;
        }
        for (int l = 0; l < s->L; l++) {
            size_t at = i * (size_t)s->L + (size_t)l;
            s->row_keys[n_alone++] = sort_key(s->rows[at].len, at);
        }
    }
    qsort(s->text_keys, n_shared, sizeof *s->text_keys, by_key);
    qsort(s->row_keys, n_alone, sizeof *s->row_keys, by_key);
    if ((n_shared && score_shared(s, s->text_keys, n_shared, ll, err) < 0) ||
        (n_alone && score_rows(s, s->row_keys, n_alone, ll, err) < 0))
        goto fail;
    for (size_t i = 0; s->length_norm && i < n_rows; i++)
        ll[i] /= s->rows[i].n_targets;

    /* Softmax across each text's labels. */
    for (size_t i = 0; probs && i < n; i++) {
        const double *x = ll + i * (size_t)s->L;
        double mx = x[0], z = 0;
        for (int l = 1; l < s->L; l++)
            mx = x[l] > mx ? x[l] : mx;
        for (int l = 0; l < s->L; l++)
            z += exp(x[l] - mx);
        for (int l = 0; l < s->L; l++)
            probs[i * (size_t)s->L + (size_t)l] = exp(x[l] - mx) / z;
    }
    if (!loglik)
        free(ll);
    return 0;
fail:
    if (!loglik)
        free(ll);
    return -1;
}

/* --- Everything loaded ------------------------------------------------------ */

/* The tokenizer: the path given, else the model's tokenizer.json. */
static ft_tokenizer *model_tokenizer(const char *model, const char *tokenizer, ft_err *err)
{
    struct stat st;
    char *data;
    size_t n;

    if (tokenizer)
        return ft_tokenizer_load(tokenizer, err);
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode))
        return ft_tokenizer_load(model, err);
    /* A GGUF file: the tokenizer in its tokenizer.ggml.* metadata. */
    if (ft_gguf_is_gguf(model))
        return ft_gguf_tokenizer_load(model, err);
    int rc = ft_checkpoint_read_file(model, "tokenizer.json", &data, &n, err);
    if (rc == 0)
        ft_err_set(err, "%s: no tokenizer in the model (give --tokenizer)", model);
    if (rc <= 0)
        return NULL;
    ft_tokenizer *t = ft_tokenizer_load_json(data, n, model, err);
    free(data);
    return t;
}

ft_scorer *ft_scorer_open(const char *model, const char *adapter, const char *tokenizer,
                          const ft_score_opts *o, ft_err *err)
{
    ft_score_opts so = {0};
    ft_task_meta meta = {0};
    ft_model *m = NULL;
    ft_tokenizer *tok = NULL;
    ft_lora *lora = NULL;
    ft_prefix_adapter *pa = NULL;
    ft_scorer *s = NULL;
    int kind = 0;

    if (o)
        so = *o;

    /* The task as stored: the adapter's, else the model's. */
    if (ft_task_meta_read(adapter ? adapter : model, &meta, err) < 0)
        return NULL;
    if (!so.labels) {
        if (!meta.n_labels) {
            ft_err_setk(err, FT_ERR_USAGE, "%s: no label set stored (it was not trained "
                        "with --task classify): give the labels",
                        adapter ? adapter : model);
            goto fail;
        }
        so.labels = (const char *const *)meta.labels;
        so.n_labels = meta.n_labels;
        if (!so.words)
            so.words = (const char *const *)meta.words;
    }
    if (!so.template_spec)
        so.template_spec = meta.template_spec;
    if (!so.max_len)
        so.max_len = meta.max_len;

    /* Model, tokenizer, adapter. */
    if (!(m = ft_checkpoint_load(model, err)) || !(tok = model_tokenizer(model, tokenizer, err)))
        goto fail;
    if (adapter && (kind = ft_adapter_kind(adapter, err)) < 0)
        goto fail;
    if (kind == FT_ADAPTER_LORA && !(lora = ft_lora_apply(m, adapter, err)))
        goto fail;
    if (kind == FT_ADAPTER_PREFIX && !(pa = ft_prefix_apply(m, adapter, err)))
        goto fail;
    if (!so.max_len || (pa && so.max_len > m->cfg.max_pos - pa->N))
        so.max_len = m->cfg.max_pos - (pa ? pa->N : 0);

    s = ft_scorer_new(m, tok, pa ? ft_prefix_seam(pa, NULL) : NULL, &so, 1, err);
    if (!s)
        goto fail;
    s->owns = 1;
    s->lora = lora;
    s->pa = pa;
    s->meta = meta;
    return s;
fail:
    if (lora)
        ft_model_set_hook(m, NULL);
    ft_lora_free(lora);
    ft_prefix_free(pa);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    ft_task_meta_free(&meta);
    return NULL;
}
