/* tasks: sft, chat and classify records into masked examples (see
 * tasks.h). */
#define _GNU_SOURCE
#include "train/tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/score.h"

void ft_task_source_free(ft_task_source *src)
{
    ft_strv_free(src->labels, src->n_labels);
    ft_strv_free(src->words, src->n_labels);
    for (size_t i = 0; i < src->n_kept; i++) {
        free(src->kept_text[i]);
        free(src->kept_label[i]);
    }
    free(src->kept_text);
    free(src->kept_len);
    free(src->kept_label);
    ft_rendered_free(&src->r);
    free(src->ids);
    free(src->mask);
    free(src->turns);
    free(src->roles);
    src->labels = src->words = NULL;
    src->n_labels = src->cap_labels = 0;
    src->kept_text = src->kept_label = NULL;
    src->kept_len = NULL;
    src->n_kept = src->cap_kept = 0;
    src->ids = NULL;
    src->mask = NULL;
    src->cap = src->n = 0;
    src->turns = NULL;
    src->roles = NULL;
    src->cap_turns = 0;
}

char *ft_task_word(const char *verbalizer, const char *label, size_t len, ft_err *err)
{
    const char *p = verbalizer;

    /* "a=x,b=y": the word after "LABEL=", up to the next comma. */
    while (p && *p) {
        size_t item = strcspn(p, ",");
        const char *eq = memchr(p, '=', item);
        if (eq && (size_t)(eq - p) == len && !memcmp(p, label, len))
            return strndup(eq + 1, item - (size_t)(eq - p) - 1);
        p += item + (p[item] == ',');
    }
    char *w = strndup(label, len);
    if (!w)
        ft_err_set(err, "out of memory");
    return w;
}

/* --- Rendering and fitting -------------------------------------------------- */

/* Tokenize the current rendering into src->ids / mask. */
static int encode(ft_task_source *src, ft_err *err)
{
    src->n = 0;
    return ft_rendered_encode(src->tok, &src->r, &src->ids, &src->mask, &src->n, &src->cap,
                              err);
}

/* What is being fitted: a text (classify), a prompt (sft) or the last user
 * turn (chat), rendered with the rest of its record. */
typedef struct fit_ctx {
    ft_task_source *src;
    const char *text;           /* the part that may be cut */
    size_t len;
    const char *word;           /* classify */
    size_t word_len;
    const char *system;         /* sft */
    size_t system_len;
    const char *response;       /* sft */
    size_t response_len;
    size_t n_turns;             /* chat: turns[last_user] holds the cut text */
    size_t last_user;
} fit_ctx;

/* Render with the cut part text[a..b); 1 when the tokens fit. */
static int render_fits(fit_ctx *c, size_t a, size_t b, ft_err *err)
{
    ft_task_source *src = c->src;
    int rc;

    switch (src->task) {
    case FT_TASK_CLASSIFY:
        rc = ft_template_classify(src->tpl, &src->r, c->text + a, b - a, c->word, c->word_len,
                                  err);
        break;
    case FT_TASK_SFT: {
        char *sys = c->system ? strndup(c->system, c->system_len) : NULL;
        if (c->system && !sys)
            return ft_err_set(err, "out of memory");
        rc = ft_template_sft(src->tpl, &src->r, sys, c->text + a, b - a, c->response,
                             c->response_len, err);
        free(sys);
        break;
    }
    default:
        src->turns[c->last_user].content = c->text + a;
        src->turns[c->last_user].len = b - a;
        rc = ft_template_chat(src->tpl, &src->r, src->turns, c->n_turns, err);
        break;
    }
    if (rc < 0 || encode(src, err) < 0)
        return -1;
    return src->n <= (size_t)src->max_len;
}

static int char_start(const char *s, size_t len, size_t i)
{
    return i == 0 || i >= len || ((unsigned char)s[i] & 0xC0) != 0x80;
}

/* Cut c->text to fit: keep a prefix (from_left 0) or a suffix (1), the
 * longest that fits, by bisection over character boundaries. *a, *b get
 * the kept range. An empty part that does not fit is an error. */
