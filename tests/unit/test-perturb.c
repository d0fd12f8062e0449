/* Unit tests of lib/text/perturb: the rule-file format (errors name the
 * line), capitalisation after a rewrite, and every default English rule of
 * share/perturb-en.rules on a sentence it must rewrite (the result written
 * by hand) and sentences it must leave alone. */
#include "check.h"
#include "text/perturb.h"

static ft_perturb *rules;
static ft_rx_match *m;

static long rule_index(const char *name)
{
    for (size_t i = 0; i < ft_perturb_count(rules); i++)
        if (!strcmp(ft_perturb_name(rules, i), name))
            return (long)i;
    return -1;
}

/* Rule name rewrites s to want (want NULL: it must not fire), and no other
 * rule fires on s unless others is set. */
static void expect(const char *name, const char *s, const char *want)
{
    long r = rule_index(name);
    char *out = NULL;
    size_t len = 0, cap = 0;
    ft_err err;

    CHECK_MSG(r >= 0, "no rule %s", name);
    if (r < 0)
        return;
    int rc = ft_perturb_apply(rules, (size_t)r, m, s, strlen(s), &out, &len, &cap, &err);
    if (!want) {
        CHECK_MSG(rc == 0, "%s fired on \"%s\": \"%.*s\"", name, s, (int)len, out);
    } else {
        CHECK_MSG(rc == 1, "%s did not fire on \"%s\"", name, s);
        CHECK_MSG(rc == 1 && len == strlen(want) && !memcmp(out, want, len),
                  "%s: \"%s\" -> \"%.*s\", expected \"%s\"", name, s, (int)len,
                  rc == 1 ? out : "", want);
    }
    free(out);
}

/* No rule at all fires on s. */
static void expect_none(const char *s)
{
    ft_err err;
    for (size_t i = 0; i < ft_perturb_count(rules); i++)
        CHECK_MSG(ft_perturb_fires(rules, i, m, s, strlen(s), &err) == 0, "%s fires on \"%s\"",
                  ft_perturb_name(rules, i), s);
}

static void test_defaults(void)
{
    const char *root = getenv("FT_ROOT");
    char path[4096];
    ft_err err;

    snprintf(path, sizeof path, "%s/share/perturb-en.rules", root ? root : ".");
    rules = ft_perturb_new(&err);
    CHECK_MSG(ft_perturb_load(rules, path, &err) == 0, "%s", err.msg);
    CHECK_INT(ft_perturb_count(rules), 4);

    expect("front-pp", "In the end, the film works.", "The film works in the end.");
    expect("front-pp", "after all, i liked it.", "i liked it after all.");
    expect("front-pp", "With \xc3\x89mile in charge, \xc3\xa7" "a marche!",
           "\xc3\x87" "a marche with \xc3\x89mile in charge!");
    expect("front-pp", "In the end the film works.", NULL);            /* no comma */
    expect("front-pp", "In the end, the film, sadly, works.", NULL);   /* more commas */

    expect("front-adverb", "Surprisingly, the plot holds up!",
           "The plot holds up, surprisingly!");
    expect("front-adverb", "overall, a fine film.", "a fine film, overall.");
    expect("front-adverb", "Emily, the plot holds up.", NULL);         /* a name */

    expect("front-clause", "When the music starts, the film comes alive.",
           "The film comes alive when the music starts.");
    expect("front-clause", "If you like slow films, you will love it.",
           "You will love it if you like slow films.");
    expect("front-clause", "If you like it, then go.", NULL);
    expect("front-clause", "Although it is long, it is good.", NULL);

    expect("and-swap", "The acting is superb, and the score is lovely.",
           "The score is lovely, and the acting is superb.");
    expect("and-swap", "it drags, and the ending is weak", "the ending is weak, and it drags");
    expect("and-swap", "The plot is thin, but the acting is great.", NULL);
    expect("and-swap", "The plot is thin, and then it falls apart.", NULL);
    expect("and-swap", "The hero falls, and yet the film soars.", NULL);
    expect("and-swap", "I was tired, and the film was long.", NULL);    /* "I" stays up */

    /* The "but" sentence, and sentences with nothing to move. */
    expect_none("The plot is thin, but the acting is great.");
    expect_none("the only way to tolerate this insipid brutally clueless film");
    expect_none("");
    ft_perturb_free(rules);
}

static void test_format(void)
{
    ft_err err;
    ft_perturb *p = ft_perturb_new(&err);
    char *out = NULL;
    size_t len, cap = 0;
    const char *ok = "# a comment\n"
                     "rule swap-xy\n"
                     "  match ^(?i)(x+) (y+)$\n"
                     "  unless xxx\n"
                     "  replace $2 \\u$1\n"
                     "\n"
                     "rule upper\n"
                     "match ^(?<w>\\w+)\n"
                     "replace \\U${w}\\E!\n";

    CHECK_MSG(ft_perturb_parse(p, ok, strlen(ok), "ok.rules", &err) == 0, "%s", err.msg);
    CHECK_INT(ft_perturb_count(p), 2);
    CHECK_STR(ft_perturb_name(p, 0), "swap-xy");
    CHECK_INT(ft_perturb_apply(p, 0, m, "xx yy", 5, &out, &len, &cap, &err), 1);
    CHECK(len == 5 && !memcmp(out, "yy Xx", 5));
    CHECK_INT(ft_perturb_apply(p, 0, m, "xxx yy", 6, &out, &len, &cap, &err), 0);
    CHECK_INT(ft_perturb_apply(p, 1, m, "abc def", 7, &out, &len, &cap, &err), 1);
    CHECK(len == 8 && !memcmp(out, "ABC! def", 8));
    /* A sentence starting with a capital keeps one. */
    CHECK_INT(ft_perturb_apply(p, 0, m, "Xx yy", 5, &out, &len, &cap, &err), 1);
    CHECK(len == 5 && !memcmp(out, "Yy Xx", 5));
    ft_perturb_free(p);
    free(out);

    static const char *const bad[][2] = {
        {"rule a\nmatch (\nreplace x\n", "bad.rules: line 2: (: at offset 1:"},
        {"rule a\nreplace x\n", "bad.rules: line 1: rule a has no \"match\""},
        {"rule a\nmatch x\nrule b\nmatch y\nreplace z\n",
         "bad.rules: line 1: rule a has no \"replace\""},
        {"match x\n", "bad.rules: line 1: \"match\" before any \"rule\""},
        {"rule a\nfrobnicate x\n", "bad.rules: line 2: unknown directive \"frobnicate\""},
        {"rule a\nmatch\n", "bad.rules: line 2: \"match\" needs a value"},
        {"rule a\nmatch x\nreplace ${1\n", "bad.rules: line 3: replacement ${1:"},
        {"rule a\nmatch \xff\n", "bad.rules: line 2: invalid UTF-8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        p = ft_perturb_new(&err);
        CHECK(ft_perturb_parse(p, bad[i][0], strlen(bad[i][0]), "bad.rules", &err) < 0);
        CHECK_MSG(!strncmp(err.msg, bad[i][1], strlen(bad[i][1])), "\"%s\" vs \"%s\"",
                  err.msg, bad[i][1]);
        ft_perturb_free(p);
    }
}

int main(void)
{
    ft_err err;
    m = ft_rx_match_new(&err);
    test_defaults();
    test_format();
    ft_rx_match_free(m);
    return check_done();
}
