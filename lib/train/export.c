/* export: trained models to directories and archives (see export.h). */
#define _GNU_SOURCE
#include "train/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsout.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && !strcmp(s + a - b, suffix);
}

int ft_export_is_archive(const char *path)
{
    static const char *const ext[] = {".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.zst",
                                      ".zip"};
    for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
        if (ends_with(path, ext[i]))
            return 1;
    return 0;
}

int ft_export_add_metadata(const char *path, const char *const *meta, ft_err *err)
{
    ft_safetensors *st = ft_safetensors_open(path, err);
    ft_st_entry *e = NULL;
    const char **kv = NULL;
    char *tmp = NULL;
    int n_new = 0, rc = -1;

    if (!st)
        return -1;
    while (meta && meta[2 * n_new])
        n_new++;

    /* The tensors as they are (raw bytes), old metadata then the new. */
    e = ft_calloc((size_t)st->n_tensors + 1, sizeof *e, err);
    kv = ft_calloc((size_t)(st->n_meta + n_new) * 2 + 1, sizeof *kv, err);
    if (!e || !kv || asprintf(&tmp, "%s.tmp-%ld", path, (long)getpid()) < 0) {
        tmp = NULL;
        if (e && kv)
            ft_err_set(err, "out of memory");
        goto done;
    }
    for (int i = 0; i < st->n_tensors; i++) {
        const ft_st_tensor *t = &st->tensors[i];
        e[i].name = t->name;
        e[i].dtype = t->dtype;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        e[i].raw = t->data;
    }
    int k = 0;
    for (int i = 0; i < st->n_meta; i++) {
        int replaced = 0;
        for (int j = 0; j < n_new; j++)
            replaced |= !strcmp(st->meta[2 * i], meta[2 * j]);
        if (!replaced) {
            kv[k++] = st->meta[2 * i];
            kv[k++] = st->meta[2 * i + 1];
        }
    }
    for (int j = 0; j < 2 * n_new; j++)
        kv[k++] = meta[j];
    kv[k] = NULL;
    if (ft_safetensors_write(tmp, e, st->n_tensors, kv, err) == 0) {
        if (rename(tmp, path) < 0)
            ft_err_errno(err, path);
        else
            rc = 0;
    }
done:
    if (rc < 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(kv);
    free(e);
    ft_safetensors_close(st);
    return rc;
}

static int archive_fail(struct archive *a, const char *path, ft_err *err)
{
    return ft_err_set(err, "%s: %s", path, archive_error_string(a) ? archive_error_string(a)
                                                                   : "archive error");
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The regular files of dir, sorted (so an archive's order is fixed). */
static char **list_files(const char *dir, size_t *n, ft_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t cap = 0;

    *n = 0;
    if (!d) {
        ft_err_errno(err, dir);
        return NULL;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (ft_grow(&names, &cap, *n + 1, sizeof *names, err) < 0 ||
            !(names[*n] = ft_strdup(e->d_name, err))) {
            closedir(d);
            for (size_t i = 0; i < *n; i++)
                free(names[i]);
            free(names);
            return NULL;
        }
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(names, *n, sizeof *names, cmp_name);
    else if (!names)
        names = ft_calloc(1, sizeof *names, err);
    return names;
}

static int pack_one(struct archive *a, const char *dir, const char *name, const char *out,
                    ft_err *err)
{
    char *path = ft_path_join(dir, name, err);
    char buf[1 << 16];
    struct stat st;
    int fd = -1, rc = -1;
    struct archive_entry *e = NULL;

    if (!path)
        return -1;
    if ((fd = open(path, O_RDONLY)) < 0 || fstat(fd, &st) < 0) {
        ft_err_errno(err, path);
        goto done;
    }
    e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, st.st_size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_mtime(e, st.st_mtime, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK) {
        archive_fail(a, out, err);
        goto done;
    }
    for (;;) {
        ssize_t k = read(fd, buf, sizeof buf);
        if (k < 0) {
            ft_err_errno(err, path);
            goto done;
        }
        if (k == 0)
            break;
        if (archive_write_data(a, buf, (size_t)k) != k) {
            archive_fail(a, out, err);
            goto done;
        }
    }
    rc = 0;
done:
    if (e)
        archive_entry_free(e);
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

int ft_export_pack(const char *dir, const char *path, const char *kind, ft_err *err)
{
    struct archive *a = archive_write_new();
    size_t n;
    char **names;
    int rc = -1;

    if (!a)
        return ft_err_set(err, "out of memory");
    if (ends_with(kind, ".zip")) {
        archive_write_set_format_zip(a);
    } else {
        archive_write_set_format_pax_restricted(a);
        if (ends_with(kind, ".gz") || ends_with(kind, ".tgz"))
            archive_write_add_filter_gzip(a);
        else if (ends_with(kind, ".xz"))
            archive_write_add_filter_xz(a);
        else if (ends_with(kind, ".zst"))
            archive_write_add_filter_zstd(a);
    }
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
        archive_fail(a, path, err);
        archive_write_free(a);
        return -1;
    }
    if ((names = list_files(dir, &n, err))) {
        rc = 0;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = pack_one(a, dir, names[i], path, err);
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
    }
    if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
        rc = archive_fail(a, path, err);
    archive_write_free(a);
    return rc;
}

/* Copy a file into dir under name. */
static int copy_file(const char *src, const char *dir, const char *name, ft_err *err)
{
    char *data, *dst;
    size_t n;
    int rc;

    if (ft_read_file(src, (size_t)1 << 30, &data, &n, err) < 0)
        return -1;
    if (!(dst = ft_path_join(dir, name, err))) {
        free(data);
        return -1;
    }
    rc = ft_write_file(dst, data, n, err);
    free(dst);
    free(data);
    return rc;
}

/* The model's files into the (existing, empty) directory dir. */
static int write_dir(const ft_model *m, const char *dir, int dtype, const char *copy_from,
                     const char *tokenizer_json, const ft_tokenizer *tok,
                     const char *const *meta, ft_err *err)
{
    size_t n;
    char **names;
    int rc = 0;

    if (ft_checkpoint_save(m, dir, dtype, 1, copy_from, err) < 0)
        return -1;
    if (tokenizer_json && copy_file(tokenizer_json, dir, "tokenizer.json", err) < 0)
        return -1;
    if (!tokenizer_json && tok) {
        char *p = ft_path_join(dir, "tokenizer.json", err);
        rc = p ? ft_tokenizer_save(tok, p, 1, err) : -1;
        free(p);
        if (rc < 0)
            return -1;
    }
    if (!meta || !(names = list_files(dir, &n, err)))
        return meta ? -1 : 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && strlen(names[i]) > 12 &&
            !strcmp(names[i] + strlen(names[i]) - 12, ".safetensors")) {
            char *p = ft_path_join(dir, names[i], err);
            rc = p ? ft_export_add_metadata(p, meta, err) : -1;
            free(p);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int ft_export_model(const ft_model *m, const char *path, int dtype, int force,
                    const char *copy_from, const char *tokenizer_json,
                    const ft_tokenizer *tok, const char *const *meta, ft_err *err)
{
    ft_out out;
    int archive = ft_export_is_archive(path);

    if (ft_out_begin(&out, path, !archive, force, err) < 0)
        return -1;
    if (!archive) {
        if (write_dir(m, out.tmp, dtype, copy_from, tokenizer_json, tok, meta, err) < 0 ||
            ft_out_commit(&out, err) < 0) {
            ft_out_abort(&out);
            return -1;
        }
        return 0;
    }

    /* An archive: the directory in a scratch sibling, then packed. */
    char *scratch = NULL;
    int rc = -1;
    if (asprintf(&scratch, "%s.dir", out.tmp) < 0) {
        ft_out_abort(&out);
        return ft_err_set(err, "out of memory");
    }
    if (mkdir(scratch, 0777) < 0)
        ft_err_errno(err, scratch);
    else if (write_dir(m, scratch, dtype, copy_from, tokenizer_json, tok, meta, err) == 0 &&
             ft_export_pack(scratch, out.tmp, path, err) == 0 && ft_out_commit(&out, err) == 0)
        rc = 0;
    ft_rmtree(scratch);
    free(scratch);
    if (rc < 0)
        ft_out_abort(&out);
    return rc;
}
