/* tokenizer_json: tokenizers from and to files (see tokenizer.h).
 *
 * Reads Hugging Face's tokenizer.json (model BPE; the normalizers and
 * pre-tokenizers pretok.c and normalizer.c know; TemplateProcessing,
 * Roberta, Bert and ByteLevel post-processors), GPT-2's vocab.json +
 * merges.txt, and the special-token settings of tokenizer_config.json and
 * generation_config.json. Writes tokenizer.json: the model rebuilt from the
 * tokenizer, the other sections as read (or made up for tokenizers built
 * from arrays).
 *
 * Not here: what the sections mean when encoding (tokenizer.c). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsout.h"
#include "text/pattern.h"
#include "text/tokenizer_impl.h"

#define JSON_MAX_BYTES ((size_t)1 << 30)

static const char METASPACE[] = "\xe2\x96\x81";

/* --- Small JSON helpers ------------------------------------------------- */

static int jbool(const json_t *o, const char *key, int dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_boolean(v) ? json_is_true(v) : dflt;
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A token named as a string or as {"content": ...}. */
static const char *jtoken(const json_t *v)
{
    if (json_is_object(v))
        v = json_object_get(v, "content");
    return json_string_value(v);
}

static json_t *load_json(const char *json, size_t n, ft_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, n, JSON_ALLOW_NUL, &je);
    if (!root)
        ft_err_set(err, "line %d column %d: %s", je.line, je.column, je.text);
    return root;
}

/* --- Sections ------------------------------------------------------------ */

static int kind_of_pretok(const json_t *p)
{
    const char *type = jstr(p, "type");
    if (!type)
        return 0;
    if (strcmp(type, "ByteLevel") == 0)
        return FT_TOK_BYTE_BPE;
    if (strcmp(type, "Metaspace") == 0)
        return FT_TOK_SPM_BPE;
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *s;
        json_array_foreach(json_object_get(p, "pretokenizers"), i, s) {
            int k = kind_of_pretok(s);
            if (k)
                return k;
        }
    }
    return 0;
}

static int pattern_of(const json_t *o, const char **s, int *regex, ft_err *err)
{
    json_t *pat = json_object_get(o, "pattern");
    if ((*s = jstr(pat, "Regex")))
        *regex = 1;
    else if ((*s = jstr(pat, "String")))
        *regex = 0;
    else
        return ft_err_set(err, "%s: no pattern", jstr(o, "type"));
    return 0;
}

static int add_normalizer(ft_tokenizer *t, const json_t *n, ft_err *err)
{
    if (json_is_null(n) || !n)
        return 0;
    const char *type = jstr(n, "type"), *s;
    int regex;
    if (!type)
        return ft_err_set(err, "normalizer without a type");
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(n, "normalizers"), i, x) {
            if (add_normalizer(t, x, err) < 0)
                return -1;
        }
        return 0;
    }
    static const char *forms[] = {"NFC", "NFD", "NFKC", "NFKD"};
    for (int f = 0; f < 4; f++)
        if (strcmp(type, forms[f]) == 0)
            return ft_normalizer_add_form(t->norm, f, err);
    if (strcmp(type, "Lowercase") == 0)
        return ft_normalizer_add_lowercase(t->norm, err);
    if (strcmp(type, "StripAccents") == 0)
        return ft_normalizer_add_strip_accents(t->norm, err);
    if (strcmp(type, "Strip") == 0)
        return ft_normalizer_add_strip(t->norm, jbool(n, "strip_left", 1),
                                       jbool(n, "strip_right", 1), err);
    if (strcmp(type, "Prepend") == 0) {
        if (!(s = jstr(n, "prepend")))
            return ft_err_set(err, "Prepend normalizer without \"prepend\"");
        if (t->kind == FT_TOK_SPM_BPE && strcmp(s, METASPACE) == 0)
            t->space_prefix = t->strip_space = 1;
        return ft_normalizer_add_prepend(t->norm, s, err);
    }
    if (strcmp(type, "Replace") == 0) {
        const char *content = jstr(n, "content");
        if (pattern_of(n, &s, &regex, err) < 0)
            return -1;
        return ft_normalizer_add_replace(t->norm, s, regex, content ? content : "", err);
    }
    return ft_err_set(err, "unknown normalizer type \"%s\"", type);
}

/* Pre-tokenizer steps; *last_bytelevel tracks that nothing follows a
 * ByteLevel step (the model sees bytes from there on). */
