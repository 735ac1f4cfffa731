/* KEY=VALUE words to a JSON object: a VALUE is JSON where it parses, else a string; a.b=1 nests. */
#ifndef QMPCTL_KVARGS_H
#define QMPCTL_KVARGS_H

#include <jansson.h>

/* VALUE as JSON if it parses, else as a string.  New reference, NULL if not UTF-8. */
json_t *kvargs_value(const char *text);

/*
 * Adds each KEY=VALUE word to obj.  A dotted key builds nested objects.
 * Returns 0, or -1 after printing what is wrong (no '=', empty key part,
 * a member given twice or both as a value and as an object).
 */
int kvargs_add(json_t *obj, char *const *words, int n);

#endif
