/* adapter: an adapter directory's kind from its peft_type (adapter.h). */
#include "adapt/adapter.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsout.h"

int ft_adapter_kind(const char *dir, ft_err *err)
{
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {{"LORA", FT_ADAPTER_LORA}, {"PREFIX_TUNING", FT_ADAPTER_PREFIX}};
    char *path = ft_path_join(dir, "adapter_config.json", err), *text = NULL;
    size_t n_bytes;
    json_error_t jerr;
    int kind = -1;

    if (!path || ft_read_file(path, 1 << 20, &text, &n_bytes, err) < 0) {
        free(path);
        return -1;
    }
    json_t *c = json_loadb(text, n_bytes, 0, &jerr);
    const json_t *t = json_object_get(c, "peft_type");
    if (!c) {
        ft_err_set(err, "%s: line %d: %s", path, jerr.line, jerr.text);
    } else if (!json_is_string(t)) {
        ft_err_set(err, "%s: no \"peft_type\"", path);
    } else {
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0] && kind < 0; i++)
            if (!strcmp(json_string_value(t), kinds[i].name))
                kind = kinds[i].kind;
        if (kind < 0)
            ft_err_set(err, "%s: adapters of peft_type %s are not supported (LORA and "
                       "PREFIX_TUNING are)", path, json_string_value(t));
    }
    json_decref(c);
    free(text);
    free(path);
    return kind;
}
