/* input: files, archives and compressed streams through libarchive (see
 * input.h). */
#define _GNU_SOURCE
#include "data/input.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_BLOCK_BYTES ((size_t)256 << 10)

/* The raw bytes under libarchive. gzip is inflated here with zlib rather
 * than by libarchive's gzip filter, which does not check the CRC-32 and
 * length in a member's trailer: a damaged member must be an error. */
typedef struct source {
    int fd;
    int gzip;                   /* 1 when the input starts with a gzip member */
    int z_ready, z_end, eof;
    z_stream z;
    unsigned char *in, *out;    /* READ_BLOCK_BYTES each */
    size_t in_len;              /* first block, not yet handed over */
    char error[160];            /* a gzip fault, reported at the stream's end */
} source;

struct ft_input {
    struct archive *ar;
    source src;
    int fd, own_fd;
    char *path;        /* as given */
    char *name;        /* for messages */
    char *member;      /* current member path */
    char *where;       /* "name: member" */
    const char *const *globs;
    size_t n_globs;
    int is_archive;
    int started;       /* the first header has been read */
    int in_member;
    int member_end;
    uint64_t n_members;

    char *buf;         /* window: buf[start..end) unconsumed */
    size_t start, end, cap;
    uint64_t offset;   /* member offset of buf[start] */
};

static int set_str(char **dst, const char *s, ft_err *err)
{
    char *p = ft_strdup(s, err);
    if (!p)
        return -1;
    free(*dst);
    *dst = p;
    return 0;
}

static ssize_t read_raw(source *s)
{
    for (;;) {
        ssize_t n = read(s->fd, s->in, READ_BLOCK_BYTES);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

/* libarchive's read callback: the file's bytes, inflated when gzip. */
static la_ssize_t source_read(struct archive *a, void *data, const void **buf)
{
    source *s = data;
    ssize_t n;

    if (!s->gzip) {
        n = read_raw(s);
        if (n < 0) {
            archive_set_error(a, errno, "%s", strerror(errno));
            return -1;
        }
        *buf = s->in;
        return n;
    }
    /* A fault ends the stream here and is reported where the reader meets
     * the end (ft_input_more), so that everything inflated before it is
     * still read, and a cut-off last line is not taken for a whole one. */
    if (s->error[0])
        return 0;
    for (;;) {
        if (s->z.avail_in == 0 && !s->eof) {
            n = read_raw(s);
            if (n < 0) {
                archive_set_error(a, errno, "%s", strerror(errno));
                return -1;
            }
            s->eof = n == 0;
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)n;
        }
        if (s->z_end) {
            /* Another member may follow (gzip files may be concatenated);
             * anything else after a member is ignored, as gzip does. */
            if (s->z.avail_in == 0 && s->eof)
                return 0;
            if (s->z.avail_in == 0)
                continue;
            if (s->z.next_in[0] != 0x1f)
                return 0;
            inflateReset(&s->z);
            s->z_end = 0;
        }
        if (s->z.avail_in == 0 && s->eof) {
            snprintf(s->error, sizeof s->error, "truncated gzip input");
            return 0;
        }
        s->z.next_out = s->out;
        s->z.avail_out = READ_BLOCK_BYTES;
        int rc = inflate(&s->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            s->z_end = 1;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            snprintf(s->error, sizeof s->error, "damaged gzip data (%s)",
                     s->z.msg ? s->z.msg : "inflate failed");
        size_t got = READ_BLOCK_BYTES - s->z.avail_out;
        if (got > 0) {
            *buf = s->out;
            return (la_ssize_t)got;
        }
        if (s->error[0])
            return 0;
    }
}

/* Look at the first bytes: a gzip member is inflated here. */
static int source_init(source *s, int fd, const char *name, ft_err *err)
{
    ssize_t n;

    s->fd = fd;
    s->in = ft_malloc(READ_BLOCK_BYTES, err);
    s->out = ft_malloc(READ_BLOCK_BYTES, err);
    if (!s->in || !s->out)
        return -1;
    n = read_raw(s);
    if (n < 0)
        return ft_err_errno(err, name);
    s->eof = n == 0;
    s->in_len = (size_t)n;
    s->gzip = n >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip) {
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return ft_err_set(err, "%s: cannot start gzip decompression", name);
        s->z_ready = 1;
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)n;
    }
    return 0;
}

