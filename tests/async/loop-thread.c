/*
 * loop-thread.c: see loop-thread.h.
 */
#include "loop-thread.h"

#include <stdlib.h>

struct call {
    void (*fn)(void *data);
    void *data;
    GMutex lock;
    GCond cond;
    int done;
};

static gboolean run_call(gpointer data)
{
    struct call *k = data;
    k->fn(k->data);
    g_mutex_lock(&k->lock);
    k->done = 1;
    g_cond_signal(&k->cond);
    g_mutex_unlock(&k->lock);
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
    struct call k = { fn, data, { 0 }, { 0 }, 0 };
    g_mutex_init(&k.lock);
    g_cond_init(&k.cond);
    GSource *s = g_idle_source_new();
    g_source_set_callback(s, run_call, &k, NULL);
    g_source_attach(s, l->ctx);
    g_source_unref(s);
    g_mutex_lock(&k.lock);
    while (!k.done)
        g_cond_wait(&k.cond, &k.lock);
    g_mutex_unlock(&k.lock);
    g_mutex_clear(&k.lock);
    g_cond_clear(&k.cond);
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
