/* Unit tests of lib/text/words and lib/text/strtab: token boundaries and
 * white space of hand-cut sentences (Latin, accented, CJK with and without a
 * dictionary), UTF-8 validity of hand-made byte sequences, lower-casing and
 * capitalisation patterns of words whose Unicode cases are known. */
#include "check.h"
#include "text/strtab.h"
#include "text/words.h"

/* Cut s and compare with the expected tokens, written "w:word" or "p:punct",
 * and check that the pieces put back together give s again. */
static void expect_split(const char *s, const ft_words_dict *dict, const char *const *want,
                         size_t n_want)
{
    ft_tok *toks = NULL;
    size_t n = 0, cap = 0;
    ft_err err;
    char joined[1024];
    size_t jl = 0;

    CHECK(ft_words_split(s, strlen(s), dict, &toks, &n, &cap, &err) == 0);
    CHECK_MSG(n == n_want, "\"%s\": %zu tokens, expected %zu", s, n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++) {
        const char *w = want[i];
        int kind = w[0] == 'w' ? FT_TOK_WORD : FT_TOK_PUNCT;
        CHECK_MSG(toks[i].kind == kind && toks[i].len == strlen(w + 2) &&
                      memcmp(s + toks[i].off, w + 2, toks[i].len) == 0,
                  "\"%s\" token %zu: \"%.*s\" (kind %d), expected \"%s\"", s, i,
                  (int)toks[i].len, s + toks[i].off, toks[i].kind, w);
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(joined + jl, s + toks[i].ws, toks[i].off + toks[i].len - toks[i].ws);
        jl += toks[i].off + toks[i].len - toks[i].ws;
    }
    if (n) {
        size_t end = toks[n - 1].off + toks[n - 1].len;
        memcpy(joined + jl, s + end, strlen(s) - end);
        jl += strlen(s) - end;
    }
    CHECK_MSG(n == 0 || (jl == strlen(s) && memcmp(joined, s, jl) == 0),
              "\"%s\" does not join back", s);
    free(toks);
}

#define SPLIT(s, dict, ...)                                                              \
    do {                                                                                 \
        const char *const w_[] = {__VA_ARGS__};                                          \
        expect_split(s, dict, w_, sizeof w_ / sizeof *w_);                               \
    } while (0)

static void test_split(void)
{
    ft_tok *toks = NULL;
    size_t n = 7, cap = 0;
    ft_err err;

    SPLIT("Hello, world!", NULL, "w:Hello", "p:,", "w:world", "p:!");
    SPLIT("  don't stop-motion 3.14 U.S. -- ok  ", NULL, "w:don't", "w:stop-motion",
          "w:3.14", "w:U.S", "p:.", "p:--", "w:ok");
    SPLIT("'quoted' (paren)...", NULL, "p:'", "w:quoted", "p:'", "p:(", "w:paren",
          "p:)...");
    /* Accents and combining marks stay inside the word (e + U+0301). */
    SPLIT("Cr\xc3\xa8me br\xc3\xbbl\xc3\xa9" "e, cafe\xcc\x81!", NULL, "w:Cr\xc3\xa8me",
          "w:br\xc3\xbbl\xc3\xa9" "e", "p:,", "w:cafe\xcc\x81", "p:!");
    /* No-break space (U+00A0) separates; Greek and Cyrillic are words. */
    SPLIT("\xce\xb1\xce\xb2\xc2\xa0\xd0\xb4\xd0\xb0", NULL, "w:\xce\xb1\xce\xb2",
          "w:\xd0\xb4\xd0\xb0");
    /* 我喜欢电影。 : one character a token, the ideographic full stop is
     * punctuation. */
    SPLIT("\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe7\x94\xb5\xe5\xbd\xb1\xe3\x80\x82", NULL,
          "w:\xe6\x88\x91", "w:\xe5\x96\x9c", "w:\xe6\xac\xa2", "w:\xe7\x94\xb5",
          "w:\xe5\xbd\xb1", "p:\xe3\x80\x82");
    /* Latin glued to Han: two tokens. */
    SPLIT("ok\xe5\xa5\xbd", NULL, "w:ok", "w:\xe5\xa5\xbd");

    CHECK(ft_words_split("", 0, NULL, &toks, &n, &cap, &err) == 0);
    CHECK_INT(n, 0);
    CHECK(ft_words_split(" \t\n", 3, NULL, &toks, &n, &cap, &err) == 0);
    CHECK_INT(n, 0);
    free(toks);
}

/* A dictionary of 喜欢 and 电影院 (cinema) for longest match. */
static int has_word(const void *ctx, const char *s, size_t n)
{
    (void)ctx;
    return (n == 6 && !memcmp(s, "\xe5\x96\x9c\xe6\xac\xa2", 6)) ||
           (n == 9 && !memcmp(s, "\xe7\x94\xb5\xe5\xbd\xb1\xe9\x99\xa2", 9)) ||
           (n == 6 && !memcmp(s, "\xe7\x94\xb5\xe5\xbd\xb1", 6));
}

