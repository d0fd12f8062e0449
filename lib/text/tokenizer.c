/* tokenizer: building, encoding and decoding (see tokenizer.h).
 *
 * Encoding runs Hugging Face's pipeline: added tokens are cut out of the
 * raw text; each stretch between them is normalized, cut again at the added
 * tokens matched after normalization, pre-tokenized, and each piece merged
 * by the BPE model; the post-processor's special tokens go around. Byte-
 * level models merge raw bytes (GPT-2's printable stand-ins exist only in the
 * files), so no byte mapping runs per piece.
 *
 * Files are read and written in tokenizer_json.c. */
#include "text/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/pattern.h"

static const char METASPACE[] = "\xe2\x96\x81";

/* --- UTF-8 --------------------------------------------------------------- */

enum { U_VALID, U_INCOMPLETE, U_INVALID };

/* Classify the sequence at s (n > 0 bytes left). *len is its length when
 * valid, else the length of its maximal valid prefix (at least 1). */
static int utf8_seq(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) {
        *len = 1;
        return U_VALID;
    }
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else {
        *len = 1;
        return U_INVALID;
    }
    for (size_t k = 1; k <= need; k++) {
        if (k >= n) {
            *len = k;
            return U_INCOMPLETE;
        }
        unsigned char b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) {
            *len = k;
            return U_INVALID;
        }
    }
    *len = need + 1;
    return U_VALID;
}

/* The offset of the first byte that is not valid UTF-8, or n. */
static size_t utf8_check(const char *text, size_t n)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, len;
    while (i < n) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (utf8_seq(s + i, n - i, &len) != U_VALID)
            return i;
        i += len;
    }
    return n;
}

/* Copy s to out (room for 3 * n bytes), each maximal invalid subpart
 * replaced by U+FFFD. Unless final, an incomplete character at the end is
 * left out; *used says how many input bytes were consumed. */
static size_t utf8_lossy(const unsigned char *s, size_t n, char *out, int final, size_t *used)
{
    size_t i = 0, k = 0, len;
    while (i < n) {
        int st = utf8_seq(s + i, n - i, &len);
        if (st == U_VALID) {
            memcpy(out + k, s + i, len);
            k += len;
        } else if (st == U_INCOMPLETE && !final) {
            break;
        } else {
            memcpy(out + k, "\xef\xbf\xbd", 3);
            k += 3;
        }
        i += len;
    }
    *used = i;
    return k;
}

static int is_white(utf8proc_int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* The code point that ends at s[end) (start of it in *at), or -1. */
static utf8proc_int32_t cp_before(const char *s, size_t lo, size_t end, size_t *at)
{
    if (end <= lo)
        return -1;
    size_t j = end - 1;
    while (j > lo && ((unsigned char)s[j] & 0xC0) == 0x80)
        j--;
    utf8proc_int32_t c;
    if (utf8proc_iterate((const utf8proc_uint8_t *)s + j, end - j, &c) <= 0)
        return -1;
    *at = j;
    return c;
}

static utf8proc_int32_t cp_at(const char *s, size_t i, size_t n, size_t *len)
{
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, n - i, &c);
    if (k <= 0)
        return -1;
    *len = (size_t)k;
    return c;
}

