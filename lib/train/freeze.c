/* freeze: trainable tensors from names (see freeze.h). */
#include "train/freeze.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"

/* The number after a ".layers." or ".h." segment (also at the start). */
int ft_freeze_block_of(const char *name, int *kind)
{
    static const char *const seg[] = {"layers.", "h."};

    for (const char *p = name; *p; p = strchr(p, '.') ? strchr(p, '.') + 1 : "") {
        for (int k = 0; k < 2; k++) {
            size_t n = strlen(seg[k]);
            if (strncmp(p, seg[k], n) || p[n] < '0' || p[n] > '9')
                continue;
            char *end;
            long block = strtol(p + n, &end, 10);
            if (*end == '.' && block < (1 << 20)) {
                if (kind)
                    *kind = FT_FREEZE_BLOCK;
                return (int)block;
            }
        }
    }
    if (kind) {
        int emb = strstr(name, "embed") || strstr(name, "wte") || strstr(name, "wpe") ||
                  strstr(name, "lm_head");
        *kind = emb ? FT_FREEZE_EMBEDDING : FT_FREEZE_FINAL_NORM;
    }
    return -1;
}

/* Which blocks train, from "N" or an index set. */
static int block_marks(const char *layers, int n_layers, unsigned char *mark,
                       ft_err *err)
{
    const char *p = layers;
    long count;

    while (*p >= '0' && *p <= '9')
        p++;
    if (*layers && !*p) {
        if (ft_parse_long(layers, 0, n_layers, &count, err) < 0)
            return ft_err_setk(err, FT_ERR_USAGE, "--trainable-layers %s: the model has "
                               "%d layers", layers, n_layers);
        for (int i = n_layers - (int)count; i < n_layers; i++)
            mark[i] = 1;
        return 0;
    }
    if (ft_parse_index_set(layers, n_layers, mark, err) < 0) {
        ft_err_prefix(err, "--trainable-layers");
        err->kind = FT_ERR_USAGE;
        return -1;
    }
    return 0;
}

static int regex_marks(const char *regex, const char *const *names, int n,
                       unsigned char *trainable, ft_err *err)
{
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF,
                                   &code, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return ft_err_setk(err, FT_ERR_USAGE, "--trainable '%s': %s at offset %zu", regex,
                           (char *)msg, (size_t)at);
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!md) {
        pcre2_code_free(re);
        return ft_err_set(err, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (pcre2_match(re, (PCRE2_SPTR)names[i], PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0)
            trainable[i] = 1;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return 0;
}

int ft_freeze_select(const ft_freeze_spec *spec, const char *const *names, int n,
                     int n_layers, unsigned char *trainable, ft_err *err)
{
    int any = 0;

    memset(trainable, 0, (size_t)n);
    if (spec->regex) {
        if (regex_marks(spec->regex, names, n, trainable, err) < 0)
            return -1;
        for (int i = 0; i < n; i++)
            any |= trainable[i];
        if (!any)
            return ft_err_set(err, "--trainable '%s' matches no tensor of the model",
                              spec->regex);
    } else {
        unsigned char *mark = calloc((size_t)n_layers + 1, 1);
        if (!mark)
            return ft_err_set(err, "out of memory");
        if (block_marks(spec->layers ? spec->layers : "2", n_layers, mark, err) < 0) {
            free(mark);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            int kind, block = ft_freeze_block_of(names[i], &kind);
            if (kind == FT_FREEZE_BLOCK)
                trainable[i] = block < n_layers && mark[block];
            else if (kind == FT_FREEZE_FINAL_NORM)
                trainable[i] = 1;
        }
        free(mark);
    }
    if (spec->train_embeddings)
        for (int i = 0; i < n; i++) {
            int kind;
            ft_freeze_block_of(names[i], &kind);
            if (kind == FT_FREEZE_EMBEDDING)
                trainable[i] = 1;
        }
    return 0;
}