/* The first block was read by source_init: hand it over once. */
static la_ssize_t first_read(struct archive *a, void *data, const void **buf)
{
    source *s = data;
    if (!s->gzip && s->in_len > 0) {
        size_t n = s->in_len;
        s->in_len = 0;
        *buf = s->in;
        return (la_ssize_t)n;
    }
    if (!s->gzip && s->eof)
        return 0;
    return source_read(a, data, buf);
}

ft_input *ft_input_open(const char *path, const char *const *globs, size_t n_globs,
                        ft_err *err)
{
    ft_input *in = ft_calloc(1, sizeof *in, err);
    struct stat st;

    if (!in)
        return NULL;
    in->fd = -1;
    in->globs = globs;
    in->n_globs = n_globs;
    if (set_str(&in->path, path, err) < 0 ||
        set_str(&in->name, strcmp(path, "-") ? path : "standard input", err) < 0)
        goto fail;

    /* Open the file ourselves so that the error is the plain errno one. */
    if (strcmp(path, "-") == 0) {
        in->fd = 0;
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            ft_err_errno(err, path);
            goto fail;
        }
        in->own_fd = 1;
    }
    if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        ft_err_set(err, "%s: is a directory", in->name);
        goto fail;
    }

    /* Archives and single compressed streams, recognised by content. The
     * filters that run external programs (lrzip, lzop, grzip) are left out. */
    in->ar = archive_read_new();
    if (!in->ar) {
        ft_err_set(err, "%s: out of memory", in->name);
        goto fail;
    }
    archive_read_support_filter_gzip(in->ar);
    archive_read_support_filter_bzip2(in->ar);
    archive_read_support_filter_xz(in->ar);
    archive_read_support_filter_lzma(in->ar);
    archive_read_support_filter_zstd(in->ar);
    archive_read_support_filter_lz4(in->ar);
    archive_read_support_filter_compress(in->ar);
    archive_read_support_format_tar(in->ar);
    archive_read_support_format_zip(in->ar);
    archive_read_support_format_empty(in->ar);
    archive_read_support_format_raw(in->ar);
    if (source_init(&in->src, in->fd, in->name, err) < 0)
        goto fail;
    if (archive_read_open(in->ar, &in->src, NULL, first_read, NULL) != ARCHIVE_OK) {
        ft_err_set(err, "%s: %s", in->name, archive_error_string(in->ar));
        goto fail;
    }
    return in;

fail:
    ft_input_close(in);
    return NULL;
}

