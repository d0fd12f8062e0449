/* fsout: atomic outputs and whole-file helpers (see fsout.h). */
#define _GNU_SOURCE
#include "core/fsout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ft_path_join(const char *dir, const char *name, ft_err *err)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = ft_malloc(a + b + 2, err);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

/* ".NAME.SUFFIX-PID" beside path. */
static char *sibling(const char *path, const char *suffix, ft_err *err)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *slash = memrchr(path, '/', n);
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    char *p = ft_malloc(n + strlen(suffix) + 32, err);
    if (!p)
        return NULL;
    sprintf(p, "%.*s.%.*s.%s-%ld", (int)dir_len, path, (int)(n - dir_len), path + dir_len,
            suffix, (long)getpid());
    return p;
}

int ft_out_begin(ft_out *o, const char *path, int is_dir, int force, ft_err *err)
{
    struct stat st;

    memset(o, 0, sizeof *o);
    if (!force && stat(path, &st) == 0)
        return ft_err_set(err, "%s: already exists (use --force to replace it)", path);
    o->is_dir = is_dir;
    o->path = ft_strdup(path, err);
    o->tmp = sibling(path, "tmp", err);
    if (!o->path || !o->tmp)
        return -1;
    if (is_dir && mkdir(o->tmp, 0777) < 0) {
        ft_err_errno(err, o->tmp);
        ft_out_abort(o);
        return -1;
    }
    return 0;
}

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ft_out_commit(ft_out *o, ft_err *err)
{
    struct stat st;

    if (o->is_dir) {
        DIR *d = opendir(o->tmp);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *f = ft_path_join(o->tmp, e->d_name, NULL);
            if (f)
                sync_path(f);
            free(f);
        }
        if (d)
            closedir(d);
    }
    sync_path(o->tmp);

    /* A directory cannot be renamed over a non-empty one: move the old one
     * aside first, then remove it once the new one is in place. */
    if (o->is_dir && stat(o->path, &st) == 0) {
        char *old = sibling(o->path, "old", err);
        if (!old)
            return -1;
        if (rename(o->path, old) < 0) {
            free(old);
            return ft_err_errno(err, o->path);
        }
        if (rename(o->tmp, o->path) < 0) {
            ft_err_errno(err, o->path);
            rename(old, o->path);
            free(old);
            return -1;
        }
        ft_rmtree(old);
        free(old);
    } else if (rename(o->tmp, o->path) < 0) {
        return ft_err_errno(err, o->path);
    }
    free(o->tmp);
    o->tmp = NULL;
    free(o->path);
    o->path = NULL;
    return 0;
}

void ft_out_abort(ft_out *o)
{
    if (o->tmp) {
        if (o->is_dir)
            ft_rmtree(o->tmp);
        else
            unlink(o->tmp);
    }
    free(o->tmp);
    free(o->path);
    o->tmp = o->path = NULL;
}

int ft_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *f = ft_path_join(path, e->d_name, NULL);
        if (f)
            ft_rmtree(f);
        free(f);
    }
    if (d)
        closedir(d);
    return rmdir(path);
}

int ft_read_file(const char *path, size_t max_bytes, char **data, size_t *n_bytes,
                 ft_err *err)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (fd < 0)
        return ft_err_errno(err, path);
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        close(fd);
        return ft_err_set(err, "%s: is a directory", path);
    }
    for (;;) {
        if (len + 1 >= cap) {
            size_t ncap = cap ? cap * 2 : (st.st_size > 0 ? (size_t)st.st_size + 2 : 4096);
            char *nb = ft_realloc(buf, ncap, err);
            if (!nb)
                goto fail;
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            ft_err_errno(err, path);
            goto fail;
        }
        if (r == 0)
            break;
        len += r;
        if (len > max_bytes) {
            ft_err_set(err, "%s: larger than %zu bytes", path, max_bytes);
            goto fail;
        }
    }
    close(fd);
    buf[len] = '\0';
    *data = buf;
    *n_bytes = len;
    return 0;
fail:
    close(fd);
    free(buf);
    return -1;
}

int ft_write_file(const char *path, const void *data, size_t n_bytes, ft_err *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    const char *p = data;

    if (fd < 0)
        return ft_err_errno(err, path);
    while (n_bytes > 0) {
        ssize_t w = write(fd, p, n_bytes);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            ft_err_errno(err, path);
            close(fd);
            return -1;
        }
        p += w;
        n_bytes -= w;
    }
    if (close(fd) < 0)
        return ft_err_errno(err, path);
    return 0;
}