static int add_pretok(ft_tokenizer *t, const json_t *p, int *seen_bytelevel, ft_err *err)
{
    if (json_is_null(p) || !p)
        return 0;
    const char *type = jstr(p, "type"), *s;
    int regex;
    if (!type)
        return ft_err_set(err, "pre-tokenizer without a type");
    if (*seen_bytelevel)
        return ft_err_set(err, "a %s pre-tokenizer after ByteLevel is not supported", type);
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(p, "pretokenizers"), i, x) {
            if (add_pretok(t, x, seen_bytelevel, err) < 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0) {
        *seen_bytelevel = 1;
        return ft_pretok_add_bytelevel(t->pre, jbool(p, "add_prefix_space", 0),
                                       jbool(p, "use_regex", 1), err);
    }
    if (strcmp(type, "Split") == 0) {
        const char *b = jstr(p, "behavior");
        int behavior = b ? ft_pretok_behavior(b) : FT_SPLIT_ISOLATED;
        if (behavior < 0)
            return ft_err_set(err, "Split pre-tokenizer: unknown behavior \"%s\"", b);
        if (pattern_of(p, &s, &regex, err) < 0)
            return -1;
        int invert = jbool(p, "invert", 0);
        return regex ? ft_pretok_add_regex(t->pre, s, behavior, invert, err)
                     : ft_pretok_add_literal(t->pre, s, behavior, invert, err);
    }
    if (strcmp(type, "Digits") == 0)
        return ft_pretok_add_digits(t->pre, jbool(p, "individual_digits", 0), err);
    if (strcmp(type, "Whitespace") == 0)
        return ft_pretok_add_whitespace(t->pre, 0, err);
    if (strcmp(type, "WhitespaceSplit") == 0)
        return ft_pretok_add_whitespace(t->pre, 1, err);
    if (strcmp(type, "Metaspace") == 0) {
        const char *rep = jstr(p, "replacement"), *scheme = jstr(p, "prepend_scheme");
        int prepend = jbool(p, "add_prefix_space", 1) ? FT_PREPEND_ALWAYS : FT_PREPEND_NEVER;
        if (scheme && strcmp(scheme, "first") == 0)
            prepend = FT_PREPEND_FIRST;
        else if (scheme && strcmp(scheme, "never") == 0)
            prepend = FT_PREPEND_NEVER;
        else if (scheme && strcmp(scheme, "always") == 0)
            prepend = FT_PREPEND_ALWAYS;
        else if (scheme)
            return ft_err_set(err, "Metaspace pre-tokenizer: unknown prepend_scheme \"%s\"",
                              scheme);
        t->space_prefix = t->strip_space = prepend != FT_PREPEND_NEVER;
        return ft_pretok_add_metaspace(t->pre, rep ? rep : METASPACE, prepend,
                                       jbool(p, "split", 1), err);
    }
    return ft_err_set(err, "unknown pre-tokenizer type \"%s\"", type);
}

/* The regex a pre-tokenizer step amounts to: "" for none (ByteLevel
 * without its regex), NULL when the step is not an isolating split. Digits
 * is a split on \p{N} (each digit) or \p{N}+ (runs). */
static const char *step_pattern(const json_t *p)
{
    const char *type = jstr(p, "type");
    if (!type)
        return NULL;
    if (strcmp(type, "ByteLevel") == 0)
        return jbool(p, "use_regex", 1) ? ft_pattern_gpt2 : "";
    if (strcmp(type, "Digits") == 0)
        return jbool(p, "individual_digits", 0) ? "\\p{N}" : "\\p{N}+";
    if (strcmp(type, "Split") == 0 && !jbool(p, "invert", 0) &&
        (!jstr(p, "behavior") || strcmp(jstr(p, "behavior"), "Isolated") == 0))
        return jstr(json_object_get(p, "pattern"), "Regex");
    return NULL;
}

/* The regexes of a chain made only of isolating splits (Split regexes,
 * Digits, ByteLevel), for writers of other formats (GGUF names the chain);
 * none when some step is something else. */
static int collect_patterns(ft_tokenizer *t, const json_t *p, ft_err *err)
{
    const char *type = p ? jstr(p, "type") : NULL;
    const json_t *steps = NULL;
    size_t n = 1;

    if (!type)
        return 0;
    if (strcmp(type, "Sequence") == 0) {
        steps = json_object_get(p, "pretokenizers");
        n = json_array_size(steps);
    }
    for (size_t i = 0; i < n; i++)
        if (!step_pattern(steps ? json_array_get(steps, i) : p))
            return 0;
    for (size_t i = 0; i < n; i++) {
        const char *pat = step_pattern(steps ? json_array_get(steps, i) : p);
        if (!*pat)
            continue;
        char **v = ft_realloc(t->patterns, (t->n_patterns + 1) * sizeof *v, err);
        if (!v)
            return -1;
        t->patterns = v;
        if (!(v[t->n_patterns] = ft_strdup(pat, err)))
            return -1;
        t->n_patterns++;
    }
    return 0;
}

/* The id a post-processor names: TemplateProcessing's special_tokens map, or
 * a [token, id] pair. */
static int32_t template_id(const json_t *specials, const char *name)
{
    json_t *e = json_object_get(specials, name);
    json_t *ids = json_object_get(e, "ids");
    if (json_array_size(ids) != 1)
        return -1;
    return (int32_t)json_integer_value(json_array_get(ids, 0));
}