static int fit_cut(fit_ctx *c, int from_left, size_t *a, size_t *b, ft_err *err)
{
    size_t lo = 0, hi = c->len; /* candidate kept lengths in bytes */
    int f = from_left ? render_fits(c, c->len, c->len, err) : render_fits(c, 0, 0, err);

    if (f <= 0)
        return f < 0 ? -1 : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2, at;

        /* Move to a character boundary inside (lo, hi], else give up there. */
        while (mid > lo && !char_start(c->text, c->len, from_left ? c->len - mid : mid))
            mid--;
        if (mid == lo) {
            size_t k = hi;
            while (k > lo && !char_start(c->text, c->len, from_left ? c->len - k : k))
                k--;
            if (k == lo)
                break;
            mid = k;
        }
        at = from_left ? c->len - mid : mid;
        f = from_left ? render_fits(c, at, c->len, err) : render_fits(c, 0, at, err);
        if (f < 0)
            return -1;
        if (f)
            lo = mid;
        else
            hi = mid - 1;
    }
    *a = from_left ? c->len - lo : 0;
    *b = from_left ? c->len : lo;
    return 1;
}

/* Render the record whole; if too long, cut as the task says. The final
 * rendering is left in src->ids / mask. */
static int fit_record(fit_ctx *c, int from_left, const char *what, ft_err *err)
{
    ft_task_source *src = c->src;
    size_t a, b;
    int f = render_fits(c, 0, c->len, err);

    if (f != 0)
        return f;
    if (!src->truncate)
        return ft_err_set(err, "%zu tokens, more than --max-len %d (truncation is off)",
                          src->n, src->max_len);
    if ((f = fit_cut(c, from_left, &a, &b, err)) < 0)
        return -1;
    if (f == 0)
        return ft_err_set(err, "does not fit --max-len %d tokens even with an empty %s",
                          src->max_len, what);
    src->n_truncated++;
    return render_fits(c, a, b, err) < 0 ? -1 : 1;
}

/* --- Fields ---------------------------------------------------------------- */

static int get_str(const ft_record *rec, const char *key, int required, const char **s,
                   size_t *len, ft_err *err)
{
    const ft_field *f = ft_record_get(rec, key);

    *s = NULL;
    *len = 0;
    if (!f || ft_field_is_nil(f))
        return required ? ft_err_set(err, "no \"%s\" field", key) : 0;
    return ft_field_str(f, s, len, err);
}

static int get_weight(const ft_record *rec, double *w, ft_err *err)
{
    const ft_field *wf = ft_record_get(rec, "weight");

    *w = 1.0;
    if (!wf || ft_field_is_nil(wf))
        return 0;
    if (ft_field_num(wf, w, err) < 0)
        return -1;
    if (!isfinite(*w) || *w < 0)
        return ft_err_set(err, "field weight: %g is not a finite number >= 0", *w);
    return 0;
}

/* The label's index, adding it to a set taken from the data. */
static int label_index(ft_task_source *src, const char *s, size_t len, ft_err *err)
{
    for (int l = 0; l < src->n_labels; l++)
        if (strlen(src->labels[l]) == len && !memcmp(src->labels[l], s, len))
            return l;
    if (src->fixed) {
        char list[256];
        size_t at = 0;
        for (int l = 0; l < src->n_labels && at < sizeof list - 8; l++)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", l ? "," : "",
                                   src->labels[l]);
        return ft_err_set(err, "label \"%.*s\" is not in the label set (%s)", (int)len, s,
                          list);
    }
    size_t cap = (size_t)src->cap_labels, cw = cap;
    if (ft_grow(&src->labels, &cap, (size_t)src->n_labels + 1, sizeof *src->labels, err) < 0 ||
        ft_grow(&src->words, &cw, cap, sizeof *src->words, err) < 0)
        return -1;
    src->cap_labels = (int)cap;
    int l = src->n_labels;
    src->labels[l] = strndup(s, len);
    src->words[l] = ft_task_word(src->verbalizer, s, len, err);
    if (!src->labels[l] || !src->words[l]) {
        free(src->labels[l]);
        free(src->words[l]);
        return ft_err_set(err, "out of memory");
    }
    src->n_labels++;
    return l;
}

static int keep_text(ft_task_source *src, const char *text, size_t len, const char *label,
                     size_t label_len, ft_err *err)
{
    size_t c1 = src->cap_kept, c2 = c1, c3 = c1;
    if (ft_grow(&src->kept_text, &c1, src->n_kept + 1, sizeof *src->kept_text, err) < 0 ||
        ft_grow(&src->kept_len, &c2, c1, sizeof *src->kept_len, err) < 0 ||
        ft_grow(&src->kept_label, &c3, c1, sizeof *src->kept_label, err) < 0)
        return -1;
    src->cap_kept = c1;
    char *t = strndup(text, len), *l = strndup(label, label_len);
    if (!t || !l) {
        free(t);
        free(l);
        return ft_err_set(err, "out of memory");
    }
    src->kept_text[src->n_kept] = t;
    src->kept_len[src->n_kept] = len;
    src->kept_label[src->n_kept] = l;
    src->n_kept++;
    return 0;
}

