/* wordnet: WordNet 3.0 synonyms into a synonym dictionary.
 *
 * Reads the four data files (data.noun, data.verb, data.adj, data.adv) of a
 * WordNet dict directory (Debian's wordnet-base: /usr/share/wordnet) once and
 * adds each synset as a group of mutual synonyms: two words are synonyms when
 * they share a synset, in any part of speech. Multi-word lemmas come with
 * spaces ("look into"), adjective markers ("(a)", "(p)", "(ip)") removed.
 *
 * Why the files and not libwordnet (wordnet-dev): the library answers one
 * word at a time by binary search over the index file on disk (fseek and
 * read per probe), keeps its results in static buffers (not thread-safe) and
 * returns linked lists to walk and free. Reading the data files once takes
 * about 0.1 s and leaves a hash table whose look-ups cost ~50 ns, allocate
 * nothing and may run in any number of threads: what an augmenter that
 * looks up every word of every record needs.
 *
 * Not here: morphology. WordNet's morphy (which maps "movies" to "movie")
 * is not applied; an inflected form has synonyms only when WordNet lists
 * that form itself, so replacements never change a word's inflection. */
#ifndef FT_TEXT_WORDNET_H
#define FT_TEXT_WORDNET_H

#include "core/err.h"
#include "text/synonyms.h"

/* The dict directory: $WNSEARCHDIR when set, else /usr/share/wordnet. */
const char *ft_wordnet_default_dir(void);

/* Add every synset of the WordNet files in dir (NULL: the default) to s.
 * Errors name the file and line. */
int ft_wordnet_load(ft_synonyms *s, const char *dir, ft_err *err);

#endif
