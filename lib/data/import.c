/* import: inputs to records (see import.h).
 *
 * Each parser (JSON, CSV/TSV, text) reads the current member through the
 * input window and hands every record to emit() as a list of source fields
 * (key, and a value either raw msgpack or a plain string) plus where it came
 * from. emit() applies the record rules (id, renames, labels, instruction
 * schemas) the same way for every format and writes the record. */
#define _GNU_SOURCE
#include "data/import.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "data/csv.h"
#include "data/input.h"
#include "data/json.h"
#include "data/utf8.h"

#define DUP_WARNINGS_MAX 5
#define PROGRESS_EVERY 4096

/* A field of the input record. Values are raw msgpack (JSON) or a string
 * (CSV, TSV, text); keys are raw msgpack strings (JSON) or C strings. */
typedef struct sfield {
    const char *key;
    size_t klen;
    const uint8_t *kraw;    /* JSON: the key as msgpack, else NULL */
    size_t kraw_len;
    const uint8_t *vraw;    /* JSON: the value as msgpack, else NULL */
    size_t vraw_len;
    const char *s;          /* CSV, TSV, text: the value */
    size_t slen;
    int used;               /* consumed by a rule; not copied as it is */
} sfield;

/* Where a record came from. */
typedef struct origin {
    uint64_t n;             /* line, or element number in a JSON array */
    uint64_t line;          /* for messages */
    uint64_t offset;        /* byte offset in the member, for messages */
    int whole;              /* the record is the member's only JSON object */
} origin;

/* The id as it will be written. */
typedef struct idval {
    int is_int;
    int64_t i;
    const char *s;
    size_t len;
} idval;

struct ft_import {
    ft_import_opts o;
    size_t cap;             /* record size cap */
    ft_writer *w;
    ft_rec_builder b;
    ft_json json;
    ft_csv_row row;
    pcre2_code *re;
    pcre2_match_data *md;

    ft_input *in;           /* the input being read */
    const char *member;
    uint64_t line;          /* line number at the window's start */
    char *path_label;       /* --label-from-path value for this member */
    size_t path_label_len;

    sfield *fields;
    size_t n_fields, fields_cap;
    char *fix;              /* UTF-8 repairs */
    size_t fix_cap;
    char *para;             /* a paragraph being collected */
    size_t para_len, para_cap;
    char **cols;            /* CSV/TSV header of the current member */
    size_t n_cols;
    char idbuf[4096 + 32];
    char keybuf[256];

    uint64_t *id_hash;      /* open-addressing set of id hashes (0 = empty) */
    uint64_t *id_rec;       /* the record that first had it */
    size_t id_cap, id_n;
    uint64_t n_dups, n_fixed, n_records, n_bytes;
};

