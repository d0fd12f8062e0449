/* fsout: outputs that appear whole or not at all.
 *
 * An output file or directory is written under a temporary sibling name
 * (".NAME.tmp-PID") and renamed into place by ft_out_commit, so a killed run
 * never leaves a half-written model. An existing output is refused unless
 * force is set; a directory that exists is replaced by swapping names. Also
 * small whole-file helpers. */
#ifndef FT_CORE_FSOUT_H
#define FT_CORE_FSOUT_H

#include <stddef.h>

#include "core/err.h"

typedef struct ft_out {
    char *path;  /* the final name */
    char *tmp;   /* where to write now */
    int is_dir;
} ft_out;

/* Prepare to write path (a file, or a directory when is_dir: the temporary
 * directory is created). Fails if path exists and !force. */
int ft_out_begin(ft_out *o, const char *path, int is_dir, int force, ft_err *err);
/* fsync and rename the temporary into place. */
int ft_out_commit(ft_out *o, ft_err *err);
/* Remove the temporary (after a failure); safe to call twice. */
void ft_out_abort(ft_out *o);
/* Join a directory and a name into a new string. */
char *ft_path_join(const char *dir, const char *name, ft_err *err);

/* Read a whole file (at most max_bytes) into a NUL-terminated buffer. */
int ft_read_file(const char *path, size_t max_bytes, char **data, size_t *n_bytes,
                 ft_err *err);
/* Write n_bytes to path (plain, not atomic: use inside an ft_out temp). */
int ft_write_file(const char *path, const void *data, size_t n_bytes, ft_err *err);
/* Remove a directory tree (used for temporaries and replaced outputs). */
int ft_rmtree(const char *path);

#endif
