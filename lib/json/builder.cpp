#include "json/builder.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <qmp/qmp-command.h>

#include "json/ptr.h"
#include "wire/uint64.h"

namespace qmp::json {

namespace {

// One pass over a caller's va_list, with its own copy so that helpers can
// share it by reference.
class ArgList {
public:
    explicit ArgList(va_list ap) { va_copy(ap_, ap); }
    ~ArgList() { va_end(ap_); }
    ArgList(const ArgList &) = delete;
    ArgList &operator=(const ArgList &) = delete;

    template <typename T>
    T next() { return va_arg(ap_, T); }

private:
    va_list ap_;
};

// RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF.
// jansson rejects the same strings, but cannot tell us why it failed.
bool valid_utf8(const char *s) {
    const auto *p = reinterpret_cast<const unsigned char *>(s);
    while (*p) {
        unsigned c = *p++;
        if (c < 0x80) continue;
        int extra;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) { extra = 1; min = 0x80; c &= 0x1f; }
        else if (c >= 0xe0 && c <= 0xef) { extra = 2; min = 0x800; c &= 0x0f; }
        else if (c >= 0xf0 && c <= 0xf4) { extra = 3; min = 0x10000; c &= 0x07; }
        else return false;
        for (int i = 0; i < extra; ++i, ++p) {
            if ((*p & 0xc0) != 0x80) return false;
            c = (c << 6) | (*p & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
    }
    return true;
}

constexpr const char kCodes[] = "sSijkzyIJKZYupUPbBTdnaA";

// Where the pairs go, for the messages and the checks that need it.
struct Target {
    std::string context;             // "qmp_command_new(\"name\")", ...
    const json_t *existing = nullptr; // members already there (qmp_args_add)
    const json_t *outer = nullptr;    // the caller's object, which must not
                                      // become a member of itself
};

// The key being processed: "<code>:<name>".
struct Key {
    const char *text = nullptr;
    char code = '\0';
    const char *name = nullptr;
};

Error key_error(const Target &t, const char *key, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

Error key_error(const Target &t, const char *key, int code, const char *fmt, ...) {
    char detail[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return Error::make(code, "%s: key '%s': %s", t.context.c_str(), key, detail);
}

Error parse_key(const Target &t, const char *text, Key *out) {
    if (text[0] == '\0' || text[0] == ':')
        return key_error(t, text, QMP_EINVAL, "no type code (expected '<code>:<name>')");
    if (text[1] != ':')
        return key_error(t, text, QMP_EINVAL, "no colon after the type code (expected '<code>:<name>')");
    if (!std::strchr(kCodes, text[0]))
        return key_error(t, text, QMP_EINVAL, "unknown type code '%c'", text[0]);
    if (text[2] == '\0')
        return key_error(t, text, QMP_EINVAL, "empty member name");
    if (!valid_utf8(text + 2))
        return key_error(t, text, QMP_EINVAL, "member name is not valid UTF-8");
    *out = Key{text, text[0], text + 2};
    return Error::ok();
}

// The value of one key: absent (omitted), or a JSON value.  For 'a'/'A' the
// caller's reference is given up only once the member is in place.
struct Value {
    bool present = false;
    JsonPtr json;
    json_t **steal_from = nullptr;

    void release_callers_reference() {
        if (!steal_from) return;
        json_decref(*steal_from);
        *steal_from = nullptr;
    }
};

Error present(const Target &t, const Key &k, json_t *j, Value *out) {
    if (!j) return key_error(t, k.text, QMP_ENOMEM, "out of memory");
    out->present = true;
    out->json.reset(j);
    return Error::ok();
}

// i j k z y (int) and I J K Z Y (long long): rule is the lower-case code.
Error signed_value(const Target &t, const Key &k, long long v, Value *out) {
    char rule = static_cast<char>(k.code | 0x20);
    if ((rule == 'j' || rule == 'y') && v < 0)
        return key_error(t, k.text, QMP_EINVAL, "value %lld is negative", v);
    if ((rule == 'k' && v < 0) || ((rule == 'z' || rule == 'y') && v == 0)) return Error::ok();
    return present(t, k, json_integer(v), out);
}

// u p (unsigned int) and U P (unsigned long long); 'p'/'P' omit zero.
Error unsigned_value(const Target &t, const Key &k, unsigned long long v, Value *out) {
    if ((k.code == 'p' || k.code == 'P') && v == 0) return Error::ok();
    return present(t, k, wire::uint64_new(v), out);
}

Error string_value(const Target &t, const Key &k, const char *s, Value *out) {
    if (!s) {
        if (k.code == 'S') return Error::ok();
        return key_error(t, k.text, QMP_EINVAL, "value is NULL");
    }
    if (!valid_utf8(s)) return key_error(t, k.text, QMP_EINVAL, "value is not valid UTF-8");
    return present(t, k, json_string_nocheck(s), out);
}

Error tristate_value(const Target &t, const Key &k, int v, Value *out) {
    switch (v) {
    case QMP_TRISTATE_ABSENT: return Error::ok();
    case QMP_TRISTATE_YES: return present(t, k, json_true(), out);
    case QMP_TRISTATE_NO: return present(t, k, json_false(), out);
    default:
        return key_error(t, k.text, QMP_EINVAL,
                         "value %d is not QMP_TRISTATE_ABSENT, _YES or _NO", v);
    }
}

Error real_value(const Target &t, const Key &k, double v, Value *out) {
    if (!std::isfinite(v))
        return key_error(t, k.text, QMP_EINVAL, "value %g is not a finite number", v);
    return present(t, k, json_real(v), out);
}

Error json_value(const Target &t, const Key &k, json_t **ptr, Value *out) {
    if (!ptr) return key_error(t, k.text, QMP_EINVAL, "the json_t ** is NULL");
    if (!*ptr) {
        if (k.code == 'A') return Error::ok();
        return key_error(t, k.text, QMP_EINVAL, "value is NULL");
    }
    if (*ptr == t.outer || *ptr == t.existing)
        return key_error(t, k.text, QMP_EINVAL, "value is the object being added to");
    out->present = true;
    out->json.reset(json_incref(*ptr));
    out->steal_from = ptr;
    return Error::ok();
}

// Reads the C argument(s) of k from args.
Error read_value(const Target &t, const Key &k, ArgList &args, Value *out) {
    switch (k.code) {
    case 's': case 'S':
        return string_value(t, k, args.next<const char *>(), out);
    case 'i': case 'j': case 'k': case 'z': case 'y':
        return signed_value(t, k, args.next<int>(), out);
    case 'I': case 'J': case 'K': case 'Z': case 'Y':
        return signed_value(t, k, args.next<long long>(), out);
    case 'u': case 'p':
        return unsigned_value(t, k, args.next<unsigned int>(), out);
    case 'U': case 'P':
        return unsigned_value(t, k, args.next<unsigned long long>(), out);
    case 'b':
        return present(t, k, json_boolean(args.next<int>()), out);
    case 'B':
        if (!args.next<int>()) return Error::ok();
        return present(t, k, json_true(), out);
    case 'T':
        return tristate_value(t, k, args.next<int>(), out);
    case 'd':
        return real_value(t, k, args.next<double>(), out);
    case 'n':
        return present(t, k, json_null(), out);
    case 'a': case 'A':
        return json_value(t, k, args.next<json_t **>(), out);
    }
    return key_error(t, k.text, QMP_EINVAL, "unknown type code '%c'", k.code);
}

// Adds the pairs from `key` on to `pairs`, a fresh object.  Stops at the
// first failure, leaving the arguments from the failing key on unread.
Error collect(const char *key, ArgList &args, const Target &t, json_t *pairs) {
    for (; key; key = args.next<const char *>()) {
        Key k;
        if (Error e = parse_key(t, key, &k)) return e;
        Value v;
        if (Error e = read_value(t, k, args, &v)) return e;
        if (!v.present) continue;
        if (json_object_get(pairs, k.name) || (t.existing && json_object_get(t.existing, k.name)))
            return key_error(t, key, QMP_EINVAL, "duplicate member '%s'", k.name);
        if (json_object_set_nocheck(pairs, k.name, v.json.get()))
            return key_error(t, key, QMP_ENOMEM, "out of memory");
        v.release_callers_reference();
    }
    return Error::ok();
}

// Builds an object of all pairs, starting with first_key.
Error build_pairs(const char *first_key, ArgList &args, const Target &t, JsonPtr *out) {
    JsonPtr pairs(json_object());
    if (!pairs) return Error::make(QMP_ENOMEM, "%s: out of memory", t.context.c_str());
    if (Error e = collect(first_key, args, t, pairs.get())) return e;
    *out = std::move(pairs);
    return Error::ok();
}

std::string quoted_context(const char *function, const char *name) {
    return std::string(function) + "(\"" + name + "\")";
}

Error check_name(const char *function, const char *what, const char *name) {
    if (!name) return Error::make(QMP_EINVAL, "%s: %s is NULL", function, what);
    if (!valid_utf8(name)) return Error::make(QMP_EINVAL, "%s: %s is not valid UTF-8", function, what);
    return Error::ok();
}

Error set_member(json_t *object, const char *key, json_t *value_new, const char *context) {
    if (!value_new || json_object_set_new_nocheck(object, key, value_new))
        return Error::make(QMP_ENOMEM, "%s: out of memory", context);
    return Error::ok();
}

// Sets every member of src in dest, in src's order; on failure removes the
// ones it set, so dest is unchanged (src's keys are not in dest).
Error merge_new_members(json_t *dest, json_t *src, const char *context) {
    const char *key;
    json_t *value;
    size_t added = 0;
    json_object_foreach(src, key, value) {
        if (json_object_set_nocheck(dest, key, value) == 0) {
            ++added;
            continue;
        }
        json_object_foreach(src, key, value) {
            if (added-- == 0) break;
            json_object_del(dest, key);
        }
        return Error::make(QMP_ENOMEM, "%s: out of memory", context);
    }
    return Error::ok();
}

bool is_command(const json_t *object) {
    json_t *o = const_cast<json_t *>(object);
    return json_is_string(json_object_get(o, "execute")) ||
           json_is_string(json_object_get(o, "exec-oob"));
}

}  // namespace

Error command_new(const char *name, va_list ap, json_t **out) {
    if (Error e = check_name("qmp_command_new", "the command name", name)) return e;
    Target t;
    t.context = quoted_context("qmp_command_new", name);
    ArgList args(ap);
    JsonPtr pairs;
    if (Error e = build_pairs(args.next<const char *>(), args, t, &pairs)) return e;

    JsonPtr cmd(json_object());
    if (!cmd) return Error::make(QMP_ENOMEM, "%s: out of memory", t.context.c_str());
    if (Error e = set_member(cmd.get(), "execute", json_string_nocheck(name), t.context.c_str()))
        return e;
    if (json_object_size(pairs.get()) > 0) {
        if (Error e = set_member(cmd.get(), "arguments", pairs.release(), t.context.c_str()))
            return e;
    }
    *out = cmd.release();
    return Error::ok();
}

Error args_new(const char *first_key, va_list ap, json_t **out) {
    Target t;
    t.context = "qmp_args_new";
    ArgList args(ap);
    JsonPtr pairs;
    if (Error e = build_pairs(first_key, args, t, &pairs)) return e;
    *out = pairs.release();
    return Error::ok();
}

Error args_add(json_t *object, va_list ap) {
    const char *context = "qmp_args_add";
    if (!object) return Error::make(QMP_EINVAL, "%s: the object is NULL", context);
    if (!json_is_object(object))
        return Error::make(QMP_EINVAL, "%s: the value is not a JSON object", context);

    json_t *dest = object;
    if (is_command(object)) {
        dest = json_object_get(object, "arguments");
        if (dest && !json_is_object(dest))
            return Error::make(QMP_EINVAL, "%s: the command's \"arguments\" is not an object", context);
    }
    Target t;
    t.context = context;
    t.existing = dest;
    t.outer = object;
    ArgList args(ap);
    JsonPtr pairs;
    if (Error e = build_pairs(args.next<const char *>(), args, t, &pairs)) return e;

    if (json_object_size(pairs.get()) == 0) return Error::ok();
    if (!dest) return set_member(object, "arguments", pairs.release(), context);
    return merge_new_members(dest, pairs.get(), context);
}

Error transaction_action_new(const char *type, va_list ap, json_t **out) {
    if (Error e = check_name("qmp_transaction_action_new", "the action type", type)) return e;
    Target t;
    t.context = quoted_context("qmp_transaction_action_new", type);
    ArgList args(ap);
    JsonPtr pairs;
    if (Error e = build_pairs(args.next<const char *>(), args, t, &pairs)) return e;

    JsonPtr action(json_object());
    if (!action) return Error::make(QMP_ENOMEM, "%s: out of memory", t.context.c_str());
    if (Error e = set_member(action.get(), "type", json_string_nocheck(type), t.context.c_str()))
        return e;
    if (Error e = set_member(action.get(), "data", pairs.release(), t.context.c_str())) return e;
    *out = action.release();
    return Error::ok();
}

Error transaction_new(json_t *actions, const char *completion_mode, json_t **out) {
    const char *context = "qmp_transaction_new";
    JsonPtr owned_actions(actions);
    if (!actions) return Error::make(QMP_EINVAL, "%s: actions is NULL", context);
    if (!json_is_array(actions))
        return Error::make(QMP_EINVAL, "%s: actions is not a JSON array", context);
    if (completion_mode && !valid_utf8(completion_mode))
        return Error::make(QMP_EINVAL, "%s: completion_mode is not valid UTF-8", context);

    JsonPtr arguments(json_object());
    JsonPtr cmd(json_object());
    if (!arguments || !cmd) return Error::make(QMP_ENOMEM, "%s: out of memory", context);
    if (Error e = set_member(arguments.get(), "actions", owned_actions.release(), context)) return e;
    if (completion_mode) {
        JsonPtr properties(json_object());
        if (!properties) return Error::make(QMP_ENOMEM, "%s: out of memory", context);
        if (Error e = set_member(properties.get(), "completion-mode",
                                 json_string_nocheck(completion_mode), context))
            return e;
        if (Error e = set_member(arguments.get(), "properties", properties.release(), context))
            return e;
    }
    if (Error e = set_member(cmd.get(), "execute", json_string_nocheck("transaction"), context))
        return e;
    if (Error e = set_member(cmd.get(), "arguments", arguments.release(), context)) return e;
    *out = cmd.release();
    return Error::ok();
}

Error command_set_oob(json_t *command) {
    const char *context = "qmp_command_set_oob";
    if (!command) return Error::make(QMP_EINVAL, "%s: the command is NULL", context);
    if (!json_is_string(json_object_get(command, "execute")))
        return Error::make(QMP_EINVAL, "%s: the value has no \"execute\" string member", context);
    if (json_object_get(command, "exec-oob"))
        return Error::make(QMP_EINVAL, "%s: the command already has an \"exec-oob\" member", context);

    // jansson cannot rename a member: rebuild the object in the same order
    // (everything allocated before the command is touched).
    JsonPtr renamed(json_object());
    if (!renamed) return Error::make(QMP_ENOMEM, "%s: out of memory", context);
    const char *key;
    json_t *value;
    json_object_foreach(command, key, value) {
        const char *new_key = std::strcmp(key, "execute") == 0 ? "exec-oob" : key;
        if (json_object_set_nocheck(renamed.get(), new_key, value))
            return Error::make(QMP_ENOMEM, "%s: out of memory", context);
    }
    // Re-adding into the cleared object reuses its table; only the member
    // records are allocated again, and they were just freed.
    json_object_clear(command);
    json_object_foreach(renamed.get(), key, value) {
        if (json_object_set_nocheck(command, key, value))
            return Error::make(QMP_ENOMEM, "%s: out of memory; the command lost members", context);
    }
    return Error::ok();
}

}  // namespace qmp::json
