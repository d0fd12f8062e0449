/* test-train-data: the spool, packing into rows, shuffling and batches,
 * on a small stream whose rows are worked out by hand below. */
#include "train/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hash.h"
#include "check.h"

/* A stand-in tokenizer: one id per byte. */
static int bytes_encode(void *ctx, const char *text, size_t len, int32_t **ids,
                        size_t *n, size_t *cap, ft_err *err)
{
    (void)ctx;
    if (ft_grow(ids, cap, *n + len, sizeof **ids, err) < 0)
        return -1;
    for (size_t i = 0; i < len; i++)
        (*ids)[(*n)++] = (unsigned char)text[i];
    return 0;
}

/* Write records to a temporary file; return its fd at offset 0. */
static int stream_file(ft_rec_builder *recs, int n, char **bytes, size_t *n_bytes)
{
    ft_err err;
    FILE *f = tmpfile();
    ft_writer *w = ft_writer_open(fileno(f), "test", 1, &err);
    for (int i = 0; i < n; i++)
        ft_writer_put(w, &recs[i], &err);
    ft_writer_close(w, &err);
    int fd = dup(fileno(f));
    fclose(f);
    *n_bytes = (size_t)lseek(fd, 0, SEEK_END);
    *bytes = malloc(*n_bytes + 1);
    lseek(fd, 0, SEEK_SET);
    if (read(fd, *bytes, *n_bytes) != (ssize_t)*n_bytes)
        abort();
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Records: {tokens [1 2 3]}, {text "ab"}, {tokens [4 5], weight 2},
 * {tokens [6]}, {text ""}; token records are taken as they are, texts get
 * EOS 9 after them, the empty text adds nothing. The token array is
 *     index  0 1 2  3  4 5 | 6 7 | 8
 *     id     1 2 3 97 98 9 | 4 5 | 6
 *     weight 1 ........... | 2 . | 1
 * Packed with seq_len 3 (windows of 4 overlapping by 1, cut where the
 * weight changes):
 *     row 0: start 0, len 4 (1 2 3 97), 3 targets, weight 1
 *     row 1: start 3, len 3 (97 98 9), 2 targets, weight 1
 *     row 2: start 6, len 2 (4 5), 1 target, weight 2
 *     (token 8 alone makes no row: nothing to predict) */
static void test_lm_pack(void)
{
    ft_rec_builder r[5];
    static const int32_t t0[] = {1, 2, 3}, t2[] = {4, 5}, t3[] = {6};
    ft_lm_source src = {bytes_encode, NULL, 9, 128, NULL, 0};
    ft_err err;
    char *bytes;
    size_t n_bytes, n_rows;
    uint64_t hash;
    ft_row *rows;

    for (int i = 0; i < 5; i++)
        ft_rec_init(&r[i]);
    ft_rec_int_array(&r[0], "tokens", t0, 3);
    ft_rec_cstr(&r[1], "id", "x");
    ft_rec_cstr(&r[1], "text", "ab");
    ft_rec_int_array(&r[2], "tokens", t2, 2);
    ft_rec_double(&r[2], "weight", 2.0);
    ft_rec_int_array(&r[3], "tokens", t3, 1);
    ft_rec_cstr(&r[4], "text", "");
    int fd = stream_file(r, 5, &bytes, &n_bytes);

    ft_spool *s = ft_spool_new(&err);
    CHECK(s != NULL);
    CHECK(ft_spool_read(s, fd, "test", ft_lm_record, &src, &hash, &err) == 0);
    CHECK(ft_spool_seal(s, &err) == 0);
    /* The hash is XXH64 of the stream's bytes (the records back to back). */
    CHECK(hash == ft_hash64(bytes, n_bytes, 0));
    CHECK_INT(ft_spool_n_examples(s), 4);
    CHECK_INT(ft_spool_n_tokens(s), 9);
    static const int32_t want[] = {1, 2, 3, 97, 98, 9, 4, 5, 6};
    CHECK(memcmp(ft_spool_ids(s), want, sizeof want) == 0);
    CHECK(ft_spool_mask(s) == NULL);

    CHECK(ft_rows_pack(s, 3, 1, &rows, &n_rows, &err) == 0);
    CHECK_INT(n_rows, 3);
    static const ft_row want_rows[] = {{0, 4, 3, 1.0f}, {3, 3, 2, 1.0f}, {6, 2, 1, 2.0f}};
    for (size_t i = 0; i < n_rows && i < 3; i++) {
        CHECK_INT(rows[i].start, want_rows[i].start);
        CHECK_INT(rows[i].len, want_rows[i].len);
        CHECK_INT(rows[i].n_targets, want_rows[i].n_targets);
        CHECK(rows[i].weight == want_rows[i].weight);
    }

    /* A micro-batch of rows 1 and 2 in a [3, 4] batch:
     *     tokens  97 98 0 0 | 4 0 0 0 | 0 0 0 0
     *     targets 98 9 -1 -1 | 5 -1 -1 -1 | -1 -1 -1 -1
     *     weights 1 2 0; sum of weight * targets = 1*2 + 2*1 = 4 */
    uint32_t pick[2] = {1, 2};
    int32_t tok[12], tgt[12];
    float w[3];
    static const int32_t want_tok[] = {97, 98, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0};
    static const int32_t want_tgt[] = {98, 9, -1, -1, 5, -1, -1, -1, -1, -1, -1, -1};
    CHECK(ft_batch_fill(s, rows, pick, 2, 3, 4, tok, tgt, w) == 4.0);
    CHECK(memcmp(tok, want_tok, sizeof tok) == 0);
    CHECK(memcmp(tgt, want_tgt, sizeof tgt) == 0);
    CHECK(w[0] == 1.0f && w[1] == 2.0f && w[2] == 0.0f);

    /* seq_len 8: the first run (6 tokens) is one row with 5 targets. */
    free(rows);
    CHECK(ft_rows_pack(s, 8, 1, &rows, &n_rows, &err) == 0);
    CHECK_INT(n_rows, 2);
    CHECK_INT(rows[0].len, 6);
    CHECK_INT(rows[0].n_targets, 5);

    /* Not across records (--no-pack), seq_len 3: each record on its own,
     * (1 2 3), (97 98 9), (4 5); the lone 6 makes no row. */
    free(rows);
    CHECK(ft_rows_pack(s, 3, 0, &rows, &n_rows, &err) == 0);
    CHECK_INT(n_rows, 3);
    CHECK_INT(rows[0].len, 3);
    CHECK_INT(rows[1].start, 3);
    CHECK_INT(rows[1].len, 3);
    CHECK_INT(rows[2].start, 6);
    CHECK_INT(rows[2].n_targets, 1);

    free(rows);
    ft_spool_free(s);
    ft_lm_source_free(&src);
    close(fd);
    free(bytes);
    for (int i = 0; i < 5; i++)
        ft_rec_free(&r[i]);
}

/* Masks: example 1 [1 2 3] has none (all targets), example 2 [4 5 6 7]
 * has mask 0 0 1 1: 2 targets (6 and 7); as one row each with seq_len 5:
 * row 1's targets are -1 6 7. */
static void test_mask_rows(void)
{
    static const int32_t a[] = {1, 2, 3}, b[] = {4, 5, 6, 7};
    static const uint8_t mb[] = {0, 0, 1, 1};
    ft_err err;
    ft_row *rows;
    size_t n_rows;
    ft_spool *s = ft_spool_new(&err);

    CHECK(ft_spool_add(s, a, NULL, 3, 1.0f, &err) == 0);
    CHECK(ft_spool_add(s, b, mb, 4, 0.5f, &err) == 0);
    CHECK(ft_spool_seal(s, &err) == 0);
    static const uint8_t want_mask[] = {1, 1, 1, 0, 0, 1, 1};
    CHECK(ft_spool_mask(s) && memcmp(ft_spool_mask(s), want_mask, 7) == 0);
    CHECK(ft_rows_examples(s, 5, &rows, &n_rows, &err) == 0);
    CHECK_INT(n_rows, 2);
    CHECK_INT(rows[0].n_targets, 2);
    CHECK_INT(rows[1].n_targets, 2);

    uint32_t pick[1] = {1};
    int32_t tok[5], tgt[5];
    float w[1];
    static const int32_t want_tok[] = {4, 5, 6, 0, 0}, want_tgt[] = {-1, 6, 7, -1, -1};
    CHECK(ft_batch_fill(s, rows, pick, 1, 1, 5, tok, tgt, w) == 1.0);
    CHECK(memcmp(tok, want_tok, sizeof tok) == 0);
    CHECK(memcmp(tgt, want_tgt, sizeof tgt) == 0);
    free(rows);

    /* Longer than seq_len + 1: an error naming the example. */
    CHECK(ft_rows_examples(s, 2, &rows, &n_rows, &err) == -1);
    CHECK_STR(err.msg, "example 2 has 4 tokens, more than the sequence length 2 + 1");
    ft_spool_free(s);
}

/* Each epoch's order is a permutation fixed by seed and epoch. */
static void test_order(void)
{
    uint32_t a[50], b[50], c[50];
    int seen[50] = {0}, same = 1, differ = 0;

    ft_rows_order(50, 7, 0, 0, a);
    for (int i = 0; i < 50; i++)
        same &= a[i] == (uint32_t)i;
    CHECK(same);
    ft_rows_order(50, 7, 3, 1, a);
    ft_rows_order(50, 7, 3, 1, b);
    ft_rows_order(50, 7, 4, 1, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        differ += a[i] != c[i];
    }
    for (int i = 0; i < 50; i++)
        CHECK_INT(seen[i], 1);
    CHECK(differ > 10);
}

/* Bad streams: one-sentence errors naming the record. */
static void expect_error(ft_rec_builder *r, int n, const char *msg)
{
    ft_lm_source src = {NULL, NULL, -1, 10, NULL, 0};
    ft_err err;
    char *bytes;
    size_t n_bytes;
    uint64_t hash;
    int fd = stream_file(r, n, &bytes, &n_bytes);
    ft_spool *s = ft_spool_new(&err);

    CHECK(ft_spool_read(s, fd, "in.mp", ft_lm_record, &src, &hash, &err) == -1);
    CHECK_STR(err.msg, msg);
    ft_spool_free(s);
    ft_lm_source_free(&src);
    close(fd);
    free(bytes);
}

static void test_errors(void)
{
    ft_rec_builder r[2];
    static const int32_t ok[] = {1, 2}, bad[] = {3, 12};

    ft_rec_init(&r[0]);
    ft_rec_init(&r[1]);
    expect_error(r, 0, "in.mp: empty stream (no records)");
    ft_rec_int_array(&r[0], "tokens", ok, 2);
    ft_rec_cstr(&r[1], "label", "x");
    expect_error(r, 2, "in.mp: record 2: no \"text\" or \"tokens\" field");
    ft_rec_reset(&r[1]);
    ft_rec_cstr(&r[1], "text", "hello");
    expect_error(r, 2, "in.mp: record 2: no \"tokens\" field, and no tokenizer for "
                       "\"text\"");
    ft_rec_reset(&r[1]);
    ft_rec_int_array(&r[1], "tokens", bad, 2);
    expect_error(r, 2, "in.mp: record 2: token 12 at position 1 is outside the "
                       "vocabulary (0..9)");
    ft_rec_reset(&r[1]);
    ft_rec_int_array(&r[1], "tokens", ok, 2);
    ft_rec_double(&r[1], "weight", -1);
    expect_error(r, 2, "in.mp: record 2: field weight: -1 is not a finite number >= 0");
    ft_rec_free(&r[0]);
    ft_rec_free(&r[1]);
}

int main(void)
{
    test_lm_pack();
    test_mask_rows();
    test_order();
    test_errors();
    return check_done();
}
