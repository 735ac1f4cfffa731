#include "mock/mock.h"

#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#include "schema/schema.h"
#include "transport/server.h"
#include "transport/socket.h"
#include "wire/codec.h"
#include "wire/splitter.h"

namespace qmp::mock {

namespace {

// QEMU 7.2's greeting (qemu-system-x86_64 of Debian 12), offering oob.
constexpr const char *kDefaultGreeting =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
    "\"capabilities\": [\"oob\"]}}";

// How much of a client's message a mismatch message quotes.
constexpr size_t kQuoteMax = 200;

std::string encode(const json_t *v) {
    std::string s;
    Error e = wire::encode(v, s);
    if (e) return "(unprintable)";
    return s;
}

std::string quote_text(const std::string &text) {
    if (text.size() <= kQuoteMax) return text;
    return text.substr(0, kQuoteMax) + "...";
}

// {"error": {"class": "GenericError", "desc": desc}}
Json generic_error(const std::string &desc) {
    json_t *err = json_pack("{s:{s:s,s:s%}}", "error", "class", "GenericError", "desc", desc.data(), desc.size());
    if (!err) throw std::bad_alloc();
    return Json(err);
}

// The text of a reply: the response with the command's id added, as QEMU
// ends its lines.
std::string reply_text(const json_t *response, const std::string &id) {
    std::string out;
    Error e = wire::encode(response, out);
    if (e) throw std::bad_alloc();  // only NaN or a NULL could fail, and neither gets into a script
    if (!id.empty()) {
        out.pop_back();  // the closing brace
        if (out.size() > 1) out += ',';
        out += "\"id\":";
        out += id;
        out += '}';
    }
    out += "\r\n";
    return out;
}

// The event as sent: with a "timestamp" first when it has none.
std::string event_text(const json_t *ev) {
    if (json_object_get(ev, "timestamp")) return reply_text(ev, "");
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    Json out(json_pack("{s:{s:I,s:I}}", "timestamp", "seconds", (json_int_t)tv.tv_sec, "microseconds",
                       (json_int_t)tv.tv_usec));
    if (!out || json_object_update(out.get(), const_cast<json_t *>(ev)) < 0) throw std::bad_alloc();
    return reply_text(out.get(), "");
}

std::string describe(const Item &it) {
    if (it.kind == Item::Event) return "event '" + std::string(json_string_value(json_object_get(it.event.get(), "event"))) + "'";
    std::string s = "command '" + it.command + "'";
    if (!it.origin.empty()) s += " (" + it.origin + ")";
    return s;
}

}  // namespace

Json exact_copy(const json_t *v) {
    std::string text;
    if (Error e = wire::encode(v, text)) throw std::bad_alloc();  // only NaN or NULL fail, never in a script
    json_t *out = nullptr;
    if (Error e = wire::parse(text.data(), text.size(), &out)) throw std::bad_alloc();
    return Json(out);
}

Error check_response(const json_t *r) {
    const char *shape = "a response must be {\"return\": ...} or {\"error\": {\"class\": ..., \"desc\": ...}}";
    if (!json_is_object(r)) return Error::make(QMP_EINVAL, "%s, not a JSON %s", shape, json_is_array(r) ? "array" : "scalar");
    const json_t *ret = json_object_get(r, "return");
    const json_t *err = json_object_get(r, "error");
    if (ret && err) return Error::make(QMP_EINVAL, "%s, not both", shape);
    if (!ret && !err) return Error::make(QMP_EINVAL, "%s: it has neither", shape);
    if (json_object_size(r) != 1)
        return Error::make(QMP_EINVAL, "%s: it has other members (the server adds the id)", shape);
    if (err && (!json_is_object(err) || !json_is_string(json_object_get(err, "class")) ||
                !json_is_string(json_object_get(err, "desc"))))
        return Error::make(QMP_EINVAL, "%s: \"error\" needs a string \"class\" and \"desc\"", shape);
    return Error::ok();
}

Error check_event(const json_t *ev) {
    if (!json_is_object(ev)) return Error::make(QMP_EINVAL, "an event must be a JSON object");
    const json_t *name = json_object_get(ev, "event");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return Error::make(QMP_EINVAL, "an event must have an \"event\" name");
    const json_t *data = json_object_get(ev, "data");
    if (data && !json_is_object(data)) return Error::make(QMP_EINVAL, "an event's \"data\" must be an object");
    return Error::ok();
}

Error Mock::init() {
    if (Error e = transport::wakeup_new(&wake_fd_)) return e;
    json_t *g = nullptr;
    if (Error e = wire::parse(kDefaultGreeting, std::char_traits<char>::length(kDefaultGreeting), &g)) return e;
    greeting_ = Json(g);
    return Error::ok();
}

Mock::~Mock() {
    stop_.store(true);
    transport::wakeup_signal(wake_fd_);
    if (thread_.joinable()) thread_.join();
    if (conn_fd_ >= 0) transport::close_fd(conn_fd_);
    if (listen_fd_ >= 0) {
        transport::close_fd(listen_fd_);
        unlink(listen_path_.c_str());
    }
    if (wake_fd_ >= 0) transport::close_fd(wake_fd_);
    if (schema_) schema_->unref();
}

Error Mock::set_greeting(const json_t *g) {
    if (!json_is_object(g) || !json_is_object(json_object_get(g, "QMP")))
        return Error::make(QMP_EINVAL, "a greeting must be an object with a \"QMP\" object");
    std::lock_guard<std::mutex> lk(mu_);
    if (started_) return Error::make(QMP_EINVAL, "the server has started: set the greeting before");
    greeting_ = exact_copy(g);
    if (!greeting_) throw std::bad_alloc();
    return Error::ok();
}

Error Mock::check_item(const schema::Schema *s, const Item &it) const {
    std::string where = it.origin.empty() ? "" : it.origin + ": ";
    if (it.kind == Item::Event) {
        const char *name = json_string_value(json_object_get(it.event.get(), "event"));
        const schema::Entity *ent = s->find(name);
        if (!ent || ent->meta != schema::Meta::Event)
            return Error::make(QMP_EINVAL, "%sthe schema has no event '%s'", where.c_str(), name);
        const json_t *data = json_object_get(it.event.get(), "data");
        Json empty;
        if (!data) {
            empty = Json(json_object());
            data = empty.get();
        }
        Error e = s->validate_value((std::string(name) + "/arg-type").c_str(), data, QMP_VALIDATE, nullptr);
        if (e) return Error::make(QMP_EINVAL, "%sthe event's data is not valid: %s", where.c_str(), e.message.c_str());
        return Error::ok();
    }
    const schema::Entity *ent = s->find(it.command);
    if (!ent || ent->meta != schema::Meta::Command)
        return Error::make(QMP_EINVAL, "%sthe schema has no command '%s'", where.c_str(), it.command.c_str());
    if (it.arguments) {
        Json cmd(json_pack("{s:s,s:O}", "execute", it.command.c_str(), "arguments", it.arguments.get()));
        if (!cmd) throw std::bad_alloc();
        Error e = s->validate(cmd.get(), QMP_VALIDATE, nullptr);
        if (e)
            return Error::make(QMP_EINVAL, "%sthe expected arguments are not valid: %s", where.c_str(),
                               e.message.c_str());
    }
    const json_t *ret = json_object_get(it.response.get(), "return");
    if (ret) {
        Error e = s->validate_value((it.command + "/ret-type").c_str(), ret, QMP_VALIDATE, nullptr);
        if (e)
            return Error::make(QMP_EINVAL, "%sthe scripted return is not valid: %s", where.c_str(), e.message.c_str());
    }
    return Error::ok();
}

Error Mock::append(std::vector<Item> items) {
    std::unique_lock<std::mutex> lk(mu_);
    if (schema_)
        for (const Item &it : items)
            if (Error e = check_item(schema_, it)) return e;
    for (Item &it : items) script_.push_back(std::move(it));
    lk.unlock();
    // An event may be due at once (its expectation was answered already).
    transport::wakeup_signal(wake_fd_);
    return Error::ok();
}

Error Mock::expect(const char *command, const json_t *arguments, const json_t *response) {
    if (!command || !*command) return Error::make(QMP_EINVAL, "the expected command's name is empty");
    if (arguments && !json_is_object(arguments))
        return Error::make(QMP_EINVAL, "the expected arguments of '%s' must be a JSON object", command);
    if (!response) return Error::make(QMP_EINVAL, "the response to '%s' is NULL", command);
    if (Error e = check_response(response))
        return Error::make(QMP_EINVAL, "the response to '%s': %s", command, e.message.c_str());
    std::vector<Item> items(1);
    Item &it = items[0];
    it.kind = Item::Expect;
    it.command = command;
    if (arguments) {
        it.arguments = exact_copy(arguments);
        if (!it.arguments) throw std::bad_alloc();
    }
    it.response = exact_copy(response);
    if (!it.response) throw std::bad_alloc();
    return append(std::move(items));
}

Error Mock::event(const json_t *ev) {
    if (!ev) return Error::make(QMP_EINVAL, "the event is NULL");
    if (Error e = check_event(ev)) return e;
    std::vector<Item> items(1);
    items[0].kind = Item::Event;
    items[0].event = exact_copy(ev);
    if (!items[0].event) throw std::bad_alloc();
    return append(std::move(items));
}

Error Mock::load_replies(const char *path) {
    std::vector<Item> items;
    if (Error e = read_replies(path, &items)) return e;
    return append(std::move(items));
}

Error Mock::set_schema(const schema::Schema *s) {
    std::lock_guard<std::mutex> lk(mu_);
    if (s)
        for (const Item &it : script_)
            if (Error e = check_item(s, it)) return e;
    if (s) s->ref();
    if (schema_) schema_->unref();
    schema_ = s;
    return Error::ok();
}

Error Mock::start(int conn_fd, int listen_fd) {
    std::lock_guard<std::mutex> lk(mu_);
    if (started_) {
        if (conn_fd >= 0) transport::close_fd(conn_fd);
        if (listen_fd >= 0) transport::close_fd(listen_fd);
        return Error::make(QMP_EINVAL, "the server has started already: it serves one connection");
    }
    conn_fd_ = conn_fd;
    listen_fd_ = listen_fd;
    int code = QMP_OK;
    try {
        thread_ = std::thread([this] { run(); });
    } catch (const std::bad_alloc &) {
        code = QMP_ENOMEM;  // the thread's state could not be allocated
    } catch (...) {
        code = QMP_EIO;  // pthread_create refused (std::system_error)
    }
    if (code) {
        conn_fd_ = listen_fd_ = -1;
        if (conn_fd >= 0) transport::close_fd(conn_fd);
        if (listen_fd >= 0) transport::close_fd(listen_fd);
        return Error::make(code, "cannot start the server's thread");
    }
    started_ = true;
    return Error::ok();
}

Error Mock::start_socketpair(int *client_fd) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (started_) return Error::make(QMP_EINVAL, "the server has started already: it serves one connection");
    }
    int fds[2];
    if (Error e = transport::socket_pair(fds)) return e;
    if (Error e = start(fds[0], -1)) {
        transport::close_fd(fds[1]);
        return e;
    }
    *client_fd = fds[1];
    return Error::ok();
}

