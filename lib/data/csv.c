/* csv: CSV and TSV rows (see csv.h). */
#include "data/csv.h"

#include <stdlib.h>
#include <string.h>

static int add_cell(ft_csv_row *row, size_t off, ft_err *err)
{
    if (row->n_cells == row->cells_cap) {
        size_t cap = row->cells_cap;
        if (ft_grow(&row->cell_off, &cap, row->n_cells + 1, sizeof(size_t), err) < 0)
            return -1;
        cap = row->cells_cap;
        if (ft_grow(&row->cell_len, &cap, row->n_cells + 1, sizeof(size_t), err) < 0)
            return -1;
        row->cells_cap = cap;
    }
    row->cell_off[row->n_cells] = off;
    row->cell_len[row->n_cells] = row->len - off;
    row->n_cells++;
    return 0;
}

static int put(ft_csv_row *row, const char *p, size_t n, ft_err *err)
{
    if (ft_grow(&row->buf, &row->cap, row->len + n + 1, 1, err) < 0)
        return -1;
    memcpy(row->buf + row->len, p, n);
    row->len += n;
    return 0;
}

/* TSV: find the line, then cut it at tabs. */
static int tsv_row(ft_csv_row *row, const char *s, size_t n, int at_end,
                   size_t *consumed, ft_err *err)
{
    const char *nl = memchr(s, '\n', n);
    size_t line_len, used;

    if (!nl && !at_end)
        return 0;
    used = nl ? (size_t)(nl - s) + 1 : n;
    line_len = nl ? (size_t)(nl - s) : n;
    if (nl && line_len > 0 && s[line_len - 1] == '\r')
        line_len--;
    row->lines = nl ? 1 : 0;
    for (size_t i = 0;;) {
        const char *tab = memchr(s + i, '\t', line_len - i);
        size_t end = tab ? (size_t)(tab - s) : line_len, off = row->len;
        if (put(row, s + i, end - i, err) < 0 || add_cell(row, off, err) < 0)
            return -1;
        if (!tab)
            break;
        i = end + 1;
    }
    *consumed = used;
    return 1;
}

/* The end of a row at s[i]: LF, CRLF or the end of input. 1 when it is
 * one (*next past it), 0 when not, -1 when the window might continue. */
static int row_end(const char *s, size_t n, size_t i, int at_end, size_t *next)
{
    if (i >= n) {
        if (!at_end)
            return -1;
        *next = n;
        return 1;
    }
    if (s[i] == '\n') {
        *next = i + 1;
        return 1;
    }
    if (s[i] == '\r') {
        if (i + 1 >= n && !at_end)
            return -1;
        if (i + 1 < n && s[i + 1] == '\n') {
            *next = i + 2;
            return 1;
        }
    }
    return 0;
}

static int csv_row(ft_csv_row *row, const char *s, size_t n, int at_end, size_t *consumed,
                   ft_err *err)
{
    size_t i = 0, next;
    int e;

    for (;;) {
        size_t off = row->len;
        if (i < n && s[i] == '"') {
            size_t open = i++;
            for (;;) {
                const char *q = memchr(s + i, '"', n - i);
                if (!q) {
                    if (!at_end)
                        return 0;
                    row->err_at = open;
                    return ft_err_set(err, "unterminated quoted field");
                }
                size_t k = (size_t)(q - s);
                for (const char *c = s + i; c < q; c++)
                    row->lines += *c == '\n';
                if (put(row, s + i, k - i, err) < 0)
                    return -1;
                if (k + 1 >= n && !at_end)
                    return 0;
                if (k + 1 < n && s[k + 1] == '"') {
                    if (put(row, "\"", 1, err) < 0)
                        return -1;
                    i = k + 2;
                    continue;
                }
                i = k + 1;
                break;
            }
            if (add_cell(row, off, err) < 0)
                return -1;
            e = row_end(s, n, i, at_end, &next);
            if (e < 0)
                return 0;
            if (e == 0 && s[i] != ',') {
                row->err_at = i;
                return ft_err_set(err, "unexpected '%c' after a closing quote",
                                  s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?');
            }
        } else {
            size_t k = i;
            for (;;) {
                while (k < n && s[k] != ',' && s[k] != '\n' && s[k] != '\r')
                    k++;
                e = row_end(s, n, k, at_end, &next);
                if (e < 0)
                    return 0;
                if (e == 1 || s[k] == ',')
                    break;
                k++;    /* a CR inside the cell */
            }
            if (put(row, s + i, k - i, err) < 0 || add_cell(row, off, err) < 0)
                return -1;
            i = k;
        }
        if (e == 1) {
            row->lines += next > i && s[next - 1] == '\n';
            *consumed = next;
            return 1;
        }
        i++;    /* past the comma */
    }
}

int ft_csv_row_parse(ft_csv_row *row, const char *s, size_t n, int at_end, char sep,
                     size_t *consumed, ft_err *err)
{
    row->len = 0;
    row->n_cells = 0;
    row->lines = 0;
    if (sep == '\t')
        return tsv_row(row, s, n, at_end, consumed, err);
    return csv_row(row, s, n, at_end, consumed, err);
}

void ft_csv_row_free(ft_csv_row *row)
{
    free(row->buf);
    free(row->cell_off);
    free(row->cell_len);
    memset(row, 0, sizeof *row);
}