/* --- The three tasks ------------------------------------------------------- */

static int classify_record(ft_task_source *src, const ft_record *rec, ft_err *err)
{
    const char *text, *label;
    size_t len, label_len;
    char num[32];
    const ft_field *lf = ft_record_get(rec, "label");
    int64_t iv;

    if (get_str(rec, "text", 1, &text, &len, err) < 0)
        return -1;
    if (!lf || ft_field_is_nil(lf))
        return ft_err_set(err, "no \"label\" field");
    if (ft_field_int(lf, &iv, err) == 0) {
        /* an integer label reads as its decimal name */
        label_len = (size_t)snprintf(num, sizeof num, "%lld", (long long)iv);
        label = num;
    } else if (ft_field_str(lf, &label, &label_len, err) < 0) {
        return ft_err_set(err, "field label: expected a string");
    }
    if (label_len == 0)
        return ft_err_set(err, "field label: empty");
    int l = label_index(src, label, label_len, err);
    if (l < 0)
        return -1;
    if (src->keep && keep_text(src, text, len, label, label_len, err) < 0)
        return -1;
    fit_ctx c = {.src = src, .text = text, .len = len, .word = src->words[l],
                 .word_len = strlen(src->words[l])};
    return fit_record(&c, 0, "text", err);
}

static int sft_record(ft_task_source *src, const ft_record *rec, ft_err *err)
{
    fit_ctx c = {.src = src};

    if (get_str(rec, "prompt", 1, &c.text, &c.len, err) < 0 ||
        get_str(rec, "response", 1, &c.response, &c.response_len, err) < 0 ||
        get_str(rec, "system", 0, &c.system, &c.system_len, err) < 0)
        return -1;
    if (c.response_len == 0)
        return ft_err_set(err, "field response: empty (there is nothing to learn)");
    return fit_record(&c, 1, "prompt", err);
}

static int is_known_role(const char *r, size_t n)
{
    static const char *const known[] = {"system", "user", "assistant"};
    for (int i = 0; i < 3; i++)
        if (strlen(known[i]) == n && !memcmp(r, known[i], n))
            return 1;
    return 0;
}

/* messages: [{role, content}, ...] into src->turns (roles copied). */
static int read_turns(ft_task_source *src, const ft_record *rec, size_t *n_turns, ft_err *err)
{
    const ft_field *f = ft_record_get(rec, "messages");
    ft_mp_cursor cur;
    uint32_t n, k;

    if (!f || ft_field_is_nil(f))
        return ft_err_set(err, "no \"messages\" field");
    cur.p = f->val;
    cur.end = f->val + f->val_bytes;
    if (ft_mp_array(&cur, &n, err) < 0)
        return ft_err_set(err, "field messages: expected an array of {role, content} maps");
    if (n == 0)
        return ft_err_set(err, "field messages: empty");
    size_t c2 = src->cap_turns;
    if (ft_grow(&src->turns, &src->cap_turns, n, sizeof *src->turns, err) < 0 ||
        ft_grow(&src->roles, &c2, src->cap_turns, sizeof *src->roles, err) < 0)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *role = NULL, *content = NULL;
        size_t role_len = 0, content_len = 0;
        if (ft_mp_map(&cur, &k, err) < 0)
            return ft_err_set(err, "messages[%u]: expected a map with role and content", i);
        for (uint32_t j = 0; j < k; j++) {
            const char *key, *s;
            size_t kl, sl;
            if (ft_mp_str(&cur, &key, &kl, err) < 0)
                return ft_err_set(err, "messages[%u]: a key is not a string", i);
            int is_role = kl == 4 && !memcmp(key, "role", 4);
            int is_content = kl == 7 && !memcmp(key, "content", 7);
            if (!is_role && !is_content) {
                if (ft_mp_skip(&cur, err) < 0)
                    return -1;
                continue;
            }
            if (ft_mp_str(&cur, &s, &sl, err) < 0)
                return ft_err_set(err, "messages[%u]: %s is not a string", i,
                                  is_role ? "role" : "content");
            if (is_role) {
                role = s;
                role_len = sl;
            } else {
                content = s;
                content_len = sl;
            }
        }
        if (!role || !content)
            return ft_err_set(err, "messages[%u]: no \"%s\"", i, role ? "content" : "role");
        if (!is_known_role(role, role_len))
            return ft_err_set(err, "messages[%u]: unknown role \"%.*s\" (system, user or "
                              "assistant)", i, (int)(role_len > 40 ? 40 : role_len), role);
        memcpy(src->roles[i], role, role_len);
        src->roles[i][role_len] = '\0';
        src->turns[i] = (ft_turn){src->roles[i], content, content_len};
    }
    *n_turns = n;
    return 0;
}

