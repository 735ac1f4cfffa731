/* Driving a client from poll() (qmp_client_get_fd/_get_events/_get_timeout_ms/_process). */
#ifndef QMPCTL_LOOP_H
#define QMPCTL_LOOP_H

#include <poll.h>

#include <qmp/qmp.h>

/* Milliseconds on the monotonic clock. */
long long now_ms(void);

/* A deadline timeout_ms from now; -1 (none) for a negative timeout. */
long long deadline_after(int timeout_ms);

/* Milliseconds left until deadline (-1: none), at least 0. */
int ms_left(long long deadline);

/* The pollfd for c now, and the QMP_POLL_* bits that poll() reported in it. */
struct pollfd loop_pollfd(qmp_client *c);
int loop_revents(const struct pollfd *p);

/*
 * Runs c's callbacks until *stop is nonzero (0), the deadline passes
 * (QMP_ETIMEDOUT), or the connection is closed (QMP_ECLOSED).
 */
int loop_run(qmp_client *c, const int *stop, long long deadline);

#endif
