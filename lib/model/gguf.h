/* gguf: the GGUF container (llama.cpp's model file), read and written.
 *
 * Layout (little-endian; ggml's docs/gguf.md, gguf-py/gguf/constants.py):
 *   "GGUF", u32 version (2 or 3), u64 tensor count, u64 metadata count,
 *   metadata: key (u64 length + bytes), u32 value type, value,
 *   tensor infos: name, u32 n_dims, u64 ne[n_dims] (fastest-varying first,
 *   so a row-major [out, in] matrix is listed as [in, out]), u32 tensor
 *   type, u64 offset into the data section,
 *   padding to general.alignment (default 32), the data section, each
 *   tensor's bytes starting at an aligned offset.
 *
 * The reader maps the file and validates everything before returning: a
 * damaged file is one error sentence naming the file and the problem, never
 * a crash. It knows the byte size of every ggml tensor type, so it opens
 * quantized files too; turning tensors into numbers (and refusing
 * quantized ones) is the caller's business. Big-endian files and version 1
 * are refused. general.architecture must be present: llama.cpp loads
 * nothing without it.
 *
 * The writer collects metadata and tensors, then writes the whole file
 * atomically (core/fsout.h). It knows nothing of models: names, shapes and
 * metadata keys are the caller's (model/gguf_model.c). */
#ifndef FT_MODEL_GGUF_H
#define FT_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* Metadata value types (gguf-py GGUFValueType). */
enum ft_gguf_vtype {
    FT_GGUF_U8 = 0,
    FT_GGUF_I8 = 1,
    FT_GGUF_U16 = 2,
    FT_GGUF_I16 = 3,
    FT_GGUF_U32 = 4,
    FT_GGUF_I32 = 5,
    FT_GGUF_F32 = 6,
    FT_GGUF_BOOL = 7,
    FT_GGUF_STR = 8,
    FT_GGUF_ARR = 9,
    FT_GGUF_U64 = 10,
    FT_GGUF_I64 = 11,
    FT_GGUF_F64 = 12,
};

/* The tensor types ft converts (gguf-py GGMLQuantizationType); every
 * other ggml type is known by name and size only. */
enum ft_gguf_ttype {
    FT_GGUF_T_F32 = 0,
    FT_GGUF_T_F16 = 1,
    FT_GGUF_T_BF16 = 30,
};

#define FT_GGUF_MAX_DIMS 4
#define FT_GGUF_DEFAULT_ALIGNMENT 32
/* llama.cpp's GGML_MAX_NAME is 64 bytes with the NUL. */
#define FT_GGUF_MAX_NAME 63

/* One metadata value. Strings point into the mapped file (not
 * NUL-terminated: use len). Arrays: elem_type and n; numeric elements
 * start at arr (little-endian, unaligned: read with ft_gguf_arr_*). */
typedef struct ft_gguf_kv {
    char *key;           /* NUL-terminated copy */
    int type;            /* enum ft_gguf_vtype */
    int elem_type;       /* for FT_GGUF_ARR */
    uint64_t n;          /* array length; string length for FT_GGUF_STR */
    union {
        uint64_t u;      /* U8..U64, BOOL */
        int64_t i;       /* I8..I64 */
        double f;        /* F32, F64 */
        const char *s;   /* STR: n bytes */
        const uint8_t *arr;
    } v;
    const uint64_t *str_off; /* array of strings: offset of element i's length field,
                                relative to arr */
} ft_gguf_kv;

typedef struct ft_gguf_tensor {
    char *name;
    int type;                      /* ggml type number */
    int n_dims;
    int64_t ne[FT_GGUF_MAX_DIMS];  /* fastest-varying first; 1 past n_dims */
    int64_t n_elems;
    uint64_t offset;               /* into the data section */
    uint64_t n_bytes;
    const uint8_t *data;           /* into the mapping */
} ft_gguf_tensor;

typedef struct ft_gguf {
    char *path;
    uint32_t version;
    uint32_t alignment;
    int64_t n_kv;
    ft_gguf_kv *kv;
    int64_t n_tensors;
    ft_gguf_tensor *tensors;
    const char *arch;     /* general.architecture, NUL-terminated copy */
    const uint8_t *map;
    size_t map_bytes;
    uint64_t data_offset; /* where the data section starts in the file */
} ft_gguf;

/* Open and validate path. NULL with err set on any problem. */
ft_gguf *ft_gguf_open(const char *path, ft_err *err);
void ft_gguf_close(ft_gguf *g);

/* 1 if path is a regular file named *.gguf or starting with the GGUF magic
 * (so a damaged .gguf file goes to the GGUF reader and its error), else 0. */