static void test_longest_match(void)
{
    ft_words_dict d = {has_word, NULL, 9};

    /* 我喜欢电影院 -> 我 | 喜欢 | 电影院 (not 电影 + 院). */
    SPLIT("\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe7\x94\xb5\xe5\xbd\xb1\xe9\x99\xa2", &d,
          "w:\xe6\x88\x91", "w:\xe5\x96\x9c\xe6\xac\xa2",
          "w:\xe7\x94\xb5\xe5\xbd\xb1\xe9\x99\xa2");
    /* 电影好 -> 电影 | 好 */
    SPLIT("\xe7\x94\xb5\xe5\xbd\xb1\xe5\xa5\xbd", &d, "w:\xe7\x94\xb5\xe5\xbd\xb1",
          "w:\xe5\xa5\xbd");
}

static void test_utf8(void)
{
    CHECK_INT(ft_utf8_invalid_at("plain", 5), -1);
    CHECK_INT(ft_utf8_invalid_at("caf\xc3\xa9", 5), -1);
    CHECK_INT(ft_utf8_invalid_at("\xf0\x9f\x98\x80", 4), -1);     /* U+1F600 */
    CHECK_INT(ft_utf8_invalid_at("ab\xff", 3), 2);                /* never valid */
    CHECK_INT(ft_utf8_invalid_at("a\xc3", 2), 1);                 /* truncated */
    CHECK_INT(ft_utf8_invalid_at("a\xc0\xaf", 3), 1);             /* overlong '/' */
    CHECK_INT(ft_utf8_invalid_at("\xed\xa0\x80", 3), 0);          /* surrogate */
    CHECK_INT(ft_utf8_invalid_at("\xf4\x90\x80\x80", 4), 0);      /* > U+10FFFF */
    CHECK_INT(ft_utf8_invalid_at("ok\xe2\x82", 4), 2);            /* truncated */
    CHECK_INT(ft_utf8_invalid_at("\x80", 1), 0);                  /* lone continuation */
}

static void test_case(void)
{
    char out[64];
    size_t n;

    /* Lower-casing keeps accents: "ÉCOLE Ünïcode" -> "école ünïcode". */
    n = ft_words_lower("\xc3\x89" "COLE \xc3\x9cn\xc3\xaf" "code", 15, out);
    CHECK(n == 15 && !memcmp(out, "\xc3\xa9" "cole \xc3\xbcn\xc3\xaf" "code", 15));

    CHECK_INT(ft_words_case("movie", 5), FT_CASE_LOWER);
    CHECK_INT(ft_words_case("Movie", 5), FT_CASE_TITLE);
    CHECK_INT(ft_words_case("I", 1), FT_CASE_TITLE);
    CHECK_INT(ft_words_case("MOVIE", 5), FT_CASE_UPPER);
    CHECK_INT(ft_words_case("McDonald", 8), FT_CASE_OTHER);
    CHECK_INT(ft_words_case("3d", 2), FT_CASE_LOWER);
    CHECK_INT(ft_words_case("\xc3\x89t\xc3\xa9", 5), FT_CASE_TITLE);     /* Été */
    CHECK_INT(ft_words_case("\xe7\x94\xb5", 3), FT_CASE_LOWER);          /* 电 */

    n = ft_words_recase(FT_CASE_TITLE, "moving picture", 14, out);
    CHECK(n == 14 && !memcmp(out, "Moving picture", 14));
    n = ft_words_recase(FT_CASE_UPPER, "flick", 5, out);
    CHECK(n == 5 && !memcmp(out, "FLICK", 5));
    n = ft_words_recase(FT_CASE_LOWER, "Saturday", 8, out);
    CHECK(n == 8 && !memcmp(out, "Saturday", 8));
    /* été -> Été; λόγος -> ΛΌΓΟΣ (final sigma too). */
    n = ft_words_recase(FT_CASE_TITLE, "\xc3\xa9t\xc3\xa9", 5, out);
    CHECK(n == 5 && !memcmp(out, "\xc3\x89t\xc3\xa9", 5));
    n = ft_words_recase(FT_CASE_UPPER, "\xce\xbb\xcf\x8c\xce\xb3\xce\xbf\xcf\x82", 10, out);
    CHECK(n == 10 && !memcmp(out, "\xce\x9b\xce\x8c\xce\x93\xce\x9f\xce\xa3", 10));
}

static void test_strtab(void)
{
    ft_err err;
    ft_strtab *t = ft_strtab_new(&err);
    char name[32];
    size_t len;

    CHECK(t != NULL);
    CHECK_INT(ft_strtab_intern(t, "alpha", 5, &err), 0);
    CHECK_INT(ft_strtab_intern(t, "beta", 4, &err), 1);
    CHECK_INT(ft_strtab_intern(t, "alpha", 5, &err), 0);
    CHECK_INT(ft_strtab_find(t, "beta", 4), 1);
    CHECK_INT(ft_strtab_find(t, "gamma", 5), -1);
    CHECK_INT(ft_strtab_find(t, "alph", 4), -1);

    /* Many strings force rehashing; every id stays findable. */
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "w%d", i);
        CHECK_INT(ft_strtab_intern(t, name, strlen(name), &err), i + 2);
    }
    for (int i = 0; i < 5000; i += 97) {
        snprintf(name, sizeof name, "w%d", i);
        CHECK_INT(ft_strtab_find(t, name, strlen(name)), i + 2);
    }
    CHECK(!strcmp(ft_strtab_str(t, 1, &len), "beta") && len == 4);
    CHECK_INT(ft_strtab_count(t), 5002);
    ft_strtab_free(t);
}

int main(void)
{
    test_split();
    test_longest_match();
    test_utf8();
    test_case();
    test_strtab();
    return check_done();
}
