/* convert: models and tokenizers between formats (see convert.h). */
#include "model/convert.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "model/gguf_model.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int ft_convert_format_parse(const char *name)
{
    if (!strcmp(name, "hf"))
        return FT_FORMAT_HF;
    if (!strcmp(name, "gguf"))
        return FT_FORMAT_GGUF;
    return -1;
}

int ft_convert_format_of(const char *path)
{
    return ends_with(path, ".gguf") || ends_with(path, ".GGUF") ? FT_FORMAT_GGUF
                                                                : FT_FORMAT_HF;
}

/* Does dir hold tokenizer files ft_tokenizer_load reads? */
static int dir_has_tokenizer(const char *dir)
{
    static const char *const names[][2] = {
        {"tokenizer.json", NULL}, {"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int found = 1;
        for (int k = 0; k < 2 && names[i][k]; k++) {
            char *p = ft_path_join(dir, names[i][k], NULL);
            found &= p && access(p, R_OK) == 0;
            free(p);
        }
        if (found)
            return 1;
    }
    return 0;
}

int ft_convert_tokenizer(const char *path, ft_tokenizer **tok, ft_err *err)
{
    struct stat st;
    char *json;
    size_t n;
    int rc;

    *tok = NULL;
    if (stat(path, &st) != 0)
        return ft_err_errno(err, path);

    /* A directory, a GGUF file, a tokenizer file. */
    if (S_ISDIR(st.st_mode)) {
        if (!dir_has_tokenizer(path))
            return 0;
        *tok = ft_tokenizer_load(path, err);
        return *tok ? 1 : -1;
    }
    if (ft_gguf_is_gguf(path)) {
        ft_gguf *g = ft_gguf_open(path, err);
        const char *model;
        size_t len;
        if (!g)
            return -1;
        rc = ft_gguf_get_str(g, "tokenizer.ggml.model", &model, &len, err);
        if (rc > 0 && ((len == 4 && !memcmp(model, "none", 4)) ||
                       (len == 8 && !memcmp(model, "no_vocab", 8))))
            rc = 0;
        ft_gguf_close(g);
        if (rc <= 0)
            return rc;
        *tok = ft_gguf_tokenizer_load(path, err);
        return *tok ? 1 : -1;
    }
    if (ends_with(path, ".json") || ends_with(path, ".bpe")) {
        *tok = ft_tokenizer_load(path, err);
        return *tok ? 1 : -1;
    }

    /* An archive (or a llama2.c checkpoint, which has none). */
    rc = ft_checkpoint_read_file(path, "tokenizer.json", &json, &n, err);
    if (rc <= 0)
        return rc;
    *tok = ft_tokenizer_load_json(json, n, path, err);
    free(json);
    return *tok ? 1 : -1;
}

int ft_convert_pick_tokenizer(const char *model, const char *tok_path, int format,
                              ft_tokenizer **tok, const char **copy_from, ft_err *err)
{
    int rc;

    *tok = NULL;
    *copy_from = NULL;
    if (tok_path) {
        if ((rc = ft_convert_tokenizer(tok_path, tok, err)) == 0)
            return ft_err_set(err, "%s: no tokenizer there", tok_path);
        return rc;
    }
    if (format == FT_FORMAT_HF && !ft_gguf_is_gguf(model)) {
        *copy_from = model;
        return 1;
    }
    return ft_convert_tokenizer(model, tok, err);
}

/* A Hugging Face directory with a tokenizer.json made from tok, atomically:
 * the checkpoint goes into the temporary directory, then the tokenizer. */
static int save_hf_with_tokenizer(const ft_model *m, const ft_tokenizer *tok, const char *out,
                                  int dtype, int force, ft_err *err)
{
    ft_out o;
    char *tj = NULL;
    int rc = -1;

    if (ft_out_begin(&o, out, 1, force, err) < 0)
        return -1;
    if (ft_checkpoint_save(m, o.tmp, dtype, 1, NULL, err) < 0)
        goto out;
    if (!(tj = ft_path_join(o.tmp, "tokenizer.json", err)) ||
        ft_tokenizer_save(tok, tj, 1, err) < 0)
        goto out;
    rc = ft_out_commit(&o, err);
out:
    if (rc < 0)
        ft_out_abort(&o);
    free(tj);
    return rc;
}

int ft_convert_save(const ft_model *m, const ft_tokenizer *tok, const char *copy_from,
                    const char *out, int format, int dtype, const char *name, int force,
                    ft_err *err)
{
    if (format == FT_FORMAT_GGUF)
        return ft_gguf_model_save(m, tok, out, dtype, name, force, err);
    if (tok)
        return save_hf_with_tokenizer(m, tok, out, dtype, force, err);
    return ft_checkpoint_save(m, out, dtype, force, copy_from, err);
}
