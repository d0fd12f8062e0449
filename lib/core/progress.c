/* progress: rate-limited status line on stderr (see progress.h). */
#include "core/progress.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

double ft_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void ft_progress_init(ft_progress *p, int mode)
{
    p->tty = isatty(STDERR_FILENO);
    p->enabled = mode > 0 || (mode == 0 && p->tty);
    p->start_s = ft_now_s();
    p->last_s = 0;
    p->drawn = 0;
}

double ft_progress_elapsed(const ft_progress *p)
{
    return ft_now_s() - p->start_s;
}

void ft_progress_draw(ft_progress *p, int force, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    double now;

    if (!p->enabled)
        return;
    now = ft_now_s();
    if (!force && now - p->last_s < 0.25)
        return;
    p->last_s = now;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (p->tty) {
        fprintf(stderr, "\r%s\033[K", line);
        p->drawn = 1;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

void ft_progress_end(ft_progress *p)
{
    if (p->enabled && p->drawn) {
        fputc('\n', stderr);
        fflush(stderr);
    }
    p->drawn = 0;
}
