// Checking a command against the schema before it is sent, and any value
// against a type of the schema (a reply, an event's data).
//
// The walk follows the value and the type together and stops at the first
// mistake, which it reports with the command's name and the JSON path of the
// offending value: "blockdev-add: arguments.file.aio: 'io_urin' is not one
// of threads, native, io_uring".  Uses of deprecated or unstable things are
// collected as warnings (or refused, by flag) on the way.
#include <cstring>

#include "schema/schema.h"

namespace qmp::schema {

namespace {

const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

std::string quoted(std::string_view s) {
    std::string out = "'";
    out.append(s);
    out += "'";
    return out;
}

// The objects whose members an object value may have: the type itself and
// the union branches its tags select (a branch may be a union itself).
struct Scope {
    static constexpr size_t kMax = 8;
    const Entity *objs[kMax];
    size_t n = 0;

    const Member *find(const char *key, size_t len) const {
        for (size_t i = 0; i < n; i++)
            for (const Member &m : objs[i]->members)
                if (m.name.size() == len && std::memcmp(m.name.data(), key, len) == 0) return &m;
        return nullptr;
    }
};

class Validator {
public:
    Validator(const std::string &command, int flags, std::vector<std::string> *warnings)
        : cmd_(command), flags_(flags), warnings_(warnings) {}

    bool value(const json_t *v, const Entity *t, std::string &path);
    bool flag(const Features &f, const std::string &path, const std::string &what);
    Error error() const { return err_; }
    // The command's arguments take members beyond its schema (see free_form()).
    void open_arguments(const std::string *path) {
        open_ = true;
        open_path_ = path;
        open_len_ = path->size();
    }
    bool fail(const std::string &path, const std::string &what);

private:
    bool object(const json_t *v, const Entity *t, std::string &path);
    bool builtin(const json_t *v, const Entity *t, const std::string &path);
    bool enumeration(const json_t *v, const Entity *t, const std::string &path);
    bool alternate(const json_t *v, const Entity *t, std::string &path);
    bool unknown_member(const json_t *v, const Scope &sc, const char *key, const std::string &path);

