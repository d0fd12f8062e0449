/* test-vocab: BPE training on texts small enough to follow on paper.
 *
 * Byte token ids (no special tokens): GPT-2's stand-ins sorted by code
 * point put '!'..'~' at 0..93 ('a' 64, 'b' 65, 'c' 66, 'w' 86, 'x' 87,
 * 'y' 88, 'z' 89), U+00A1..U+00AC at 94..105, U+00AE..U+00FF at 106..187,
 * then the bytes 0..32 as U+0100..U+0120 at 188..220 (a space, U+0120 "Ġ",
 * is 220), 127..160 at 221..254 and 173 at 255. A special token shifts them
 * all by one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "text/vocab.h"

static ft_tokenizer *train(const ft_vocab_opts *o, const char *const *texts, size_t n)
{
    ft_err err = {0};
    ft_vocab *v = ft_vocab_new(o, &err);
    CHECK_MSG(v != NULL, "%s", err.msg);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        CHECK_MSG(ft_vocab_add_text(v, texts[i], strlen(texts[i]), &err) == 0, "%s", err.msg);
    ft_tokenizer *t = ft_vocab_train(v, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    ft_vocab_free(v);
    return t;
}

static void check_merge(const ft_tokenizer *t, size_t i, int32_t left, int32_t right)
{
    int32_t l = -1, r = -1;
    if (i < ft_tokenizer_n_merges(t))
        ft_tokenizer_merge(t, i, &l, &r);
    CHECK_MSG(l == left && r == right, "merge %zu: (%d, %d), expected (%d, %d)", i, l, r,
              left, right);
}

static void check_ids(ft_tokenizer *t, const char *text, const int32_t *want, size_t n_want)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ft_err err = {0};
    CHECK_MSG(ft_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, &cap, &err) == 0, "%s",
              err.msg);
    CHECK_MSG(n == n_want && memcmp(ids, want, n * sizeof *ids) == 0,
              "\"%s\": %zu ids, first %d", text, n, n ? ids[0] : -1);
    free(ids);
}

/* "ab ab ab abc": words "ab", " ab" twice, " abc". Pairs: (a,b) 4, (Ġ,a) 3,
 * (b,c) 1. Merge a+b (256); then (Ġ,ab) 3, (ab,c) 1: merge Ġ+ab (257); then
 * (Ġab,c) 1: merge (258), and the size is reached. */
static void test_counts(void)
{
    const char *texts[] = {"ab ab ab abc"};
    ft_vocab_opts o = {.size = 259, .min_frequency = 1};
    ft_tokenizer *t = train(&o, texts, 1);
    if (!t)
        return;
    CHECK_INT(ft_tokenizer_n_vocab(t), 259);
    CHECK_INT(ft_tokenizer_n_merges(t), 3);
    check_merge(t, 0, 64, 65);
    check_merge(t, 1, 220, 256);
    check_merge(t, 2, 257, 66);
    CHECK_STR(ft_tokenizer_token(t, 64), "a");
    CHECK_STR(ft_tokenizer_token(t, 220), "\xc4\xa0");
    CHECK_STR(ft_tokenizer_token(t, 256), "ab");
    CHECK_STR(ft_tokenizer_token(t, 258), "\xc4\xa0" "abc");
    const int32_t want[] = {256, 258, 257, 220, 66};
    check_ids(t, "ab abc ab c", want, 5);
    ft_tokenizer_free(t);
}

/* "xy zw": (x,y), (Ġ,z), (z,w) once each. Ties go to the smaller left id:
 * x (87) before z (89) before Ġ (220). */
static void test_ties(void)
{
    const char *texts[] = {"xy zw"};
    ft_vocab_opts o = {.size = 259, .min_frequency = 1};
    ft_tokenizer *t = train(&o, texts, 1);
    if (!t)
        return;
    check_merge(t, 0, 87, 88);
    check_merge(t, 1, 89, 86);
    check_merge(t, 2, 220, 257);
    ft_tokenizer_free(t);
}

/* Overlap: "aaaa" is one word; (a,a) counts 3 positions, merges to
 * [aa, aa], then (aa,aa) once. "aaa" alone would leave [aa, a]. */
