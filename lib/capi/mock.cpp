// The C boundary for qmp-mock.h.
#include <qmp/qmp-mock.h>

#include <new>

#include "capi/guard.h"
#include "mock/mock.h"
#include "schema/schema.h"
#include "wire/codec.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::guarded;
using qmp::mock::Json;
using qmp::mock::Mock;

struct qmp_mock {
    Mock impl;
};

namespace {

int null_mock() { return set_last_error(QMP_EINVAL, "the test server is NULL"); }

int status(const Error &e) { return e ? set_last_error(e) : 0; }

// Parses JSON text given to the test server (what: how the message names it).
Error parse_text(const char *text, const char *what, Json *out) {
    json_t *v = nullptr;
    Error e = qmp::wire::parse(text, std::char_traits<char>::length(text), &v);
    if (e) return Error::make(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "%s is not valid JSON: %s", what, e.message.c_str());
    *out = Json(v);
    return Error::ok();
}

}  // namespace

extern "C" {

QMP_API qmp_mock *qmp_mock_new(void) {
    qmp_mock *m = nullptr;
    int rc = guarded([&] {
        m = new qmp_mock();
        Error e = m->impl.init();
        if (e) {
            delete m;
            m = nullptr;
            return set_last_error(e);
        }
        return 0;
    });
    return rc < 0 ? nullptr : m;
}

QMP_API void qmp_mock_free(qmp_mock *m) {
    delete m;
}

QMP_API int qmp_mock_set_greeting(qmp_mock *m, const json_t *greeting) {
    if (!m) return null_mock();
    if (!greeting) return set_last_error(QMP_EINVAL, "the greeting is NULL");
    return guarded([&] { return status(m->impl.set_greeting(greeting)); });
}

QMP_API int qmp_mock_set_greeting_str(qmp_mock *m, const char *greeting_json) {
    if (!m) return null_mock();
    if (!greeting_json) return set_last_error(QMP_EINVAL, "the greeting is NULL");
    return guarded([&] {
        Json g;
        if (Error e = parse_text(greeting_json, "the greeting", &g)) return set_last_error(e);
        return status(m->impl.set_greeting(g.get()));
    });
}

QMP_API int qmp_mock_expect(qmp_mock *m, const char *command, const json_t *arguments, const json_t *response) {
    if (!m) return null_mock();
    return guarded([&] { return status(m->impl.expect(command, arguments, response)); });
}

QMP_API int qmp_mock_expect_str(qmp_mock *m, const char *command, const char *arguments_json,
                                const char *response_json) {
    if (!m) return null_mock();
    if (!command) return set_last_error(QMP_EINVAL, "the expected command's name is NULL");
    if (!response_json) return set_last_error(QMP_EINVAL, "the response to '%s' is NULL", command);
    return guarded([&] {
        Json args, resp;
        std::string what = std::string("the arguments expected for '") + command + "'";
        if (arguments_json)
            if (Error e = parse_text(arguments_json, what.c_str(), &args)) return set_last_error(e);
        what = std::string("the response to '") + command + "'";
        if (Error e = parse_text(response_json, what.c_str(), &resp)) return set_last_error(e);
        return status(m->impl.expect(command, args.get(), resp.get()));
    });
}

QMP_API int qmp_mock_event(qmp_mock *m, const json_t *event) {
    if (!m) return null_mock();
    return guarded([&] { return status(m->impl.event(event)); });
}

QMP_API int qmp_mock_event_str(qmp_mock *m, const char *event_json) {
    if (!m) return null_mock();
    if (!event_json) return set_last_error(QMP_EINVAL, "the event is NULL");
    return guarded([&] {
        Json ev;
        if (Error e = parse_text(event_json, "the event", &ev)) return set_last_error(e);
        return status(m->impl.event(ev.get()));
    });
}

QMP_API int qmp_mock_load_replies(qmp_mock *m, const char *path) {
    if (!m) return null_mock();
    if (!path) return set_last_error(QMP_EINVAL, "the .replies path is NULL");
    return guarded([&] { return status(m->impl.load_replies(path)); });
}

QMP_API int qmp_mock_set_schema(qmp_mock *m, const qmp_schema *s) {
    if (!m) return null_mock();
    return guarded([&] { return status(m->impl.set_schema(s ? qmp::schema::Schema::from(s) : nullptr)); });
}

QMP_API int qmp_mock_socketpair(qmp_mock *m) {
    if (!m) return null_mock();
    return guarded([&] {
        int fd = -1;
        Error e = m->impl.start_socketpair(&fd);
        return e ? set_last_error(e) : fd;
    });
}

QMP_API int qmp_mock_listen_unix(qmp_mock *m, const char *path) {
    if (!m) return null_mock();
    if (!path) return set_last_error(QMP_EINVAL, "the socket path is NULL");
    return guarded([&] { return status(m->impl.start_listen(path)); });
}

QMP_API int qmp_mock_verify(qmp_mock *m, int timeout_ms) {
    if (!m) return null_mock();
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] { return status(m->impl.verify(timeout_ms)); });
}

}  // extern "C"
