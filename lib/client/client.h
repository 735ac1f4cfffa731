// The client behind qmp_client_*: the connection, the lock, synchronous
// waits, async callbacks, deadlines, event handlers and waiters, and the
// calls that let any event loop drive it.
//
// Threading (qmp-client.h, "Threads"): one mutex guards the state.  At most one
// thread at a time is the *driver*: it polls the socket (with the lock
// released), reads, routes, and runs the queued callbacks in order, with the
// lock released for each.  A synchronous call drives the connection itself
// when nobody else does, else it sleeps on the condition variable until the
// driver has routed its reply.  A callback runs in the driver thread, so a
// synchronous call made from inside one drives the connection re-entrantly.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <jansson.h>

#include <qmp/qmp-client.h>

#include "common/deadline.h"
#include "common/error.h"
#include "protocol/event.h"
#include "protocol/session.h"
#include "transport/socket.h"
#include "wire/message.h"
#include "wire/splitter.h"

namespace qmp::schema {
class Schema;
}

namespace qmp::client {

// An event loop the client is attached to (the GLib layer implements it).
// While attached, only a thread that runs the loop drives the connection,
// so callbacks run in the loop's thread.  The loop learns of changes the way
// any loop does: it watches wakeup_fd().
class LoopHook {
public:
    virtual ~LoopHook() = default;
    // May the calling thread drive the connection now (it runs the loop, or nobody does)?
    virtual bool may_drive_here() = 0;
    // The client is going away or attaching elsewhere: stop calling it.
    virtual void detached() = 0;
};

struct ExecOptions {
    int timeout_ms = 0;  // 0: the client's default (sync) or none (async); -1: forever
    const int *fds = nullptr;
    size_t nfds = 0;
    bool oob = false;
    int validate = 0;  // qmp_exec_options.validate: 0 the client's setting, QMP_VALIDATE_OFF, or flags
};

class Client;

// The qmp_call an operation of the calling thread runs for (qmp_call_run()
// and the handle's own calls): while the scope lives, every wait of this
// thread on `client` (connecting, a reply, an event, a guest agent's nap)
// ends with QMP_ECANCELLED once *flag is set, and nothing more is sent.
// Scopes nest; one with a NULL flag shields what must finish whatever
// happens (closing a guest file).  cancel.cpp.
class CancelScope {
public:
    CancelScope(const Client *client, const std::atomic<bool> *flag) noexcept;
    ~CancelScope();
    CancelScope(const CancelScope &) = delete;
    CancelScope &operator=(const CancelScope &) = delete;

private:
    const Client *outer_client_;  // the scope this one hides
    const std::atomic<bool> *outer_flag_;
};

// What a command came to: the status, and the reply its value is read from.
struct Outcome {
    Error error;
    wire::Message reply;
};

// The value of a reply ("return", or "error" for QMP_ECOMMAND) as a tree or as text.
Error reply_value_tree(const Outcome &o, json_t **out);
Error reply_value_text(const Outcome &o, std::string *out);

class Client {
public:
    Client();
    ~Client();
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;

    static Client *from(qmp_client *c) { return reinterpret_cast<Client *>(c); }
    qmp_client *handle() { return reinterpret_cast<qmp_client *>(this); }

    void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
    void unref();
    // The application is done with the client: close, cancel, run every
    // destroy notifier, and drop the application's reference.
    void release();

    Error set_timeout(int timeout_ms);
    Error set_oob(bool enable);
    Error set_max_message_size(size_t bytes);
    Error set_event_buffer(size_t max_events);
    int default_timeout();

