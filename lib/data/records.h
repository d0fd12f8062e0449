/* records: the msgpack record stream every ft program reads and writes.
 *
 * A stream is msgpack maps back to back. A record is kept as its raw bytes
 * plus an index of its entries, so keys a program does not own are copied
 * byte for byte, in order, never decoded. Reading is incremental (any pipe
 * chunking, records of any size up to a cap); a malformed stream is an error
 * naming the byte offset and record number. Writing is buffered; a record is
 * built field by field with ft_rec_builder and written whole.
 *
 * Not here: what the standard keys mean (each program owns its keys). */
#ifndef FT_DATA_RECORDS_H
#define FT_DATA_RECORDS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define FT_RECORD_MAX_BYTES_DEFAULT ((size_t)64 << 20)

/* One entry of a record's map: key and value as raw msgpack bytes. The key
 * is also available decoded when it is a string (key_str, not
 * NUL-terminated; NULL when the key is not a string). */
typedef struct ft_field {
    const uint8_t *key;      /* raw msgpack bytes of the key */
    size_t key_bytes;
    const uint8_t *val;      /* raw msgpack bytes of the value */
    size_t val_bytes;
    const char *key_str;
    uint32_t key_len;
} ft_field;

/* A record as read. All pointers stay valid until the next read. */
typedef struct ft_record {
    const uint8_t *data;     /* the whole map */
    size_t n_bytes;
    ft_field *fields;
    uint32_t n_fields;
    uint64_t number;         /* 1-based position in the stream */
    uint64_t offset;         /* byte offset of the record in the stream */
} ft_record;

/* --- Reading -------------------------------------------------------------- */

typedef struct ft_reader ft_reader;

/* Read records from fd; name is used in messages ("-" for stdin is shown as
 * "standard input"). max_record_bytes 0 means the default cap. The reader
 * does not close fd. */
ft_reader *ft_reader_open(int fd, const char *name, size_t max_record_bytes, ft_err *err);
/* Read from memory (tests, spooled data); the bytes must outlive the reader. */
ft_reader *ft_reader_mem(const void *data, size_t n_bytes, const char *name,
                         size_t max_record_bytes, ft_err *err);
/* 1: a record was read into *rec; 0: clean end of stream; -1: error, with a
 * message "NAME: record N (byte OFFSET): what". */
int ft_reader_next(ft_reader *r, ft_record *rec, ft_err *err);
/* Records read so far, and the byte offset of the next record. */
uint64_t ft_reader_count(const ft_reader *r);
uint64_t ft_reader_offset(const ft_reader *r);
const char *ft_reader_name(const ft_reader *r);
void ft_reader_free(ft_reader *r);

/* --- Fields ---------------------------------------------------------------- */

/* The field with a string key equal to key, or NULL. */
const ft_field *ft_record_get(const ft_record *rec, const char *key);

/* Typed access to a value. Each returns 0, or -1 with "field KEY: expected
 * TYPE" (the caller adds the record's position). */
int ft_field_str(const ft_field *f, const char **s, size_t *len, ft_err *err);
int ft_field_int(const ft_field *f, int64_t *v, ft_err *err);
/* A float or an integer, as double. */
int ft_field_num(const ft_field *f, double *v, ft_err *err);
int ft_field_bool(const ft_field *f, int *v, ft_err *err);
int ft_field_is_nil(const ft_field *f);
/* An array of integers; *ids is malloc'd (caller frees). Values must fit
 * int32. */
int ft_field_int_array(const ft_field *f, int32_t **ids, size_t *n, ft_err *err);

/* A cursor over msgpack values for nested data (arrays of maps such as
 * messages, maps such as probs): point it at raw bytes, then step. */
typedef struct ft_mp_cursor {
    const uint8_t *p, *end;
} ft_mp_cursor;
/* Total bytes of the msgpack object at p (at most n bytes available); 0 when
 * incomplete or malformed. */
