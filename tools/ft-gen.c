/* ft-gen: sample a continuation of a prompt from a model, optionally with a
 * LoRA or P-tuning v2 adapter applied. Sampling and the KV cache are
 * lib/model/sample.c, tokenizing lib/text; this file reads options, builds
 * the prompt and writes what comes out (text, or ids with --print-ids),
 * watching for --stop strings in the decoded text. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt/adapter.h"
#include "adapt/lora.h"
#include "adapt/prefix.h"
#include "core/progress.h"
#include "model/checkpoint.h"
#include "model/convert.h"
#include "model/sample.h"
#include "prog.h"
#include "text/tokenizer.h"

#define MAX_STOPS 8

enum {
    OPT_IDS = FT_OPT_FIRST_PRIVATE,
    OPT_PRINT_IDS,
    OPT_TEMP,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_STOP,
    OPT_STOP_IDS,
    OPT_TOKENIZER,
    OPT_ECHO,
    OPT_NO_SPECIAL,
    OPT_KEEP_SPECIAL,
    OPT_IGNORE_EOS,
};

struct options {
    const char *model, *tokenizer, *adapter;
    const char *prompt;          /* -p; NULL with --ids, else stdin */
    int32_t *ids, *stop_ids;     /* --ids, --stop-ids */
    int n_ids, n_stop_ids;
    const char *stops[MAX_STOPS];
    int n_stops;
    int print_ids, echo, no_special, keep_special, ignore_eos;
    long max_tokens, top_k;
    double temp, top_p;
};

/* The output side: what was generated so far and how much of it is out.
 * With --stop strings the decoded text is kept whole, and ends[i] is its
 * length after the i-th new token: text (or the ids of the tokens) is
 * written only up to the first point where a stop string could begin. */
struct out {
    const struct options *o;
    const ft_tokenizer *tok;     /* NULL: ids only, no stop strings */
    ft_tok_stream st;
    char *piece;                 /* one token's text */
    size_t piece_cap;
    char *text;
    size_t len, cap, printed;    /* bytes of text, of it written */
    int32_t *ids;
    size_t *ends;
    int n_ids, n_cap, printed_ids;
    int32_t n_vocab;
    int failed, stopped;
    ft_err err;
};

static void usage(int status)
{
    FILE *f = status ? stderr : stdout;
    fprintf(f,
            "usage: ft-gen -m MODEL [-p TEXT | --ids LIST] [options]\n"
            "Sample a continuation of a prompt from a model and write it to standard\n"
            "output. The prompt is TEXT, the token ids of LIST, or else standard input.\n"
            "\n"
            "  -m, --model MODEL       a Hugging Face directory or archive, a GGUF file or a\n"
            "                          llama2.c checkpoint (.bin)\n"
            "  -p, --prompt TEXT       the prompt, tokenized with the model's tokenizer\n"
            "      --ids LIST          the prompt as token ids (\"1,2,3\")\n"
            "  -a, --adapter DIR       apply a LoRA or prefix-tuning adapter (PEFT layout)\n"
            "      --tokenizer PATH    the tokenizer of PATH (tokenizer.json or a model)\n"
            "  -n, --max-tokens N      new tokens at most (default 256; the context ends it)\n"
            "      --temp T            temperature; 0 is greedy (default 1)\n"
            "      --top-k K           keep the K likeliest tokens (default 0: all)\n"
            "      --top-p P           keep the likeliest tokens holding P of the\n"
            "                          probability (default 1: all)\n"
            "      --stop STRING       end before STRING appears in the text (repeatable)\n"
            "      --stop-ids LIST     end before this sequence of ids\n"
            "      --ignore-eos        do not end at the end-of-sequence token\n"
            "      --print-ids         write the new ids (space-separated) instead of text\n"
            "      --echo              write the prompt before the continuation\n"
            "      --no-special        do not add BOS/EOS around the prompt text\n"
            "      --keep-special      write special tokens' text (default: leave out)\n"
            FT_PROG_HELP);
    exit(status);
}

