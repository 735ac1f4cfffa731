/*
 * SIGINT, SIGTERM, SIGHUP and SIGPIPE: a launched QEMU must not outlive
 * qmpctl.  By default a signal kills and reaps QEMU, removes its directory
 * and then ends qmpctl with that signal.  The shell defers instead: the
 * signal number is written to a pipe it polls.
 */
#ifndef QMPCTL_SIGNALS_H
#define QMPCTL_SIGNALS_H

#include <signal.h>

void signals_install(void);

/* fd >= 0: write each signal's number (one byte) to fd instead; -1: back to the default. */
void signals_defer_to(int fd);

/* Blocks (1) or unblocks (0) the handled signals, around changes they must not interrupt. */
void signals_block(int block);

#endif
