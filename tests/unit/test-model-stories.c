/* A real checkpoint in two layouts: stories260K as a llama2.c .bin and as a
 * Hugging Face directory must both reproduce reference.tsv of the shared
 * data, computed by an independent float64 implementation: the greedy ids
 * from BOS, the mean next-token cross-entropy of a fixed input, every listed
 * logit (compared by token id) and the log-sum-exp at every position, all
 * within 1e-4 relative. Also the same model inside .tar, .tar.zst and .zip
 * archives, and with the KV cache of sample.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "model/sample.h"

#define MAX_IDS 64

typedef struct reference {
    int greedy[MAX_IDS], n_greedy;
    int input[MAX_IDS], n_input;
    double mean_ce;
    int top_id[MAX_IDS][5];
    double top_logit[MAX_IDS][5];
    double lse[MAX_IDS];
} reference;

static int parse_ints(char *s, int *out, int max)
{
    int n = 0;
    for (char *tok = strtok(s, " \n"); tok && n < max; tok = strtok(NULL, " \n"))
        out[n++] = atoi(tok);
    return n;
}

static int load_reference(const char *path, reference *ref)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    if (!f)
        return -1;
    memset(ref, 0, sizeof *ref);
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t'), *val;
        int at;
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        val = tab + 1;
        if (!strcmp(line, "greedy_from_bos")) {
            char *ids = strchr(val, '\t');
            ref->n_greedy = parse_ints(ids + 1, ref->greedy, MAX_IDS);
        } else if (!strcmp(line, "input")) {
            ref->n_input = parse_ints(val, ref->input, MAX_IDS);
        } else if (!strcmp(line, "mean_next_token_cross_entropy")) {
            ref->mean_ce = atof(val);
        } else if (sscanf(line, "logits_top5_at_%d", &at) == 1 && at < MAX_IDS) {
            char *p = val;
            for (int k = 0; k < 5; k++) {
                ref->top_id[at][k] = (int)strtol(p, &p, 10);
                ref->top_logit[at][k] = strtod(p + 1, &p);
            }
        } else if (!strcmp(line, "logsumexp_per_position")) {
            char *p = val;
            for (int t = 0; t < ref->n_input; t++)
                ref->lse[t] = strtod(p, &p);
        }
    }
    fclose(f);
    return ref->n_greedy == 40 && ref->n_input == 16 ? 0 : -1;
}

static void check_model(const char *what, ft_model *m, const reference *ref)
{
    ft_err err;
    int V = m->cfg.vocab_size, T = ref->n_input;
    float *logits = malloc((size_t)T * V * sizeof *logits);
    int32_t tokens[MAX_IDS + 1], targets[MAX_IDS];

    printf("%s\n", what);
    CHECK(ft_model_setup(m, 1, 48, 0, 0, &err) == 0);

    /* logits of the fixed input: listed ones by id, log-sum-exp everywhere */
    for (int t = 0; t < T; t++)
        tokens[t] = ref->input[t];
    ft_batch b = {.B = 1, .T = T, .tokens = tokens};
    CHECK(ft_model_logits(m, &b, NULL, logits, &err) == 0);
    for (int t = 0; t < T; t++) {
        const float *l = logits + (size_t)t * V;
        double mx = l[0], s = 0;
        for (int k = 0; k < 5; k++)
            CHECK_REL(l[ref->top_id[t][k]], ref->top_logit[t][k], 1e-4, 0);
        for (int v = 0; v < V; v++)
            mx = l[v] > mx ? l[v] : mx;
        for (int v = 0; v < V; v++)
            s += exp(l[v] - mx);
        CHECK_REL(mx + log(s), ref->lse[t], 1e-4, 0);
    }

    /* mean next-token cross-entropy */
    for (int t = 0; t < T; t++)
        targets[t] = t + 1 < T ? ref->input[t + 1] : -1;
    b.targets = targets;
    double sum, n;
    CHECK(ft_model_loss(m, &b, NULL, &sum, &n, &err) == 0);
    CHECK_INT(n, T - 1);
    CHECK_REL(sum / n, ref->mean_ce, 1e-4, 0);

    /* greedy from BOS, recomputing the whole prefix each step */
    int n_tok = 1, same = 1;
    tokens[0] = 1;
    ft_batch g = {.B = 1, .tokens = tokens};
    for (int i = 0; i < ref->n_greedy; i++) {
        int pos = n_tok - 1, best = 0;
        g.T = n_tok;
        CHECK(ft_model_logits(m, &g, &pos, logits, &err) == 0);
        for (int v = 1; v < V; v++)
            best = logits[v] > logits[best] ? v : best;
        same &= best == ref->greedy[i];
        tokens[n_tok++] = best;
    }
    CHECK_MSG(same, "%s: greedy ids differ from the reference", what);

    /* the same with the KV cache of sample.h */
    int32_t out[MAX_IDS], bos = 1;
    int n_out = 0;
    ft_sample_opts so = ft_sample_defaults(m);
    so.max_tokens = ref->n_greedy;
    so.temperature = 0;
    so.n_eos = 0;
    CHECK(ft_sample_generate(m, NULL, &bos, 1, &so, out, &n_out, NULL, NULL, &err) == 0);
    CHECK_INT(n_out, ref->n_greedy);
    CHECK(memcmp(out, ref->greedy, sizeof *out * ref->n_greedy) == 0 ||
          !fprintf(stderr, "%s: KV-cache greedy ids differ\n", what));
    free(logits);
}

