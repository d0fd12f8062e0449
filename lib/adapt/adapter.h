/* adapter: the one place that tells adapter kinds apart. A PEFT adapter
 * directory says what it is in adapter_config.json's "peft_type"; programs
 * that take -a ADAPTER (ft-gen, ft-label, ft-eval) and ft-train's
 * --init-adapter ask here, then use the kind's own module (lora.h,
 * prefix.h).
 *
 * Not here: loading or applying either kind. */
#ifndef FT_ADAPT_ADAPTER_H
#define FT_ADAPT_ADAPTER_H

#include "core/err.h"

enum ft_adapter_kind { FT_ADAPTER_LORA = 1, FT_ADAPTER_PREFIX = 2 };

/* The kind of the adapter directory dir: FT_ADAPTER_LORA ("LORA") or
 * FT_ADAPTER_PREFIX ("PREFIX_TUNING"), or -1 with a message naming the file
 * (no adapter_config.json, not JSON, no or another peft_type). */
int ft_adapter_kind(const char *dir, ft_err *err);

#endif
