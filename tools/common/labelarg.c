/* labelarg: parse a comma list of class names (see labelarg.h). */
#include "labelarg.h"

#include <stdlib.h>
#include <string.h>

#include "prog.h"

char **ft_labelarg_parse(const char *opt, const char *spec, int *n)
{
    size_t cap = 2;
    const char *p = spec;
    char **names;
    int k = 0;

    for (const char *c = spec; *c; c++)
        cap += *c == ',';
    if (!(names = calloc(cap, sizeof *names)))
        ft_prog_fail("out of memory");
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0)
            ft_prog_usage_error("%s: an empty class name in \"%s\"", opt, spec);
        if (!(names[k] = strndup(p, len)))
            ft_prog_fail("out of memory");
        for (int j = 0; j < k; j++)
            if (!strcmp(names[j], names[k]))
                ft_prog_usage_error("%s: class \"%s\" given twice", opt, names[k]);
        k++;
        if (!p[len])
            break;
        p += len + 1;
    }
    *n = k;
    return names;
}

void ft_labelarg_free(char **names)
{
    if (!names)
        return;
    for (char **p = names; *p; p++)
        free(*p);
    free(names);
}
