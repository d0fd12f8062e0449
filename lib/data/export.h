/* export: records to text for people and other tools: JSON Lines, CSV,
 * TSV, or one field per line.
 *
 * JSON: every msgpack value has a JSON form. Maps keep their key order
 * (non-string keys are written as the JSON text of the key, as a string);
 * integers print exactly; floats print the shortest of %.15g/%.16g/%.17g
 * (float32: %.6g..%.9g) that reads back to the same value, with ".0" added
 * when that looks like an integer; NaN and infinities become null. Strings
 * escape '"', '\', control characters, U+2028 and U+2029; bytes that are
 * not UTF-8 become U+FFFD. Binary data is a base64 string; extension
 * values are {"ext": TYPE, "base64": DATA}.
 *
 * CSV: RFC 4180 quoting when a cell holds ',', '"', CR or LF; rows end in
 * LF. TSV: a cell holding TAB, CR or LF cannot be written (an error).
 * Non-string cells are written as their JSON text; nil and missing fields
 * as empty cells. */
#ifndef FT_DATA_EXPORT_H
#define FT_DATA_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/labelmap.h"
#include "data/records.h"

enum ft_export_format { FT_EXPORT_JSONL, FT_EXPORT_CSV, FT_EXPORT_TSV, FT_EXPORT_TEXT };

typedef struct ft_export_opts {
    int format;                 /* enum ft_export_format */
    const char *const *fields;  /* columns (CSV/TSV), keys (JSONL), the field (text) */
    size_t n_fields;            /* 0: label,text (CSV/TSV), all (JSONL), text (text) */
    int header;                 /* CSV/TSV: -1 when fields were named, 0 no, 1 yes */
    const ft_labelmap *label_map;   /* label names back to values */
} ft_export_opts;

/* A growable text buffer. */
typedef struct ft_textbuf {
    char *p;
    size_t len, cap;
} ft_textbuf;

/* Append the JSON form of the msgpack value mp[0..n) to out. */
int ft_export_json(ft_textbuf *out, const uint8_t *mp, size_t n, ft_err *err);

typedef struct ft_export ft_export;

/* Text goes to fd (not closed), name for messages. */
ft_export *ft_export_new(const ft_export_opts *o, int fd, const char *name, ft_err *err);
/* Write one record. Errors name the record by its number. */
int ft_export_record(ft_export *e, const ft_record *rec, ft_err *err);
/* Flush; then free (ft_export_free also flushes nothing). */
int ft_export_flush(ft_export *e, ft_err *err);
void ft_export_free(ft_export *e);

/* The format named by a --format argument, or -1. */
int ft_export_format_parse(const char *name);

#endif