int ft_gguf_is_gguf(const char *path);

const ft_gguf_kv *ft_gguf_find(const ft_gguf *g, const char *key);
const ft_gguf_tensor *ft_gguf_tensor_find(const ft_gguf *g, const char *name);

/* Typed getters: 1 found (stored in *out), 0 absent, -1 present with a type
 * that does not fit (err names the key and both types). Integers accept any
 * integer type whose value fits; floats accept F32 and F64; strings return a
 * pointer into the file and its length. */
int ft_gguf_get_int(const ft_gguf *g, const char *key, int64_t *out, ft_err *err);
int ft_gguf_get_float(const ft_gguf *g, const char *key, double *out, ft_err *err);
int ft_gguf_get_bool(const ft_gguf *g, const char *key, int *out, ft_err *err);
int ft_gguf_get_str(const ft_gguf *g, const char *key, const char **s, size_t *len,
                    ft_err *err);
/* An array of elem_type: 1 found with *kv set, 0 absent, -1 other type. */
int ft_gguf_get_arr(const ft_gguf *g, const char *key, int elem_type, const ft_gguf_kv **kv,
                    ft_err *err);

/* Element i of an array (no bounds check beyond the caller's i < kv->n). */
const char *ft_gguf_arr_str(const ft_gguf_kv *kv, uint64_t i, size_t *len);
int64_t ft_gguf_arr_int(const ft_gguf_kv *kv, uint64_t i);
double ft_gguf_arr_float(const ft_gguf_kv *kv, uint64_t i);

/* Names for messages: "uint32", "string", "array"…; "F32", "Q4_K", "type 77". */
const char *ft_gguf_vtype_name(int type);
const char *ft_gguf_ttype_name(int type);
/* Bytes of one block and elements per block of a ggml type; 0 if unknown. */
size_t ft_gguf_ttype_block_bytes(int type);
int ft_gguf_ttype_block_elems(int type);

/* The writer. Keys keep the order they were first set in; setting a key
 * again replaces its value. Tensors are written in the order added. */
typedef struct ft_gguf_writer ft_gguf_writer;

/* Fills n_bytes of a tensor's data into dst when the file is written. */
typedef int (*ft_gguf_fill_fn)(void *ctx, void *dst, size_t n_bytes, ft_err *err);

ft_gguf_writer *ft_gguf_writer_new(ft_err *err);
void ft_gguf_writer_free(ft_gguf_writer *w);

int ft_gguf_set_uint(ft_gguf_writer *w, const char *key, int type, uint64_t v, ft_err *err);
int ft_gguf_set_int(ft_gguf_writer *w, const char *key, int type, int64_t v, ft_err *err);
int ft_gguf_set_u32(ft_gguf_writer *w, const char *key, uint32_t v, ft_err *err);
int ft_gguf_set_i32(ft_gguf_writer *w, const char *key, int32_t v, ft_err *err);
int ft_gguf_set_f32(ft_gguf_writer *w, const char *key, float v, ft_err *err);
int ft_gguf_set_f64(ft_gguf_writer *w, const char *key, double v, ft_err *err);
int ft_gguf_set_bool(ft_gguf_writer *w, const char *key, int v, ft_err *err);
int ft_gguf_set_str(ft_gguf_writer *w, const char *key, const char *s, ft_err *err);
/* A numeric array: n elements of elem_type, packed little-endian in data
 * (copied). */
int ft_gguf_set_arr(ft_gguf_writer *w, const char *key, int elem_type, const void *data,
                    uint64_t n, ft_err *err);
/* An array of n strings (copied); lens may be NULL for NUL-terminated ones. */
int ft_gguf_set_arr_str(ft_gguf_writer *w, const char *key, const char *const *strs,
                        const size_t *lens, uint64_t n, ft_err *err);

/* A tensor of ggml type `type` with ne[0..n_dims) (fastest first). Its bytes
 * come from data (borrowed: it must stay valid until ft_gguf_write) or,
 * with ft_gguf_add_tensor_fn, from fill at write time. */
int ft_gguf_add_tensor(ft_gguf_writer *w, const char *name, int type, int n_dims,
                       const int64_t *ne, const void *data, ft_err *err);
int ft_gguf_add_tensor_fn(ft_gguf_writer *w, const char *name, int type, int n_dims,
                          const int64_t *ne, ft_gguf_fill_fn fill, void *ctx, ft_err *err);

/* Write everything to path atomically (temporary sibling, then rename);
 * an existing path is refused unless force. Version 3, alignment from
 * general.alignment when set (a power of two), else 32. */
int ft_gguf_write(ft_gguf_writer *w, const char *path, int force, ft_err *err);

#endif
