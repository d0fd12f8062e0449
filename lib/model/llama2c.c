/* llama2c: loading llama2.c checkpoints (see llama2c.h). */
#include "model/llama2c.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"

void ft_llama2c_permute(float *w, int n_heads, int hd, int cols, int to_half)
{
    int half = hd / 2;
    float *tmp = malloc((size_t)hd * cols * sizeof *tmp);

    if (!tmp)
        return;
    for (int h = 0; h < n_heads; h++) {
        float *head = w + (size_t)h * hd * cols;
        memcpy(tmp, head, (size_t)hd * cols * sizeof *tmp);
        for (int i = 0; i < half; i++) {
            for (int c = 0; c < 2; c++) {
                int pair = 2 * i + c, halfrow = c * half + i;
                int dst = to_half ? halfrow : pair, src = to_half ? pair : halfrow;
                memcpy(head + (size_t)dst * cols, tmp + (size_t)src * cols,
                       (size_t)cols * sizeof *tmp);
            }
        }
    }
    free(tmp);
}

/* Copy n floats from the file at *off into dst, advancing *off. */
static void take(float *dst, const char *data, size_t *off, size_t n)
{
    memcpy(dst, data + *off, n * sizeof *dst);
    *off += n * sizeof *dst;
}

ft_model *ft_llama2c_load(const char *path, ft_err *err)
{
    char *data = NULL;
    size_t n_bytes = 0;
    int32_t h[7];
    ft_config cfg;
    ft_model *m = NULL;

    if (ft_read_file(path, (size_t)1 << 40, &data, &n_bytes, err) < 0)
        return NULL;
    if (n_bytes >= 4 && !memcmp(data, "ak42", 4)) {
        ft_err_set(err, "%s: versioned llama2.c exports are not supported (only the legacy "
                        "format)", path);
        goto fail;
    }
    if (n_bytes < sizeof h) {
        ft_err_set(err, "%s: truncated llama2.c header (%zu bytes)", path, n_bytes);
        goto fail;
    }
    memcpy(h, data, sizeof h);

    /* header: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab, seq_len */
    memset(&cfg, 0, sizeof cfg);
    cfg.family = FT_FAMILY_LLAMA;
    snprintf(cfg.model_type, sizeof cfg.model_type, "llama");
    cfg.dim = h[0];
    cfg.hidden_dim = h[1];
    cfg.n_layers = h[2];
    cfg.n_heads = h[3];
    cfg.n_kv_heads = h[4];
    cfg.vocab_size = h[5] < 0 ? -h[5] : h[5];
    cfg.max_pos = h[6];
    cfg.tied = h[5] > 0;
    cfg.norm_eps = 1e-5;
    cfg.rope_theta = 10000;
    cfg.bos_id = 1;
    cfg.eos_ids[0] = 2;
    cfg.n_eos = 1;
    for (int i = 0; i < 7; i++)
        if (h[i] <= 0 && i != 5) {
            ft_err_set(err, "%s: not a llama2.c checkpoint (header field %d is %d)", path, i,
                       h[i]);
            goto fail;
        }
    if (h[0] > 65536 || h[1] > 1 << 18 || h[2] > 1024 || h[3] > 1024 || h[5] == 0 ||
        cfg.vocab_size > 1 << 24 || h[6] > 1 << 24 || h[0] % h[3]) {
        ft_err_set(err, "%s: not a llama2.c checkpoint (implausible header)", path);
        goto fail;
    }
    cfg.head_dim = cfg.dim / cfg.n_heads;
    if (ft_config_finish(&cfg, path, err) < 0)
        goto fail;

    /* the file must hold exactly the weights, the two RoPE tables and, when
     * untied, the classifier */
    m = ft_model_new(&cfg, err);
    if (!m)
        goto fail;
    size_t need = sizeof h + m->n_params * sizeof(float) +
                  (size_t)cfg.max_pos * cfg.head_dim * sizeof(float);
    if (n_bytes != need) {
        ft_err_set(err, "%s: %zu bytes, but its header describes %zu (not a llama2.c "
                        "checkpoint, or truncated)", path, n_bytes, need);
        goto fail;
    }

    /* weights in llama2.c order: all layers of one kind after another */
    size_t off = sizeof h;
    int L = cfg.n_layers, C = cfg.dim, hd = cfg.head_dim;
    static const int order1[] = {FT_ROLE_NORM1_W, FT_ROLE_Q, FT_ROLE_K, FT_ROLE_V, FT_ROLE_O,
                                 FT_ROLE_NORM2_W, FT_ROLE_GATE, FT_ROLE_DOWN, FT_ROLE_UP};
    take(ft_model_param(m, m->embed_id), data, &off, (size_t)cfg.vocab_size * C);
    for (size_t k = 0; k < sizeof order1 / sizeof *order1; k++) {
        for (int l = 0; l < L; l++) {
            int id = m->blocks[l].id[order1[k]];
            take(ft_model_param(m, id), data, &off, m->tensors[id].numel);
            if (order1[k] == FT_ROLE_Q)
                ft_llama2c_permute(ft_model_param(m, id), cfg.n_heads, hd, C, 1);
            if (order1[k] == FT_ROLE_K)
                ft_llama2c_permute(ft_model_param(m, id), cfg.n_kv_heads, hd, C, 1);
        }
    }
    take(ft_model_param(m, m->norm_w_id), data, &off, C);
    off += (size_t)cfg.max_pos * hd * sizeof(float); /* freq_cis_real, freq_cis_imag */
    if (!cfg.tied)
        take(ft_model_param(m, m->head_id), data, &off, (size_t)cfg.vocab_size * C);
    free(data);
    return m;
fail:
    ft_model_free(m);
    free(data);
    return NULL;
}
