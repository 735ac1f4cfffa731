#include "client/client.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <chrono>
#include <random>

#include <poll.h>
#include <pthread.h>

#include "common/probes.h"
#include "protocol/command.h"
#include "protocol/match.h"
#include "schema/schema.h"
#include "transport/fds.h"
#include "transport/socket.h"
#include "wire/codec.h"
#include "wire/redact.h"

namespace qmp::client {

namespace {

constexpr size_t kReadChunk = 64 * 1024;
// Reads per process() call; when the last one still filled the buffer, the
// loop is woken (wakeup fd) or told (timer 0) to call again.
constexpr int kMaxReadsPerProcess = 16;
// A loop's timer that fires this close before the deadline it was told is
// taken to have fired for it (loops round to milliseconds, some to their own clock).
constexpr int kTimerSlackMs = 20;
// A direct read (transport::prepare_direct_read) waits at most this long;
// then the call polls, so that another thread's wake-up is heard (a timed
// async call submitted meanwhile, a command the socket could not take at
// once, a loop attached): it waits at most this long, once per call.
constexpr int kDirectReadSliceMs = 10;

// Runs f when the scope ends, also when an exception passes.
template <typename F>
class OnExit {
public:
    explicit OnExit(F f) : f_(std::move(f)) {}
    ~OnExit() { f_(); }
    OnExit(const OnExit &) = delete;
    OnExit &operator=(const OnExit &) = delete;

private:
    F f_;
};

// The guest agent commands that answer only when they fail: once sent and
// not refused within this grace, they have succeeded.
constexpr int kNoAnswerGraceMs = 500;

bool answers_only_on_failure(const std::string &name) {
    return name == "guest-shutdown" || name == "guest-suspend-disk" || name == "guest-suspend-ram" ||
           name == "guest-suspend-hybrid";
}

// A fresh id for guest-sync-delimited: random, so that a reply to an
// earlier client's sync still queued in the channel never matches.  Kept
// below 2^53 so that every JSON reader holds it exactly.
uint64_t random_sync_id() {
    uint64_t v = 0;
    try {
        std::random_device rd;
        v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
        // No entropy source: the clock still differs from an earlier client's.
        v = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9e3779b97f4a7c15ull;
    }
    v &= (uint64_t{1} << 53) - 1;
    return v ? v : 1;
}

static_assert(QMP_MAX_FDS <= transport::kMaxFdsPerMessage, "QMP_MAX_FDS fds must fit in one message");

// A reference to a schema, dropped when it goes.
struct SchemaRef {
    schema::Schema *s = nullptr;
    ~SchemaRef() {
        if (s) s->unref();
    }
};

}  // namespace

// One command the client waits for (sync) or will call back about (async).
struct Client::Call {
    uint64_t id = 0;
    std::string name;
    bool async = false;
    bool done = false;
    Error error;
    wire::Message reply;
    Deadline deadline;  // async only; sync callers keep their own
    Deadline grace = Deadline::never();  // an agent command that answers only on failure
    qmp_reply_fn cb = nullptr;
    void *user_data = nullptr;
    qmp_destroy_fn destroy = nullptr;
    transport::OwnedFds fds;  // copies of the caller's, until the command's first byte is sent
    uint64_t submitted_ns = 0;  // for the reply__route probe's latency; taken only while it is traced

    ~Call() {
        if (destroy) destroy(user_data);
    }
};

struct Client::Handler {
    unsigned int id;
    std::string name;  // empty: every event
    qmp_event_fn cb;
    void *user_data;
    qmp_destroy_fn destroy;
    std::atomic<bool> removed{false};

    ~Handler() {
        if (destroy) destroy(user_data);
    }
};

struct Client::CloseHook {
    qmp_close_fn cb;
    void *user_data;
    qmp_destroy_fn destroy;

    ~CloseHook() {
        if (destroy) destroy(user_data);
    }
};

// A qmp_client_wait_event() in progress, matched against each new event.
struct Client::Waiter {
    std::string name;  // empty: any
    const json_t *match;
    uint64_t after_seq;
    protocol::EventPtr found;
    bool closed = false;

    bool matches(const protocol::Event &ev) const {
        if (ev.seq() <= after_seq) return false;
        if (!name.empty() && ev.name() != name) return false;
        return !match || protocol::json_contains(ev.data(), match);
    }
};

struct Client::LogHook {
    qmp_log_fn fn;
    void *user_data;
    qmp_destroy_fn destroy;

    ~LogHook() {
        if (destroy) destroy(user_data);
    }
};

// A qmp_client_connect_*_async() in progress.
struct Client::Connecting {
    std::string path;  // a Unix path to retry while missing or refusing; empty for an fd
    std::string peer;
    Deadline deadline;
    Deadline retry_at = Deadline::never();
    Error status;
    qmp_connect_fn cb = nullptr;
    void *user_data = nullptr;
    qmp_destroy_fn destroy = nullptr;

