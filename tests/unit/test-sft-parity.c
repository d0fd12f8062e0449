/* test-sft-parity: one padded micro-batch of instruction records through
 * ft's task reader, rows and batch fill, then forward and backward, against
 * PyTorch.
 *
 * tests/ref/sft_ref.py renders three alpaca records of different lengths
 * and weights itself, masks and pads them, and computes the weighted loss
 * (DESIGN.md's normalisation) and every parameter's gradient in float64.
 * ft reads the same records (prompt, response, weight) with --task sft
 * --template alpaca, fills one batch of 3 rows, and runs ft_model_step with
 * the batch's denominator: the loss within 1e-4 relative and each tensor's
 * gradient within 1e-4 of its largest reference entry. Skips without
 * PyTorch. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"
#include "text/template.h"
#include "text/tokenizer.h"
#include "train/data.h"
#include "train/tasks.h"
#include "check.h"

/* records.jsonl as msgpack records in a temporary file (fd at 0). */
static int records_fd(const char *path)
{
    FILE *in = fopen(path, "r"), *f = tmpfile();
    char line[4096];
    ft_err err;
    ft_writer *w = ft_writer_open(fileno(f), "t", 1, &err);

    while (in && fgets(line, sizeof line, in)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        ft_rec_builder b;
        ft_rec_init(&b);
        ft_rec_cstr(&b, "prompt", json_string_value(json_object_get(o, "prompt")));
        ft_rec_cstr(&b, "response", json_string_value(json_object_get(o, "response")));
        ft_rec_double(&b, "weight", json_number_value(json_object_get(o, "weight")));
        ft_writer_put(w, &b, &err);
        ft_rec_free(&b);
        json_decref(o);
    }
    ft_writer_close(w, &err);
    if (in)
        fclose(in);
    fflush(f);
    int fd = dup(fileno(f));
    fclose(f);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int main(void)
{
    char dir[] = "/tmp/ft-sft-parity-XXXXXX", cmd[8192], path[4096];
    const char *root = getenv("FT_ROOT");
    ft_err err;

    if (!root)
        CHECK_SKIP("FT_ROOT is not set (run through make check)");
    if (system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0)
        CHECK_SKIP("skip: /usr/bin/python3 cannot import torch");
    if (!mkdtemp(dir))
        return 1;
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/sft_ref.py --out %s", root, dir);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);

    ft_model *m = ft_checkpoint_load(dir, &err);
    ft_tokenizer *tok = m ? ft_tokenizer_load(dir, &err) : NULL;
    ft_template *tpl = ft_template_new("alpaca", &err);
    snprintf(path, sizeof path, "%s/expected.safetensors", dir);
    ft_safetensors *exp = ft_safetensors_open(path, &err);
    CHECK_MSG(m && tok && tpl && exp, "%s", err.msg);
    if (!m || !tok || !tpl || !exp)
        return check_done();

    /* The records into rows, as ft-train reads them. */
    ft_task_source src = {.task = FT_TASK_SFT, .tok = tok, .tpl = tpl, .max_len = 256,
                          .truncate = 1, .vocab = m->cfg.vocab_size};
    ft_spool *s = ft_spool_new(&err);
    ft_row *rows = NULL;
    size_t n_rows = 0;
    uint64_t hash;
    snprintf(path, sizeof path, "%s/records.jsonl", dir);
    int fd = records_fd(path);
    CHECK_MSG(ft_spool_read(s, fd, "records", ft_task_record, &src, &hash, &err) == 0 &&
                  ft_spool_seal(s, &err) == 0 &&
                  ft_rows_examples(s, 255, &rows, &n_rows, &err) == 0,
              "%s", err.msg);
    close(fd);
    CHECK_INT(n_rows, 3);

    /* One batch of the three rows, padded to the longest. */
    uint32_t pick[3] = {0, 1, 2};
    int T = 1;
    for (size_t i = 0; i < n_rows; i++)
        T = (int)rows[i].len - 1 > T ? (int)rows[i].len - 1 : T;
    int32_t *tokens = calloc((size_t)3 * T, sizeof *tokens);
    int32_t *targets = calloc((size_t)3 * T, sizeof *targets);
    float weights[3];
    double denom = n_rows == 3 ? ft_batch_fill(s, rows, pick, 3, 3, T, tokens, targets,
                                               weights)
                               : 1;
    ft_batch b = {3, T, tokens, targets, weights, NULL};
    double loss = 0;
    CHECK_MSG(n_rows == 3 && ft_model_setup(m, 3, T, 0, 1, &err) == 0 &&
                  ft_model_step(m, &b, denom, &loss, &err) == 0,
              "%s", err.msg);

    const ft_st_tensor *lt = ft_safetensors_find(exp, "loss");
    float want_loss = 0;
    CHECK(lt && ft_safetensors_read_f32(exp, lt, &want_loss, &err) == 0);
    CHECK_REL(loss, want_loss, 1e-4, 1e-6);

    /* Every gradient within 1e-4 of its tensor's largest reference entry. */
    for (int i = 0; i < m->n_tensors; i++) {
        const ft_tensor *t = &m->tensors[i];
        char name[600];
        snprintf(name, sizeof name, "grad.%s", t->name);
        const ft_st_tensor *g = ft_safetensors_find(exp, name);
        CHECK_MSG(g && g->numel == t->numel, "%s missing", name);
        if (!g || g->numel != t->numel)
            continue;
        float *ref = malloc(t->numel * sizeof *ref);
        const float *got = ft_model_grad(m, i);
        ft_safetensors_read_f32(exp, g, ref, &err);
        double d = 0, scale = 0;
        for (size_t k = 0; k < t->numel; k++) {
            d = fmax(d, fabs((double)got[k] - ref[k]));
            scale = fmax(scale, fabs((double)ref[k]));
        }
        CHECK_MSG(d <= 1e-4 * scale, "%s: max diff %.3g of scale %.3g", t->name, d, scale);
        free(ref);
    }

    free(tokens);
    free(targets);
    free(rows);
    ft_spool_free(s);
    ft_task_source_free(&src);
    ft_safetensors_close(exp);
    ft_template_free(tpl);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    ft_rmtree(dir);
    return check_done();
}
