/* tokenizer: text to token ids and back, exactly as the models' own
 * tokenizers do it.
 *
 * Two families, both BPE:
 *   byte-level BPE (GPT-2, Llama 3, Qwen2, SmolLM): text is cut by a
 *     pre-tokenizer pattern, each piece's UTF-8 bytes are merged;
 *   SentencePiece-style BPE (Llama 2, TinyLlama): spaces become U+2581, a
 *     space is put in front, characters are merged, and characters missing
 *     from the vocabulary become byte tokens <0xNN>.
 * Added tokens (special or not) are matched in the text first, longest
 * leftmost, and never split. A tokenizer comes from a Hugging Face
 * tokenizer.json (with tokenizer_config.json and generation_config.json
 * beside it), from GPT-2's vocab.json + merges.txt (encoder.json +
 * vocab.bpe), or from arrays (what a GGUF file holds); it can be written back
 * as a tokenizer.json.
 *
 * Encoding caches words and owns scratch space: one tokenizer must not
 * encode in two threads at once (load one per thread). Decoding and the
 * accessors are const.
 *
 * Not here: the merge engine (bpe.c), pre-tokenizers (pretok.c),
 * normalizers (normalizer.c), vocabulary training (vocab.c). */
#ifndef FT_TEXT_TOKENIZER_H
#define FT_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum ft_tok_kind { FT_TOK_BYTE_BPE = 1, FT_TOK_SPM_BPE = 2 };

/* Token types, numbered as GGUF's tokenizer.ggml.token_type. Control and
 * user-defined tokens are the added tokens (control ones are special). */
enum ft_tok_type {
    FT_TOKT_NORMAL = 1,
    FT_TOKT_UNKNOWN = 2,
    FT_TOKT_CONTROL = 3,
    FT_TOKT_USER = 4,
    FT_TOKT_UNUSED = 5,
    FT_TOKT_BYTE = 6
};

/* Encoding flags. */
#define FT_TOK_ADD_SPECIAL 1   /* BOS/EOS as the tokenizer's configuration says */
#define FT_TOK_SPLIT_SPECIAL 2 /* special tokens' text in the input is plain text */
#define FT_TOK_FIX_UTF8 4      /* invalid UTF-8 becomes U+FFFD instead of an error */
/* Decoding flags. */
#define FT_TOK_SKIP_SPECIAL 8  /* leave special (control) tokens out */

typedef struct ft_tokenizer ft_tokenizer;

/* Load from a model directory (tokenizer.json, else vocab.json + merges.txt,
 * else encoder.json + vocab.bpe) or from one of those files; the
 * tokenizer_config.json and generation_config.json in the same directory
 * are read when present. Errors name the file and the problem. */
ft_tokenizer *ft_tokenizer_load(const char *path, ft_err *err);
/* A tokenizer.json held in memory; name is used in messages. */
ft_tokenizer *ft_tokenizer_load_json(const char *json, size_t n_bytes, const char *name,
                                     ft_err *err);

/* The tokenizer files of a model held in memory (read from an archive, for
 * instance with ft_checkpoint_read_file); NULL data means the file is
 * absent. tokenizer.json is required. name prefixes messages
 * ("NAME/tokenizer_config.json: ..."). */
typedef struct ft_tok_files {
    const char *tokenizer_json;
    size_t tokenizer_json_bytes;
    const char *tokenizer_config;      /* tokenizer_config.json */
    size_t tokenizer_config_bytes;
    const char *generation_config;     /* generation_config.json */
    size_t generation_config_bytes;
} ft_tok_files;
ft_tokenizer *ft_tokenizer_load_files(const ft_tok_files *files, const char *name,
                                      ft_err *err);

/* A tokenizer from arrays, as GGUF files describe one. Strings are copied. */
typedef struct ft_tok_spec {
    int kind;                      /* FT_TOK_BYTE_BPE or FT_TOK_SPM_BPE */
    size_t n_tokens;
    const char *const *tokens;     /* by id: GPT-2 byte stand-ins ("Ġthe") or
                                    * SentencePiece pieces ("▁the", "<0x0A>") */
    const float *scores;           /* by id, or NULL */
    const int32_t *types;          /* by id (enum ft_tok_type), or NULL: control
                                    * for bos/eos/unk ids, byte for <0xNN>
                                    * (SPM), else normal */
    size_t n_merges;
    const char *const *merges;     /* "left right", first merges first; SPM with
                                    * none: pairs merge by their token's score */
    size_t n_patterns;
    const char *const *patterns;   /* byte-level pre-tokenizer regexes, applied in
                                    * turn, matches isolated; none: GPT-2's */
    int ignore_merges;             /* a word found whole in the vocabulary is one
                                    * token (Llama 3) */
    int add_space_prefix;          /* SPM: a space before the text and after each
                                    * added token (llama.cpp's default is 1) */
    int nfc;                       /* NFC-normalize first (Qwen2) */
    int32_t bos_id, eos_id, unk_id, pad_id;  /* -1: none */
    size_t n_eos_extra;
    const int32_t *eos_extra;      /* more ids that end generation (EOT, EOM) */
    int add_bos, add_eos;          /* what FT_TOK_ADD_SPECIAL adds */
} ft_tok_spec;

/* A spec with every id -1 and everything else 0. */
void ft_tokenizer_spec_init(ft_tok_spec *spec);
ft_tokenizer *ft_tokenizer_build(const ft_tok_spec *spec, ft_err *err);
void ft_tokenizer_free(ft_tokenizer *t);

