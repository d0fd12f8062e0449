/* prog: shared program glue (see prog.h). */
#include "prog.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/parse.h"
#include "core/threads.h"

#ifndef FT_SHARE_DIR
#define FT_SHARE_DIR "/usr/local/share/ft"
#endif

struct ft_prog ft_prog = {.name = "ft", .progress = 0};

/* A program's output is only complete when stdout was flushed and closed
 * without error; a closed pipe downstream is not an error. */
static void check_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout) || fclose(stdout) != 0) {
        if (errno == EPIPE)
            _exit(0);
        fprintf(stderr, "%s: standard output: %s\n", ft_prog.name, strerror(errno));
        _exit(1);
    }
}

void ft_prog_init(const char *name)
{
    ft_prog.name = name;
    signal(SIGPIPE, SIG_IGN);
    atexit(check_stdout);
}

static void vmsg(const char *tag, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", ft_prog.name, tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ft_prog_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    exit(2);
}

void ft_prog_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
    exit(1);
}

void ft_prog_die(const ft_err *err)
{
    if (err->kind == FT_ERR_PIPE)
        _exit(0);
    fprintf(stderr, "%s: %s\n", ft_prog.name, err->msg);
    exit(err->kind == FT_ERR_USAGE ? 2 : 1);
}

void ft_prog_warn(const char *fmt, ...)
{
    va_list ap;
    if (ft_prog.quiet)
        return;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

void ft_prog_info(const char *fmt, ...)
{
    va_list ap;
    if (!ft_prog.verbose)
        return;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

long ft_prog_long(const char *opt, const char *arg, long min, long max)
{
    ft_err err;
    long v;
    if (ft_parse_long(arg, min, max, &v, &err) < 0)
        ft_prog_usage_error("%s: %s", opt, err.msg);
    return v;
}

double ft_prog_double(const char *opt, const char *arg, double min, double max)
{
    ft_err err;
    double v;
    if (ft_parse_double(arg, min, max, &v, &err) < 0)
        ft_prog_usage_error("%s: %s", opt, err.msg);
    return v;
}

int ft_prog_common(int opt, const char *arg, void (*usage)(int status))
{
    ft_err err;

    switch (opt) {
    case 'j':
        ft_prog.threads = (int)ft_prog_long("--threads", arg, 1, 1024);
        return 1;
    case 'q':
        ft_prog.quiet = 1;
        ft_prog.progress = -1;
        return 1;
    case 'v':
        ft_prog.verbose++;
        return 1;
    case FT_OPT_SEED:
        if (ft_parse_u64(arg, &ft_prog.seed, &err) < 0)
            ft_prog_usage_error("--seed: %s", err.msg);
        return 1;
    case FT_OPT_PROGRESS:
        if (!ft_prog.quiet)
            ft_prog.progress = 1;
        return 1;
    case 'f':
        ft_prog.force = 1;
        return 1;
    case 'h':
        usage(0);
        exit(0);
    case '?':
        /* getopt has already printed one line. */
        exit(2);
    }
    return 0;
}

void ft_prog_start(void)
{
    ft_threads_set(ft_prog.threads);
}

const char *ft_prog_share_dir(void)
{
    static char dir[PATH_MAX];
    struct stat st;
    const char *env = getenv("FT_SHARE");
    char exe[PATH_MAX];
    ssize_t n;

    if (env && *env)
        return env;
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            /* An installation's PREFIX/bin/ft-x first (PREFIX/share exists
             * there too, so it cannot be told by share/ alone); then bin/ft-x
             * or build-san/bin/ft-x of a source tree, known by its Makefile. */
            static const char *const tries[][2] = {{"/../share/ft", NULL},
                                                   {"/../share", "/../Makefile"},
                                                   {"/../../share", "/../../Makefile"}};
            for (size_t i = 0; i < sizeof tries / sizeof *tries; i++) {
                char mark[PATH_MAX];
                snprintf(dir, sizeof dir, "%s%s", exe, tries[i][0]);
                if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
                    continue;
                snprintf(mark, sizeof mark, "%s%s", exe, tries[i][1] ? tries[i][1] : "");
                if (!tries[i][1] || stat(mark, &st) == 0)
                    return dir;
            }
        }
    }
    return FT_SHARE_DIR;
}
