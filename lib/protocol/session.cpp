#include "protocol/session.h"

#include <memory>
#include <new>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "wire/codec.h"
#include "wire/redact.h"

namespace qmp::protocol {

namespace {

// What notes and error messages show of a message: its start, secrets
// redacted (they reach the trace and the application's logs).
std::string preview(const std::string &text) { return wire::redact_preview(text); }

const char *json_type_name(char first) {
    switch (first) {
    case '[': return "an array";
    case '"': return "a string";
    case 't': case 'f': return "a boolean";
    case 'n': return "null";
    default: return "a number";
    }
}

// Reads the "class" and "desc" of an error object; false when malformed.
bool read_error(const wire::Message &m, std::string *cls, std::string *desc) {
    json_t *e = nullptr;
    Error pe = wire::parse(m.text.data() + m.error.off, m.error.len, &e);
    if (pe.code == QMP_ENOMEM) throw std::bad_alloc();
    if (pe) return false;
    std::unique_ptr<json_t, void (*)(json_t *)> tree(e, json_decref);  // also when assign() throws
    json_t *c = json_object_get(e, "class");
    json_t *d = json_object_get(e, "desc");
    bool ok = json_is_string(c) && json_is_string(d);
    if (ok) {
        cls->assign(json_string_value(c), json_string_length(c));
        desc->assign(json_string_value(d), json_string_length(d));
    }
    return ok;
}

}  // namespace

Session::~Session() {
    clear();
    json_decref(greeting_);
}

void Session::begin(bool want_oob) {
    clear();
    json_decref(greeting_);
    greeting_ = nullptr;
    offered_.clear();
    negotiated_.clear();
    want_oob_ = want_oob;
    phase_ = Phase::Greeting;
}

void Session::begin_agent(uint64_t sync_id) {
    clear();
    json_decref(greeting_);
    greeting_ = nullptr;
    offered_.clear();
    negotiated_.clear();
    want_oob_ = false;
    agent_ = true;
    phase_ = Phase::Syncing;
    queue_sync(sync_id);
}

// 0xFF resets the agent's parser (dropping whatever half command it holds);
// then guest-sync-delimited, sent without "id": its answer is 0xFF and
// {"return": sync_id}.
// If it throws, nothing was queued and the state is as it was.
void Session::queue_sync(uint64_t sync_id) {
    std::string awaited = std::to_string(sync_id);
    Outgoing reset;
    reset.id = 0;
    reset.inband = false;
    reset.bytes = "\xff";
    reset.with_fds = false;
    reset.raw = true;
    Outgoing sync;
    sync.id = 0;
    sync.inband = false;
    sync.bytes = "{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":" + awaited + "}}";
    sync.with_fds = false;
    out_.push_back(std::move(reset));
    try {
        out_.push_back(std::move(sync));
    } catch (...) {
        out_.pop_back();
        throw;
    }
    sync_return_.swap(awaited);
    sentinel_seen_ = false;
}

void Session::resync(uint64_t sync_id) {
    queue_sync(sync_id);
    need_resync_ = false;
    resyncing_ = true;
}

bool Session::awaiting_answers() const {
    for (const auto &p : pending_)
        if (p.second.on_wire && !p.second.abandoned) return true;
    return false;
}

bool Session::on_wire(uint64_t id) const {
    auto it = pending_.find(id);
    return it != pending_.end() && it->second.on_wire;
}

void Session::forget(uint64_t id) {
    bool need = need_resync_;
    abandon(id);
    need_resync_ = need;
}

void Session::handle_sync(wire::Message &&m, Effects &fx) {
    if (m.is_object && m.ret.present() && !m.id.present() && !m.error.present() && m.slice(m.ret) == sync_return_) {
        if (phase_ == Phase::Syncing) {
            phase_ = Phase::Ready;
            fx.became_ready = true;
        }
        resyncing_ = false;
        drop_abandoned();
        release_held();
        return;
    }
    fx.notes.push_back("dropped while synchronising with the guest agent: " + preview(m.text));
}

// The guest agent answered the sync.  It runs one command at a time, in
// the order received, and the 0xFF before the sync drops whatever half
// command it holds: a command given up on before the sync was answered
// before the sync's answer or never, and that answer was dropped with the
// stale bytes.  Its entry can go, and its id be used again.  (Commands
// still awaited stay: their calls end by their own deadline.)
void Session::drop_abandoned() {
    for (auto it = pending_.begin(); it != pending_.end();) {
        if (!it->second.abandoned || !it->second.on_wire) {
            ++it;
            continue;
        }
        if (it->second.inband) {
            auto w = std::find(inband_on_wire_.begin(), inband_on_wire_.end(), it->first);
            if (w != inband_on_wire_.end()) inband_on_wire_.erase(w);
            if (inband_in_flight_ > 0) inband_in_flight_--;
        }
        it = pending_.erase(it);
    }
    keep_counting_ = false;
}

