/* test-tasks: the examples sft, chat and classify records become -- token
 * ids and loss masks -- spelled out by hand for every template, the
 * truncation policies, and the bad-record errors.
 *
 * The tokenizer is byte-level with one token per byte and no merges, so a
 * text's ids are its UTF-8 bytes, plus special tokens <s> (BOS, added in
 * front), </s> (EOS), and the chat markers of chatml and llama3. An
 * expectation is written as text where '|' toggles between context and
 * target (loss) and {NAME} is a special token, from the formats the model
 * families document (template.h), not from the code under test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/records.h"
#include "text/template.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/tasks.h"
#include "bytetok.h"
#include "check.h"

static const char *const specials[] = {"<s>", "</s>", "<|im_start|>", "<|im_end|>",
                                       "<|start_header_id|>", "<|end_header_id|>",
                                       "<|eot_id|>"};
static const char *const special_names[] = {"BOS", "EOS", "IMS", "IME", "SH", "EH", "EOT"};
#define N_SPECIAL 7

static ft_tokenizer *byte_tokenizer(int add_bos)
{
    return bytetok_new(specials, N_SPECIAL, add_bos);
}

/* The ids and mask an expectation spells. */
static size_t expect(const char *s, int32_t *ids, uint8_t *mask)
{
    size_t n = 0;
    int target = 0;
    while (*s) {
        if (*s == '|') {
            target = !target;
            s++;
        } else if (*s == '{') {
            size_t k = strcspn(s + 1, "}");
            int id = -1;
            for (int i = 0; i < N_SPECIAL; i++)
                if (strlen(special_names[i]) == k && !strncmp(s + 1, special_names[i], k))
                    id = 256 + i;
            ids[n] = id;
            mask[n++] = (uint8_t)target;
            s += k + 2;
        } else {
            ids[n] = (unsigned char)*s++;
            mask[n++] = (uint8_t)target;
        }
    }
    return n;
}

/* Read records through ft_task_record into a sealed spool. */
static ft_spool *run(ft_task_source *src, ft_rec_builder *recs, int n, ft_err *err)
{
    FILE *f = tmpfile();
    ft_writer *w = ft_writer_open(fileno(f), "t", 1, err);
    uint64_t hash;
    for (int i = 0; i < n; i++)
        ft_writer_put(w, &recs[i], err);
    ft_writer_close(w, err);
    fflush(f);
    int fd = dup(fileno(f));
    fclose(f);
    lseek(fd, 0, SEEK_SET);
    ft_spool *s = ft_spool_new(err);
    int rc = ft_spool_read(s, fd, "in.mp", ft_task_record, src, &hash, err);
    close(fd);
    if (rc < 0 || ft_spool_seal(s, err) < 0) {
        ft_spool_free(s);
        return NULL;
    }
    return s;
}

static ft_tokenizer *tok;

static void source(ft_task_source *src, int task, const ft_template *tpl, int max_len)
{
    memset(src, 0, sizeof *src);
    src->task = task;
    src->tok = tok;
    src->tpl = tpl;
    src->max_len = max_len;
    src->truncate = 1;
    src->vocab = 256 + N_SPECIAL;
}

/* One record's example against its spelling. */
static void check_example(const char *tag, int task, const char *tpl_spec, ft_rec_builder *r,
                          const char *want, int max_len, const char *verbalizer)
{
    ft_err err;
    ft_template *tpl = ft_template_new(tpl_spec, &err);
    ft_task_source src;
    int32_t ids[1024];
    uint8_t mask[1024];
    size_t n = expect(want, ids, mask);

    source(&src, task, tpl, max_len);
    src.verbalizer = verbalizer;
    ft_spool *s = run(&src, r, 1, &err);
    CHECK_MSG(s != NULL, "%s: %s", tag, err.msg);
    if (s) {
        uint64_t start;
        uint32_t len;
        float w;
        const int32_t *got = ft_spool_ids(s);
        const uint8_t *gm = ft_spool_mask(s);
        ft_spool_example(s, 0, &start, &len, &w);
        CHECK_MSG(len == n, "%s: %u tokens, expected %zu", tag, len, n);
        for (size_t i = 0; i < n && i < len; i++) {
            CHECK_MSG(got[start + i] == ids[i], "%s: token %zu is %d, expected %d", tag, i,
                      got[start + i], ids[i]);
            CHECK_MSG(gm && gm[start + i] == mask[i], "%s: token %zu mask %d, expected %d",
                      tag, i, gm ? gm[start + i] : -1, mask[i]);
        }
        ft_spool_free(s);
    }
    ft_task_source_free(&src);
    ft_template_free(tpl);
}