/* Pack dir's two files into an archive with tar or zip; 0 when made. */
static int make_archive(const char *cmd)
{
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const char *data = check_data_dir();
    char bin[8192], hf[8192], tsv[8192], cmd[32768], tmp[] = "/tmp/ft-stories-XXXXXX";
    reference ref;
    ft_err err;

    if (!data)
        CHECK_SKIP("no shared data (FT_DATA_DIR)");
    snprintf(bin, sizeof bin, "%s/llama2c/stories260K.bin", data);
    snprintf(hf, sizeof hf, "%s/llama2c/hf", data);
    snprintf(tsv, sizeof tsv, "%s/llama2c/reference.tsv", data);
    if (load_reference(tsv, &ref) < 0)
        CHECK_SKIP("no llama2c/reference.tsv in the shared data");

    ft_model *a = ft_checkpoint_load(bin, &err);
    CHECK_MSG(a != NULL, "%s", err.msg);
    if (a)
        check_model("llama2.c .bin", a, &ref);
    ft_model *b = ft_checkpoint_load(hf, &err);
    CHECK_MSG(b != NULL, "%s", err.msg);
    if (b)
        check_model("Hugging Face directory", b, &ref);

    /* both layouts hold the same parameters after the rotary permutation */
    if (a && b) {
        CHECK_INT(a->n_params, b->n_params);
        CHECK(memcmp(a->params, b->params, a->n_params * sizeof *a->params) == 0);
    }

    /* archives: tar (files in a folder), tar.zst, zip (files at the top) */
    if (mkdtemp(tmp)) {
        const char *fmt[][2] = {
            {"model.tar", "tar -cf %s/model.tar -C %s/.. hf"},
            {"model.tar.zst", "tar --zstd -cf %s/model.tar.zst -C %s ."},
            {"model.zip", "cd %2$s && zip -q -r %1$s/model.zip ."},
        };
        for (int i = 0; i < 3; i++) {
            char path[8192];
            snprintf(cmd, sizeof cmd, fmt[i][1], tmp, hf);
            snprintf(path, sizeof path, "%s/%s", tmp, fmt[i][0]);
            if (make_archive(cmd) < 0) {
                printf("skipping %s: could not make it\n", fmt[i][0]);
                continue;
            }
            ft_model *c = ft_checkpoint_load(path, &err);
            CHECK_MSG(c != NULL, "%s", err.msg);
            if (c && b)
                CHECK(memcmp(c->params, b->params, b->n_params * sizeof *b->params) == 0);
            ft_model_free(c);
        }
        ft_rmtree(tmp);
    }
    ft_model_free(a);
    ft_model_free(b);
    return check_done();
}