    ~Connecting() {
        if (destroy) destroy(user_data);
    }
};

// A callback to run, in order, by the driver with the lock released.
struct Client::Dispatch {
    enum class Kind { Reply, Event, Close, Connect } kind;
    std::shared_ptr<Call> call;
    protocol::EventPtr event;
    std::shared_ptr<CloseHook> hook;
    int reason = 0;
    std::shared_ptr<Connecting> connect = nullptr;
};

// --- commands and replies ---------------------------------------------------

static const wire::Slice &value_slice(const Outcome &o) {
    return o.error.code == QMP_ECOMMAND ? o.reply.error : o.reply.ret;
}

Error reply_value_tree(const Outcome &o, json_t **out) {
    *out = nullptr;
    const wire::Slice &s = value_slice(o);
    if (!s.present()) return Error::ok();
    return wire::parse(o.reply.text.data() + s.off, s.len, out);
}

Error reply_value_text(const Outcome &o, std::string *out) {
    const wire::Slice &s = value_slice(o);
    if (s.present()) out->assign(o.reply.text, s.off, s.len);
    return Error::ok();
}

// --- lifetime -----------------------------------------------------------------

Client::Client() {
    const char *debug = std::getenv("LIBQMP_DEBUG");
    debug_to_stderr_ = debug && *debug && std::strcmp(debug, "0") != 0;
}

Client::~Client() {
    for (auto &pin : greeting_pins_) json_decref(pin.second);
    if (schema_) schema_->unref();
    transport::close_fd(fd_);
    transport::close_fd(closing_fd_);
    transport::close_fd(wake_fd_);
    transport::close_fd(loop_wake_fd_);
    for (int fd : unwatch_fds_) transport::close_fd(fd);
}

void Client::unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void Client::release() {
    std::vector<std::shared_ptr<Handler>> handlers;
    std::shared_ptr<CloseHook> hook;
    std::shared_ptr<LoopHook> loop;
    std::shared_ptr<LogHook> log;
    // Freeing never fails: with no memory left the error has its code only.
    Error freed;
    freed.code = QMP_ECANCELLED;
    try {
        freed.message = "the client was freed";
    } catch (...) {
    }
    {
        Lock lk(mu_);
        released_ = true;
        loop = std::move(hook_);
        if (connecting_ && fd_ < 0) end_connecting(copy_or_code(freed));
        teardown(freed, QMP_OK);
        handlers.swap(handlers_);
        for (auto &h : handlers) h->removed = true;
        hook.swap(close_hook_);
        log.swap(log_);
        dispatch(lk);
    }
    if (loop) loop->detached();
    drop_loop_callbacks();
    // Destroy notifiers run here, unlocked (or later, after a callback in progress).
    handlers.clear();
    hook.reset();
    log.reset();
    unref();
}

// --- settings ---------------------------------------------------------------------

Error Client::set_timeout(int timeout_ms) {
    if (timeout_ms == 0 || timeout_ms < -1)
        return Error::make(QMP_EINVAL, "timeout must be positive or -1 (forever), not %d", timeout_ms);
    Lock lk(mu_);
    timeout_ms_ = timeout_ms;
    return Error::ok();
}

int Client::default_timeout() {
    Lock lk(mu_);
    return timeout_ms_;
}

Error Client::set_oob(bool enable) {
    Lock lk(mu_);
    want_oob_ = enable;
    return Error::ok();
}

Error Client::set_max_message_size(size_t bytes) {
    if (bytes < 64) return Error::make(QMP_EINVAL, "a message limit of %zu bytes is too small to be useful", bytes);
    Lock lk(mu_);
    max_message_ = bytes;
    splitter_.set_limits(bytes, wire::kDefaultMaxDepth);
    return Error::ok();
}

Error Client::set_event_buffer(size_t max_events) {
    if (max_events == 0) return Error::make(QMP_EINVAL, "the event buffer must hold at least one event");
    Lock lk(mu_);
    session_.set_ring_size(max_events);
    return Error::ok();
}

// --- connecting -------------------------------------------------------------------

Error Client::connect_unix(const char *path, int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    if (is_connected()) return Error::make(QMP_EINVAL, "the client is already connected");
    std::string peer = path;  // made while there is no fd to leak
    int fd = -1;
    Error e = transport::connect_unix(path, dl, cancel_flag(), &fd);
    if (e) return e;
    return start(fd, dl, peer);
}

Error Client::connect_tcp(const char *host, const char *port, int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    if (is_connected()) return Error::make(QMP_EINVAL, "the client is already connected");
    std::string peer = std::string(host) + ":" + port;  // made while there is no fd to leak
    int fd = -1;
    Error e = transport::connect_tcp(host, port, dl, cancel_flag(), &fd);
    if (e) return e;
    return start(fd, dl, peer);
}

Error Client::connect_fd(int fd, int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    std::string peer;
    Error e;
    try {
        peer = "fd " + std::to_string(fd);
        e = transport::adopt(fd);
    } catch (...) {
        transport::close_fd(fd);  // taken also on failure
        throw;
    }
    if (e) {
        transport::close_fd(fd);
        return e;
    }
    return start(fd, dl, peer);
}

Error Client::connect_agent_unix(const char *path, int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    if (is_connected()) return Error::make(QMP_EINVAL, "the client is already connected");
    int fd = -1;
    Error e = transport::connect_unix(path, dl, cancel_flag(), &fd);
    if (e) return e;
    return start(fd, dl, path, true);
}

Error Client::connect_agent_fd(int fd, int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    Error e = transport::adopt(fd);
    if (e) {
        transport::close_fd(fd);
        return e;
    }
    return start(fd, dl, "fd " + std::to_string(fd), true);
}

bool Client::is_agent() {
    Lock lk(mu_);
    return fd_ >= 0 && session_.phase() == protocol::Session::Phase::Ready && session_.agent();
}

// Takes fd, also on failure.
Error Client::start(int fd, const Deadline &deadline, const std::string &peer, bool agent) {
    using Phase = protocol::Session::Phase;
    Lock lk(mu_);
    try {
        Error e = begin_connection(fd, agent);
        if (e) return e;
    } catch (...) {
        // Out of memory before the handshake could start: the fd is closed
        // with the connection, if it got that far.
        if (fd_ == fd)
            lost_memory_locked();
        else
            transport::close_fd(fd);
        return out_of_memory();
    }

    int my_fd = fd_;
    Error r = run_until(lk, [&] { return session_.phase() == Phase::Ready || fd_ != my_fd || cancelled(); }, deadline);
    if (fd_ == my_fd && session_.phase() == Phase::Ready) return Error::ok();
    if (fd_ == my_fd && cancelled()) {
        Error c = Error::make(QMP_ECANCELLED, "connecting to %s was cancelled", peer.c_str());
        teardown(c, QMP_ECANCELLED);
        return c;
    }
    if (fd_ == my_fd) {
        // Still waiting: the deadline passed.
        Error t = handshake_timeout(session_.phase(), peer);
        teardown(t, QMP_ETIMEDOUT);
        return t;
    }
    if (r && r.code != QMP_ECLOSED && r.code != QMP_ETIMEDOUT) return r;
    return handshake_error(peer);
}

// The part of start() that takes the fd, with the lock held: closes it when
// refused (each error is made before the fd is closed, so that an exception
// leaves the fd to start() to close, once).
Error Client::begin_connection(int fd, bool agent) {
    Error e;
    if (released_)
        e = Error::make(QMP_ECANCELLED, "the client was freed");
    else if (fd_ >= 0)
        e = Error::make(QMP_EINVAL, "the client is already connected");
    else if (wake_fd_ < 0)
        e = transport::wakeup_new(&wake_fd_);
    if (!e && connecting_) e = Error::make(QMP_EINVAL, "the client is already connecting");
    if (e) {
        transport::close_fd(fd);
        return e;
    }
    reserve_dispatch(0);  // room for what the teardown of this connection queues
    begin_handshake(fd, agent);
    return Error::ok();
}

void Client::begin_handshake(int fd, bool agent) {
    fd_ = fd;
    direct_ok_ = transport::prepare_direct_read(fd, kDirectReadSliceMs);
    splitter_.set_limits(max_message_, wire::kDefaultMaxDepth);
    splitter_.reset();
    if (agent)
        session_.begin_agent(random_sync_id());
    else
        session_.begin(want_oob_);
    close_error_ = Error::ok();
    close_phase_ = protocol::Session::Phase::Idle;
    flush_locked();
    // An attached loop must start watching the new socket: it drives the handshake.
    wake_loops_locked();
}

// The deadline passed during the handshake.  A QEMU monitor serves one
// client at a time: it accepts the next connection but greets it only when
// the first client has gone, so no greeting most often means a busy monitor.
Error Client::handshake_timeout(protocol::Session::Phase phase, const std::string &peer) {
    if (phase == protocol::Session::Phase::Syncing)
        return Error::make(QMP_ETIMEDOUT,
                           "the guest agent at %s did not answer guest-sync-delimited in time (is the agent running "
                           "in the guest?)",
                           peer.c_str());
    if (phase == protocol::Session::Phase::Greeting)
        return Error::make(QMP_ETIMEDOUT,
                           "timed out waiting for the QMP greeting from %s (the monitor may be in use by "
                           "another client: QEMU serves one client per monitor)",
                           peer.c_str());
    return Error::make(QMP_ETIMEDOUT, "timed out waiting for the answer to qmp_capabilities from %s", peer.c_str());
}

// Why the connection ended during the handshake, saying at which stage.
Error Client::handshake_error(const std::string &peer) const {
    using Phase = protocol::Session::Phase;
    Error why = close_error_;
    if (close_phase_ == Phase::Greeting && (why.code == QMP_ECLOSED || why.code == QMP_EPROTO)) {
        why.message = (why.code == QMP_ECLOSED ? "no QMP greeting from " : "no valid QMP greeting from ") + peer +
                      ": " + why.message;
        why.code = QMP_EHANDSHAKE;
    } else if (close_phase_ == Phase::Syncing && (why.code == QMP_ECLOSED || why.code == QMP_EPROTO)) {
        why.message = "synchronising with the guest agent at " + peer + ": " + why.message;
    } else if (close_phase_ == Phase::Negotiating && (why.code == QMP_ECLOSED || why.code == QMP_EPROTO)) {
        why.code = QMP_ENEGOTIATION;
        why.message = "negotiating capabilities with " + peer + ": " + why.message;
    }
    return why;
}

Error Client::connect_unix_async(const char *path, int timeout_ms, qmp_connect_fn cb, void *user_data,
                                 qmp_destroy_fn destroy) {
    // Until conn owns destroy, an exception leaves it to the caller (the C
    // layer runs it); from then on conn runs it, and nothing may throw.
    auto conn = std::make_shared<Connecting>();
    conn->path = path;
    conn->peer = path;
    conn->cb = cb;
    conn->user_data = user_data;
    conn->deadline = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    conn->destroy = destroy;
    return start_async(std::move(conn), -1);
}

Error Client::connect_fd_async(int fd, int timeout_ms, qmp_connect_fn cb, void *user_data, qmp_destroy_fn destroy) {
    // As in connect_unix_async: conn owns destroy last.
    auto conn = std::make_shared<Connecting>();
    conn->peer = "fd " + std::to_string(fd);
    conn->cb = cb;
    conn->user_data = user_data;
    conn->deadline = Deadline::in_ms(timeout_ms == 0 ? default_timeout() : timeout_ms);
    conn->destroy = destroy;
    Error e = transport::adopt(fd);
    if (e) {
        transport::close_fd(fd);
        return e;  // destroy runs as conn goes
    }
    return start_async(std::move(conn), fd);
}

// On failure the caller's destroy runs (as conn is released) and cb never does.
// Never throws: conn owns destroy already.
Error Client::start_async(std::shared_ptr<Connecting> conn, int fd) {
    try {
        return start_async_locked(conn, fd);
    } catch (const std::bad_alloc &) {
        transport::close_fd(fd);
        return out_of_memory();
    }
}

Error Client::start_async_locked(std::shared_ptr<Connecting> &conn, int fd) {
    Lock lk(mu_);
    Error e;
    if (released_)
        e = Error::make(QMP_ECANCELLED, "the client was freed");
    else if (fd_ >= 0 || connecting_)
        e = Error::make(QMP_EINVAL, "the client is already connected or connecting");
    else if (wake_fd_ < 0)
        e = transport::wakeup_new(&wake_fd_);
    if (!e) {
        try {
            reserve_dispatch(0);  // room for the connect callback and the close handler
        } catch (const std::bad_alloc &) {
            e = out_of_memory();
        }
    }
    if (e) {
        transport::close_fd(fd);
        lk.unlock();
        return e;
    }
    connecting_ = std::move(conn);
    try {
        if (fd >= 0)
            begin_handshake(fd);
        else
            try_connect_locked();
    } catch (const std::bad_alloc &) {
        // The connection is not known to be in any good state: end it; the
        // connect callback reports why.
        lost_memory_locked();
    }
    wake_loops_locked();
    return Error::ok();
}

// One connect attempt of an async Unix connect; a missing or refusing
// socket is tried again at the time the transport says, until the deadline.
void Client::try_connect_locked() {
    int fd = -1;
    Deadline retry_at = Deadline::never();
    Error e = transport::connect_unix_attempt(connecting_->path.c_str(), connecting_->deadline, &fd, &retry_at);
    if (e) {
        end_connecting(e);
        return;
    }
    connecting_->retry_at = retry_at;
    if (fd >= 0) begin_handshake(fd);
}

// Queues the connect callback with its status; the connection is up or down by now.
void Client::end_connecting(Error status) {
    if (!connecting_) return;
    connecting_->status = std::move(status);
    queue_reserved(Dispatch{Dispatch::Kind::Connect, nullptr, nullptr, nullptr, 0, std::move(connecting_)});
    connecting_.reset();
    wake_loops_locked();
    cv_.notify_all();
}

Error Client::close() {
    Lock lk(mu_);
    if (connecting_ && fd_ < 0) end_connecting(Error::make(QMP_ECANCELLED, "the client was closed"));
    if (fd_ < 0) {
        dispatch(lk);
        return Error::ok();
    }
    teardown(Error::make(QMP_ECANCELLED, "the client was closed"), QMP_OK);
    dispatch(lk);
    return Error::ok();
}

bool Client::is_connected() {
    Lock lk(mu_);
    return fd_ >= 0 && session_.phase() == protocol::Session::Phase::Ready;
}

const json_t *Client::greeting() {
    Lock lk(mu_);
    json_t *g = nullptr;
    if (fd_ >= 0 && session_.phase() == protocol::Session::Phase::Ready)
        g = const_cast<json_t *>(session_.greeting());
    auto pin = greeting_pins_.find(std::this_thread::get_id());
    if (!g) {
        // The thread asked again: the tree it had may go.
        if (pin != greeting_pins_.end()) {
            json_decref(pin->second);
            greeting_pins_.erase(pin);
        }
        return nullptr;
    }
    if (pin == greeting_pins_.end()) pin = greeting_pins_.emplace(std::this_thread::get_id(), nullptr).first;
    if (pin->second != g) {
        json_decref(pin->second);
        pin->second = json_incref(g);
    }
    return g;
}

Error Client::version(int *major, int *minor, int *micro) {
    Lock lk(mu_);
    if (fd_ < 0 || session_.phase() != protocol::Session::Phase::Ready || !session_.version(major, minor, micro))
        return Error::make(QMP_ECLOSED, "not connected");
    return Error::ok();
}

bool Client::has_capability(const char *name) {
    Lock lk(mu_);
    return fd_ >= 0 && session_.phase() == protocol::Session::Phase::Ready && session_.has_capability(name);
}

// --- executing --------------------------------------------------------------------

// QMP_ECLOSED, saying why when the connection ended for want of memory (a
// reply or an event may have been lost with it).  Called with the lock held.
Error Client::not_connected() const {
    if (fd_ < 0 && close_error_.code == QMP_ENOMEM)
        return Error::make(QMP_ECLOSED, "not connected: %s", close_error_.message.c_str());
    return Error::make(QMP_ECLOSED, "not connected");
}

Error Client::check_can_send(const ExecOptions &opts) {
    if (released_) return Error::make(QMP_ECANCELLED, "the client was freed");
    if (fd_ < 0 || session_.phase() != protocol::Session::Phase::Ready) return not_connected();
    if (session_.agent()) {
        if (opts.oob) return Error::make(QMP_EINVAL, "the guest agent has no out-of-band execution (exec-oob)");
        if (opts.nfds > 0) return Error::make(QMP_EINVAL, "the guest agent takes no fds with a command");
    }
    if (opts.oob && !session_.has_capability("oob"))
        return Error::make(QMP_EINVAL, "out-of-band execution needs the \"oob\" capability (qmp_client_set_oob)");
    if (opts.nfds > QMP_MAX_FDS) return Error::make(QMP_EINVAL, "at most %d fds per command, not %zu", QMP_MAX_FDS, opts.nfds);
    if (opts.nfds > 0 && !opts.fds) return Error::make(QMP_EINVAL, "nfds is %zu but fds is NULL", opts.nfds);
    return Error::ok();
}

Error Client::submit(Lock &lk, const std::string &command, const ExecOptions &opts, const std::shared_ptr<Call> &call) {
    (void)lk;
    Error e = check_can_send(opts);
    if (e) return e;
    // An async call's completion is queued by whoever ends it, a teardown
    // included: its slot is reserved now, while failing is still allowed.
    if (call->async) reserve_dispatch(1);
    // The call holds copies until the kernel has taken them with the
    // command's first byte, so the caller's fds stay the caller's, whatever
    // happens; the copies go with the call if anything fails.
    e = call->fds.copy(opts.fds, opts.nfds);
    if (e) return e;
    maybe_resync_locked();
    uint64_t id = session_.submit(command, opts.oob, !call->fds.empty());
    if (session_.agent() && answers_only_on_failure(call->name)) call->grace = Deadline::in_ms(kNoAnswerGraceMs);
    try {
        calls_.emplace(id, call);
        if (!call->grace.infinite()) graced_++;
        if (call->async && !call->deadline.infinite()) timed_async_++;
    } catch (...) {
        session_.abandon(id);
        throw;
    }
    call->id = id;
    if (LIBQMP_PROBE_ENABLED(reply__route)) call->submitted_ns = probes::now_ns();
    LIBQMP_PROBE4(command__send, this, id, call->name.c_str(), command.size());
    if (call->async) dispatch_reserve_++;
    // A command sent from a callback waits for the callbacks of the same
    // read to finish, then goes out with the others (dispatch() flushes).
    if (dispatch_depth_ > 0 && driver_ == std::this_thread::get_id()) return Error::ok();
    // From here on the call is the connection's: it ends through its
    // callback or its waiter, whatever happens.  Running out of memory while
    // sending (recording what went on the wire) ends the connection, and
    // with it the call, with QMP_ENOMEM; the submission itself succeeded.
    try {
        flush_locked();
    } catch (const std::bad_alloc &) {
        lost_memory_locked();
        return Error::ok();
    }
    // The driver must poll for output, or recompute its timeout.
    if (session_.want_write() || (call->async && !call->deadline.infinite())) wake_driver();
    return Error::ok();
}

// On a guest agent channel after a call gave up waiting: sends 0xFF and a
// fresh guest-sync-delimited ahead of the next command, once no other
// answer is awaited (its reply would be dropped with the stale bytes).  A
// resync whose answer did not come before the command behind it gave up is
// replaced by a fresh one (the answer to the old id is then dropped).
void Client::maybe_resync_locked() {
    if (!session_.agent() || !session_.needs_resync() || session_.awaiting_answers()) return;
    session_.resync(random_sync_id());
    if (tracing()) trace(QMP_LOG_INFO, "synchronising the guest agent channel again");
}

// Checks and encodes command, then validates it if asked; opts->oob is set
// when the command says "exec-oob".
Error Client::prepare(const json_t *command, ExecOptions *opts, std::string *text, std::string *name) {
    Error e = protocol::prepare_command(command, &opts->oob, text, name);
    if (e) return e;
    return validate(command, *name, *opts);
}

Error Client::execute(const json_t *command, const ExecOptions &opts, Outcome *out) {
    ExecOptions eo = opts;
    std::string text, name;
    Error e = prepare(command, &eo, &text, &name);
    if (e) return e;
    return execute(text, name, eo, out);
}

Error Client::execute_async(const json_t *command, const ExecOptions &opts, qmp_reply_fn cb, void *user_data,
                            qmp_destroy_fn destroy) {
    ExecOptions eo = opts;
    std::string text, name;
    Error e = prepare(command, &eo, &text, &name);
    if (e) {
        if (destroy) destroy(user_data);
        return e;
    }
    return execute_async(text, name, eo, cb, user_data, destroy);
}

Error Client::execute(const std::string &command, const std::string &name, const ExecOptions &opts, Outcome *out) {
    auto call = std::make_shared<Call>();
    call->name = name;
    Lock lk(mu_);
    int timeout = opts.timeout_ms == 0 ? timeout_ms_ : opts.timeout_ms;
    Deadline dl = Deadline::in_ms(timeout);
    if (cancelled()) return Error::make(QMP_ECANCELLED, "'%s' was cancelled before it was sent", name.c_str());
    Error e = submit(lk, command, opts, call);
    if (e) return e;
    run_until(lk, [&] { return call->done || cancelled(); }, dl);
    if (!call->done) {
        session_.abandon(call->id);
        if (calls_.erase(call->id) && !call->grace.infinite()) graced_--;
        if (cancelled()) return Error::make(QMP_ECANCELLED, "'%s' was cancelled", name.c_str());
        LIBQMP_PROBE3(timeout, this, call->id, name.c_str());
        if (session_.agent())
            return Error::make(QMP_ETIMEDOUT, "the guest agent did not answer '%s' within %d ms", name.c_str(),
                               timeout);
        return Error::make(QMP_ETIMEDOUT, "no reply to '%s' within %d ms", name.c_str(), timeout);
    }
    out->error = call->error;
    out->reply = std::move(call->reply);
    return out->error;
}

Error Client::execute_async(const std::string &command, const std::string &name, const ExecOptions &opts,
                            qmp_reply_fn cb, void *user_data, qmp_destroy_fn destroy) {
    // Until call owns destroy, an exception leaves it to the caller (the C
    // layer runs it); from then on a failure is returned, and destroy runs
    // when `call` goes, unlocked.
    auto call = std::make_shared<Call>();
    call->name = name;
    call->async = true;
    call->cb = cb;
    call->user_data = user_data;
    if (opts.timeout_ms > 0) call->deadline = Deadline::in_ms(opts.timeout_ms);
    call->destroy = destroy;
    Lock lk(mu_);
    Error e;
    try {
        e = submit(lk, command, opts, call);
    } catch (const std::bad_alloc &) {
        e = out_of_memory();
    }
    if (e) {
        // The call failed: cb never runs.
        lk.unlock();
        return e;
    }
    // The send may have found the connection gone: run what that queued.
    // Not from inside a callback: the dispatch running it takes the next
    // ones in turn (running them here would nest one level per command a
    // callback sends, a deep stack when a read brings many replies).
    if (dispatch_depth_ == 0 || driver_ != std::this_thread::get_id()) dispatch(lk);
    return Error::ok();
}

// --- events -------------------------------------------------------------------------

Error Client::on_event(const char *name, qmp_event_fn cb, void *user_data, qmp_destroy_fn destroy,
                       unsigned int *out_id) {
    // h owns destroy last (see execute_async).
    auto h = std::make_shared<Handler>();
    h->name = name ? name : "";
    h->cb = cb;
    h->user_data = user_data;
    h->destroy = destroy;
    Lock lk(mu_);
    if (released_) {
        lk.unlock();
        return Error::make(QMP_ECANCELLED, "the client was freed");
    }
    try {
        handlers_.push_back(h);
    } catch (const std::bad_alloc &) {
        lk.unlock();
        return out_of_memory();
    }
    h->id = next_handler_id_++;
    if (next_handler_id_ == 0) next_handler_id_ = 1;
    if (out_id) *out_id = h->id;
    return Error::ok();
}

Error Client::off_event(unsigned int id) {
    std::shared_ptr<Handler> gone;
    {
        Lock lk(mu_);
        auto it = std::find_if(handlers_.begin(), handlers_.end(), [id](const auto &h) { return h->id == id; });
        if (it == handlers_.end()) return Error::make(QMP_EINVAL, "no event handler with id %u", id);
        gone = std::move(*it);
        gone->removed = true;
        handlers_.erase(it);
    }
    return Error::ok();  // `gone` is released here, unlocked: destroy runs now or after a call in progress
}

uint64_t Client::event_seq() {
    Lock lk(mu_);
    return session_.last_seq();
}

Error Client::wait_event(const char *name, const json_t *match, uint64_t after_seq, int timeout_ms,
                         protocol::EventPtr *out) {
    Lock lk(mu_);
    Waiter w;
    w.name = name ? name : "";
    w.match = match;
    w.after_seq = after_seq;
    for (const auto &ev : session_.ring()) {
        if (w.matches(*ev)) {
            *out = ev;
            return Error::ok();
        }
    }
    if (released_) return Error::make(QMP_ECANCELLED, "the client was freed");
    if (fd_ < 0) return not_connected();
    int timeout = timeout_ms == 0 ? timeout_ms_ : timeout_ms;
    waiters_.push_back(&w);
    {
        OnExit forget([&] {
            if (!lk.owns_lock()) lk.lock();
            waiters_.erase(std::find(waiters_.begin(), waiters_.end(), &w));
        });
        run_until(lk, [&] { return w.found || w.closed || cancelled(); }, Deadline::in_ms(timeout));
    }
    if (w.found) {
        *out = w.found;
        return Error::ok();
    }
    if (w.closed) {
        Error e = close_error_;
        if (!e) e = Error::make(QMP_ECLOSED, "the connection was closed");
        if (e.code != QMP_ECANCELLED) e.code = QMP_ECLOSED;
        return e;
    }
    if (cancelled()) return Error::make(QMP_ECANCELLED, "the wait for %s was cancelled", name ? name : "an event");
    return Error::make(QMP_ETIMEDOUT, "no event%s%s within %d ms", name ? " " : "", name ? name : "", timeout);
}

Error Client::on_close(qmp_close_fn cb, void *user_data, qmp_destroy_fn destroy) {
    auto hook = std::make_shared<CloseHook>();
    hook->cb = cb;
    hook->user_data = user_data;
    hook->destroy = destroy;
    Lock lk(mu_);
    if (released_) {
        lk.unlock();
        return Error::make(QMP_ECANCELLED, "the client was freed");
    }
    close_hook_.swap(hook);
    lk.unlock();
    return Error::ok();  // the replaced hook is released here, unlocked
}

Error Client::set_log(qmp_log_fn fn, void *user_data, qmp_destroy_fn destroy) {
    std::shared_ptr<LogHook> hook;
    if (fn) {
        hook = std::make_shared<LogHook>();
        hook->fn = fn;
        hook->user_data = user_data;
        hook->destroy = destroy;
    } else if (destroy) {
        destroy(user_data);
    }
    Lock lk(mu_);
    log_.swap(hook);
    lk.unlock();
    return Error::ok();  // the replaced hook is released here, unlocked
}

// Called with the lock held; secrets never reach the log: a message sent or
// received is redacted here, the notes (QMP_LOG_INFO) quote messages only
// through wire::redact_preview(), and validation warnings (QMP_LOG_WARNING)
// name only what the schema lists (commands, members, enum values).
void Client::trace(int kind, const std::string &text) {
    try {
        trace_or_throw(kind, text);
    } catch (const std::bad_alloc &) {
        // The trace is best effort: a line that cannot be built is skipped.
    }
}

void Client::trace_or_throw(int kind, const std::string &text) {
    bool wire_text = kind == QMP_LOG_SEND || kind == QMP_LOG_RECEIVE;
    std::string shown = wire_text ? wire::redact(text) : text;
    if (log_) {
        log_->fn(handle(), kind, shown.c_str(), log_->user_data);
        return;
    }
    const char *arrow = kind == QMP_LOG_SEND ? "->" : kind == QMP_LOG_RECEIVE ? "<-" : kind == QMP_LOG_WARNING ? "!!" : "--";
    std::fprintf(stderr, "libqmp %p %s %s\n", static_cast<void *>(this), arrow, shown.c_str());
}

// --- the schema -------------------------------------------------------------------

Error Client::schema(int timeout_ms, schema::Schema **out) {
    *out = nullptr;
    uint64_t gen;
    {
        Lock lk(mu_);
        if (fd_ < 0 || session_.phase() != protocol::Session::Phase::Ready)
            return Error::make(QMP_ECLOSED, "not connected: the schema comes from the server");
        if (session_.agent())
            return Error::make(QMP_EINVAL, "the guest agent has no schema (query-qmp-schema is QMP's)");
        if (schema_) {
            schema_->ref();
            *out = schema_;
            return Error::ok();
        }
        gen = conn_gen_;
    }
    // Two threads may fetch at once; the first to finish is kept.
    ExecOptions eo;
    eo.timeout_ms = timeout_ms;
    Outcome o;
    Error e = execute("{\"execute\":\"query-qmp-schema\"}", "query-qmp-schema", eo, &o);
    if (e) {
        if (e.code == QMP_ECOMMAND) e.message = "query-qmp-schema failed: " + e.message;
        return e;
    }
    std::string text;
    if ((e = reply_value_text(o, &text))) return e;
    schema::Schema *s = nullptr;
    if ((e = schema::Schema::build_text(text.data(), text.size(), &s))) {
        if (e.code != QMP_ENOMEM) e.code = QMP_EPROTO;  // the server's own schema is malformed
        return e;
    }
    Lock lk(mu_);
    if (gen == conn_gen_) {
        if (schema_) {
            s->unref();
            s = schema_;
        } else {
            schema_ = s;
        }
        s->ref();
    }
    *out = s;  // from a connection that has ended meanwhile: used, not kept
    return Error::ok();
}

// The policy: the call's options decide, else the client's setting.  The
// schema comes from the cache, or is fetched now, synchronously, also for
// an async call (set_validation() fetches it ahead when connected).
Error Client::validate(const json_t *command, const std::string &name, const ExecOptions &opts) {
    int flags = opts.validate == QMP_VALIDATE_OFF ? 0 : opts.validate ? opts.validate : validation();
    if (!flags) return Error::ok();
    SchemaRef s;
    Error e = schema(0, &s.s);
    if (e) {
        e.message = "cannot validate '" + name + "' without the server's schema: " + e.message;
        return e;
    }
    std::vector<std::string> warnings;
    e = s.s->validate(command, flags | QMP_VALIDATE, &warnings, opts.oob);
    for (const std::string &w : warnings) warn(w);
    return e;
}

Error Client::set_validation(int flags) {
    if (flags && is_connected()) {
        SchemaRef s;
        Error e = schema(0, &s.s);
        if (e) return e;
    }
    validate_.store(flags ? flags | QMP_VALIDATE : 0, std::memory_order_relaxed);
    return Error::ok();
}

// Reports what validation flagged to the trace (QMP_LOG_WARNING).
void Client::warn(const std::string &text) {
    Lock lk(mu_);
    if (tracing()) trace(QMP_LOG_WARNING, text);
}

// --- loop integration -------------------------------------------------------------

int Client::get_fd() {
    Lock lk(mu_);
    return fd_;
}

int Client::get_events() {
    Lock lk(mu_);
    if (fd_ < 0) return 0;
    return QMP_POLL_IN | (session_.want_write() ? QMP_POLL_OUT : 0);
}

int Client::get_timeout_ms() {
    Lock lk(mu_);
    if (!dispatch_idle() || more_input_) return 0;
    return next_call_deadline().remaining_ms();
}

Error Client::process(int revents) {
    Lock lk(mu_);
    // Drained first: whatever changes from here on signals again.
    if (loop_wake_pending_) {
        transport::wakeup_drain(loop_wake_fd_);
        loop_wake_pending_ = false;
    }
    // The loop's timer is one-shot: when the deadline it was told is due (or
    // nearly: a loop's clock may fire a little early), it is told again after
    // this call.  A timer still far off stays armed and is not told again.
    if (timer_told_ &&
        (told_due_ || (!told_deadline_.infinite() &&
                       told_deadline_.when() <= Clock::now() + std::chrono::milliseconds(kTimerSlackMs))))
        timer_told_ = false;
    if (!may_drive()) return Error::ok();  // another thread is driving; it does the work
    auto self = std::this_thread::get_id();
    bool outer = driver_ == std::thread::id();
    driver_ = self;
    {
        OnExit give_up([&] {
            if (!lk.owns_lock()) lk.lock();
            if (outer) driver_ = std::thread::id();
            cv_.notify_all();
        });
        try {
            // Reads until the socket is empty (bounded, so one busy connection
            // cannot starve the loop): an edge-triggered loop is told of new
            // input only once.
            bool more = more_input_;
            more_input_ = false;
            for (int i = 0; fd_ >= 0 && ((revents & QMP_POLL_IN) || more); i++) {
                more = read_locked();
                if (!more) break;
                if (i + 1 == kMaxReadsPerProcess) {
                    more_input_ = true;
                    wake_loops_locked();
                    break;
                }
            }
            if (fd_ >= 0) flush_locked();
            expire_calls_locked();
        } catch (const std::bad_alloc &) {
            if (!lk.owns_lock()) lk.lock();
            lost_memory_locked();
        }
        dispatch(lk);
    }
    if (fd_ < 0 && !connecting_) return Error::make(QMP_ECLOSED, "not connected");
    return Error::ok();
}

// --- loops that are told -------------------------------------------------------------

struct Client::LoopCallbacks {
    qmp_watch_fn watch = nullptr;
    qmp_timer_fn timer = nullptr;
    void *user_data = nullptr;
    qmp_destroy_fn destroy = nullptr;