static void sft(ft_rec_builder *r, const char *system, const char *prompt, const char *resp)
{
    ft_rec_init(r);
    if (system)
        ft_rec_cstr(r, "system", system);
    ft_rec_cstr(r, "prompt", prompt);
    ft_rec_cstr(r, "response", resp);
}

/* messages from "role:content" strings */
static void chat(ft_rec_builder *r, int n, const char *const *turns)
{
    ft_rec_init(r);
    ft_rec_key(r, "messages");
    ft_rec_val_array(r, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        const char *colon = strchr(turns[i], ':');
        ft_rec_val_map(r, 2);
        ft_rec_val_str(r, "role", 4);
        ft_rec_val_str(r, turns[i], (size_t)(colon - turns[i]));
        ft_rec_val_str(r, "content", 7);
        ft_rec_val_str(r, colon + 1, strlen(colon + 1));
    }
}

static void classify(ft_rec_builder *r, const char *text, const char *label)
{
    ft_rec_init(r);
    ft_rec_cstr(r, "text", text);
    if (label)
        ft_rec_cstr(r, "label", label);
}

#define ALPACA_SYS "Below is an instruction that describes a task. Write a response that " \
                   "appropriately completes the request.\n\n"

static void test_masks(void)
{
    ft_rec_builder r;
    const char *two[] = {"user:Hi", "assistant:Yo", "user:Again", "assistant:Ok"};
    const char *sys_two[] = {"system:Be brief", "user:Hi", "assistant:Yo", "user:Again",
                             "assistant:Ok", "user:Unanswered"};

    /* sft: the prompt is context, the response and EOS are targets. */
    sft(&r, NULL, "Hi", "Yo");
    check_example("sft plain", FT_TASK_SFT, "plain", &r, "{BOS}Hi|Yo{EOS}|", 100, NULL);
    check_example("sft alpaca", FT_TASK_SFT, "alpaca", &r,
                  "{BOS}" ALPACA_SYS "### Instruction:\nHi\n\n### Response:\n|Yo{EOS}|", 200,
                  NULL);
    check_example("sft custom", FT_TASK_SFT, "Q: {prompt}\nA: ", &r, "{BOS}Q: Hi\nA: |Yo{EOS}|",
                  100, NULL);
    check_example("sft chatml", FT_TASK_SFT, "chatml", &r,
                  "{BOS}{IMS}user\nHi{IME}\n{IMS}assistant\n|Yo{IME}|", 100, NULL);
    check_example("sft llama3", FT_TASK_SFT, "llama3", &r,
                  "{BOS}{SH}user{EH}\n\nHi{EOT}{SH}assistant{EH}\n\n|Yo{EOT}|", 100, NULL);
    ft_rec_free(&r);
    sft(&r, "Be brief", "Hi", "Yo");
    check_example("sft chatml system", FT_TASK_SFT, "chatml", &r,
                  "{BOS}{IMS}system\nBe brief{IME}\n{IMS}user\nHi{IME}\n{IMS}assistant\n|Yo{IME}|",
                  100, NULL);
    check_example("sft llama2 system", FT_TASK_SFT, "llama2", &r,
                  "{BOS}[INST] <<SYS>>\nBe brief\n<</SYS>>\n\nHi [/INST]|Yo{EOS}|", 100, NULL);
    ft_rec_free(&r);

    /* chat: every assistant turn (and its end marker) is a target. */
    chat(&r, 4, two);
    check_example("chat chatml", FT_TASK_CHAT, "chatml", &r,
                  "{BOS}{IMS}user\nHi{IME}\n{IMS}assistant\n|Yo{IME}|\n"
                  "{IMS}user\nAgain{IME}\n{IMS}assistant\n|Ok{IME}|", 200, NULL);
    check_example("chat llama2", FT_TASK_CHAT, "llama2", &r,
                  "{BOS}[INST] Hi [/INST]|Yo{EOS}|{BOS}[INST] Again [/INST]|Ok{EOS}|", 200,
                  NULL);
    check_example("chat llama3", FT_TASK_CHAT, "llama3", &r,
                  "{BOS}{SH}user{EH}\n\nHi{EOT}{SH}assistant{EH}\n\n|Yo{EOT}|"
                  "{SH}user{EH}\n\nAgain{EOT}{SH}assistant{EH}\n\n|Ok{EOT}|", 200, NULL);
    check_example("chat plain", FT_TASK_CHAT, "plain", &r, "{BOS}Hi\n|Yo{EOS}|\nAgain\n|Ok{EOS}|",
                  200, NULL);
    ft_rec_free(&r);
    chat(&r, 6, sys_two);
    check_example("chat alpaca system", FT_TASK_CHAT, "alpaca", &r,
                  "{BOS}Be brief### Instruction:\nHi\n\n### Response:\n|Yo{EOS}|\n\n"
                  "### Instruction:\nAgain\n\n### Response:\n|Ok{EOS}|", 200, NULL);
    ft_rec_free(&r);

    /* classify: the label word is the target, with its leading space for
     * plain and custom templates, no EOS. */
    classify(&r, "nice film", "positive");
    check_example("classify plain", FT_TASK_CLASSIFY, "plain", &r, "{BOS}nice film| positive|",
                  100, NULL);
    check_example("classify verbalizer", FT_TASK_CLASSIFY, "plain", &r, "{BOS}nice film| good|",
                  100, "negative=bad,positive=good");
    check_example("classify custom", FT_TASK_CLASSIFY, "Review: {text}\nSentiment:", &r,
                  "{BOS}Review: nice film\nSentiment:| good|", 100, "positive=good");
    check_example("classify alpaca", FT_TASK_CLASSIFY, "alpaca", &r,
                  "{BOS}" ALPACA_SYS "### Instruction:\nnice film\n\n### Response:\n|positive|",
                  200, NULL);
    check_example("classify chatml", FT_TASK_CLASSIFY, "chatml", &r,
                  "{BOS}{IMS}user\nnice film{IME}\n{IMS}assistant\n|positive|", 200, NULL);
    check_example("classify llama2", FT_TASK_CLASSIFY, "llama2", &r,
                  "{BOS}[INST] nice film [/INST]|positive|", 200, NULL);
    check_example("classify llama3", FT_TASK_CLASSIFY, "llama3", &r,
                  "{BOS}{SH}user{EH}\n\nnice film{EOT}{SH}assistant{EH}\n\n|positive|", 200,
                  NULL);
    ft_rec_free(&r);
}

