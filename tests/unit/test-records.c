/* Unit tests of the record stream: framing, fields, building, writing, and
 * every kind of malformed input. Expected bytes are hand-encoded from the
 * msgpack specification. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "data/records.h"

/* {"id": 1, "text": "hi"} */
static const uint8_t rec_a[] = {0x82, 0xa2, 'i', 'd', 0x01, 0xa4, 't', 'e', 'x', 't',
                                0xa2, 'h', 'i'};
/* {"id": "x", "tokens": [1, 300, -2], "w": 0.5 (float64)} */
static const uint8_t rec_b[] = {0x83, 0xa2, 'i', 'd', 0xa1, 'x', 0xa6, 't', 'o', 'k', 'e',
                                'n', 's', 0x93, 0x01, 0xcd, 0x01, 0x2c, 0xfe, 0xa1, 'w',
                                0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0};

static void test_read_fields(void)
{
    uint8_t stream[sizeof rec_a + sizeof rec_b];
    ft_err err;
    ft_record rec;
    const char *s;
    size_t len;
    int64_t v;
    double d;

    memcpy(stream, rec_a, sizeof rec_a);
    memcpy(stream + sizeof rec_a, rec_b, sizeof rec_b);
    ft_reader *r = ft_reader_mem(stream, sizeof stream, "mem", 0, &err);
    CHECK(r != NULL);

    CHECK_INT(ft_reader_next(r, &rec, &err), 1);
    CHECK_INT(rec.n_fields, 2);
    CHECK_INT(rec.offset, 0);
    CHECK_INT(rec.number, 1);
    CHECK(ft_field_int(ft_record_get(&rec, "id"), &v, &err) == 0 && v == 1);
    CHECK(ft_field_str(ft_record_get(&rec, "text"), &s, &len, &err) == 0 && len == 2 &&
          !memcmp(s, "hi", 2));
    CHECK(ft_record_get(&rec, "label") == NULL);
    /* A string is not an integer: the error names the field. */
    CHECK(ft_field_int(ft_record_get(&rec, "text"), &v, &err) < 0);
    CHECK_STR(err.msg, "field \"text\": expected an integer, found a string");

    CHECK_INT(ft_reader_next(r, &rec, &err), 1);
    CHECK_INT(rec.offset, sizeof rec_a);
    int32_t *ids;
    size_t n;
    CHECK(ft_field_int_array(ft_record_get(&rec, "tokens"), &ids, &n, &err) == 0);
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 300 && ids[2] == -2);
    free(ids);
    CHECK(ft_field_num(ft_record_get(&rec, "w"), &d, &err) == 0 && d == 0.5);
    CHECK_INT(ft_reader_next(r, &rec, &err), 0);
    CHECK_INT(ft_reader_count(r), 2);
    ft_reader_free(r);
}

/* Each malformed stream gives one message naming record and byte offset. */
static void expect_error(const uint8_t *data, size_t n, size_t cap, const char *msg)
{
    ft_err err;
    ft_record rec;
    int rc;
    ft_reader *r = ft_reader_mem(data, n, "in.mp", cap, &err);

    while ((rc = ft_reader_next(r, &rec, &err)) == 1)
        ;
    CHECK_INT(rc, -1);
    if (rc < 0)
        CHECK_STR(err.msg, msg);
    ft_reader_free(r);
}

static void test_malformed(void)
{
    uint8_t buf[64];

    /* Truncated: the second record loses its last byte. */
    memcpy(buf, rec_a, sizeof rec_a);
    memcpy(buf + sizeof rec_a, rec_a, sizeof rec_a - 1);
    expect_error(buf, 2 * sizeof rec_a - 1, 0,
                 "in.mp: record 2 (byte 13): truncated record at end of input");

    /* Not a map: an array at the top level. */
    const uint8_t arr[] = {0x92, 0x01, 0x02};
    expect_error(arr, sizeof arr, 0, "in.mp: record 1 (byte 0): not a map but an array");

    /* A string length prefix claiming 4 GiB: refused by the cap at once. */
    const uint8_t huge[] = {0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff, 'x'};
    expect_error(huge, sizeof huge, 0,
                 "in.mp: record 1 (byte 0): larger than the cap of 67108864 bytes "
                 "(see --max-record-bytes)");

    /* A map claiming 2^32-1 entries in a tiny record. */
    const uint8_t bigmap[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01};
    expect_error(bigmap, sizeof bigmap, 1024,
                 "in.mp: record 1 (byte 0): larger than the cap of 1024 bytes "
                 "(see --max-record-bytes)");

    /* The never-used byte 0xc1. */
    const uint8_t bad[] = {0x81, 0xa1, 'k', 0xc1};
    expect_error(bad, sizeof bad, 0, "in.mp: record 1 (byte 0): malformed msgpack (byte 0xc1)");
}

