/* test-gguf: the GGUF container.
 *
 * Files are built byte by byte here, from the layout in ggml's docs/gguf.md
 * and gguf-py/gguf/constants.py (value types 0-12, tensor types F32 0,
 * F16 1, Q4_0 2 with 32-element blocks of 18 bytes, BF16 30; default
 * alignment 32, every tensor's data padded to it), independently of
 * gguf.c. The reader must see in them what was put there; the writer must
 * produce the same bytes; the independent reader @huggingface/gguf must
 * parse the writer's file and see the same keys, types and tensors; and
 * each kind of damage must give its one-line error, never a crash. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/fsout.h"
#include "model/gguf.h"

/* ------------------------------------------------------ a byte builder */

typedef struct bb {
    uint8_t *p;
    size_t n, cap;
} bb;

static void b_raw(bb *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void b_u8(bb *b, uint8_t v) { b_raw(b, &v, 1); }
static void b_u16(bb *b, uint16_t v) { b_raw(b, &v, 2); }
static void b_u32(bb *b, uint32_t v) { b_raw(b, &v, 4); }
static void b_u64(bb *b, uint64_t v) { b_raw(b, &v, 8); }
static void b_f32(bb *b, float v) { b_raw(b, &v, 4); }
static void b_f64(bb *b, double v) { b_raw(b, &v, 8); }

static void b_str(bb *b, const char *s)
{
    b_u64(b, strlen(s));
    b_raw(b, s, strlen(s));
}

static void b_pad(bb *b, size_t align)
{
    while (b->n % align)
        b_u8(b, 0);
}

/* What to break in the sample file (zero: nothing). */
typedef struct spec {
    const char *magic;
    uint32_t version;       /* 0: 3 */
    uint32_t alignment;     /* 0: no general.alignment key */
    int no_arch;
    uint64_t name_len;      /* general.name's length field, when nonzero */
    uint64_t off[4];        /* tensor data offsets, when any nonzero */
    uint64_t a_ne[2];       /* tensor a's dimensions, when nonzero */
    uint32_t a_type;        /* tensor a's type, when nonzero */
    uint32_t a_dims;        /* tensor a's n_dims, when nonzero */
    int dup_tensor;         /* name tensor b "a" */
    int dup_key;            /* a second general.name */
    uint32_t u8_type;       /* t.u8's value type, when nonzero */
    int truncate;           /* cut the file to this many bytes, when nonzero */
    size_t data_offset;     /* out: where the data section starts */
} spec;

static const float a_vals[6] = {1, 2, 3, 4, 5, 6};
static const uint16_t b_vals[4] = {0x3c00, 0xc000, 0x3800, 0x0000}; /* f16 1, -2, .5, 0 */
static const uint16_t c_vals[4] = {0x3f80, 0xbf80, 0x4000, 0x3e80}; /* bf16 1, -1, 2, .25 */

/* The sample: every value type, arrays of strings and numbers, and four
 * tensors (F32 [3,2], F16 [4], BF16 [2,2], Q4_0 [32]). */
static bb sample(spec *s)
{
    bb b = {0};
    uint32_t align = s->alignment ? s->alignment : 32;
    uint64_t off[4] = {0, 32, 64, 96};
    uint8_t q[18];

    if (align == 64)
        off[1] = 64, off[2] = 128, off[3] = 192;
    if (s->off[0] || s->off[1] || s->off[2] || s->off[3])
        memcpy(off, s->off, sizeof off);

    /* Header. */
    b_raw(&b, s->magic ? s->magic : "GGUF", 4);
    b_u32(&b, s->version ? s->version : 3);
    b_u64(&b, 4);
    b_u64(&b, 16 - !!s->no_arch - !s->alignment + !!s->dup_key);

    /* Metadata, one of each value type. */
    if (!s->no_arch) {
        b_str(&b, "general.architecture"), b_u32(&b, 8), b_str(&b, "llama");
    }
    b_str(&b, "general.name"), b_u32(&b, 8);
    if (s->name_len)
        b_u64(&b, s->name_len), b_raw(&b, "tiny", 4);
    else
        b_str(&b, "tiny");
    if (s->dup_key)
        b_str(&b, "general.name"), b_u32(&b, 8), b_str(&b, "again");
    if (s->alignment)
        b_str(&b, "general.alignment"), b_u32(&b, 4), b_u32(&b, s->alignment);
    b_str(&b, "t.u8"), b_u32(&b, s->u8_type ? s->u8_type : 0), b_u8(&b, 200);
    b_str(&b, "t.i8"), b_u32(&b, 1), b_u8(&b, (uint8_t)-100);
    b_str(&b, "t.u16"), b_u32(&b, 2), b_u16(&b, 60000);
    b_str(&b, "t.i16"), b_u32(&b, 3), b_u16(&b, (uint16_t)-30000);
    b_str(&b, "t.u32"), b_u32(&b, 4), b_u32(&b, 4000000000u);
    b_str(&b, "t.i32"), b_u32(&b, 5), b_u32(&b, (uint32_t)-2000000000);
    b_str(&b, "t.f32"), b_u32(&b, 6), b_f32(&b, 0.5f);
    b_str(&b, "t.bool"), b_u32(&b, 7), b_u8(&b, 1);
    b_str(&b, "t.u64"), b_u32(&b, 10), b_u64(&b, 10000000000000000000ull);
    b_str(&b, "t.i64"), b_u32(&b, 11), b_u64(&b, (uint64_t)-9000000000000000000ll);
    b_str(&b, "t.f64"), b_u32(&b, 12), b_f64(&b, 0.1);
    b_str(&b, "t.strs"), b_u32(&b, 9), b_u32(&b, 8), b_u64(&b, 3);
    b_str(&b, "a"), b_str(&b, ""), b_str(&b, "h\xc3\xa9llo");
    b_str(&b, "t.ints"), b_u32(&b, 9), b_u32(&b, 5), b_u64(&b, 3);
    b_u32(&b, 1), b_u32(&b, (uint32_t)-2), b_u32(&b, 3);

    /* Tensor infos: name, n_dims, ne (fastest first), type, offset. */
    b_str(&b, "a");
    b_u32(&b, s->a_dims ? s->a_dims : 2);
    b_u64(&b, s->a_ne[0] ? s->a_ne[0] : 3);
    b_u64(&b, s->a_ne[1] ? s->a_ne[1] : 2);
    for (uint32_t d = 2; d < s->a_dims; d++)
        b_u64(&b, 1);
    b_u32(&b, s->a_type ? s->a_type : 0), b_u64(&b, off[0]);
    b_str(&b, s->dup_tensor ? "a" : "b"), b_u32(&b, 1), b_u64(&b, 4), b_u32(&b, 1);
    b_u64(&b, off[1]);
    b_str(&b, "c"), b_u32(&b, 2), b_u64(&b, 2), b_u64(&b, 2), b_u32(&b, 30), b_u64(&b, off[2]);
    b_str(&b, "q"), b_u32(&b, 1), b_u64(&b, 32), b_u32(&b, 2), b_u64(&b, off[3]);
    b_pad(&b, align);
    s->data_offset = b.n;

    /* Data, each tensor padded to the alignment. */
    b_raw(&b, a_vals, sizeof a_vals), b_pad(&b, align);
    b_raw(&b, b_vals, sizeof b_vals), b_pad(&b, align);
    b_raw(&b, c_vals, sizeof c_vals), b_pad(&b, align);
    for (int i = 0; i < 18; i++)
        q[i] = (uint8_t)(i * 7);
    b_raw(&b, q, sizeof q), b_pad(&b, align);
    if (s->truncate)
        b.n = (size_t)s->truncate;
    return b;
}

static char tmpdir[256];

static char *tmp_path(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    return p;
}

static void put_file(const char *path, const bb *b)
{
    FILE *f = fopen(path, "wb");
    fwrite(b->p, 1, b->n, f);
    fclose(f);
}

/* Open a damaged sample; its error must contain want. */
static void expect_error(spec s, const char *want, const char *label)
{
    bb b = sample(&s);
    char *path = tmp_path("bad.gguf");
    ft_err err = {0};
    ft_gguf *g;

    put_file(path, &b);
    g = ft_gguf_open(path, &err);
    CHECK_MSG(g == NULL, "%s: opened", label);
    CHECK_MSG(strstr(err.msg, want) != NULL, "%s: \"%s\" lacks \"%s\"", label, err.msg, want);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0, "%s: \"%s\" does not name the file",
              label, err.msg);
    CHECK_MSG(strchr(err.msg, '\n') == NULL, "%s: more than one line", label);
    ft_gguf_close(g);
    free(b.p);
}