Error Mock::start_listen(const char *path) {
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (started_) return Error::make(QMP_EINVAL, "the server has started already: it serves one connection");
    }
    int lfd;
    if (Error e = transport::listen_unix(path, &lfd)) return e;
    listen_path_ = path;
    if (Error e = start(-1, lfd)) {
        unlink(path);
        listen_path_.clear();
        return e;
    }
    return Error::ok();
}

void Mock::mismatch(const std::string &what) {
    if (first_mismatch_.empty()) first_mismatch_ = what;
    cv_.notify_all();
}

std::string Mock::next_item() const {
    if (script_.empty()) return "nothing";
    std::string s = describe(script_.front());
    if (script_.size() > 1) s += " and " + std::to_string(script_.size() - 1) + " more script items";
    return s;
}

Error Mock::verify(int timeout_ms) {
    Deadline dl = Deadline::in_ms(timeout_ms);
    std::unique_lock<std::mutex> lk(mu_);
    auto done = [this] { return !first_mismatch_.empty() || script_.empty() || finished_; };
    while (!done()) {
        if (dl.infinite()) cv_.wait(lk);
        else if (cv_.wait_until(lk, dl.when()) == std::cv_status::timeout && !done()) break;
    }
    if (!first_mismatch_.empty()) return Error::make(QMP_EPROTO, "%s", first_mismatch_.c_str());
    if (script_.empty()) return Error::ok();
    if (finished_)
        return Error::make(QMP_EPROTO, "qmp_mock: %s before the script was used up: still expected %s",
                           ended_.empty() ? "the connection ended" : ended_.c_str(), next_item().c_str());
    if (!started_)
        return Error::make(QMP_EPROTO, "qmp_mock: expectations never reached (the server was never started): %s",
                           next_item().c_str());
    if (!negotiated_)
        return Error::make(QMP_EPROTO, "qmp_mock: expectations never reached after %d ms: the client did not "
                           "negotiate (qmp_capabilities); still expected %s", timeout_ms, next_item().c_str());
    return Error::make(QMP_EPROTO, "qmp_mock: expectations never reached after %d ms: still expected %s", timeout_ms,
                       next_item().c_str());
}

