/* recout: record outputs for programs (see recout.h). */
#include "recout.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ft_recout_open(ft_recout *o, const char *path, int force, ft_err *err)
{
    struct stat st;

    memset(o, 0, sizeof *o);
    o->fd = 1;
    if (path && strcmp(path, "-") && stat(path, &st) == 0 && !S_ISREG(st.st_mode) &&
        !S_ISDIR(st.st_mode)) {
        /* A device or a pipe (/dev/null, a process substitution): written
         * directly, there is nothing to rename. */
        o->fd = open(path, O_WRONLY | O_CLOEXEC);
        if (o->fd < 0)
            return ft_err_errno(err, path);
        o->is_dev = 1;
    } else if (path && strcmp(path, "-")) {
        if (ft_out_begin(&o->out, path, 0, force, err) < 0)
            return -1;
        o->fd = open(o->out.tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (o->fd < 0) {
            ft_err_errno(err, o->out.tmp);
            ft_out_abort(&o->out);
            return -1;
        }
        o->is_file = 1;
    }
    o->w = ft_writer_open(o->fd, o->is_file || o->is_dev ? path : "-", force, err);
    if (!o->w) {
        if (o->is_dev)
            close(o->fd);
        if (o->is_file) {
            close(o->fd);
            ft_out_abort(&o->out);
        }
        return -1;
    }
    return 0;
}

int ft_recout_commit(ft_recout *o, ft_err *err)
{
    int rc = ft_writer_close(o->w, err);
    o->w = NULL;
    if (o->is_dev && close(o->fd) < 0 && rc == 0)
        rc = ft_err_errno(err, "output");
    if (!o->is_file)
        return rc;
    if (close(o->fd) < 0 && rc == 0)
        rc = ft_err_errno(err, o->out.path);
    if (rc == 0)
        rc = ft_out_commit(&o->out, err);
    if (rc < 0)
        ft_out_abort(&o->out);
    return rc;
}

void ft_recout_abort(ft_recout *o)
{
    ft_err ignored;
    if (o->w)
        ft_writer_close(o->w, &ignored);
    o->w = NULL;
    if (o->is_dev)
        close(o->fd);
    if (o->is_file) {
        close(o->fd);
        ft_out_abort(&o->out);
    }
}