/* A tokenizer that adds no BOS (GPT-2, Qwen2: add_bos_token false): no
 * example starts with one; EOS still ends a response. */
static void test_no_bos(void)
{
    ft_rec_builder r;
    ft_tokenizer *with = tok;

    tok = byte_tokenizer(0);
    CHECK(tok != NULL);
    if (!tok) {
        tok = with;
        return;
    }
    sft(&r, NULL, "Hi", "Yo");
    check_example("no BOS: sft plain", FT_TASK_SFT, "plain", &r, "Hi|Yo{EOS}|", 100, NULL);
    check_example("no BOS: sft chatml", FT_TASK_SFT, "chatml", &r,
                  "{IMS}user\nHi{IME}\n{IMS}assistant\n|Yo{IME}|", 100, NULL);
    ft_rec_free(&r);
    classify(&r, "nice film", "positive");
    check_example("no BOS: classify plain", FT_TASK_CLASSIFY, "plain", &r,
                  "nice film| positive|", 100, NULL);
    ft_rec_free(&r);
    ft_tokenizer_free(tok);
    tok = with;
}

static void test_truncation(void)
{
    ft_rec_builder r;
    const char *two[] = {"user:Hi", "assistant:Yo", "user:Again", "assistant:Ok"};

    /* classify keeps the text's start: 1 + 10 + 2 = 13 tokens in 8 */
    classify(&r, "abcdefghij", "x");
    check_example("cut classify", FT_TASK_CLASSIFY, "plain", &r, "{BOS}abcde| x|", 8, NULL);
    ft_rec_free(&r);
    /* a two-byte character is never split: "ab\xc3\xa9" keeps "ab" in 5 */
    classify(&r, "ab\xc3\xa9z", "x");
    check_example("cut classify utf8", FT_TASK_CLASSIFY, "plain", &r, "{BOS}ab| x|", 5, NULL);
    ft_rec_free(&r);

    /* sft keeps the prompt's end, never the response: 14 tokens in 9 */
    sft(&r, NULL, "abcdefghij", "Yo");
    check_example("cut sft", FT_TASK_SFT, "plain", &r, "{BOS}fghij|Yo{EOS}|", 9, NULL);
    ft_rec_free(&r);

    /* chat drops the oldest exchange: 17 tokens, then 10 in 11 */
    chat(&r, 4, two);
    check_example("cut chat", FT_TASK_CHAT, "plain", &r, "{BOS}Again\n|Ok{EOS}|", 11, NULL);
    /* and then cuts the last question's start: 10 in 8 */
    check_example("cut chat question", FT_TASK_CHAT, "plain", &r, "{BOS}ain\n|Ok{EOS}|", 8,
                  NULL);
    ft_rec_free(&r);
}