static int add_post(ft_tokenizer *t, const json_t *p, ft_err *err)
{
    if (!p || json_is_null(p))
        return 0;
    const char *type = jstr(p, "type");
    if (!type)
        return ft_err_set(err, "post-processor without a type");
    if (strcmp(type, "Sequence") == 0) {
        size_t i;
        json_t *x;
        json_array_foreach(json_object_get(p, "processors"), i, x) {
            if (add_post(t, x, err) < 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(type, "ByteLevel") == 0)
        return 0;
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        json_t *cls = json_object_get(p, "cls"), *sep = json_object_get(p, "sep");
        t->n_prefix = t->n_suffix = 0;
        t->prefix[t->n_prefix++] = (int32_t)json_integer_value(json_array_get(cls, 1));
        t->suffix[t->n_suffix++] = (int32_t)json_integer_value(json_array_get(sep, 1));
        return 0;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return ft_err_set(err, "unknown post-processor type \"%s\"", type);

    json_t *specials = json_object_get(p, "special_tokens"), *item;
    size_t i;
    int after = 0;
    t->n_prefix = t->n_suffix = 0;
    json_array_foreach(json_object_get(p, "single"), i, item) {
        json_t *sp = json_object_get(item, "SpecialToken");
        if (json_object_get(item, "Sequence")) {
            after = 1;
            continue;
        }
        const char *name = jstr(sp, "id");
        int32_t id = name ? template_id(specials, name) : -1;
        if (id < 0)
            return ft_err_set(err, "TemplateProcessing: special token \"%s\" has no id",
                              name ? name : "?");
        if (after ? t->n_suffix >= 8 : t->n_prefix >= 8)
            return ft_err_set(err, "TemplateProcessing: too many special tokens");
        if (after)
            t->suffix[t->n_suffix++] = id;
        else
            t->prefix[t->n_prefix++] = id;
    }
    return 0;
}

static int add_added_tokens(ft_tokenizer *t, const json_t *arr, ft_err *err)
{
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a) {
        const char *content = jstr(a, "content");
        json_t *id = json_object_get(a, "id");
        if (!content || !json_is_integer(id))
            return ft_err_set(err, "added token %zu: no \"id\" or \"content\"", i + 1);
        int special = jbool(a, "special", 0);
        ft_added x = {(int32_t)json_integer_value(id), (char *)content, strlen(content), special,
                      jbool(a, "lstrip", 0), jbool(a, "rstrip", 0), jbool(a, "single_word", 0),
                      jbool(a, "normalized", !special)};
        if (ft_tokenizer_add_added(t, &x, err) < 0)
            return -1;
    }
    return 0;
}

/* --- The model ----------------------------------------------------------- */

static int32_t max_id(const json_t *vocab, const json_t *added, ft_err *err)
{
    const char *key;
    json_t *v;
    int64_t m = -1;
    json_object_foreach((json_t *)vocab, key, v) {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id >= (1 << 28))
            return ft_err_set(err, "vocab: token \"%.60s\" has no valid id", key);
        if (id > m)
            m = id;
    }
    size_t i;
    json_array_foreach(added, i, v) {
        json_int_t id = json_integer_value(json_object_get(v, "id"));
        if (id < 0 || id >= (1 << 28))
            return ft_err_set(err, "added token %zu: id out of range", i + 1);
        if (id > m)
            m = id;
    }
    if (m < 0)
        return ft_err_set(err, "the vocabulary is empty");
    return (int32_t)(m + 1);
}

static int set_vocab(ft_tokenizer *t, const json_t *vocab, ft_err *err)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (ft_tokenizer_set_token(t, (int32_t)json_integer_value(v), key, FT_TOKT_NORMAL, err))
            return -1;
    }
    return ft_tokenizer_index(t, err);
}

static int add_merges(ft_tokenizer *t, const json_t *merges, ft_err *err)
{
    size_t i;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *l, *r;
        size_t nl, nr;
        if (json_is_string(m)) {
            const char *s = json_string_value(m), *sp = strchr(s, ' ');
            if (!sp)
                return ft_err_set(err, "merge %zu (\"%.60s\") is not two tokens", i + 1, s);
            l = s, nl = (size_t)(sp - s), r = sp + 1, nr = strlen(sp + 1);
        } else if (json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
                   json_is_string(json_array_get(m, 1))) {
            l = json_string_value(json_array_get(m, 0));
            r = json_string_value(json_array_get(m, 1));
            nl = strlen(l), nr = strlen(r);
        } else {
            return ft_err_set(err, "merge %zu is neither \"a b\" nor [\"a\", \"b\"]", i + 1);
        }
        if (ft_tokenizer_add_merge(t, l, nl, r, nr, (uint32_t)i, err) < 0)
            return -1;
    }
    return 0;
}

