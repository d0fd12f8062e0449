/* csv: one row of CSV (RFC 4180) or TSV at a time, from a byte window.
 *
 * CSV: cells separated by ',', rows by LF or CRLF; a cell that starts with
 * '"' is quoted: it may hold separators, line breaks and "" (one quote),
 * and must be followed by a separator or the row's end. A quote inside an
 * unquoted cell is kept as it is (lenient, like most readers). TSV: cells
 * separated by TAB, no quoting at all (the IANA text/tab-separated-values
 * form). In both, a CR right before the LF belongs to the line break;
 * nothing else is trimmed.
 *
 * Not here: headers and what the columns mean (lib/data/import.c). */
#ifndef FT_DATA_CSV_H
#define FT_DATA_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_csv_row {
    char *buf;              /* the cells' bytes, back to back (unquoted) */
    size_t len, cap;
    size_t *cell_off;       /* cell i is buf[cell_off[i] .. + cell_len[i]] */
    size_t *cell_len;
    size_t n_cells, cells_cap;
    uint64_t lines;         /* line feeds the row spans, its own included */
    size_t err_at;          /* after an error: byte index in the window */
} ft_csv_row;

/* Parse the row at s[0..n): sep is ',' (quoted CSV) or '\t' (TSV).
 * Returns 1 with *consumed (row and line break), 0 when the window ends
 * inside the row and !at_end, -1 with a message and row->err_at. At the
 * end of input a final row without a line break is complete. */
int ft_csv_row_parse(ft_csv_row *row, const char *s, size_t n, int at_end, char sep,
                     size_t *consumed, ft_err *err);
void ft_csv_row_free(ft_csv_row *row);

#endif
