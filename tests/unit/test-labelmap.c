/* labelmap: --label-map parsing, both directions, and the maps that have
 * no way back (refused as usage errors). */
#include <string.h>

#include "check.h"
#include "data/labelmap.h"

int main(void)
{
    ft_err err;
    size_t n;
    const char *s;
    ft_labelmap *m = ft_labelmap_parse("0=negative,1=positive,=none", &err);

    CHECK(m != NULL);
    s = ft_labelmap_get(m, "1", 1, &n);
    CHECK(s && n == 8 && !memcmp(s, "positive", 8));
    s = ft_labelmap_get(m, "", 0, &n);
    CHECK(s && n == 4 && !memcmp(s, "none", 4));
    CHECK(ft_labelmap_get(m, "10", 2, &n) == NULL);
    CHECK(ft_labelmap_get(m, "positive", 8, &n) == NULL);
    s = ft_labelmap_inverse(m, "negative", 8, &n);
    CHECK(s && n == 1 && s[0] == '0');
    CHECK(ft_labelmap_inverse(m, "negativ", 7, &n) == NULL);
    ft_labelmap_free(m);

    CHECK(ft_labelmap_parse("0=a,0=b", &err) == NULL);
    CHECK_STR(err.msg, "--label-map: \"0\" is mapped twice");
    CHECK_INT(err.kind, FT_ERR_USAGE);
    CHECK(ft_labelmap_parse("0=a,1=a", &err) == NULL);
    CHECK_STR(err.msg, "--label-map: two values map to \"a\" (no way back)");
    CHECK(ft_labelmap_parse("0=a,1", &err) == NULL);
    CHECK_STR(err.msg, "--label-map: \"1\" is not VALUE=NAME");
    CHECK(ft_labelmap_parse("0=a=b", &err) == NULL);
    return check_done();
}
