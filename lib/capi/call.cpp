// The C boundary for qmp-call.h: a handle that carries one cancel flag for
// the blocking calls made through it, and the outcome of the last one.
#include <qmp/qmp-call.h>

#include <atomic>
#include <cstring>
#include <new>
#include <string>

#include "capi/guard.h"
#include "capi/hold.h"
#include "capi/options.h"
#include "client/client.h"
#include "common/error.h"
#include "wire/codec.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::Hold;
using qmp::client::Client;

struct qmp_call {
    Client *client;                      // a reference, dropped by qmp_call_free()
    std::atomic<bool> cancelled{false};  // read by the client's wait (ExecOptions::cancel)
    Error error;                         // the last call's outcome
    qmp_error view{};                    // error, as the C struct
    std::string result;
    bool has_result = false;
    unsigned long long seq = 0;
};

namespace {

void update_view(qmp_call *call) noexcept {
    const Error &e = call->error;
    call->view.code = e.code;
    call->view.sys_errno = e.sys_errno;
    call->view.message = e.message.empty() ? qmp_strerror(e.code) : e.message.c_str();
    call->view.qmp_class = e.qmp_class.empty() ? nullptr : e.qmp_class.c_str();
    call->view.qmp_desc = e.qmp_desc.empty() ? nullptr : e.qmp_desc.c_str();
}

// Forgets the last call's outcome: nothing here allocates.
void reset(qmp_call *call) noexcept {
    call->error = Error::ok();
    call->result.clear();
    call->has_result = false;
    call->seq = 0;
    update_view(call);
}

// Ends a call with e: kept in the handle and as the thread's last error.
// Never throws; when e cannot be copied, the handle keeps its code alone.
int settle(qmp_call *call, const Error &e) noexcept {
    try {
        call->error = e;
    } catch (...) {
        call->error.code = e.code;
        call->error.sys_errno = e.sys_errno;
        call->error.message.clear();
        call->error.qmp_class.clear();
        call->error.qmp_desc.clear();
    }
    if (e.code < 0 && e.code != QMP_ECOMMAND) {
        call->result.clear();
        call->has_result = false;
    }
    update_view(call);
    return e.code < 0 ? set_last_error(e) : 0;
}

// Runs body (which returns the call's Error); an exception ends the call too.
template <typename F>
int run_call(qmp_call *call, F &&body) {
    try {
        return settle(call, body());
    } catch (const std::bad_alloc &) {
        return settle(call, Error{QMP_ENOMEM, 0, {}, {}, {}});
    } catch (...) {
        return settle(call, Error{QMP_EINVAL, 0, {}, {}, {}});
    }
}

Error cancelled_error() { return Error::make(QMP_ECANCELLED, "the call was cancelled"); }

int null_call() { return set_last_error(QMP_EINVAL, "the call is NULL"); }

struct JsonRef {
    json_t *v = nullptr;
    ~JsonRef() { json_decref(v); }
};

}  // namespace

extern "C" {

QMP_API qmp_call *qmp_call_new(qmp_client *c) {
    if (!c) {
        set_last_error(QMP_EINVAL, "the client is NULL");
        return nullptr;
    }
    qmp_call *call = new (std::nothrow) qmp_call;
    if (!call) {
        set_last_error(QMP_ENOMEM, "out of memory");
        return nullptr;
    }
    call->client = Client::from(c);
    call->client->ref();
    update_view(call);
    return call;
}

QMP_API void qmp_call_free(qmp_call *call) {
    if (!call) return;
    call->client->unref();
    delete call;
}

QMP_API void qmp_call_cancel(qmp_call *call) {
    if (!call) return;
    call->cancelled.store(true, std::memory_order_release);
    try {
        call->client->interrupt_waits();
    } catch (...) {
        // std::mutex::lock cannot fail on a valid mutex; nothing to undo.
    }
}

QMP_API int qmp_call_is_cancelled(const qmp_call *call) {
    return call && call->cancelled.load(std::memory_order_acquire) ? 1 : 0;
}

QMP_API int qmp_call_execute_str(qmp_call *call, const char *command_json, const qmp_exec_options *opts) {
    if (!call) return null_call();
    reset(call);
    return run_call(call, [&]() -> Error {
        if (!command_json) return Error::make(QMP_EINVAL, "the command text is NULL");
        if (call->cancelled.load(std::memory_order_acquire)) return cancelled_error();
        JsonRef cmd;
        Error e = qmp::wire::parse(command_json, std::strlen(command_json), &cmd.v);
        if (e)
            return Error::make(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "the command is not valid JSON: %s",
                               e.message.c_str());
        qmp::client::ExecOptions eo;
        e = qmp::capi::read_options(opts, &eo);
        if (e) return e;
        qmp::client::CancelScope scope(call->client, &call->cancelled);
        qmp::client::Outcome o;
        o.error = Hold(call->client->handle())->execute(cmd.v, eo, &o);
        if (o.error.code == QMP_OK || o.error.code == QMP_ECOMMAND) {
            qmp::client::reply_value_text(o, &call->result);
            call->has_result = true;
        }
        return o.error;
    });
}

QMP_API int qmp_call_wait_event_str(qmp_call *call, const char *name, const char *match_json,
                                    unsigned long long after_seq, int timeout_ms) {
    if (!call) return null_call();
    reset(call);
    return run_call(call, [&]() -> Error {
        if (timeout_ms < -1) return Error::make(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
        if (call->cancelled.load(std::memory_order_acquire)) return cancelled_error();
        JsonRef match;
        if (match_json) {
            Error e = qmp::wire::parse(match_json, std::strlen(match_json), &match.v);
            if (e)
                return Error::make(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "match is not valid JSON: %s",
                                   e.message.c_str());
            if (!json_is_object(match.v)) return Error::make(QMP_EINVAL, "match must be a JSON object");
        }
        qmp::protocol::EventPtr ev;
        qmp::client::CancelScope scope(call->client, &call->cancelled);
        Error e = Hold(call->client->handle())->wait_event(name, match.v, after_seq, timeout_ms, &ev);
        if (e) return e;
        call->result = ev->text();
        call->has_result = true;
        call->seq = ev->seq();
        return Error::ok();
    });
}

QMP_API int qmp_call_run(qmp_call *call, qmp_call_fn fn, void *arg) {
    if (!call) return null_call();
    reset(call);
    if (!fn) return settle(call, Error::make(QMP_EINVAL, "the function is NULL"));
    if (call->cancelled.load(std::memory_order_acquire)) return settle(call, cancelled_error());
    int rc;
    {
        qmp::client::CancelScope scope(call->client, &call->cancelled);
        rc = fn(call->client->handle(), arg);
    }
    if (rc >= 0) {
        settle(call, Error::ok());
        return rc;
    }
    try {
        settle(call, qmp::last_error_copy());
    } catch (...) {
        settle(call, Error{qmp_error_last()->code, 0, {}, {}, {}});
    }
    return rc;
}

QMP_API int qmp_call_status(const qmp_call *call) {
    if (!call) return QMP_EINVAL;
    return call->error.code;
}

QMP_API const qmp_error *qmp_call_error(const qmp_call *call) {
    if (!call) return qmp_error_last();
    return &call->view;
}

QMP_API const char *qmp_call_result(const qmp_call *call) {
    return call && call->has_result ? call->result.c_str() : nullptr;
}

QMP_API unsigned long long qmp_call_seq(const qmp_call *call) { return call ? call->seq : 0; }

}  // extern "C"