static int check_model(const json_t *model, ft_err *err)
{
    if (!json_is_object(model))
        return ft_err_set(err, "no \"model\" object");
    const char *type = jstr(model, "type");
    if (type && strcmp(type, "BPE") != 0)
        return ft_err_set(err, "unknown model type \"%s\" (ft reads BPE tokenizers)", type);
    if (!type && !json_is_array(json_object_get(model, "merges")))
        return ft_err_set(err, "model without a type or merges (ft reads BPE tokenizers)");
    if (!json_is_object(json_object_get(model, "vocab")))
        return ft_err_set(err, "model without a \"vocab\" object");
    json_t *drop = json_object_get(model, "dropout");
    if (json_number_value(drop) > 0)
        return ft_err_set(err, "BPE dropout is not supported");
    const char *sub = jstr(model, "continuing_subword_prefix"),
               *eow = jstr(model, "end_of_word_suffix");
    if ((sub && *sub) || (eow && *eow))
        return ft_err_set(err, "BPE with subword prefixes or word suffixes is not supported");
    return 0;
}

/* Everything but the config files and finishing. */
static ft_tokenizer *from_root(const json_t *root, ft_err *err)
{
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(root) || check_model(model, err) < 0)
        return NULL;
    json_t *vocab = json_object_get(model, "vocab"), *added = json_object_get(root, "added_tokens");
    json_t *pre = json_object_get(root, "pre_tokenizer"), *dec = json_object_get(root, "decoder");
    int kind = kind_of_pretok(pre);
    if (!kind)
        kind = dec && jstr(dec, "type") && strcmp(jstr(dec, "type"), "ByteLevel") == 0
                   ? FT_TOK_BYTE_BPE
                   : FT_TOK_SPM_BPE;
    int32_t n = max_id(vocab, added, err);
    if (n < 0)
        return NULL;
    ft_tokenizer *t = ft_tokenizer_alloc(kind, n, err);
    if (!t)
        return NULL;

    t->byte_fallback = jbool(model, "byte_fallback", 0);
    t->fuse_unk = jbool(model, "fuse_unk", 0);
    t->ignore_merges = jbool(model, "ignore_merges", 0);
    const char *unk = jstr(model, "unk_token");
    int seen = 0;
    if (set_vocab(t, vocab, err) < 0 || add_merges(t, json_object_get(model, "merges"), err) < 0)
        goto fail;
    if (unk && (t->unk_id = ft_tokenizer_model_id(t, unk, strlen(unk))) < 0) {
        ft_err_set(err, "unk_token \"%s\" is not in the vocabulary", unk);
        goto fail;
    }
    if (add_normalizer(t, json_object_get(root, "normalizer"), err) < 0 ||
        add_pretok(t, pre, &seen, err) < 0 || add_added_tokens(t, added, err) < 0 ||
        add_post(t, json_object_get(root, "post_processor"), err) < 0)
        goto fail;
    if (kind == FT_TOK_BYTE_BPE && collect_patterns(t, pre, err) < 0)
        goto fail;
    for (size_t i = 0; i < t->n_prefix + t->n_suffix; i++) {
        int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
        if (id < 0 || id >= t->n_vocab || !t->str[id]) {
            ft_err_set(err, "post-processor: token id %ld is not in the vocabulary", (long)id);
            goto fail;
        }
    }
    t->j_normalizer = json_incref(json_object_get(root, "normalizer"));
    t->j_pre = json_incref(pre);
    t->j_post = json_incref(json_object_get(root, "post_processor"));
    t->j_decoder = json_incref(dec);
    return t;
fail:
    ft_tokenizer_free(t);
    return NULL;
}

/* --- Special tokens and config files ---------------------------------------- */

static int32_t find_first(const ft_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = ft_tokenizer_lookup(t, *names);
        if (id >= 0)
            return id;
    }
    return -1;
}

/* What the files did not say: BOS and EOS from the template, else by the
 * usual names. */
