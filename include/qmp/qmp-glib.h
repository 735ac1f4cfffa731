/*
 * qmp-glib.h: driving a client from a GLib main context.
 *
 * Attached, the client is driven by the context: its socket is watched by a
 * GSource that asks for output only while output is pending, async replies,
 * events and the close callback run in the thread that runs the context,
 * and synchronous calls made from other threads wait for that thread to
 * route their replies.  A synchronous call made in the context's thread
 * (e.g. from a callback) drives the connection itself; so does one made
 * while no thread runs the context, so nothing waits on a loop that no one
 * iterates.
 *
 * Build with `pkg-config --cflags --libs libqmp glib-2.0`.
 */
#ifndef QMP_GLIB_H
#define QMP_GLIB_H

#include <glib.h>
#include <qmp/qmp-client.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Attaches c to context (NULL: the default context), replacing an earlier
 * attachment.  Stays attached across reconnects until qmp_client_detach()
 * or qmp_client_free().  Safe from any thread and from inside a callback.
 */
QMP_API int qmp_client_attach(qmp_client *c, GMainContext *context);

/* Removes the client's source from its context.  No-op when not attached. */
QMP_API void qmp_client_detach(qmp_client *c);

#ifdef __cplusplus
}
#endif

#endif /* QMP_GLIB_H */
