/* dtype: element types and conversions (see dtype.h). */
#include "model/dtype.h"

#include <stdint.h>
#include <string.h>

static const struct {
    const char *name;
    size_t size;
} types[FT_DTYPE_COUNT] = {
    [FT_DTYPE_F32] = {"F32", 4},         [FT_DTYPE_F16] = {"F16", 2},
    [FT_DTYPE_BF16] = {"BF16", 2},       [FT_DTYPE_F64] = {"F64", 8},
    [FT_DTYPE_I64] = {"I64", 8},         [FT_DTYPE_I32] = {"I32", 4},
    [FT_DTYPE_I16] = {"I16", 2},         [FT_DTYPE_I8] = {"I8", 1},
    [FT_DTYPE_U64] = {"U64", 8},         [FT_DTYPE_U32] = {"U32", 4},
    [FT_DTYPE_U16] = {"U16", 2},         [FT_DTYPE_U8] = {"U8", 1},
    [FT_DTYPE_BOOL] = {"BOOL", 1},       [FT_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [FT_DTYPE_F8_E5M2] = {"F8_E5M2", 1},
};

const char *ft_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < FT_DTYPE_COUNT ? types[dtype].name : "?";
}

int ft_dtype_parse(const char *name)
{
    for (int i = 0; i < FT_DTYPE_COUNT; i++)
        if (!strcmp(name, types[i].name))
            return i;
    return -1;
}

size_t ft_dtype_size(int dtype)
{
    return dtype >= 0 && dtype < FT_DTYPE_COUNT ? types[dtype].size : 0;
}

int ft_dtype_is_float(int dtype)
{
    return dtype == FT_DTYPE_F32 || dtype == FT_DTYPE_F16 || dtype == FT_DTYPE_BF16 ||
           dtype == FT_DTYPE_F64;
}

const char *ft_dtype_torch_name(int dtype)
{
    switch (dtype) {
    case FT_DTYPE_F16:
        return "float16";
    case FT_DTYPE_BF16:
        return "bfloat16";
    case FT_DTYPE_F64:
        return "float64";
    default:
        return "float32";
    }
}

static float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u)    /* NaN: keep it quiet and a NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);          /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

void ft_dtype_to_f32(float *dst, const void *src, size_t n, int dtype)
{
    const unsigned char *s = src;

    switch (dtype) {
    case FT_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case FT_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            _Float16 h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = (float)h;
        }
        break;
    case FT_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = bf16_to_f32(h);
        }
        break;
    case FT_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, s + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        memset(dst, 0, n * sizeof *dst);
    }
}

void ft_dtype_from_f32(void *dst, const float *src, size_t n, int dtype)
{
    unsigned char *d = dst;

    switch (dtype) {
    case FT_DTYPE_F16:
        for (size_t i = 0; i < n; i++) {
            _Float16 h = (_Float16)src[i];
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    case FT_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        break;
    default:
        memcpy(dst, src, n * 4);
    }
}

void ft_dtype_round(float *x, size_t n, int dtype)
{
    unsigned char buf[2];

    if (dtype != FT_DTYPE_F16 && dtype != FT_DTYPE_BF16)
        return;
    for (size_t i = 0; i < n; i++) {
        ft_dtype_from_f32(buf, x + i, 1, dtype);
        ft_dtype_to_f32(x + i, buf, 1, dtype);
    }
}
