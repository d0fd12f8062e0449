/* augrec: rewrites of a record as records (see augrec.h). */
#include "text/augrec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int key_is(const ft_field *f, const char *key)
{
    size_t n = strlen(key);
    return f->key_str && f->key_len == n && !memcmp(f->key_str, key, n);
}

/* The id as text ("r7", or "7" for the integer 7) in a malloc'd buffer with
 * room for "#k" after it. */
static char *id_text(const ft_field *id, size_t *len, ft_err *err)
{
    const char *s;
    char num[24];
    int64_t v;
    uint8_t c = id->val[0];

    if ((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb)) {
        if (ft_field_str(id, &s, len, err) < 0)
            return NULL;
    } else if (c <= 0x7f || c >= 0xe0 || (c >= 0xcc && c <= 0xd3)) {
        if (ft_field_int(id, &v, err) < 0)
            return NULL;
        *len = (size_t)snprintf(num, sizeof num, "%" PRId64, v);
        s = num;
    } else {
        ft_err_set(err, "\"id\" is neither a string nor an integer");
        return NULL;
    }
    char *buf = ft_malloc(*len + 16, err);
    if (buf) {
        memcpy(buf, s, *len);
        buf[*len] = '\0';
    }
    return buf;
}

/* Write "#k" at p; its length. */
static size_t suffix(char *p, uint32_t k)
{
    char digits[10];
    size_t n = 0, len = 1;
    do
        digits[n++] = (char)('0' + k % 10);
    while ((k /= 10) > 0);
    p[0] = '#';
    while (n > 0)
        p[len++] = digits[--n];
    return len;
}

static void put_seed(ft_rec_builder *b, uint64_t seed)
{
    uint8_t raw[9] = {0xcf};

    /* msgpack uint64 for seeds past int64's range. */
    if (seed <= INT64_MAX) {
        ft_rec_int(b, "aug_seed", (int64_t)seed);
        return;
    }
    for (int i = 0; i < 8; i++)
        raw[1 + i] = (uint8_t)(seed >> (56 - 8 * i));
    ft_rec_raw(b, "aug_seed", raw, sizeof raw);
}

int ft_augrec_build(ft_aug_work *w, const ft_record *rec, const char *field,
                    uint32_t num_aug, uint64_t seed, ft_rec_builder *out,
                    uint32_t *n_unchanged, ft_err *err)
{
    const ft_field *id = ft_record_get(rec, "id"), *f_text;
    const char *text, *res, *aug;
    size_t text_len, id_len, res_len;
    char *ids;
    int rc = -1;

    if (!id)
        return ft_err_set(err, "no \"id\" field (ft-import gives every record one)");
    if (!(ids = id_text(id, &id_len, err)))
        return -1;
    f_text = ft_record_get(rec, field);
    if (!f_text || ft_field_is_nil(f_text)) {
        ft_err_set(err, "id \"%s\": no \"%s\" field (choose the text with --field)", ids,
                   field);
        goto done;
    }
    if (ft_field_str(f_text, &text, &text_len, err) < 0) {
        ft_err_prefix(err, "id \"%s\"", ids);
        goto done;
    }
    if (ft_aug_prepare(w, text, text_len, err) < 0) {
        ft_err_prefix(err, "id \"%s\": %s", ids, field);
        goto done;
    }

    uint64_t rseed = ft_aug_record_seed(seed, id->val, id->val_bytes);
    for (uint32_t k = 1; k <= num_aug; k++) {
        ft_rec_builder *b = &out[k - 1];
        if (ft_aug_rewrite(w, rseed, k, &res, &res_len, &aug, err) < 0)
            goto done;
        if (n_unchanged)
            *n_unchanged += res_len == text_len && !memcmp(res, text, text_len);

        /* Every key in order: the new id and text in place; old aug keys and
         * token ids (of the old text) dropped; the rest byte for byte. */
        ft_rec_reset(b);
        for (uint32_t i = 0; i < rec->n_fields; i++) {
            const ft_field *f = &rec->fields[i];
            if (f == id) {
                ft_rec_str(b, "id", ids, id_len + suffix(ids + id_len, k));
            } else if (f == f_text) {
                ft_rec_key(b, field);
                ft_rec_val_str(b, res, res_len);
            } else if (!key_is(f, "aug") && !key_is(f, "aug_of") && !key_is(f, "aug_seed") &&
                       !key_is(f, "tokens")) {
                ft_rec_copy(b, f);
            }
        }
        ft_rec_raw(b, "aug_of", id->val, id->val_bytes);
        ft_rec_cstr(b, "aug", aug);
        put_seed(b, seed);
    }
    rc = 0;
done:
    free(ids);
    return rc;
}
