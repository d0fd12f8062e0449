/* recout: where a program's records go: standard output (refused on a
 * terminal unless -f), or a file written under a temporary name and renamed
 * into place only when the program succeeds (refused when it exists,
 * unless -f). Devices and pipes given by name (/dev/null) are written
 * directly. */
#ifndef FT_RECOUT_H
#define FT_RECOUT_H

#include "core/err.h"
#include "core/fsout.h"
#include "data/records.h"

typedef struct ft_recout {
    ft_writer *w;        /* write records here */
    ft_out out;          /* the file, when not standard output */
    int fd;
    int is_file;         /* a regular file, renamed into place */
    int is_dev;          /* a device or pipe, written directly */
} ft_recout;

/* path NULL or "-": standard output. */
int ft_recout_open(ft_recout *o, const char *path, int force, ft_err *err);
/* Flush, close and, for a file, rename it into place. */
int ft_recout_commit(ft_recout *o, ft_err *err);
/* After a failure: flush what was written to standard output (complete
 * records stay written), or remove a file's temporary. */
void ft_recout_abort(ft_recout *o);

#endif