static void default_special(ft_tokenizer *t)
{
    static const char *const bos[] = {"<s>", "<|begin_of_text|>", "<|endoftext|>", NULL};
    static const char *const eos[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", NULL};
    if (t->bos_id < 0)
        t->bos_id = t->n_prefix ? t->prefix[0] : find_first(t, bos);
    if (t->eos_id < 0)
        t->eos_id = t->n_suffix ? t->suffix[t->n_suffix - 1] : find_first(t, eos);
}

static int named_id(ft_tokenizer *t, const json_t *cfg, const char *key, int32_t *id,
                    const char *path, ft_err *err)
{
    json_t *v = json_object_get(cfg, key);
    const char *name = jtoken(v);
    if (!v || json_is_null(v))
        return 0;
    if (!name)
        return ft_err_set(err, "%s: \"%s\" is not a token", path, key);
    int32_t k = ft_tokenizer_lookup(t, name);
    if (k < 0)
        return ft_err_set(err, "%s: %s \"%s\" is not in the vocabulary", path, key, name);
    *id = k;
    return 0;
}

static int tokenizer_config(ft_tokenizer *t, const json_t *cfg, const char *path, ft_err *err)
{
    int32_t unk = t->unk_id;
    if (named_id(t, cfg, "bos_token", &t->bos_id, path, err) < 0 ||
        named_id(t, cfg, "eos_token", &t->eos_id, path, err) < 0 ||
        named_id(t, cfg, "pad_token", &t->pad_id, path, err) < 0 ||
        named_id(t, cfg, "unk_token", &unk, path, err) < 0)
        return -1;

    /* add_bos_token / add_eos_token rebuild the template, as transformers'
     * Llama tokenizers do. */
    json_t *ab = json_object_get(cfg, "add_bos_token"), *ae = json_object_get(cfg, "add_eos_token");
    if (json_is_boolean(ab)) {
        t->n_prefix = 0;
        if (json_is_true(ab) && t->bos_id >= 0)
            t->prefix[t->n_prefix++] = t->bos_id;
    }
    if (json_is_boolean(ae)) {
        t->n_suffix = 0;
        if (json_is_true(ae) && t->eos_id >= 0)
            t->suffix[t->n_suffix++] = t->eos_id;
    }
    return 0;
}

static int generation_config(ft_tokenizer *t, const json_t *cfg, const char *path, ft_err *err)
{
    json_t *eos = json_object_get(cfg, "eos_token_id"), *v;
    json_t *bos = json_object_get(cfg, "bos_token_id"), *pad = json_object_get(cfg, "pad_token_id");
    size_t n = json_is_array(eos) ? json_array_size(eos) : json_is_integer(eos), i;
    free(t->eos_ids);
    t->n_eos = 0;
    if (!(t->eos_ids = ft_calloc(n + 1, sizeof *t->eos_ids, err)))
        return -1;
    for (i = 0; i < n; i++) {
        v = json_is_array(eos) ? json_array_get(eos, i) : eos;
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id >= t->n_vocab)
            return ft_err_set(err, "%s: eos_token_id %lld out of range", path, (long long)id);
        t->eos_ids[t->n_eos++] = (int32_t)id;
    }
    if (t->eos_id < 0 && t->n_eos > 0)
        t->eos_id = t->eos_ids[0];
    if (t->bos_id < 0 && json_is_integer(bos) && json_integer_value(bos) >= 0 &&
        json_integer_value(bos) < t->n_vocab)
        t->bos_id = (int32_t)json_integer_value(bos);
    if (t->pad_id < 0 && json_is_integer(pad) && json_integer_value(pad) >= 0 &&
        json_integer_value(pad) < t->n_vocab)
        t->pad_id = (int32_t)json_integer_value(pad);
    return 0;
}

typedef int (*config_fn)(ft_tokenizer *t, const json_t *cfg, const char *path, ft_err *err);

/* Apply a config held in memory (absent when data is NULL). */
static int apply_config(ft_tokenizer *t, const char *data, size_t n, const char *path,
                        config_fn fn, ft_err *err)
{
    if (!data)
        return 0;
    json_t *cfg = load_json(data, n, err);
    if (!cfg)
        return ft_err_prefix(err, "%s", path);
    int rc = fn(t, cfg, path, err);
    json_decref(cfg);
    return rc;
}

/* Apply dir/name when it exists. */
static int apply_config_file(ft_tokenizer *t, const char *dir, const char *name, config_fn fn,
                             ft_err *err)
{
    char *path = ft_path_join(dir, name, err), *data = NULL;
    size_t n = 0;
    int rc = path ? 0 : -1;
    if (rc == 0 && access(path, F_OK) == 0)
        rc = ft_read_file(path, JSON_MAX_BYTES, &data, &n, err);
    if (rc == 0)
        rc = apply_config(t, data, n, path, fn, err);
    free(data);
    free(path);
    return rc;
}

/* --- Loading ----------------------------------------------------------------- */

ft_tokenizer *ft_tokenizer_load_json(const char *json, size_t n, const char *name, ft_err *err)
{
    json_t *root = load_json(json, n, err);
    ft_tokenizer *t = root ? from_root(root, err) : NULL;
    json_decref(root);
    if (t) {
        default_special(t);
        if (ft_tokenizer_finish(t, err) == 0)
            return t;
        ft_tokenizer_free(t);
    }
    ft_err_prefix(err, "%s", name);
    return NULL;
}

ft_tokenizer *ft_tokenizer_load_files(const ft_tok_files *f, const char *name, ft_err *err)
{
    char tj[4096], tc[4096], gc[4096];
    snprintf(tj, sizeof tj, "%.4000s/tokenizer.json", name);
    snprintf(tc, sizeof tc, "%.4000s/tokenizer_config.json", name);
    snprintf(gc, sizeof gc, "%.4000s/generation_config.json", name);
    if (!f->tokenizer_json) {
        ft_err_set(err, "%s: no tokenizer.json", name);
        return NULL;
    }
    json_t *root = load_json(f->tokenizer_json, f->tokenizer_json_bytes, err);
    ft_tokenizer *t = root ? from_root(root, err) : NULL;
    json_decref(root);
    if (!t) {
        ft_err_prefix(err, "%s", tj);
        return NULL;
    }
    if (apply_config(t, f->tokenizer_config, f->tokenizer_config_bytes, tc, tokenizer_config,
                     err) < 0 ||
        apply_config(t, f->generation_config, f->generation_config_bytes, gc,
                     generation_config, err) < 0) {
        ft_tokenizer_free(t);
        return NULL;
    }
    default_special(t);
    if (ft_tokenizer_finish(t, err) < 0) {
        ft_tokenizer_free(t);
        return NULL;
    }
    return t;
}

