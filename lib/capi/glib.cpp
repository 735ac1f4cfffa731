// The C boundary for qmp-glib.h.
#include <qmp/qmp-glib.h>

#include "capi/guard.h"
#include "client/client.h"
#include "glib/source.h"

extern "C" {

QMP_API int qmp_client_attach(qmp_client *c, GMainContext *context) {
    if (!c) return qmp::set_last_error(QMP_EINVAL, "the client is NULL");
    return qmp::capi::guarded([&] {
        qmp::client::Client *cl = qmp::client::Client::from(c);
        GMainContext *ctx = context ? context : g_main_context_default();
        int wake_fd = -1;
        qmp::Error e = cl->wakeup_fd(&wake_fd);
        if (!e) e = cl->attach(qmp::glib::make_source(cl, ctx, wake_fd));
        return e ? qmp::set_last_error(e) : 0;
    });
}

QMP_API void qmp_client_detach(qmp_client *c) {
    if (!c) return;
    qmp::capi::guarded([&] {
        qmp::client::Client::from(c)->detach();
        return 0;
    });
}

}  // extern "C"
