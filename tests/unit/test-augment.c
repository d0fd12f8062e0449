/* Unit tests of lib/text/augment with a synonym dictionary, stop words and
 * rules written here, so every expectation follows from this file alone:
 * reproducibility per (seed, id, k), what each operation may and may not do
 * (checked by splitting on spaces, independently of the tokenizer), the
 * deletion rate against its binomial bound, capitalisation, the rotation of
 * operations, and edge cases (empty, one word, punctuation, numbers, long
 * text, invalid UTF-8, CJK). */
#include "check.h"
#include "core/rng.h"
#include "text/augment.h"
#include "text/words.h"

/* word -> synonyms, a stop word that has synonyms, and digits. */
static const char *const dict[][4] = {
    {"good", "fine", "great", NULL},   {"film", "movie", "picture", NULL},
    {"plot", "story", NULL, NULL},     {"actor", "player", NULL, NULL},
    {"sad", "unhappy", "blue", NULL},  {"the", "teh", NULL, NULL},
    {"very", "really", NULL, NULL},    {"3", "three", NULL, NULL},
    {"big", "large", NULL, NULL},
};
static const char *const stops[] = {"the", "a", "is", "very", "of", "and"};

static ft_synonyms *syn;
static ft_strtab *stop;
static ft_perturb *rules;

static void setup(void)
{
    ft_err err;
    syn = ft_syn_new(&err);
    for (size_t i = 0; i < sizeof dict / sizeof *dict; i++)
        for (int j = 1; j < 4 && dict[i][j]; j++)
            ft_syn_add(syn, dict[i][0], strlen(dict[i][0]), dict[i][j], strlen(dict[i][j]),
                       &err);
    /* 喜欢 -> 爱, 电影 -> 片子 */
    ft_syn_add(syn, "\xe5\x96\x9c\xe6\xac\xa2", 6, "\xe7\x88\xb1", 3, &err);
    ft_syn_add(syn, "\xe7\x94\xb5\xe5\xbd\xb1", 6, "\xe7\x89\x87\xe5\xad\x90", 6, &err);
    CHECK(ft_syn_finish(syn, &err) == 0);
    stop = ft_strtab_new(&err);
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++)
        ft_strtab_intern(stop, stops[i], strlen(stops[i]), &err);
    rules = ft_perturb_new(&err);
    const char *r = "rule front\nmatch ^(?i)(in the end), (.+?)([.!?]*)$\n"
                    "replace $2 \\l$1$3\n";
    CHECK(ft_perturb_parse(rules, r, strlen(r), "test", &err) == 0);
}

static int is_syn(const char *word, const char *cand)
{
    for (size_t i = 0; i < sizeof dict / sizeof *dict; i++)
        if (!strcmp(dict[i][0], word))
            for (int j = 1; j < 4 && dict[i][j]; j++)
                if (!strcmp(dict[i][j], cand))
                    return 1;
    return 0;
}

static int is_stop(const char *w)
{
    for (size_t i = 0; i < sizeof stops / sizeof *stops; i++)
        if (!strcmp(stops[i], w))
            return 1;
    return 0;
}

/* Split on single spaces into at most 256 words of a static buffer. */
static int split(const char *s, size_t n, char words[][32])
{
    int c = 0;
    size_t i = 0;
    while (i < n && c < 256) {
        size_t j = i;
        while (j < n && s[j] != ' ')
            j++;
        snprintf(words[c++], 32, "%.*s", (int)(j - i), s + i);
        i = j + 1;
    }
    return c;
}

static int cmp_word(const void *a, const void *b)
{
    return strcmp(a, b);
}

typedef struct run {
    ft_augmenter *a;
    ft_aug_work *w;
} run;

static run make(const char *ops, double alpha, int ops_per_aug)
{
    ft_aug_opts o;
    ft_err err;
    run r;
    ft_aug_opts_default(&o);
    if (ops)
        CHECK(ft_aug_parse_ops(&o, ops, &err) == 0);
    o.alpha_sr = o.alpha_ri = o.alpha_rs = o.p_rd = alpha;
    o.ops_per_aug = ops_per_aug;
    r.a = ft_aug_new(&o, syn, stop, rules, &err);
    r.w = ft_aug_work_new(r.a, &err);
    CHECK(r.a && r.w);
    return r;
}

static void done(run r)
{
    ft_aug_work_free(r.w);
    ft_aug_free(r.a);
}

