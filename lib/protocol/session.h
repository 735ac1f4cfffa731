// The QMP state machine, with no I/O of its own: greeting, negotiation, id
// allocation, the table of pending commands, reply routing and the event
// ring.  Fed messages, it emits completions and events; it keeps the bytes
// to send for the client to write.  The fds a command carries are the
// client's: the session only marks the message whose first byte takes them.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <jansson.h>

#include "common/error.h"
#include "common/fifo.h"
#include "protocol/event.h"
#include "wire/message.h"

namespace qmp::protocol {

// How many in-band commands may be on the wire unanswered when the "oob"
// capability is negotiated.  QEMU (monitor/qmp.c, handle_qmp_command) queues
// in-band commands up to QMP_REQ_QUEUE_LEN_MAX (8) and stops reading the
// socket when it queues the 8th, until its dispatcher takes one out; an
// out-of-band command behind them in the socket would then wait for the main
// thread, which is what out-of-band execution exists to avoid.  With at most
// 7 unanswered, QEMU's queue never fills and it always reads on.  Without
// "oob" QEMU reads one command, stops reading until it has answered it, and
// drops nothing, so the kernel's socket buffers hold the rest: no limit.
constexpr size_t kMaxInbandWithOob = 7;

class Session {
public:
    // Syncing: a guest agent connection waiting for its first
    // guest-sync-delimited answer (a QMP monitor goes Greeting, Negotiating).
    enum class Phase { Idle, Greeting, Negotiating, Syncing, Ready };

    struct Completion {
        uint64_t id = 0;
        Error error;          // QMP_OK, QMP_ECOMMAND (class, desc) or QMP_EPROTO
        wire::Message reply;  // the reply as received (empty for some QMP_EPROTO cases)
    };

    struct Effects {
        std::vector<Completion> completions;
        std::vector<EventPtr> events;
        Error fatal;                     // set: the connection must end with this error
        bool became_ready = false;
        std::vector<std::string> notes;  // what was received but ignored, for the debug log

        // Empty again, keeping the vectors' room for the next message.
        void clear() noexcept {
            completions.clear();
            events.clear();
            fatal = Error();
            became_ready = false;
            notes.clear();
        }
    };

    struct Chunk {
        const char *data;
        size_t len;
        uint64_t id;     // the command this chunk belongs to
        bool with_fds;   // the command's fds ride on this chunk's first byte
        bool first;      // data starts a message (and is all of it)
    };

    Session() = default;
    ~Session();
    Session(const Session &) = delete;
    Session &operator=(const Session &) = delete;

    // A new connection: wait for the greeting, then negotiate (oob if wanted and offered).
    void begin(bool want_oob);
    // A new guest agent connection: no greeting; the channel is in sync once
    // guest-sync-delimited with sync_id is answered behind the 0xFF sentinel.
    void begin_agent(uint64_t sync_id);
    bool agent() const { return agent_; }
    // While the agent channel is being synchronised, bytes before the next
    // 0xFF sentinel are stale and are not parsed.
    bool dropping() const { return agent_ && syncing() && !sentinel_seen_; }
    bool syncing() const { return phase_ == Phase::Syncing || resyncing_; }
    // A 0xFF byte arrived (it never occurs inside JSON text).
    void sentinel() { sentinel_seen_ = true; }
    // Bytes after the sentinel were not JSON: wait for another sentinel.
    void lost_sentinel() { sentinel_seen_ = false; }
    // Before the next command, synchronise the agent channel again with
    // sync_id (after a call gave up waiting, its late reply may be queued).
    bool needs_resync() const { return need_resync_; }
    // A command on the wire whose answer is still awaited (a resync waits
    // for it: its reply would be dropped as stale).
    bool awaiting_answers() const;
    void resync(uint64_t sync_id);
    // Whether the command's first byte has been sent.
    bool on_wire(uint64_t id) const;
    // Forgets a command whose answer is not awaited any more without asking
    // for a resync (a command that answers only on failure).
    void forget(uint64_t id);

