/*
 * loop-thread.h: a private GMainContext run by a GMainLoop in a thread of
 * its own, for the GLib tests.
 */
#ifndef QMP_TEST_LOOP_THREAD_H
#define QMP_TEST_LOOP_THREAD_H

#include <pthread.h>

#include <glib.h>

struct loop_thread {
    GMainContext *ctx;
    GMainLoop *loop;
    pthread_t thread;
};

/* Creates the context and starts the thread; returns once the loop runs. */
void loop_thread_start(struct loop_thread *l);
/* Quits the loop, joins the thread and drops the context. */
void loop_thread_stop(struct loop_thread *l);
/* 1 when called in the loop's thread. */
int loop_thread_is_self(const struct loop_thread *l);
/* Runs fn(data) in the loop's thread and waits for it. */
void loop_thread_call(struct loop_thread *l, void (*fn)(void *data), void *data);

#endif /* QMP_TEST_LOOP_THREAD_H */
