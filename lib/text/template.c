/* template: rendering records into context and target segments
 * (see template.h for the formats and the conventions). */
#include "text/template.h"

#include <stdlib.h>
#include <string.h>

/* A built-in format. Strings are literal context unless said otherwise. */
typedef struct fmt {
    const char *name;
    const char *default_system;
    const char *system_open, *system_close; /* around the system text */
    const char *user_open, *user_close;     /* around a user turn, up to the answer */
    const char *chat_user_close;            /* user_close in multi-turn chat, if other */
    const char *answer_close;               /* end-of-turn marker, part of the target */
    int eos;                                /* EOS after the answer (target) */
    const char *turn_sep;                   /* context after an answer */
    int system_in_user;                     /* llama2: system inside the first [INST] */
    int bos_each_turn;                      /* llama2: <s> before every later [INST] */
} fmt;

static const fmt builtins[] = {
    {.name = "plain",
     .system_close = "\n",
     .user_open = "",
     .user_close = "",
     .chat_user_close = "\n",
     .answer_close = "",
     .eos = 1,
     .turn_sep = "\n"},
    /* LLaMA-Factory's "alpaca" template (Stanford Alpaca's wording). The
     * separator after EOS is context: nothing after EOS is learned. */
    {.name = "alpaca",
     .default_system = "Below is an instruction that describes a task. Write a response "
                       "that appropriately completes the request.\n\n",
     .user_open = "### Instruction:\n",
     .user_close = "\n\n### Response:\n",
     .answer_close = "",
     .eos = 1,
     .turn_sep = "\n\n"},
    /* Qwen2's chat format. <|im_end|> ends the answer and is the stop token
     * of Qwen2's generation_config, so no separate EOS. */
    {.name = "chatml",
     .system_open = "<|im_start|>system\n",
     .system_close = "<|im_end|>\n",
     .user_open = "<|im_start|>user\n",
     .user_close = "<|im_end|>\n<|im_start|>assistant\n",
     .answer_close = "<|im_end|>",
     .turn_sep = "\n"},
    /* Meta's Llama 2 chat format; the tokenizer's add_bos_token gives the
     * first <s>, and each later [INST] starts after the previous answer's
     * EOS. */
    {.name = "llama2",
     .system_open = "<<SYS>>\n",
     .system_close = "\n<</SYS>>\n\n",
     .user_open = "[INST] ",
     .user_close = " [/INST]",
     .answer_close = "",
     .eos = 1,
     .turn_sep = "",
     .system_in_user = 1,
     .bos_each_turn = 1},
    /* Meta's Llama 3 instruct format; <|eot_id|> ends every turn and is in
     * Llama 3's generation_config EOS list. */
    {.name = "llama3",
     .system_open = "<|start_header_id|>system<|end_header_id|>\n\n",
     .system_close = "<|eot_id|>",
     .user_open = "<|start_header_id|>user<|end_header_id|>\n\n",
     .user_close = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
     .answer_close = "<|eot_id|>",
     .turn_sep = ""},
};

struct ft_template {
    char *spec;
    const fmt *builtin;  /* NULL for a custom string */
    const char *hole;    /* "{prompt}" or "{text}" in spec */
};

ft_template *ft_template_new(const char *spec, ft_err *err)
{
    ft_template *t = ft_calloc(1, sizeof *t, err);

    if (!t)
        return NULL;
    t->spec = ft_strdup(spec, err);
    if (!t->spec) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (!strcmp(spec, builtins[i].name))
            t->builtin = &builtins[i];
    if (!t->builtin) {
        t->hole = strstr(spec, "{prompt}") ? "{prompt}" : strstr(spec, "{text}") ? "{text}" : NULL;
        if (!t->hole) {
            ft_err_setk(err, FT_ERR_USAGE,
                        "template '%s' is neither a built-in (plain, alpaca, chatml, "
                        "llama2, llama3) nor a string with {prompt} or {text}",
                        spec);
            ft_template_free(t);
            return NULL;
        }
    }
    return t;
}

void ft_template_free(ft_template *t)
{
    if (!t)
        return;
    free(t->spec);
    free(t);
}

const char *ft_template_spec(const ft_template *t)
{
    return t->spec;
}

void ft_rendered_init(ft_rendered *r)
{
    memset(r, 0, sizeof *r);
}

void ft_rendered_reset(ft_rendered *r)
{
    r->len = 0;
    r->n_seg = 0;
}

void ft_rendered_free(ft_rendered *r)
{
    free(r->text);
    free(r->seg);
    memset(r, 0, sizeof *r);
}