std::vector<uint64_t> Session::end() {
    std::vector<std::pair<uint64_t, uint64_t>> live;  // (order, id)
    for (auto &p : pending_)
        if (p.first != caps_id_ && !p.second.abandoned) live.emplace_back(p.second.order, p.first);
    std::sort(live.begin(), live.end());
    std::vector<uint64_t> ids;
    ids.reserve(live.size());
    for (auto &l : live) ids.push_back(l.second);
    clear();
    return ids;
}

void Session::clear() noexcept {
    out_.clear();
    held_.clear();
    pending_.clear();
    inband_on_wire_.clear();
    inband_in_flight_ = 0;
    inband_limit_ = SIZE_MAX;
    caps_id_ = 0;
    phase_ = Phase::Idle;
    agent_ = false;
    resyncing_ = false;
    need_resync_ = false;
    sentinel_seen_ = false;
    keep_counting_ = false;
    last_answered_ = 0;
    next_id_ = 1;
    submitted_ = 0;
}

// QEMU reads its monitor one byte per recvmsg(), so every digit of an id
// costs it ~8 system calls: a command takes the smallest id that no pending
// command holds, so sequential calls send one-digit ids and a pipeline of 64
// two-digit ones.  An id is answered only while it is in pending_ (a command
// abandoned on the wire stays there until its late reply comes), so a reply
// to an earlier command never reaches a newer one with the same id.  Not
// the id answered last, though: a server that sent that reply twice has its
// copy read before the reply to the next command, so the next command takes
// another id and the copy is dropped as unknown.  With more than
// kSmallIdScan pending, the search would cost more than the bytes it saves:
// ids count up from above every id used on the connection.  After a reply
// without an id was given to a command by guesswork, that command may still
// be answered with its id: ids count up, unused, until the next connection
// (or the guest agent's next sync).  Ids do not say the order commands were
// submitted in; Pending::order does.
uint64_t Session::next_id() {
    constexpr size_t kSmallIdScan = 256;
    uint64_t id = 0;
    if (!keep_counting_ && pending_.size() <= kSmallIdScan) {
        // Among 1 .. size + 2, at least one is neither pending nor the last answered.
        for (uint64_t c = 1; c <= pending_.size() + 2; c++) {
            if (c != last_answered_ && pending_.find(c) == pending_.end()) {
                id = c;
                break;
            }
        }
    }
    if (!id) id = next_id_;
    if (id >= next_id_) next_id_ = id + 1;
    return id;
}

uint64_t Session::submit(const std::string &command, bool oob, bool with_fds) {
    uint64_t id = next_id();
    Outgoing o;
    o.id = id;
    o.inband = !oob;
    // The id goes first so it is there even if QEMU rejects the rest.
    o.bytes.reserve(command.size() + 24);
    o.bytes = "{\"id\":";
    o.bytes += std::to_string(id);
    if (command.size() > 2) o.bytes += ',';
    o.bytes.append(command, 1, std::string::npos);
    o.with_fds = with_fds;
    bool inband = o.inband;
    Pending pend{inband};
    pend.order = ++submitted_;
    auto p = pending_.emplace(id, pend).first;
    bool hold = inband && (inband_in_flight_ >= inband_limit_ || (agent_ && syncing()));
    try {
        (hold ? held_ : out_).push_back(std::move(o));
    } catch (...) {
        pending_.erase(p);
        throw;
    }
    if (inband && !hold) inband_in_flight_++;
    return id;
}

void Session::release_held() {
    if (agent_ && syncing()) return;  // commands wait until the channel is in sync
    while (!held_.empty() && inband_in_flight_ < inband_limit_) {
        inband_in_flight_++;
        out_.push_back(std::move(held_.front()));
        held_.pop_front();
    }
}

void Session::abandon(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    if (it->second.on_wire) {
        it->second.abandoned = true;
        // Its reply may still come, or the agent may have lost it: the
        // channel is synchronised again before the next command.
        if (agent_) need_resync_ = true;
        return;
    }
    // Not a byte sent yet: drop it as if it never existed.
    auto drop_from = [&](Fifo<Outgoing> &q) {
        for (auto o = q.begin(); o != q.end(); ++o) {
            if (o->id != id) continue;
            q.erase(o);
            return true;
        }
        return false;
    };
    if (drop_from(out_)) {
        if (it->second.inband) inband_in_flight_--;
        release_held();
    } else {
        drop_from(held_);
    }
    pending_.erase(it);
    // Held back behind a guest-sync-delimited that was not answered in
    // time: the agent may have lost it; the next command sends a fresh one.
    if (agent_ && resyncing_) need_resync_ = true;
}