/* ------------------------------------------------------------- reading */

static void test_read(uint32_t version, uint32_t alignment)
{
    spec s = {.version = version, .alignment = alignment};
    bb b = sample(&s);
    char *path = tmp_path("sample.gguf");
    ft_err err = {0};
    const ft_gguf_kv *kv;
    const ft_gguf_tensor *t;
    int64_t i64;
    double f;
    const char *str;
    size_t len;
    int bv;

    put_file(path, &b);
    ft_gguf *g = ft_gguf_open(path, &err);
    CHECK_MSG(g != NULL, "%s", err.msg);
    if (!g)
        return;
    CHECK_INT(g->version, version);
    CHECK_INT(g->alignment, alignment ? alignment : 32);
    CHECK_STR(g->arch, "llama");
    CHECK_INT(g->n_kv, alignment ? 16 : 15);
    CHECK_INT(g->data_offset, s.data_offset);

    /* Scalars of every type. */
    CHECK(ft_gguf_get_int(g, "t.u8", &i64, &err) == 1 && i64 == 200);
    CHECK(ft_gguf_get_int(g, "t.i8", &i64, &err) == 1 && i64 == -100);
    CHECK(ft_gguf_get_int(g, "t.u16", &i64, &err) == 1 && i64 == 60000);
    CHECK(ft_gguf_get_int(g, "t.i16", &i64, &err) == 1 && i64 == -30000);
    CHECK(ft_gguf_get_int(g, "t.u32", &i64, &err) == 1 && i64 == 4000000000ll);
    CHECK(ft_gguf_get_int(g, "t.i32", &i64, &err) == 1 && i64 == -2000000000ll);
    CHECK(ft_gguf_get_int(g, "t.i64", &i64, &err) == 1 && i64 == -9000000000000000000ll);
    kv = ft_gguf_find(g, "t.u64");
    CHECK(kv && kv->type == FT_GGUF_U64 && kv->v.u == 10000000000000000000ull);
    CHECK(ft_gguf_get_int(g, "t.u64", &i64, &err) == -1);
    CHECK(strstr(err.msg, "too large") != NULL);
    CHECK(ft_gguf_get_float(g, "t.f32", &f, &err) == 1 && f == 0.5);
    CHECK(ft_gguf_get_float(g, "t.f64", &f, &err) == 1 && f == 0.1);
    CHECK(ft_gguf_get_bool(g, "t.bool", &bv, &err) == 1 && bv == 1);
    CHECK(ft_gguf_get_str(g, "general.name", &str, &len, &err) == 1 && len == 4 &&
          !memcmp(str, "tiny", 4));
    CHECK(ft_gguf_get_int(g, "no.such.key", &i64, &err) == 0);

    /* A wrong type names the key and both types. */
    CHECK(ft_gguf_get_int(g, "general.name", &i64, &err) == -1);
    CHECK(strstr(err.msg, "metadata \"general.name\" is string, not an integer") != NULL);
    CHECK(ft_gguf_get_float(g, "t.u8", &f, &err) == -1);

    /* Arrays. */
    CHECK(ft_gguf_get_arr(g, "t.strs", FT_GGUF_STR, &kv, &err) == 1);
    CHECK_INT(kv->n, 3);
    str = ft_gguf_arr_str(kv, 0, &len);
    CHECK(len == 1 && str[0] == 'a');
    str = ft_gguf_arr_str(kv, 1, &len);
    CHECK(len == 0);
    str = ft_gguf_arr_str(kv, 2, &len);
    CHECK(len == 6 && !memcmp(str, "h\xc3\xa9llo", 6));
    CHECK(ft_gguf_get_arr(g, "t.ints", FT_GGUF_I32, &kv, &err) == 1);
    CHECK(kv->n == 3 && ft_gguf_arr_int(kv, 1) == -2 && ft_gguf_arr_int(kv, 2) == 3);
    CHECK(ft_gguf_get_arr(g, "t.ints", FT_GGUF_F32, &kv, &err) == -1);
    CHECK(strstr(err.msg, "is an array of int32, not an array of float32") != NULL);

    /* Tensors: dims fastest first, data where the builder put it. */
    CHECK_INT(g->n_tensors, 4);
    t = ft_gguf_tensor_find(g, "a");
    CHECK(t && t->type == FT_GGUF_T_F32 && t->n_dims == 2 && t->ne[0] == 3 && t->ne[1] == 2);
    CHECK(t && t->n_elems == 6 && t->n_bytes == 24 && !memcmp(t->data, a_vals, 24));
    t = ft_gguf_tensor_find(g, "b");
    CHECK(t && t->type == FT_GGUF_T_F16 && t->n_dims == 1 && t->ne[0] == 4 && t->ne[1] == 1);
    CHECK(t && t->n_bytes == 8 && !memcmp(t->data, b_vals, 8));
    t = ft_gguf_tensor_find(g, "c");
    CHECK(t && t->type == FT_GGUF_T_BF16 && t->n_bytes == 8 && !memcmp(t->data, c_vals, 8));
    CHECK(t && t->data == g->map + s.data_offset + (alignment == 64 ? 128 : 64));
    t = ft_gguf_tensor_find(g, "q");
    CHECK(t && t->type == 2 && t->n_bytes == 18);
    CHECK_STR(ft_gguf_ttype_name(t ? t->type : 0), "Q4_0");
    CHECK_STR(ft_gguf_ttype_name(30), "BF16");
    CHECK_STR(ft_gguf_ttype_name(4), "type 4");
    CHECK(ft_gguf_tensor_find(g, "zzz") == NULL);
    ft_gguf_close(g);
    free(b.p);
}

