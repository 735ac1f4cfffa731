// The C boundary for qmp-schema.h.
#include <qmp/qmp-schema.h>

#include <memory>

#include "capi/guard.h"
#include "capi/hold.h"
#include "client/client.h"
#include "json/ptr.h"
#include "schema/schema.h"
#include "wire/codec.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::guarded;
using qmp::capi::Hold;
using qmp::client::Client;
using qmp::schema::Schema;

namespace {

int null_schema() { return set_last_error(QMP_EINVAL, "the schema is NULL"); }

// Runs body, which returns a new JSON value or sets the error; NULL on failure.
template <typename F>
json_t *json_result(F &&body) {
    json_t *out = nullptr;
    int rc = guarded([&] {
        Error e = body(&out);
        if (!e && !out) e = Error::make(QMP_ENOMEM, "out of memory");
        return e ? set_last_error(e) : 0;
    });
    if (rc < 0) {
        json_decref(out);
        return nullptr;
    }
    return out;
}

}  // namespace

extern "C" {

QMP_API qmp_schema *qmp_schema_new(const json_t *schema) {
    Schema *s = nullptr;
    int rc = guarded([&] {
        Error e = Schema::build(schema, &s);
        return e ? set_last_error(e) : 0;
    });
    return rc < 0 ? nullptr : s->handle();
}

QMP_API qmp_schema *qmp_schema_new_str(const char *json, size_t len) {
    if (!json) {
        set_last_error(QMP_EINVAL, "the schema text is NULL");
        return nullptr;
    }
    Schema *s = nullptr;
    int rc = guarded([&] {
        Error e = Schema::build_text(json, len, &s);
        return e ? set_last_error(e) : 0;
    });
    return rc < 0 ? nullptr : s->handle();
}

QMP_API qmp_schema *qmp_schema_ref(qmp_schema *s) {
    if (s) Schema::from(s)->ref();
    return s;
}

QMP_API void qmp_schema_unref(qmp_schema *s) {
    if (s) Schema::from(s)->unref();
}

QMP_API int qmp_schema_has(const qmp_schema *s, const char *query) {
    if (!s) return null_schema();
    return guarded([&] {
        int found = 0;
        Error e = Schema::from(s)->has(query, &found);
        return e ? set_last_error(e) : found;
    });
}

QMP_API json_t *qmp_schema_list(const qmp_schema *s, int what) {
    if (!s) {
        null_schema();
        return nullptr;
    }
    return json_result([&](json_t **out) {
        if (what != QMP_SCHEMA_COMMANDS && what != QMP_SCHEMA_EVENTS)
            return Error::make(QMP_EINVAL, "what is %d: use QMP_SCHEMA_COMMANDS or QMP_SCHEMA_EVENTS", what);
        *out = Schema::from(s)->list(what);
        return *out ? Error::ok() : Error::make(QMP_ENOMEM, "out of memory");
    });
}

QMP_API json_t *qmp_schema_arguments(const qmp_schema *s, const char *name) {
    if (!s) {
        null_schema();
        return nullptr;
    }
    return json_result([&](json_t **out) { return Schema::from(s)->arguments(name, out); });
}

QMP_API json_t *qmp_schema_describe(const qmp_schema *s, const char *name) {
    if (!s) {
        null_schema();
        return nullptr;
    }
    return json_result([&](json_t **out) { return Schema::from(s)->describe(name, out); });
}

QMP_API int qmp_schema_suggest(const qmp_schema *s, const char *name, int what, char **out) {
    if (out) *out = nullptr;
    if (!s) return null_schema();
    if (!name) return set_last_error(QMP_EINVAL, "the name is NULL");
    if (!out) return set_last_error(QMP_EINVAL, "out is NULL");
    if (what == 0 || (what & ~(QMP_SCHEMA_COMMANDS | QMP_SCHEMA_EVENTS)))
        return set_last_error(QMP_EINVAL, "what is %d: use QMP_SCHEMA_COMMANDS, QMP_SCHEMA_EVENTS or both", what);
    return guarded([&] {
        std::string pick = Schema::from(s)->suggest(name, what);
        if (pick.empty()) return 0;
        char *copy = qmp::capi::dup_string(pick);
        if (!copy) return set_last_error(QMP_ENOMEM, "out of memory");
        *out = copy;
        return 1;
    });
}

namespace {

// The warnings as a new JSON array of strings: whole, or QMP_ENOMEM.
int warnings_array(const std::vector<std::string> &list, json_t **out) {
    qmp::json::JsonPtr a(json_array());
    if (!a) return set_last_error(QMP_ENOMEM, "out of memory");
    for (const std::string &w : list)
        if (json_array_append_new(a.get(), json_stringn(w.data(), w.size())))
            return set_last_error(QMP_ENOMEM, "out of memory");
    *out = a.release();
    return 0;
}

}  // namespace

QMP_API int qmp_schema_validate(const qmp_schema *s, const json_t *command, int flags, json_t **warnings) {
    if (warnings) *warnings = nullptr;
    if (!s) return null_schema();
    if (!command) return set_last_error(QMP_EINVAL, "the command is NULL");
    if (flags & ~qmp::schema::kAllFlags)
        return set_last_error(QMP_EINVAL, "flags is %d: use QMP_VALIDATE flags", flags);
    return guarded([&] {
        std::vector<std::string> list;
        Error e = Schema::from(s)->validate(command, flags | QMP_VALIDATE, &list);
        if (e) return set_last_error(e);
        return warnings ? warnings_array(list, warnings) : 0;
    });
}

namespace {

// Checks the arguments shared by the value validators; 0 or the error's status.
int check_value_args(const qmp_schema *s, const char *query, int flags) {
    if (!s) return null_schema();
    if (!query) return set_last_error(QMP_EINVAL, "the schema query is NULL");
    if (flags & ~qmp::schema::kAllFlags)
        return set_last_error(QMP_EINVAL, "flags is %d: use QMP_VALIDATE flags", flags);
    return 0;
}

}  // namespace

QMP_API int qmp_schema_validate_value(const qmp_schema *s, const char *query, const json_t *value, int flags,
                                      json_t **warnings) {
    if (warnings) *warnings = nullptr;
    if (int rc = check_value_args(s, query, flags)) return rc;
    if (!value) return set_last_error(QMP_EINVAL, "the value is NULL");
    return guarded([&] {
        std::vector<std::string> list;
        Error e = Schema::from(s)->validate_value(query, value, flags | QMP_VALIDATE, &list);
        if (e) return set_last_error(e);
        return warnings ? warnings_array(list, warnings) : 0;
    });
}

QMP_API int qmp_schema_validate_value_str(const qmp_schema *s, const char *query, const char *json, size_t len,
                                          int flags, char **warnings) {
    if (warnings) *warnings = nullptr;
    if (int rc = check_value_args(s, query, flags)) return rc;
    if (!json) return set_last_error(QMP_EINVAL, "the value text is NULL");
    return guarded([&] {
        json_t *v = nullptr;
        Error e = qmp::wire::parse(json, len, &v);
        if (e) return set_last_error(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "the value is not valid JSON: %s", e.message.c_str());
        qmp::json::JsonPtr value(v);  // also when validating throws
        std::vector<std::string> list;
        e = Schema::from(s)->validate_value(query, v, flags | QMP_VALIDATE, &list);
        value.reset();
        if (e) return set_last_error(e);
        if (warnings) {
            std::string text = "[";
            for (size_t i = 0; i < list.size(); i++) {
                if (i) text += ",";
                qmp::wire::encode_string(list[i].data(), list[i].size(), text);
            }
            text += "]";
            *warnings = qmp::capi::dup_string(text);
            if (!*warnings) return set_last_error(QMP_ENOMEM, "out of memory");
        }
        return 0;
    });
}

QMP_API qmp_schema *qmp_client_get_schema(qmp_client *c, int timeout_ms) {
    if (!c) {
        set_last_error(QMP_EINVAL, "the client is NULL");
        return nullptr;
    }
    if (timeout_ms < -1) {
        set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
        return nullptr;
    }
    Schema *s = nullptr;
    int rc = guarded([&] {
        Error e = Hold(c)->schema(timeout_ms, &s);
        return e ? set_last_error(e) : 0;
    });
    return rc < 0 ? nullptr : s->handle();
}

QMP_API int qmp_client_schema_has(qmp_client *c, const char *query) {
    if (!c) return set_last_error(QMP_EINVAL, "the client is NULL");
    if (!query) return set_last_error(QMP_EINVAL, "the schema query is NULL");
    return guarded([&] {
        Schema *s = nullptr;
        Error e = Hold(c)->schema(0, &s);
        if (e) return set_last_error(e);
        std::unique_ptr<Schema, void (*)(Schema *)> hold(s, [](Schema *p) { p->unref(); });  // also when has() throws
        int found = 0;
        e = s->has(query, &found);
        return e ? set_last_error(e) : found;
    });
}

QMP_API int qmp_client_set_validation(qmp_client *c, int flags) {
    if (!c) return set_last_error(QMP_EINVAL, "the client is NULL");
    if (flags < 0 || (flags & ~qmp::schema::kAllFlags))
        return set_last_error(QMP_EINVAL, "flags is %d: use 0 or QMP_VALIDATE flags", flags);
    return guarded([&] {
        Error e = Hold(c)->set_validation(flags);
        return e ? set_last_error(e) : 0;
    });
}

QMP_API int qmp_client_get_validation(qmp_client *c) {
    if (!c) return 0;
    return Client::from(c)->validation();
}

}  // extern "C"
