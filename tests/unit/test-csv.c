/* csv: rows of CSV (RFC 4180) and TSV, cut by hand; every proper prefix of
 * an unfinished row asks for more input; errors point at the fault. */
#include <string.h>

#include "check.h"
#include "data/csv.h"

static ft_csv_row row;

/* Parse s whole (at the end of input); 1 when the cells are want[]. */
static int cells_are(const char *s, char sep, size_t want_used, const char *const *want,
                     size_t n_want)
{
    size_t used;
    ft_err err;
    if (ft_csv_row_parse(&row, s, strlen(s), 1, sep, &used, &err) != 1)
        return 0;
    if (used != want_used || row.n_cells != n_want)
        return 0;
    for (size_t i = 0; i < n_want; i++)
        if (row.cell_len[i] != strlen(want[i]) ||
            memcmp(row.buf + row.cell_off[i], want[i], row.cell_len[i]))
            return 0;
    return 1;
}

int main(void)
{
    size_t used;
    ft_err err;

    CHECK(cells_are("a,b\nnext", ',', 4, (const char *[]){"a", "b"}, 2));
    CHECK(cells_are("a,b\r\n", ',', 5, (const char *[]){"a", "b"}, 2));
    CHECK(cells_are("\"a,\"\"b\"\"\nc\",d\n", ',', 14,
                    (const char *[]){"a,\"b\"\nc", "d"}, 2));
    CHECK_INT(row.lines, 2);
    CHECK(cells_are(",,\n", ',', 3, (const char *[]){"", "", ""}, 3));
    CHECK(cells_are("x\"y,z\n", ',', 6, (const char *[]){"x\"y", "z"}, 2));
    CHECK(cells_are("a\rb,c", ',', 5, (const char *[]){"a\rb", "c"}, 2));
    CHECK(cells_are(" a ,\" b \"\n", ',', 10, (const char *[]){" a ", " b "}, 2));
    CHECK(cells_are("1\tthe text \n", '\t', 12, (const char *[]){"1", "the text "}, 2));
    CHECK(cells_are("\"q\"\t\"r\r\n", '\t', 8, (const char *[]){"\"q\"", "\"r"}, 2));
    CHECK(cells_are("last", '\t', 4, (const char *[]){"last"}, 1));

    /* Unfinished rows want more input, however they are cut. */
    const char *full = "\"a\"\"b\",c\r\n";
    for (size_t k = 0; k + 1 < strlen(full); k++)
        CHECK_MSG(ft_csv_row_parse(&row, full, k, 0, ',', &used, &err) == 0,
                  "prefix %zu", k);
    CHECK_INT(ft_csv_row_parse(&row, "a\tb", 3, 0, '\t', &used, &err), 0);

    /* Faults. */
    CHECK_INT(ft_csv_row_parse(&row, "ok,\"open\n", 9, 1, ',', &used, &err), -1);
    CHECK_INT(row.err_at, 3);
    CHECK_STR(err.msg, "unterminated quoted field");
    CHECK_INT(ft_csv_row_parse(&row, "\"a\"b,c\n", 7, 1, ',', &used, &err), -1);
    CHECK_INT(row.err_at, 3);
    CHECK_STR(err.msg, "unexpected 'b' after a closing quote");
    ft_csv_row_free(&row);
    return check_done();
}
