/* lora_impl: what lora.c and lora_io.c share (not for other modules). */
#ifndef FT_ADAPT_LORA_IMPL_H
#define FT_ADAPT_LORA_IMPL_H

#include "adapt/lora.h"

/* An empty adapter set for m: module table and by_id, no modules. */
ft_lora *ft_lora_alloc(ft_model *m, ft_err *err);
/* Append the module of tensor id (a matrix) to l->mods. */
int ft_lora_add_module(ft_lora *l, int id, ft_err *err);
/* Lay out the params block (zeroed) once the modules and r are set. */
int ft_lora_alloc_params(ft_lora *l, ft_err *err);
/* l->scale from alpha, r and rslora. */
void ft_lora_set_scale(ft_lora *l);
/* The module path of tensor id (its name without ".weight") into buf. */
void ft_lora_module_path(const ft_model *m, int id, char *buf, size_t n);

#endif
