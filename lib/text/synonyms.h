/* synonyms: an in-memory synonym dictionary, word -> list of synonyms.
 *
 * Filled from WordNet (wordnet.h), from a user's tab-separated file, or pair
 * by pair; then frozen with ft_syn_finish, after which look-ups are O(1),
 * allocation-free and safe from many threads. Words are matched in lower
 * case (ft_words_lower); synonyms keep their own spelling ("Saturday",
 * "look into"). A word's list has no duplicates and never the word itself,
 * and keeps the order in which pairs were added, so a seeded random choice
 * from it is the same on every machine.
 *
 * Synonym file (--synonyms): UTF-8 text, one line per word,
 *     word<TAB>synonym[<TAB>synonym...]
 * blank lines and lines starting with '#' skipped. Pairs are directed: list
 * both directions when both are wanted.
 *
 * Not here: choosing among synonyms, stop words (augment). */
#ifndef FT_TEXT_SYNONYMS_H
#define FT_TEXT_SYNONYMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct ft_synonyms ft_synonyms;

ft_synonyms *ft_syn_new(ft_err *err);
void ft_syn_free(ft_synonyms *s);

/* Add "syn is a synonym of word" (word in any case). Before ft_syn_finish. */
int ft_syn_add(ft_synonyms *s, const char *word, size_t word_len, const char *syn,
               size_t syn_len, ft_err *err);
/* Add a group of mutual synonyms (a WordNet synset): each member becomes a
 * synonym of every other member. */
int ft_syn_add_group(ft_synonyms *s, const char *const *words, const size_t *lens, size_t n,
                     ft_err *err);
/* Add the pairs of a synonym file (format above). Errors name the file and
 * line. */
int ft_syn_load_tsv(ft_synonyms *s, const char *path, ft_err *err);
/* Build the look-up lists; no adding afterwards. */
int ft_syn_finish(ft_synonyms *s, ft_err *err);

/* The synonyms of a word given in lower case: their count (0 when none) and
 * their ids in *ids (valid while s lives). */
uint32_t ft_syn_lookup(const ft_synonyms *s, const char *lower, size_t len,
                       const uint32_t **ids);
/* The same with the word's ft_syn_hash given, and a hint to fetch the
 * memory a look-up of that hash will read: hashing and prefetching every
 * word of a text before looking any up overlaps their cache misses. */
uint64_t ft_syn_hash(const char *lower, size_t len);
void ft_syn_prefetch(const ft_synonyms *s, uint64_t h);
uint32_t ft_syn_lookup_hashed(const ft_synonyms *s, const char *lower, size_t len,
                              uint64_t h, const uint32_t **ids);
/* The spelling of a synonym id and its length. */
const char *ft_syn_str(const ft_synonyms *s, uint32_t id, size_t *len);
/* Words that have at least one synonym. */
uint32_t ft_syn_count_words(const ft_synonyms *s);
/* The longest word (in bytes) written in a script without spaces: bounds
 * the longest-match cutting of such text (0: none). */
size_t ft_syn_max_tight_bytes(const ft_synonyms *s);
/* For ft_words_dict: non-zero when s (in lower case) has synonyms. */
int ft_syn_has(const void *syn, const char *s, size_t len);

#endif