/* Encode n_bytes of text, appending the ids to *ids (which holds *n_ids
 * already, in *cap entries; grown as needed, the caller frees it; set
 * *n_ids = 0 to start afresh). Invalid UTF-8 is an error "invalid UTF-8 at
 * byte N" unless FT_TOK_FIX_UTF8. The signature fits lib/train's
 * ft_encode_fn once flags are bound. */
int ft_tokenizer_encode(ft_tokenizer *t, const char *text, size_t n_bytes, int flags,
                        int32_t **ids, size_t *n_ids, size_t *cap, ft_err *err);

/* Decode ids into a new NUL-terminated string (*text, caller frees). Bytes
 * that do not form UTF-8 (a character cut between tokens at the end, stray
 * byte tokens) become U+FFFD. SentencePiece's leading space is removed from
 * the first token. An id outside the vocabulary is an error. */
int ft_tokenizer_decode(const ft_tokenizer *t, const int32_t *ids, size_t n_ids, int flags,
                        char **text, size_t *n_bytes, ft_err *err);

/* Decoding one id at a time (generation): only whole characters come out, the
 * bytes of a character split across tokens wait for the rest. */
typedef struct ft_tok_stream {
    unsigned char pending[4];
    int n_pending;
    int at_start;   /* the next token starts the text (SentencePiece space) */
    int flags;
} ft_tok_stream;

/* at_start: 1 when decoding from the beginning of a text, 0 for a
 * continuation (the first token's space is kept). */
void ft_tokenizer_stream_init(ft_tok_stream *s, int flags, int at_start);
/* The text id adds, into buf of at least ft_tokenizer_stream_cap() bytes. */
int ft_tokenizer_stream_next(const ft_tokenizer *t, ft_tok_stream *s, int32_t id, char *buf,
                             size_t cap, size_t *n_bytes, ft_err *err);
/* Whatever is still pending, as U+FFFD (3 bytes at most into buf). */
size_t ft_tokenizer_stream_end(ft_tok_stream *s, char *buf);

/* --- What a tokenizer is ---------------------------------------------------- */

int ft_tokenizer_kind(const ft_tokenizer *t);
/* Ids run from 0 to n_vocab - 1 (added tokens included; there may be ids
 * without a token). */
int32_t ft_tokenizer_n_vocab(const ft_tokenizer *t);
/* -1 when there is none. */
int32_t ft_tokenizer_bos(const ft_tokenizer *t);
int32_t ft_tokenizer_eos(const ft_tokenizer *t);
int32_t ft_tokenizer_unk(const ft_tokenizer *t);
int32_t ft_tokenizer_pad(const ft_tokenizer *t);
/* Every id that ends generation: the EOS token and generation_config.json's
 * eos_token_id list (Llama 3's <|eot_id|>). */
size_t ft_tokenizer_eos_ids(const ft_tokenizer *t, const int32_t **ids);
int ft_tokenizer_is_eos(const ft_tokenizer *t, int32_t id);
/* What FT_TOK_ADD_SPECIAL puts before and after the text. */
size_t ft_tokenizer_prefix(const ft_tokenizer *t, const int32_t **ids);
size_t ft_tokenizer_suffix(const ft_tokenizer *t, const int32_t **ids);

/* The token's string as the vocabulary spells it ("Ġthe", "▁the", "<s>"),
 * NULL for an id without a token. */
const char *ft_tokenizer_token(const ft_tokenizer *t, int32_t id);
int ft_tokenizer_token_type(const ft_tokenizer *t, int32_t id);
/* The score of a token (0 when the tokenizer has none). */
float ft_tokenizer_score(const ft_tokenizer *t, int32_t id);
int ft_tokenizer_has_scores(const ft_tokenizer *t);
/* The bytes a token decodes to (no leading-space rule). */
const char *ft_tokenizer_token_bytes(const ft_tokenizer *t, int32_t id, size_t *n_bytes);
size_t ft_tokenizer_max_token_bytes(const ft_tokenizer *t);
/* A buffer that holds what any one token adds to a stream: every byte that
 * is not valid UTF-8 becomes U+FFFD (3 bytes), so 3 x (the longest token
 * + 3 bytes held back from the token before) + 3. */
size_t ft_tokenizer_stream_cap(const ft_tokenizer *t);
/* The id of a token spelled as in the vocabulary, or of an added token's
 * text; -1 when there is none. */
int32_t ft_tokenizer_lookup(const ft_tokenizer *t, const char *token);

/* Merges in rank order (for writers); SPM tokenizers merging by score list
 * the pairs they derived. */
size_t ft_tokenizer_n_merges(const ft_tokenizer *t);
void ft_tokenizer_merge(const ft_tokenizer *t, size_t i, int32_t *left, int32_t *right);
/* The byte-level pre-tokenizer patterns (GPT-2's when the file names none);
 * 0 for SPM or a pre-tokenizer that is not a list of regexes. */
size_t ft_tokenizer_patterns(const ft_tokenizer *t, const char *const **patterns);
/* add_bos / add_eos as FT_TOK_ADD_SPECIAL applies them. */
int ft_tokenizer_adds_bos(const ft_tokenizer *t);
int ft_tokenizer_adds_eos(const ft_tokenizer *t);

/* --- Writing ---------------------------------------------------------------- */

/* The tokenizer as a Hugging Face tokenizer.json (new string, caller frees). */
char *ft_tokenizer_to_json(const ft_tokenizer *t, size_t *n_bytes, ft_err *err);
/* Write it to a file, atomically; an existing file is refused unless
 * force. */
int ft_tokenizer_save(const ft_tokenizer *t, const char *path, int force, ft_err *err);

#endif