static int is_word(utf8proc_int32_t c)
{
    if (c == '_')
        return 1;
    utf8proc_category_t k = utf8proc_category(c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO ? 1
           : k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* --- Building ------------------------------------------------------------ */

void ft_tokenizer_spec_init(ft_tok_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    spec->bos_id = spec->eos_id = spec->unk_id = spec->pad_id = -1;
}

/* GPT-2's table: printable Latin-1 bytes stand for themselves, the others
 * for U+0100 upwards in byte order. */
static void byte_tables(ft_tokenizer *t)
{
    int n = 0;
    for (int i = 0; i < 324; i++)
        t->cp_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        t->byte_cp[b] = printable ? b : 256 + n++;
        t->cp_byte[t->byte_cp[b]] = b;
    }
}

ft_tokenizer *ft_tokenizer_alloc(int kind, int32_t n_vocab, ft_err *err)
{
    if (n_vocab <= 0 || n_vocab > (1 << 28)) {
        ft_err_set(err, "vocabulary size %ld out of range", (long)n_vocab);
        return NULL;
    }
    ft_tokenizer *t = ft_calloc(1, sizeof *t, err);
    if (!t)
        return NULL;
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->unk_id = t->bos_id = t->eos_id = t->pad_id = -1;
    byte_tables(t);
    t->str = ft_calloc((size_t)n_vocab, sizeof *t->str, err);
    t->type = ft_calloc((size_t)n_vocab, 1, err);
    t->in_model = ft_calloc((size_t)n_vocab, 1, err);
    t->bpe = ft_bpe_new(kind == FT_TOK_BYTE_BPE ? FT_BPE_BYTES : FT_BPE_CHARS, err);
    t->norm = ft_normalizer_new(err);
    t->pre = ft_pretok_new(err);
    if (!t->str || !t->type || !t->in_model || !t->bpe || !t->norm || !t->pre) {
        ft_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void ft_tokenizer_free(ft_tokenizer *t)
{
    if (!t)
        return;
    for (int32_t i = 0; t->str && i < t->n_vocab; i++)
        free(t->str[i]);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    for (size_t i = 0; i < t->n_patterns; i++)
        free(t->patterns[i]);
    free(t->patterns);
    free(t->str);
    free(t->type);
    free(t->in_model);
    free(t->score);
    free(t->dec);
    free(t->dec_off);
    ft_bpe_free(t->bpe);
    free(t->merges);
    free(t->added);
    free(t->m_raw.order);
    free(t->m_norm.order);
    ft_normalizer_free(t->norm);
    ft_pretok_free(t->pre);
    free(t->eos_ids);
    json_decref(t->j_normalizer);
    json_decref(t->j_pre);
    json_decref(t->j_post);
    json_decref(t->j_decoder);
    free(t->fixed);
    free(t);
}

int ft_tokenizer_set_token(ft_tokenizer *t, int32_t id, const char *s, int type, ft_err *err)
{
    if (id < 0 || id >= t->n_vocab)
        return ft_err_set(err, "token id %ld out of range", (long)id);
    char *copy = ft_strdup(s, err);
    if (!copy)
        return -1;
    free(t->str[id]);
    t->str[id] = copy;
    t->type[id] = (unsigned char)type;
    t->in_model[id] = 1;
    return 0;
}

/* The bytes a byte-level spelling stands for, into out (room for n);
 * -1 when some character is not one of the 256 stand-ins. */
static long bytes_of(const ft_tokenizer *t, const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t len;
        utf8proc_int32_t c = cp_at(s, i, n, &len);
        if (c < 0 || c >= 324 || t->cp_byte[c] < 0)
            return -1;
        out[k++] = (char)t->cp_byte[c];
        i += len;
    }
    return (long)k;
}

int ft_tokenizer_index(ft_tokenizer *t, ft_err *err)
{
    char *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int32_t id = 0; id < t->n_vocab && rc == 0; id++) {
        const char *s = t->str[id];
        if (!s || !t->in_model[id])
            continue;
        size_t n = strlen(s);
        if (t->kind == FT_TOK_SPM_BPE) {
            rc = ft_bpe_add_token(t->bpe, s, n, id, err);
            continue;
        }
        if (ft_grow(&buf, &cap, n + 1, 1, err) < 0) {
            rc = -1;
            break;
        }
        long k = bytes_of(t, s, n, buf);
        if (k > 0)
            rc = ft_bpe_add_token(t->bpe, buf, (size_t)k, id, err);
    }
    free(buf);
    return rc;
}

int32_t ft_tokenizer_model_id(const ft_tokenizer *t, const char *s, size_t n)
{
    if (t->kind == FT_TOK_SPM_BPE)
        return ft_bpe_lookup(t->bpe, s, n);
    char small[256], *buf = n <= sizeof small ? small : malloc(n);
    if (!buf)
        return -1;
    long k = bytes_of(t, s, n, buf);
    int32_t id = k > 0 ? ft_bpe_lookup(t->bpe, buf, (size_t)k) : -1;
    if (buf != small)
        free(buf);
    return id;
}

static int record_merge(ft_tokenizer *t, int32_t left, int32_t right, ft_err *err)
{
    if (ft_grow(&t->merges, &t->cap_merges, 2 * (t->n_merges + 1), sizeof *t->merges, err) < 0)
        return -1;
    t->merges[2 * t->n_merges] = left;
    t->merges[2 * t->n_merges + 1] = right;
    t->n_merges++;
    return 0;
}

int ft_tokenizer_add_merge(ft_tokenizer *t, const char *l, size_t nl, const char *r, size_t nr,
                           uint32_t rank, ft_err *err)
{
    int32_t left = ft_tokenizer_model_id(t, l, nl), right = ft_tokenizer_model_id(t, r, nr);
    if (left < 0 || right < 0)
        return ft_err_set(err, "merge %lu (\"%.*s %.*s\"): \"%.*s\" is not in the vocabulary",
                          (unsigned long)rank + 1, (int)nl, l, (int)nr, r,
                          left < 0 ? (int)nl : (int)nr, left < 0 ? l : r);
    char small[256], *cat = nl + nr <= sizeof small ? small : malloc(nl + nr);
    if (!cat)
        return ft_err_set(err, "out of memory");
    memcpy(cat, l, nl);
    memcpy(cat + nl, r, nr);
    int32_t merged = ft_tokenizer_model_id(t, cat, nl + nr);
    if (cat != small)
        free(cat);
    if (merged < 0)
        return ft_err_set(err, "merge %lu (\"%.*s %.*s\"): \"%.*s%.*s\" is not in the vocabulary",
                          (unsigned long)rank + 1, (int)nl, l, (int)nr, r, (int)nl, l, (int)nr,
                          r);
    if (ft_bpe_add_merge(t->bpe, left, right, merged, rank, err) < 0)
        return -1;
    return record_merge(t, left, right, err);
}

typedef struct score_pair {
    float score;
    int32_t id, left, right;
} score_pair;

static int by_score(const void *a, const void *b)
{
    const score_pair *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->left != y->left)
        return x->left < y->left ? -1 : 1;
    return (x->right > y->right) - (x->right < y->right);
}

