/*
 * --launch: a private QEMU in a private directory, alive exactly as long as
 * qmpctl.  It is killed, reaped and its directory removed by launch_stop()
 * (registered with atexit), or by the signal handler (signals.h); should
 * qmpctl die otherwise, the kernel kills it (PR_SET_PDEATHSIG).
 */
#ifndef QMPCTL_LAUNCH_H
#define QMPCTL_LAUNCH_H

#include <sys/types.h>

/*
 * Starts $QEMU_SYSTEM (default qemu-system-x86_64) -M none -nodefaults
 * -display none -qmp unix:DIR/qmp.sock,server=on,wait=off EXTRA...
 * Returns 0, or -1 after printing why.  *socket_path is borrowed.
 */
int launch_start(char *const *extra, int n_extra, int verbose, const char **socket_path);

/* 1 while the launched QEMU runs; 0 after it exited, then *why says how ("exited with status 1"). */
int launch_alive(char *why, size_t why_size);

/* Copies QEMU's stdout and stderr so far to our stderr (after a failure). */
void launch_show_log(void);

/* Kills and reaps QEMU and removes the directory.  Idempotent. */
void launch_stop(void);

/* The same, async-signal-safe, for signal handlers. */
void launch_kill_from_signal(void);

#endif