/* "1,2,3" or "1 2 3" into a new array; exit 2 naming opt when bad. */
static int32_t *parse_ids(const char *opt, const char *s, int *n)
{
    size_t len = strlen(s);
    int32_t *ids = malloc((len / 2 + 1) * sizeof *ids);
    const char *p = s;

    if (!ids)
        ft_prog_fail("out of memory");
    *n = 0;
    while (*p) {
        char *end;
        if (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n') {
            p++;
            continue;
        }
        long v = strtol(p, &end, 10);
        if (end == p || (*end && !strchr(", \t\n", *end)) || v < 0 || v > INT32_MAX) {
            int w = (int)strcspn(p, ", \t\n");
            ft_prog_usage_error("%s: \"%.*s\" is not a token id", opt, w, p);
        }
        ids[(*n)++] = (int32_t)v;
        p = end;
    }
    if (*n == 0)
        ft_prog_usage_error("%s: no token ids", opt);
    return ids;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"model", required_argument, 0, 'm'},
        {"prompt", required_argument, 0, 'p'},
        {"adapter", required_argument, 0, 'a'},
        {"max-tokens", required_argument, 0, 'n'},
        {"ids", required_argument, 0, OPT_IDS},
        {"print-ids", no_argument, 0, OPT_PRINT_IDS},
        {"temp", required_argument, 0, OPT_TEMP},
        {"top-k", required_argument, 0, OPT_TOP_K},
        {"top-p", required_argument, 0, OPT_TOP_P},
        {"stop", required_argument, 0, OPT_STOP},
        {"stop-ids", required_argument, 0, OPT_STOP_IDS},
        {"tokenizer", required_argument, 0, OPT_TOKENIZER},
        {"echo", no_argument, 0, OPT_ECHO},
        {"no-special", no_argument, 0, OPT_NO_SPECIAL},
        {"keep-special", no_argument, 0, OPT_KEEP_SPECIAL},
        {"ignore-eos", no_argument, 0, OPT_IGNORE_EOS},
        FT_PROG_LONG,
    };
    int c;

    o->max_tokens = 256;
    o->temp = 1.0;
    o->top_p = 1.0;
    while ((c = getopt_long(argc, argv, FT_PROG_SHORT "m:p:a:n:", longopts, NULL)) != -1) {
        if (ft_prog_common(c, optarg, usage))
            continue;
        switch (c) {
        case 'm': o->model = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'a': o->adapter = optarg; break;
        case 'n': o->max_tokens = ft_prog_long("--max-tokens", optarg, 0, 1 << 24); break;
        case OPT_IDS:
            free(o->ids);
            o->ids = parse_ids("--ids", optarg, &o->n_ids);
            break;
        case OPT_PRINT_IDS: o->print_ids = 1; break;
        case OPT_TEMP: o->temp = ft_prog_double("--temp", optarg, 0, 1e6); break;
        case OPT_TOP_K: o->top_k = ft_prog_long("--top-k", optarg, 0, INT32_MAX); break;
        case OPT_TOP_P:
            o->top_p = ft_prog_double("--top-p", optarg, 0, 1);
            if (o->top_p <= 0)
                ft_prog_usage_error("--top-p: must be above 0");
            break;
        case OPT_STOP:
            if (!*optarg)
                ft_prog_usage_error("--stop: empty string");
            if (o->n_stops == MAX_STOPS)
                ft_prog_usage_error("--stop: at most %d strings", MAX_STOPS);
            o->stops[o->n_stops++] = optarg;
            break;
        case OPT_STOP_IDS:
            free(o->stop_ids);
            o->stop_ids = parse_ids("--stop-ids", optarg, &o->n_stop_ids);
            break;
        case OPT_TOKENIZER: o->tokenizer = optarg; break;
        case OPT_ECHO: o->echo = 1; break;
        case OPT_NO_SPECIAL: o->no_special = 1; break;
        case OPT_KEEP_SPECIAL: o->keep_special = 1; break;
        case OPT_IGNORE_EOS: o->ignore_eos = 1; break;
        default: usage(2);
        }
    }
    if (optind < argc)
        ft_prog_usage_error("unexpected argument \"%s\" (the prompt goes after -p)",
                            argv[optind]);
    if (!o->model)
        ft_prog_usage_error("-m MODEL is needed (see --help)");
    if (o->prompt && o->ids)
        ft_prog_usage_error("give one of -p TEXT and --ids LIST");
    if (o->ids && o->no_special)
        ft_prog_usage_error("--no-special is for a text prompt");
}