int ft_tokenizer_merges_from_scores(ft_tokenizer *t, ft_err *err)
{
    score_pair *p = NULL;
    size_t n = 0, cap = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->str[id];
        if (!s || !t->in_model[id] || t->type[id] != FT_TOKT_NORMAL)
            continue;
        size_t len = strlen(s);
        for (size_t k = 1; k < len; k++) {
            if (((unsigned char)s[k] & 0xC0) == 0x80)
                continue;
            int32_t l = ft_bpe_lookup(t->bpe, s, k), r = ft_bpe_lookup(t->bpe, s + k, len - k);
            if (l < 0 || r < 0 || t->type[l] != FT_TOKT_NORMAL || t->type[r] != FT_TOKT_NORMAL)
                continue;
            if (ft_grow(&p, &cap, n + 1, sizeof *p, err) < 0) {
                free(p);
                return -1;
            }
            p[n++] = (score_pair){t->score ? t->score[id] : 0.0f, id, l, r};
        }
    }
    qsort(p, n, sizeof *p, by_score);

    /* Equal scores share a rank: the leftmost pair goes first, as in
     * llama.cpp. */
    uint32_t rank = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && p[i].score != p[i - 1].score)
            rank++;
        if (ft_bpe_add_merge(t->bpe, p[i].left, p[i].right, p[i].id, rank, err) < 0 ||
            record_merge(t, p[i].left, p[i].right, err) < 0) {
            free(p);
            return -1;
        }
    }
    free(p);
    t->merges_by_score = 1;
    return 0;
}

int ft_tokenizer_add_added(ft_tokenizer *t, const ft_added *a, ft_err *err)
{
    if (a->id < 0 || a->id >= t->n_vocab)
        return ft_err_set(err, "added token \"%s\": id %ld out of range", a->content,
                          (long)a->id);
    if (a->len == 0)
        return ft_err_set(err, "added token %ld is empty", (long)a->id);
    if (ft_grow(&t->added, &t->cap_added, t->n_added + 1, sizeof *t->added, err) < 0)
        return -1;
    ft_added *d = &t->added[t->n_added];
    *d = *a;
    if (!(d->content = ft_strdup(a->content, err)))
        return -1;
    t->n_added++;
    if (!t->str[a->id] && !(t->str[a->id] = ft_strdup(a->content, err)))
        return -1;
    if (t->type[a->id] != FT_TOKT_UNKNOWN)
        t->type[a->id] = a->special ? FT_TOKT_CONTROL : FT_TOKT_USER;
    return 0;
}

static int added_cmp_ctx_less(const ft_added *x, const ft_added *y)
{
    unsigned char a = (unsigned char)x->content[0], b = (unsigned char)y->content[0];
    if (a != b)
        return a < b;
    return x->len > y->len;
}

