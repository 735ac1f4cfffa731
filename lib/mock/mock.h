// The test server behind qmp-mock.h: a QMP server side built from the
// transport, wire and schema layers, serving one connection from a script
// in a thread of its own.  It never reaches into the client.
//
// Threads: the script, the record of mismatches and the progress are
// guarded by one mutex; the server thread takes it to look at the script and
// releases it for every system call.  Items leave the script only once
// their output (a response, an event) has been written, so verify() sees
// the script used up only when the client can have seen all of it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <jansson.h>

#include "common/error.h"

namespace qmp::schema {
class Schema;
}

namespace qmp::mock {

// A jansson reference, owned.
class Json {
public:
    Json() = default;
    explicit Json(json_t *v) : v_(v) {}
    ~Json() { json_decref(v_); }
    Json(Json &&o) noexcept : v_(o.v_) { o.v_ = nullptr; }
    Json &operator=(Json &&o) noexcept {
        if (this != &o) {
            json_decref(v_);
            v_ = o.v_;
            o.v_ = nullptr;
        }
        return *this;
    }
    Json(const Json &) = delete;
    Json &operator=(const Json &) = delete;
    json_t *get() const { return v_; }
    explicit operator bool() const { return v_ != nullptr; }

private:
    json_t *v_ = nullptr;
};

// A deep copy that keeps integers above INT64_MAX exact (json_deep_copy()
// would lose their registration as unsigned, wire/uint64.h).
Json exact_copy(const json_t *v);

struct Item {
    enum Kind { Expect, Event } kind = Expect;
    std::string command;  // Expect: the command's name
    Json arguments;       // Expect: the exact arguments, or null for any
    Json response;        // Expect: {"return": ...} or {"error": {...}}, no id
    Json event;           // Event: the event object
    std::string origin;   // "PATH:LINE" for an item from a .replies file, else empty
};

// Checks a script item's shape (QMP_EINVAL saying what is wrong).
Error check_response(const json_t *response);
Error check_event(const json_t *event);

// Reads a libvirt .replies file into items (nothing on error).
Error read_replies(const char *path, std::vector<Item> *items);

class Mock {
public:
    Mock() = default;
    ~Mock();  // stops the server and joins its thread
    // The wake-up fd and the default greeting; call once, before anything else.
    Error init();
    Mock(const Mock &) = delete;
    Mock &operator=(const Mock &) = delete;

    Error set_greeting(const json_t *greeting);
    Error expect(const char *command, const json_t *arguments, const json_t *response);
    Error event(const json_t *event);
    Error load_replies(const char *path);
    Error set_schema(const schema::Schema *s);
    Error start_socketpair(int *client_fd);
    Error start_listen(const char *path);
    Error verify(int timeout_ms);

private:
    Error append(std::vector<Item> items);
    Error check_item(const schema::Schema *s, const Item &it) const;
    Error start(int conn_fd, int listen_fd);
    void run();
    void serve(int fd);
    bool handle(int fd, const std::string &text, std::vector<int> &fds);
    bool send_due_events(int fd);
    bool write_all(int fd, const std::string &text);
    void mismatch(const std::string &what);  // under the lock
    std::string next_item() const;           // under the lock

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Item> script_;
    Json greeting_;
    const schema::Schema *schema_ = nullptr;
    std::string first_mismatch_;
    std::string ended_;  // why the connection ended early, when it did
    bool started_ = false;
    bool negotiated_ = false;
    bool finished_ = false;  // the server thread has ended

    std::thread thread_;
    std::atomic<bool> stop_{false};
    int wake_fd_ = -1;
    int conn_fd_ = -1;
    int listen_fd_ = -1;
    std::string listen_path_;
};

}  // namespace qmp::mock