    Error connect_unix(const char *path, int timeout_ms);
    Error connect_tcp(const char *host, const char *port, int timeout_ms);
    Error connect_fd(int fd, int timeout_ms);
    // A guest agent instead of a QMP monitor: no greeting; the
    // channel is synchronised with guest-sync-delimited before it returns.
    Error connect_agent_unix(const char *path, int timeout_ms);
    Error connect_agent_fd(int fd, int timeout_ms);
    bool is_agent();
    // Non-blocking: start connecting and return; cb reports the handshake's end.
    Error connect_unix_async(const char *path, int timeout_ms, qmp_connect_fn cb, void *user_data,
                             qmp_destroy_fn destroy);
    Error connect_fd_async(int fd, int timeout_ms, qmp_connect_fn cb, void *user_data, qmp_destroy_fn destroy);
    Error close();
    bool is_connected();
    // The greeting (borrowed), valid until this thread calls greeting()
    // again or the client is freed; nullptr when not connected.
    const json_t *greeting();
    Error version(int *major, int *minor, int *micro);
    bool has_capability(const char *name);

    // A command object: its shape checked and encoded (protocol::prepare_command),
    // validated as the options or the client's setting ask, then run.  On
    // failure the async form runs destroy (once) and never cb.
    Error execute(const json_t *command, const ExecOptions &opts, Outcome *out);
    Error execute_async(const json_t *command, const ExecOptions &opts, qmp_reply_fn cb, void *user_data,
                        qmp_destroy_fn destroy);
    // The same for a command already encoded (no "id"), not validated.
    Error execute(const std::string &command, const std::string &name, const ExecOptions &opts, Outcome *out);
    Error execute_async(const std::string &command, const std::string &name, const ExecOptions &opts,
                        qmp_reply_fn cb, void *user_data, qmp_destroy_fn destroy);

    Error on_event(const char *name, qmp_event_fn cb, void *user_data, qmp_destroy_fn destroy,
                   unsigned int *out_id);
    Error off_event(unsigned int id);
    uint64_t event_seq();
    Error wait_event(const char *name, const json_t *match, uint64_t after_seq, int timeout_ms,
                     protocol::EventPtr *out);
    // Wakes every thread waiting in this client (asleep, or polling as the
    // driver) to look at its wait's cancel flag again (cancel.cpp).
    void interrupt_waits();
    // The cancel flag of the calling thread's CancelScope for this client,
    // or nullptr; cancelled(): it is set.
    const std::atomic<bool> *cancel_flag() const noexcept;
    bool cancelled() const noexcept;
    // Sleeps ms, or less when the calling thread's call is cancelled.
    void nap(int ms);
    Error on_close(qmp_close_fn cb, void *user_data, qmp_destroy_fn destroy);
    Error set_log(qmp_log_fn fn, void *user_data, qmp_destroy_fn destroy);

    // The connection's schema, fetched with query-qmp-schema on first use and
    // kept until the connection ends; *out is a new reference.
    Error schema(int timeout_ms, schema::Schema **out);
    // Validates every command from now on (flags of qmp-schema.h; 0: off).
    // When connected, the schema is fetched now, so that asynchronous calls
    // need not wait for it; if that fails the setting stays as it was.
    Error set_validation(int flags);
    int validation() const { return validate_.load(std::memory_order_relaxed); }

    // Attaches an event loop (replacing any other); detach() with nullptr.
    Error attach(std::shared_ptr<LoopHook> hook);
    void detach();

    int get_fd();
    int get_events();
    int get_timeout_ms();
    Error process(int revents);

    // The eventfd an application loop watches (qmp_client_get_wakeup_fd):
    // made on first request, then the same until the client goes.
    Error wakeup_fd(int *out);
    // Replaces the loop callbacks (nullptrs: none); the old ones' destroy
    // runs once, unlocked, when no announcement uses them any more.
    Error set_loop_callbacks(qmp_watch_fn watch, qmp_timer_fn timer, void *user_data, qmp_destroy_fn destroy);
    // Runs the loop callbacks for what changed since they were last told,
    // in the calling thread with no lock held (every C call ends with it).
    void tell_loop() noexcept;

private:
    using Lock = std::unique_lock<std::mutex>;