    ~LoopCallbacks() {
        if (destroy) destroy(user_data);
    }
};

Error Client::wakeup_fd(int *out) {
    Lock lk(mu_);
    if (loop_wake_fd_ < 0) {
        Error e = transport::wakeup_new(&loop_wake_fd_);
        if (e) return e;
        // Whatever is due now must not wait for the next change.
        loop_wake_pending_ = false;
        wake_loops_locked();
    }
    *out = loop_wake_fd_;
    return Error::ok();
}

bool Client::awaiting_unwatch(int fd) const {
    return std::find(unwatch_fds_.begin(), unwatch_fds_.end(), fd) != unwatch_fds_.end();
}

Error Client::set_loop_callbacks(qmp_watch_fn watch, qmp_timer_fn timer, void *user_data, qmp_destroy_fn destroy) {
    std::shared_ptr<LoopCallbacks> cbs;
    if (watch || timer || destroy) {
        try {
            cbs = std::make_shared<LoopCallbacks>();
        } catch (...) {
            if (destroy) destroy(user_data);
            throw;
        }
        cbs->user_data = user_data;
        cbs->destroy = destroy;  // from here on, destroy runs once whatever happens
        if (!watch || !timer)
            return Error::make(QMP_EINVAL, "both the watch and the timer callback are needed (or neither, to remove them)");
        cbs->watch = watch;
        cbs->timer = timer;
    }
    std::shared_ptr<LoopCallbacks> old;
    {
        Lock lk(mu_);
        if (released_) return Error::make(QMP_ECANCELLED, "the client was freed");
        auto self = std::this_thread::get_id();
        if (announcer_ == self)
            return Error::make(QMP_EDEADLK, "the loop callbacks cannot be replaced from inside one of them");
        announce_cv_.wait(lk, [&] { return announcer_ == std::thread::id(); });
        announcer_ = self;
        // Given back also if an allocation below throws (with the lock held then).
        struct Release {
            Client *c;
            ~Release() {
                c->announcer_ = std::thread::id();
                c->announce_cv_.notify_all();
            }
        } give_back{this};
        // The old callbacks stop watching what they were told of (sockets
        // closed but not yet unwatched, and the current one) while they are
        // still the ones set, so a socket closed meanwhile waits for them too.
        std::vector<int> told;
        while (loop_cbs_) {
            std::vector<int> fds;
            auto untold = [&](int fd) { return std::find(told.begin(), told.end(), fd) == told.end(); };
            for (int fd : unwatch_fds_)
                if (untold(fd)) fds.push_back(fd);
            if (told_fd_ >= 0 && told_fd_ == fd_ && untold(told_fd_)) fds.push_back(told_fd_);
            if (fds.empty()) break;
            std::shared_ptr<LoopCallbacks> cur = loop_cbs_;
            lk.unlock();
            for (int fd : fds) cur->watch(handle(), fd, 0, cur->user_data);
            lk.lock();
            told.insert(told.end(), fds.begin(), fds.end());
        }
        old = std::move(loop_cbs_);
        for (int fd : unwatch_fds_)
            if (fd != closing_fd_) transport::close_fd(fd);
        unwatch_fds_.clear();
        loop_cbs_ = std::move(cbs);
        told_fd_ = -1;
        told_events_ = 0;
        timer_told_ = false;
        loop_told_.store(loop_cbs_ != nullptr, std::memory_order_release);
    }
    old.reset();  // its destroy, unlocked
    tell_loop();  // the new ones learn the current state
    return Error::ok();
}

void Client::tell_loop() noexcept {
    if (!loop_told_.load(std::memory_order_acquire)) return;
    std::shared_ptr<LoopCallbacks> cbs;
    Lock lk(mu_);
    auto self = std::this_thread::get_id();
    if (announcer_ == self) {
        // A callback called back into the client: its outer loop tells the rest.
        announce_again_ = true;
        return;
    }
    announce_cv_.wait(lk, [&] { return announcer_ == std::thread::id(); });
    announcer_ = self;
    for (;;) {
        announce_again_ = false;
        cbs = loop_cbs_;
        if (!cbs) break;
        if (!unwatch_fds_.empty()) {
            int fd = unwatch_fds_.front();
            if (told_fd_ == fd) {
                told_fd_ = -1;
                told_events_ = 0;
            }
            lk.unlock();
            cbs->watch(handle(), fd, 0, cbs->user_data);
            lk.lock();
            unwatch_fds_.erase(unwatch_fds_.begin());
            if (fd != closing_fd_) transport::close_fd(fd);
            continue;
        }
        int fd = fd_;
        int events = fd < 0 ? 0 : QMP_POLL_IN | (session_.want_write() ? QMP_POLL_OUT : 0);
        if (fd != told_fd_ || events != told_events_) {
            told_fd_ = fd;
            told_events_ = events;
            if (fd >= 0) {
                lk.unlock();
                cbs->watch(handle(), fd, events, cbs->user_data);
                lk.lock();
            }
            continue;
        }
        bool due = !dispatch_idle() || more_input_;
        Deadline next = due ? Deadline::never() : next_call_deadline();
        bool same = timer_told_ && due == told_due_ &&
                    (due || (next.infinite() == told_deadline_.infinite() &&
                             (next.infinite() || next.when() == told_deadline_.when())));
        if (!same) {
            timer_told_ = true;
            told_due_ = due;
            told_deadline_ = next;
            int ms = due ? 0 : next.remaining_ms();
            lk.unlock();
            cbs->timer(handle(), ms, cbs->user_data);
            lk.lock();
            continue;
        }
        if (!announce_again_) break;
    }
    announcer_ = std::thread::id();
    announce_cv_.notify_all();
    lk.unlock();
    cbs.reset();  // a replaced set's destroy may run here, unlocked
}

// At free: the loop is told to stop watching, then the callbacks go.
void Client::drop_loop_callbacks() noexcept {
    tell_loop();
    std::shared_ptr<LoopCallbacks> old;
    {
        Lock lk(mu_);
        announce_cv_.wait(lk, [&] { return announcer_ == std::thread::id(); });
        old = std::move(loop_cbs_);
        loop_told_.store(false, std::memory_order_release);
        for (int fd : unwatch_fds_)
            if (fd != closing_fd_) transport::close_fd(fd);
        unwatch_fds_.clear();
    }
}

// --- the driver -----------------------------------------------------------------------

bool Client::may_drive() const {
    if (driver_ == std::this_thread::get_id()) return true;
    if (driver_ != std::thread::id()) return false;
    return !hook_ || hook_->may_drive_here();
}

void Client::wake_driver() {
    if (polled_fd_ >= 0 && wake_fd_ >= 0) transport::wakeup_signal(wake_fd_);
    wake_loops_locked();
}

// One signal until the loop drains it in process(): a storm of submissions
// costs one write, and a change after the drain signals again, so none is lost.
void Client::wake_loops_locked() {
    if (loop_wake_fd_ >= 0 && !loop_wake_pending_) {
        transport::wakeup_signal(loop_wake_fd_);
        loop_wake_pending_ = true;
    }
}

Error Client::attach(std::shared_ptr<LoopHook> hook) {
    std::shared_ptr<LoopHook> old;
    {
        Lock lk(mu_);
        if (released_) return Error::make(QMP_ECANCELLED, "the client was freed");
        old = std::move(hook_);
        hook_ = std::move(hook);
        wake_loops_locked();
    }
    if (old) old->detached();
    return Error::ok();
}

void Client::detach() {
    std::shared_ptr<LoopHook> old;
    {
        Lock lk(mu_);
        old = std::move(hook_);
        cv_.notify_all();  // waiters may drive themselves now
    }
    if (old) old->detached();
}

Error Client::run_until(Lock &lk, const std::function<bool()> &done, const Deadline &deadline) {
    bool direct = true;  // until a direct read's slice passes once
    for (;;) {
        if (may_drive()) dispatch(lk);
        if (done()) return Error::ok();
        if (fd_ < 0) return Error::make(QMP_ECLOSED, "not connected");
        if (deadline.expired()) return Error::make(QMP_ETIMEDOUT, "timed out");
        if (!may_drive()) {
            if (deadline.infinite())
                cv_.wait(lk);
            else
                cv_.wait_until(lk, deadline.when());
            continue;
        }
        bool outer = driver_ == std::thread::id();
        driver_ = std::this_thread::get_id();
        // Whatever happens, the role is given up and the waiters woken: a
        // thread stuck in cv_.wait() waits for exactly this.
        OnExit give_up([&] {
            if (!lk.owns_lock()) lk.lock();
            if (outer) driver_ = std::thread::id();
            cv_.notify_all();
        });
        try {
            drive_once(lk, deadline, &direct);
        } catch (const std::bad_alloc &) {
            if (!lk.owns_lock()) lk.lock();
            lost_memory_locked();
        }
        cv_.notify_all();  // replies routed to other threads: let them go now
        dispatch(lk);
    }
}

// One read buffer per thread, not per client: reads happen under the lock
// and the splitter keeps what it needs, so an idle client holds none.  The
// thread_local is a plain pointer, freed at thread exit through a pthread
// key: a thread_local with a destructor would make glibc register it at
// first use, and abort the process when that registration cannot allocate.
namespace {

thread_local char *tls_read_buffer = nullptr;
pthread_key_t read_buffer_key;
bool read_buffer_key_ok = false;
pthread_once_t read_buffer_once = PTHREAD_ONCE_INIT;

void free_read_buffer(void *p) {
    delete[] static_cast<char *>(p);
    tls_read_buffer = nullptr;
}

void make_read_buffer_key() { read_buffer_key_ok = pthread_key_create(&read_buffer_key, free_read_buffer) == 0; }

// Throws std::bad_alloc when the buffer cannot be had.
char *read_buffer() {
    if (tls_read_buffer) return tls_read_buffer;
    pthread_once(&read_buffer_once, make_read_buffer_key);
    if (!read_buffer_key_ok) throw std::bad_alloc();
    std::unique_ptr<char[]> buf(new char[kReadChunk]);
    if (pthread_setspecific(read_buffer_key, buf.get()) != 0) throw std::bad_alloc();
    tls_read_buffer = buf.release();
    return tls_read_buffer;
}

}  // namespace

void Client::drive_once(Lock &lk, const Deadline &deadline, bool *direct) {
    flush_locked();
    if (fd_ < 0) return;
    Deadline due = deadline.earlier(next_call_deadline());
    if (*direct && may_read_directly(due)) {
        read_directly(lk, direct);
        return;
    }
    short events = POLLIN | (session_.want_write() ? POLLOUT : 0);
    int timeout = due.remaining_ms();
    int fd = fd_;
    int wake = wake_fd_;
    short revents = 0;
    bool woken = false;
    polled_fd_ = fd;
    lk.unlock();
    Error e = transport::wait(fd, events, wake, timeout, &revents, &woken);
    lk.lock();
    back_from_waiting_locked();
    if (fd_ != fd) return;  // the connection ended while we waited
    if (e) {
        teardown(e, e.code);
        return;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) read_locked();
    if (fd_ >= 0 && (revents & POLLOUT)) flush_locked();
    expire_calls_locked();
}

// The driver's socket after a wait with the lock released: if teardown let
// go of it meanwhile, it is closed now (unless a loop still watches it).
void Client::back_from_waiting_locked() {
    polled_fd_ = -1;
    direct_reading_ = false;
    if (closing_fd_ >= 0) {
        if (!awaiting_unwatch(closing_fd_)) transport::close_fd(closing_fd_);
        closing_fd_ = -1;
    }
}

// A synchronous call's wait when nothing else can need the driver within
// the slice: no loop drives or watches the client, nothing waits to be
// sent, no deadline (the caller's or an async call's) falls within it.
bool Client::may_read_directly(const Deadline &due) const {
    return direct_ok_ && !hook_ && !loop_cbs_ && loop_wake_fd_ < 0 && !connecting_ && !session_.want_write() &&
           (due.infinite() || due.remaining_ms() > kDirectReadSliceMs);
}

// One blocking recv() in place of poll() + recv(): an uncontended round trip
// costs two system calls, as a blocking client's does.  A teardown from
// another thread ends it with shutdown() (teardown()); anything else that
// would wake the driver waits for the slice to pass, after which this call
// polls (*direct = false).
void Client::read_directly(Lock &lk, bool *direct) {
    char *buf = read_buffer();
    int fd = fd_;
    size_t n = 0;
    transport::IoResult res;
    polled_fd_ = fd;
    direct_reading_ = true;
    lk.unlock();
    Error e = transport::receive(fd, buf, kReadChunk, &n, &res, true);
    lk.lock();
    back_from_waiting_locked();
    if (fd_ != fd) return;  // the connection ended while we waited
    if (!e && res == transport::IoResult::WouldBlock)
        *direct = false;  // the slice passed: poll, and hear wake-ups, from now on
    else
        consume_locked(buf, n, res, e);
    expire_calls_locked();
}


// Returns true when the read filled the buffer: there may be more to read.
bool Client::read_locked() {
    size_t n = 0;
    transport::IoResult res;
    char *buf = read_buffer();
    Error e = transport::receive(fd_, buf, kReadChunk, &n, &res);
    return consume_locked(buf, n, res, e);
}

// What a read of the socket gave: n bytes in buf, the end, or an error.
// Returns true when the read filled the buffer: there may be more to read.
bool Client::consume_locked(char *buf, size_t n, transport::IoResult res, const Error &e) {
    if (e) {
        teardown(e, e.code);
        return false;
    }
    if (res == transport::IoResult::WouldBlock) return false;
    if (res == transport::IoResult::Eof) {
        Error why = splitter_.idle() ? Error::make(QMP_ECLOSED, "the server closed the connection")
                                     : Error::make(QMP_ECLOSED, "the server closed the connection in the middle of a message");
        teardown(why, QMP_ECLOSED);
        return false;
    }
    int fd = fd_;
    if (!session_.agent()) {
        feed_locked(buf, n);
        return n == kReadChunk && fd_ == fd;
    }
    // A guest agent channel: 0xFF never occurs in JSON text; it is the
    // sentinel in front of a guest-sync-delimited answer, and whatever
    // partial message came before it is stale.
    size_t pos = 0;
    while (pos < n && fd_ == fd) {
        const void *ff = std::memchr(buf + pos, 0xff, n - pos);
        size_t end = ff ? static_cast<size_t>(static_cast<const char *>(ff) - buf) : n;
        if (end > pos) feed_locked(buf + pos, end - pos);
        if (!ff || fd_ != fd) break;
        splitter_.reset();
        session_.sentinel();
        pos = end + 1;
    }
    return n == kReadChunk && fd_ == fd;
}

void Client::feed_locked(const char *buf, size_t n) {
    if (session_.dropping()) {
        if (tracing()) trace(QMP_LOG_INFO, "dropped " + std::to_string(n) + " stale bytes before the guest agent's sentinel");
        return;
    }
    // The messages of one read, in a vector the client keeps: growing a new
    // one for every read of many replies cost more than routing them.
    std::vector<wire::Message> &msgs = read_msgs_;
    OnExit empty([&] {
        msgs.clear();
        if (msgs.capacity() > kKeptReadMessages) std::vector<wire::Message>().swap(msgs);
    });
    Error split = splitter_.feed(buf, n, msgs);
    int fd = fd_;
    protocol::Session::Effects fx;  // one for the whole read: its vectors allocate once
    for (auto &m : msgs) {
        if (fd_ != fd) return;
        if (tracing()) trace(QMP_LOG_RECEIVE, m.text);
        fx.clear();
        session_.receive(std::move(m), fx);
        apply(fx);
    }
    if (split && fd_ == fd) {
        if (session_.agent() && session_.syncing()) {
            // Not JSON after a sentinel while synchronising: stale bytes;
            // wait for the sentinel of the awaited answer.
            if (tracing()) trace(QMP_LOG_INFO, "dropped stale bytes while synchronising: " + split.message);
            splitter_.reset();
            session_.lost_sentinel();
            return;
        }
        teardown(split, split.code);
    }
}

// Sends what is queued, several messages per system call.
void Client::flush_locked() {
    constexpr size_t kMaxGather = 64;
    protocol::Session::Chunk cs[kMaxGather];
    struct iovec iov[kMaxGather];
    size_t k;
    while (fd_ >= 0 && (k = session_.fronts(cs, kMaxGather)) > 0) {
        size_t total = 0;
        for (size_t i = 0; i < k; i++) {
            iov[i].iov_base = const_cast<char *>(cs[i].data);
            iov[i].iov_len = cs[i].len;
            total += cs[i].len;
        }
        // The fds of a command ride on its first byte; they are its call's.
        Call *owner = nullptr;
        if (cs[0].with_fds) {
            auto it = calls_.find(cs[0].id);
            if (it == calls_.end()) {
                // Its call is gone, and its fds with it: the command cannot go as asked.
                session_.abandon(cs[0].id);
                continue;
            }
            owner = it->second.get();
        }
        size_t n = 0;
        transport::IoResult res;
        Error e = transport::send_iov(fd_, iov, k, owner ? owner->fds.data() : nullptr, owner ? owner->fds.size() : 0,
                                      &n, &res);
        if (e) {
            teardown(e, e.code);
            return;
        }
        if (res == transport::IoResult::Eof) {
            teardown(Error::make(QMP_ECLOSED, "the server closed the connection"), QMP_ECLOSED);
            return;
        }
        if (res == transport::IoResult::WouldBlock) return;
        if (tracing()) {
            size_t off = 0;
            for (size_t i = 0; i < k && off < n; off += cs[i].len, i++)
                if (cs[i].first) trace(QMP_LOG_SEND, std::string(cs[i].data, cs[i].len));
        }
        if (owner && n > 0) owner->fds.reset();  // the kernel holds its own copies now
        session_.consumed(n);
        if (n < total) return;  // the socket is full: wait for POLLOUT
    }
}

void Client::apply(protocol::Session::Effects &fx) {
    if (tracing()) {
        for (const auto &note : fx.notes) trace(QMP_LOG_INFO, note);
        if (fx.fatal) trace(QMP_LOG_INFO, "closing: " + fx.fatal.message);
    }
    for (auto &c : fx.completions) {
        auto it = calls_.find(c.id);
        if (it == calls_.end()) continue;
        auto call = it->second;
        LIBQMP_PROBE4(reply__route, this, c.id, c.error.code,
                      LIBQMP_PROBE_ENABLED(reply__route) ? probes::since_ns(call->submitted_ns) : 0);
        finish_call(call, std::move(c.error), std::move(c.reply));  // may throw: the call stays in calls_
        calls_.erase(it);
        if (call->async && !call->deadline.infinite()) timed_async_--;
        if (!call->grace.infinite()) graced_--;
    }
    for (auto &ev : fx.events) {
        LIBQMP_PROBE3(event__dispatch, this, ev->name().c_str(), ev->seq());
        for (Waiter *w : waiters_)
            if (!w->found && w->matches(*ev)) w->found = ev;
        if (!handlers_.empty()) queue(Dispatch{Dispatch::Kind::Event, nullptr, ev, nullptr, 0});
    }
    if (fx.became_ready && connecting_) end_connecting(Error::ok());
    if (fx.became_ready || !fx.completions.empty() || !fx.events.empty()) cv_.notify_all();
    if (fx.fatal) {
        teardown(fx.fatal, fx.fatal.code);
    }
}

void Client::finish_call(const std::shared_ptr<Call> &call, Error err, wire::Message &&reply) {
    call->fds.reset();  // sent by now, or never to be
    call->done = true;
    call->error = std::move(err);
    call->reply = std::move(reply);
    if (call->async) {
        // The slot was reserved when the call was submitted.
        if (dispatch_reserve_ > kFixedReserve) dispatch_reserve_--;
        queue_reserved(Dispatch{Dispatch::Kind::Reply, call, nullptr, nullptr, 0});
    }
}

void Client::reserve_dispatch(size_t more) {
    size_t need = dispatch_q_.size() + more + dispatch_reserve_;
    if (dispatch_q_.capacity() < need) dispatch_q_.reserve(std::max(need, 2 * dispatch_q_.capacity()));
}

void Client::shrink_dispatch() noexcept {
    size_t keep = std::max(kKeptDispatch, dispatch_reserve_);
    if (dispatch_q_.capacity() <= 2 * keep) return;
    try {
        std::vector<Dispatch> smaller;
        smaller.reserve(keep);  // at least the reserved room
        dispatch_q_.swap(smaller);
    } catch (const std::bad_alloc &) {
        // The big queue stays: it has the room.
    }
}

void Client::queue(Dispatch &&d) {
    reserve_dispatch(1);
    dispatch_q_.push_back(std::move(d));  // within the capacity just ensured
}

bool Client::dispatch_idle() const { return dispatch_head_ == dispatch_q_.size(); }

void Client::queue_reserved(Dispatch &&d) noexcept {
    // Within the room reserve_dispatch() keeps (see dispatch_reserve_): no allocation.
    dispatch_q_.push_back(std::move(d));
}

// A copy of e, or, when even that cannot be had, its code alone (the
// message then reads as qmp_strerror(code)).
Error Client::copy_or_code(const Error &e) noexcept {
    try {
        return e;
    } catch (...) {
        Error c;
        c.code = e.code;
        c.sys_errno = e.sys_errno;
        return c;
    }
}

Deadline Client::next_call_deadline() const {
    Deadline next = Deadline::never();
    if (connecting_) next = connecting_->deadline.earlier(connecting_->retry_at);
    if (timed_async_ == 0 && graced_ == 0) return next;
    for (const auto &kv : calls_) {
        if (kv.second->async) next = next.earlier(kv.second->deadline);
        next = next.earlier(kv.second->grace);
    }
    return next;
}

void Client::expire_calls_locked() {
    if (connecting_ && fd_ < 0 && connecting_->retry_at.expired()) {
        try_connect_locked();
    } else if (connecting_ && connecting_->deadline.expired()) {
        Error t = handshake_timeout(session_.phase(), connecting_->peer);
        auto conn = connecting_;
        connecting_.reset();
        teardown(t, QMP_ETIMEDOUT);
        connecting_ = std::move(conn);
        end_connecting(t);
    }
    if (graced_ > 0) {
        std::vector<std::shared_ptr<Call>> quiet;
        for (const auto &kv : calls_)
            if (kv.second->grace.expired() && session_.on_wire(kv.first)) quiet.push_back(kv.second);
        for (auto &call : quiet) {
            // Sent and not refused: it succeeded (it answers only on failure).
            session_.forget(call->id);
            calls_.erase(call->id);
            graced_--;
            if (call->async && !call->deadline.infinite()) timed_async_--;
            finish_call(call, Error::ok(), wire::Message());
        }
    }
    if (timed_async_ == 0) return;
    std::vector<std::shared_ptr<Call>> due;
    for (const auto &kv : calls_)
        if (kv.second->async && kv.second->deadline.expired()) due.push_back(kv.second);
    for (auto &call : due) {
        LIBQMP_PROBE3(timeout, this, call->id, call->name.c_str());
        session_.abandon(call->id);
        calls_.erase(call->id);
        timed_async_--;
        if (!call->grace.infinite()) graced_--;
        finish_call(call,
                    session_.agent()
                        ? Error::make(QMP_ETIMEDOUT, "the guest agent did not answer '%s' in time", call->name.c_str())
                        : Error::make(QMP_ETIMEDOUT, "no reply to '%s' in time", call->name.c_str()),
                    wire::Message());
    }
}

Error Client::out_of_memory() noexcept {
    Error e;
    e.code = QMP_ENOMEM;
    try {
        e.message = "out of memory";
    } catch (...) {
        // left empty: set_last_error() shows qmp_strerror(QMP_ENOMEM)
    }
    return e;
}

// Memory ran out while the connection was being handled under the lock:
// what was read, routed or queued is no longer known (a reply or an event
// may be lost), so the connection ends with QMP_ENOMEM, which every waiting
// call, the connect callback and the close handler receive.
void Client::lost_memory_locked() noexcept {
    Error why = out_of_memory();
    try {
        why.message = "out of memory while handling the connection; it was closed";
    } catch (...) {
    }
    try {
        if (fd_ >= 0)
            teardown(why, QMP_ENOMEM);
        else if (connecting_)
            end_connecting(why);
    } catch (...) {
        // Even the teardown ran short: close the socket at least, so that
        // every waiter sees a closed connection instead of waiting on.
        if (fd_ >= 0) {
            if (fd_ == polled_fd_) {
                let_go_of_polled_locked();
            } else {
                transport::close_fd(fd_);
            }
            fd_ = -1;
        }
        session_.clear();
        for (Waiter *w : waiters_) w->closed = true;
        cv_.notify_all();
    }
}

// Ends the connection (called with the lock held).  Every waiting call completes with why (QMP_ECANCELLED
// when the application closed), waiters wake, and the close hook is queued
// with close_reason if the connection had been established.
// Teardown of the socket the driver waits on with the lock released: the
// driver closes it when it is back (back_from_waiting_locked()); a direct
// read is ended at once by shutting the socket down, a poll by the wake fd.
void Client::let_go_of_polled_locked() noexcept {
    closing_fd_ = fd_;
    if (direct_reading_) transport::shut_down(fd_);
    wake_driver();
}

void Client::teardown(const Error &why, int close_reason) {
    if (fd_ < 0) return;
    LIBQMP_PROBE3(close, this, close_reason, why.message.c_str());
    conn_gen_++;
    if (schema_) {
        schema_->unref();  // immutable and reference counted: no callback can be using ours
        schema_ = nullptr;
    }
    bool was_ready = session_.phase() == protocol::Session::Phase::Ready;
    bool agent = session_.agent();
    close_phase_ = session_.phase();
    close_error_ = copy_or_code(why);
    session_.clear();
    splitter_.reset();
    // The calls end in the order they were made, taken out oldest first so
    // that ending them allocates nothing (their slots are reserved).
    timed_async_ = 0;
    graced_ = 0;
    while (!calls_.empty()) {
        auto oldest = std::min_element(calls_.begin(), calls_.end(),
                                       [](const auto &a, const auto &b) { return a.first < b.first; });
        std::shared_ptr<Call> call = std::move(oldest->second);
        calls_.erase(oldest);
        // The guest going down after guest-shutdown (or suspending) closes
        // the channel: that is the command's success.
        if (agent && why.code == QMP_ECLOSED && !call->grace.infinite())
            finish_call(call, Error::ok(), wire::Message());
        else
            finish_call(call, copy_or_code(why), wire::Message());
    }
    for (Waiter *w : waiters_) w->closed = true;
    // A socket the loop callbacks were told to watch stays open until they
    // are told to stop (tell_loop()), so the loop never polls a closed or
    // reused fd; the same holds for the thread polling it in drive_once().
    bool told = loop_cbs_ && told_fd_ == fd_;
    if (told) {
        try {
            unwatch_fds_.push_back(fd_);
        } catch (...) {
            told = false;  // out of memory: close it now rather than never
        }
    }
    if (fd_ == polled_fd_) {
        let_go_of_polled_locked();
    } else if (!told) {
        transport::close_fd(fd_);
    }
    fd_ = -1;
    if (connecting_) {
        Error status;
        try {
            status = handshake_error(connecting_->peer);
        } catch (...) {
            status = copy_or_code(close_error_);
        }
        end_connecting(std::move(status));
    }
    if (was_ready && close_hook_) queue_reserved(Dispatch{Dispatch::Kind::Close, nullptr, nullptr, close_hook_, close_reason});
    wake_loops_locked();
    cv_.notify_all();
}

// Runs the queued callbacks in order, one at a time, with the lock released.
// Only the driver dispatches (a thread with no driver around becomes it for
// the while), which keeps callbacks ordered and in one thread at a time.
void Client::dispatch(Lock &lk) {
    if (!may_drive() || dispatch_idle()) return;
    bool outer = driver_ == std::thread::id();
    driver_ = std::this_thread::get_id();
    dispatch_depth_++;
    OnExit give_up([&] {
        if (!lk.owns_lock()) lk.lock();
        dispatch_depth_--;
        if (outer) {
            driver_ = std::thread::id();
            cv_.notify_all();
        }
    });
    while (!dispatch_idle()) {
        Dispatch d = std::move(dispatch_q_[dispatch_head_++]);
        if (dispatch_idle()) {
            dispatch_q_.clear();  // keeps the capacity, and with it the reserved room
            dispatch_head_ = 0;
            shrink_dispatch();
        } else if (dispatch_head_ >= 1024 && 2 * dispatch_head_ >= dispatch_q_.size()) {
            // Callbacks that keep queueing more: drop the run ones (moves, no allocation).
            dispatch_q_.erase(dispatch_q_.begin(), dispatch_q_.begin() + static_cast<std::ptrdiff_t>(dispatch_head_));
            dispatch_head_ = 0;
        }
        try {
            run_dispatch(lk, d);
            if (dispatch_idle() && dispatch_depth_ == 1) flush_locked();  // may queue a close
        } catch (const std::bad_alloc &) {
            // An event that could not be handed to its handlers, or output
            // that could not be sent: end the connection, and say why.
            if (!lk.owns_lock()) lk.lock();
            lost_memory_locked();
        }
    }
}

void Client::run_dispatch(Lock &lk, Dispatch &d) {
    switch (d.kind) {
    case Dispatch::Kind::Event: {
        std::vector<std::shared_ptr<Handler>> targets;
        for (const auto &h : handlers_)
            if (h->name.empty() || h->name == d.event->name()) targets.push_back(h);
        lk.unlock();
        {
            protocol::Delivery view(*d.event);
            for (const auto &h : targets) {
                if (h->removed) continue;
                h->cb(handle(), reinterpret_cast<const qmp_event *>(&view), h->user_data);
            }
        }
        targets.clear();
        d.event.reset();
        lk.lock();
        break;
    }
    case Dispatch::Kind::Reply: {
        std::shared_ptr<Call> call = std::move(d.call);
        lk.unlock();
        Outcome o;
        o.error = std::move(call->error);
        o.reply = std::move(call->reply);
        json_t *result = nullptr;
        if (!o.error || o.error.code == QMP_ECOMMAND) {
            Error pe = reply_value_tree(o, &result);
            if (pe) o.error = pe;
        }
        set_last_error(o.error);
        if (call->cb) call->cb(handle(), o.error.code, result, call->user_data);
        json_decref(result);
        call.reset();  // destroy runs here, after cb
        lk.lock();
        break;
    }
    case Dispatch::Kind::Connect: {
        std::shared_ptr<Connecting> conn = std::move(d.connect);
        lk.unlock();
        set_last_error(conn->status);
        if (conn->cb) conn->cb(handle(), conn->status.code, conn->user_data);
        conn.reset();  // destroy runs here, after cb
        lk.lock();
        break;
    }
    case Dispatch::Kind::Close: {
        std::shared_ptr<CloseHook> hook = std::move(d.hook);
        lk.unlock();
        if (hook->cb) hook->cb(handle(), d.reason, hook->user_data);
        hook.reset();
        lk.lock();
        break;
    }
    }
}

}  // namespace qmp::client
