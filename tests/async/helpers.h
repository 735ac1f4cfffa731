/*
 * helpers.h: what the tests in tests/async share: time, the scale of the
 * stress runs, a poll() loop that drives a client, and a tally of one async
 * call's callbacks.
 */
#ifndef QMP_TEST_ASYNC_HELPERS_H
#define QMP_TEST_ASYNC_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>

#include <qmp/qmp.h>

long long t_now_ms(void);
void t_sleep_ms(int ms);
/* LIBQMP_TEST_VALGRIND=1 (set by `meson test --setup=valgrind`). */
int t_valgrind(void);
/* Built with -fsanitize=thread. */
int t_tsan(void);
/* How long a test waits for something that should happen "soon" before failing (10 s; 120 s under valgrind). */
int t_io_timeout_ms(void);
/* n, scaled down under valgrind (by 1/valgrind_div) and TSan (by 1/tsan_div); at least 1. */
int t_scale(int n, int valgrind_div, int tsan_div);

/*
 * Drives c from a poll() loop (get_fd, get_events, get_timeout_ms, process)
 * until *counter >= target.  Returns QMP_OK, QMP_ETIMEDOUT after timeout_ms,
 * or QMP_ECLOSED if the connection closed (and nothing is connecting) first.
 * *asked_out (may be NULL) counts the rounds get_events() included
 * QMP_POLL_OUT.
 */
int pump_until(qmp_client *c, atomic_int *counter, int target, int timeout_ms, int *asked_out);

/* Waits (sleeping, not driving) until *counter >= target; 1 if it got there within timeout_ms. */
int wait_until(atomic_int *counter, int target, int timeout_ms);

/* The callbacks of one async call, counted. */
struct tally {
    atomic_int cb;          /* times cb ran */
    atomic_int destroy;     /* times destroy ran */
    atomic_int cb_tick;     /* the global tick when cb ran (0: never) */
    atomic_int destroy_tick;/* the global tick when destroy ran */
    atomic_int cb_saw_destroy; /* destroy had already run when cb ran */
    int status;             /* cb's status */
    int last_code;          /* qmp_error_last()->code inside cb */
    char *result;           /* compact, sorted-key text of result (NULL if none) */
    pthread_t cb_thread;
    atomic_int *done;       /* incremented after destroy, when set */
    void (*hook)(qmp_client *c, struct tally *t); /* run at the end of cb, when set */
    void *data;             /* for hook */
};

void tally_init(struct tally *t, atomic_int *done);
/* Frees result. */
void tally_clear(struct tally *t);
/* The qmp_reply_fn and qmp_destroy_fn of a tally (user_data: struct tally *). */
void tally_cb(qmp_client *c, int status, const json_t *result, void *user_data);
void tally_destroy(void *user_data);
/* Sends command asynchronously with t's callbacks. */
int tally_send(qmp_client *c, json_t *command, const qmp_exec_options *opts, struct tally *t);

/*
 * cb ran exactly once with status, then destroy exactly once (after cb);
 * result (if not NULL) is the compact, sorted-key text cb received.
 */
#define assert_tally(t, status, result) assert_tally_at((t), (status), (result), __FILE__, __LINE__)
void assert_tally_at(struct tally *t, int status, const char *result, const char *file, int line);
/* The call failed: cb never ran, destroy ran exactly once. */
#define assert_tally_refused(t) assert_tally_refused_at((t), __FILE__, __LINE__)
void assert_tally_refused_at(struct tally *t, const char *file, int line);

#endif /* QMP_TEST_ASYNC_HELPERS_H */