static int build_matcher(ft_tokenizer *t, ft_matcher *m, int normalized, ft_err *err)
{
    m->n = 0;
    for (size_t i = 0; i < t->n_added; i++)
        if ((t->added[i].normalized && ft_normalizer_steps(t->norm) > 0) == normalized)
            m->n++;
    m->order = ft_calloc(m->n + 1, sizeof *m->order, err);
    if (!m->order)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < t->n_added; i++) {
        if ((t->added[i].normalized && ft_normalizer_steps(t->norm) > 0) != normalized)
            continue;
        /* Insertion keeps equal keys in file order. */
        size_t j = k++;
        while (j > 0 && added_cmp_ctx_less(&t->added[i], &t->added[m->order[j - 1]])) {
            m->order[j] = m->order[j - 1];
            j--;
        }
        m->order[j] = (uint32_t)i;
    }
    size_t j = 0;
    for (int b = 0; b <= 256; b++) {
        while (j < m->n && (unsigned char)t->added[m->order[j]].content[0] < b)
            j++;
        m->first[b] = (uint32_t)j;
    }
    m->first[256] = (uint32_t)m->n;
    return 0;
}

/* The bytes each token decodes to: byte-level stand-ins mapped back (a
 * spelling with other characters is taken as it is), SentencePiece's U+2581
 * as a space and <0xNN> as the byte. */
static int decoded_bytes(ft_tokenizer *t, ft_err *err)
{
    size_t total = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        total += t->str[id] ? strlen(t->str[id]) : 0;
    t->dec = ft_malloc(total + 1, err);
    t->dec_off = ft_malloc(((size_t)t->n_vocab + 1) * sizeof *t->dec_off, err);
    if (!t->dec || !t->dec_off)
        return -1;
    size_t k = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->str[id];
        size_t n = s ? strlen(s) : 0;
        t->dec_off[id] = k;
        if (!s)
            continue;
        if (t->kind == FT_TOK_BYTE_BPE) {
            long m = bytes_of(t, s, n, t->dec + k);
            if (m < 0) {
                memcpy(t->dec + k, s, n);
                m = (long)n;
            }
            k += (size_t)m;
        } else if (t->type[id] == FT_TOKT_BYTE && n == 6 && memcmp(s, "<0x", 3) == 0) {
            t->dec[k++] = (char)strtol(s + 3, NULL, 16);
        } else {
            for (size_t i = 0; i < n;) {
                if (i + 3 <= n && memcmp(s + i, METASPACE, 3) == 0) {
                    t->dec[k++] = ' ';
                    i += 3;
                } else {
                    t->dec[k++] = s[i++];
                }
            }
        }
        if (k - t->dec_off[id] > t->max_dec)
            t->max_dec = k - t->dec_off[id];
    }
    t->dec_off[t->n_vocab] = k;
    return 0;
}

static int has_id(const int32_t *v, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return 1;
    return 0;
}

int ft_tokenizer_finish(ft_tokenizer *t, ft_err *err)
{
    int32_t byte_ids[256];
    for (int b = 0; b < 256; b++) {
        char c = (char)b, name[8];
        if (t->kind == FT_TOK_BYTE_BPE) {
            byte_ids[b] = ft_bpe_lookup(t->bpe, &c, 1);
        } else {
            snprintf(name, sizeof name, "<0x%02X>", b);
            byte_ids[b] = t->byte_fallback ? ft_bpe_lookup(t->bpe, name, 6) : -1;
            if (byte_ids[b] >= 0 && t->type[byte_ids[b]] == FT_TOKT_NORMAL)
                t->type[byte_ids[b]] = FT_TOKT_BYTE;
        }
    }
    ft_bpe_set_units(t->bpe, byte_ids, t->byte_fallback, t->unk_id, t->fuse_unk);
    ft_bpe_set_ignore_merges(t->bpe, t->ignore_merges);
    if (t->unk_id >= 0 && t->type[t->unk_id] == FT_TOKT_NORMAL)
        t->type[t->unk_id] = FT_TOKT_UNKNOWN;
    if (decoded_bytes(t, err) < 0 || build_matcher(t, &t->m_raw, 0, err) < 0 ||
        build_matcher(t, &t->m_norm, 1, err) < 0)
        return -1;

    /* The EOS token is always one of the ids that end generation. */
    if (t->eos_id >= 0 && !has_id(t->eos_ids, t->n_eos, t->eos_id)) {
        int32_t *v = ft_realloc(t->eos_ids, (t->n_eos + 1) * sizeof *v, err);
        if (!v)
            return -1;
        memmove(v + 1, v, t->n_eos * sizeof *v);
        v[0] = t->eos_id;
        t->eos_ids = v;
        t->n_eos++;
    }
    if (t->eos_id < 0 && t->n_eos > 0)
        t->eos_id = t->eos_ids[0];
    return 0;
}

/* --- Building from arrays ------------------------------------------------ */