    const std::string &cmd_;
    int flags_;
    std::vector<std::string> *warnings_;
    Error err_;
    bool open_ = false;
    const std::string *open_path_ = nullptr;
    size_t open_len_ = 0;
};

// Commands whose arguments QEMU takes beyond what its schema describes (they
// are not generated from the schema): device_add passes every other member
// to the device as a property, and no schema lists a device's properties.
bool free_form(const std::string &command) { return command == "device_add"; }

bool Validator::fail(const std::string &path, const std::string &what) {
    std::string msg = cmd_;
    msg += ": ";
    if (!path.empty()) {
        msg += path;
        msg += ": ";
    }
    msg += what;
    err_ = Error::make(QMP_EINVAL, "%s", msg.c_str());
    return false;
}

// Flags a use of something deprecated or unstable; false when the flags refuse it.
bool Validator::flag(const Features &f, const std::string &path, const std::string &what) {
    const char *why = flagged_feature(f);
    if (!why) return true;
    // Something both deprecated and unstable is refused by either flag.
    if (has_feature(f, "deprecated") && (flags_ & QMP_VALIDATE_DENY_DEPRECATED))
        return fail(path, what + " is deprecated (refused by QMP_VALIDATE_DENY_DEPRECATED)");
    if (has_feature(f, "unstable") && (flags_ & QMP_VALIDATE_DENY_UNSTABLE))
        return fail(path, what + " is unstable (refused by QMP_VALIDATE_DENY_UNSTABLE)");
    if (warnings_) {
        std::string w = cmd_ + ": ";
        if (!path.empty()) w += path + ": ";
        w += what + " is " + why;
        warnings_->push_back(std::move(w));
    }
    return true;
}

bool Validator::value(const json_t *v, const Entity *t, std::string &path) {
    switch (t->meta) {
    case Meta::Builtin:
        return builtin(v, t, path);
    case Meta::Enum:
        return enumeration(v, t, path);
    case Meta::Array: {
        if (!json_is_array(v)) return fail(path, std::string("expected an array, got ") + json_kind(v));
        size_t i;
        const json_t *x;
        size_t len = path.size();
        json_array_foreach(v, i, x) {
            path += "[" + std::to_string(i) + "]";
            if (!value(x, t->element, path)) return false;
            path.resize(len);
        }
        return true;
    }
    case Meta::Object:
        return object(v, t, path);
    case Meta::Alternate:
        return alternate(v, t, path);
    default:
        return fail(path, "the schema names a command or event as a type");
    }
}

bool Validator::builtin(const json_t *v, const Entity *t, const std::string &path) {
    const std::string &jt = t->json_type;
    bool ok;
    if (jt == "value") ok = true;
    else if (jt == "string") ok = json_is_string(v);
    else if (jt == "int") ok = json_is_integer(v);
    else if (jt == "number") ok = json_is_number(v);
    else if (jt == "boolean") ok = json_is_boolean(v);
    else if (jt == "null") ok = json_is_null(v);
    else ok = true;  // a JSON type this library does not know: let the server judge
    if (ok) return true;
    return fail(path, "expected " + t->name + ", got " + json_kind(v));
}

std::string value_list(const Entity *t) {
    std::string s;
    for (const EnumValue &ev : t->values) {
        if (!s.empty()) s += ", ";
        s += ev.name;
    }
    return s;
}

bool Validator::enumeration(const json_t *v, const Entity *t, const std::string &path) {
    if (!json_is_string(v))
        return fail(path, std::string("expected a string (one of ") + value_list(t) + "), got " + json_kind(v));
    std::string_view s(json_string_value(v), json_string_length(v));
    const EnumValue *ev = t->value(s);
    if (!ev) return fail(path, quoted(s) + " is not one of " + value_list(t));
    return ev->features.empty() || flag(ev->features, path, "value " + quoted(s));
}

// Which branch of an alternate a JSON value belongs to: QEMU picks it by the
// value's JSON type, so at most one branch can take each type.
bool takes(const Entity *t, const json_t *v) {
    switch (t->meta) {
    case Meta::Builtin: {
        const std::string &jt = t->json_type;
        if (jt == "value") return true;
        if (jt == "string") return json_is_string(v);
        if (jt == "int") return json_is_integer(v);
        if (jt == "number") return json_is_number(v);
        if (jt == "boolean") return json_is_boolean(v);
        if (jt == "null") return json_is_null(v);
        return false;
    }
    case Meta::Enum: return json_is_string(v);
    case Meta::Array: return json_is_array(v);
    case Meta::Object: return json_is_object(v);
    default: return false;
    }
}

const char *expects(const Entity *t) {
    switch (t->meta) {
    case Meta::Builtin: return t->name.c_str();
    case Meta::Enum: return "a string";
    case Meta::Array: return "an array";
    case Meta::Object: return "an object";
    default: return "a value";
    }
}

bool Validator::alternate(const json_t *v, const Entity *t, std::string &path) {
    for (const Entity *a : t->alternatives)
        if (takes(a, v)) return value(v, a, path);
    std::string want;
    for (size_t i = 0; i < t->alternatives.size(); i++) {
        if (i) want += i + 1 == t->alternatives.size() ? " or " : ", ";
        want += expects(t->alternatives[i]);
    }
    return fail(path, "expected " + want + ", got " + json_kind(v));
}

void gather(const json_t *v, const Entity *t, Scope &sc) {
    while (t && sc.n < Scope::kMax) {
        sc.objs[sc.n++] = t;
        if (t->tag.empty()) return;
        const json_t *tv = json_object_get(v, t->tag.c_str());
        const Variant *var = json_is_string(tv) ? t->variant(json_string_value(tv)) : nullptr;
        t = var ? var->type : nullptr;
    }
}

bool Validator::unknown_member(const json_t *v, const Scope &sc, const char *key, const std::string &path) {
    std::string what = "unknown member " + quoted(key);
    // Does it belong to a branch the tag did not pick?
    for (size_t i = 0; i < sc.n; i++) {
        const Entity *u = sc.objs[i];
        for (const Variant &var : u->variants)
            if (var.type->member(key)) {
                const json_t *tv = json_object_get(v, u->tag.c_str());
                what += " (it belongs to other values of '" + u->tag + "'";
                if (json_is_string(tv)) what += std::string(", not ") + quoted(json_string_value(tv));
                what += ")";
                return fail(path, what);
            }
    }
    std::vector<std::string_view> names;
    for (size_t i = 0; i < sc.n; i++)
        for (const Member &m : sc.objs[i]->members) names.push_back(m.name);
    std::string s = suggest(key, names);
    if (!s.empty()) what += " (did you mean " + quoted(s) + "?)";
    return fail(path, what);
}

bool Validator::object(const json_t *v, const Entity *t, std::string &path) {
    if (!json_is_object(v)) return fail(path, std::string("expected an object, got ") + json_kind(v));
    Scope sc;
    gather(v, t, sc);
    size_t len = path.size();
    const char *key;
    const json_t *x;
    json_object_foreach(const_cast<json_t *>(v), key, x) {
        size_t klen = std::strlen(key);
        const Member *m = sc.find(key, klen);
        if (!m) {
            if (open_ && &path == open_path_ && path.size() == open_len_) continue;  // a free-form command's extra member
            return unknown_member(v, sc, key, path);
        }
        path += '.';
        path.append(key, klen);
        if (!value(x, m->type, path)) return false;
        if (!m->features.empty() && !flag(m->features, path, "member " + quoted(key))) return false;
        path.resize(len);
    }
    for (size_t i = 0; i < sc.n; i++)
        for (const Member &m : sc.objs[i]->members)
            if (!m.optional && !json_object_get(v, m.name.c_str()))
                return fail(path, "missing required member " + quoted(m.name));
    return true;
}

}  // namespace

Error Schema::validate(const json_t *command, int flags, std::vector<std::string> *warnings, bool oob) const {
    if (!json_is_object(command)) return Error::make(QMP_EINVAL, "the command is not a JSON object");
    const json_t *ex = json_object_get(command, "execute");
    if (!ex) {
        ex = json_object_get(command, "exec-oob");
        oob = true;
    }
    if (!json_is_string(ex)) return Error::make(QMP_EINVAL, "the command has no \"execute\" name");
    std::string name(json_string_value(ex), json_string_length(ex));
    Validator val(name, flags, warnings);
    const Entity *c = find(name);
    if (!c || c->meta != Meta::Command) {
        std::string s = suggest(name, QMP_SCHEMA_COMMANDS);
        std::string what = "unknown command";
        if (!s.empty()) what += " (did you mean " + quoted(s) + "?)";
        val.fail("", what);
        return val.error();
    }
    if (oob && !c->allow_oob) {
        val.fail("", "the command does not allow out-of-band execution (exec-oob)");
        return val.error();
    }
    if (!c->features.empty() && !val.flag(c->features, "", "command " + quoted(name))) return val.error();
    const json_t *args = json_object_get(command, "arguments");
    json_t *empty = nullptr;
    if (!args) {
        args = empty = json_object();
        if (!empty) return Error::make(QMP_ENOMEM, "out of memory");
    }
    std::string path = "arguments";
    if (free_form(name)) val.open_arguments(&path);
    bool ok = val.value(args, c->arg, path);
    json_decref(empty);
    return ok ? Error::ok() : val.error();
}

Error Schema::validate_value(const char *query, const json_t *value, int flags,
                             std::vector<std::string> *warnings) const {
    const Entity *t = nullptr;
    const char *root = nullptr;
    if (Error e = resolve_type(query, &t, &root)) return e;
    if (!value) return Error::make(QMP_EINVAL, "the value is NULL");
    std::string where(query);
    Validator val(where, flags, warnings);
    std::string path = root;
    return val.value(value, t, path) ? Error::ok() : val.error();
}

}  // namespace qmp::schema
