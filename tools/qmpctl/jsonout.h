/* Printing JSON: pretty (indented) or compact, coloured or not, uint64 exact. */
#ifndef QMPCTL_JSONOUT_H
#define QMPCTL_JSONOUT_H

#include <stdio.h>

#include <jansson.h>

#include "cli.h"

typedef struct jsonout_style {
    int pretty;
    int color;
} jsonout_style;

/* The style for stream f: pretty on a terminal unless --compact; colour per --color (and NO_COLOR). */
jsonout_style jsonout_style_for(const cli *o, FILE *f);

/* Prints v and a newline. */
void jsonout_print(FILE *f, const json_t *v, const jsonout_style *s);

#endif