static void test_overlap(void)
{
    const char *texts[] = {"aaaa"};
    ft_vocab_opts o = {.size = 300, .min_frequency = 1};
    ft_tokenizer *t = train(&o, texts, 1);
    if (!t)
        return;
    CHECK_INT(ft_tokenizer_n_merges(t), 2);
    check_merge(t, 0, 64, 64);
    check_merge(t, 1, 256, 256);
    CHECK_INT(ft_tokenizer_n_vocab(t), 258);
    ft_tokenizer_free(t);

    const char *texts3[] = {"aaa"};
    t = train(&o, texts3, 1);
    if (!t)
        return;
    CHECK_INT(ft_tokenizer_n_merges(t), 2);
    check_merge(t, 0, 64, 64);
    check_merge(t, 1, 256, 64);
    ft_tokenizer_free(t);
}

/* Special tokens take ids 0.., their text is never counted, and the ids of
 * the bytes move up by one: 'a' 65, 'b' 66. Only (a,b) occurs (twice). */
static void test_special(void)
{
    const char *special[] = {"<|endoftext|>"};
    const char *texts[] = {"ab<|endoftext|>ab"};
    ft_vocab_opts o = {.size = 400, .min_frequency = 1, .n_special = 1, .special = special};
    ft_tokenizer *t = train(&o, texts, 1);
    if (!t)
        return;
    CHECK_INT(ft_tokenizer_n_merges(t), 1);
    check_merge(t, 0, 65, 66);
    CHECK_INT(ft_tokenizer_n_vocab(t), 258);
    CHECK_INT(ft_tokenizer_eos(t), 0);
    CHECK_INT(ft_tokenizer_bos(t), 0);
    const int32_t want[] = {257, 0, 257};
    check_ids(t, "ab<|endoftext|>ab", want, 3);
    ft_tokenizer_free(t);
}

/* min_frequency: "ab ab" has (a,b) twice and (Ġ,a) once. */
static void test_min_frequency(void)
{
    const char *texts[] = {"ab ab"};
    ft_vocab_opts o = {.size = 300, .min_frequency = 2};
    ft_tokenizer *t = train(&o, texts, 1);
    if (t) {
        CHECK_INT(ft_tokenizer_n_merges(t), 1);
        check_merge(t, 0, 64, 65);
        ft_tokenizer_free(t);
    }
    o.min_frequency = 3;
    if ((t = train(&o, texts, 1))) {
        CHECK_INT(ft_tokenizer_n_merges(t), 0);
        CHECK_INT(ft_tokenizer_n_vocab(t), 256);
        ft_tokenizer_free(t);
    }
}

/* The same texts in another order: the same tokenizer.json. */
static void test_order(void)
{
    const char *a[] = {"the cat sat on the mat", "a dog, a log", "the end 123"};
    const char *b[] = {"the end 123", "the cat sat on the mat", "a dog, a log"};
    ft_vocab_opts o = {.size = 290, .min_frequency = 1};
    ft_tokenizer *ta = train(&o, a, 3), *tb = train(&o, b, 3);
    ft_err err = {0};
    if (ta && tb) {
        char *ja = ft_tokenizer_to_json(ta, NULL, &err), *jb = ft_tokenizer_to_json(tb, NULL, &err);
        CHECK(ja && jb && strcmp(ja, jb) == 0);
        free(ja);
        free(jb);
    }
    ft_tokenizer_free(ta);
    ft_tokenizer_free(tb);
}

static void test_errors(void)
{
    ft_err err = {0};
    const char *dup[] = {"<s>", "<s>"};
    ft_vocab_opts o = {.size = 257};
    ft_vocab *v = ft_vocab_new(&o, &err);
    CHECK(v != NULL);
    CHECK(ft_vocab_add_text(v, "a\xff", 2, &err) < 0);
    CHECK_STR(err.msg, "invalid UTF-8 at byte 1");
    ft_vocab_free(v);
    o.size = 255;
    CHECK(ft_vocab_new(&o, &err) == NULL);
    CHECK_STR(err.msg, "vocabulary size 255 is below the 256 byte and special tokens");
    o.size = 300;
    o.n_special = 2;
    o.special = dup;
    CHECK(ft_vocab_new(&o, &err) == NULL);
    CHECK_STR(err.msg, "special token \"<s>\" given twice");
    o.n_special = 0;
    o.pattern = "(unclosed";
    CHECK(ft_vocab_new(&o, &err) == NULL);
}

int main(void)
{
    test_counts();
    test_ties();
    test_overlap();
    test_special();
    test_min_frequency();
    test_order();
    test_errors();
    return check_done();
}
