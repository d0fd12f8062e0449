/* dtype: the element types of tensor files (safetensors names) and the
 * conversions between f32, f16 and bf16. ft computes in f32; f16 and bf16
 * are storage types only. Rounding to f16/bf16 is to nearest, ties to even
 * (what PyTorch's .to(torch.float16 / torch.bfloat16) does). */
#ifndef FT_MODEL_DTYPE_H
#define FT_MODEL_DTYPE_H

#include <stddef.h>

enum ft_dtype {
    FT_DTYPE_F32,
    FT_DTYPE_F16,
    FT_DTYPE_BF16,
    FT_DTYPE_F64,
    FT_DTYPE_I64,
    FT_DTYPE_I32,
    FT_DTYPE_I16,
    FT_DTYPE_I8,
    FT_DTYPE_U64,
    FT_DTYPE_U32,
    FT_DTYPE_U16,
    FT_DTYPE_U8,
    FT_DTYPE_BOOL,
    FT_DTYPE_F8_E4M3,
    FT_DTYPE_F8_E5M2,
    FT_DTYPE_COUNT
};

/* "F32", "BF16", ... as safetensors spells them. */
const char *ft_dtype_name(int dtype);
/* The dtype of a safetensors name, or -1 when unknown. */
int ft_dtype_parse(const char *name);
size_t ft_dtype_size(int dtype);
/* 1 for the types a weight may be stored in: F32, F16, BF16, F64. */
int ft_dtype_is_float(int dtype);
/* "float32", "float16", "bfloat16": config.json's torch_dtype. */
const char *ft_dtype_torch_name(int dtype);

/* n elements of a float type (src may be unaligned) to f32. */
void ft_dtype_to_f32(float *dst, const void *src, size_t n, int dtype);
/* n f32 elements to F32, F16 or BF16 (dst may be unaligned). */
void ft_dtype_from_f32(void *dst, const float *src, size_t n, int dtype);
/* Round f32 values through a storage type and back, in place. */
void ft_dtype_round(float *x, size_t n, int dtype);

#endif