static int exists(const char *dir, const char *name, char **path, ft_err *err)
{
    *path = ft_path_join(dir, name, err);
    if (!*path)
        return -1;
    if (access(*path, R_OK) == 0)
        return 1;
    free(*path);
    *path = NULL;
    return 0;
}

static int synth_json(ft_tokenizer *t, int nfc, ft_err *err);

/* GPT-2's vocab.json + merges.txt: byte-level, GPT-2's pattern. */
static ft_tokenizer *load_vocab_merges(const char *vpath, const char *mpath, ft_err *err)
{
    char *data = NULL;
    size_t n;
    json_t *vocab = NULL;
    ft_tokenizer *t = NULL;
    if (ft_read_file(vpath, JSON_MAX_BYTES, &data, &n, err) < 0)
        return NULL;
    vocab = load_json(data, n, err);
    free(data);
    data = NULL;
    if (!vocab || !json_is_object(vocab)) {
        if (vocab)
            ft_err_set(err, "not a JSON object of tokens");
        goto fail_v;
    }
    int32_t nv = max_id(vocab, NULL, err);
    if (nv < 0 || !(t = ft_tokenizer_alloc(FT_TOK_BYTE_BPE, nv, err)) ||
        set_vocab(t, vocab, err) < 0)
        goto fail_v;
    json_decref(vocab);
    vocab = NULL;

    /* merges.txt: an optional "#version" line, then "left right" lines. */
    if (ft_read_file(mpath, JSON_MAX_BYTES, &data, &n, err) < 0)
        goto fail;
    size_t line = 0, rank = 0;
    for (char *s = data, *end; s < data + n; s = end + 1) {
        end = memchr(s, '\n', (size_t)(data + n - s));
        if (!end)
            end = data + n;
        line++;
        size_t len = (size_t)(end - s);
        if (len && s[len - 1] == '\r')
            len--;
        if (len == 0 || (line == 1 && len >= 8 && memcmp(s, "#version", 8) == 0))
            continue;
        char *sp = memchr(s, ' ', len);
        if (!sp || sp == s || sp + 1 == s + len ||
            memchr(sp + 1, ' ', (size_t)(s + len - sp - 1))) {
            ft_err_set(err, "line %zu: not two tokens", line);
            goto fail_m;
        }
        if (ft_tokenizer_add_merge(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + len - sp - 1),
                                   (uint32_t)rank++, err) < 0) {
            ft_err_prefix(err, "line %zu", line);
            goto fail_m;
        }
    }
    free(data);

    if (ft_pretok_add_bytelevel(t->pre, 0, 1, err) < 0)
        goto fail;
    t->patterns = ft_malloc(sizeof *t->patterns, err);
    if (!t->patterns || !(t->patterns[0] = ft_strdup(ft_pattern_gpt2, err)))
        goto fail;
    t->n_patterns = 1;
    int32_t eot = ft_tokenizer_model_id(t, "<|endoftext|>", 13);
    if (eot >= 0) {
        ft_added a = {eot, "<|endoftext|>", 13, 1, 0, 0, 0, 0};
        if (ft_tokenizer_add_added(t, &a, err) < 0)
            goto fail;
    }
    if (synth_json(t, 0, err) < 0)
        goto fail;
    return t;
fail_m:
    free(data);
    ft_err_prefix(err, "%s", mpath);
    ft_tokenizer_free(t);
    return NULL;
fail_v:
    json_decref(vocab);
    ft_err_prefix(err, "%s", vpath);
    ft_tokenizer_free(t);
    return NULL;
fail:
    ft_tokenizer_free(t);
    return NULL;
}

static ft_tokenizer *load_tokenizer_json(const char *path, ft_err *err)
{
    char *data;
    size_t n;
    if (ft_read_file(path, JSON_MAX_BYTES, &data, &n, err) < 0)
        return NULL;
    json_t *root = load_json(data, n, err);
    free(data);
    ft_tokenizer *t = root ? from_root(root, err) : NULL;
    json_decref(root);
    if (!t)
        ft_err_prefix(err, "%s", path);
    return t;
}

/* The directory part of a file path. */
static char *dir_of(const char *path, ft_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return ft_strdup(".", err);
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = ft_malloc(n + 1, err);
    if (d) {
        memcpy(d, path, n);
        d[n] = 0;
    }
    return d;
}

