/* safetensors: read and write the Hugging Face tensor file format.
 *
 * A file is an 8-byte little-endian header length, a JSON header mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (plus
 * an optional "__metadata__" object of strings), then the raw little-endian
 * data. Reading maps the file and checks everything before any tensor is
 * used: the header length against the file size, the JSON, every dtype and
 * shape, that each tensor's byte count matches its shape, and that the
 * tensors tile the data area exactly (no overlap, no gap, nothing missing,
 * nothing left over), as the reference implementation requires.
 *
 * Generic on purpose: models, LoRA and prefix adapters and the tests' own
 * files all go through here. Not here: what tensor names mean. */
#ifndef FT_MODEL_SAFETENSORS_H
#define FT_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/dtype.h"

#define FT_ST_MAX_DIMS 8

typedef struct ft_st_tensor {
    const char *name;
    int dtype;                        /* FT_DTYPE_* */
    int ndim;
    int64_t shape[FT_ST_MAX_DIMS];
    size_t numel;
    size_t n_bytes;
    const unsigned char *data;        /* inside the file's mapping; may be unaligned */
} ft_st_tensor;

typedef struct ft_safetensors {
    char *name;                       /* the path or member name, for messages */
    ft_st_tensor *tensors;            /* in file order of their data */
    int n_tensors;
    char **meta;                      /* "__metadata__": key, value, key, value ... */
    int n_meta;                       /* number of pairs */
    /* private */
    void *base;
    size_t n_bytes;
    int mapped;
    int *by_name;                     /* tensor indices sorted by name */
    void *header;                     /* the parsed JSON (names point into it) */
} ft_safetensors;

/* Map and check a file. NULL with a message naming the file on failure. */
ft_safetensors *ft_safetensors_open(const char *path, ft_err *err);
/* Check a file already in memory (from an archive); takes ownership of data
 * (malloc'd), also on failure. name is used in messages. */
ft_safetensors *ft_safetensors_from_memory(void *data, size_t n_bytes, const char *name,
                                           ft_err *err);
void ft_safetensors_close(ft_safetensors *st);

/* The tensor called name, or NULL. */
const ft_st_tensor *ft_safetensors_find(const ft_safetensors *st, const char *name);
/* A metadata value, or NULL. */
const char *ft_safetensors_meta(const ft_safetensors *st, const char *key);
/* Convert a float tensor (F32, F16, BF16, F64) to f32; out holds t->numel.
 * Other dtypes are an error naming the tensor. */
int ft_safetensors_read_f32(const ft_safetensors *st, const ft_st_tensor *t, float *out,
                            ft_err *err);

/* One tensor to write: either f32 data converted to dtype (F32, F16 or
 * BF16), or raw bytes already in dtype (any type; e.g. I32 token ids). */
typedef struct ft_st_entry {
    const char *name;
    int dtype;
    int ndim;
    int64_t shape[FT_ST_MAX_DIMS];
    const float *f32;
    const void *raw;
} ft_st_entry;

/* Write entries, in the given order, to path (a plain write: use inside an
 * ft_out temporary for atomicity). meta is NULL or a NULL-terminated list
 * key, value, key, value. The header is compact JSON padded with spaces to
 * a multiple of 8 bytes, so the same entries always give the same bytes. */
int ft_safetensors_write(const char *path, const ft_st_entry *entries, int n,
                         const char *const *meta, ft_err *err);

#endif