/* A one-record stream that must fail with exactly msg. */
static void check_error(const char *tag, int task, const char *tpl_spec, ft_rec_builder *r,
                        int max_len, int truncate, const char *fixed, const char *msg)
{
    ft_err err;
    ft_template *tpl = ft_template_new(tpl_spec, &err);
    ft_task_source src;

    source(&src, task, tpl, max_len);
    src.truncate = truncate;
    if (fixed) {
        src.labels = calloc(2, sizeof *src.labels);
        src.words = calloc(2, sizeof *src.words);
        src.labels[0] = strdup(fixed);
        src.words[0] = strdup(fixed);
        src.n_labels = src.cap_labels = 1;
        src.fixed = 1;
    }
    ft_spool *s = run(&src, r, 1, &err);
    CHECK_MSG(s == NULL, "%s: no error", tag);
    if (!s)
        CHECK_MSG(!strcmp(err.msg, msg), "%s: \"%s\", expected \"%s\"", tag, err.msg, msg);
    ft_spool_free(s);
    ft_task_source_free(&src);
    ft_template_free(tpl);
    ft_rec_free(r);
}

static void test_errors(void)
{
    ft_rec_builder r;
    const char *tool[] = {"user:Hi", "tool:x"};
    const char *order[] = {"assistant:Hi", "user:x"};
    const char *no_answer[] = {"system:s", "user:Hi"};

    ft_rec_init(&r);
    ft_rec_cstr(&r, "response", "x");
    check_error("no prompt", FT_TASK_SFT, "plain", &r, 50, 1, NULL,
                "in.mp: record 1: no \"prompt\" field");
    sft(&r, NULL, "a", "");
    check_error("empty response", FT_TASK_SFT, "plain", &r, 50, 1, NULL,
                "in.mp: record 1: field response: empty (there is nothing to learn)");
    sft(&r, NULL, "abcdefghij", "Yo");
    check_error("too long", FT_TASK_SFT, "plain", &r, 9, 0, NULL,
                "in.mp: record 1: 14 tokens, more than --max-len 9 (truncation is off)");
    sft(&r, NULL, "a", "abcdefghij");
    check_error("response too long", FT_TASK_SFT, "plain", &r, 9, 1, NULL,
                "in.mp: record 1: does not fit --max-len 9 tokens even with an empty prompt");
    ft_rec_init(&r);
    ft_rec_cstr(&r, "text", "x");
    check_error("no messages", FT_TASK_CHAT, "chatml", &r, 50, 1, NULL,
                "in.mp: record 1: no \"messages\" field");
    chat(&r, 2, tool);
    check_error("bad role", FT_TASK_CHAT, "chatml", &r, 50, 1, NULL,
                "in.mp: record 1: messages[1]: unknown role \"tool\" (system, user or "
                "assistant)");
    chat(&r, 2, order);
    check_error("role order", FT_TASK_CHAT, "chatml", &r, 50, 1, NULL,
                "in.mp: record 1: turn 1: expected role \"user\", found \"assistant\"");
    chat(&r, 2, no_answer);
    check_error("no answer", FT_TASK_CHAT, "chatml", &r, 50, 1, NULL,
                "in.mp: record 1: no assistant turn to learn from");
    classify(&r, "nice", NULL);
    check_error("no label", FT_TASK_CLASSIFY, "plain", &r, 50, 1, NULL,
                "in.mp: record 1: no \"label\" field");
    ft_rec_init(&r);
    ft_rec_cstr(&r, "label", "a");
    check_error("no text", FT_TASK_CLASSIFY, "plain", &r, 50, 1, NULL,
                "in.mp: record 1: no \"text\" field");
    classify(&r, "nice", "b");
    check_error("unknown label", FT_TASK_CLASSIFY, "plain", &r, 50, 1, "a",
                "in.mp: record 1: label \"b\" is not in the label set (a)");
    classify(&r, "nice", "a");
    ft_rec_double(&r, "weight", -1);
    check_error("negative weight", FT_TASK_CLASSIFY, "plain", &r, 50, 1, NULL,
                "in.mp: record 1: field weight: -1 is not a finite number >= 0");
}