void Session::describe(const Outgoing &o, Chunk *c) {
    c->data = o.bytes.data() + o.sent;
    c->len = o.bytes.size() - o.sent;
    c->id = o.id;
    c->with_fds = o.sent == 0 && o.with_fds;
    c->first = o.sent == 0 && !o.raw;
}

bool Session::front(Chunk *c) const {
    if (out_.empty()) return false;
    describe(out_.front(), c);
    return true;
}

size_t Session::fronts(Chunk *out, size_t max) const {
    size_t k = 0;
    for (const Outgoing &o : out_) {
        if (k == max || (k > 0 && o.with_fds)) break;
        describe(o, &out[k]);
        k++;
    }
    return k;
}

void Session::consumed(size_t n) {
    while (n > 0 && !out_.empty()) {
        Outgoing &o = out_.front();
        if (o.sent == 0) {
            auto p = pending_.find(o.id);
            if (p != pending_.end()) {
                p->second.on_wire = true;
                if (p->second.inband) inband_on_wire_.push_back(o.id);
            }
        }
        size_t take = std::min(n, o.bytes.size() - o.sent);
        o.sent += take;
        n -= take;
        if (o.sent >= o.bytes.size()) out_.pop_front();
    }
}

void Session::receive(wire::Message &&m, Effects &fx) {
    if (phase_ == Phase::Idle) return;
    if (agent_ && syncing()) {
        handle_sync(std::move(m), fx);
        return;
    }
    if (!m.is_object) {
        int code = phase_ == Phase::Greeting ? QMP_EHANDSHAKE : QMP_EPROTO;
        fx.fatal = Error::make(code, "the server sent %s where QMP needs an object: %s",
                               json_type_name(m.text.empty() ? '0' : m.text[0]), preview(m.text).c_str());
        return;
    }
    if (phase_ == Phase::Greeting) {
        // An event may race the greeting on a monitor that was just opened;
        // it is still an event, not a broken greeting.
        if (m.event.present() && !m.qmp.present())
            handle_event(std::move(m), fx);
        else
            handle_greeting(std::move(m), fx);
        return;
    }
    if (m.ret.present() || m.error.present()) {
        handle_reply(std::move(m), fx);
    } else if (m.event.present()) {
        handle_event(std::move(m), fx);
    } else if (m.qmp.present()) {
        fx.notes.push_back("ignored a second greeting: " + preview(m.text));
    } else {
        uint64_t id;
        if (lookup_id(m, &id)) {
            complete(id, Error::make(QMP_EPROTO, "the reply has neither \"return\" nor \"error\": %s",
                                     preview(m.text).c_str()),
                     std::move(m), fx);
        } else {
            fx.fatal = Error::make(QMP_EPROTO, "the server sent a message that is not QMP: %s",
                                   preview(m.text).c_str());
        }
    }
}

void Session::handle_greeting(wire::Message &&m, Effects &fx) {
    json_t *g = nullptr;
    json_t *qmp = nullptr;
    if (m.qmp.present()) {
        Error pe = wire::parse(m.text.data(), m.text.size(), &g);
        if (pe.code == QMP_ENOMEM) throw std::bad_alloc();
        if (!pe) qmp = json_object_get(g, "QMP");
    }
    json_t *version = json_object_get(json_object_get(qmp, "version"), "qemu");
    json_t *caps = json_object_get(qmp, "capabilities");
    if (!json_is_object(qmp) || !json_is_object(version) || !json_is_array(caps)) {
        json_decref(g);
        fx.fatal = Error::make(QMP_EHANDSHAKE, "expected a QMP greeting, got: %s", preview(m.text).c_str());
        return;
    }
    greeting_ = g;
    size_t i;
    json_t *cap;
    json_array_foreach(caps, i, cap) {
        if (json_is_string(cap)) offered_.emplace_back(json_string_value(cap));
    }
    bool oob = want_oob_ && std::find(offered_.begin(), offered_.end(), "oob") != offered_.end();
    if (oob) {
        negotiated_.emplace_back("oob");
        inband_limit_ = kMaxInbandWithOob;
    }
    phase_ = Phase::Negotiating;
    caps_id_ = submit(oob ? "{\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}"
                          : "{\"execute\":\"qmp_capabilities\"}",
                      false, false);
}