/* All of standard input, less one final newline (what echo adds). */
static char *read_stdin(void)
{
    size_t len = 0, cap = 4096;
    char *s = malloc(cap);
    ssize_t got;

    for (;;) {
        if (!s)
            ft_prog_fail("out of memory");
        got = read(0, s + len, cap - len - 1);
        if (got < 0)
            ft_prog_fail("standard input: %s", strerror(errno));
        if (got == 0)
            break;
        len += got;
        if (cap - len < 2)
            s = realloc(s, cap *= 2);
    }
    if (len > 0 && s[len - 1] == '\n')
        len--;
    s[len] = '\0';
    if (strlen(s) != len)
        ft_prog_fail("standard input: a NUL byte in the prompt");
    return s;
}

/* The prompt as ids: --ids, or text tokenized. *text gets the text (for
 * --echo), NULL with --ids. */
static int32_t *make_prompt(const struct options *o, ft_tokenizer *tok, const ft_model *m,
                            int *n, char **text)
{
    int32_t *ids = NULL;
    size_t n_ids = 0, cap = 0;
    ft_err err;

    *text = NULL;
    if (o->ids) {
        ids = o->ids;
        *n = o->n_ids;
        for (int i = 0; i < *n; i++)
            if (ids[i] >= m->cfg.vocab_size)
                ft_prog_fail("--ids: %d is outside the vocabulary of %s (%d tokens)",
                             ids[i], o->model, m->cfg.vocab_size);
        return ids;
    }
    if (!tok)
        ft_prog_fail("%s: no tokenizer: give the prompt with --ids, or --tokenizer",
                     o->model);
    *text = o->prompt ? strdup(o->prompt) : read_stdin();
    if (!*text)
        ft_prog_fail("out of memory");
    if (ft_tokenizer_encode(tok, *text, strlen(*text),
                            o->no_special ? 0 : FT_TOK_ADD_SPECIAL, &ids, &n_ids, &cap,
                            &err) < 0) {
        ft_err_prefix(&err, "prompt");
        ft_prog_die(&err);
    }
    if (n_ids == 0)
        ft_prog_fail("the prompt is empty (no tokens)");
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i] >= m->cfg.vocab_size)
            ft_prog_fail("prompt: token %d is outside the vocabulary of %s (%d tokens)",
                         ids[i], o->model, m->cfg.vocab_size);
    *n = (int)n_ids;
    return ids;
}

/* Sampling options: the filters, the end-of-sequence ids of the model and
 * its tokenizer, the stop sequence of ids. */
static ft_sample_opts make_sample_opts(const struct options *o, const ft_model *m,
                                       const ft_tokenizer *tok)
{
    ft_sample_opts so = ft_sample_defaults(m);
    const int32_t *eos;
    size_t n_eos = tok ? ft_tokenizer_eos_ids(tok, &eos) : 0;

    so.max_tokens = (int)o->max_tokens;
    so.temperature = (float)o->temp;
    so.top_k = (int)o->top_k;
    so.top_p = (float)o->top_p;
    so.seed = ft_prog.seed;
    for (size_t i = 0; i < n_eos && so.n_eos < FT_SAMPLE_MAX_EOS; i++) {
        int known = 0;
        for (int j = 0; j < so.n_eos; j++)
            known |= so.eos[j] == eos[i];
        if (!known)
            so.eos[so.n_eos++] = eos[i];
    }
    if (o->ignore_eos)
        so.n_eos = 0;
    so.stop = o->stop_ids;
    so.n_stop = o->n_stop_ids;
    return so;
}

/* --- Output -------------------------------------------------------------- */

static void print_id(struct out *w, int32_t id)
{
    printf(w->printed_ids++ ? " %d" : "%d", id);
}