// --- the server thread ----------------------------------------------------------

void Mock::run() {
    try {
        int fd = conn_fd_;
        while (fd < 0 && !stop_.load()) {
            short rev;
            bool woken;
            Error e = transport::wait(listen_fd_, POLLIN, wake_fd_, -1, &rev, &woken);
            if (!e && rev) e = transport::accept_one(listen_fd_, &fd);
            if (e) {
                std::lock_guard<std::mutex> lk(mu_);
                ended_ = "accepting a connection failed (" + e.message + ")";
                break;
            }
        }
        if (fd >= 0) {
            {
                std::lock_guard<std::mutex> lk(mu_);
                conn_fd_ = fd;
            }
            serve(fd);
        }
    } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        ended_ = "the server ran out of memory";
    }
    std::lock_guard<std::mutex> lk(mu_);
    // Close our end now, so a client waiting for more learns that there is none.
    if (conn_fd_ >= 0) {
        transport::close_fd(conn_fd_);
        conn_fd_ = -1;
    }
    finished_ = true;
    cv_.notify_all();
}

bool Mock::write_all(int fd, const std::string &text) {
    size_t off = 0;
    while (off < text.size()) {
        if (stop_.load()) return false;
        size_t n = 0;
        transport::IoResult res;
        Error e = transport::send(fd, text.data() + off, text.size() - off, nullptr, 0, &n, &res);
        if (e || res == transport::IoResult::Eof) {
            std::lock_guard<std::mutex> lk(mu_);
            ended_ = e ? "writing failed (" + e.message + ")" : "the client closed the connection";
            return false;
        }
        off += n;
        if (res == transport::IoResult::WouldBlock) {
            short rev;
            bool woken;
            e = transport::wait(fd, POLLOUT, wake_fd_, -1, &rev, &woken);
            if (e) return false;
        }
    }
    return true;
}

