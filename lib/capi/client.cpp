// The C boundary for qmp-client.h.
#include <qmp/qmp-client.h>
#include <qmp/qmp-command.h>

#include <unistd.h>

#include <memory>

#include "capi/guard.h"
#include "capi/hold.h"
#include "capi/options.h"
#include "client/client.h"
#include "schema/schema.h"
#include "wire/codec.h"
#include "wire/redact.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::dup_string;
using qmp::capi::guarded;
using qmp::capi::read_options;
using qmp::capi::Hold;
using qmp::client::Client;

namespace {

int fail(const Error &e) { return set_last_error(e); }

int null_client() { return set_last_error(QMP_EINVAL, "the client is NULL"); }

// The argument checks of the calls that take an fd, also on failure: 0, or
// the status with the fd closed.
int check_adopt_args(qmp_client *c, int fd, int timeout_ms) {
    if (!c) {
        if (fd >= 0) close(fd);
        return null_client();
    }
    if (fd < 0) return set_last_error(QMP_EINVAL, "fd %d is not valid", fd);
    if (timeout_ms < -1) {
        close(fd);
        return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    }
    return 0;
}

// A command argument that may be NULL because a builder failed: keep the
// builder's error, which says which key was wrong (QMP_EINVAL) or that
// memory ran out (QMP_ENOMEM).
int null_command() {
    int code = qmp::last_error()->code;
    if (code == QMP_EINVAL || code == QMP_ENOMEM) return code;
    return set_last_error(QMP_EINVAL, "the command is NULL");
}

// The callback-taking calls: until the client has taken destroy, a failure
// (an exception included) runs it here; the client never throws once it
// owns destroy, and runs it itself when it fails after that.
int refuse_unowned(qmp_destroy_fn destroy, void *user_data, int rc) {
    if (destroy) destroy(user_data);
    return rc;
}

int unexpected_exception() { return set_last_error(QMP_EINVAL, "internal error: unexpected exception"); }

struct JsonRef {
    json_t *v;
    ~JsonRef() { json_decref(v); }
};

// Runs command; o->error is the outcome (the reply's, or why there is none).
void run(qmp_client *c, const json_t *command, const qmp_exec_options *opts, qmp::client::Outcome *o) {
    qmp::client::ExecOptions eo;
    o->error = read_options(opts, &eo);
    if (o->error) return;
    o->error = Hold(c)->execute(command, eo, o);
}

}  // namespace