    struct Call;
    struct Handler;
    struct CloseHook;
    struct Waiter;
    struct Connecting;
    struct LogHook;
    struct Dispatch;
    struct LoopCallbacks;

    Error start(int fd, const Deadline &deadline, const std::string &peer, bool agent = false);
    Error begin_connection(int fd, bool agent);
    void begin_handshake(int fd, bool agent = false);
    void feed_locked(const char *bytes, size_t n);
    void maybe_resync_locked();
    Error handshake_error(const std::string &peer) const;
    static Error handshake_timeout(protocol::Session::Phase phase, const std::string &peer);
    Error start_async(std::shared_ptr<Connecting> conn, int fd);
    Error start_async_locked(std::shared_ptr<Connecting> &conn, int fd);
    void try_connect_locked();
    void end_connecting(Error status);
    Error not_connected() const;
    Error check_can_send(const ExecOptions &opts);
    Error submit(Lock &lk, const std::string &command, const ExecOptions &opts, const std::shared_ptr<Call> &call);
    Error run_until(Lock &lk, const std::function<bool()> &done, const Deadline &deadline);
    void drive_once(Lock &lk, const Deadline &deadline, bool *direct);
    void back_from_waiting_locked();
    bool may_read_directly(const Deadline &due) const;
    void read_directly(Lock &lk, bool *direct);
    void let_go_of_polled_locked() noexcept;
    bool read_locked();
    bool consume_locked(char *buf, size_t n, transport::IoResult res, const Error &e);
    void flush_locked();
    void apply(protocol::Session::Effects &fx);
    void finish_call(const std::shared_ptr<Call> &call, Error err, wire::Message &&reply);
    void reserve_dispatch(size_t more);          // throws std::bad_alloc
    void queue(Dispatch &&d);                    // throws std::bad_alloc
    void queue_reserved(Dispatch &&d) noexcept;  // into the reserved room
    void shrink_dispatch() noexcept;             // the queue is empty: give back a big one's room
    bool dispatch_idle() const;  // every queued callback has run
    static Error copy_or_code(const Error &e) noexcept;
    void expire_calls_locked();
    Deadline next_call_deadline() const;
    void teardown(const Error &why, int close_reason);
    static Error out_of_memory() noexcept;
    void lost_memory_locked() noexcept;
    void dispatch(Lock &lk);
    void run_dispatch(Lock &lk, Dispatch &d);
    void wake_driver();
    // Something changed that a loop must act on: wake the thread polling inside a
    // synchronous call, and the application's loop through the wakeup fd.
    void wake_loops_locked();
    bool awaiting_unwatch(int fd) const;
    void drop_loop_callbacks() noexcept;
    bool tracing() const { return log_ || debug_to_stderr_; }
    void trace(int kind, const std::string &text);  // never throws
    void trace_or_throw(int kind, const std::string &text);
    bool may_drive() const;
    Error prepare(const json_t *command, ExecOptions *opts, std::string *text, std::string *name);
    Error validate(const json_t *command, const std::string &name, const ExecOptions &opts);
    void warn(const std::string &text);

    std::atomic<int> refs_{1};
    std::mutex mu_;
    std::condition_variable cv_;

    // Settings.
    int timeout_ms_ = 30000;
    bool want_oob_ = false;
    size_t max_message_ = wire::kDefaultMaxMessage;

    // The connection.
    int fd_ = -1;
    int wake_fd_ = -1;
    // The socket the driver is polling with the lock released (-1: none).
    // Only one thread polls at a time, so when teardown lets go of that very
    // socket, one slot holds it until the poller is back: closing it under
    // the poller could hand its number to a new socket meanwhile.  Any other
    // socket is closed at once.
    int polled_fd_ = -1;
    int closing_fd_ = -1;
    bool direct_ok_ = false;       // the socket is set up for direct reads
    bool direct_reading_ = false;  // the driver is in a blocking recv() on polled_fd_
    bool released_ = false;

