/* Unit tests of lib/text/template: for each built-in template and each task,
 * the exact text of every segment and which segments carry loss, spelled
 * out by hand from the formats' own documentation (LLaMA-Factory's alpaca,
 * Qwen2's ChatML, Meta's Llama 2 and Llama 3 chat formats). */
#include "check.h"
#include "text/template.h"

/* Render description: "c:" context, "t:" target, "t+:" target then EOS. */
static void expect(const ft_rendered *r, const char *const *want, int n)
{
    CHECK_INT(r->n_seg, n);
    for (int i = 0; i < n && i < (int)r->n_seg; i++) {
        const ft_segment *s = &r->seg[i];
        const char *w = want[i];
        int target = w[0] == 't', eos = w[1] == '+';
        const char *text = strchr(w, ':') + 1;
        CHECK_MSG(s->target == target && s->eos_after == eos, "segment %d flags %d%d", i,
                  s->target, s->eos_after);
        CHECK_MSG(s->len == strlen(text) && !memcmp(r->text + s->off, text, s->len),
                  "segment %d: \"%.*s\" != \"%s\"", i, (int)s->len, r->text + s->off, text);
    }
}

static void test_sft(void)
{
    ft_rendered r;
    ft_err err;
    ft_template *t;

    ft_rendered_init(&r);

    t = ft_template_new("alpaca", &err);
    CHECK(ft_template_sft(t, &r, NULL, "Add 2 and 3.", 12, "5", 1, &err) == 0);
    const char *alpaca[] = {
        "c:Below is an instruction that describes a task. Write a response that "
        "appropriately completes the request.\n\n### Instruction:\nAdd 2 and 3.\n\n"
        "### Response:\n",
        "t+:5"};
    expect(&r, alpaca, 2);
    ft_template_free(t);

    t = ft_template_new("chatml", &err);
    CHECK(ft_template_sft(t, &r, "Be brief.", "Hi", 2, "Hello", 5, &err) == 0);
    const char *chatml[] = {"c:<|im_start|>system\nBe brief.<|im_end|>\n"
                            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                            "t:Hello<|im_end|>"};
    expect(&r, chatml, 2);
    ft_template_free(t);

    t = ft_template_new("llama3", &err);
    CHECK(ft_template_sft(t, &r, NULL, "Hi", 2, "Hello", 5, &err) == 0);
    const char *llama3[] = {"c:<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n",
                            "t:Hello<|eot_id|>"};
    expect(&r, llama3, 2);
    ft_template_free(t);

    t = ft_template_new("llama2", &err);
    CHECK(ft_template_sft(t, &r, "Be kind.", "Hi", 2, "Hello", 5, &err) == 0);
    const char *llama2[] = {"c:[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST]",
                            "t+:Hello"};
    expect(&r, llama2, 2);
    ft_template_free(t);

    t = ft_template_new("Q: {prompt}\nA:", &err);
    CHECK(t != NULL);
    CHECK(ft_template_sft(t, &r, NULL, "why?", 4, " because", 8, &err) == 0);
    const char *custom[] = {"c:Q: why?\nA:", "t+: because"};
    expect(&r, custom, 2);
    ft_template_free(t);

    /* An empty response still teaches EOS. */
    t = ft_template_new("plain", &err);
    CHECK(ft_template_sft(t, &r, NULL, "x", 1, "", 0, &err) == 0);
    const char *empty[] = {"c:x", "t+:"};
    expect(&r, empty, 2);
    ft_template_free(t);

    ft_rendered_free(&r);
}

static void test_chat(void)
{
    ft_rendered r;
    ft_err err;
    ft_template *t = ft_template_new("llama2", &err);
    const ft_turn turns[] = {{"system", "S", 1},    {"user", "A", 1}, {"assistant", "B", 1},
                             {"user", "C", 1},      {"assistant", "D", 1}};

    ft_rendered_init(&r);
    CHECK(ft_template_chat(t, &r, turns, 5, &err) == 0);
    /* Meta's format: the system block only in the first [INST]; EOS after
     * each answer. */
    const char *want[] = {"c:[INST] <<SYS>>\nS\n<</SYS>>\n\nA [/INST]", "t+:B",
                          "c:[INST] C [/INST]", "t+:D"};
    expect(&r, want, 4);
    /* ... and <s> before the second [INST] ("</s><s>[INST]"). */
    CHECK(r.seg[2].bos_before == 1 && r.seg[0].bos_before == 0);
    ft_template_free(t);

    t = ft_template_new("chatml", &err);
    CHECK(ft_template_chat(t, &r, turns + 1, 4, &err) == 0);
    const char *cm[] = {"c:<|im_start|>user\nA<|im_end|>\n<|im_start|>assistant\n",
                        "t:B<|im_end|>",
                        "c:\n<|im_start|>user\nC<|im_end|>\n<|im_start|>assistant\n",
                        "t:D<|im_end|>"};
    expect(&r, cm, 4);

    /* Bad conversations. */
    const ft_turn bad[] = {{"assistant", "B", 1}};
    CHECK(ft_template_chat(t, &r, bad, 1, &err) < 0);
    CHECK_STR(err.msg, "turn 1: expected role \"user\", found \"assistant\"");
    CHECK(ft_template_chat(t, &r, turns + 1, 1, &err) < 0);
    CHECK_STR(err.msg, "no assistant turn to learn from");
    ft_template_free(t);
    ft_rendered_free(&r);
}

static void test_classify(void)
{
    ft_rendered r;
    ft_err err;
    ft_template *t = ft_template_new("Review: {text}\nSentiment:", &err);

    ft_rendered_init(&r);
    CHECK(ft_template_classify(t, &r, "great film", 10, "positive", 8, &err) == 0);
    /* The label word keeps its leading space; no EOS. */
    const char *want[] = {"c:Review: great film\nSentiment:", "t: positive"};
    expect(&r, want, 2);
    ft_template_free(t);

    t = ft_template_new("chatml", &err);
    CHECK(ft_template_classify(t, &r, "great", 5, "positive", 8, &err) == 0);
    const char *cm[] = {"c:<|im_start|>user\ngreat<|im_end|>\n<|im_start|>assistant\n",
                        "t:positive"};
    expect(&r, cm, 2);
    ft_template_free(t);

    CHECK(ft_template_new("no placeholder", &err) == NULL);
    CHECK_INT(err.kind, FT_ERR_USAGE);
    ft_rendered_free(&r);
}

int main(void)
{
    test_sft();
    test_chat();
    test_classify();
    return check_done();
}
