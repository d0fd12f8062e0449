/* pattern: tokenizer regular expressions on PCRE2 (see pattern.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pattern.h"

#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

const char ft_pattern_gpt2[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char ft_pattern_llama3[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char ft_pattern_qwen2[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Deep alternations over long runs of one class need more than PCRE2's
 * default 32 KiB of JIT stack. */
#define JIT_STACK_MAX (8u << 20)

struct ft_pattern {
    char *source;
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *stack;
    int jit;
};

/* Oniguruma's \s is White_Space; everything else is passed through. */
static char *translate(const char *src, ft_err *err)
{
    size_t n = strlen(src), k = 0;
    char *out = ft_malloc(n * 8 + 1, err);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '\\' && i + 1 < n && (src[i + 1] == 's' || src[i + 1] == 'S')) {
            const char *rep = src[i + 1] == 's' ? "\\p{White_Space}" : "\\P{White_Space}";
            memcpy(out + k, rep, strlen(rep));
            k += strlen(rep);
            i++;
        } else if (src[i] == '\\' && i + 1 < n) {
            out[k++] = src[i++];
            out[k++] = src[i];
        } else {
            out[k++] = src[i];
        }
    }
    out[k] = 0;
    return out;
}

ft_pattern *ft_pattern_new(const char *pattern, ft_err *err)
{
    ft_pattern *p = ft_calloc(1, sizeof *p, err);
    if (!p)
        return NULL;
    char *pcre = translate(pattern, err);
    p->source = ft_strdup(pattern, err);
    if (!pcre || !p->source) {
        free(pcre);
        ft_pattern_free(p);
        return NULL;
    }

    int code;
    PCRE2_SIZE at;
    p->code = pcre2_compile((PCRE2_SPTR)pcre, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                            &code, &at, NULL);
    free(pcre);
    if (!p->code) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        ft_err_set(err, "pattern \"%.80s\": %s", pattern, (char *)msg);
        ft_pattern_free(p);
        return NULL;
    }
    p->jit = pcre2_jit_compile(p->code, PCRE2_JIT_COMPLETE) == 0;
    p->md = pcre2_match_data_create_from_pattern(p->code, NULL);
    p->mctx = pcre2_match_context_create(NULL);
    if (p->jit) {
        p->stack = pcre2_jit_stack_create(32 << 10, JIT_STACK_MAX, NULL);
        if (p->stack && p->mctx)
            pcre2_jit_stack_assign(p->mctx, NULL, p->stack);
    }
    if (!p->md || !p->mctx || (p->jit && !p->stack)) {
        ft_err_set(err, "out of memory compiling a pattern");
        ft_pattern_free(p);
        return NULL;
    }
    return p;
}

void ft_pattern_free(ft_pattern *p)
{
    if (!p)
        return;
    pcre2_match_data_free(p->md);
    pcre2_match_context_free(p->mctx);
    pcre2_jit_stack_free(p->stack);
    pcre2_code_free(p->code);
    free(p->source);
    free(p);
}

const char *ft_pattern_source(const ft_pattern *p)
{
    return p->source;
}

int ft_pattern_find(ft_pattern *p, const char *s, size_t len, size_t start, size_t *ms,
                    size_t *me, ft_err *err)
{
    if (start > len)
        return 0;
    int rc;
    if (p->jit)
        rc = pcre2_jit_match(p->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, p->md,
                             p->mctx);
    else
        rc = pcre2_match(p->code, (PCRE2_SPTR)s, len, start, PCRE2_NO_UTF_CHECK, p->md,
                         p->mctx);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return ft_err_set(err, "pattern \"%.80s\": %s", p->source, (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}