/* A pipe delivering one byte at a time still yields whole records. */
static void test_pipe_chunking(void)
{
    int fds[2];
    ft_err err;
    ft_record rec;
    int n = 0, rc;

    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        for (int k = 0; k < 50; k++)
            for (size_t i = 0; i < sizeof rec_b; i++) {
                if (write(fds[1], &rec_b[i], 1) != 1)
                    _exit(1);
                if (i % 7 == 0)
                    usleep(10);
            }
        _exit(0);
    }
    close(fds[1]);
    ft_reader *r = ft_reader_open(fds[0], "pipe", 0, &err);
    while ((rc = ft_reader_next(r, &rec, &err)) == 1) {
        CHECK(rec.n_bytes == sizeof rec_b && !memcmp(rec.data, rec_b, sizeof rec_b));
        n++;
    }
    CHECK_INT(rc, 0);
    CHECK_INT(n, 50);
    ft_reader_free(r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
}

/* A large record (bigger than the reader's first buffer) arrives whole. */
static void test_large_record(void)
{
    ft_rec_builder b;
    ft_err err;
    ft_record rec;
    size_t n = 300000;
    char *text = malloc(n);
    memset(text, 'a', n);

    ft_rec_init(&b);
    ft_rec_cstr(&b, "id", "big");
    ft_rec_str(&b, "text", text, n);
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        ft_writer *w = ft_writer_open(fds[1], "pipe", 1, &err);
        _exit(ft_writer_put(w, &b, &err) < 0 || ft_writer_close(w, &err) < 0);
    }
    close(fds[1]);
    ft_reader *r = ft_reader_open(fds[0], "pipe", 0, &err);
    CHECK_INT(ft_reader_next(r, &rec, &err), 1);
    const char *s;
    size_t len;
    CHECK(ft_field_str(ft_record_get(&rec, "text"), &s, &len, &err) == 0 && len == n);
    CHECK_INT(ft_reader_next(r, &rec, &err), 0);
    ft_reader_free(r);
    close(fds[0]);
    waitpid(pid, NULL, 0);
    ft_rec_free(&b);
    free(text);
}

static void test_build(void)
{
    ft_rec_builder b;
    ft_err err;
    ft_record rec;

    /* Builds exactly the hand-encoded record. */
    ft_rec_init(&b);
    ft_rec_int(&b, "id", 1);
    ft_rec_cstr(&b, "text", "hi");
    CHECK_INT(b.n_fields, 2);
    CHECK(b.len == sizeof rec_a - 1 && !memcmp(b.buf, rec_a + 1, b.len));

    /* Copying all but "id" keeps the other fields' raw bytes, in order. */
    ft_reader *r = ft_reader_mem(rec_b, sizeof rec_b, "mem", 0, &err);
    CHECK_INT(ft_reader_next(r, &rec, &err), 1);
    ft_rec_reset(&b);
    static const char *const skip[] = {"id", NULL};
    ft_rec_copy_except(&b, &rec, skip);
    ft_rec_cstr(&b, "label", "pos");
    const uint8_t want[] = {0xa6, 't', 'o', 'k', 'e', 'n', 's', 0x93, 0x01, 0xcd, 0x01,
                            0x2c, 0xfe, 0xa1, 'w', 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0,
                            0xa5, 'l', 'a', 'b', 'e', 'l', 0xa3, 'p', 'o', 's'};
    CHECK_INT(b.n_fields, 3);
    CHECK(b.len == sizeof want && !memcmp(b.buf, want, sizeof want));
    ft_reader_free(r);

    /* Sixteen fields need the map16 header. */
    ft_rec_reset(&b);
    for (int i = 0; i < 16; i++)
        ft_rec_int(&b, "k", i);
    int fds[2];
    CHECK(pipe(fds) == 0);
    ft_writer *w = ft_writer_open(fds[1], "pipe", 1, &err);
    CHECK(ft_writer_put(w, &b, &err) == 0 && ft_writer_close(w, &err) == 0);
    close(fds[1]);
    uint8_t head[3];
    CHECK(read(fds[0], head, 3) == 3);
    CHECK(head[0] == 0xde && head[1] == 0 && head[2] == 16);
    close(fds[0]);
    ft_rec_free(&b);
}

/* A closed downstream pipe is reported as FT_ERR_PIPE, not a failure. */
static void test_epipe(void)
{
    int fds[2];
    ft_err err;
    ft_rec_builder b;
    int rc = 0;

    signal(SIGPIPE, SIG_IGN);
    CHECK(pipe(fds) == 0);
    close(fds[0]);
    ft_rec_init(&b);
    ft_rec_cstr(&b, "text", "x");
    ft_writer *w = ft_writer_open(fds[1], "out", 1, &err);
    for (int i = 0; i < 100000 && rc == 0; i++)
        rc = ft_writer_put(w, &b, &err);
    if (rc == 0)
        rc = ft_writer_flush(w, &err);
    CHECK_INT(rc, -1);
    CHECK_INT(err.kind, FT_ERR_PIPE);
    ft_writer_close(w, NULL);
    close(fds[1]);
    ft_rec_free(&b);
}

int main(void)
{
    test_read_fields();
    test_malformed();
    test_pipe_chunking();
    test_large_record();
    test_build();
    test_epipe();
    return check_done();
}
