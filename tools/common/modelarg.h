/* modelarg: what -m MODEL, -a ADAPTER and --tokenizer FILE load in the
 * programs that run a model without the label scorer (ft-label --generate,
 * ft-eval --task lm and sft): the model, its tokenizer, a LoRA adapter in
 * the model's seam or a P-tuning prefix (by the adapter's peft_type), and
 * the task metadata ft-train stored (the adapter's, else the model's). */
#ifndef FT_MODELARG_H
#define FT_MODELARG_H

#include "adapt/lora.h"
#include "adapt/prefix.h"
#include "eval/score.h"
#include "model/model.h"
#include "text/tokenizer.h"

typedef struct ft_modelarg {
    ft_model *m;
    ft_tokenizer *tok;
    ft_lora *lora;             /* NULL unless a LoRA adapter */
    ft_prefix_adapter *pa;     /* NULL unless a P-tuning adapter */
    const ft_prefix *prefix;   /* pa's seam, or NULL */
    ft_task_meta meta;         /* zero when none was stored */
} ft_modelarg;

/* adapter and tokenizer may be NULL. Errors name the file. */
int ft_modelarg_open(ft_modelarg *a, const char *model, const char *adapter,
                     const char *tokenizer, ft_err *err);
void ft_modelarg_close(ft_modelarg *a);

#endif