/* Labels from the data: first-seen order while reading, sorted after; the
 * weight rides along. */
static void test_labels_and_weights(void)
{
    ft_rec_builder r[3];
    ft_err err;
    ft_template *tpl = ft_template_new("plain", &err);
    ft_task_source src;

    classify(&r[0], "x", "zeta");
    classify(&r[1], "y", "alpha");
    ft_rec_double(&r[1], "weight", 0.25);
    classify(&r[2], "z", "zeta");
    source(&src, FT_TASK_CLASSIFY, tpl, 50);
    src.verbalizer = "alpha=A";
    ft_spool *s = run(&src, r, 3, &err);
    CHECK_MSG(s != NULL, "%s", err.msg);
    CHECK_INT(src.n_labels, 2);
    CHECK(ft_task_source_sort_labels(&src, &err) == 0);
    CHECK_STR(src.labels[0], "alpha");
    CHECK_STR(src.words[0], "A");
    CHECK_STR(src.labels[1], "zeta");
    CHECK_STR(src.words[1], "zeta");
    if (s) {
        uint64_t start;
        uint32_t len;
        float w;
        ft_spool_example(s, 1, &start, &len, &w);
        CHECK(w == 0.25f);
        CHECK_INT(len, 4); /* BOS y ' ' A */
    }
    ft_spool_free(s);
    ft_task_source_free(&src);

    /* a verbalizer naming a label the data never had */
    source(&src, FT_TASK_CLASSIFY, tpl, 50);
    src.verbalizer = "beta=B";
    s = run(&src, r, 3, &err);
    CHECK(ft_task_source_sort_labels(&src, &err) < 0);
    CHECK_STR(err.msg, "the data's label set: --verbalizer: 'beta' is not in the label set");
    ft_spool_free(s);
    ft_task_source_free(&src);
    for (int i = 0; i < 3; i++)
        ft_rec_free(&r[i]);
    ft_template_free(tpl);
}

/* Length grouping: within each run of `group` rows, longest first. */
static void test_group(void)
{
    ft_row rows[7];
    uint32_t order[7] = {6, 5, 4, 3, 2, 1, 0};
    uint32_t len[7] = {5, 9, 2, 7, 7, 3, 8};
    for (int i = 0; i < 7; i++)
        rows[i] = (ft_row){0, len[i], 1, 1};
    ft_rows_group(rows, 7, 3, order);
    /* runs {6,5,4}: lengths 8,3,7 -> 6,4,5; {3,2,1}: 7,2,9 -> 1,3,2; {0} */
    uint32_t want[7] = {6, 4, 5, 1, 3, 2, 0};
    for (int i = 0; i < 7; i++)
        CHECK_INT(order[i], want[i]);
    /* padding of batches of 2 in stream order, inputs len - 1: (4,8) 12 of 16,
     * (1,6) 7 of 12, (6,2) 8 of 12, (7) 7 of 7: 1 - 34/47 */
    double pad = ft_rows_padding(rows, 7, 0, 0, 0, 2);
    CHECK_REL(pad, 1.0 - 34.0 / 47.0, 1e-12, 1e-12);
    /* grouped in one run of 7, longest first, inputs 8,7,6,6,4,2,1: (8,7) 15 of 16,
     * (6,6) 12 of 12, (4,2) 6 of 8, (1) 1 of 1 */
    pad = ft_rows_padding(rows, 7, 0, 0, 7, 2);
    CHECK_REL(pad, 1.0 - 34.0 / 37.0, 1e-12, 1e-12);
}

int main(void)
{
    tok = byte_tokenizer(1);
    CHECK(tok != NULL);
    if (!tok)
        return check_done();
    test_masks();
    test_no_bos();
    test_truncation();
    test_errors();
    test_labels_and_weights();
    test_group();
    ft_tokenizer_free(tok);
    return check_done();
}
