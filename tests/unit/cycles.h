/* cycles: the stories260K tests' data and training run. Rows of 33 token
 * ids cycling through 60, 97, 134, ..., 319 (8 ids, 37 apart) from a
 * random start, a rule a model can learn; ft-train on them with a held-out
 * evaluation; the held-out loss read back from its log. Static inline
 * functions (a test need not use them all): include it in one test file. */
#ifndef FT_TESTS_CYCLES_H
#define FT_TESTS_CYCLES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "core/rng.h"
#include "data/records.h"
#include "check.h"

/* n rows to path, starts drawn from the generator (seed, stream). */
static inline void write_cycles(const char *path, int n, uint64_t seed, uint64_t stream)
{
    ft_err err;
    ft_rng rng;
    ft_rec_builder b;
    int32_t ids[33];
    FILE *f = fopen(path, "wb");
    ft_writer *w = ft_writer_open(fileno(f), path, 1, &err);

    ft_rng_seed(&rng, seed, stream);
    ft_rec_init(&b);
    for (int r = 0; r < n; r++) {
        int s = (int)ft_rng_below(&rng, 8);
        for (int i = 0; i < 33; i++)
            ids[i] = 60 + 37 * ((s + i) % 8);
        ft_rec_reset(&b);
        ft_rec_int_array(&b, "tokens", ids, 33);
        ft_writer_put(w, &b, &err);
    }
    ft_writer_close(w, &err);
    ft_rec_free(&b);
    fclose(f);
}

/* The eval_loss of the last record of a msgpack log. */
static inline double last_eval(const char *path)
{
    ft_err err;
    ft_record rec;
    double v = NAN;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NAN;
    ft_reader *r = ft_reader_open(fileno(f), path, 0, &err);
    while (r && ft_reader_next(r, &rec, &err) == 1) {
        const ft_field *e = ft_record_get(&rec, "eval_loss");
        if (e)
            ft_field_num(e, &v, &err);
    }
    ft_reader_free(r);
    fclose(f);
    return v;
}

/* ft-train (in bin) from model on dir/train.mp: 60 updates of 8 x 32
 * tokens at lr, evaluated on dir/eval.mp every 20; the output is dir/name.
 * Returns the last held-out loss. */
static inline double cycles_train(const char *bin, const char *dir, const char *model,
                                  const char *name, const char *method, const char *lr)
{
    char cmd[16384], log[4200];
    snprintf(log, sizeof log, "%s/%s.log.mp", dir, name);
    snprintf(cmd, sizeof cmd,
             "%s/ft-train -m %s %s --seq-len 32 -b 8 --max-steps 60 --lr %s --warmup 5 "
             "--weight-decay 0 --eval %s/eval.mp --eval-every 20 --log %s -j 1 -q "
             "-o %s/%s < %s/train.mp",
             bin, model, method, lr, dir, log, dir, name, dir);
    int st = system(cmd);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", cmd);
    double loss = last_eval(log);
    printf("%s: held-out loss %.4f\n", name, loss);
    return loss;
}

#endif