bool Mock::send_due_events(int fd) {
    for (;;) {
        std::string text;
        {
            std::lock_guard<std::mutex> lk(mu_);
            if (!negotiated_ || script_.empty() || script_.front().kind != Item::Event) return true;
            text = event_text(script_.front().event.get());
        }
        if (!write_all(fd, text)) return false;
        std::lock_guard<std::mutex> lk(mu_);
        script_.pop_front();
        cv_.notify_all();
    }
}

void Mock::serve(int fd) {
    std::string greeting;
    {
        std::lock_guard<std::mutex> lk(mu_);
        greeting = reply_text(greeting_.get(), "");
    }
    if (!write_all(fd, greeting)) return;
    wire::Splitter splitter;
    std::vector<wire::Message> msgs;
    std::vector<int> fds;  // received and not yet answered; closed once the command that came with them is
    struct CloseFds {
        std::vector<int> &fds;
        ~CloseFds() {
            for (int f : fds) transport::close_fd(f);
        }
    } close_fds{fds};
    char buf[65536];
    for (;;) {
        if (!send_due_events(fd)) return;
        short rev;
        bool woken;
        Error e = transport::wait(fd, POLLIN, wake_fd_, -1, &rev, &woken);
        if (stop_.load()) return;
        if (e) {
            std::lock_guard<std::mutex> lk(mu_);
            ended_ = "waiting for the client failed (" + e.message + ")";
            return;
        }
        if (!rev) continue;
        size_t n = 0;
        transport::IoResult res;
        e = transport::receive_fds(fd, buf, sizeof buf, &n, &res, &fds);
        if (e || res == transport::IoResult::Eof) {
            std::lock_guard<std::mutex> lk(mu_);
            ended_ = e ? "reading failed (" + e.message + ")" : "the client closed the connection";
            return;
        }
        if (res == transport::IoResult::WouldBlock) continue;
        msgs.clear();
        Error bad = splitter.feed(buf, n, msgs);
        for (const wire::Message &m : msgs)
            if (!handle(fd, m.text, fds)) return;
        if (bad) {
            // QEMU answers input it cannot parse with an error without an id.
            std::string desc = bad.code == QMP_ETOOBIG ? "qmp_mock: the client sent a message beyond the size or nesting limit"
                                                       : "qmp_mock: the client sent something that is not JSON";
            {
                std::lock_guard<std::mutex> lk(mu_);
                mismatch(desc);
            }
            splitter.reset();
            if (!write_all(fd, reply_text(generic_error(desc).get(), ""))) return;
        }
    }
}