static int spec_type(const ft_tok_spec *s, size_t id)
{
    if (s->types)
        return s->types[id] >= FT_TOKT_NORMAL && s->types[id] <= FT_TOKT_BYTE ? s->types[id]
                                                                             : FT_TOKT_NORMAL;
    if ((int32_t)id == s->unk_id)
        return FT_TOKT_UNKNOWN;
    if ((int32_t)id == s->bos_id || (int32_t)id == s->eos_id)
        return FT_TOKT_CONTROL;
    const char *t = s->tokens[id];
    if (s->kind == FT_TOK_SPM_BPE && strlen(t) == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>')
        return FT_TOKT_BYTE;
    return FT_TOKT_NORMAL;
}

static int spec_pretok(ft_tokenizer *t, const ft_tok_spec *s, ft_err *err)
{
    size_t n = s->n_patterns;
    const char *const gpt2[] = {ft_pattern_gpt2};
    const char *const *pats = n ? s->patterns : gpt2;
    if (n == 0)
        n = 1;
    t->patterns = ft_calloc(n, sizeof *t->patterns, err);
    if (!t->patterns)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(t->patterns[i] = ft_strdup(pats[i], err)))
            return -1;
        t->n_patterns++;
        if (ft_pretok_add_regex(t->pre, pats[i], FT_SPLIT_ISOLATED, 0, err) < 0)
            return -1;
    }
    return 0;
}

static int spec_special(ft_tokenizer *t, const ft_tok_spec *s, ft_err *err)
{
    int32_t ids[] = {s->bos_id, s->eos_id, s->unk_id, s->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= t->n_vocab || (ids[i] >= 0 && !t->str[ids[i]]))
            return ft_err_set(err, "special token id %ld is not in the vocabulary",
                              (long)ids[i]);
    t->bos_id = s->bos_id;
    t->eos_id = s->eos_id;
    t->pad_id = s->pad_id;
    if (s->add_bos && s->bos_id >= 0)
        t->prefix[t->n_prefix++] = s->bos_id;
    if (s->add_eos && s->eos_id >= 0)
        t->suffix[t->n_suffix++] = s->eos_id;
    if (s->n_eos_extra) {
        t->eos_ids = ft_malloc(s->n_eos_extra * sizeof *t->eos_ids, err);
        if (!t->eos_ids)
            return -1;
        for (size_t i = 0; i < s->n_eos_extra; i++) {
            int32_t id = s->eos_extra[i];
            if (id < 0 || id >= t->n_vocab)
                return ft_err_set(err, "end-of-generation id %ld out of range", (long)id);
            if (!has_id(t->eos_ids, t->n_eos, id))
                t->eos_ids[t->n_eos++] = id;
        }
    }
    return 0;
}

ft_tokenizer *ft_tokenizer_build(const ft_tok_spec *s, ft_err *err)
{
    if (s->kind != FT_TOK_BYTE_BPE && s->kind != FT_TOK_SPM_BPE) {
        ft_err_set(err, "unknown tokenizer kind %d", s->kind);
        return NULL;
    }
    if (s->n_tokens == 0 || s->n_tokens > (1 << 28)) {
        ft_err_set(err, "vocabulary size %zu out of range", s->n_tokens);
        return NULL;
    }
    ft_tokenizer *t = ft_tokenizer_alloc(s->kind, (int32_t)s->n_tokens, err);
    if (!t)
        return NULL;
    if (s->scores && !(t->score = ft_malloc(s->n_tokens * sizeof *t->score, err)))
        goto fail;
    for (size_t id = 0; id < s->n_tokens; id++) {
        int type = spec_type(s, id);
        if (!s->tokens[id] || ft_tokenizer_set_token(t, (int32_t)id, s->tokens[id], type, err))
            goto fail;
        if (s->scores)
            t->score[id] = s->scores[id];
    }
    if (ft_tokenizer_index(t, err) < 0)
        goto fail;

    /* Merges, or for SentencePiece without them, the pairs of the scores. */
    for (size_t i = 0; i < s->n_merges; i++) {
        const char *m = s->merges[i], *sp = strchr(m, ' ');
        if (!sp || sp == m || !sp[1]) {
            ft_err_set(err, "merge %zu (\"%.60s\") is not two tokens", i + 1, m);
            goto fail;
        }
        if (ft_tokenizer_add_merge(t, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), (uint32_t)i,
                                   err) < 0)
            goto fail;
    }
    if (s->kind == FT_TOK_SPM_BPE && s->n_merges == 0 && ft_tokenizer_merges_from_scores(t, err))
        goto fail;

    /* Control, unknown and user-defined tokens are added tokens (the first
     * two special), as llama.cpp matches them. */
    for (size_t id = 0; id < s->n_tokens; id++) {
        int type = t->type[id];
        if (type != FT_TOKT_CONTROL && type != FT_TOKT_USER && type != FT_TOKT_UNKNOWN)
            continue;
        ft_added a = {(int32_t)id, (char *)s->tokens[id], strlen(s->tokens[id]),
                      type != FT_TOKT_USER, 0, 0, 0, 0};
        if (a.len && ft_tokenizer_add_added(t, &a, err) < 0)
            goto fail;
    }

    /* The pipeline around the model. */
    t->unk_id = s->unk_id;
    t->ignore_merges = s->ignore_merges;
    if (s->kind == FT_TOK_SPM_BPE) {
        t->byte_fallback = 1;
        t->fuse_unk = 1;
        t->space_prefix = t->strip_space = s->add_space_prefix;
        if ((s->add_space_prefix && ft_normalizer_add_prepend(t->norm, METASPACE, err) < 0) ||
            ft_normalizer_add_replace(t->norm, " ", 0, METASPACE, err) < 0)
            goto fail;
    } else {
        if (s->nfc && ft_normalizer_add_form(t->norm, FT_NORM_NFC, err) < 0)
            goto fail;
        if (spec_pretok(t, s, err) < 0)
            goto fail;
    }
    if (spec_special(t, s, err) < 0 || ft_tokenizer_finish(t, err) < 0 ||
        ft_tokenizer_synth_sections(t, s->nfc, err) < 0)
        goto fail;
    return t;
