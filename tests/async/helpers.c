/*
 * helpers.c: see helpers.h.
 */
#include "helpers.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#if defined(__SANITIZE_THREAD__)
#define T_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define T_TSAN 1
#endif
#endif
#ifndef T_TSAN
#define T_TSAN 0
#endif

long long t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void t_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int t_valgrind(void)
{
    const char *vg = getenv("LIBQMP_TEST_VALGRIND");
    return vg && *vg && strcmp(vg, "0") != 0;
}

int t_tsan(void)
{
    return T_TSAN;
}

int t_io_timeout_ms(void)
{
    return t_valgrind() ? 120000 : 10000;
}

int t_scale(int n, int valgrind_div, int tsan_div)
{
    if (t_valgrind() && valgrind_div > 1)
        n /= valgrind_div;
    if (t_tsan() && tsan_div > 1)
        n /= tsan_div;
    return n > 0 ? n : 1;
}

int pump_until(qmp_client *c, atomic_int *counter, int target, int timeout_ms, int *asked_out)
{
    long long deadline = t_now_ms() + timeout_ms;
    while (atomic_load(counter) < target) {
        long long left = deadline - t_now_ms();
        if (left <= 0)
            return QMP_ETIMEDOUT;
        int fd = qmp_client_get_fd(c);
        int want = qmp_client_get_events(c);
        int wait = qmp_client_get_timeout_ms(c);
        if (wait < 0 || wait > left)
            wait = (int)left;
        struct pollfd pfd = { fd, 0, 0 };
        if (want & QMP_POLL_IN)
            pfd.events |= POLLIN;
        if (want & QMP_POLL_OUT) {
            pfd.events |= POLLOUT;
            if (asked_out)
                (*asked_out)++;
        }
        int n = poll(&pfd, fd >= 0 ? 1 : 0, wait);
        if (n < 0 && errno != EINTR)
            return QMP_EIO;
        int revents = 0;
        if (n > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            revents |= QMP_POLL_IN;
        if (n > 0 && (pfd.revents & POLLOUT))
            revents |= QMP_POLL_OUT;
        if (qmp_client_process(c, revents) == QMP_ECLOSED)
            return atomic_load(counter) >= target ? QMP_OK : QMP_ECLOSED;
    }
    return QMP_OK;
}

int wait_until(atomic_int *counter, int target, int timeout_ms)
{
    long long deadline = t_now_ms() + timeout_ms;
    while (atomic_load(counter) < target) {
        if (t_now_ms() > deadline)
            return 0;
        t_sleep_ms(1);
    }
    return 1;
}

/* --- tally ----------------------------------------------------------------------- */

static atomic_int ticks;

void tally_init(struct tally *t, atomic_int *done)
{
    memset(t, 0, sizeof *t);
    t->done = done;
}

void tally_clear(struct tally *t)
{
    free(t->result);
    t->result = NULL;
}

void tally_cb(qmp_client *c, int status, const json_t *result, void *user_data)
{
    struct tally *t = user_data;
    if (atomic_load(&t->destroy))
        atomic_store(&t->cb_saw_destroy, 1);
    t->status = status;
    t->last_code = qmp_error_last()->code;
    free(t->result);
    t->result = result ? json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    t->cb_thread = pthread_self();
    atomic_store(&t->cb_tick, atomic_fetch_add(&ticks, 1) + 1);
    atomic_fetch_add(&t->cb, 1);
    if (t->hook)
        t->hook(c, t);
}

void tally_destroy(void *user_data)
{
    struct tally *t = user_data;
    atomic_store(&t->destroy_tick, atomic_fetch_add(&ticks, 1) + 1);
    atomic_fetch_add(&t->destroy, 1);
    if (t->done)
        atomic_fetch_add(t->done, 1);
}

int tally_send(qmp_client *c, json_t *command, const qmp_exec_options *opts, struct tally *t)
{
    return qmp_client_execute_async(c, command, opts, tally_cb, t, tally_destroy);
}

void assert_tally_at(struct tally *t, int status, const char *result, const char *file, int line)
{
    int cb = atomic_load(&t->cb), destroy = atomic_load(&t->destroy);
    if (cb != 1 || destroy != 1)
        fail_msg("%s:%d: cb ran %d time(s), destroy %d time(s); expected once each", file, line, cb, destroy);
    if (atomic_load(&t->cb_saw_destroy) || atomic_load(&t->destroy_tick) < atomic_load(&t->cb_tick))
        fail_msg("%s:%d: destroy ran before cb", file, line);
    if (t->status != status)
        fail_msg("%s:%d: cb got status %d, expected %d", file, line, t->status, status);
    if (t->last_code != status)
        fail_msg("%s:%d: qmp_error_last()->code in cb was %d, expected %d", file, line, t->last_code, status);
    if (result && (!t->result || strcmp(t->result, result) != 0))
        fail_msg("%s:%d: cb got result %s, expected %s", file, line, t->result ? t->result : "NULL", result);
    if (!result && status != QMP_OK && status != QMP_ECOMMAND && t->result)
        fail_msg("%s:%d: cb got result %s with status %d, expected NULL", file, line, t->result, status);
}

void assert_tally_refused_at(struct tally *t, const char *file, int line)
{
    int cb = atomic_load(&t->cb), destroy = atomic_load(&t->destroy);
    if (cb != 0 || destroy != 1)
        fail_msg("%s:%d: a refused call: cb ran %d time(s) (expected never), destroy %d time(s) (expected once)",
                 file, line, cb, destroy);
}
