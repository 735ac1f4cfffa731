#include "glib/source.h"

#include <memory>
#include <mutex>

namespace qmp::glib {

namespace {

struct ClientSource {
    GSource base;
    std::mutex *mu;            // guards client (cleared on detach) against a dispatch in progress
    client::Client *client;
    gpointer tag;
    int fd;
    GIOCondition cond;  // what tag watches now
    gpointer wake_tag;  // the client's wakeup fd: other threads' changes wake the context
};

GIOCondition wanted(int events) {
    int cond = G_IO_IN | G_IO_HUP | G_IO_ERR;
    if (events & QMP_POLL_OUT) cond |= G_IO_OUT;
    return static_cast<GIOCondition>(cond);
}

// Holds the client for one callback from GLib; NULL once detached.
client::Client *hold(ClientSource *s) {
    std::lock_guard<std::mutex> lk(*s->mu);
    if (s->client) s->client->ref();
    return s->client;
}

// Watches the client's current fd (it changes when the client reconnects).
// g_source_modify_unix_fd() wakes the context, so it is called only when
// the condition changes: called from every prepare(), it made the context
// spin (the wakeup it signals ends the poll() it prepares for).
void track_fd(ClientSource *s, client::Client *c) {
    int fd = c->get_fd();
    if (fd != s->fd) {
        if (s->tag) g_source_remove_unix_fd(&s->base, s->tag);
        s->tag = nullptr;
        s->fd = fd;
        s->cond = wanted(0);
        if (fd >= 0) s->tag = g_source_add_unix_fd(&s->base, fd, s->cond);
    }
    GIOCondition cond = wanted(c->get_events());
    if (s->tag && cond != s->cond) {
        s->cond = cond;
        g_source_modify_unix_fd(&s->base, s->tag, cond);
    }
}

gboolean prepare(GSource *src, gint *timeout) {
    auto *s = reinterpret_cast<ClientSource *>(src);
    client::Client *c = hold(s);
    *timeout = -1;
    if (!c) return FALSE;
    track_fd(s, c);
    *timeout = c->get_timeout_ms();
    c->unref();
    return *timeout == 0;
}

gboolean check(GSource *src) {
    auto *s = reinterpret_cast<ClientSource *>(src);
    if (s->tag && g_source_query_unix_fd(src, s->tag) != 0) return TRUE;
    if (g_source_query_unix_fd(src, s->wake_tag) != 0) return TRUE;
    client::Client *c = hold(s);
    if (!c) return FALSE;
    bool due = c->get_timeout_ms() == 0;
    c->unref();
    return due;
}

gboolean dispatch(GSource *src, GSourceFunc, gpointer) {
    auto *s = reinterpret_cast<ClientSource *>(src);
    client::Client *c = hold(s);
    if (!c) return G_SOURCE_REMOVE;
    int revents = 0;
    if (s->tag) {
        GIOCondition r = g_source_query_unix_fd(src, s->tag);
        if (r & (G_IO_IN | G_IO_HUP | G_IO_ERR)) revents |= QMP_POLL_IN;
        if (r & G_IO_OUT) revents |= QMP_POLL_OUT;
    }
    try {
        c->process(revents);  // its status has no one to go to: callbacks report what matters
    } catch (...) {
        // GLib is C: nothing may unwind through it.  process() ends the
        // connection itself when it runs out of memory while driving; what
        // remains is building its status, which nobody reads here.
    }
    c->unref();
    return G_SOURCE_CONTINUE;
}

void finalize(GSource *src) {
    auto *s = reinterpret_cast<ClientSource *>(src);
    delete s->mu;
}

GSourceFuncs funcs = {prepare, check, dispatch, finalize, nullptr, nullptr};

class Hook : public client::LoopHook {
public:
    // The mutex comes first: it is the one allocation that can throw, and
    // nothing is held yet when it does (GLib aborts when it runs out itself).
    Hook(client::Client *c, GMainContext *ctx, int wake_fd) : Hook(c, ctx, wake_fd, std::make_unique<std::mutex>()) {}

    Hook(client::Client *c, GMainContext *ctx, int wake_fd, std::unique_ptr<std::mutex> mu)
        : ctx_(g_main_context_ref(ctx)) {
        src_ = reinterpret_cast<ClientSource *>(g_source_new(&funcs, sizeof(ClientSource)));
        src_->mu = mu.release();
        src_->client = c;
        src_->tag = nullptr;
        src_->fd = -1;
        src_->cond = wanted(0);
        src_->wake_tag = g_source_add_unix_fd(&src_->base, wake_fd, G_IO_IN);
        g_source_set_name(&src_->base, "libqmp client");
        // GLib blocks a source that may not recurse while it dispatches it:
        // it takes the source's fds out of the context's poll list and puts
        // them back, each a walk of that list and a wakeup of the context,
        // so with 1,000 clients every dispatch cost two O(n) list edits and
        // a spurious iteration.  process() may be re-entered (a nested loop
        // in a callback drives the connection like a nested sync call).
        g_source_set_can_recurse(&src_->base, TRUE);
        g_source_attach(&src_->base, ctx_);
    }

    ~Hook() override {
        detached();
        g_source_unref(&src_->base);
        g_main_context_unref(ctx_);
    }

    bool may_drive_here() override {
        if (g_main_context_is_owner(ctx_)) return true;
        // Nobody runs the context: drive rather than wait on a loop no one iterates.
        if (!g_main_context_acquire(ctx_)) return false;
        g_main_context_release(ctx_);
        return true;
    }

    void detached() override {
        {
            std::lock_guard<std::mutex> lk(*src_->mu);
            src_->client = nullptr;
        }
        g_source_destroy(&src_->base);
    }

private:
    GMainContext *ctx_;
    ClientSource *src_;
};

}  // namespace

std::shared_ptr<client::LoopHook> make_source(client::Client *c, GMainContext *context, int wake_fd) {
    return std::make_shared<Hook>(c, context, wake_fd);
}

}  // namespace qmp::glib
