/* words: tokens, UTF-8 checks and case for word-level edits (see words.h).
 *
 * Character classes come from utf8proc's Unicode categories, with an ASCII
 * fast path: most text met here is ASCII and the augmenter cuts every input
 * text once. */
#include "text/words.h"

#include <string.h>
#include <utf8proc.h>

long ft_utf8_invalid_at(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        unsigned c = p[i];
        size_t k;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            k = 1, cp = c & 0x1f, min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            k = 2, cp = c & 0x0f, min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return (long)i;
        }
        for (size_t j = 1; j <= k; j++) {
            if (i + j >= n || (p[i + j] & 0xc0) != 0x80)
                return (long)i;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return (long)i;
        i += k + 1;
    }
    return -1;
}

/* Decode the code point at s[i] (valid UTF-8); returns its byte length. */
static size_t decode(const unsigned char *s, size_t i, int32_t *cp)
{
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c < 0xe0) {
        *cp = (int32_t)((c & 0x1f) << 6 | (s[i + 1] & 0x3f));
        return 2;
    }
    if (c < 0xf0) {
        *cp = (int32_t)((c & 0x0f) << 12 | (s[i + 1] & 0x3f) << 6 | (s[i + 2] & 0x3f));
        return 3;
    }
    *cp = (int32_t)((c & 0x07) << 18 | (s[i + 1] & 0x3f) << 12 | (s[i + 2] & 0x3f) << 6 |
                    (s[i + 3] & 0x3f));
    return 4;
}

size_t ft_utf8_decode(const char *s, size_t i, int32_t *cp)
{
    return decode((const unsigned char *)s, i, cp);
}

int ft_words_is_tight(int32_t c)
{
    return (c >= 0x3040 && c <= 0x30ff) ||    /* Hiragana, Katakana */
           (c >= 0x31f0 && c <= 0x31ff) ||    /* Katakana phonetic extensions */
           (c >= 0x3400 && c <= 0x4dbf) ||    /* CJK extension A */
           (c >= 0x4e00 && c <= 0x9fff) ||    /* CJK unified ideographs */
           (c >= 0xf900 && c <= 0xfaff) ||    /* CJK compatibility ideographs */
           (c >= 0xff66 && c <= 0xff9f) ||    /* half-width Katakana */
           (c >= 0x20000 && c <= 0x3134f);    /* CJK extensions B-G */
}

enum { C_SPACE, C_WORD, C_TIGHT, C_MARK, C_JOIN, C_PUNCT };

/* The class of a code point for cutting. C_JOIN characters (apostrophes,
 * hyphens, full stop) join two word characters into one word. */
static int char_class(int32_t c)
{
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_')
            return C_WORD;
        if (c == ' ' || (c >= '\t' && c <= '\r'))
            return C_SPACE;
        if (c == '\'' || c == '-' || c == '.')
            return C_JOIN;
        return C_PUNCT;
    }
    if (c == 0x2019 || c == 0x2010 || c == 0x2011)
        return C_JOIN;
    if (ft_words_is_tight(c))
        return C_TIGHT;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_PC:
        return C_WORD;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
        return C_MARK;
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return C_SPACE;
    default:
        return c == 0x85 ? C_SPACE : C_PUNCT;
    }
}

static int push(ft_tok **toks, size_t *n_toks, size_t *cap, uint32_t ws, uint32_t off,
                uint32_t len, int kind, int tight, ft_err *err)
{
    if (ft_grow(toks, cap, *n_toks + 1, sizeof **toks, err) < 0)
        return -1;
    ft_tok *t = &(*toks)[(*n_toks)++];
    t->ws = ws;
    t->off = off;
    t->len = len;
    t->kind = (uint8_t)kind;
    t->tight = (uint8_t)tight;
    return 0;
}

/* End of the tight token starting at i (in a run of tight characters that
 * ends at run_end): the longest dictionary entry, else one character with
 * its marks. */
static size_t tight_end(const unsigned char *s, size_t i, size_t run_end,
                        const ft_words_dict *dict)
{
    int32_t cp;
    size_t one = i + decode(s, i, &cp);

    while (one < run_end && char_class((decode(s, one, &cp), cp)) == C_MARK)
        one += decode(s, one, &cp);
    if (!dict || !dict->has || one >= run_end)
        return one;

    /* Try every character boundary from the longest allowed down. */
    size_t limit = run_end - i < dict->max_bytes ? run_end : i + dict->max_bytes;
    size_t best = one;
    for (size_t j = one; j < limit;) {
        j += decode(s, j, &cp);
        if (j <= limit && dict->has(dict->ctx, (const char *)s + i, j - i))
            best = j;
    }
    return best;
}