// Answers one message from the client; false when the connection is gone.
bool Mock::handle(int fd, const std::string &text, std::vector<int> &fds) {
    // The events due after the previous answer go first (the previous
    // command may have come in the same read as this one).
    if (!send_due_events(fd)) return false;
    json_t *tree = nullptr;
    Error e = wire::parse(text.data(), text.size(), &tree);
    Json msg(tree);
    std::string id;
    std::string name;
    bool is_command = false;
    if (!e && json_is_object(tree)) {
        const json_t *idv = json_object_get(tree, "id");
        if (idv) id = encode(idv);
        const json_t *ex = json_object_get(tree, "execute");
        if (!ex) ex = json_object_get(tree, "exec-oob");
        if (json_is_string(ex)) {
            name = json_string_value(ex);
            is_command = true;
        }
    }
    Json response;
    enum { Mismatch, Negotiated, NegotiatedScripted, Met } outcome = Mismatch;
    {
        std::lock_guard<std::mutex> lk(mu_);
        std::string desc;
        if (!is_command) {
            desc = "qmp_mock: the client sent a message that is not a command: " + quote_text(text);
        } else if (schema_ && (e = schema_->validate(tree, QMP_VALIDATE, nullptr))) {
            desc = "qmp_mock: " + e.message;
        } else if (!negotiated_) {
            if (name != "qmp_capabilities") {
                desc = "qmp_mock: expected qmp_capabilities (the negotiation), got '" + name + "'";
            } else if (!script_.empty() && script_.front().kind == Item::Expect &&
                       script_.front().command == "qmp_capabilities") {
                const Item &it = script_.front();
                Json got(json_incref(json_object_get(tree, "arguments")));
                if (!got) got = Json(json_object());
                if (it.arguments && !json_equal(it.arguments.get(), got.get()))
                    desc = "qmp_mock: command 'qmp_capabilities': expected arguments " + encode(it.arguments.get()) +
                           ", got " + encode(got.get());
                else {
                    response = Json(json_incref(it.response.get()));
                    outcome = NegotiatedScripted;
                }
            } else {
                response = Json(json_pack("{s:{}}", "return"));
                if (!response) throw std::bad_alloc();
                outcome = Negotiated;
            }
        } else if (script_.empty()) {
            desc = "qmp_mock: unexpected command '" + name + "': the script holds no more commands";
        } else {
            const Item &it = script_.front();  // an expectation: due events were sent before
            Json got(json_incref(json_object_get(tree, "arguments")));
            if (!got) got = Json(json_object());
            if (it.kind != Item::Expect)
                desc = "qmp_mock: unexpected command '" + name + "': " + describe(it) + " is still to be sent";
            else if (it.command != name)
                desc = "qmp_mock: expected " + describe(it) + ", got '" + name + "'";
            else if (it.arguments && !json_equal(it.arguments.get(), got.get()))
                desc = "qmp_mock: command '" + name + "': expected arguments " + encode(it.arguments.get()) +
                       ", got " + encode(got.get());
            else {
                response = Json(json_incref(it.response.get()));
                outcome = Met;
            }
        }
        if (!response) {
            mismatch(desc);
            response = generic_error(desc);
        }
    }
    bool ok = write_all(fd, reply_text(response.get(), id));
    // The fds that came with the command: answered, so closed.
    for (int f : fds) transport::close_fd(f);
    fds.clear();
    if (!ok) return false;
    std::lock_guard<std::mutex> lk(mu_);
    if (outcome == Negotiated || outcome == NegotiatedScripted) negotiated_ = true;
    // Only this thread takes items off the script, so the front is still the item matched.
    if (outcome == NegotiatedScripted || outcome == Met) script_.pop_front();
    cv_.notify_all();
    return true;
}

}  // namespace qmp::mock