/* Append bytes to the current segment of the given kind, opening a new one
 * when the kind changes or the last one ended with an EOS. */
static int put(ft_rendered *r, const char *s, size_t n, int target, ft_err *err)
{
    if (n == 0)
        return 0;
    if (ft_grow(&r->text, &r->cap, r->len + n + 1, 1, err) < 0)
        return -1;
    ft_segment *last = r->n_seg ? &r->seg[r->n_seg - 1] : NULL;
    if (!last || last->target != target || last->eos_after) {
        if (ft_grow(&r->seg, &r->seg_cap, r->n_seg + 1, sizeof *r->seg, err) < 0)
            return -1;
        last = &r->seg[r->n_seg++];
        last->off = r->len;
        last->len = 0;
        last->target = target;
        last->eos_after = 0;
        last->bos_before = 0;
    }
    memcpy(r->text + r->len, s, n);
    r->len += n;
    r->text[r->len] = '\0';
    last->len += n;
    return 0;
}

static int put_str(ft_rendered *r, const char *s, int target, ft_err *err)
{
    return s ? put(r, s, strlen(s), target, err) : 0;
}

/* End the answer: mark EOS on the last target segment (creating an empty
 * one if the answer was empty, so the EOS still carries loss). */
static int put_eos(ft_rendered *r, ft_err *err)
{
    ft_segment *last = r->n_seg ? &r->seg[r->n_seg - 1] : NULL;
    if (!last || !last->target || last->eos_after) {
        if (ft_grow(&r->seg, &r->seg_cap, r->n_seg + 1, sizeof *r->seg, err) < 0)
            return -1;
        last = &r->seg[r->n_seg++];
        last->off = r->len;
        last->len = 0;
        last->target = 1;
        last->bos_before = 0;
    }
    last->eos_after = 1;
    return 0;
}

/* One exchange of a built-in format: [system] user answer. first says
 * whether this is the conversation's first exchange; classify drops the
 * end marker and EOS from the answer. */
static int put_exchange(ft_rendered *r, const fmt *f, const char *system, size_t system_len,
                        int first, const char *user, size_t user_len, const char *answer,
                        size_t answer_len, int chat, int classify, ft_err *err)
{
    int rc = 0;

    if (first && system && !f->system_in_user) {
        rc |= put_str(r, f->system_open, 0, err);
        rc |= put(r, system, system_len, 0, err);
        rc |= put_str(r, f->system_close, 0, err);
    }
    size_t seg_before = r->n_seg;
    rc |= put_str(r, f->user_open, 0, err);
    if (!first && f->bos_each_turn && r->n_seg > seg_before)
        r->seg[seg_before].bos_before = 1;
    if (first && system && f->system_in_user) {
        rc |= put_str(r, f->system_open, 0, err);
        rc |= put(r, system, system_len, 0, err);
        rc |= put_str(r, f->system_close, 0, err);
    }
    rc |= put(r, user, user_len, 0, err);
    rc |= put_str(r, chat && f->chat_user_close ? f->chat_user_close : f->user_close, 0, err);
    if (classify && f == &builtins[0])
        rc |= put(r, " ", 1, 1, err);
    rc |= put(r, answer, answer_len, 1, err);
    if (rc)
        return -1;
    if (classify)
        return 0;
    if (put_str(r, f->answer_close, 1, err) < 0)
        return -1;
    if (f->eos || !*f->answer_close)
        return put_eos(r, err);
    return 0;
}

/* A custom template: the string with its hole filled is the context. */
static int put_custom(ft_rendered *r, const ft_template *t, const char *prompt,
                      size_t prompt_len, ft_err *err)
{
    const char *p = t->spec, *hole;
    size_t hl = strlen(t->hole);

    while ((hole = strstr(p, t->hole))) {
        if (put(r, p, hole - p, 0, err) < 0 || put(r, prompt, prompt_len, 0, err) < 0)
            return -1;
        p = hole + hl;
    }
    return put_str(r, p, 0, err);
}

int ft_template_sft(const ft_template *t, ft_rendered *out, const char *system,
                    const char *prompt, size_t prompt_len, const char *response,
                    size_t response_len, ft_err *err)
{
    ft_rendered_reset(out);
    if (!t->builtin) {
        if (put_custom(out, t, prompt, prompt_len, err) < 0 ||
            put(out, response, response_len, 1, err) < 0)
            return -1;
        return put_eos(out, err);
    }
    const fmt *f = t->builtin;
    if (!system)
        system = f->default_system;
    return put_exchange(out, f, system, system ? strlen(system) : 0, 1, prompt, prompt_len,
                        response, response_len, 0, 0, err);
}