ft_tokenizer *ft_tokenizer_load(const char *path, ft_err *err)
{
    struct stat st;
    char *dir = NULL, *tj = NULL, *vj = NULL, *mt = NULL;
    ft_tokenizer *t = NULL;
    if (stat(path, &st) != 0) {
        ft_err_errno(err, path);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        dir = ft_strdup(path, err);
        int a = dir ? exists(dir, "tokenizer.json", &tj, err) : -1, b = 0, c = 0;
        if (a == 0 && (b = exists(dir, "vocab.json", &vj, err)) == 1)
            c = exists(dir, "merges.txt", &mt, err);
        else if (a == 0 && b == 0 && (b = exists(dir, "encoder.json", &vj, err)) == 1)
            c = exists(dir, "vocab.bpe", &mt, err);
        if (a < 0 || b < 0 || c < 0)
            goto out;
        if (a == 0 && (b == 0 || c == 0)) {
            ft_err_set(err, "%s: no tokenizer.json (or vocab.json and merges.txt)", path);
            goto out;
        }
    } else {
        if (!(dir = dir_of(path, err)))
            goto out;
        const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        int vocab_file = strcmp(base, "vocab.json") == 0 || strcmp(base, "encoder.json") == 0;
        if (!vocab_file) {
            tj = ft_strdup(path, err);
        } else {
            vj = ft_strdup(path, err);
            int c = exists(dir, strcmp(base, "vocab.json") == 0 ? "merges.txt" : "vocab.bpe",
                           &mt, err);
            if (c == 0)
                ft_err_set(err, "%s: no merges file beside it", path);
            if (c <= 0)
                goto out;
        }
    }
    t = tj ? load_tokenizer_json(tj, err) : load_vocab_merges(vj, mt, err);
    if (t && (apply_config_file(t, dir, "tokenizer_config.json", tokenizer_config, err) < 0 ||
              apply_config_file(t, dir, "generation_config.json", generation_config, err) < 0))
        goto fail;
    if (t) {
        default_special(t);
        if (ft_tokenizer_finish(t, err) < 0)
            goto fail;
    }
    goto out;
fail:
    ft_tokenizer_free(t);
    t = NULL;
out:
    free(dir);
    free(tj);
    free(vj);
    free(mt);
    return t;
}

/* --- Writing ------------------------------------------------------------------- */

static json_t *jpattern(const char *key, const char *s)
{
    return json_pack("{s:s}", key, s);
}

static json_t *template_json(const ft_tokenizer *t)
{
    json_t *single = json_array(), *pair = json_array(), *specials = json_object();
    for (int part = 0; part < 2; part++) {
        json_t *tmpl = part ? pair : single;
        for (size_t i = 0; i < t->n_prefix; i++)
            json_array_append_new(tmpl, json_pack("{s:{s:s,s:i}}", "SpecialToken", "id",
                                                  t->str[t->prefix[i]], "type_id", part));
        json_array_append_new(tmpl, json_pack("{s:{s:s,s:i}}", "Sequence", "id", "A",
                                              "type_id", 0));
        if (part)
            json_array_append_new(tmpl,
                                  json_pack("{s:{s:s,s:i}}", "Sequence", "id", "B", "type_id", 1));
        for (size_t i = 0; i < t->n_suffix; i++)
            json_array_append_new(tmpl, json_pack("{s:{s:s,s:i}}", "SpecialToken", "id",
                                                  t->str[t->suffix[i]], "type_id", part));
    }
    for (size_t i = 0; i < t->n_prefix + t->n_suffix; i++) {
        int32_t id = i < t->n_prefix ? t->prefix[i] : t->suffix[i - t->n_prefix];
        json_object_set_new(specials, t->str[id],
                            json_pack("{s:s,s:[i],s:[s]}", "id", t->str[id], "ids", id, "tokens",
                                      t->str[id]));
    }
    return json_pack("{s:s,s:o,s:o,s:o}", "type", "TemplateProcessing", "single", single, "pair",
                     pair, "special_tokens", specials);
}

/* The sections of a tokenizer made from arrays or from vocab.json. */
static int synth_json(ft_tokenizer *t, int nfc, ft_err *err)
{
    if (t->kind == FT_TOK_SPM_BPE) {
        json_t *norm = json_array();
        if (t->space_prefix)
            json_array_append_new(norm, json_pack("{s:s,s:s}", "type", "Prepend", "prepend",
                                                  METASPACE));
        json_array_append_new(norm, json_pack("{s:s,s:o,s:s}", "type", "Replace", "pattern",
                                              jpattern("String", " "), "content", METASPACE));
        t->j_normalizer = json_pack("{s:s,s:o}", "type", "Sequence", "normalizers", norm);
        t->j_pre = json_null();
        json_t *dec = json_array();
        json_array_append_new(dec, json_pack("{s:s,s:o,s:s}", "type", "Replace", "pattern",
                                             jpattern("String", METASPACE), "content", " "));
        json_array_append_new(dec, json_pack("{s:s}", "type", "ByteFallback"));
        json_array_append_new(dec, json_pack("{s:s}", "type", "Fuse"));
        if (t->strip_space)
            json_array_append_new(dec, json_pack("{s:s,s:s,s:i,s:i}", "type", "Strip", "content",
                                                 " ", "start", 1, "stop", 0));
        t->j_decoder = json_pack("{s:s,s:o}", "type", "Sequence", "decoders", dec);
    } else {
        t->j_normalizer = nfc ? json_pack("{s:s}", "type", "NFC") : json_null();
        int gpt2 = t->n_patterns == 1 && strcmp(t->patterns[0], ft_pattern_gpt2) == 0;
        json_t *bl = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0,
                               "trim_offsets", 1, "use_regex", gpt2);
        if (gpt2) {
            t->j_pre = bl;
        } else {
            json_t *seq = json_array();
            for (size_t i = 0; i < t->n_patterns; i++)
                json_array_append_new(seq, json_pack("{s:s,s:o,s:s,s:b}", "type", "Split",
                                                     "pattern", jpattern("Regex", t->patterns[i]),
                                                     "behavior", "Isolated", "invert", 0));
            json_array_append_new(seq, bl);
            t->j_pre = json_pack("{s:s,s:o}", "type", "Sequence", "pretokenizers", seq);
        }
        t->j_decoder = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 1,
                                 "trim_offsets", 1, "use_regex", 1);
    }
    t->j_post = t->n_prefix + t->n_suffix ? template_json(t) : json_null();
    if (!t->j_normalizer || !t->j_pre || !t->j_decoder || !t->j_post)
        return ft_err_set(err, "out of memory building tokenizer.json sections");
    return 0;
}

