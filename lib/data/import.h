/* import: ft-import's work as a library: read files, archives and
 * compressed streams (lib/data/input), parse JSON, JSONL, CSV, TSV or text,
 * and write one record per object, row, line or paragraph.
 *
 * What a record gets (the contract of man/ft-import.1, in short):
 * - id first: the --id field; else, for a JSON (not JSONL) file or member
 *   that holds just one object, its path (its own "id" kept as "orig_id"); else the
 *   record's own "id" (string or integer); else "NAME:N", N the line the
 *   record starts on (JSONL, CSV, TSV, text) or the element number in a
 *   JSON array. Duplicate ids are reported through the warn callback.
 * - every field of the input in order, with --text-field and --label-field
 *   renamed to "text" and "label", labels turned into strings and mapped by
 *   --label-map; alpaca objects become prompt/response, ShareGPT
 *   conversations become messages. A field pushed aside by one of these
 *   names is kept as "orig_NAME".
 * - a label from --label-from-path, appended.
 *
 * Errors name the input, the member inside an archive, and a line and
 * byte offset. Records before an error are already handed to the writer. */
#ifndef FT_DATA_IMPORT_H
#define FT_DATA_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "data/labelmap.h"
#include "data/records.h"

enum ft_import_format {
    FT_IMPORT_AUTO,
    FT_IMPORT_JSONL,    /* JSON objects back to back, ids by line */
    FT_IMPORT_JSON,     /* a JSON document: one object, an array, or several */
    FT_IMPORT_CSV,
    FT_IMPORT_TSV,
    FT_IMPORT_TEXT
};

enum ft_import_schema {
    FT_SCHEMA_AUTO,     /* recognise each object by its keys */
    FT_SCHEMA_NONE,     /* keep objects as they are */
    FT_SCHEMA_ALPACA,
    FT_SCHEMA_SHAREGPT,
    FT_SCHEMA_OPENAI
};

typedef struct ft_import_opts {
    int format;                 /* enum ft_import_format */
    int schema;                 /* enum ft_import_schema */
    int header;                 /* CSV/TSV: -1 detect, 0 label,text rows, 1 header */
    int paragraphs;             /* text: a record per paragraph, not per line */
    const char *const *globs;   /* archive members to read (none: all) */
    size_t n_globs;
    const char *text_field;     /* field or column renamed to "text" (NULL: none) */
    const char *label_field;    /* field or column renamed to "label" (NULL: none) */
    const char *id_field;       /* field or column that is the id (NULL: default) */
    const ft_labelmap *label_map;
    const char *label_from_path;   /* PCRE2 pattern matched on the member path */
    int fix_utf8;               /* replace bad UTF-8 by U+FFFD instead of failing */
    size_t max_record_bytes;    /* 0: FT_RECORD_MAX_BYTES_DEFAULT */
    /* Warnings for people (duplicate ids, repaired text); may be NULL. */
    void (*warn)(void *ctx, const char *msg);
    /* Called now and then with the totals so far; may be NULL. */
    void (*progress)(void *ctx, uint64_t records, uint64_t bytes);
    void *ctx;
} ft_import_opts;

typedef struct ft_import ft_import;

/* Records go to w (not owned). NULL with a usage error for a bad
 * --label-from-path pattern. */
ft_import *ft_import_new(const ft_import_opts *o, ft_writer *w, ft_err *err);
/* Import one input path ("-": standard input). */
int ft_import_path(ft_import *im, const char *path, ft_err *err);
/* End of input: reports the duplicate-id and repair totals by warn. */
void ft_import_finish(ft_import *im);
uint64_t ft_import_records(const ft_import *im);
void ft_import_free(ft_import *im);

/* The format named by a --format argument ("jsonl", "json", "csv", "tsv",
 * "text"), or -1. */
int ft_import_format_parse(const char *name);
/* The schema named by a --schema argument, or -1. */
int ft_import_schema_parse(const char *name);

#endif
