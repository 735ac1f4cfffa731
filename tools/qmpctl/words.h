/* Splitting a shell line into words: blanks separate, '...' and "..." quote, \ escapes. */
#ifndef QMPCTL_WORDS_H
#define QMPCTL_WORDS_H

typedef struct words {
    char **v;   /* NULL-terminated */
    int    n;
} words;

/* Returns 0, or -1 (and *error) for an unterminated quote or out of memory. */
int words_split(const char *line, words *out, const char **error);
void words_free(words *w);

#endif
