/* template: how an instruction, chat or classification record becomes the
 * text a model trains on, and which parts carry loss.
 *
 * A rendered example is a list of segments in order. Each segment is either
 * context (no loss) or target (loss), and may ask for the tokenizer's EOS id
 * after it. The caller tokenizes the segments separately and concatenates
 * the ids, so the loss mask is exact whatever merges the tokenizer would
 * have made across a boundary. BOS is the tokenizer's business
 * (add_bos_token), so no template writes a BOS string of its own.
 *
 * Built-in templates follow the formats their models were tuned with:
 *   plain   the prompt, then the response (no wrapping)
 *   alpaca  LLaMA-Factory's alpaca: a default system line, "### Instruction:",
 *           "### Response:", EOS after the response, "\n\n" between turns
 *   chatml  Qwen2's "<|im_start|>ROLE\n...<|im_end|>\n" turns
 *   llama2  Meta's "[INST] ... [/INST]" with "<<SYS>>" inside the first turn,
 *           EOS after each answer
 *   llama3  Meta's "<|start_header_id|>ROLE<|end_header_id|>\n\n...<|eot_id|>"
 *           turns (the tokenizer adds <|begin_of_text|> as its BOS)
 * A custom template is a string holding {prompt} or {text}: the response
 * follows it directly.
 *
 * Not here: tokenization, truncation, the label set. */
#ifndef FT_TEXT_TEMPLATE_H
#define FT_TEXT_TEMPLATE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "text/tokenizer.h"

typedef struct ft_segment {
    size_t off, len; /* bytes in ft_rendered.text */
    int target;      /* tokens of this segment carry loss */
    int eos_after;   /* append the EOS id after this segment (with its target flag) */
    int bos_before;  /* put the BOS id before this segment (Llama 2's later turns) */
} ft_segment;

typedef struct ft_rendered {
    char *text; /* all segments' bytes, back to back */
    size_t len, cap;
    ft_segment *seg;
    size_t n_seg, seg_cap;
} ft_rendered;

typedef struct ft_template ft_template;

/* A conversation turn: role is "system", "user" or "assistant". */
typedef struct ft_turn {
    const char *role;
    const char *content;
    size_t len;
} ft_turn;

/* A built-in template by name, or a custom one from a string holding
 * {prompt} or {text}. Errors name the problem (an unknown name, a string
 * without a placeholder). Free with ft_template_free. */
ft_template *ft_template_new(const char *name_or_string, ft_err *err);
void ft_template_free(ft_template *t);
/* The name or string given to ft_template_new (kept in model metadata). */
const char *ft_template_spec(const ft_template *t);

void ft_rendered_init(ft_rendered *r);
void ft_rendered_reset(ft_rendered *r);
void ft_rendered_free(ft_rendered *r);

/* Instruction tuning: prompt as context, response as target followed by EOS.
 * system may be NULL (the template's default system text, if any). */
int ft_template_sft(const ft_template *t, ft_rendered *out, const char *system,
                    const char *prompt, size_t prompt_len, const char *response,
                    size_t response_len, ft_err *err);

/* Chat: every assistant turn is a target followed by EOS, every other turn
 * context. A leading system turn replaces the default system text; a system
 * turn elsewhere, an unknown role, or no assistant turn is an error. */
int ft_template_chat(const ft_template *t, ft_rendered *out, const ft_turn *turns,
                     size_t n_turns, ft_err *err);

/* Classification: the text as the prompt, the label word as the target, no
 * EOS. For plain and custom templates the label word follows one space
 * (label words keep their leading space, as a language model sees a word
 * inside a sentence); chat templates put it where an answer goes. */
int ft_template_classify(const ft_template *t, ft_rendered *out, const char *text,
                         size_t text_len, const char *label_word, size_t label_len,
                         ft_err *err);

/* The token ids of a rendering: the tokenizer's BOS ids first (what
 * FT_TOK_ADD_SPECIAL puts before a text: add_bos_token), then every segment
 * tokenized on its own without special ids added, BOS before a segment
 * that asks for it, EOS after one that asks for it. The ids are appended
 * to *ids (*n of *cap entries, grown as needed) and mask[i] (grown beside
 * it, same capacity) is 1 where token i carries loss (target segments and
 * their EOS). A segment asking for BOS or EOS when the tokenizer has none
 * is an error. */
int ft_rendered_encode(ft_tokenizer *tok, const ft_rendered *r, int32_t **ids,
                       uint8_t **mask, size_t *n, size_t *cap, ft_err *err);

#endif
