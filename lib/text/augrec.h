/* augrec: the rewrites of one record, as records.
 *
 * Rewrite k of a record is the record with every key kept, byte for byte
 * and in order, except: "id" becomes the string "<id>#k" (an integer id 7
 * gives "7#1"), the text field holds the rewritten text, the keys aug,
 * aug_of and aug_seed of an earlier augmentation and "tokens" (the token
 * ids of the old text) are dropped, and aug_of (the id's own msgpack bytes),
 * aug (the operations) and aug_seed (the run's seed) are appended.
 *
 * Not here: the operations (augment.h), reading and writing streams. */
#ifndef FT_TEXT_AUGREC_H
#define FT_TEXT_AUGREC_H

#include <stdint.h>

#include "core/err.h"
#include "data/records.h"
#include "text/augment.h"

/* Build the num_aug rewrites of rec into out[0 .. num_aug) (initialised
 * builders, reset here), rewriting the string field field with the run's
 * seed. *n_unchanged (may be NULL) is increased by the rewrites equal to the
 * text. Errors (no id, an id neither string nor integer, no field, not a
 * string, invalid UTF-8) name the id when known: 'id "r7": text: invalid
 * UTF-8 at byte 3'; the caller adds the record's position. */
int ft_augrec_build(ft_aug_work *w, const ft_record *rec, const char *field,
                    uint32_t num_aug, uint64_t seed, ft_rec_builder *out,
                    uint32_t *n_unchanged, ft_err *err);

#endif
