/* input: the bytes ft-import reads, from files, standard input, archives
 * (.tar, .zip) and compressed files (.gz, .xz, .zst, .bz2, .lz4, .Z),
 * through libarchive. Compression and archive format are recognised by
 * content, never by name: a plain file is read as it is.
 *
 * An input is a sequence of members: an archive's regular files (those
 * matching one of the globs, when globs are given; fnmatch with
 * FNM_PATHNAME, so '*' stops at '/'), or the one stream of a plain or
 * compressed file. Each member is read through a window that parsers grow
 * and consume, so a record may span any number of reads.
 *
 * Not here: what the bytes mean (lib/data/import.c chooses a parser). */
#ifndef FT_DATA_INPUT_H
#define FT_DATA_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_input ft_input;

/* Open path ("-" is standard input). globs (n_globs of them, may be 0)
 * select archive members; they do not apply to plain or compressed files. */
ft_input *ft_input_open(const char *path, const char *const *globs, size_t n_globs,
                        ft_err *err);
/* Move to the next member: 1 when there is one, 0 at the end, -1 on error
 * (a damaged archive or compressed stream). */
int ft_input_next(ft_input *in, ft_err *err);
/* The input's name for messages ("standard input" for "-"). */
const char *ft_input_name(const ft_input *in);
/* The current member: its path inside an archive, else the input's path as
 * given ("stdin" for standard input). */
const char *ft_input_member(const ft_input *in);
/* 1 when the input is an archive (tar, zip), 0 for a single stream. */
int ft_input_is_archive(const ft_input *in);
/* Members seen so far that matched the globs. */
uint64_t ft_input_members(const ft_input *in);

/* The current member's window: unconsumed bytes data[0..*n), starting at
 * byte ft_input_offset() of the member. The window stays valid until the
 * next ft_input_more, ft_input_consume or ft_input_next. */
const char *ft_input_data(const ft_input *in, size_t *n);
uint64_t ft_input_offset(const ft_input *in);
/* Append more of the member to the window: 1 when bytes were added, 0 at
 * the member's end (nothing added), -1 on a read or decompression error
 * (message "NAME: MEMBER: byte N: what"). */
int ft_input_more(ft_input *in, ft_err *err);
/* 1 once the member's end has been reached (the window holds the rest). */
int ft_input_at_end(const ft_input *in);
/* Drop n bytes from the front of the window. */
void ft_input_consume(ft_input *in, size_t n);

void ft_input_close(ft_input *in);

/* Where an error happened, for messages: "NAME" for a plain file,
 * "NAME: MEMBER" inside an archive. Returns a string owned by in. */
const char *ft_input_where(ft_input *in);

#endif