int ft_template_classify(const ft_template *t, ft_rendered *out, const char *text,
                         size_t text_len, const char *label_word, size_t label_len,
                         ft_err *err)
{
    ft_rendered_reset(out);
    if (!t->builtin)
        return put_custom(out, t, text, text_len, err) < 0 || put(out, " ", 1, 1, err) < 0 ||
                       put(out, label_word, label_len, 1, err) < 0
                   ? -1
                   : 0;
    const fmt *f = t->builtin;
    const char *system = f->default_system;
    return put_exchange(out, f, system, system ? strlen(system) : 0, 1, text, text_len,
                        label_word, label_len, 0, 1, err);
}

int ft_template_chat(const ft_template *t, ft_rendered *out, const ft_turn *turns,
                     size_t n_turns, ft_err *err)
{
    const fmt *f = t->builtin;
    const char *system = f ? f->default_system : NULL;
    size_t system_len = system ? strlen(system) : 0, i = 0;
    int answers = 0;

    ft_rendered_reset(out);
    if (!f)
        return ft_err_setk(err, FT_ERR_USAGE,
                           "a custom template has no turns: use plain, alpaca, chatml, "
                           "llama2 or llama3 for chat");
    if (n_turns > 0 && !strcmp(turns[0].role, "system")) {
        system = turns[0].content;
        system_len = turns[0].len;
        i = 1;
    }
    /* Turns come as user, assistant pairs. */
    for (; i < n_turns; i += 2) {
        if (strcmp(turns[i].role, "user"))
            return ft_err_set(err, "turn %zu: expected role \"user\", found \"%s\"", i + 1,
                              turns[i].role);
        if (i + 1 >= n_turns)
            break; /* a trailing question with no answer carries no loss */
        if (strcmp(turns[i + 1].role, "assistant"))
            return ft_err_set(err, "turn %zu: expected role \"assistant\", found \"%s\"",
                              i + 2, turns[i + 1].role);
        if (answers > 0 && put_str(out, f->turn_sep, 0, err) < 0)
            return -1;
        if (put_exchange(out, f, system, system_len, answers == 0, turns[i].content,
                         turns[i].len, turns[i + 1].content, turns[i + 1].len, 1, 0,
                         err) < 0)
            return -1;
        answers++;
    }
    if (!answers)
        return ft_err_set(err, "no assistant turn to learn from");
    return 0;
}

/* Append one id with its mask bit, growing both arrays together. */
static int push_id(int32_t id, int target, int32_t **ids, uint8_t **mask, size_t *n,
                   size_t *cap, ft_err *err)
{
    size_t c = *cap;
    if (ft_grow(ids, cap, *n + 1, sizeof **ids, err) < 0 ||
        ft_grow(mask, &c, *cap, 1, err) < 0)
        return -1;
    (*ids)[*n] = id;
    (*mask)[*n] = (uint8_t)target;
    (*n)++;
    return 0;
}

int ft_rendered_encode(ft_tokenizer *tok, const ft_rendered *r, int32_t **ids,
                       uint8_t **mask, size_t *n, size_t *cap, ft_err *err)
{
    const int32_t *pre;
    size_t n_pre = ft_tokenizer_prefix(tok, &pre);

    for (size_t i = 0; i < n_pre; i++)
        if (push_id(pre[i], 0, ids, mask, n, cap, err) < 0)
            return -1;
    for (size_t s = 0; s < r->n_seg; s++) {
        const ft_segment *g = &r->seg[s];
        if (g->bos_before) {
            int32_t bos = ft_tokenizer_bos(tok);
            if (bos < 0)
                return ft_err_set(err, "the template needs a BOS token and the tokenizer "
                                  "has none");
            if (push_id(bos, 0, ids, mask, n, cap, err) < 0)
                return -1;
        }

        /* The segment's own ids; the mask grows to the same capacity. */
        size_t before = *n, c = *cap;
        if (g->len && ft_tokenizer_encode(tok, r->text + g->off, g->len, FT_TOK_FIX_UTF8,
                                          ids, n, cap, err) < 0)
            return -1;
        if (ft_grow(mask, &c, *cap, 1, err) < 0)
            return -1;
        memset(*mask + before, g->target ? 1 : 0, *n - before);

        if (g->eos_after) {
            int32_t eos = ft_tokenizer_eos(tok);
            if (eos < 0)
                return ft_err_set(err, "the template ends answers with EOS and the "
                                  "tokenizer has none");
            if (push_id(eos, g->target, ids, mask, n, cap, err) < 0)
                return -1;
        }
    }
    return 0;
}
