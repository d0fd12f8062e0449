/* labelarg: the --labels option of ft-label and ft-eval, "neg,pos": a comma
 * list of distinct, non-empty class names in the order given. */
#ifndef FT_LABELARG_H
#define FT_LABELARG_H

/* The names (a malloc'd NULL-terminated array of malloc'd strings) and
 * their count, or exit 2 naming the problem. */
char **ft_labelarg_parse(const char *opt, const char *spec, int *n);
void ft_labelarg_free(char **names);

#endif
