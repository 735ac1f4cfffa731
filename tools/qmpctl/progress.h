/*
 * A progress line: bar, percentage, amounts, rate and ETA.  On a terminal
 * it is redrawn in place; elsewhere it is printed as a plain line when the
 * status or the whole percentage changes.
 */
#ifndef QMPCTL_PROGRESS_H
#define QMPCTL_PROGRESS_H

#include <stdio.h>

typedef struct progress {
    FILE      *f;
    int        tty;
    long long  last_ms;      /* time of the previous sample, -1 before the first */
    double     last_done;
    double     rate;         /* units per second, smoothed; < 0 unknown */
    int        drawn;        /* a line is on the terminal, to be redrawn */
    char       last_line[256];
} progress;

void progress_init(progress *p, FILE *f);

/* A new sample at now_ms: done of total (total 0: unknown), with a label and a status word. */
void progress_update(progress *p, long long now_ms, const char *label, const char *status,
                     double done, double total);

/* Ends the bar: prints text as the final line. */
void progress_finish(progress *p, const char *text);

#endif
