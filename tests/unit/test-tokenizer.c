/* test-tokenizer: tokenizers with expectations worked out by hand.
 *
 * Tiny vocabularies whose merges can be followed on paper (rank order,
 * leftmost ties, SentencePiece scores as llama.cpp merges them, byte
 * fallback, added tokens, Metaspace and ByteLevel rules), GPT-2's published
 * encodings, special-token configuration files, UTF-8 handling in both
 * directions, tokenizer.json round trips and the errors of bad files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "text/pattern.h"
#include "text/tokenizer.h"

static int32_t ids_buf[4096];

/* Encode and return the count (-1 on error), ids in ids_buf. */
static long enc(ft_tokenizer *t, const char *text, int flags)
{
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    ft_err err = {0};
    if (ft_tokenizer_encode(t, text, strlen(text), flags, &ids, &n, &cap, &err) < 0) {
        fprintf(stderr, "encode \"%s\": %s\n", text, err.msg);
        free(ids);
        return -1;
    }
    memcpy(ids_buf, ids, (n < 4096 ? n : 4096) * sizeof *ids);
    free(ids);
    return (long)n;
}

#define CHECK_IDS(t, text, flags, ...)                                                   \
    do {                                                                                 \
        const int32_t want_[] = {__VA_ARGS__};                                           \
        long n_ = enc((t), (text), (flags));                                             \
        size_t nw_ = sizeof want_ / sizeof *want_;                                       \
        int ok_ = n_ == (long)nw_ && memcmp(ids_buf, want_, nw_ * sizeof *want_) == 0;   \
        CHECK_MSG(ok_, "\"%s\": got %ld ids, first %d", (text), n_,                     \
                  n_ > 0 ? ids_buf[0] : -1);                                             \
    } while (0)

static char *dec(ft_tokenizer *t, const int32_t *ids, size_t n, int flags)
{
    char *s = NULL;
    ft_err err = {0};
    if (ft_tokenizer_decode(t, ids, n, flags, &s, NULL, &err) < 0)
        fprintf(stderr, "decode: %s\n", err.msg);
    return s;
}

/* --- Byte-level, by hand ---------------------------------------------------- */