bool Session::lookup_id(const wire::Message &m, uint64_t *id) const {
    if (!m.id.present()) return false;
    // Our ids are plain decimal integers; anything else is not ours.
    const char *p = m.text.data() + m.id.off;
    if (m.id.len > 20 || *p < '0' || *p > '9') return false;
    uint64_t v = 0;
    for (size_t i = 0; i < m.id.len; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        v = v * 10 + static_cast<uint64_t>(p[i] - '0');
    }
    if (pending_.count(v) == 0) return false;
    *id = v;
    return true;
}

void Session::handle_reply(wire::Message &&m, Effects &fx) {
    uint64_t id = 0;
    bool known = lookup_id(m, &id);
    if (!known && m.id.present()) {
        // A late reply to a command whose caller gave up, or not ours at all.
        fx.notes.push_back("dropped a reply with an unknown id: " + preview(m.text));
        return;
    }
    if (!known) {
        // QEMU answers a request it could not parse with an error without
        // id; in-band requests are answered in order, so it belongs to the
        // oldest in-band command on the wire.
        if (inband_on_wire_.empty()) {
            fx.notes.push_back("dropped a reply without id, no command waiting: " + preview(m.text));
            return;
        }
        id = inband_on_wire_.front();
        keep_counting_ = true;  // a guess: the command may still be answered with its id
        std::string what = preview(m.text);
        std::string cls, desc;
        if (m.error.present() && read_error(m, &cls, &desc))
            what = cls + ": " + desc;
        complete(id, Error::make(QMP_EPROTO, "the server answered without an id (it could not parse the command): %s",
                                 what.c_str()),
                 std::move(m), fx);
        return;
    }
    if (m.ret.present() && m.error.present()) {
        complete(id, Error::make(QMP_EPROTO, "the reply has both \"return\" and \"error\": %s", preview(m.text).c_str()),
                 std::move(m), fx);
        return;
    }
    if (m.error.present()) {
        std::string cls, desc;
        if (!read_error(m, &cls, &desc)) {
            complete(id, Error::make(QMP_EPROTO, "malformed error reply: %s", preview(m.text).c_str()), std::move(m), fx);
            return;
        }
        complete(id, Error::command(cls, desc), std::move(m), fx);
        return;
    }
    complete(id, Error::ok(), std::move(m), fx);
}

void Session::complete(uint64_t id, Error &&err, wire::Message &&m, Effects &fx) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending p = it->second;
    pending_.erase(it);
    last_answered_ = id;
    if (p.inband) {
        auto w = std::find(inband_on_wire_.begin(), inband_on_wire_.end(), id);
        if (w != inband_on_wire_.end()) inband_on_wire_.erase(w);
        if (inband_in_flight_ > 0) inband_in_flight_--;
        release_held();
    }
    if (id == caps_id_) {
        caps_id_ = 0;
        if (err) {
            int code = err.code;
            fx.fatal = Error::make(QMP_ENEGOTIATION, "qmp_capabilities was refused: %s", err.message.c_str());
            if (code == QMP_ECOMMAND) {
                fx.fatal.qmp_class = err.qmp_class;
                fx.fatal.qmp_desc = err.qmp_desc;
            }
            return;
        }
        phase_ = Phase::Ready;
        fx.became_ready = true;
        return;
    }
    if (p.abandoned) {
        fx.notes.push_back("dropped the late reply of command " + std::to_string(id));
        return;
    }
    Completion c;
    c.id = id;
    c.error = std::move(err);
    c.reply = std::move(m);
    fx.completions.push_back(std::move(c));
}

void Session::handle_event(wire::Message &&m, Effects &fx) {
    if (m.event_name.empty()) {
        fx.notes.push_back("dropped an event without a name: " + preview(m.text));
        return;
    }
    auto ev = std::make_shared<const Event>(std::move(m), ++seq_);
    ring_.push_back(ev);
    while (ring_.size() > ring_size_) ring_.pop_front();
    fx.events.push_back(std::move(ev));
}

bool Session::version(int *major, int *minor, int *micro) const {
    json_t *v = json_object_get(json_object_get(json_object_get(greeting_, "QMP"), "version"), "qemu");
    if (!v) return false;
    if (major) *major = static_cast<int>(json_integer_value(json_object_get(v, "major")));
    if (minor) *minor = static_cast<int>(json_integer_value(json_object_get(v, "minor")));
    if (micro) *micro = static_cast<int>(json_integer_value(json_object_get(v, "micro")));
    return true;
}

bool Session::has_capability(const char *name) const {
    return std::find(negotiated_.begin(), negotiated_.end(), name) != negotiated_.end();
}

void Session::set_ring_size(size_t n) {
    ring_size_ = n;
    while (ring_.size() > ring_size_) ring_.pop_front();
}

}  // namespace qmp::protocol
