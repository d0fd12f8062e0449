/* threads: one pool for ft's loops and OpenBLAS (see threads.h). */
#include "core/threads.h"

#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

void openblas_set_num_threads(int n);

static int threads_n = 1;

void ft_threads_set(int n)
{
    if (n <= 0) {
        const char *env = getenv("FT_THREADS");
        n = env ? atoi(env) : 0;
    }
    if (n <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    threads_n = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int ft_threads_get(void)
{
    return threads_n;
}
