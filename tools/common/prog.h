/* prog: what every ft program shares, and only programs (never lib/):
 * the program name in messages, the shared options, exit statuses, a
 * checked standard output, and where installed data files live.
 *
 * Shared options, parsed by ft_prog_common():
 *   -j, --threads N   threads for everything (FT_THREADS otherwise)
 *   -q, --quiet       no progress, no warnings
 *   -v, --verbose     more detail on stderr
 *       --seed S      seed for every random choice
 *       --progress    draw progress even when stderr is not a terminal
 *   -f, --force       replace outputs, write binary to a terminal
 *   -h, --help        usage on stdout, exit 0
 * A program's short-option string starts with FT_PROG_SHORT and its long
 * option table ends with FT_PROG_LONG. */
#ifndef FT_PROG_H
#define FT_PROG_H

#include <getopt.h>
#include <stdint.h>

#include "core/err.h"

enum { FT_OPT_SEED = 1000, FT_OPT_PROGRESS, FT_OPT_FIRST_PRIVATE = 1100 };

#define FT_PROG_SHORT "j:qvfh"
#define FT_PROG_LONG                                                                     \
    {"threads", required_argument, 0, 'j'}, {"quiet", no_argument, 0, 'q'},              \
        {"verbose", no_argument, 0, 'v'}, {"seed", required_argument, 0, FT_OPT_SEED},   \
        {"progress", no_argument, 0, FT_OPT_PROGRESS}, {"force", no_argument, 0, 'f'},   \
        {"help", no_argument, 0, 'h'}, { 0, 0, 0, 0 }

/* The help text of the shared options, for a program's usage(). */
#define FT_PROG_HELP                                                                     \
    "  -j, --threads N     threads (default: FT_THREADS, else every core)\n"            \
    "  -q, --quiet         no progress line, no warnings\n"                               \
    "  -v, --verbose       more detail on stderr\n"                                       \
    "      --seed S        seed for every random choice (default 0)\n"                    \
    "      --progress      progress line even when stderr is not a terminal\n"            \
    "  -f, --force         replace existing outputs; write binary to a terminal\n"       \
    "  -h, --help          this help\n"

struct ft_prog {
    const char *name;    /* "ft-import" */
    int threads;         /* 0: default */
    int quiet;
    int verbose;
    int progress;        /* -1 never, 0 on a terminal, 1 always */
    int force;
    uint64_t seed;
};

extern struct ft_prog ft_prog;

/* Set the program name, ignore SIGPIPE (writes then fail with EPIPE and the
 * program exits 0 quietly), and register the stdout check at exit. */
void ft_prog_init(const char *name);

/* Handle a shared option: 1 if it was one, 0 if not. -h calls usage(0),
 * which must print help on stdout and exit 0. Bad values are usage errors. */
int ft_prog_common(int opt, const char *arg, void (*usage)(int status));

/* Apply the thread count; call once after option parsing. */
void ft_prog_start(void);

/* Print "ft-NAME: message" and exit 2 (usage error). */
void ft_prog_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Print "ft-NAME: message" and exit 1. */
void ft_prog_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Print an error from the library and exit by its kind: 1 runtime, 2 usage,
 * 0 quietly for a closed downstream pipe. */
void ft_prog_die(const ft_err *err) __attribute__((noreturn));

/* "ft-NAME: warning: message" unless -q. */
void ft_prog_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "ft-NAME: message" when -v. */
void ft_prog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a number option or exit 2 naming the option. */
long ft_prog_long(const char *opt, const char *arg, long min, long max);
double ft_prog_double(const char *opt, const char *arg, double min, double max);

/* The folder of ft's installed data files (stop words, rules): $FT_SHARE,
 * else share/ft beside the program's bin/ (an installation), else share/ of
 * the source tree the program was built in, else PREFIX/share/ft. */
const char *ft_prog_share_dir(void);

#endif