    // The connection is gone: forgets commands and output; returns the ids
    // of the commands that were still waiting.  The event ring and sequence
    // numbers survive.
    std::vector<uint64_t> end();
    // The same without the list of ids; never throws (a teardown and the
    // destructor use it).
    void clear() noexcept;
    Phase phase() const { return phase_; }

    // Queues a command (an encoded JSON object without "id") and returns its
    // id: the smallest that no pending command holds (see next_id()).  with_fds: the caller has fds to send on its first byte.
    // If it throws, nothing was queued.
    uint64_t submit(const std::string &command, bool oob, bool with_fds);
    // The caller gave up waiting: a command not yet sent is dropped; one on
    // the wire keeps its place (and its id, which no newer command takes)
    // until its late reply comes, which is dropped.
    void abandon(uint64_t id);
    size_t pending_count() const { return pending_.size(); }

    bool want_write() const { return !out_.empty(); }
    bool front(Chunk *c) const;
    // Up to max chunks to send in one go: the front one and the whole
    // messages after it, stopping before a message that carries fds (they
    // must ride on its first byte, so it leads a send of its own).  Returns
    // how many.
    size_t fronts(Chunk *out, size_t max) const;
    // n bytes were sent, possibly spanning several messages.
    void consumed(size_t n);

    // Routes one message.  Throws std::bad_alloc when memory runs out
    // midway: what was routed is then unknown, so the caller ends the
    // connection (the client does, with QMP_ENOMEM).
    void receive(wire::Message &&m, Effects &fx);

    const json_t *greeting() const { return greeting_; }
    bool version(int *major, int *minor, int *micro) const;
    bool has_capability(const char *name) const;

    void set_ring_size(size_t n);
    uint64_t last_seq() const { return seq_; }
    const Fifo<EventPtr> &ring() const { return ring_; }

private:
    struct Outgoing {
        uint64_t id;
        bool inband;
        std::string bytes;
        bool with_fds;
        size_t sent = 0;
        bool raw = false;  // the agent's 0xFF reset byte: not a message
    };
    struct Pending {
        bool inband;
        uint64_t order = 0;    // when it was submitted: ids are reused, so they do not say
        bool abandoned = false;
        bool on_wire = false;  // sending has started: the server will answer it
    };

    uint64_t next_id();
    void drop_abandoned();
    void release_held();
    void queue_sync(uint64_t sync_id);
    void handle_sync(wire::Message &&m, Effects &fx);
    void handle_greeting(wire::Message &&m, Effects &fx);
    void handle_reply(wire::Message &&m, Effects &fx);
    void handle_event(wire::Message &&m, Effects &fx);
    void complete(uint64_t id, Error &&err, wire::Message &&m, Effects &fx);
    bool lookup_id(const wire::Message &m, uint64_t *id) const;
    static void describe(const Outgoing &o, Chunk *c);

    Phase phase_ = Phase::Idle;
    bool want_oob_ = false;
    uint64_t next_id_ = 1;        // above every id used on this connection
    uint64_t submitted_ = 0;      // commands submitted on this connection (Pending::order)
    bool keep_counting_ = false;  // ids are not reused (see next_id())
    uint64_t last_answered_ = 0;  // the id of the last reply routed to a pending command
    uint64_t caps_id_ = 0;
    json_t *greeting_ = nullptr;
    bool agent_ = false;
    bool resyncing_ = false;      // a guest-sync-delimited after the first is awaited
    bool need_resync_ = false;
    bool sentinel_seen_ = false;
    std::string sync_return_;     // the awaited sync id, as the reply's "return" text
    std::vector<std::string> offered_;
    std::vector<std::string> negotiated_;

    Fifo<Outgoing> out_;   // to send, in order
    Fifo<Outgoing> held_;  // in-band commands waiting for a free slot, or for the agent's sync
    size_t inband_in_flight_ = 0;
    size_t inband_limit_ = SIZE_MAX;  // kMaxInbandWithOob once "oob" is negotiated
    std::unordered_map<uint64_t, Pending> pending_;
    Fifo<uint64_t> inband_on_wire_;  // in order: whom an id-less reply belongs to

    Fifo<EventPtr> ring_;
    size_t ring_size_ = 1024;
    uint64_t seq_ = 0;
};

}  // namespace qmp::protocol