static int chat_record(ft_task_source *src, const ft_record *rec, ft_err *err)
{
    size_t n = 0, sys;
    fit_ctx c = {.src = src};

    if (read_turns(src, rec, &n, err) < 0)
        return -1;
    sys = !strcmp(src->turns[0].role, "system");

    /* A trailing question without an answer is not rendered: drop it. */
    if (n > sys && (n - sys) % 2 == 1 && !strcmp(src->turns[n - 1].role, "user"))
        n--;
    if (ft_template_chat(src->tpl, &src->r, src->turns, n, err) < 0 || encode(src, err) < 0)
        return -1;
    if (src->n <= (size_t)src->max_len)
        return 0;
    if (!src->truncate)
        return ft_err_set(err, "%zu tokens, more than --max-len %d (truncation is off)",
                          src->n, src->max_len);

    /* The oldest exchanges go first, the system turn stays. */
    while (n - sys > 2 && src->n > (size_t)src->max_len) {
        memmove(src->turns + sys, src->turns + sys + 2, (n - sys - 2) * sizeof *src->turns);
        n -= 2;
        if (ft_template_chat(src->tpl, &src->r, src->turns, n, err) < 0 ||
            encode(src, err) < 0)
            return -1;
    }
    if (src->n <= (size_t)src->max_len) {
        src->n_truncated++;
        return 0;
    }

    /* One exchange left: its question loses its start. */
    c.last_user = sys;
    c.n_turns = n;
    c.text = src->turns[sys].content;
    c.len = src->turns[sys].len;
    size_t a, b;
    int f = fit_cut(&c, 1, &a, &b, err);
    if (f < 0)
        return -1;
    if (f == 0)
        return ft_err_set(err, "does not fit --max-len %d tokens even with an empty "
                          "question", src->max_len);
    src->n_truncated++;
    return render_fits(&c, a, b, err) < 0 ? -1 : 0;
}

int ft_task_record(void *ctx, const ft_record *rec, ft_spool *s, ft_err *err)
{
    ft_task_source *src = ctx;
    double w;
    int rc;

    if (get_weight(rec, &w, err) < 0)
        return -1;
    switch (src->task) {
    case FT_TASK_SFT: rc = sft_record(src, rec, err); break;
    case FT_TASK_CHAT: rc = chat_record(src, rec, err); break;
    case FT_TASK_CLASSIFY: rc = classify_record(src, rec, err); break;
    default: return ft_err_set(err, "task %d has no record reader here", src->task);
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < src->n; i++)
        if (src->ids[i] < 0 || (src->vocab > 0 && src->ids[i] >= src->vocab))
            return ft_err_set(err, "token %ld is outside the model's vocabulary (0..%ld): "
                              "the tokenizer does not fit the model", (long)src->ids[i],
                              (long)src->vocab - 1);
    return ft_spool_add(s, src->ids, src->mask, src->n, (float)w, err);
}

/* --- The label set --------------------------------------------------------- */

int ft_task_source_sort_labels(ft_task_source *src, ft_err *err)
{
    /* insertion sort of (label, word) pairs: label sets are small */
    for (int i = 1; i < src->n_labels; i++)
        for (int j = i; j > 0 && strcmp(src->labels[j - 1], src->labels[j]) > 0; j--) {
            char *t = src->labels[j];
            src->labels[j] = src->labels[j - 1];
            src->labels[j - 1] = t;
            t = src->words[j];
            src->words[j] = src->words[j - 1];
            src->words[j - 1] = t;
        }

    /* Every name of the verbalizer must be a label met. */
    if (src->verbalizer) {
        char **w;
        if (ft_verbalizer_parse(src->verbalizer, src->labels, src->n_labels, &w, err) < 0)
            return ft_err_prefix(err, "the data's label set");
        ft_strv_free(w, src->n_labels);
    }
    return 0;
}
