/* Unit tests of lib/text/synonyms and lib/text/wordnet: a synonym file
 * written here (directed pairs, duplicates, the word itself, case, bad
 * lines), and WordNet 3.0 facts read off the data files by hand:
 *   data.noun 06613686: "movie film picture moving_picture moving-picture_show
 *     motion_picture motion-picture_show picture_show pic flick" (movie has
 *     this one synset, so exactly these 9 synonyms);
 *   data.adj 00020103: "outback(a) remote" (the "(a)" marker is no part of
 *     the word). */
#include <unistd.h>

#include "check.h"
#include "text/synonyms.h"
#include "text/wordnet.h"

static int has_syn(const ft_synonyms *s, const char *word, const char *syn)
{
    const uint32_t *ids;
    uint32_t n = ft_syn_lookup(s, word, strlen(word), &ids);
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *t = ft_syn_str(s, ids[i], &len);
        if (len == strlen(syn) && !memcmp(t, syn, len))
            return 1;
    }
    return 0;
}

static uint32_t n_syn(const ft_synonyms *s, const char *word)
{
    const uint32_t *ids;
    return ft_syn_lookup(s, word, strlen(word), &ids);
}

static char *write_temp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/ft-test-syn-%d.tsv", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_tsv(void)
{
    ft_err err;
    ft_synonyms *s = ft_syn_new(&err);
    char *path = write_temp("# comment\n"
                            "big\tlarge\thuge\n"
                            "\n"
                            "Big\tlarge\n"          /* same word, duplicate synonym */
                            "big\tBIG\n"            /* the word itself: dropped */
                            "\xc3\xa9t\xc3\xa9\tsummer\n"  /* été */
                            "\xe7\x94\xb5\xe5\xbd\xb1\t\xe7\x89\x87\xe5\xad\x90\n");

    CHECK(ft_syn_load_tsv(s, path, &err) == 0);
    CHECK(ft_syn_finish(s, &err) == 0);
    CHECK_INT(n_syn(s, "big"), 2);
    CHECK(has_syn(s, "big", "large") && has_syn(s, "big", "huge"));
    CHECK_INT(n_syn(s, "large"), 0);               /* pairs are directed */
    CHECK_INT(n_syn(s, "Big"), 0);                 /* look-ups are in lower case */
    CHECK(has_syn(s, "\xc3\xa9t\xc3\xa9", "summer"));
    CHECK_INT(ft_syn_count_words(s), 3);
    CHECK_INT(ft_syn_max_tight_bytes(s), 6);       /* 电影 */
    /* Order is the order of the file. */
    const uint32_t *ids;
    size_t len;
    ft_syn_lookup(s, "big", 3, &ids);
    CHECK(!strcmp(ft_syn_str(s, ids[0], &len), "large"));
    ft_syn_free(s);

    /* A line without a tab, and invalid UTF-8, name the line. */
    s = ft_syn_new(&err);
    path = write_temp("a\tb\nno tab here\n");
    CHECK(ft_syn_load_tsv(s, path, &err) < 0);
    CHECK_MSG(strstr(err.msg, "line 2: expected word<TAB>synonym") != NULL, "%s", err.msg);
    path = write_temp("a\tb\nc\td\xff\n");
    CHECK(ft_syn_load_tsv(s, path, &err) < 0);
    CHECK_MSG(strstr(err.msg, "line 2: invalid UTF-8") != NULL, "%s", err.msg);
    CHECK(ft_syn_load_tsv(s, "/nonexistent/syn.tsv", &err) < 0);
    ft_syn_free(s);
    unlink(path);
}

static void test_wordnet(void)
{
    ft_err err;
    ft_synonyms *s = ft_syn_new(&err);
    static const char *const movie[] = {"film", "picture", "moving picture",
                                        "moving-picture show", "motion picture",
                                        "motion-picture show", "picture show", "pic", "flick"};

    CHECK(ft_wordnet_load(s, NULL, &err) == 0);
    CHECK(ft_syn_finish(s, &err) == 0);
    CHECK_INT(n_syn(s, "movie"), 9);
    for (size_t i = 0; i < sizeof movie / sizeof *movie; i++)
        CHECK_MSG(has_syn(s, "movie", movie[i]), "movie: %s", movie[i]);
    CHECK(!has_syn(s, "movie", "movie"));
    CHECK(has_syn(s, "flick", "movie"));
    CHECK(has_syn(s, "moving picture", "flick"));
    CHECK(has_syn(s, "remote", "outback") && !has_syn(s, "remote", "outback(a)"));
    CHECK(has_syn(s, "outback", "remote"));
    /* Proper nouns keep their spelling; keys are lower case. */
    CHECK(has_syn(s, "sunday", "Lord's Day"));
    CHECK_INT(n_syn(s, "Sunday"), 0);
    CHECK_INT(n_syn(s, "xyzzyq"), 0);
    /* WordNet 3.0 has about 147,000 words; most have a synonym. */
    CHECK(ft_syn_count_words(s) > 100000 && ft_syn_count_words(s) < 150000);
    ft_syn_free(s);

    s = ft_syn_new(&err);
    CHECK(ft_wordnet_load(s, "/nonexistent", &err) < 0);
    CHECK_MSG(strstr(err.msg, "/nonexistent/data.noun") != NULL, "%s", err.msg);
    ft_syn_free(s);
}

int main(void)
{
    test_tsv();
    test_wordnet();
    return check_done();
}