fail:
    ft_tokenizer_free(t);
    return NULL;
}

/* --- Encoding ------------------------------------------------------------ */

typedef struct enc {
    ft_tokenizer *t;
    int32_t **ids;
    size_t *n, *cap;
    int flags;
} enc;

static int push_id(enc *e, int32_t id, ft_err *err)
{
    if (ft_grow(e->ids, e->cap, *e->n + 1, sizeof **e->ids, err) < 0)
        return -1;
    (*e->ids)[(*e->n)++] = id;
    return 0;
}

static int on_piece(void *ctx, const char *piece, size_t n, ft_err *err)
{
    enc *e = ctx;
    return ft_bpe_encode(e->t->bpe, piece, n, e->ids, e->n, e->cap, err);
}

/* The next added token in s[pos..n): its index, and the span it takes
 * (with the whitespace lstrip and rstrip swallow); -1 when none. */
static long next_added(const ft_tokenizer *t, const ft_matcher *m, const char *s, size_t n,
                       size_t pos, int flags, size_t *ms, size_t *me)
{
    if (m->n == 0)
        return -1;
    for (size_t i = pos; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        for (uint32_t k = m->first[c]; k < m->first[c + 1]; k++) {
            const ft_added *a = &t->added[m->order[k]];
            if ((a->special && (flags & FT_TOK_SPLIT_SPECIAL)) || a->len > n - i ||
                memcmp(s + i, a->content, a->len) != 0)
                continue;
            size_t at, len;
            if (a->single_word) {
                utf8proc_int32_t b = cp_before(s, pos, i, &at);
                utf8proc_int32_t f = i + a->len < n ? cp_at(s, i + a->len, n, &len) : -1;
                if ((b >= 0 && is_word(b)) || (f >= 0 && is_word(f)))
                    continue;
            }
            *ms = i;
            *me = i + a->len;
            utf8proc_int32_t c2;
            while (a->lstrip && (c2 = cp_before(s, pos, *ms, &at)) >= 0 && is_white(c2))
                *ms = at;
            while (a->rstrip && *me < n && (c2 = cp_at(s, *me, n, &len)) >= 0 && is_white(c2))
                *me += len;
            return m->order[k];
        }
    }
    return -1;
}

/* A stretch of text between raw added tokens. */
static int encode_section(enc *e, const char *s, size_t n, int at_start, ft_err *err)
{
    ft_tokenizer *t = e->t;
    if (n == 0)
        return 0;
    const char *u = s;
    size_t un = n;
    if (ft_normalizer_steps(t->norm) > 0 && ft_normalizer_run(t->norm, s, n, &u, &un, err) < 0)
        return -1;
    size_t pos = 0, ms, me;
    long k;
    while ((k = next_added(t, &t->m_norm, u, un, pos, e->flags, &ms, &me)) >= 0) {
        if (ft_pretok_run(t->pre, u + pos, ms - pos, at_start && pos == 0, on_piece, e, err) ||
            push_id(e, t->added[k].id, err) < 0)
            return -1;
        pos = me;
    }
    return ft_pretok_run(t->pre, u + pos, un - pos, at_start && pos == 0, on_piece, e, err) ? -1
                                                                                            : 0;
}