/* Byte stand-ins: 'a' 'b' 'c' are themselves, a space is U+0120 (Ġ). */
static ft_tokenizer *tiny_bytes(void)
{
    static const char *tokens[] = {"a", "b", "c", "\xc4\xa0", "ab", "abc", "\xc4\xa0" "a", "bc",
                                   "aa", "<|x|>"};
    static const char *merges[] = {"a b", "ab c", "\xc4\xa0 a", "b c", "a a"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 3};
    ft_tok_spec s;
    ft_tokenizer_spec_init(&s);
    s.kind = FT_TOK_BYTE_BPE;
    s.n_tokens = 10;
    s.tokens = tokens;
    s.types = types;
    s.n_merges = 5;
    s.merges = merges;
    s.eos_id = 9;
    s.add_eos = 1;
    ft_err err = {0};
    ft_tokenizer *t = ft_tokenizer_build(&s, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t;
}

static void test_bytes_by_hand(void)
{
    ft_tokenizer *t = tiny_bytes();
    if (!t)
        return;
    /* "abc": (a,b) rank 0 -> ab; (ab,c) rank 1 -> abc. " abc": Ġ a b c ->
     * Ġ ab c (rank 0) -> Ġ abc (rank 1); (Ġ,abc) has no rank. */
    CHECK_IDS(t, "abc abc", 0, 5, 3, 5);
    /* "bc" alone: rank 3. */
    CHECK_IDS(t, "bc", 0, 7);
    /* Ties go to the leftmost pair: a a a -> aa a. */
    CHECK_IDS(t, "aaa", 0, 8, 0);
    /* " a": Ġa (rank 2). GPT-2's pattern keeps " a" one piece. */
    CHECK_IDS(t, " a", 0, 6);
    /* The control token is matched before pre-tokenizing, and EOS is added. */
    CHECK_IDS(t, "ab<|x|>c", FT_TOK_ADD_SPECIAL, 4, 9, 2, 9);
    /* Split special: "<|x|>" is text; '<', '|', 'x', '>' are not in the
     * vocabulary (no unknown token), so they vanish. */
    CHECK_IDS(t, "ab<|x|>c", FT_TOK_SPLIT_SPECIAL, 4, 2);

    int32_t ids[] = {5, 3, 5, 9};
    char *s = dec(t, ids, 4, 0);
    CHECK(s && strcmp(s, "abc abc<|x|>") == 0);
    free(s);
    s = dec(t, ids, 4, FT_TOK_SKIP_SPECIAL);
    CHECK(s && strcmp(s, "abc abc") == 0);
    free(s);
    CHECK_INT(ft_tokenizer_eos(t), 9);
    CHECK_INT(ft_tokenizer_token_type(t, 9), FT_TOKT_CONTROL);
    ft_tokenizer_free(t);
}

/* --- SentencePiece by score (llama.cpp's rule), by hand ---------------------- */

#define MS "\xe2\x96\x81"

static void test_spm_scores(void)
{
    static const char *tokens[] = {"<unk>", "<s>", "</s>", MS, "h", "e", "l", "o", MS "h",
                                   "el", "ll", "lo", "hel", MS "hel", "llo", MS "hello",
                                   "<0x0A>", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>", "a", "aa"};
    static const float scores[] = {0, 0, 0, -1, -2, -2, -2, -2, -3, -4, -5, -6, -7, -8, -9,
                                   -10, 0, 0, 0, 0, 0, -2, -3};
    ft_tok_spec s;
    ft_tokenizer_spec_init(&s);
    s.kind = FT_TOK_SPM_BPE;
    s.n_tokens = 23;
    s.tokens = tokens;
    s.scores = scores;
    s.unk_id = 0;
    s.bos_id = 1;
    s.eos_id = 2;
    s.add_bos = 1;
    s.add_space_prefix = 1;
    ft_err err = {0};
    ft_tokenizer *t = ft_tokenizer_build(&s, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t)
        return;
    /* "▁hello": ▁h (-3) first, then el (-4), lo (-6; "ll" lost its left l),
     * ▁hel (-8), ▁hello (-10). */
    CHECK_IDS(t, "hello", FT_TOK_ADD_SPECIAL, 1, 15);
    /* No pair of "▁o" is a token; the newline falls back to its byte, the
     * emoji to four. */
    CHECK_IDS(t, "o\n\xf0\x9f\x98\x80", 0, 3, 7, 16, 17, 18, 19, 20);
    /* Leftmost tie: ▁ a a a -> ▁ aa a. */
    CHECK_IDS(t, "aaa", 0, 3, 22, 21);
    /* A space after a control token is prefixed again; "<s>" in text. */
    CHECK_IDS(t, "<s>hello", 0, 1, 15);
    /* 'z' is unknown and has no byte token: <unk>, fused for a run. */
    CHECK_IDS(t, "zz", 0, 3, 0);

    int32_t ids[] = {1, 15, 3, 15, 16};
    char *d = dec(t, ids, 5, FT_TOK_SKIP_SPECIAL);
    CHECK(d && strcmp(d, "hello  hello\n") == 0);
    free(d);
    d = dec(t, ids + 1, 1, 0);
    CHECK(d && strcmp(d, "hello") == 0);
    free(d);

    /* A character split across byte tokens: only whole characters come out
     * of a stream; the sequence decoder marks an unfinished one. */
    ft_tok_stream st;
    char buf[64];
    size_t n, total = 0;
    char out[64];
    int32_t emoji[] = {17, 18, 19, 20};
    ft_tokenizer_stream_init(&st, 0, 0);
    for (int i = 0; i < 4; i++) {
        CHECK(ft_tokenizer_stream_next(t, &st, emoji[i], buf, sizeof buf, &n, &err) == 0);
        CHECK_INT(n, i < 3 ? 0 : 4);
        memcpy(out + total, buf, n);
        total += n;
    }
    CHECK(total == 4 && memcmp(out, "\xf0\x9f\x98\x80", 4) == 0);
    d = dec(t, emoji, 2, 0);
    CHECK(d && strcmp(d, "\xef\xbf\xbd") == 0);
    free(d);
    CHECK(ft_tokenizer_stream_next(t, &st, 99, buf, sizeof buf, &n, &err) < 0);
    ft_tokenizer_free(t);
}

/* --- GPT-2's own files ------------------------------------------------------- */

static void test_gpt2(const char *data)
{
    char path[4200];
    ft_err err = {0};
    snprintf(path, sizeof path, "%.4000s/gpt2", data);
    ft_tokenizer *t = ft_tokenizer_load(path, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t)
        return;
    /* Published encodings (the data folder's README). */
    CHECK_IDS(t, "Hello world", 0, 15496, 995);
    CHECK_IDS(t, " Hello", 0, 18435);
    CHECK_INT(ft_tokenizer_n_vocab(t), 50257);
    CHECK_INT(ft_tokenizer_eos(t), 50256);
    CHECK_INT(ft_tokenizer_lookup(t, "\xc4\xa0world"), 995);

    /* Invalid UTF-8: an error naming the byte, or U+FFFD. */
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    CHECK(ft_tokenizer_encode(t, "ab\xff" "cd", 5, 0, &ids, &n, &cap, &err) < 0);
    CHECK_STR(err.msg, "invalid UTF-8 at byte 2");
    n = 0;
    CHECK(ft_tokenizer_encode(t, "ab\xff" "cd", 5, FT_TOK_FIX_UTF8, &ids, &n, &cap, &err) == 0);
    long nf = enc(t, "ab\xef\xbf\xbd" "cd", 0);
    CHECK(nf == (long)n && memcmp(ids, ids_buf, n * sizeof *ids) == 0);

    /* A truncated character at the end of the ids decodes to U+FFFD. */
    long ne = enc(t, "\xe6\xbc\xa2", 0);
    CHECK(ne >= 2);
    char *s = dec(t, ids_buf, (size_t)ne - 1, 0);
    CHECK(s && strcmp(s, "\xef\xbf\xbd") == 0);
    free(s);

    /* Written as tokenizer.json and read back: the same ids. */
    size_t len;
    char *json = ft_tokenizer_to_json(t, &len, &err);
    CHECK(json != NULL);
    ft_tokenizer *u = json ? ft_tokenizer_load_json(json, len, "copy", &err) : NULL;
    CHECK_MSG(u != NULL, "%s", err.msg);
    if (u) {
        CHECK_IDS(u, "Hello world", 0, 15496, 995);
        CHECK_INT(ft_tokenizer_n_merges(u), ft_tokenizer_n_merges(t));
        ft_tokenizer_free(u);
    }
    free(json);
    free(ids);
    ft_tokenizer_free(t);
}

/* --- Files: configs, round trips, errors ------------------------------------ */

static const char tiny_json[] =
    "{\"version\":\"1.0\",\"added_tokens\":["
    "{\"id\":5,\"content\":\"<s>\",\"special\":true},"
    "{\"id\":6,\"content\":\"</s>\",\"special\":true},"
    "{\"id\":7,\"content\":\"<|eot|>\",\"special\":true,\"rstrip\":true}],"
    "\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
    "\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2,\"\xc4\xa0\":3,"
    "\"\xc4\xa0" "ab\":4},\"merges\":[\"a b\",[\"\xc4\xa0\",\"ab\"]]}}";

static int write_file(const char *dir, const char *name, const char *text)
{
    char path[4200];
    snprintf(path, sizeof path, "%.4000s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static void test_configs(void)
{
    char dir[] = "/tmp/ft-tok-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(write_file(dir, "tokenizer.json", tiny_json) == 0);
    ft_err err = {0};
    ft_tokenizer *t = ft_tokenizer_load(dir, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        /* No configuration: <s> and </s> by name, nothing added. */
        CHECK_INT(ft_tokenizer_bos(t), 5);
        CHECK_INT(ft_tokenizer_eos(t), 6);
        CHECK_IDS(t, "ab ab", FT_TOK_ADD_SPECIAL, 2, 4);
        /* rstrip swallows the spaces after <|eot|>. */
        CHECK_IDS(t, "ab<|eot|>   ab", 0, 2, 7, 2);
        ft_tokenizer_free(t);
    }

    CHECK(write_file(dir, "tokenizer_config.json",
                     "{\"add_bos_token\":true,\"add_eos_token\":true,\"bos_token\":"
                     "{\"content\":\"<s>\"},\"eos_token\":\"</s>\"}") == 0);
    CHECK(write_file(dir, "generation_config.json", "{\"eos_token_id\":[6,7]}") == 0);
    t = ft_tokenizer_load(dir, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_IDS(t, "ab ab", FT_TOK_ADD_SPECIAL, 5, 2, 4, 6);
        CHECK_IDS(t, "ab ab", 0, 2, 4);
        const int32_t *eos;
        CHECK_INT(ft_tokenizer_eos_ids(t, &eos), 2);
        CHECK(ft_tokenizer_is_eos(t, 7) && ft_tokenizer_is_eos(t, 6));
        CHECK(!ft_tokenizer_is_eos(t, 5));
        ft_tokenizer_free(t);
    }

    /* The same files from memory (a model in an archive). */
    const char *tc = "{\"add_bos_token\":false,\"add_eos_token\":true,\"eos_token\":\"<|eot|>\"}";
    ft_tok_files files = {tiny_json, strlen(tiny_json), tc, strlen(tc), NULL, 0};
    t = ft_tokenizer_load_files(&files, "model.tar", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_IDS(t, "ab ab", FT_TOK_ADD_SPECIAL, 2, 4, 7);
        CHECK_INT(ft_tokenizer_eos(t), 7);
        ft_tokenizer_free(t);
    }
    files.tokenizer_config = "{\"eos_token\":\"<nope>\"}";
    files.tokenizer_config_bytes = strlen(files.tokenizer_config);
    CHECK(ft_tokenizer_load_files(&files, "model.tar", &err) == NULL);
    CHECK_STR(err.msg, "model.tar/tokenizer_config.json: eos_token \"<nope>\" is not in the "
                       "vocabulary");

    /* Bad files: one sentence naming the file and the problem. */
    struct {
        const char *json, *want;
    } bad[] = {
        {"{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}",
         "unknown model type \"WordPiece\" (ft reads BPE tokenizers)"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},"
         "\"pre_tokenizer\":{\"type\":\"Bogus\"}}",
         "unknown pre-tokenizer type \"Bogus\""},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},"
         "\"merges\":[\"a b\",\"ab c\"]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}",
         "merge 2 (\"ab c\"): \"c\" is not in the vocabulary"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},"
         "\"merges\":[\"a b\"]},\"pre_tokenizer\":{\"type\":\"ByteLevel\"}}",
         "merge 1 (\"a b\"): \"ab\" is not in the vocabulary"},
        {"{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,",
         "line 1 column 38: string or '}' expected near end of file"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[512];
        snprintf(want, sizeof want, "%s/tokenizer.json: %s", dir, bad[i].want);
        CHECK(write_file(dir, "tokenizer.json", bad[i].json) == 0);
        t = ft_tokenizer_load(dir, &err);
        CHECK(t == NULL);
        CHECK_STR(err.msg, want);
        ft_tokenizer_free(t);
    }
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* A Llama-3-style spec: Split pattern, ignore_merges, NFC, written and read. */
static void test_spec_json_round_trip(void)
{
    /* Byte stand-ins: 0xC3 is Ã (U+00C3), 0xA9 is © (U+00A9), 0xCC 0x81
     * (U+0301) are Ì (U+00CC) and ģ (U+0123, the 36th byte that is not
     * printable Latin-1): the vocabulary spells bytes that way. */
    static const char *spelled[] = {"1", "2", "3", "4", "12", "123", "e", "\xc3\x8c\xc4\xa3",
                                    "\xc3\x83\xc2\xa9", "\xc3\x83", "\xc2\xa9", "<|begin|>"};
    static const char *merges[] = {"1 2", "12 3", "\xc3\x83 \xc2\xa9"};
    static const char *pats[] = {ft_pattern_llama3};
    ft_tok_spec s;
    ft_tokenizer_spec_init(&s);
    s.kind = FT_TOK_BYTE_BPE;
    s.n_tokens = 12;
    s.tokens = spelled;
    s.n_merges = 3;
    s.merges = merges;
    s.n_patterns = 1;
    s.patterns = pats;
    s.nfc = 1;
    s.bos_id = 11;
    s.add_bos = 1;
    ft_err err = {0};
    ft_tokenizer *t = ft_tokenizer_build(&s, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (!t)
        return;
    /* Digits in threes: "1234" -> "123" "4". NFC turns e + U+0301 into é
     * (C3 A9), which merges. */
    CHECK_IDS(t, "1234", FT_TOK_ADD_SPECIAL, 11, 5, 3);
    CHECK_IDS(t, "e\xcc\x81", 0, 8);
    size_t len;
    char *json = ft_tokenizer_to_json(t, &len, &err);
    ft_tokenizer *u = json ? ft_tokenizer_load_json(json, len, "copy", &err) : NULL;
    CHECK_MSG(u != NULL, "%s", err.msg);
    if (u) {
        CHECK_IDS(u, "1234", FT_TOK_ADD_SPECIAL, 11, 5, 3);
        CHECK_IDS(u, "e\xcc\x81", 0, 8);
        const char *const *p;
        CHECK_INT(ft_tokenizer_patterns(u, &p), 1);
        CHECK(ft_tokenizer_patterns(u, &p) == 1 && strcmp(p[0], ft_pattern_llama3) == 0);
        ft_tokenizer_free(u);
    }
    free(json);
    ft_tokenizer_free(t);
}

/* Digits isolates every character of Unicode category N (Nd, Nl, No), as
 * Rust's char::is_numeric in Hugging Face's tokenizers: U+00BD (C2 BD, "Â½"
 * in GPT-2's stand-ins) and U+0663 (Arabic-Indic three, D9 A3, "Ù£") are
 * cut from the space before them, which GPT-2's pattern alone keeps
 * (" ?\p{N}+"). Vocabulary: Ġ 0, Â 1, ½ 2, Â½ 3, ĠÂ½ 4, Ù 5, £ 6, Ù£ 7,
 * ĠÙ£ 8. */
static void test_digits(void)
{
    static const char *vocab =
        "\"vocab\":{\"\xc4\xa0\":0,\"\xc3\x82\":1,\"\xc2\xbd\":2,\"\xc3\x82\xc2\xbd\":3,"
        "\"\xc4\xa0\xc3\x82\xc2\xbd\":4,\"\xc3\x99\":5,\"\xc2\xa3\":6,\"\xc3\x99\xc2\xa3\":7,"
        "\"\xc4\xa0\xc3\x99\xc2\xa3\":8},"
        "\"merges\":[\"\xc3\x82 \xc2\xbd\",\"\xc4\xa0 \xc3\x82\xc2\xbd\","
        "\"\xc3\x99 \xc2\xa3\",\"\xc4\xa0 \xc3\x99\xc2\xa3\"]}}";
    char json[1024];
    ft_err err = {0};
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
             "{\"type\":\"Digits\",\"individual_digits\":true},"
             "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true}]},"
             "\"model\":{\"type\":\"BPE\",%s", vocab);
    ft_tokenizer *t = ft_tokenizer_load_json(json, strlen(json), "digits", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_IDS(t, " \xc2\xbd \xd9\xa3", 0, 0, 3, 0, 7);
        ft_tokenizer_free(t);
    }
    snprintf(json, sizeof json,
             "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
             "\"use_regex\":true},\"model\":{\"type\":\"BPE\",%s", vocab);
    t = ft_tokenizer_load_json(json, strlen(json), "bytelevel", &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    if (t) {
        CHECK_IDS(t, " \xc2\xbd \xd9\xa3", 0, 4, 8);
        ft_tokenizer_free(t);
    }
}

int main(void)
{
    const char *data = check_data_dir();
    test_bytes_by_hand();
    test_digits();
    test_spm_scores();
    test_configs();
    test_spec_json_round_trip();
    if (data)
        test_gpt2(data);
    else
        printf("shared data absent: GPT-2 checks skipped\n");
    return check_done();
}
