/* records_bench: records per second through the record stream library
 * alone: build and write small records to a file, then read them back from
 * that file, each read looking up and decoding its "text" field.
 * Small record: {"id": int, "label": "positive", "text": 48 bytes}, 77
 * bytes of msgpack. Times are CPU seconds of this process (the machine is
 * shared). Built by bench/run-data.sh; not part of `make`. */
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/records.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    long n = argc > 2 ? atol(argv[2]) : 5000000;
    const char *path = argc > 1 ? argv[1] : "records-bench.mp";
    const char text[] = "a small example sentence of forty-eight bytes ok";
    ft_rec_builder b;
    ft_record rec;
    ft_err err;
    double t0, t1;
    size_t total = 0;
    int fd;

    /* Write. */
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    ft_writer *w = ft_writer_open(fd, path, 1, &err);
    if (fd < 0 || !w) {
        fprintf(stderr, "records_bench: %s\n", err.msg);
        return 1;
    }
    ft_rec_init(&b);
    t0 = cpu_s();
    for (long i = 0; i < n; i++) {
        ft_rec_reset(&b);
        ft_rec_int(&b, "id", i);
        ft_rec_cstr(&b, "label", "positive");
        ft_rec_str(&b, "text", text, sizeof text - 1);
        if (ft_writer_put(w, &b, &err) < 0) {
            fprintf(stderr, "records_bench: %s\n", err.msg);
            return 1;
        }
    }
    if (ft_writer_close(w, &err) < 0 || close(fd) < 0)
        return 1;
    t1 = cpu_s();
    printf("write\t%ld\t%.0f records/s\n", n, n / (t1 - t0));

    /* Read. */
    fd = open(path, O_RDONLY);
    ft_reader *r = ft_reader_open(fd, path, 0, &err);
    long got = 0;
    t0 = cpu_s();
    while (ft_reader_next(r, &rec, &err) == 1) {
        const ft_field *f = ft_record_get(&rec, "text");
        const char *s;
        size_t len;
        if (!f || ft_field_str(f, &s, &len, &err) < 0)
            return 1;
        total += len;
        got++;
    }
    t1 = cpu_s();
    printf("read\t%ld\t%.0f records/s\t(%zu text bytes)\n", got, got / (t1 - t0), total);
    ft_reader_free(r);
    close(fd);
    ft_rec_free(&b);
    unlink(path);
    return got == n ? 0 : 1;
}
