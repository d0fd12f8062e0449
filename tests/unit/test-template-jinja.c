/* test-template-jinja: ft's chatml, llama3 and llama2 renderings against
 * the Jinja chat templates of Qwen2, Llama 3 and Llama 2 chat
 * (tests/ref/chat_templates.py renders them with python3-jinja2 and states
 * the normalisations). For every conversation the text of ft's segments,
 * with BOS and EOS written out where ft puts those ids, must equal the
 * reference rendering, and the target segments must be exactly every
 * assistant answer followed by its family's end marker (<|im_end|>,
 * <|eot_id|>, or </s>). A one-exchange conversation must render the same
 * through the sft path. Skips when python3-jinja2 is missing. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/template.h"
#include "check.h"

/* The rendering as text: BOS/EOS spelled, and the targets apart. */
static void flatten(const ft_rendered *r, const char *bos, const char *eos, char *all,
                    char *targets, size_t cap)
{
    size_t a = 0, t = 0;
    a += (size_t)snprintf(all + a, cap - a, "%s", bos);
    for (size_t i = 0; i < r->n_seg; i++) {
        const ft_segment *g = &r->seg[i];
        if (g->bos_before)
            a += (size_t)snprintf(all + a, cap - a, "%s", bos);
        a += (size_t)snprintf(all + a, cap - a, "%.*s", (int)g->len, r->text + g->off);
        if (g->target)
            t += (size_t)snprintf(targets + t, cap - t, "%.*s", (int)g->len, r->text + g->off);
        if (g->eos_after) {
            a += (size_t)snprintf(all + a, cap - a, "%s", eos);
            if (g->target)
                t += (size_t)snprintf(targets + t, cap - t, "%s", eos);
        }
    }
}

int main(void)
{
    const char *root = getenv("FT_ROOT");
    char cmd[4096];
    static char all[65536], targets[65536], want_targets[65536];
    json_error_t je;
    ft_err err;

    if (!root)
        CHECK_SKIP("FT_ROOT is not set (run through make check)");
    if (system("/usr/bin/python3 -c 'import jinja2' 2>/dev/null") != 0)
        CHECK_SKIP("skip: /usr/bin/python3 cannot import jinja2 (apt install python3-jinja2)");
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/chat_templates.py", root);
    FILE *p = popen(cmd, "r");
    json_t *ref = p ? json_loadf(p, 0, &je) : NULL;
    if (p)
        CHECK(pclose(p) == 0);
    CHECK(ref != NULL);
    if (!ref)
        return check_done();

    size_t k;
    json_t *c;
    json_array_foreach(json_object_get(ref, "cases"), k, c) {
        const char *name = json_string_value(json_object_get(c, "template"));
        const char *bos = json_string_value(json_object_get(c, "bos"));
        const char *eos = *json_string_value(json_object_get(c, "eos"))
                              ? json_string_value(json_object_get(c, "eos"))
                              : "<EOS not expected>";
        const char *close = !strcmp(name, "chatml")   ? "<|im_end|>"
                            : !strcmp(name, "llama3") ? "<|eot_id|>"
                                                      : "</s>";
        json_t *msgs = json_object_get(c, "messages");
        size_t n = json_array_size(msgs), w = 0;
        ft_turn turns[16];
        for (size_t i = 0; i < n && i < 16; i++) {
            json_t *m = json_array_get(msgs, i);
            turns[i].role = json_string_value(json_object_get(m, "role"));
            turns[i].content = json_string_value(json_object_get(m, "content"));
            turns[i].len = strlen(turns[i].content);
            if (!strcmp(turns[i].role, "assistant"))
                w += (size_t)snprintf(want_targets + w, sizeof want_targets - w, "%s%s",
                                      turns[i].content, close);
        }

        ft_template *t = ft_template_new(name, &err);
        ft_rendered r;
        ft_rendered_init(&r);
        CHECK_MSG(t && ft_template_chat(t, &r, turns, n, &err) == 0, "%s case %zu: %s", name,
                  k, err.msg);
        flatten(&r, bos, eos, all, targets, sizeof all);
        CHECK_MSG(!strcmp(all, json_string_value(json_object_get(c, "text"))),
                  "%s case %zu:\n  ft:  %s\n  ref: %s", name, k, all,
                  json_string_value(json_object_get(c, "text")));
        CHECK_MSG(!strcmp(targets, want_targets), "%s case %zu targets: %s", name, k, targets);

        /* One exchange (with a system turn): the sft path says the same. */
        if (n == 3 && !strcmp(turns[0].role, "system")) {
            char *sys = strndup(turns[0].content, turns[0].len);
            CHECK(ft_template_sft(t, &r, sys, turns[1].content, turns[1].len,
                                  turns[2].content, turns[2].len, &err) == 0);
            flatten(&r, bos, eos, all, targets, sizeof all);
            CHECK_MSG(!strcmp(all, json_string_value(json_object_get(c, "text"))),
                      "%s sft:\n  ft:  %s", name, all);
            free(sys);
        }
        ft_rendered_free(&r);
        ft_template_free(t);
    }
    json_decref(ref);
    return check_done();
}