    // The application's loop (qmp_client_get_wakeup_fd, _set_loop_callbacks).
    int loop_wake_fd_ = -1;           // made on first request; never changes after
    bool loop_wake_pending_ = false;  // signalled and not yet drained by process()
    std::shared_ptr<LoopCallbacks> loop_cbs_;
    std::atomic<bool> loop_told_{false};   // callbacks are set: C calls end with tell_loop()
    std::thread::id announcer_;            // the thread running the loop callbacks, if any
    bool announce_again_ = false;          // the state changed while they ran
    std::condition_variable announce_cv_;  // the announcer is done
    int told_fd_ = -1;                     // what the watch callback was last told
    int told_events_ = 0;
    bool timer_told_ = false;              // the timer callback was told told_deadline_
    bool told_due_ = false;                // ... or that callbacks were due (0 ms)
    Deadline told_deadline_;
    // Sockets closed while the watch callback watches them: each stays open
    // until the callback has been told to stop watching it (events 0).
    std::vector<int> unwatch_fds_;
    wire::Splitter splitter_;
    std::vector<wire::Message> read_msgs_;  // feed_locked()'s, empty between reads
    static constexpr size_t kKeptReadMessages = 256;  // more room than this is freed after the read
    protocol::Session session_;
    Error close_error_;
    protocol::Session::Phase close_phase_ = protocol::Session::Phase::Idle;

    std::thread::id driver_;
    int dispatch_depth_ = 0;  // > 0 while the driver runs callbacks (their commands are sent after)
    std::unordered_map<uint64_t, std::shared_ptr<Call>> calls_;
    size_t graced_ = 0;  // calls_ with a grace (agent commands that answer only on failure)
    // Async calls in calls_ with a deadline: when none, the loop's calls
    // (get_timeout_ms, process) need not look through thousands of calls.
    size_t timed_async_ = 0;
    bool more_input_ = false;  // process() stopped reading with input left: call it again
    std::vector<std::shared_ptr<Handler>> handlers_;
    unsigned int next_handler_id_ = 1;
    std::shared_ptr<CloseHook> close_hook_;
    std::vector<Waiter *> waiters_;
    // Callbacks to run, oldest first.  Its capacity is kept at least
    // dispatch_reserve_ above its size, so that ending a connection (which
    // queues one completion per async call in flight, the connect callback
    // and the close handler) never allocates: memory may be what ran out.
    // The driver takes them from dispatch_head_ on (the ones before it were
    // run and are empty); the vector is emptied when all have run, so taking
    // one is O(1) however many a read queued.
    std::vector<Dispatch> dispatch_q_;
    size_t dispatch_head_ = 0;
    static constexpr size_t kFixedReserve = 2;     // the connect callback and the close handler
    size_t dispatch_reserve_ = kFixedReserve;     // + one per async call in flight
    // Room kept after a big batch: a thousand clients that each kept the
    // queue of one flood held ~40 MiB (bench/scale.c).
    static constexpr size_t kKeptDispatch = 64;
    std::shared_ptr<LoopHook> hook_;
    std::shared_ptr<Connecting> connecting_;  // an async connect in progress
    std::shared_ptr<LogHook> log_;
    bool debug_to_stderr_ = false;  // LIBQMP_DEBUG=1 and no log callback

    // The greeting trees greeting() handed out, one per thread that asked:
    // each holds a reference, so the tree outlives a reconnect by another
    // thread until its own thread asks again (or the client goes).
    std::unordered_map<std::thread::id, json_t *> greeting_pins_;

    // Schema intelligence (qmp-schema.h).
    schema::Schema *schema_ = nullptr;  // this connection's, once fetched
    uint64_t conn_gen_ = 0;             // advances when a connection ends
    std::atomic<int> validate_{0};
};

}  // namespace qmp::client