extern "C" {

QMP_API qmp_client *qmp_client_new(void) {
    try {
        return (new Client())->handle();
    } catch (const std::bad_alloc &) {
        set_last_error(QMP_ENOMEM, "out of memory");
    } catch (...) {
        unexpected_exception();
    }
    return nullptr;
}

QMP_API void qmp_client_free(qmp_client *c) {
    if (!c) return;
    guarded([&] {
        Client::from(c)->release();
        return 0;
    });
}

QMP_API int qmp_client_set_timeout(qmp_client *c, int timeout_ms) {
    if (!c) return null_client();
    return guarded([&] { Error e = Client::from(c)->set_timeout(timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_set_oob(qmp_client *c, int enable) {
    if (!c) return null_client();
    return guarded([&] { Error e = Client::from(c)->set_oob(enable != 0); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_set_max_message_size(qmp_client *c, size_t bytes) {
    if (!c) return null_client();
    return guarded([&] { Error e = Client::from(c)->set_max_message_size(bytes); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_set_event_buffer(qmp_client *c, size_t max_events) {
    if (!c) return null_client();
    return guarded([&] { Error e = Client::from(c)->set_event_buffer(max_events); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_connect_unix(qmp_client *c, const char *path, int timeout_ms) {
    if (!c) return null_client();
    if (!path) return set_last_error(QMP_EINVAL, "the socket path is NULL");
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] { Error e = Hold(c)->connect_unix(path, timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_connect_tcp(qmp_client *c, const char *host, const char *port, int timeout_ms) {
    if (!c) return null_client();
    if (!host || !port) return set_last_error(QMP_EINVAL, "host and port must not be NULL");
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] { Error e = Hold(c)->connect_tcp(host, port, timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_connect_fd(qmp_client *c, int fd, int timeout_ms) {
    int rc = check_adopt_args(c, fd, timeout_ms);
    if (rc) return rc;
    return guarded([&] { Error e = Hold(c)->connect_fd(fd, timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_connect_agent_unix(qmp_client *c, const char *path, int timeout_ms) {
    if (!c) return null_client();
    if (!path) return set_last_error(QMP_EINVAL, "the socket path is NULL");
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] { Error e = Hold(c)->connect_agent_unix(path, timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_connect_agent_fd(qmp_client *c, int fd, int timeout_ms) {
    int rc = check_adopt_args(c, fd, timeout_ms);
    if (rc) return rc;
    return guarded([&] { Error e = Hold(c)->connect_agent_fd(fd, timeout_ms); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_is_agent(qmp_client *c) {
    if (!c) return 0;
    return guarded([&] { return Client::from(c)->is_agent() ? 1 : 0; });
}

QMP_API int qmp_client_connect_unix_async(qmp_client *c, const char *path, int timeout_ms, qmp_connect_fn cb,
                                          void *user_data, qmp_destroy_fn destroy) {
    auto refuse = [&](int rc) {
        if (destroy) destroy(user_data);
        return rc;
    };
    if (!c) return refuse(null_client());
    if (!path || !cb) return refuse(set_last_error(QMP_EINVAL, "path and cb must not be NULL"));
    if (timeout_ms < -1) return refuse(set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive"));
    try {
        Error e = Hold(c)->connect_unix_async(path, timeout_ms, cb, user_data, destroy);
        return e ? fail(e) : 0;  // on failure the client already ran destroy
    } catch (const std::bad_alloc &) {
        return refuse(set_last_error(QMP_ENOMEM, "out of memory"));
    } catch (...) {
        return refuse(unexpected_exception());
    }
}

QMP_API int qmp_client_connect_fd_async(qmp_client *c, int fd, int timeout_ms, qmp_connect_fn cb, void *user_data,
                                        qmp_destroy_fn destroy) {
    auto refuse = [&](int rc) {
        if (fd >= 0) close(fd);
        if (destroy) destroy(user_data);
        return rc;
    };
    if (!c) return refuse(null_client());
    if (fd < 0 || !cb) return refuse(set_last_error(QMP_EINVAL, "fd must be valid and cb not NULL"));
    if (timeout_ms < -1) return refuse(set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive"));
    try {
        Error e = Hold(c)->connect_fd_async(fd, timeout_ms, cb, user_data, destroy);
        return e ? fail(e) : 0;  // on failure the client already closed fd and ran destroy
    } catch (const std::bad_alloc &) {
        return refuse(set_last_error(QMP_ENOMEM, "out of memory"));    } catch (...) {
        return refuse(unexpected_exception());
    }
}

QMP_API int qmp_client_close(qmp_client *c) {
    if (!c) return null_client();
    return guarded([&] { Error e = Hold(c)->close(); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_is_connected(qmp_client *c) {
    if (!c) return 0;
    return guarded([&] { return Client::from(c)->is_connected() ? 1 : 0; });
}

QMP_API const json_t *qmp_client_greeting(qmp_client *c) {
    if (!c) return nullptr;
    const json_t *g = nullptr;
    guarded([&] { g = Hold(c)->greeting(); return 0; });
    return g;
}

QMP_API int qmp_client_get_version(qmp_client *c, int *major, int *minor, int *micro) {
    if (!c) return null_client();
    return guarded([&] { Error e = Client::from(c)->version(major, minor, micro); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_has_capability(qmp_client *c, const char *capability) {
    if (!c || !capability) return 0;
    return guarded([&] { return Client::from(c)->has_capability(capability) ? 1 : 0; });
}

QMP_API int qmp_client_execute(qmp_client *c, json_t *command, json_t **result) {
    return qmp_client_execute_full(c, command, nullptr, result);
}

QMP_API int qmp_client_execute_full(qmp_client *c, json_t *command, const qmp_exec_options *opts, json_t **result) {
    if (result) *result = nullptr;
    if (!command) return null_command();
    JsonRef stolen{command};
    if (!c) return null_client();
    return guarded([&] {
        qmp::client::Outcome o;
        run(c, command, opts, &o);
        int rc = o.error.code;
        if (result && (rc == QMP_OK || rc == QMP_ECOMMAND)) {
            Error pe = qmp::client::reply_value_tree(o, result);
            if (pe) return fail(Error::make(pe.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EPROTO,
                                            "cannot decode the reply: %s", pe.message.c_str()));
        }
        return rc ? fail(o.error) : 0;
    });
}

QMP_API int qmp_client_execute_str(qmp_client *c, const char *command_json, char **result_json) {
    return qmp_client_execute_str_full(c, command_json, nullptr, result_json);
}

QMP_API int qmp_client_execute_str_full(qmp_client *c, const char *command_json, const qmp_exec_options *opts,
                                        char **result_json) {
    if (result_json) *result_json = nullptr;
    if (!c) return null_client();
    if (!command_json) return set_last_error(QMP_EINVAL, "the command text is NULL");
    return guarded([&] {
        json_t *cmd = nullptr;
        Error e = qmp::wire::parse(command_json, std::strlen(command_json), &cmd);
        if (e) return set_last_error(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "the command is not valid JSON: %s",
                                     e.message.c_str());
        JsonRef hold{cmd};
        qmp::client::Outcome o;
        run(c, cmd, opts, &o);
        int rc = o.error.code;
        if (result_json && (rc == QMP_OK || rc == QMP_ECOMMAND)) {
            std::string text;
            qmp::client::reply_value_text(o, &text);
            *result_json = dup_string(text);
            if (!*result_json) return set_last_error(QMP_ENOMEM, "out of memory");
        }
        return rc ? fail(o.error) : 0;
    });
}

QMP_API int qmp_client_hmp(qmp_client *c, const char *command_line, char **output) {
    if (output) *output = nullptr;
    if (!c) return null_client();
    if (!command_line) return set_last_error(QMP_EINVAL, "the HMP command line is NULL");
    json_t *cmd = qmp_command_new("human-monitor-command", "s:command-line", command_line, NULL);
    if (!cmd) return qmp_error_last()->code;
    json_t *ret = nullptr;
    int rc = qmp_client_execute(c, cmd, &ret);
    if (rc == QMP_OK) {
        if (!json_is_string(ret)) {
            json_decref(ret);
            return set_last_error(QMP_EPROTO, "human-monitor-command did not return a string");
        }
        if (output) {
            *output = dup_string(std::string(json_string_value(ret), json_string_length(ret)));
            if (!*output) rc = set_last_error(QMP_ENOMEM, "out of memory");
        }
    }
    json_decref(ret);
    return rc;
}

QMP_API int qmp_client_getfd(qmp_client *c, int fd, const char *fdname) {
    if (!c) return null_client();
    if (!fdname) return set_last_error(QMP_EINVAL, "fdname is NULL");
    json_t *cmd = qmp_command_new("getfd", "s:fdname", fdname, NULL);
    if (!cmd) return qmp_error_last()->code;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.fds = &fd;
    o.nfds = 1;
    return qmp_client_execute_full(c, cmd, &o, nullptr);
}

QMP_API int qmp_client_closefd(qmp_client *c, const char *fdname) {
    if (!c) return null_client();
    if (!fdname) return set_last_error(QMP_EINVAL, "fdname is NULL");
    json_t *cmd = qmp_command_new("closefd", "s:fdname", fdname, NULL);
    if (!cmd) return qmp_error_last()->code;
    return qmp_client_execute(c, cmd, nullptr);
}

QMP_API int qmp_client_add_fd(qmp_client *c, int fd, long long fdset_id, const char *opaque,
                              long long *out_fdset_id, long long *out_fd) {
    if (!c) return null_client();
    json_t *cmd = qmp_command_new("add-fd", "K:fdset-id", fdset_id, "S:opaque", opaque, NULL);
    if (!cmd) return qmp_error_last()->code;
    qmp_exec_options o = QMP_EXEC_OPTIONS_INIT;
    o.fds = &fd;
    o.nfds = 1;
    json_t *ret = nullptr;
    int rc = qmp_client_execute_full(c, cmd, &o, &ret);
    if (rc == QMP_OK) {
        json_t *set = json_object_get(ret, "fdset-id");
        json_t *qfd = json_object_get(ret, "fd");
        if (!json_is_integer(set) || !json_is_integer(qfd)) {
            rc = set_last_error(QMP_EPROTO, "add-fd did not return \"fdset-id\" and \"fd\"");
        } else {
            if (out_fdset_id) *out_fdset_id = json_integer_value(set);
            if (out_fd) *out_fd = json_integer_value(qfd);
        }
    }
    json_decref(ret);
    return rc;
}

QMP_API int qmp_client_execute_async(qmp_client *c, json_t *command, const qmp_exec_options *opts,
                                     qmp_reply_fn cb, void *user_data, qmp_destroy_fn destroy) {
    JsonRef stolen{command};
    auto refuse = [&](int rc) {
        if (destroy) destroy(user_data);
        return rc;
    };
    if (!command) return refuse(null_command());
    if (!c) return refuse(null_client());
    if (!cb) return refuse(set_last_error(QMP_EINVAL, "the reply callback is NULL"));
    Error e;
    try {
        qmp::client::ExecOptions eo;
        e = read_options(opts, &eo);
        if (e) return refuse(fail(e));
        e = Hold(c)->execute_async(command, eo, cb, user_data, destroy);
    } catch (const std::bad_alloc &) {
        return refuse(set_last_error(QMP_ENOMEM, "out of memory"));
    } catch (...) {
        return refuse(unexpected_exception());
    }
    return e ? fail(e) : 0;  // on failure the client already ran destroy
}

QMP_API int qmp_client_on_event(qmp_client *c, const char *name, qmp_event_fn cb, void *user_data,
                                qmp_destroy_fn destroy, unsigned int *out_handler_id) {
    auto refuse = [&](int rc) {
        if (destroy) destroy(user_data);
        return rc;
    };
    if (!c) return refuse(null_client());
    if (!cb) return refuse(set_last_error(QMP_EINVAL, "the event callback is NULL"));
    try {
        Error e = Client::from(c)->on_event(name, cb, user_data, destroy, out_handler_id);
        return e ? fail(e) : 0;  // on failure the client already ran destroy
    } catch (const std::bad_alloc &) {
        return refuse(set_last_error(QMP_ENOMEM, "out of memory"));
    } catch (...) {
        return refuse(unexpected_exception());
    }
}

QMP_API int qmp_client_off_event(qmp_client *c, unsigned int handler_id) {
    if (!c) return null_client();
    return guarded([&] { Error e = Hold(c)->off_event(handler_id); return e ? fail(e) : 0; });
}

QMP_API unsigned long long qmp_client_event_seq(qmp_client *c) {
    if (!c) return 0;
    return Client::from(c)->event_seq();
}

QMP_API int qmp_client_wait_event(qmp_client *c, const char *name, const json_t *match,
                                  unsigned long long after_seq, int timeout_ms, json_t **event) {
    return qmp_client_wait_event_full(c, name, match, after_seq, timeout_ms, event, nullptr);
}

QMP_API int qmp_client_wait_event_full(qmp_client *c, const char *name, const json_t *match,
                                       unsigned long long after_seq, int timeout_ms, json_t **event,
                                       unsigned long long *seq) {
    if (event) *event = nullptr;
    if (seq) *seq = 0;
    if (!c) return null_client();
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    if (match && !json_is_object(match)) return set_last_error(QMP_EINVAL, "match must be a JSON object or NULL");
    return guarded([&] {
        qmp::protocol::EventPtr ev;
        Error e = Hold(c)->wait_event(name, match, after_seq, timeout_ms, &ev);
        if (e) return fail(e);
        if (event) {
            const json_t *whole = ev->whole();
            // The splitter checked the event's text already: only memory can fail here.
            if (!whole) return set_last_error(QMP_ENOMEM, "out of memory decoding the event");
            *event = json_incref(const_cast<json_t *>(whole));
        }
        if (seq) *seq = ev->seq();
        return 0;
    });
}

QMP_API int qmp_client_wait_event_str(qmp_client *c, const char *name, const char *match_json,
                                      unsigned long long after_seq, int timeout_ms, char **event_json) {
    return qmp_client_wait_event_str_full(c, name, match_json, after_seq, timeout_ms, event_json, nullptr);
}

QMP_API int qmp_client_wait_event_str_full(qmp_client *c, const char *name, const char *match_json,
                                           unsigned long long after_seq, int timeout_ms, char **event_json,
                                           unsigned long long *seq) {
    if (event_json) *event_json = nullptr;
    if (seq) *seq = 0;
    if (!c) return null_client();
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] {
        json_t *match = nullptr;
        if (match_json) {
            Error e = qmp::wire::parse(match_json, std::strlen(match_json), &match);
            if (e) return set_last_error(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "match is not valid JSON: %s",
                                         e.message.c_str());
            if (!json_is_object(match)) {
                json_decref(match);
                return set_last_error(QMP_EINVAL, "match must be a JSON object");
            }
        }
        JsonRef hold{match};
        qmp::protocol::EventPtr ev;
        Error e = Hold(c)->wait_event(name, match, after_seq, timeout_ms, &ev);
        if (e) return fail(e);
        if (event_json) {
            *event_json = dup_string(ev->text());
            if (!*event_json) return set_last_error(QMP_ENOMEM, "out of memory");
        }
        if (seq) *seq = ev->seq();
        return 0;
    });
}

QMP_API int qmp_client_on_close(qmp_client *c, qmp_close_fn cb, void *user_data, qmp_destroy_fn destroy) {
    auto refuse = [&](int rc) {
        if (destroy) destroy(user_data);
        return rc;
    };
    if (!c) return refuse(null_client());
    try {
        Error e = Client::from(c)->on_close(cb, user_data, destroy);
        return e ? fail(e) : 0;  // on failure the client already ran destroy
    } catch (const std::bad_alloc &) {
        return refuse(set_last_error(QMP_ENOMEM, "out of memory"));
    } catch (...) {
        return refuse(unexpected_exception());
    }
}

QMP_API int qmp_client_set_log(qmp_client *c, qmp_log_fn fn, void *user_data, qmp_destroy_fn destroy) {
    if (!c) {
        if (destroy) destroy(user_data);
        return null_client();
    }
    try {
        Error e = Client::from(c)->set_log(fn, user_data, destroy);
        return e ? fail(e) : 0;
    } catch (const std::bad_alloc &) {
        return refuse_unowned(destroy, user_data, set_last_error(QMP_ENOMEM, "out of memory"));
    } catch (...) {
        return refuse_unowned(destroy, user_data, unexpected_exception());
    }
}

QMP_API int qmp_add_secret_member(const char *name) {
    if (!name || !*name) return set_last_error(QMP_EINVAL, "the member name is empty");
    return guarded([&] {
        qmp::wire::add_secret_member(name);
        return 0;
    });
}

QMP_API int qmp_client_get_fd(qmp_client *c) {
    if (!c) return -1;
    return Client::from(c)->get_fd();
}

QMP_API int qmp_client_get_events(qmp_client *c) {
    if (!c) return 0;
    return Client::from(c)->get_events();
}

QMP_API int qmp_client_get_timeout_ms(qmp_client *c) {
    if (!c) return -1;
    return Client::from(c)->get_timeout_ms();
}

QMP_API int qmp_client_process(qmp_client *c, int revents) {
    if (!c) return null_client();
    return guarded([&] { Error e = Hold(c)->process(revents); return e ? fail(e) : 0; });
}

QMP_API int qmp_client_get_wakeup_fd(qmp_client *c) {
    if (!c) {
        null_client();
        return -1;
    }
    int r = guarded([&] {
        int fd = -1;
        Error e = Client::from(c)->wakeup_fd(&fd);
        return e ? fail(e) : fd;
    });
    return r < 0 ? -1 : r;
}

QMP_API int qmp_client_set_loop_callbacks(qmp_client *c, qmp_watch_fn watch, qmp_timer_fn timer, void *user_data,
                                          qmp_destroy_fn destroy) {
    if (!c) {
        if (destroy) destroy(user_data);
        return null_client();
    }
    return guarded([&] {
        Client *cl = Client::from(c);
        cl->ref();
        Error e = cl->set_loop_callbacks(watch, timer, user_data, destroy);
        cl->unref();
        return e ? fail(e) : 0;
    });
}

}  // extern "C"
