/* progress: the one-line progress display on standard error.
 *
 * Drawn only when enabled (stderr is a terminal, or --progress), redrawn at
 * most four times a second, plain ASCII; on a terminal the line is redrawn
 * in place with \r, otherwise each redraw is its own line. */
#ifndef FT_CORE_PROGRESS_H
#define FT_CORE_PROGRESS_H

#include <stdint.h>

typedef struct ft_progress {
    int enabled;
    int tty;
    double start_s;   /* monotonic time at init */
    double last_s;    /* time of the last redraw */
    int drawn;        /* a line is on screen and needs a newline at the end */
} ft_progress;

/* mode: -1 never (-q), 0 only on a terminal, 1 always (--progress). */
void ft_progress_init(ft_progress *p, int mode);
/* Seconds since init. */
double ft_progress_elapsed(const ft_progress *p);
/* Redraw with a printf-style line, unless the last redraw was under 0.25 s
 * ago (force = 1 redraws anyway). */
void ft_progress_draw(ft_progress *p, int force, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* End the line so later messages start on their own line. */
void ft_progress_end(ft_progress *p);
/* Monotonic clock in seconds. */
double ft_now_s(void);

#endif