/* Rewrite k of text into buf; aug into aug_out (may be NULL). */
static size_t rewrite(run r, const char *text, uint64_t rseed, uint32_t k, char *buf,
                      char *aug_out)
{
    const char *out, *aug;
    size_t n;
    ft_err err;
    CHECK(ft_aug_prepare(r.w, text, strlen(text), &err) == 0);
    CHECK(ft_aug_rewrite(r.w, rseed, k, &out, &n, &aug, &err) == 0);
    memcpy(buf, out, n);
    buf[n] = '\0';
    if (aug_out)
        strcpy(aug_out, aug);
    return n;
}

static const char *const sentences[] = {
    "the good film has a sad plot and a good actor",
    "a very good film",
    "the plot of the film is sad and the actor is good",
    "good good good film film",
    "an actor with a plot",
};
#define N_SENT (sizeof sentences / sizeof *sentences)

static void test_reproducible(void)
{
    run r1 = make(NULL, 0.1, 1), r2 = make(NULL, 0.1, 1);
    char a[4096], b[4096];
    int differ = 0;

    /* Same (seed, id, k): the same bytes, whatever was rewritten before. */
    for (size_t s = 0; s < N_SENT; s++) {
        uint64_t rs = ft_aug_record_seed(42, "id", 2), rs2 = ft_aug_record_seed(43, "id", 2);
        for (uint32_t k = 1; k <= 8; k++) {
            rewrite(r1, sentences[s], rs, k, a, NULL);
            rewrite(r2, sentences[N_SENT - 1 - s], rs, 9 - k, b, NULL);  /* other work */
            rewrite(r2, sentences[s], rs, k, b, NULL);
            CHECK_STR(a, b);
            rewrite(r2, sentences[s], rs2, k, b, NULL);
            differ += strcmp(a, b) != 0;
        }
    }
    /* Another seed gives other rewrites (most of 40). */
    CHECK_MSG(differ >= 20, "%d of 40 differ", differ);
    /* The id counts by its bytes. */
    CHECK(ft_aug_record_seed(1, "\x07", 1) != ft_aug_record_seed(1, "\xa1" "7", 2));
    done(r1);
    done(r2);
}

static void test_rs(void)
{
    run r = make("rs", 0.3, 1);
    char out[4096], aug[80], w1[256][32], w2[256][32];

    for (size_t s = 0; s < N_SENT; s++)
        for (uint32_t k = 1; k <= 20; k++) {
            rewrite(r, sentences[s], ft_aug_record_seed(7, &s, sizeof s), k, out, aug);
            int n1 = split(sentences[s], strlen(sentences[s]), w1);
            int n2 = split(out, strlen(out), w2);
            CHECK_STR(aug, "rs");
            CHECK_INT(n1, n2);
            qsort(w1, (size_t)n1, 32, cmp_word);
            qsort(w2, (size_t)n2, 32, cmp_word);
            for (int i = 0; i < n1 && n1 == n2; i++)
                CHECK_STR(w1[i], w2[i]);
        }
    done(r);
}

static void test_rd(void)
{
    /* 4,000 rewrites of 10-word texts: 40,000 Bernoulli(0.1) deletions. The
     * rate is within 5 standard deviations, sqrt(0.1 * 0.9 / 40000) =
     * 0.0015, of 0.1 (false alarm < 1e-6); a text is never emptied. */
    run r = make("rd", 0.1, 1);
    const char *text = "one two three four five six seven eight nine ten";
    char out[4096], w[256][32];
    long removed = 0, total = 0;

    for (uint64_t id = 0; id < 1000; id++)
        for (uint32_t k = 1; k <= 4; k++) {
            rewrite(r, text, ft_aug_record_seed(3, &id, sizeof id), k, out, NULL);
            int n = split(out, strlen(out), w);
            CHECK(n >= 1 && strlen(out) > 0);
            removed += 10 - n;
            total += 10;
        }
    double rate = (double)removed / (double)total;
    CHECK_MSG(fabs(rate - 0.1) <= 5 * sqrt(0.1 * 0.9 / (double)total), "rate %.4f", rate);
    done(r);

    /* p = 0.95: nearly everything goes, one word always stays. */
    r = make("rd", 0.95, 1);
    for (uint64_t id = 0; id < 200; id++) {
        rewrite(r, "alpha beta", ft_aug_record_seed(3, &id, sizeof id), 1, out, NULL);
        CHECK(!strcmp(out, "alpha") || !strcmp(out, "beta") || !strcmp(out, "alpha beta"));
    }
    done(r);
}

