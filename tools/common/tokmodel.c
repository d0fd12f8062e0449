/* tokmodel: a model's tokenizer (see tokmodel.h). */
#include "tokmodel.h"

#include <stdlib.h>
#include <sys/stat.h>

#include "model/checkpoint.h"
#include "model/gguf.h"
#include "model/gguf_model.h"

ft_tokenizer *ft_tokmodel_load(const char *model, ft_err *err)
{
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode))
        return ft_tokenizer_load(model, err);
    /* A GGUF file: the tokenizer in its tokenizer.ggml.* metadata. */
    if (ft_gguf_is_gguf(model))
        return ft_gguf_tokenizer_load(model, err);

    /* An archive: its three files, read without unpacking. */
    static const char *const names[] = {"tokenizer.json", "tokenizer_config.json",
                                        "generation_config.json"};
    char *data[3] = {NULL, NULL, NULL};
    size_t n[3] = {0, 0, 0};
    ft_tokenizer *t = NULL;
    for (int i = 0; i < 3; i++) {
        int rc = ft_checkpoint_read_file(model, names[i], &data[i], &n[i], err);
        if (rc < 0)
            goto out;
        if (rc == 0 && i == 0) {
            ft_err_set(err, "%s: no tokenizer.json", model);
            goto out;
        }
    }
    ft_tok_files f = {data[0], n[0], data[1], n[1], data[2], n[2]};
    t = ft_tokenizer_load_files(&f, model, err);
out:
    for (int i = 0; i < 3; i++)
        free(data[i]);
    return t;
}