/* Write text and ids up to byte pos of the text. */
static void flush_to(struct out *w, size_t pos)
{
    if (!w->o->print_ids) {
        fwrite(w->text + w->printed, 1, pos - w->printed, stdout);
        w->printed = pos;
        return;
    }
    while (w->printed_ids < w->n_ids && w->ends[w->printed_ids] <= pos)
        print_id(w, w->ids[w->printed_ids]);
}

/* The earliest start of a stop string in text[from, len), or -1; *partial
 * gets the length of the longest tail of the text that begins a stop
 * string. */
static long find_stop(const struct out *w, size_t from, size_t *partial)
{
    long best = -1;

    *partial = 0;
    for (int s = 0; s < w->o->n_stops; s++) {
        const char *stop = w->o->stops[s];
        size_t n = strlen(stop);
        char *at = memmem(w->text + from, w->len - from, stop, n);
        if (at && (best < 0 || at - w->text < best))
            best = at - w->text;
        for (size_t k = n - 1 < w->len ? n - 1 : w->len; k > *partial; k--)
            if (!memcmp(w->text + w->len - k, stop, k)) {
                *partial = k;
                break;
            }
    }
    return best;
}

static int grow(struct out *w, size_t more)
{
    if (w->len + more + 1 > w->cap) {
        size_t cap = (w->len + more + 1) * 2;
        char *t = realloc(w->text, cap);
        if (!t)
            return ft_err_set(&w->err, "out of memory");
        w->text = t;
        w->cap = cap;
    }
    if (w->n_ids == w->n_cap) {
        int n = w->n_cap ? w->n_cap * 2 : 256;
        int32_t *ids = realloc(w->ids, n * sizeof *ids);
        size_t *ends = ids ? realloc(w->ends, n * sizeof *ends) : NULL;
        if (ids)
            w->ids = ids;
        if (!ends)
            return ft_err_set(&w->err, "out of memory");
        w->ends = ends;
        w->n_cap = n;
    }
    return 0;
}

/* ft_sample_emit: one new token, certain to stay. Non-zero ends generation. */
static int emit(void *ctx, int32_t id)
{
    struct out *w = ctx;
    size_t n = 0, partial;

    if (!w->tok) {
        print_id(w, id);
        fflush(stdout);
        return ferror(stdout);
    }
    if (id >= w->n_vocab) {
        ft_err_set(&w->err, "generated token %d has no text in the tokenizer (%d tokens)", id,
                   w->n_vocab);
        return w->failed = 1;
    }
    if (ft_tokenizer_stream_next(w->tok, &w->st, id, w->piece, w->piece_cap, &n, &w->err) < 0 ||
        grow(w, n) < 0)
        return w->failed = 1;
    memcpy(w->text + w->len, w->piece, n);
    w->len += n;
    w->ids[w->n_ids] = id;
    w->ends[w->n_ids++] = w->len;

    /* a whole stop string ends it; a tail that may begin one waits */
    long at = w->o->n_stops ? find_stop(w, w->printed, &partial) : -1;
    if (at >= 0) {
        flush_to(w, (size_t)at);
        return w->stopped = 1;
    }
    flush_to(w, w->len - (w->o->n_stops ? partial : 0));
    fflush(stdout);
    return ferror(stdout);
}

/* What is left after generation: held-back text, a cut character. */
static void out_finish(struct out *w, int stopped)
{
    if (w->tok && !stopped) {
        char tail[8];
        size_t n = ft_tokenizer_stream_end(&w->st, tail);
        if (grow(w, n) == 0) {
            memcpy(w->text + w->len, tail, n);
            w->len += n;
            if (w->n_ids > 0)
                w->ends[w->n_ids - 1] = w->len;
        }
        flush_to(w, w->len);
    }
    putchar('\n');
}

/* --- The run ------------------------------------------------------------- */

/* The prompt's own text for --echo and whether the continuation starts the
 * text (a prompt of special tokens only, such as BOS). */