int ft_words_split(const char *str, size_t n, const ft_words_dict *dict, ft_tok **toks,
                   size_t *n_toks, size_t *cap, ft_err *err)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0, ws = 0;
    int32_t cp;

    *n_toks = 0;
    if (n >= UINT32_MAX)
        return ft_err_set(err, "text of %zu bytes is too long", n);
    while (i < n) {
        size_t len = decode(s, i, &cp), start = i;
        int cls = char_class(cp);

        if (cls == C_SPACE) {
            i += len;
            continue;
        }
        if (cls == C_TIGHT) {
            /* A run of tight characters (with their marks), cut by the dictionary. */
            size_t run_end = i;
            while (run_end < n) {
                int32_t c2;
                size_t l2 = decode(s, run_end, &c2);
                int k = char_class(c2);
                if (k != C_TIGHT && !(k == C_MARK && run_end > i))
                    break;
                run_end += l2;
            }
            i = tight_end(s, i, run_end, dict);
            if (push(toks, n_toks, cap, (uint32_t)ws, (uint32_t)start, (uint32_t)(i - start),
                     FT_TOK_WORD, 1, err) < 0)
                return -1;
        } else if (cls == C_WORD || cls == C_MARK) {
            /* Word characters and marks; a joiner only between word characters. */
            i += len;
            while (i < n) {
                size_t l2 = decode(s, i, &cp);
                int k = char_class(cp);
                if (k == C_WORD || k == C_MARK) {
                    i += l2;
                    continue;
                }
                if (k == C_JOIN && i + l2 < n) {
                    int32_t next;
                    decode(s, i + l2, &next);
                    int kn = char_class(next);
                    if (kn == C_WORD) {
                        i += l2;
                        continue;
                    }
                }
                break;
            }
            if (push(toks, n_toks, cap, (uint32_t)ws, (uint32_t)start, (uint32_t)(i - start),
                     FT_TOK_WORD, 0, err) < 0)
                return -1;
        } else {
            /* Punctuation: a run of it, up to a word, tight or space character. */
            i += len;
            while (i < n) {
                size_t l2 = decode(s, i, &cp);
                int k = char_class(cp);
                if (k != C_PUNCT && k != C_JOIN)
                    break;
                i += l2;
            }
            if (push(toks, n_toks, cap, (uint32_t)ws, (uint32_t)start, (uint32_t)(i - start),
                     FT_TOK_PUNCT, 0, err) < 0)
                return -1;
        }
        ws = i;
    }
    return 0;
}

size_t ft_words_lower(const char *str, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;

    for (size_t i = 0; i < n;) {
        int32_t cp;
        if (s[i] < 0x80) {
            unsigned char c = s[i++];
            out[o++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            continue;
        }
        i += decode(s, i, &cp);
        o += (size_t)utf8proc_encode_char(utf8proc_tolower(cp), (utf8proc_uint8_t *)out + o);
    }
    return o;
}

int ft_words_char_case(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') ? -1 : (cp >= 'A' && cp <= 'Z') ? 1 : 0;
    if (utf8proc_toupper(cp) != cp)
        return -1;
    if (utf8proc_tolower(cp) != cp)
        return 1;
    return 0;
}

int ft_words_case(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    int first = 0, n_upper = 0, n_lower = 0, first_upper = 0;

    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += decode(s, i, &cp);
        int c = ft_words_char_case(cp);
        if (!c)
            continue;
        if (!first) {
            first = 1;
            first_upper = c > 0;
        }
        if (c > 0)
            n_upper++;
        else
            n_lower++;
    }
    if (n_upper == 0)
        return FT_CASE_LOWER;
    if (n_upper == 1 && first_upper)
        return FT_CASE_TITLE;
    if (n_lower == 0)
        return FT_CASE_UPPER;
    return FT_CASE_OTHER;
}

size_t ft_words_recase(int pattern, const char *str, size_t n, char *out)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t o = 0;
    int done_first = 0;

    if (pattern != FT_CASE_TITLE && pattern != FT_CASE_UPPER) {
        memcpy(out, str, n);
        return n;
    }
    for (size_t i = 0; i < n;) {
        int32_t cp;
        i += decode(s, i, &cp);
        if (pattern == FT_CASE_UPPER || (!done_first && ft_words_char_case(cp))) {
            if (ft_words_char_case(cp))
                done_first = 1;
            cp = utf8proc_toupper(cp);
        }
        o += (size_t)utf8proc_encode_char(cp, (utf8proc_uint8_t *)out + o);
    }
    return o;
}

void ft_words_traits(const char *str, size_t n, int *has_letter, int *has_digit)
{
    const unsigned char *s = (const unsigned char *)str;

    *has_letter = *has_digit = 0;
    for (size_t i = 0; i < n;) {
        int32_t cp;
        if (s[i] < 0x80) {
            unsigned char c = s[i++];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
                *has_letter = 1;
            else if (c >= '0' && c <= '9')
                *has_digit = 1;
            continue;
        }
        i += decode(s, i, &cp);
        if (ft_words_is_tight(cp)) {
            *has_letter = 1;
            continue;
        }
        switch (utf8proc_category(cp)) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            *has_letter = 1;
            break;
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            *has_digit = 1;
            break;
        default:
            break;
        }
    }
}
