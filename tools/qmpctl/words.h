/*
 * Splitting a shell line into words as /bin/sh would, without its
 * expansions (GLib's g_shell_parse_argv): blanks separate, '...' and "..."
 * quote, \ escapes.
 */
#ifndef QMPCTL_WORDS_H
#define QMPCTL_WORDS_H

#include <stddef.h>

typedef struct words {
    char **v;   /* NULL-terminated */
    int    n;
} words;

/*
 * Returns 0 (a blank line has no words), or -1 with why in error (of size
 * bytes): an unterminated quote, for one.
 */
int words_split(const char *line, words *out, char *error, size_t size);
void words_free(words *w);

#endif
