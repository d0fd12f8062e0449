/* modelarg: model, tokenizer, adapter and metadata of -m/-a (see
 * modelarg.h). */
#include "modelarg.h"

#include <string.h>

#include "adapt/adapter.h"
#include "model/checkpoint.h"
#include "tokmodel.h"

int ft_modelarg_open(ft_modelarg *a, const char *model, const char *adapter,
                     const char *tokenizer, ft_err *err)
{
    int kind = 0;

    memset(a, 0, sizeof *a);
    if (ft_task_meta_read(adapter ? adapter : model, &a->meta, err) < 0)
        return -1;
    if (!(a->m = ft_checkpoint_load(model, err)))
        goto fail;
    a->tok = tokenizer ? ft_tokenizer_load(tokenizer, err) : ft_tokmodel_load(model, err);
    if (!a->tok)
        goto fail;
    if (adapter && (kind = ft_adapter_kind(adapter, err)) < 0)
        goto fail;
    if (kind == FT_ADAPTER_LORA && !(a->lora = ft_lora_apply(a->m, adapter, err)))
        goto fail;
    if (kind == FT_ADAPTER_PREFIX) {
        if (!(a->pa = ft_prefix_apply(a->m, adapter, err)))
            goto fail;
        a->prefix = ft_prefix_seam(a->pa, NULL);
    }
    return 0;
fail:
    ft_modelarg_close(a);
    return -1;
}

void ft_modelarg_close(ft_modelarg *a)
{
    if (a->lora)
        ft_model_set_hook(a->m, NULL);
    ft_lora_free(a->lora);
    ft_prefix_free(a->pa);
    ft_tokenizer_free(a->tok);
    ft_model_free(a->m);
    ft_task_meta_free(&a->meta);
    memset(a, 0, sizeof *a);
}