static int member_wanted(const ft_input *in, struct archive_entry *e)
{
    const char *p = archive_entry_pathname(e);
    size_t i;

    if (archive_entry_filetype(e) != AE_IFREG || !p)
        return 0;
    if (in->n_globs == 0)
        return 1;
    for (i = 0; i < in->n_globs; i++)
        if (fnmatch(in->globs[i], p, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

static int archive_fail(ft_input *in, ft_err *err)
{
    const char *msg = in->src.error[0] ? in->src.error : archive_error_string(in->ar);
    if (in->in_member)
        return ft_err_set(err, "%s: byte %llu: %s", ft_input_where(in),
                          (unsigned long long)(in->offset + (in->end - in->start)),
                          msg ? msg : "read error");
    return ft_err_set(err, "%s: %s", in->name, msg ? msg : "read error");
}

int ft_input_next(ft_input *in, ft_err *err)
{
    struct archive_entry *e;

    for (;;) {
        int rc = archive_read_next_header(in->ar, &e);
        if (rc == ARCHIVE_EOF && in->src.error[0]) {
            in->in_member = 0;
            return archive_fail(in, err);
        }
        if (rc == ARCHIVE_EOF) {
            in->in_member = 0;
            return 0;
        }
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
            in->in_member = 0;
            return archive_fail(in, err);
        }
        if (!in->started) {
            int fmt = archive_format(in->ar) & ARCHIVE_FORMAT_BASE_MASK;
            in->is_archive = fmt != ARCHIVE_FORMAT_RAW && fmt != ARCHIVE_FORMAT_EMPTY;
            in->started = 1;
        }
        if (in->is_archive && !member_wanted(in, e))
            continue;
        if (in->is_archive) {
            if (set_str(&in->member, archive_entry_pathname(e), err) < 0)
                return -1;
        } else if (set_str(&in->member, strcmp(in->path, "-") ? in->path : "stdin",
                           err) < 0) {
            return -1;
        }
        free(in->where);
        in->where = NULL;
        in->n_members++;
        in->in_member = 1;
        in->member_end = 0;
        in->start = in->end = 0;
        in->offset = 0;
        return 1;
    }
}

const char *ft_input_name(const ft_input *in)
{
    return in->name;
}

const char *ft_input_member(const ft_input *in)
{
    return in->member ? in->member : in->path;
}

int ft_input_is_archive(const ft_input *in)
{
    return in->is_archive;
}

uint64_t ft_input_members(const ft_input *in)
{
    return in->n_members;
}

const char *ft_input_where(ft_input *in)
{
    if (!in->is_archive || !in->member)
        return in->name;
    if (!in->where) {
        size_t n = strlen(in->name) + strlen(in->member) + 3;
        in->where = malloc(n);
        if (!in->where)
            return in->name;
        snprintf(in->where, n, "%s: %s", in->name, in->member);
    }
    return in->where;
}

const char *ft_input_data(const ft_input *in, size_t *n)
{
    *n = in->end - in->start;
    return in->buf + in->start;
}

uint64_t ft_input_offset(const ft_input *in)
{
    return in->offset;
}

int ft_input_at_end(const ft_input *in)
{
    return in->member_end;
}

void ft_input_consume(ft_input *in, size_t n)
{
    in->start += n;
    in->offset += n;
    if (in->start == in->end)
        in->start = in->end = 0;
}

/* Room for n more bytes at the end of the window: slide the unconsumed
 * bytes to the front, or grow. */
static int make_room(ft_input *in, size_t n, ft_err *err)
{
    size_t used = in->end - in->start;

    if (in->cap - in->end >= n)
        return 0;
    if (in->start > 0 && in->cap - used >= n && in->start >= used) {
        memmove(in->buf, in->buf + in->start, used);
        in->start = 0;
        in->end = used;
        return 0;
    }
    if (in->start > 0) {
        memmove(in->buf, in->buf + in->start, used);
        in->start = 0;
        in->end = used;
    }
    return ft_grow(&in->buf, &in->cap, used + n, 1, err);
}

int ft_input_more(ft_input *in, ft_err *err)
{
    const void *block;
    size_t len;
    la_int64_t at;

    if (!in->in_member || in->member_end)
        return 0;
    for (;;) {
        int rc = archive_read_data_block(in->ar, &block, &len, &at);
        if (rc == ARCHIVE_EOF && in->src.error[0])
            return archive_fail(in, err);
        if (rc == ARCHIVE_EOF) {
            in->member_end = 1;
            return 0;
        }
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
            return archive_fail(in, err);
        if (len == 0)
            continue;
        if (make_room(in, len, err) < 0)
            return -1;
        memcpy(in->buf + in->end, block, len);
        in->end += len;
        return 1;
    }
}

void ft_input_close(ft_input *in)
{
    if (!in)
        return;
    if (in->ar)
        archive_read_free(in->ar);
    if (in->own_fd && in->fd >= 0)
        close(in->fd);
    if (in->src.z_ready)
        inflateEnd(&in->src.z);
    free(in->src.in);
    free(in->src.out);
    free(in->path);
    free(in->name);
    free(in->member);
    free(in->where);
    free(in->buf);
    free(in);
}
