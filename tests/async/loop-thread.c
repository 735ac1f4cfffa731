/*
 * loop-thread.c: see loop-thread.h.
 */
#include "loop-thread.h"

#include <stdlib.h>

/*
 * pthread locks, not GMutex: ThreadSanitizer sees only what is not a bare
 * futex.  Static ones, as a lock made before g_source_attach() and first
 * taken in the loop's thread would be handed over by GLib, unseen by TSan.
 */
static pthread_mutex_t call_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t call_cond = PTHREAD_COND_INITIALIZER;

struct call {
    void (*fn)(void *data);     /* guarded by call_lock */
    void *data;
    int done;
};

static gboolean run_call(gpointer data)
{
    struct call *k = data;
    pthread_mutex_lock(&call_lock);
    void (*fn)(void *) = k->fn;
    void *arg = k->data;
    pthread_mutex_unlock(&call_lock);
    fn(arg);
    pthread_mutex_lock(&call_lock);
    k->done = 1;
    pthread_cond_broadcast(&call_cond);
    pthread_mutex_unlock(&call_lock);
    return G_SOURCE_REMOVE;
}

static void nothing(void *data)
{
    (void)data;
}

static void *loop_main(void *arg)
{
    struct loop_thread *l = arg;
    g_main_context_push_thread_default(l->ctx);
    g_main_loop_run(l->loop);
    g_main_context_pop_thread_default(l->ctx);
    return NULL;
}

void loop_thread_call(struct loop_thread *l, void (*fn)(void *data), void *data)
{
    struct call k;
    pthread_mutex_lock(&call_lock);
    k.fn = fn;
    k.data = data;
    k.done = 0;
    pthread_mutex_unlock(&call_lock);
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, run_call, &k, NULL);
    g_source_attach(s, l->ctx);
    g_source_unref(s);
    pthread_mutex_lock(&call_lock);
    while (!k.done)
        pthread_cond_wait(&call_cond, &call_lock);
    pthread_mutex_unlock(&call_lock);
}

void loop_thread_start(struct loop_thread *l)
{
    l->ctx = g_main_context_new();
    l->loop = g_main_loop_new(l->ctx, FALSE);
    if (pthread_create(&l->thread, NULL, loop_main, l) != 0)
        abort();
    /* Returns once the loop dispatches, i.e. runs. */
    loop_thread_call(l, nothing, NULL);
}

void loop_thread_stop(struct loop_thread *l)
{
    g_main_loop_quit(l->loop);
    pthread_join(l->thread, NULL);
    g_main_loop_unref(l->loop);
    g_main_context_unref(l->ctx);
    l->loop = NULL;
    l->ctx = NULL;
}

int loop_thread_is_self(const struct loop_thread *l)
{
    return pthread_equal(pthread_self(), l->thread);
}
