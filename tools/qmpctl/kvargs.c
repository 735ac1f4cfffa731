#include "kvargs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"

json_t *kvargs_value(const char *text)
{
    json_t *v = *text ? qmp_json_parse(text, strlen(text)) : NULL;
    return v ? v : json_string(text);
}

/* Sets key (dotted, length key_len) to value under obj; steals value. */
static int set_path(json_t *obj, const char *key, size_t key_len, json_t *value, const char *word)
{
    const char *dot = memchr(key, '.', key_len);
    size_t part_len = dot ? (size_t)(dot - key) : key_len;
    if (part_len == 0 || (dot && dot + 1 == key + key_len)) {
        warn_msg("'%s': empty name in the key", word);
        json_decref(value);
        return -1;
    }
    char *part = strndup(key, part_len);
    if (!part) {
        json_decref(value);
        return -1;
    }
    json_t *existing = json_object_get(obj, part);
    int rc = 0;
    if (!dot) {
        if (existing) {
            warn_msg("'%s': '%s' is given twice", word, part);
            json_decref(value);
            rc = -1;
        } else {
            json_object_set_new(obj, part, value);
        }
    } else {
        if (!existing) {
            existing = json_object();
            json_object_set_new(obj, part, existing);
        }
        if (!json_is_object(existing)) {
            warn_msg("'%s': '%s' is already a value, not an object", word, part);
            json_decref(value);
            rc = -1;
        } else {
            rc = set_path(existing, dot + 1, key_len - part_len - 1, value, word);
        }
    }
    free(part);
    return rc;
}

int kvargs_add(json_t *obj, char *const *words, int n)
{
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(words[i], '=');
        if (!eq) {
            warn_msg("'%s': expected KEY=VALUE", words[i]);
            return -1;
        }
        json_t *value = kvargs_value(eq + 1);
        if (!value) {
            warn_msg("'%s': the value is not valid UTF-8", words[i]);
            return -1;
        }
        if (set_path(obj, words[i], (size_t)(eq - words[i]), value, words[i]) < 0) return -1;
    }
    return 0;
}
