/* threads: the one thread setting of a program. ft runs its own loops on
 * OpenMP and links the OpenMP build of OpenBLAS, so both share one pool;
 * ft_threads_set sets the count for both. */
#ifndef FT_CORE_THREADS_H
#define FT_CORE_THREADS_H

/* n <= 0 means: FT_THREADS from the environment, else every core. */
void ft_threads_set(int n);
int ft_threads_get(void);

#endif