static void test_sr(void)
{
    run r = make("sr", 0.1, 1);
    char out[4096], w1[256][32], w2[256][32];
    int changed = 0, total = 0;

    for (size_t s = 0; s < N_SENT; s++)
        for (uint32_t k = 1; k <= 20; k++) {
            rewrite(r, sentences[s], ft_aug_record_seed(9, &s, sizeof s), k, out, NULL);
            int n1 = split(sentences[s], strlen(sentences[s]), w1);
            int n2 = split(out, strlen(out), w2);
            int diff = 0;
            CHECK_INT(n1, n2);
            for (int i = 0; i < n1 && n1 == n2; i++) {
                if (!strcmp(w1[i], w2[i]))
                    continue;
                diff++;
                CHECK_MSG(is_syn(w1[i], w2[i]), "%s -> %s", w1[i], w2[i]);
                CHECK_MSG(!is_stop(w1[i]), "stop word %s replaced", w1[i]);
            }
            /* n = max(1, floor(0.1 * words)) = 1 distinct word, every
             * occurrence: "good good good film film" changes 2 or 3. */
            if (s == 3)
                CHECK(diff == 2 || diff == 3);
            changed += diff > 0;
            total++;
        }
    CHECK_INT(changed, total);
    done(r);

    /* Capitalisation carries over; only "very" and "the" (stop words) and
     * "3" (a number) have synonyms here besides "Big": always "Big". */
    r = make("sr", 0.5, 1);
    for (uint32_t k = 1; k <= 10; k++) {
        rewrite(r, "The Big 3 very", 5, k, out, NULL);
        CHECK_STR(out, "The Large 3 very");
        rewrite(r, "BIG, big!", 5, k, out, NULL);
        CHECK_STR(out, "LARGE, large!");
    }
    done(r);
}

static void test_ri(void)
{
    run r = make("ri", 0.2, 1);
    char out[4096], w1[256][32], w2[256][32];

    for (size_t s = 0; s < N_SENT; s++)
        for (uint32_t k = 1; k <= 20; k++) {
            rewrite(r, sentences[s], ft_aug_record_seed(11, &s, sizeof s), k, out, NULL);
            int n1 = split(sentences[s], strlen(sentences[s]), w1);
            int n2 = split(out, strlen(out), w2);
            int want = (int)floor(0.2 * n1) < 1 ? 1 : (int)floor(0.2 * n1);
            CHECK_INT(n2 - n1, want);

            /* The original words in order; every other word a synonym of a
             * non-stop word of the original. */
            int i = 0;
            for (int j = 0; j < n2; j++) {
                if (i < n1 && !strcmp(w1[i], w2[j])) {
                    i++;
                    continue;
                }
                int ok = 0;
                for (int t = 0; t < n1 && !ok; t++)
                    ok = !is_stop(w1[t]) && is_syn(w1[t], w2[j]);
                CHECK_MSG(ok, "inserted %s into \"%s\"", w2[j], sentences[s]);
            }
            CHECK_INT(i, n1);
        }
    done(r);
}

static void test_rotation(void)
{
    run r = make(NULL, 0.5, 1);
    char out[4096], aug[80];
    const char *text = "the good film had one sad plot and an actor";

    /* Four rewrites of a text every operation changes (distinct words, rd
     * deleting half of them): each operation once. */
    for (uint64_t id = 0; id < 50; id++) {
        int seen[FT_AUG_N_OPS] = {0};
        for (uint32_t k = 1; k <= 4; k++) {
            rewrite(r, text, ft_aug_record_seed(1, &id, sizeof id), k, out, aug);
            for (int op = 0; op < FT_AUG_N_OPS; op++)
                seen[op] += !strcmp(aug, ft_aug_op_name(op));
            CHECK(strcmp(out, text) != 0);
        }
        CHECK(seen[FT_AUG_SR] == 1 && seen[FT_AUG_RI] == 1 && seen[FT_AUG_RS] == 1 &&
              seen[FT_AUG_RD] == 1);
    }
    done(r);

    /* Chaining two operations. */
    r = make("sr,rs", 0.1, 2);
    rewrite(r, sentences[0], 77, 1, out, aug);
    CHECK(!strcmp(aug, "sr+rs") || !strcmp(aug, "rs+sr"));
    done(r);
}

static void test_sentence_ops(void)
{
    run r = make("reorder", 0.1, 1);
    char out[4096], aug[80];
    const char *text = "It rains. We stay in! Tea is hot.";

    for (uint32_t k = 1; k <= 10; k++) {
        rewrite(r, text, 5, k, out, aug);
        CHECK_STR(aug, "reorder");
        CHECK(strcmp(out, text) != 0 && strlen(out) == strlen(text));
        CHECK(strstr(out, "It rains.") && strstr(out, "We stay in!") &&
              strstr(out, "Tea is hot."));
    }
    /* One sentence: left alone (and aug names the op tried). */
    rewrite(r, "the good film has a sad plot", 5, 1, out, aug);
    CHECK_STR(out, "the good film has a sad plot");
    CHECK_STR(aug, "reorder");
    done(r);

    r = make("perturb", 0.1, 1);
    rewrite(r, "In the end, the film works. It is fine.", 5, 1, out, aug);
    CHECK_STR(out, "The film works in the end. It is fine.");
    CHECK_STR(aug, "perturb");
    done(r);

    /* Falling back: reorder cannot change one sentence, sr can. */
    r = make("reorder,sr", 0.1, 1);
    for (uint32_t k = 1; k <= 4; k++) {
        rewrite(r, "a sad film", 5, k, out, aug);
        CHECK_STR(aug, "sr");
    }
    done(r);
}