/* ------------------------------------------------------------- writing */

/* The sample through the writer, tensor q's bytes from a fill callback. */
static int fill_q(void *ctx, void *dst, size_t n, ft_err *err)
{
    (void)err;
    (void)ctx;
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)dst)[i] = (uint8_t)(i * 7);
    return 0;
}

static int fill_fail(void *ctx, void *dst, size_t n, ft_err *err)
{
    (void)ctx; (void)dst; (void)n;
    return ft_err_set(err, "no bytes today");
}

static ft_gguf_writer *sample_writer(uint32_t alignment, ft_gguf_fill_fn qfill)
{
    ft_err err = {0};
    ft_gguf_writer *w = ft_gguf_writer_new(&err);
    const char *strs[] = {"a", "", "h\xc3\xa9llo"};
    int32_t ints[] = {1, -2, 3};
    int64_t ne_a[] = {3, 2}, ne_b[] = {4}, ne_c[] = {2, 2}, ne_q[] = {32};
    int rc = 0;

    rc |= ft_gguf_set_str(w, "general.architecture", "llama", &err);
    rc |= ft_gguf_set_str(w, "general.name", "first", &err);
    rc |= ft_gguf_set_str(w, "general.name", "tiny", &err); /* replaces, keeps place */
    if (alignment)
        rc |= ft_gguf_set_u32(w, "general.alignment", alignment, &err);
    rc |= ft_gguf_set_uint(w, "t.u8", FT_GGUF_U8, 200, &err);
    rc |= ft_gguf_set_int(w, "t.i8", FT_GGUF_I8, -100, &err);
    rc |= ft_gguf_set_uint(w, "t.u16", FT_GGUF_U16, 60000, &err);
    rc |= ft_gguf_set_int(w, "t.i16", FT_GGUF_I16, -30000, &err);
    rc |= ft_gguf_set_u32(w, "t.u32", 4000000000u, &err);
    rc |= ft_gguf_set_i32(w, "t.i32", -2000000000, &err);
    rc |= ft_gguf_set_f32(w, "t.f32", 0.5f, &err);
    rc |= ft_gguf_set_bool(w, "t.bool", 7, &err);
    rc |= ft_gguf_set_uint(w, "t.u64", FT_GGUF_U64, 10000000000000000000ull, &err);
    rc |= ft_gguf_set_int(w, "t.i64", FT_GGUF_I64, -9000000000000000000ll, &err);
    rc |= ft_gguf_set_f64(w, "t.f64", 0.1, &err);
    rc |= ft_gguf_set_arr_str(w, "t.strs", strs, NULL, 3, &err);
    rc |= ft_gguf_set_arr(w, "t.ints", FT_GGUF_I32, ints, 3, &err);
    rc |= ft_gguf_add_tensor(w, "a", FT_GGUF_T_F32, 2, ne_a, a_vals, &err);
    rc |= ft_gguf_add_tensor(w, "b", FT_GGUF_T_F16, 1, ne_b, b_vals, &err);
    rc |= ft_gguf_add_tensor(w, "c", FT_GGUF_T_BF16, 2, ne_c, c_vals, &err);
    rc |= ft_gguf_add_tensor_fn(w, "q", 2, 1, ne_q, qfill, NULL, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return w;
}

static int read_all(const char *path, bb *out)
{
    char *data;
    size_t n;
    if (ft_read_file(path, 1 << 20, &data, &n, NULL) < 0)
        return -1;
    out->p = (uint8_t *)data;
    out->n = n;
    return 0;
}

static void test_write(uint32_t alignment)
{
    spec s = {.alignment = alignment};
    bb want = sample(&s), got = {0};
    char *path = tmp_path("written.gguf");
    ft_err err = {0};
    ft_gguf_writer *w = sample_writer(alignment, fill_q);

    unlink(path);
    CHECK_MSG(ft_gguf_write(w, path, 0, &err) == 0, "%s", err.msg);
    CHECK(read_all(path, &got) == 0);
    CHECK_MSG(got.n == want.n && !memcmp(got.p, want.p, want.n),
              "writer bytes differ from the hand-built file (%zu vs %zu bytes)", got.n, want.n);

    /* An existing output is refused without force, kept whole. */
    CHECK(ft_gguf_write(w, path, 0, &err) == -1);
    CHECK(strstr(err.msg, "already exists") != NULL);
    CHECK(ft_gguf_write(w, path, 1, &err) == 0);
    ft_gguf_writer_free(w);
    free(want.p);
    free(got.p);
}

/* A fill that fails leaves no output and no temporary behind. */
static void test_write_failure(void)
{
    char *path = tmp_path("failed.gguf");
    ft_err err = {0};
    ft_gguf_writer *w = sample_writer(0, fill_fail);
    struct stat st;
    char cmd[600];

    unlink(path);
    CHECK(ft_gguf_write(w, path, 0, &err) == -1);
    CHECK_MSG(strstr(err.msg, "tensor q: no bytes today") != NULL, "%s", err.msg);
    CHECK(stat(path, &st) != 0);
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -q failed", tmpdir);
    CHECK(system(cmd) != 0);
    ft_gguf_writer_free(w);

    /* Writer-side refusals. */
    w = ft_gguf_writer_new(&err);
    int64_t ne[] = {5}, ne2[] = {31};
    char long_name[80];
    memset(long_name, 'x', 70);
    long_name[70] = 0;
    CHECK(ft_gguf_add_tensor(w, long_name, 0, 1, ne, a_vals, &err) == -1);
    CHECK(ft_gguf_add_tensor(w, "x", 0, 1, ne, a_vals, &err) == 0);
    CHECK(ft_gguf_add_tensor(w, "x", 0, 1, ne, a_vals, &err) == -1);
    CHECK(strstr(err.msg, "added twice") != NULL);
    CHECK(ft_gguf_add_tensor(w, "y", 2, 1, ne2, a_vals, &err) == -1);
    CHECK(ft_gguf_set_uint(w, "k", FT_GGUF_U8, 256, &err) == -1);
    CHECK(ft_gguf_set_int(w, "k", FT_GGUF_I16, -40000, &err) == -1);
    ft_gguf_writer_free(w);
}

/* ------------------------------------------- the independent reader */

/* @huggingface/gguf's view of the writer's file, compared with what the
 * layout says it must see. */
static void test_node_oracle(void)
{
    const char *root = getenv("FT_ROOT");
    char cmd[1024], line[4096];
    char *path = tmp_path("node.gguf");
    ft_err err = {0};
    ft_gguf_writer *w;
    spec s = {0};
    bb b = sample(&s);
    FILE *p;
    int n_lines = 0, found[32] = {0};
    char data_line[64];
    const char *want[] = {
        "version 3",
        "kv general.architecture string \"llama\"",
        "kv general.name string \"tiny\"",
        "kv t.u8 uint8 200",
        "kv t.i8 int8 -100",
        "kv t.u16 uint16 60000",
        "kv t.i16 int16 -30000",
        "kv t.u32 uint32 4000000000",
        "kv t.i32 int32 -2000000000",
        "kv t.f32 float32 0.5",
        "kv t.bool bool true",
        "kv t.u64 uint64 10000000000000000000",
        "kv t.i64 int64 -9000000000000000000",
        "kv t.f64 float64 0.1",
        "kv t.strs array<string> 3 [\"a\",\"\",\"h\xc3\xa9llo\"]",
        "kv t.ints array<int32> 3 [1,-2,3]",
        "tensor a F32 3,2 0",
        "tensor b F16 4 32",
        "tensor c BF16 2,2 64",
        "tensor q Q4_0 32 96",
        data_line,
    };
    int n_want = (int)(sizeof want / sizeof want[0]);

    snprintf(data_line, sizeof data_line, "data_offset %zu", s.data_offset);
    if (!root)
        root = ".";
    snprintf(cmd, sizeof cmd, "%s/tests/node/node_modules/@huggingface/gguf/package.json",
             root);
    if (access(cmd, R_OK) != 0 || system("node --version >/dev/null 2>&1") != 0) {
        printf("skipping the @huggingface/gguf comparison: no node or tests/node/node_modules\n");
        free(b.p);
        return;
    }
    w = sample_writer(0, fill_q);
    unlink(path);
    CHECK_MSG(ft_gguf_write(w, path, 0, &err) == 0, "%s", err.msg);
    ft_gguf_writer_free(w);

    snprintf(cmd, sizeof cmd, "node %s/tests/node/gguf-dump.mjs %s", root, path);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        int hit = 0;
        for (int i = 0; i < n_want; i++)
            if (!strcmp(line, want[i]))
                found[i]++, hit = 1;
        CHECK_MSG(hit, "@huggingface/gguf saw an unexpected line: %s", line);
        n_lines++;
    }
    CHECK(p && pclose(p) == 0);
    CHECK_INT(n_lines, n_want);
    for (int i = 0; i < n_want; i++)
        CHECK_MSG(found[i] == 1, "@huggingface/gguf did not report: %s", want[i]);
    free(b.p);
}