int ft_tokenizer_encode(ft_tokenizer *t, const char *text, size_t n, int flags, int32_t **ids,
                        size_t *n_ids, size_t *cap, ft_err *err)
{
    enc e = {t, ids, n_ids, cap, flags};

    /* Invalid UTF-8: an error, or U+FFFD in a copy. */
    size_t bad = utf8_check(text, n);
    if (bad < n) {
        if (!(flags & FT_TOK_FIX_UTF8))
            return ft_err_set(err, "invalid UTF-8 at byte %zu", bad);
        if (ft_grow(&t->fixed, &t->fixed_cap, 3 * n + 1, 1, err) < 0)
            return -1;
        size_t used;
        n = utf8_lossy((const unsigned char *)text, n, t->fixed, 1, &used);
        text = t->fixed;
    }

    if (flags & FT_TOK_ADD_SPECIAL)
        for (size_t i = 0; i < t->n_prefix; i++)
            if (push_id(&e, t->prefix[i], err) < 0)
                return -1;
    size_t pos = 0, ms, me;
    long k;
    while ((k = next_added(t, &t->m_raw, text, n, pos, flags, &ms, &me)) >= 0) {
        if (encode_section(&e, text + pos, ms - pos, pos == 0, err) < 0 ||
            push_id(&e, t->added[k].id, err) < 0)
            return -1;
        pos = me;
    }
    if (encode_section(&e, text + pos, n - pos, pos == 0, err) < 0)
        return -1;
    if (flags & FT_TOK_ADD_SPECIAL)
        for (size_t i = 0; i < t->n_suffix; i++)
            if (push_id(&e, t->suffix[i], err) < 0)
                return -1;
    return 0;
}

/* --- Decoding ------------------------------------------------------------ */

/* The bytes id contributes at this point of a text; NULL when skipped. */
static const char *piece_of(const ft_tokenizer *t, int32_t id, int flags, int *at_start,
                            size_t *n, ft_err *err)
{
    if (id < 0 || id >= t->n_vocab || !t->str[id]) {
        ft_err_set(err, "token id %ld is not in the vocabulary (0-%ld)", (long)id,
                   (long)t->n_vocab - 1);
        *n = (size_t)-1;
        return NULL;
    }
    int type = t->type[id];
    if ((flags & FT_TOK_SKIP_SPECIAL) && (type == FT_TOKT_CONTROL || type == FT_TOKT_UNKNOWN)) {
        *n = 0;
        return NULL;
    }
    const char *p = t->dec + t->dec_off[id];
    *n = t->dec_off[id + 1] - t->dec_off[id];
    if (*at_start && t->strip_space && *n > 0 && p[0] == ' ')
        p++, (*n)--;
    *at_start = 0;
    return p;
}

int ft_tokenizer_decode(const ft_tokenizer *t, const int32_t *ids, size_t n_ids, int flags,
                        char **text, size_t *n_bytes, ft_err *err)
{
    size_t total = 0, n, used;
    int at_start = 1;
    for (size_t i = 0; i < n_ids; i++) {
        piece_of(t, ids[i], flags, &at_start, &n, err);
        if (n == (size_t)-1)
            return -1;
        total += n;
    }
    char *raw = ft_malloc(total + 1, err), *out = ft_malloc(3 * total + 1, err);
    if (!raw || !out) {
        free(raw);
        free(out);
        return -1;
    }
    size_t k = 0;
    at_start = 1;
    for (size_t i = 0; i < n_ids; i++) {
        const char *p = piece_of(t, ids[i], flags, &at_start, &n, err);
        if (p)
            memcpy(raw + k, p, n), k += n;
    }
    size_t len = utf8_lossy((const unsigned char *)raw, k, out, 1, &used);
    free(raw);
    out[len] = 0;
    *text = out;
    if (n_bytes)
        *n_bytes = len;
    return 0;
}

void ft_tokenizer_stream_init(ft_tok_stream *s, int flags, int at_start)
{
    memset(s, 0, sizeof *s);
    s->flags = flags;
    s->at_start = at_start;
}