static void test_edges(void)
{
    run r = make(NULL, 0.1, 1);
    char *big, out[4096], aug[80];
    const char *res, *augp;
    size_t n;
    ft_err err;

    /* Empty, space-only and punctuation-only texts come back as they are. */
    rewrite(r, "", 1, 1, out, aug);
    CHECK_STR(out, "");
    rewrite(r, "  ", 1, 2, out, aug);
    CHECK_STR(out, "  ");
    rewrite(r, "?!... --", 1, 3, out, aug);
    CHECK_STR(out, "?!... --");

    /* One word: only sr and ri can act; numbers are never replaced. */
    for (uint32_t k = 1; k <= 8; k++) {
        rewrite(r, "film", 2, k, out, aug);
        CHECK(!strcmp(out, "movie") || !strcmp(out, "picture") ||
              !strcmp(out, "movie film") || !strcmp(out, "picture film") ||
              !strcmp(out, "film movie") || !strcmp(out, "film picture"));
        rewrite(r, "3", 2, k, out, aug);
        CHECK_STR(out, "3");
    }

    /* Punctuation stays where it is under rs and rd. */
    run p = make("rs,rd", 0.5, 1);
    for (uint32_t k = 1; k <= 10; k++) {
        rewrite(p, "good, sad: film!", 3, k, out, aug);
        CHECK_MSG(strchr(out, ',') && strchr(out, ':') && out[strlen(out) - 1] == '!', "%s",
                  out);
    }
    done(p);

    /* A long text: 100,000 words. */
    big = malloc(600001);
    for (int i = 0; i < 100000; i++)
        memcpy(big + 6 * i, i % 2 ? "good  " : "film  ", 6);
    big[599999] = '\0';
    CHECK(ft_aug_prepare(r.w, big, strlen(big), &err) == 0);
    for (uint32_t k = 1; k <= 4; k++)
        CHECK(ft_aug_rewrite(r.w, 1, k, &res, &n, &augp, &err) == 0 && n > 500000);
    free(big);

    /* Invalid UTF-8 is refused with the byte offset. */
    CHECK(ft_aug_prepare(r.w, "ok \xc3(", 5, &err) < 0);
    CHECK_STR(err.msg, "invalid UTF-8 at byte 3");
    done(r);

    /* Unknown operations. */
    ft_aug_opts o;
    CHECK(ft_aug_parse_ops(&o, "sr,xx", &err) < 0 && err.kind == FT_ERR_USAGE);
    CHECK(ft_aug_parse_ops(&o, "sr,sr", &err) < 0);
}

static void test_cjk(void)
{
    /* 我喜欢电影 cut by the dictionary: 我 | 喜欢 | 电影. */
    run r = make("sr", 0.1, 1);
    const char *text = "\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe7\x94\xb5\xe5\xbd\xb1";
    char out[4096];
    int a = 0, b = 0;

    for (uint32_t k = 1; k <= 20; k++) {
        rewrite(r, text, 8, k, out, NULL);
        /* 我爱电影 or 我喜欢片子: one of the two replaced, no space added. */
        a += !strcmp(out, "\xe6\x88\x91\xe7\x88\xb1\xe7\x94\xb5\xe5\xbd\xb1");
        b += !strcmp(out, "\xe6\x88\x91\xe5\x96\x9c\xe6\xac\xa2\xe7\x89\x87\xe5\xad\x90");
    }
    CHECK(a + b == 20 && a > 0 && b > 0);
    done(r);

    /* Insertion between CJK words adds no space. */
    r = make("ri", 0.1, 1);
    for (uint32_t k = 1; k <= 10; k++) {
        rewrite(r, text, 8, k, out, NULL);
        CHECK(strchr(out, ' ') == NULL &&
              (strlen(out) == strlen(text) + 3 || strlen(out) == strlen(text) + 6));
    }
    done(r);
}

int main(void)
{
    setup();
    test_reproducible();
    test_rs();
    test_rd();
    test_sr();
    test_ri();
    test_rotation();
    test_sentence_ops();
    test_edges();
    test_cjk();
    ft_syn_free(syn);
    ft_strtab_free(stop);
    ft_perturb_free(rules);
    return check_done();
}