static void warn(ft_import *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(ft_import *im, const char *fmt, ...)
{
    char msg[FT_ERR_MAX];
    va_list ap;

    if (!im->o.warn)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    im->o.warn(im->o.ctx, msg);
}

/* "NAME[: MEMBER]: line L (byte B): " in front of an error. */
static int fail_at(ft_import *im, const origin *at, ft_err *err)
{
    return ft_err_prefix(err, "%s: line %llu (byte %llu)", ft_input_where(im->in),
                         (unsigned long long)at->line, (unsigned long long)at->offset);
}

int ft_import_format_parse(const char *name)
{
    if (!strcmp(name, "jsonl"))
        return FT_IMPORT_JSONL;
    if (!strcmp(name, "json"))
        return FT_IMPORT_JSON;
    if (!strcmp(name, "csv"))
        return FT_IMPORT_CSV;
    if (!strcmp(name, "tsv"))
        return FT_IMPORT_TSV;
    if (!strcmp(name, "text"))
        return FT_IMPORT_TEXT;
    return -1;
}

int ft_import_schema_parse(const char *name)
{
    static const char *const names[] = {"auto", "none", "alpaca", "sharegpt", "openai"};
    for (int i = 0; i < 5; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

ft_import *ft_import_new(const ft_import_opts *o, ft_writer *w, ft_err *err)
{
    ft_import *im = ft_calloc(1, sizeof *im, err);

    if (!im)
        return NULL;
    im->o = *o;
    im->w = w;
    im->cap = o->max_record_bytes ? o->max_record_bytes : FT_RECORD_MAX_BYTES_DEFAULT;
    im->json.fix_utf8 = o->fix_utf8;
    ft_rec_init(&im->b);
    if (o->label_from_path) {
        int code;
        PCRE2_SIZE at;
        im->re = pcre2_compile((PCRE2_SPTR)o->label_from_path, PCRE2_ZERO_TERMINATED,
                               PCRE2_UTF, &code, &at, NULL);
        if (!im->re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            ft_err_setk(err, FT_ERR_USAGE, "--label-from-path: %s at offset %zu", msg,
                        (size_t)at);
            ft_import_free(im);
            return NULL;
        }
        im->md = pcre2_match_data_create_from_pattern(im->re, NULL);
        if (!im->md) {
            ft_err_set(err, "out of memory");
            ft_import_free(im);
            return NULL;
        }
    }
    return im;
}

static void free_cols(ft_import *im)
{
    for (size_t i = 0; i < im->n_cols; i++)
        free(im->cols[i]);
    free(im->cols);
    im->cols = NULL;
    im->n_cols = 0;
}

void ft_import_free(ft_import *im)
{
    if (!im)
        return;
    ft_rec_free(&im->b);
    ft_json_free(&im->json);
    ft_csv_row_free(&im->row);
    if (im->md)
        pcre2_match_data_free(im->md);
    if (im->re)
        pcre2_code_free(im->re);
    free(im->path_label);
    free(im->fields);
    free(im->fix);
    free(im->para);
    free_cols(im);
    free(im->id_hash);
    free(im->id_rec);
    free(im);
}

uint64_t ft_import_records(const ft_import *im)
{
    return im->n_records;
}

void ft_import_finish(ft_import *im)
{
    if (im->n_dups > DUP_WARNINGS_MAX)
        warn(im, "%llu duplicate ids in all (ids should be unique: see --id)",
             (unsigned long long)im->n_dups);
    if (im->n_fixed)
        warn(im, "replaced %llu invalid UTF-8 sequences with U+FFFD",
             (unsigned long long)im->n_fixed);
}

/* --- Ids ------------------------------------------------------------------- */

/* Remember the id; warn when it was seen before. */
static int note_id(ft_import *im, const idval *id, ft_err *err)
{
    uint64_t h;
    size_t i;

    if (id->is_int) {
        uint8_t tmp[9] = {'i'};
        memcpy(tmp + 1, &id->i, 8);
        h = ft_hash64(tmp, 9, 0);
    } else {
        h = ft_hash64(id->s, id->len, 1);
    }
    h |= h == 0;
    if (im->id_n * 2 >= im->id_cap) {
        size_t cap = im->id_cap ? im->id_cap * 2 : 1024;
        uint64_t *hs = ft_calloc(cap, sizeof *hs, err);
        uint64_t *rs = ft_calloc(cap, sizeof *rs, err);
        if (!hs || !rs) {
            free(hs);
            free(rs);
            return -1;
        }
        for (size_t k = 0; k < im->id_cap; k++) {
            if (!im->id_hash[k])
                continue;
            for (i = im->id_hash[k] & (cap - 1); hs[i]; i = (i + 1) & (cap - 1))
                ;
            hs[i] = im->id_hash[k];
            rs[i] = im->id_rec[k];
        }
        free(im->id_hash);
        free(im->id_rec);
        im->id_hash = hs;
        im->id_rec = rs;
        im->id_cap = cap;
    }
    for (i = h & (im->id_cap - 1); im->id_hash[i]; i = (i + 1) & (im->id_cap - 1)) {
        if (im->id_hash[i] != h)
            continue;
        if (++im->n_dups <= DUP_WARNINGS_MAX) {
            if (id->is_int)
                warn(im, "%s: record %llu: duplicate id %lld (first at record %llu)",
                     ft_input_where(im->in), (unsigned long long)im->n_records + 1,
                     (long long)id->i, (unsigned long long)im->id_rec[i]);
            else
                warn(im, "%s: record %llu: duplicate id \"%.*s\" (first at record %llu)",
                     ft_input_where(im->in), (unsigned long long)im->n_records + 1,
                     (int)(id->len > 200 ? 200 : id->len), id->s,
                     (unsigned long long)im->id_rec[i]);
        }
        return 0;
    }
    im->id_hash[i] = h;
    im->id_rec[i] = im->n_records + 1;
    im->id_n++;
    return 0;
}

/* --- Values ---------------------------------------------------------------- */

static int key_is(const sfield *f, const char *key)
{
    return f->klen == strlen(key) && memcmp(f->key, key, f->klen) == 0;
}

static sfield *find(ft_import *im, const char *key)
{
    for (size_t i = 0; i < im->n_fields; i++)
        if (key_is(&im->fields[i], key))
            return &im->fields[i];
    return NULL;
}

/* The value as a string: a string, or the decimal text of an integer, or
 * true/false. 1 when it is one, 0 for nil, -1 (error) otherwise. */
static int value_text(ft_import *im, const sfield *f, const char **s, size_t *len,
                      char *tmp, ft_err *err)
{
    (void)im;
    ft_mp_cursor c;
    int64_t v;

    if (!f->vraw) {
        *s = f->s;
        *len = f->slen;
        return 1;
    }
    c.p = f->vraw;
    c.end = f->vraw + f->vraw_len;
    if (ft_mp_str(&c, s, len, NULL) == 0)
        return 1;
    if (f->vraw[0] == 0xc0)
        return 0;
    if (f->vraw[0] == 0xc2 || f->vraw[0] == 0xc3) {
        *s = f->vraw[0] == 0xc3 ? "true" : "false";
        *len = strlen(*s);
        return 1;
    }
    if (f->vraw[0] == 0xcf) {   /* beyond int64 */
        uint64_t u = 0;
        for (int k = 1; k <= 8; k++)
            u = u << 8 | f->vraw[k];
        *len = (size_t)sprintf(tmp, "%llu", (unsigned long long)u);
        *s = tmp;
        return 1;
    }
    if (ft_mp_int(&c, &v, NULL) == 0) {
        *len = (size_t)sprintf(tmp, "%lld", (long long)v);
        *s = tmp;
        return 1;
    }
    return ft_err_set(err, "field \"%.*s\": expected a string or an integer",
                      (int)f->klen, f->key);
}

static void put_value(ft_import *im, const sfield *f)
{
    if (f->vraw)
        ft_rec_val_raw(&im->b, f->vraw, f->vraw_len);
    else
        ft_rec_val_str(&im->b, f->s, f->slen);
}

/* Copy a source field under its own name, or as orig_NAME when a rule
 * writes a field of that name. */
static void put_source(ft_import *im, const sfield *f, int displaced)
{
    if (!displaced && f->kraw) {
        ft_field raw = {f->kraw, f->kraw_len, f->vraw, f->vraw_len, f->key,
                        (uint32_t)f->klen};
        ft_rec_copy(&im->b, &raw);
        return;
    }
    snprintf(im->keybuf, sizeof im->keybuf, "%s%.*s", displaced ? "orig_" : "",
             (int)f->klen, f->key);
    ft_rec_key(&im->b, im->keybuf);
    put_value(im, f);
}

/* --- Instruction schemas --------------------------------------------------- */

/* A string field's value, or NULL when absent; error when not a string. */
static int str_field(ft_import *im, const char *key, const char **s, size_t *len,
                     ft_err *err)
{
    sfield *f = find(im, key);
    ft_mp_cursor c;

    *s = NULL;
    *len = 0;
    if (!f)
        return 0;
    if (!f->vraw) {
        *s = f->s;
        *len = f->slen;
        return 1;
    }
    if (f->vraw[0] == 0xc0)
        return 0;
    c.p = f->vraw;
    c.end = f->vraw + f->vraw_len;
    if (ft_mp_str(&c, s, len, err) < 0)
        return ft_err_prefix(err, "field \"%s\"", key);
    return 1;
}

static void put_message(ft_import *im, const char *role, const char *s, size_t len)
{
    ft_rec_val_map(&im->b, 2);
    ft_rec_val_str(&im->b, "role", 4);
    ft_rec_val_str(&im->b, role, strlen(role));
    ft_rec_val_str(&im->b, "content", 7);
    ft_rec_val_str(&im->b, s, len);
}

/* Alpaca, the LLaMA-Factory way: the prompt is the instruction and the
 * input joined by one line feed (either alone when the other is empty), the
 * response is the output. With a non-empty "history" of [prompt, response]
 * pairs the record becomes "messages" instead: system, history, then this
 * turn. Written at the instruction's place. */
static int put_alpaca(ft_import *im, ft_err *err)
{
    const char *ins, *inp, *out, *sys;
    size_t ins_n, inp_n, out_n, sys_n;
    sfield *hist = find(im, "history");
    ft_mp_cursor c = {0};
    uint32_t n_hist = 0;

    if (str_field(im, "instruction", &ins, &ins_n, err) < 0 ||
        str_field(im, "input", &inp, &inp_n, err) < 0 ||
        str_field(im, "output", &out, &out_n, err) < 0 ||
        str_field(im, "system", &sys, &sys_n, err) < 0)
        return -1;
    if (hist && hist->vraw) {
        c.p = hist->vraw;
        c.end = hist->vraw + hist->vraw_len;
        if (hist->vraw[0] != 0xc0 && ft_mp_array(&c, &n_hist, err) < 0)
            return ft_err_prefix(err, "field \"history\"");
    }

    /* The prompt: "instruction\ninput". */
    size_t p_len = ins_n + inp_n + (ins_n && inp_n);
    char *prompt = ft_malloc(p_len + 1, err);
    if (!prompt)
        return -1;
    memcpy(prompt, ins ? ins : "", ins_n);
    if (ins_n && inp_n)
        prompt[ins_n] = '\n';
    memcpy(prompt + ins_n + (ins_n && inp_n), inp ? inp : "", inp_n);

    if (n_hist == 0) {
        ft_rec_str(&im->b, "prompt", prompt, p_len);
        ft_rec_str(&im->b, "response", out ? out : "", out_n);
        free(prompt);
        return 0;
    }
    ft_rec_key(&im->b, "messages");
    ft_rec_val_array(&im->b, (sys_n ? 1 : 0) + 2 * n_hist + 2);
    if (sys_n)
        put_message(im, "system", sys, sys_n);
    for (uint32_t t = 0; t < n_hist; t++) {
        uint32_t two;
        const char *q, *a;
        size_t q_n, a_n;
        if (ft_mp_array(&c, &two, err) < 0 || two != 2 ||
            ft_mp_str(&c, &q, &q_n, err) < 0 || ft_mp_str(&c, &a, &a_n, err) < 0) {
            if (two != 2)
                ft_err_set(err, "expected [prompt, response]");
            free(prompt);
            return ft_err_prefix(err, "field \"history\": turn %u", t + 1);
        }
        put_message(im, "user", q, q_n);
        put_message(im, "assistant", a, a_n);
    }
    put_message(im, "user", prompt, p_len);
    put_message(im, "assistant", out ? out : "", out_n);
    free(prompt);
    return 0;
}

/* The number of turns in an alpaca "history" (0 when absent, null or not
 * an array: put_alpaca reports the latter). */
static uint32_t alpaca_history(ft_import *im)
{
    sfield *h = find(im, "history");
    uint32_t n = 0;
    if (!h || !h->vraw)
        return 0;
    ft_mp_cursor c = {h->vraw, h->vraw + h->vraw_len};
    if (ft_mp_array(&c, &n, NULL) < 0)
        return 0;
    return n;
}

/* ShareGPT roles as LLaMA-Factory names them, to ft's (OpenAI's) names. */
static const char *sharegpt_role(const char *s, size_t n)
{
    static const char *const map[][2] = {
        {"human", "user"},          {"user", "user"},
        {"gpt", "assistant"},       {"assistant", "assistant"},
        {"system", "system"},       {"function_call", "function"},
        {"function", "function"},   {"observation", "observation"},
        {"tool", "tool"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i][0]) == n && !memcmp(map[i][0], s, n))
            return map[i][1];
    return NULL;
}

/* ShareGPT: "conversations" [{from, value}] becomes "messages" [{role,
 * content}] (other keys of a turn are dropped); a top-level "system" string
 * becomes the first message. */
static int put_sharegpt(ft_import *im, ft_err *err)
{
    sfield *conv = find(im, "conversations");
    const char *sys;
    size_t sys_n;
    uint32_t n;
    ft_mp_cursor c = {conv->vraw, conv->vraw + conv->vraw_len};

    if (str_field(im, "system", &sys, &sys_n, err) < 0)
        return -1;
    if (ft_mp_array(&c, &n, err) < 0)
        return ft_err_prefix(err, "field \"conversations\"");
    ft_rec_key(&im->b, "messages");
    ft_rec_val_array(&im->b, n + (sys_n ? 1 : 0));
    if (sys_n)
        put_message(im, "system", sys, sys_n);
    for (uint32_t t = 0; t < n; t++) {
        uint32_t m;
        const char *from = NULL, *value = NULL, *k, *role;
        size_t from_n = 0, value_n = 0, k_n;
        if (ft_mp_map(&c, &m, err) < 0)
            return ft_err_prefix(err, "field \"conversations\": turn %u", t + 1);
        for (uint32_t e = 0; e < m; e++) {
            if (ft_mp_str(&c, &k, &k_n, err) < 0)
                return ft_err_prefix(err, "field \"conversations\": turn %u", t + 1);
            const char **dst = NULL;
            size_t *dst_n = NULL;
            if (k_n == 4 && !memcmp(k, "from", 4)) {
                dst = &from;
                dst_n = &from_n;
            } else if (k_n == 5 && !memcmp(k, "value", 5)) {
                dst = &value;
                dst_n = &value_n;
            }
            if (dst ? ft_mp_str(&c, dst, dst_n, err) < 0 : ft_mp_skip(&c, err) < 0)
                return ft_err_prefix(err, "field \"conversations\": turn %u", t + 1);
        }
        if (!from || !value)
            return ft_err_set(err, "field \"conversations\": turn %u: no \"%s\"", t + 1,
                              from ? "value" : "from");
        role = sharegpt_role(from, from_n);
        if (!role)
            return ft_err_set(err,
                              "field \"conversations\": turn %u: unknown role \"%.*s\"",
                              t + 1, (int)(from_n > 40 ? 40 : from_n), from);
        put_message(im, role, value, value_n);
    }
    return 0;
}

/* OpenAI chat: "messages" is already ft's form; check each turn has string
 * "role" and "content". */
static int check_openai(ft_import *im, ft_err *err)
{
    sfield *msgs = find(im, "messages");
    ft_mp_cursor c = {msgs->vraw, msgs->vraw + msgs->vraw_len};
    uint32_t n;

    if (ft_mp_array(&c, &n, err) < 0)
        return ft_err_prefix(err, "field \"messages\"");
    for (uint32_t t = 0; t < n; t++) {
        uint32_t m;
        int have = 0;
        const char *k, *v;
        size_t k_n, v_n;
        if (ft_mp_map(&c, &m, err) < 0)
            return ft_err_prefix(err, "field \"messages\": message %u", t + 1);
        for (uint32_t e = 0; e < m; e++) {
            if (ft_mp_str(&c, &k, &k_n, err) < 0)
                return ft_err_prefix(err, "field \"messages\": message %u", t + 1);
            int want = (k_n == 4 && !memcmp(k, "role", 4)) ||
                       (k_n == 7 && !memcmp(k, "content", 7));
            if (want ? ft_mp_str(&c, &v, &v_n, err) < 0 : ft_mp_skip(&c, err) < 0)
                return ft_err_prefix(err, "field \"messages\": message %u: \"%.*s\"",
                                     t + 1, (int)k_n, k);
            have += want;
        }
        if (have != 2)
            return ft_err_set(err,
                              "field \"messages\": message %u: needs \"role\" and "
                              "\"content\" strings",
                              t + 1);
    }
    return 0;
}

/* --- Records --------------------------------------------------------------- */

enum { SCH_NONE, SCH_ALPACA, SCH_SHAREGPT, SCH_OPENAI };

static int detect_schema(ft_import *im)
{
    sfield *f;
    switch (im->o.schema) {
    case FT_SCHEMA_NONE:
        return SCH_NONE;
    case FT_SCHEMA_ALPACA:
        return SCH_ALPACA;
    case FT_SCHEMA_SHAREGPT:
        return SCH_SHAREGPT;
    case FT_SCHEMA_OPENAI:
        return SCH_OPENAI;
    }
    if (!im->fields || !im->fields[0].vraw)
        return SCH_NONE;
    if (find(im, "instruction") && find(im, "output"))
        return SCH_ALPACA;
    f = find(im, "conversations");
    if (f && f->vraw && ((f->vraw[0] & 0xf0) == 0x90 || f->vraw[0] == 0xdc ||
                         f->vraw[0] == 0xdd))
        return SCH_SHAREGPT;
    if (find(im, "messages"))
        return SCH_OPENAI;
    return SCH_NONE;
}

static int id_from_field(ft_import *im, sfield *f, idval *id, ft_err *err)
{
    (void)im;
    ft_mp_cursor c;

    f->used = 1;
    if (!f->vraw) {
        id->s = f->s;
        id->len = f->slen;
        return 0;
    }
    c.p = f->vraw;
    c.end = f->vraw + f->vraw_len;
    if (ft_mp_str(&c, &id->s, &id->len, NULL) == 0)
        return 0;
    c.p = f->vraw;
    if (ft_mp_int(&c, &id->i, NULL) == 0) {
        id->is_int = 1;
        return 0;
    }
    return ft_err_set(err, "field \"%.*s\": an id must be a string or an integer",
                      (int)f->klen, f->key);
}

/* Names a rule writes, so that source fields of the same name move aside. */
typedef struct written {
    const char *names[6];
    int n;
} written;

static int is_written(const written *wr, const sfield *f)
{
    for (int i = 0; i < wr->n; i++)
        if (key_is(f, wr->names[i]))
            return 1;
    return 0;
}

/* The record in im->fields, from where at says, to the writer. */
static int emit(ft_import *im, const origin *at, ft_err *err)
{
    idval id = {0};
    written wr = {{"id"}, 1};
    sfield *label_f = NULL, *text_f = NULL, *anchor = NULL, *f;
    const char *label = NULL;
    size_t label_len = 0, i;
    char tmp[32];
    int schema = detect_schema(im);

    /* The id. */
    if (im->o.id_field) {
        f = find(im, im->o.id_field);
        if (!f) {
            ft_err_set(err, "no field \"%s\" for --id", im->o.id_field);
            return fail_at(im, at, err);
        }
        if (id_from_field(im, f, &id, err) < 0)
            return fail_at(im, at, err);
    } else if (!at->whole && (f = find(im, "id")) != NULL) {
        if (id_from_field(im, f, &id, err) < 0)
            return fail_at(im, at, err);
    } else if (at->whole) {
        id.s = im->member;
        id.len = strlen(im->member);
    } else {
        id.len = (size_t)snprintf(im->idbuf, sizeof im->idbuf, "%s:%llu", im->member,
                                  (unsigned long long)at->n);
        id.s = im->idbuf;
        if (id.len >= sizeof im->idbuf)
            id.len = sizeof im->idbuf - 1;
    }

    /* The label: from the path, or the label field. */
    if (im->path_label) {
        label = im->path_label;
        label_len = im->path_label_len;
        wr.names[wr.n++] = "label";
    } else {
        label_f = find(im, im->o.label_field ? im->o.label_field : "label");
        if (label_f) {
            int rc = value_text(im, label_f, &label, &label_len, tmp, err);
            if (rc < 0)
                return fail_at(im, at, err);
            label_f->used = 1;
            if (rc == 0 || label_len == 0)
                label = NULL;
            if (im->o.label_field && strcmp(im->o.label_field, "label"))
                wr.names[wr.n++] = "label";
        }
    }
    if (label && im->o.label_map) {
        const char *to = ft_labelmap_get(im->o.label_map, label, label_len, &label_len);
        if (!to) {
            ft_err_set(err, "label \"%.*s\" is not in --label-map",
                       (int)(label_len > 100 ? 100 : label_len), label);
            return fail_at(im, at, err);
        }
        label = to;
    }

    /* The text field, renamed. */
    if (im->o.text_field && strcmp(im->o.text_field, "text")) {
        text_f = find(im, im->o.text_field);
        if (!text_f) {
            ft_err_set(err, "no field \"%s\" for --text-field", im->o.text_field);
            return fail_at(im, at, err);
        }
        if (text_f->vraw) {
            ft_mp_cursor c = {text_f->vraw, text_f->vraw + text_f->vraw_len};
            const char *ts;
            size_t tn;
            if (ft_mp_str(&c, &ts, &tn, err) < 0) {
                ft_err_prefix(err, "field \"%s\"", im->o.text_field);
                return fail_at(im, at, err);
            }
        }
        text_f->used = 1;
        wr.names[wr.n++] = "text";
    }

    /* Instruction schemas: which fields they consume, where they write. */
    if (schema == SCH_ALPACA) {
        static const char *const eat[] = {"instruction", "input", "output", "history"};
        for (i = 0; i < 4; i++)
            if ((f = find(im, eat[i])) != NULL)
                f->used = 1;
        anchor = find(im, "instruction");
        if (!anchor) {
            ft_err_set(err, "no field \"instruction\" for --schema alpaca");
            return fail_at(im, at, err);
        }
        /* With a history, the system prompt moves into the messages. */
        if (alpaca_history(im) > 0) {
            if ((f = find(im, "system")) != NULL)
                f->used = 1;
            wr.names[wr.n++] = "messages";
        } else {
            wr.names[wr.n++] = "prompt";
            wr.names[wr.n++] = "response";
        }
    } else if (schema == SCH_SHAREGPT) {
        anchor = find(im, "conversations");
        if (!anchor || !anchor->vraw) {
            ft_err_set(err, "no field \"conversations\" for --schema sharegpt");
            return fail_at(im, at, err);
        }
        anchor->used = 1;
        if ((f = find(im, "system")) != NULL)
            f->used = 1;
        wr.names[wr.n++] = "messages";
    } else if (schema == SCH_OPENAI) {
        f = find(im, "messages");
        if (!f || !f->vraw) {
            ft_err_set(err, "no field \"messages\" for --schema openai");
            return fail_at(im, at, err);
        }
        if (check_openai(im, err) < 0)
            return fail_at(im, at, err);
    }

    /* Write: id, then the fields in order with the rules' output in place. */
    ft_rec_reset(&im->b);
    ft_rec_key(&im->b, "id");
    if (id.is_int)
        ft_rec_val_int(&im->b, id.i);
    else
        ft_rec_val_str(&im->b, id.s, id.len);
    for (i = 0; i < im->n_fields; i++) {
        f = &im->fields[i];
        if (f == anchor && schema == SCH_ALPACA && put_alpaca(im, err) < 0)
            return fail_at(im, at, err);
        if (f == anchor && schema == SCH_SHAREGPT && put_sharegpt(im, err) < 0)
            return fail_at(im, at, err);
        if (f == label_f && label)
            ft_rec_str(&im->b, "label", label, label_len);
        if (f == text_f) {
            ft_rec_key(&im->b, "text");
            put_value(im, f);
        }
        if (!f->used)
            put_source(im, f, is_written(&wr, f));
    }
    if (im->path_label)
        ft_rec_str(&im->b, "label", label, label_len);

    if (im->b.len > im->cap) {
        ft_err_set(err, "a record of %zu bytes is over the cap of %zu bytes "
                        "(--max-record-bytes)", im->b.len, im->cap);
        return fail_at(im, at, err);
    }
    if (note_id(im, &id, err) < 0)
        return -1;
    if (ft_writer_put(im->w, &im->b, err) < 0)
        return -1;
    im->n_records++;
    if (im->o.progress && im->n_records % PROGRESS_EVERY == 0)
        im->o.progress(im->o.ctx, im->n_records, im->n_bytes + at->offset);
    return 0;
}

static int add_field(ft_import *im, ft_err *err)
{
    if (ft_grow(&im->fields, &im->fields_cap, im->n_fields + 1, sizeof *im->fields, err) <
        0)
        return -1;
    memset(&im->fields[im->n_fields], 0, sizeof *im->fields);
    im->n_fields++;
    return 0;
}

static int add_str_field(ft_import *im, const char *key, const char *s, size_t n,
                         ft_err *err)
{
    if (add_field(im, err) < 0)
        return -1;
    sfield *f = &im->fields[im->n_fields - 1];
    f->key = key;
    f->klen = strlen(key);
    f->s = s;
    f->slen = n;
    return 0;
}

/* --- Reading helpers ------------------------------------------------------- */

/* Make the window at least twice as long as have bytes (or reach the end):
 * geometric growth keeps retried parsing linear. 1 grown, 0 at the end. */
static int grow_window(ft_import *im, size_t have, const origin *at, ft_err *err)
{
    size_t n;
    int rc;

    if (have > im->cap) {
        ft_err_set(err, "a record longer than the cap of %zu bytes (--max-record-bytes)",
                   im->cap);
        return fail_at(im, at, err);
    }
    do {
        rc = ft_input_more(im->in, err);
        if (rc <= 0)
            return rc;
        ft_input_data(im->in, &n);
    } while (n < 2 * have && n < im->cap + 1);
    return 1;
}

static void consume(ft_import *im, size_t n)
{
    ft_input_consume(im->in, n);
}

static uint64_t count_lines(const char *s, size_t n)
{
    uint64_t k = 0;
    const char *end = s + n;
    while ((s = memchr(s, '\n', (size_t)(end - s))) != NULL) {
        k++;
        s++;
    }
    return k;
}

/* Check s[0..n) is UTF-8, or repair it into im->fix. *out points at the
 * text to use. at: the position of s[0], for the message. */
static int check_utf8(ft_import *im, const char *s, size_t n, const char **out,
                      size_t *out_n, const origin *at, ft_err *err)
{
    size_t good = ft_utf8_valid_prefix(s, n), fixed;

    *out = s;
    *out_n = n;
    if (good == n)
        return 0;
    if (!im->o.fix_utf8) {
        origin bad = *at;
        bad.line += count_lines(s, good);
        bad.offset += good;
        ft_err_set(err, "invalid UTF-8 (byte 0x%02X; --fix-utf8 replaces it)",
                   (unsigned char)s[good]);
        return fail_at(im, &bad, err);
    }
    if (ft_utf8_fix(s, n, &im->fix, &im->fix_cap, out_n, &fixed, err) < 0)
        return -1;
    im->n_fixed += fixed;
    *out = im->fix;
    return 0;
}

/* --- JSON ------------------------------------------------------------------ */

/* Skip whitespace, reading on: afterwards the window is empty only at the
 * member's end. */
static int skip_space(ft_import *im, ft_err *err)
{
    for (;;) {
        size_t n;
        const char *s = ft_input_data(im->in, &n);
        size_t k = ft_json_skip_space(s, n, &im->line);
        consume(im, k);
        if (k < n)
            return 0;
        int rc = ft_input_more(im->in, err);
        if (rc <= 0)
            return rc;
    }
}

static const char *mp_kind(uint8_t c)
{
    if ((c & 0xf0) == 0x90 || c == 0xdc || c == 0xdd)
        return "an array";
    if ((c & 0xe0) == 0xa0 || (c >= 0xd9 && c <= 0xdb))
        return "a string";
    if (c == 0xc0)
        return "null";
    if (c == 0xc2 || c == 0xc3)
        return "a boolean";
    return "a number";
}

/* The fields of the object just converted (im->json.buf). */
static int json_fields(ft_import *im, const origin *at, ft_err *err)
{
    ft_mp_cursor c = {im->json.buf, im->json.buf + im->json.len};
    uint32_t n;

    im->n_fields = 0;
    if (ft_mp_map(&c, &n, NULL) < 0) {
        ft_err_set(err, "expected a JSON object, found %s", mp_kind(im->json.buf[0]));
        return fail_at(im, at, err);
    }
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k = c.p;
        const char *key;
        size_t klen;
        if (ft_mp_str(&c, &key, &klen, err) < 0 || add_field(im, err) < 0)
            return -1;
        sfield *f = &im->fields[im->n_fields - 1];
        f->key = key;
        f->klen = klen;
        f->kraw = k;
        f->kraw_len = (size_t)(c.p - k);
        f->vraw = c.p;
        f->vraw_len = ft_mp_object_size(c.p, (size_t)(c.end - c.p));
        c.p += f->vraw_len;
        /* Keys are few: a quadratic check for repeats is cheap. */
        for (uint32_t j = 0; j < i && n <= 256; j++)
            if (im->fields[j].klen == klen && !memcmp(im->fields[j].key, key, klen)) {
                ft_err_set(err, "key \"%.*s\" appears twice", (int)klen, key);
                return fail_at(im, at, err);
            }
    }
    return 0;
}

static int read_json(ft_import *im, int lines, ft_err *err)
{
    int array = -1;     /* -1 not known yet, 0 values back to back, 1 in an array,
                           2 after the array */
    uint64_t elem = 0, values = 0;
    size_t n, used = 0;
    const char *s;

    for (;;) {
        if (skip_space(im, err) < 0)
            return -1;
        s = ft_input_data(im->in, &n);
        origin at = {im->line, im->line, ft_input_offset(im->in), 0};
        if (n == 0)
            break;
        if (array == -1) {
            array = s[0] == '[';
            if (array) {
                consume(im, 1);
                continue;
            }
        }
        if (array == 2) {
            ft_err_set(err, "invalid JSON: data after the top-level array");
            return fail_at(im, &at, err);
        }
        if (array == 1) {
            if (s[0] == ']' && elem == 0) {
                consume(im, 1);
                array = 2;
                continue;
            }
            if (elem > 0) {
                if (s[0] == ']') {
                    consume(im, 1);
                    array = 2;
                    continue;
                }
                if (s[0] != ',') {
                    ft_err_set(err, "invalid JSON: expected ',' or ']' between elements");
                    return fail_at(im, &at, err);
                }
                consume(im, 1);
                if (skip_space(im, err) < 0)
                    return -1;
                s = ft_input_data(im->in, &n);
                at.n = at.line = im->line;
                at.offset = ft_input_offset(im->in);
                if (n == 0 || s[0] == ']') {
                    ft_err_set(err, "invalid JSON: %s after ','",
                               n ? "']'" : "end of input");
                    return fail_at(im, &at, err);
                }
            }
        }

        /* One value, reading on until it is whole. */
        for (;;) {
            int rc = ft_json_convert(&im->json, s, n, ft_input_at_end(im->in), &used, err);
            if (rc == FT_JSON_DONE)
                break;
            if (rc < 0) {
                at.line += count_lines(s, im->json.err_at);
                at.offset += im->json.err_at;
                return fail_at(im, &at, err);
            }
            if (grow_window(im, n, &at, err) < 0)
                return -1;
            s = ft_input_data(im->in, &n);
        }
        im->line += count_lines(s, used);
        im->n_fixed += im->json.n_fixed;
        consume(im, used);
        values++;
        elem++;
        at.n = array == 1 ? elem : at.line;

        /* A member that is one object alone is one document. */
        if (array == 0 && values == 1 && !lines) {
            if (skip_space(im, err) < 0)
                return -1;
            ft_input_data(im->in, &n);
            at.whole = n == 0;
        }
        if (json_fields(im, &at, err) < 0 || emit(im, &at, err) < 0)
            return -1;
    }
    if (array == 1) {
        origin at = {im->line, im->line, ft_input_offset(im->in), 0};
        ft_err_set(err, "invalid JSON: unexpected end of input in the top-level array");
        return fail_at(im, &at, err);
    }
    return 0;
}

/* --- CSV and TSV ----------------------------------------------------------- */

/* The next row into im->row; 1 read, 0 at the member's end. *at is where
 * it starts. Empty lines are skipped. */
static int next_row(ft_import *im, char sep, origin *at, ft_err *err)
{
    for (;;) {
        size_t n, used;
        const char *s = ft_input_data(im->in, &n);
        at->n = at->line = im->line;
        at->offset = ft_input_offset(im->in);
        at->whole = 0;
        if (n == 0) {
            int rc = ft_input_more(im->in, err);
            if (rc < 0)
                return -1;
            if (rc == 0)
                return 0;
            continue;
        }
        int rc = ft_csv_row_parse(&im->row, s, n, ft_input_at_end(im->in), sep, &used,
                                  err);
        if (rc < 0) {
            origin bad = *at;
            bad.line += count_lines(s, im->row.err_at);
            bad.offset += im->row.err_at;
            return fail_at(im, &bad, err);
        }
        if (rc == 0) {
            if (grow_window(im, n, at, err) < 0)
                return -1;
            continue;
        }

        /* Check the row's bytes, then repair the cells if asked to. */
        size_t good = ft_utf8_valid_prefix(s, used);
        if (good < used) {
            const char *o;
            size_t on;
            if (!im->o.fix_utf8)
                return check_utf8(im, s, used, &o, &on, at, err);
            if (check_utf8(im, im->row.buf, im->row.len, &o, &on, at, err) < 0)
                return -1;
            /* Re-cut the repaired bytes at the same cell boundaries. */
            char *copy = ft_malloc(on + 1, err);
            if (!copy)
                return -1;
            size_t pos = 0;
            for (size_t c = 0; c < im->row.n_cells; c++) {
                size_t fixed, len;
                if (ft_utf8_fix(im->row.buf + im->row.cell_off[c], im->row.cell_len[c],
                                &im->fix, &im->fix_cap, &len, &fixed, err) < 0) {
                    free(copy);
                    return -1;
                }
                memcpy(copy + pos, im->fix, len);
                im->row.cell_off[c] = pos;
                im->row.cell_len[c] = len;
                pos += len;
            }
            free(im->row.buf);
            im->row.buf = copy;
            im->row.len = pos;
            im->row.cap = on + 1;
        }
        im->line += im->row.lines;
        consume(im, used);
        if (im->row.n_cells == 1 && im->row.cell_len[0] == 0)
            continue;
        return 1;
    }
}

static int cell_is(const ft_csv_row *row, size_t c, const char *name)
{
    return name && row->cell_len[c] == strlen(name) &&
           !memcmp(row->buf + row->cell_off[c], name, row->cell_len[c]);
}

static int read_table(ft_import *im, char sep, ft_err *err)
{
    origin at;
    int header = im->o.header, rc;
    size_t want, c;
    const char *fmt = sep == ',' ? "CSV" : "TSV";

    free_cols(im);
    rc = next_row(im, sep, &at, err);
    if (rc <= 0)
        return rc;

    /* A header names the columns; detected when a cell is a name ft knows. */
    if (header < 0) {
        header = 0;
        for (c = 0; c < im->row.n_cells; c++)
            if (cell_is(&im->row, c, "text") || cell_is(&im->row, c, "label") ||
                cell_is(&im->row, c, im->o.text_field) ||
                cell_is(&im->row, c, im->o.label_field) ||
                cell_is(&im->row, c, im->o.id_field))
                header = 1;
    }
    if (header) {
        im->cols = ft_calloc(im->row.n_cells, sizeof *im->cols, err);
        if (!im->cols)
            return -1;
        for (c = 0; c < im->row.n_cells; c++) {
            im->cols[c] = strndup(im->row.buf + im->row.cell_off[c], im->row.cell_len[c]);
            if (!im->cols[c])
                return ft_err_set(err, "out of memory");
            im->n_cols++;
            for (size_t d = 0; d < c; d++)
                if (!strcmp(im->cols[d], im->cols[c])) {
                    ft_err_set(err, "%s header: column \"%s\" appears twice", fmt,
                               im->cols[c]);
                    return fail_at(im, &at, err);
                }
        }
        rc = next_row(im, sep, &at, err);
        if (rc <= 0)
            return rc;
    }
    want = header ? im->n_cols : 2;
    for (;;) {
        if (im->row.n_cells != want) {
            ft_err_set(err, "ragged %s row: %zu cells, expected %zu%s", fmt,
                       im->row.n_cells, want, header ? " (as in the header)" : " (label, text)");
            return fail_at(im, &at, err);
        }
        im->n_fields = 0;
        for (c = 0; c < want; c++)
            if (add_str_field(im, header ? im->cols[c] : c ? "text" : "label",
                              im->row.buf + im->row.cell_off[c], im->row.cell_len[c],
                              err) < 0)
                return -1;
        if (emit(im, &at, err) < 0)
            return -1;
        rc = next_row(im, sep, &at, err);
        if (rc <= 0)
            return rc;
    }
}

/* --- Text ------------------------------------------------------------------ */

/* The next line (without its LF or CRLF); 1, or 0 at the end. */
static int next_line(ft_import *im, const char **line, size_t *len, size_t *used,
                     ft_err *err)
{
    for (;;) {
        size_t n;
        const char *s = ft_input_data(im->in, &n);
        const char *nl = memchr(s, '\n', n);
        if (nl || (ft_input_at_end(im->in) && n > 0)) {
            *line = s;
            *len = nl ? (size_t)(nl - s) : n;
            *used = nl ? *len + 1 : n;
            if (*len > 0 && s[*len - 1] == '\r' && nl)
                (*len)--;
            return 1;
        }
        origin at = {im->line, im->line, ft_input_offset(im->in), 0};
        int rc = n == 0 ? ft_input_more(im->in, err) : grow_window(im, n, &at, err);
        if (rc < 0)
            return -1;
        if (rc == 0 && n == 0)
            return 0;
    }
}

static int emit_text(ft_import *im, const char *s, size_t n, const origin *at,
                     ft_err *err)
{
    const char *t;
    size_t tn;
    if (check_utf8(im, s, n, &t, &tn, at, err) < 0)
        return -1;
    im->n_fields = 0;
    if (add_str_field(im, "text", t, tn, err) < 0)
        return -1;
    return emit(im, at, err);
}

/* Paragraphs are separated by lines that are empty or hold only spaces and
 * tabs. */
static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int read_text(ft_import *im, ft_err *err)
{
    const char *s = NULL;
    size_t n = 0, used = 0;
    origin para = {0};
    int rc;

    im->para_len = 0;
    for (;;) {
        origin at = {im->line, im->line, ft_input_offset(im->in), 0};
        rc = next_line(im, &s, &n, &used, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            break;
        if (!im->o.paragraphs) {
            if (n > 0 && emit_text(im, s, n, &at, err) < 0)
                return -1;
        } else if (is_blank(s, n)) {
            if (im->para_len > 0 && emit_text(im, im->para, im->para_len, &para, err) < 0)
                return -1;
            im->para_len = 0;
        } else {
            /* Lines of a paragraph are joined by LF. */
            if (im->para_len == 0)
                para = at;
            size_t need = im->para_len + n + 1;
            if (need > im->cap) {
                ft_err_set(err, "a paragraph longer than the cap of %zu bytes "
                                "(--max-record-bytes)", im->cap);
                return fail_at(im, &para, err);
            }
            if (ft_grow(&im->para, &im->para_cap, need, 1, err) < 0)
                return -1;
            if (im->para_len > 0)
                im->para[im->para_len++] = '\n';
            memcpy(im->para + im->para_len, s, n);
            im->para_len += n;
        }
        im->line++;
        consume(im, used);
    }
    if (im->para_len > 0 && emit_text(im, im->para, im->para_len, &para, err) < 0)
        return -1;
    im->para_len = 0;
    return 0;
}

/* --- Members --------------------------------------------------------------- */

static const char *extension(const char *path, char *buf, size_t size, int strip_z)
{
    static const char *const zext[] = {".gz", ".xz", ".zst", ".bz2", ".lz4", ".z",
                                       ".lzma", ".tgz"};
    size_t n = strlen(path);
    const char *dot;

    if (n >= size)
        return "";
    for (size_t i = 0; i <= n; i++)
        buf[i] = (char)((path[i] >= 'A' && path[i] <= 'Z') ? path[i] + 32 : path[i]);
    for (int pass = 0; pass < 2; pass++) {
        char *slash = strrchr(buf, '/');
        dot = strrchr(slash ? slash : buf, '.');
        if (!dot)
            return "";
        if (!strip_z || pass == 1)
            return dot;
        int is_z = 0;
        for (size_t k = 0; k < sizeof zext / sizeof zext[0]; k++)
            is_z |= !strcmp(dot, zext[k]);
        if (!is_z)
            return dot;
        buf[dot - buf] = '\0';
    }
    return "";
}

/* The member's format: --format, else its name, else its first bytes. */
static int member_format(ft_import *im, ft_err *err)
{
    char buf[4096];
    const char *ext, *s;
    size_t n, i;

    if (im->o.format != FT_IMPORT_AUTO)
        return im->o.format;
    ext = extension(im->member, buf, sizeof buf, !ft_input_is_archive(im->in));
    if (!strcmp(ext, ".jsonl") || !strcmp(ext, ".ndjson") || !strcmp(ext, ".jsonlines"))
        return FT_IMPORT_JSONL;
    if (!strcmp(ext, ".json"))
        return FT_IMPORT_JSON;
    if (!strcmp(ext, ".csv"))
        return FT_IMPORT_CSV;
    if (!strcmp(ext, ".tsv") || !strcmp(ext, ".tab"))
        return FT_IMPORT_TSV;
    if (!strcmp(ext, ".txt") || !strcmp(ext, ".text"))
        return FT_IMPORT_TEXT;

    /* By content: the first 64 KiB decide. */
    for (;;) {
        s = ft_input_data(im->in, &n);
        if (n >= 65536 || ft_input_at_end(im->in))
            break;
        if (ft_input_more(im->in, err) < 0)
            return -1;
    }
    for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n');)
        i++;
    if (i < n && (s[i] == '{' || s[i] == '['))
        return FT_IMPORT_JSON;
    const char *nl = memchr(s, '\n', n);
    if (memchr(s, '\t', nl ? (size_t)(nl - s) : n))
        return FT_IMPORT_TSV;
    return FT_IMPORT_TEXT;
}

/* The --label-from-path value for the current member. */
static int member_label(ft_import *im, ft_err *err)
{
    free(im->path_label);
    im->path_label = NULL;
    if (!im->re)
        return 0;
    int rc = pcre2_match(im->re, (PCRE2_SPTR)im->member, PCRE2_ZERO_TERMINATED, 0, 0,
                         im->md, NULL);
    if (rc < 0)
        return ft_err_set(err, "%s: path \"%s\" does not match --label-from-path",
                          ft_input_name(im->in), im->member);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(im->md);
    int g = rc > 1 && ov[2] != PCRE2_UNSET ? 1 : 0;
    im->path_label_len = ov[2 * g + 1] - ov[2 * g];
    im->path_label = strndup(im->member + ov[2 * g], im->path_label_len);
    if (!im->path_label)
        return ft_err_set(err, "out of memory");
    return 0;
}

static int read_member(ft_import *im, ft_err *err)
{
    size_t n;
    const char *s;
    int fmt;

    im->member = ft_input_member(im->in);
    im->line = 1;
    if (member_label(im, err) < 0)
        return -1;

    /* A UTF-8 byte order mark is not text. */
    while ((s = ft_input_data(im->in, &n), n < 3) && !ft_input_at_end(im->in))
        if (ft_input_more(im->in, err) < 0)
            return -1;
    if (n >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
        consume(im, 3);

    fmt = member_format(im, err);
    switch (fmt) {
    case FT_IMPORT_JSON:
    case FT_IMPORT_JSONL:
        return read_json(im, fmt == FT_IMPORT_JSONL, err);
    case FT_IMPORT_CSV:
        return read_table(im, ',', err);
    case FT_IMPORT_TSV:
        return read_table(im, '\t', err);
    case FT_IMPORT_TEXT:
        return read_text(im, err);
    }
    return -1;
}

int ft_import_path(ft_import *im, const char *path, ft_err *err)
{
    int rc;

    im->in = ft_input_open(path, im->o.globs, im->o.n_globs, err);
    if (!im->in)
        return -1;
    while ((rc = ft_input_next(im->in, err)) == 1) {
        if (read_member(im, err) < 0) {
            rc = -1;
            break;
        }
        /* Count the member's bytes for progress. */
        size_t n;
        ft_input_data(im->in, &n);
        im->n_bytes += ft_input_offset(im->in) + n;
    }
    if (rc == 0 && ft_input_is_archive(im->in) && im->o.n_globs > 0 &&
        ft_input_members(im->in) == 0) {
        if (im->o.n_globs == 1)
            ft_err_set(err, "%s: no member matches --glob '%s'", ft_input_name(im->in),
                       im->o.globs[0]);
        else
            ft_err_set(err, "%s: no member matches any --glob", ft_input_name(im->in));
        rc = -1;
    }
    ft_input_close(im->in);
    im->in = NULL;
    return rc < 0 ? -1 : 0;
}