/* ----------------------------------------------------------- bad input */

static void test_bad_input(void)
{
    char *path;
    ft_err err = {0};
    FILE *f;

    expect_error((spec){.magic = "GGML"}, "not a GGUF file", "magic");
    expect_error((spec){.version = 1}, "GGUF version 1 is not supported", "version 1");
    expect_error((spec){.version = 4}, "GGUF version 4 is not supported", "version 4");
    expect_error((spec){.version = 0x03000000}, "big-endian", "big-endian");
    expect_error((spec){.name_len = 1ull << 40}, "string length 1099511627776", "strlen");
    expect_error((spec){.name_len = 1ull << 40}, "runs past the end of the file", "strlen");
    expect_error((spec){.off = {0, 32, 64, 4096}}, "tensor \"q\": its data (offset 4096, 18 "
                 "bytes) runs past the end", "offset past end");
    expect_error((spec){.off = {0, 32, 64, 100}}, "tensor \"q\": data offset 100 is not a "
                 "multiple of the alignment 32", "misaligned");
    expect_error((spec){.a_ne = {1ull << 32, 1ull << 32}, .a_dims = 4},
                 "tensor \"a\": the product of its dimensions overflows", "overflow");
    expect_error((spec){.a_ne = {1ull << 63, 1}}, "past 2^63", "huge dim");
    expect_error((spec){.a_ne = {3, 4}}, "tensors \"a\" and \"b\" overlap", "overlap");
    expect_error((spec){.no_arch = 1}, "no general.architecture key", "no arch");
    expect_error((spec){.dup_key = 1}, "metadata \"general.name\" appears twice", "dup key");
    expect_error((spec){.dup_tensor = 1}, "tensor \"a\" appears twice", "dup tensor");
    expect_error((spec){.u8_type = 13}, "unknown value type 13", "value type");
    expect_error((spec){.a_type = 4}, "unknown tensor type 4", "tensor type");
    expect_error((spec){.a_dims = 5}, "has 5 dimensions", "n_dims");
    expect_error((spec){.alignment = 48}, "general.alignment must be a power of two",
                 "alignment");
    expect_error((spec){.truncate = 300}, "runs past the end of the file", "truncated");
    expect_error((spec){.truncate = 100}, "15 metadata entries cannot fit", "counts");
    expect_error((spec){.truncate = 6}, "the version at offset 4 runs past the end",
                 "truncated header");

    path = tmp_path("empty.gguf");
    f = fopen(path, "wb");
    fclose(f);
    CHECK(ft_gguf_open(path, &err) == NULL);
    CHECK(strstr(err.msg, "empty") != NULL);
    CHECK(ft_gguf_open(tmp_path("missing.gguf"), &err) == NULL);
    CHECK(strstr(err.msg, "No such file") != NULL);
    CHECK(ft_gguf_is_gguf(tmp_path("empty.gguf")) == 1); /* by its name */
    CHECK(ft_gguf_is_gguf(tmpdir) == 0);
    f = fopen(tmp_path("model.bin"), "wb");
    fputs("GGUF", f);
    fclose(f);
    CHECK(ft_gguf_is_gguf(tmp_path("model.bin")) == 1); /* by its magic */
    f = fopen(tmp_path("model.bin"), "wb");
    fputs("GGML", f);
    fclose(f);
    CHECK(ft_gguf_is_gguf(tmp_path("model.bin")) == 0);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "%s/ft-test-gguf-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_read(3, 0);
    test_read(2, 0);
    test_read(3, 64);
    test_write(0);
    test_write(64);
    test_write_failure();
    test_node_oracle();
    test_bad_input();
    ft_rmtree(tmpdir);
    return check_done();
}