int ft_tokenizer_synth_sections(ft_tokenizer *t, int nfc, ft_err *err)
{
    return synth_json(t, nfc, err);
}

static json_t *jstring_checked(const char *s, int32_t id, ft_err *err)
{
    json_t *v = json_string(s);
    if (!v)
        ft_err_set(err, "token %ld is not valid UTF-8", (long)id);
    return v;
}

static json_t *model_json(const ft_tokenizer *t, ft_err *err)
{
    json_t *vocab = json_object(), *merges = json_array();
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!t->str[id] || !t->in_model[id])
            continue;
        if (json_object_set_new(vocab, t->str[id], json_integer(id)) < 0) {
            ft_err_set(err, "token %ld is not valid UTF-8", (long)id);
            goto fail;
        }
    }
    for (size_t i = 0; i < t->n_merges; i++) {
        json_t *l = jstring_checked(t->str[t->merges[2 * i]], t->merges[2 * i], err);
        json_t *r = jstring_checked(t->str[t->merges[2 * i + 1]], t->merges[2 * i + 1], err);
        if (!l || !r) {
            json_decref(l);
            json_decref(r);
            goto fail;
        }
        json_array_append_new(merges, json_pack("[o,o]", l, r));
    }
    json_t *unk = t->unk_id >= 0 ? json_string(t->str[t->unk_id]) : json_null();
    return json_pack("{s:s,s:n,s:o,s:n,s:n,s:b,s:b,s:b,s:o,s:o}", "type", "BPE", "dropout",
                     "unk_token", unk, "continuing_subword_prefix", "end_of_word_suffix",
                     "fuse_unk", t->fuse_unk, "byte_fallback", t->byte_fallback,
                     "ignore_merges", t->ignore_merges, "vocab", vocab, "merges", merges);
fail:
    json_decref(vocab);
    json_decref(merges);
    return NULL;
}

static json_t *keep(json_t *j)
{
    return j ? json_incref(j) : json_null();
}

char *ft_tokenizer_to_json(const ft_tokenizer *t, size_t *n_bytes, ft_err *err)
{
    json_t *added = json_array();
    for (size_t i = 0; i < t->n_added; i++) {
        const ft_added *a = &t->added[i];
        json_array_append_new(added, json_pack("{s:i,s:s,s:b,s:b,s:b,s:b,s:b}", "id", a->id,
                                               "content", a->content, "single_word",
                                               a->single_word, "lstrip", a->lstrip, "rstrip",
                                               a->rstrip, "normalized", a->normalized, "special",
                                               a->special));
    }
    json_t *model = model_json(t, err);
    if (!model) {
        json_decref(added);
        return NULL;
    }
    json_t *root = json_pack("{s:s,s:n,s:n,s:o,s:o,s:o,s:o,s:o,s:o}", "version", "1.0",
                             "truncation", "padding", "added_tokens", added, "normalizer",
                             keep(t->j_normalizer), "pre_tokenizer", keep(t->j_pre),
                             "post_processor", keep(t->j_post), "decoder", keep(t->j_decoder),
                             "model", model);
    char *s = root ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    if (!s) {
        ft_err_set(err, "out of memory writing tokenizer.json");
        return NULL;
    }
    size_t n = strlen(s);
    char *out = ft_malloc(n + 2, err);
    if (out) {
        memcpy(out, s, n);
        out[n] = '\n';
        out[n + 1] = 0;
        if (n_bytes)
            *n_bytes = n + 1;
    }
    free(s);
    return out;
}

int ft_tokenizer_save(const ft_tokenizer *t, const char *path, int force, ft_err *err)
{
    size_t n;
    char *s = ft_tokenizer_to_json(t, &n, err);
    if (!s)
        return -1;
    ft_out o;
    int rc = ft_out_begin(&o, path, 0, force, err);
    if (rc == 0 && (ft_write_file(o.tmp, s, n, err) < 0 || ft_out_commit(&o, err) < 0)) {
        ft_out_abort(&o);
        rc = -1;
    }
    free(s);
    return rc;
}