int ft_tokenizer_stream_next(const ft_tokenizer *t, ft_tok_stream *s, int32_t id, char *buf,
                             size_t cap, size_t *n_bytes, ft_err *err)
{
    size_t n, used;
    const char *p = piece_of(t, id, s->flags, &s->at_start, &n, err);
    *n_bytes = 0;
    if (n == (size_t)-1)
        return -1;
    if (!p || n == 0)
        return 0;
    unsigned char small[64], *in = n + 4 <= sizeof small ? small : malloc(n + 4);
    if (!in)
        return ft_err_set(err, "out of memory");
    if (3 * (n + (size_t)s->n_pending) > cap) {
        if (in != small)
            free(in);
        return ft_err_set(err, "decode buffer too small");
    }
    memcpy(in, s->pending, (size_t)s->n_pending);
    memcpy(in + s->n_pending, p, n);
    n += (size_t)s->n_pending;
    *n_bytes = utf8_lossy(in, n, buf, 0, &used);
    s->n_pending = (int)(n - used);
    memcpy(s->pending, in + used, (size_t)s->n_pending);
    if (in != small)
        free(in);
    return 0;
}

size_t ft_tokenizer_stream_end(ft_tok_stream *s, char *buf)
{
    if (s->n_pending == 0)
        return 0;
    s->n_pending = 0;
    memcpy(buf, "\xef\xbf\xbd", 3);
    return 3;
}

/* --- Accessors ----------------------------------------------------------- */

int ft_tokenizer_kind(const ft_tokenizer *t)
{
    return t->kind;
}

int32_t ft_tokenizer_n_vocab(const ft_tokenizer *t)
{
    return t->n_vocab;
}

int32_t ft_tokenizer_bos(const ft_tokenizer *t)
{
    return t->bos_id;
}

int32_t ft_tokenizer_eos(const ft_tokenizer *t)
{
    return t->eos_id;
}

int32_t ft_tokenizer_unk(const ft_tokenizer *t)
{
    return t->unk_id;
}

int32_t ft_tokenizer_pad(const ft_tokenizer *t)
{
    return t->pad_id;
}

size_t ft_tokenizer_eos_ids(const ft_tokenizer *t, const int32_t **ids)
{
    *ids = t->eos_ids;
    return t->n_eos;
}

int ft_tokenizer_is_eos(const ft_tokenizer *t, int32_t id)
{
    return has_id(t->eos_ids, t->n_eos, id);
}

size_t ft_tokenizer_prefix(const ft_tokenizer *t, const int32_t **ids)
{
    *ids = t->prefix;
    return t->n_prefix;
}

size_t ft_tokenizer_suffix(const ft_tokenizer *t, const int32_t **ids)
{
    *ids = t->suffix;
    return t->n_suffix;
}

const char *ft_tokenizer_token(const ft_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab ? t->str[id] : NULL;
}

int ft_tokenizer_token_type(const ft_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->str[id] ? t->type[id] : FT_TOKT_UNUSED;
}

float ft_tokenizer_score(const ft_tokenizer *t, int32_t id)
{
    return t->score && id >= 0 && id < t->n_vocab ? t->score[id] : 0.0f;
}

int ft_tokenizer_has_scores(const ft_tokenizer *t)
{
    return t->score != NULL;
}

const char *ft_tokenizer_token_bytes(const ft_tokenizer *t, int32_t id, size_t *n)
{
    if (id < 0 || id >= t->n_vocab) {
        *n = 0;
        return NULL;
    }
    *n = t->dec_off[id + 1] - t->dec_off[id];
    return t->dec + t->dec_off[id];
}

size_t ft_tokenizer_max_token_bytes(const ft_tokenizer *t)
{
    return t->max_dec;
}

size_t ft_tokenizer_stream_cap(const ft_tokenizer *t)
{
    return 3 * (t->max_dec + 4);
}

int32_t ft_tokenizer_lookup(const ft_tokenizer *t, const char *token)
{
    size_t n = strlen(token);
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == n && memcmp(t->added[i].content, token, n) == 0)
            return t->added[i].id;
    return ft_tokenizer_model_id(t, token, n);
}

size_t ft_tokenizer_n_merges(const ft_tokenizer *t)
{
    return t->n_merges;
}

void ft_tokenizer_merge(const ft_tokenizer *t, size_t i, int32_t *left, int32_t *right)
{
    *left = t->merges[2 * i];
    *right = t->merges[2 * i + 1];
}

size_t ft_tokenizer_patterns(const ft_tokenizer *t, const char *const **patterns)
{
    *patterns = (const char *const *)t->patterns;
    return t->n_patterns;
}

int ft_tokenizer_adds_bos(const ft_tokenizer *t)
{
    return t->n_prefix > 0;
}

int ft_tokenizer_adds_eos(const ft_tokenizer *t)
{
    return t->n_suffix > 0;
}
