/* test-train-resume: a run that is killed and resumed ends exactly where an
 * uninterrupted one does.
 *
 * A tiny Llama from --init trains 40 updates on token records (16 updates
 * an epoch, shuffled, gradient accumulation 2, one thread), with a
 * checkpoint every 4 updates:
 *   A  straight through;
 *   B  killed with SIGKILL at a random moment after the checkpoint of
 *      update 8 (mid-epoch) exists, then resumed from the newest checkpoint
 *      in its folder (crossing the epoch boundaries at 16 and 32);
 *   C  resumed from B's checkpoint of update 8 explicitly;
 *   D  sent SIGTERM after update 4: exits 143 with a checkpoint, resumed.
 * Every run's last checkpoint (weights, AdamW moments, random state,
 * position: state.safetensors and trainer_state.json) is byte-identical to
 * A's, and so are the tensors of the written models. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/fsout.h"
#include "core/rng.h"
#include "data/records.h"
#include "model/safetensors.h"
#include "check.h"

static const char *bin;
static char dir[] = "/tmp/ft-resume-XXXXXX";

static const char config[] =
    "{\"model_type\": \"llama\", \"hidden_size\": 96, \"intermediate_size\": 160,\n"
    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,\n"
    " \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-5, \"vocab_size\": 128,\n"
    " \"tie_word_embeddings\": false, \"initializer_range\": 0.05}\n";

/* 200 records of 20..59 token ids drawn from a fixed seed. */
static void write_data(const char *path)
{
    ft_err err;
    ft_rng rng;
    ft_rec_builder b;
    int32_t ids[64];
    FILE *f = fopen(path, "wb");
    ft_writer *w = ft_writer_open(fileno(f), path, 1, &err);

    ft_rng_seed(&rng, 5, 0);
    ft_rec_init(&b);
    for (int r = 0; r < 200; r++) {
        int n = 20 + (int)ft_rng_below(&rng, 40);
        for (int i = 0; i < n; i++)
            ids[i] = (int32_t)((i * 7 + r) % 50 + (int)ft_rng_below(&rng, 8));
        ft_rec_reset(&b);
        ft_rec_int_array(&b, "tokens", ids, (size_t)n);
        ft_writer_put(w, &b, &err);
    }
    ft_writer_close(w, &err);
    ft_rec_free(&b);
    fclose(f);
}

/* The command of run NAME (extra options appended). */
static void command(char *cmd, size_t n, const char *name, const char *extra)
{
    snprintf(cmd, n,
             "exec %s/ft-train --init %s/config.json --seq-len 64 -b 4 --grad-accum 2 "
             "--max-steps 40 --lr 3e-3 --warmup 5 --seed 9 -j 1 -q --save-every 4 "
             "--keep 0 --checkpoint-dir %s/%s/ckpt -o %s/%s/out %s < %s/data.mp",
             bin, dir, dir, name, dir, name, extra, dir);
}

static int run(const char *name, const char *extra)
{
    char cmd[4096];
    command(cmd, sizeof cmd, name, extra);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int exists(const char *name, int step)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s/ckpt/step-%08d/trainer_state.json", dir, name, step);
    return stat(p, &st) == 0;
}

/* Start run NAME in the background; signal it once checkpoint `step` is
 * there (after a delay of up to max_delay_us); its exit status. */
static int run_and_signal(const char *name, int step, int sig, int max_delay_us)
{
    char cmd[4096];
    int st;
    command(cmd, sizeof cmd, name, "");
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    while (!exists(name, step)) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(500);
    }
    if (max_delay_us > 0)
        usleep((useconds_t)(rand() % max_delay_us));
    kill(pid, sig);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int same_file(const char *a, const char *b)
{
    char *x, *y;
    size_t nx, ny;
    ft_err err;
    if (ft_read_file(a, 1 << 28, &x, &nx, &err) < 0)
        return 0;
    if (ft_read_file(b, 1 << 28, &y, &ny, &err) < 0) {
        free(x);
        return 0;
    }
    int same = nx == ny && !memcmp(x, y, nx);
    free(x);
    free(y);
    return same;
}

/* Run NAME ended as A did: last checkpoint and model tensors identical. */
static void compare(const char *name)
{
    static const char *const files[] = {"state.safetensors", "trainer_state.json"};
    char a[4096], b[4096];
    ft_err err;

    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/A/ckpt/step-00000040/%s", dir, files[i]);
        snprintf(b, sizeof b, "%s/%s/ckpt/step-00000040/%s", dir, name, files[i]);
        CHECK_MSG(same_file(a, b), "run %s: %s differs from the straight run's", name,
                  files[i]);
    }
    snprintf(a, sizeof a, "%s/A/out/model.safetensors", dir);
    snprintf(b, sizeof b, "%s/%s/out/model.safetensors", dir, name);
    ft_safetensors *x = ft_safetensors_open(a, &err), *y = ft_safetensors_open(b, &err);
    CHECK_MSG(x && y, "run %s: no model", name);
    for (int i = 0; x && y && i < x->n_tensors; i++) {
        const ft_st_tensor *t = &x->tensors[i], *u = ft_safetensors_find(y, t->name);
        CHECK_MSG(u && u->n_bytes == t->n_bytes && !memcmp(u->data, t->data, t->n_bytes),
                  "run %s: tensor %s differs", name, t->name);
    }
    if (x)
        ft_safetensors_close(x);
    if (y)
        ft_safetensors_close(y);
}

int main(void)
{
    char p[4096];
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

    if (!(bin = getenv("FT_BIN")))
        CHECK_SKIP("FT_BIN is not set (run through make check)");
    srand(seed);
    printf("random kill delays from seed %u\n", seed);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p, sizeof p, "%s/config.json", dir);
    CHECK(ft_write_file(p, config, strlen(config), NULL) == 0);
    snprintf(p, sizeof p, "%s/data.mp", dir);
    write_data(p);
    for (const char *n = "ABCD"; *n; n++) {
        snprintf(p, sizeof p, "%s/%c", dir, *n);
        mkdir(p, 0777);
    }

    /* A: straight. */
    CHECK_INT(run("A", ""), 0);

    /* B: SIGKILL somewhere after update 8, then --resume the folder. */
    int st = run_and_signal("B", 8, SIGKILL, 60000);
    printf("B ended with status %d\n", st);
    CHECK(st == 137 || st == 0);
    snprintf(p, sizeof p, "--resume %s/B/ckpt", dir);
    CHECK_INT(run("B", p), 0);
    compare("B");

    /* C: from B's checkpoint of update 8 (mid-epoch 0) to the end. */
    snprintf(p, sizeof p, "--resume %s/B/ckpt/step-00000008", dir);
    CHECK_INT(run("C", p), 0);
    compare("C");

    /* D: SIGTERM writes a checkpoint and exits 143; resuming finishes. */
    st = run_and_signal("D", 4, SIGTERM, 0);
    printf("D ended with status %d\n", st);
    CHECK(st == 143 || st == 0);
    snprintf(p, sizeof p, "--resume %s/D/ckpt", dir);
    CHECK_INT(run("D", p), 0);
    compare("D");

    if (check_failures == 0)
        ft_rmtree(dir);
    return check_done();
}