size_t ft_mp_object_size(const uint8_t *p, size_t n);
/* Array and map headers: the element count, and advance past the header. */
int ft_mp_array(ft_mp_cursor *c, uint32_t *n, ft_err *err);
int ft_mp_map(ft_mp_cursor *c, uint32_t *n, ft_err *err);
int ft_mp_str(ft_mp_cursor *c, const char **s, size_t *len, ft_err *err);
int ft_mp_num(ft_mp_cursor *c, double *v, ft_err *err);
int ft_mp_int(ft_mp_cursor *c, int64_t *v, ft_err *err);
/* Skip one object of any type. */
int ft_mp_skip(ft_mp_cursor *c, ft_err *err);

/* --- Building and writing ------------------------------------------------- */

/* A record under construction: fields are appended in order. */
typedef struct ft_rec_builder {
    uint8_t *buf;            /* the map body, without its header */
    size_t len, cap;
    uint32_t n_fields;
    int failed;              /* an allocation failed: ft_writer_put reports it */
} ft_rec_builder;

void ft_rec_init(ft_rec_builder *b);
void ft_rec_reset(ft_rec_builder *b);   /* empty, keep the memory */
void ft_rec_free(ft_rec_builder *b);

/* Append one field. Keys are NUL-terminated strings. */
void ft_rec_str(ft_rec_builder *b, const char *key, const char *s, size_t len);
void ft_rec_cstr(ft_rec_builder *b, const char *key, const char *s);
void ft_rec_int(ft_rec_builder *b, const char *key, int64_t v);
void ft_rec_double(ft_rec_builder *b, const char *key, double v);
void ft_rec_bool(ft_rec_builder *b, const char *key, int v);
void ft_rec_int_array(ft_rec_builder *b, const char *key, const int32_t *ids, size_t n);
/* A field whose value is given as raw msgpack bytes. */
void ft_rec_raw(ft_rec_builder *b, const char *key, const void *val, size_t val_bytes);
/* Copy a field of a read record exactly (raw key and value bytes). */
void ft_rec_copy(ft_rec_builder *b, const ft_field *f);
/* Copy every field of rec except those whose string key is in skip (a
 * NULL-terminated list, may be NULL), in order. */
void ft_rec_copy_except(ft_rec_builder *b, const ft_record *rec, const char *const *skip);

/* Low-level value writers for nested values: call ft_rec_key first, then
 * exactly one value (which may be an array/map header followed by its
 * elements). */
void ft_rec_key(ft_rec_builder *b, const char *key);
void ft_rec_val_str(ft_rec_builder *b, const char *s, size_t len);
void ft_rec_val_int(ft_rec_builder *b, int64_t v);
void ft_rec_val_double(ft_rec_builder *b, double v);
void ft_rec_val_bool(ft_rec_builder *b, int v);
void ft_rec_val_nil(ft_rec_builder *b);
void ft_rec_val_array(ft_rec_builder *b, uint32_t n);
void ft_rec_val_map(ft_rec_builder *b, uint32_t n);
void ft_rec_val_raw(ft_rec_builder *b, const void *val, size_t val_bytes);

typedef struct ft_writer ft_writer;

/* Write records to fd. Refuses a terminal unless force (the message tells
 * the user about -f). The writer does not close fd. */
ft_writer *ft_writer_open(int fd, const char *name, int force, ft_err *err);
/* Write the built record (map header + body). Errors are FT_ERR_PIPE when
 * the reader went away. */
int ft_writer_put(ft_writer *w, const ft_rec_builder *b, ft_err *err);
/* Write a record read elsewhere, unchanged. */
int ft_writer_put_raw(ft_writer *w, const ft_record *rec, ft_err *err);
int ft_writer_flush(ft_writer *w, ft_err *err);
/* Flush and free; returns the flush result. */
int ft_writer_close(ft_writer *w, ft_err *err);
uint64_t ft_writer_count(const ft_writer *w);

#endif