static int echo_prompt(const struct options *o, const ft_tokenizer *tok, const int32_t *ids,
                       int n, const char *text, int dec_flags)
{
    char *dec = NULL;
    size_t len = 0;
    ft_err err;

    if (!tok || ft_tokenizer_decode(tok, ids, n, FT_TOK_SKIP_SPECIAL, &dec, &len, &err) < 0)
        dec = NULL, len = 0;
    if (o->echo && o->print_ids) {
        for (int i = 0; i < n; i++)
            printf("%d ", ids[i]);
    } else if (o->echo && text) {
        fputs(text, stdout);
    } else if (o->echo && tok) {
        char *shown = NULL;
        size_t n_shown;
        if (ft_tokenizer_decode(tok, ids, n, dec_flags, &shown, &n_shown, &err) < 0)
            ft_prog_die(&err);
        fwrite(shown, 1, n_shown, stdout);
        free(shown);
    }
    free(dec);
    return len == 0;
}

static void load(const struct options *o, ft_model **m, ft_tokenizer **tok)
{
    ft_err err;
    int rc;

    if (!(*m = ft_checkpoint_load(o->model, &err)))
        ft_prog_die(&err);
    rc = ft_convert_tokenizer(o->tokenizer ? o->tokenizer : o->model, tok, &err);
    if (rc < 0)
        ft_prog_die(&err);
    if (rc == 0 && o->tokenizer)
        ft_prog_fail("%s: no tokenizer there", o->tokenizer);
    if (!*tok && (!o->print_ids || o->n_stops))
        ft_prog_fail("%s: no tokenizer, so no text: use --ids with --print-ids (and "
                     "--stop-ids), or --tokenizer", o->model);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct out w = {.o = &o};
    ft_model *m;
    ft_tokenizer *tok = NULL;
    ft_lora *lora = NULL;
    ft_prefix_adapter *pre = NULL;
    int32_t *prompt;
    char *text;
    int n_prompt, n_gen = 0;
    ft_err err;

    ft_prog_init("ft-gen");
    parse_options(argc, argv, &o);
    ft_prog_start();
    load(&o, &m, &tok);
    prompt = make_prompt(&o, tok, m, &n_prompt, &text);
    ft_sample_opts so = make_sample_opts(&o, m, tok);

    /* the adapter: LoRA in the model's seam, a prefix in front of the cache */
    if (o.adapter) {
        int kind = ft_adapter_kind(o.adapter, &err);
        if (kind == FT_ADAPTER_LORA)
            lora = ft_lora_apply(m, o.adapter, &err);
        else if (kind == FT_ADAPTER_PREFIX)
            pre = ft_prefix_apply(m, o.adapter, &err);
        if (!lora && !pre)
            ft_prog_die(&err);
    }

    /* the output side */
    int dec_flags = o.keep_special ? 0 : FT_TOK_SKIP_SPECIAL;
    int at_start = echo_prompt(&o, tok, prompt, n_prompt, text, dec_flags);
    if (tok) {
        w.tok = tok;
        w.n_vocab = ft_tokenizer_n_vocab(tok);
        w.piece_cap = ft_tokenizer_stream_cap(tok);
        if (!(w.piece = malloc(w.piece_cap)))
            ft_prog_fail("out of memory");
        ft_tokenizer_stream_init(&w.st, dec_flags, at_start && !o.echo);
    }

    /* generate */
    ft_progress pg;
    ft_progress_init(&pg, -1);
    int rc = ft_sample_generate(m, pre ? ft_prefix_seam(pre, NULL) : NULL, prompt, n_prompt,
                                &so, NULL, &n_gen, emit, &w, &err);
    if (rc == 0 && lora)
        rc = ft_lora_check(lora, &err);
    if (rc < 0) {
        ft_err_prefix(&err, "%s", o.model);
        ft_prog_die(&err);
    }
    if (w.failed)
        ft_prog_die(&w.err);
    out_finish(&w, w.stopped);
    ft_prog_info("%d prompt tokens, %d new, %.1f tokens/s", n_prompt, n_gen,
                 n_gen / (ft_progress_elapsed(&pg) + 1e-9));

    free(o.stop_ids);
    free(prompt);
    free(text);
    free(w.piece);
    free(w.text);
    free(w.ids);
    free(w.ends);
    ft_lora_free(lora);
    ft_prefix_free(pre);
    ft_tokenizer_free(tok);
    ft_model_free(m);
    return 0;
}
