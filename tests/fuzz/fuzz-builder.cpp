// Fuzz target: the varargs command builder (qmp-command.h), public API only.
//
// The input is read as a program: a command name, then calls of
// qmp_command_new / qmp_args_new / qmp_transaction_action_new (each making a
// new object) and qmp_args_add (adding to the last one), each with up to
// three "<code>:<name>" keys whose bytes come from the input (any code, any
// name, valid or not) and values drawn from the input with the C type the
// key's code calls for.  Variadic calls are made for real: a template builds
// the argument list one pair at a time.
//
// Checked: a call returns a JSON object (with "execute"/"type" as documented)
// or NULL with QMP_EINVAL/QMP_ENOMEM in qmp_error_last(); qmp_args_add is all
// or nothing (the object is unchanged on failure); every built object dumps
// (qmp_json_dumps) and parses back (qmp_json_parse) equal; 'a'/'A' values are
// either stolen (pointer set to NULL) or left to the caller, never both, so
// freeing what is still non-NULL leaks nothing and frees nothing twice
// (the sanitizers check that).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <qmp/qmp.h>

namespace {

[[noreturn]] void fail(const char *what, int line) {
    std::fprintf(stderr, "fuzz-builder: %s (line %d; last error %d: %s)\n", what, line, qmp_error_last()->code,
                 qmp_error_last()->message);
    std::abort();
}
#define CHECK(cond, what)                 \
    do {                                  \
        if (!(cond)) fail(what, __LINE__); \
    } while (0)

struct Input {
    const uint8_t *p;
    size_t left;
    uint8_t byte() {
        if (!left) return 0;
        left--;
        return *p++;
    }
    uint64_t bytes(int n) {
        uint64_t v = 0;
        for (int i = 0; i < n; i++) v = v << 8 | byte();
        return v;
    }
    // A length-prefixed string (may hold any byte; a NUL ends it as a C string).
    std::string str() {
        size_t n = byte() % 24;
        std::string s;
        for (size_t i = 0; i < n && left; i++) s += static_cast<char>(byte());
        return s;
    }
};

// The C type a key's code takes, by its first byte (as the builder reads it).
enum Cat { C_STR, C_INT, C_UINT, C_LL, C_ULL, C_DBL, C_JSON, C_NONE };

Cat category(const std::string &key) {
    switch (key.empty() ? '\0' : key[0]) {
    case 's': case 'S': return C_STR;
    case 'i': case 'j': case 'k': case 'z': case 'y': case 'b': case 'B': case 'T': return C_INT;
    case 'u': case 'p': return C_UINT;
    case 'I': case 'J': case 'K': case 'Z': case 'Y': return C_LL;
    case 'U': case 'P': return C_ULL;
    case 'd': return C_DBL;
    case 'a': case 'A': return C_JSON;
    default: return C_NONE;  // 'n', and unknown codes (the builder stops there)
    }
}

struct Pair {
    std::string key;
    Cat cat = C_NONE;
    std::string sval;
    bool snull = false;
    int ival = 0;
    long long llval = 0;
    double dval = 0;
    json_t *json = nullptr;   // the caller's reference, until stolen
    bool ptr_null = false;    // pass a NULL json_t **
};

enum Op { OP_COMMAND, OP_ARGS_NEW, OP_ACTION, OP_ADD };

struct Call {
    Op op;
    const char *name;  // command name / action type
    json_t *target;    // for OP_ADD
};

template <typename... A>
json_t *invoke(const Call &c, int *rc, A... a) {
    switch (c.op) {
    case OP_COMMAND: return qmp_command_new(c.name, a...);
    case OP_ARGS_NEW: return qmp_args_new(a...);
    case OP_ACTION: return qmp_transaction_action_new(c.name, a...);
    case OP_ADD: *rc = qmp_args_add(c.target, a...); return nullptr;
    }
    return nullptr;
}

constexpr size_t kMaxPairs = 3;

// Appends pair i's arguments, with their C types, then recurses; ends with NULL.
template <typename... A>
json_t *build(const Call &c, std::vector<Pair> &pairs, size_t i, int *rc, A... a) {
    if constexpr (sizeof...(A) >= 2 * kMaxPairs) {
        return invoke(c, rc, a..., static_cast<const char *>(nullptr));
    } else {
        if (i == pairs.size()) return invoke(c, rc, a..., static_cast<const char *>(nullptr));
        Pair &p = pairs[i];
        const char *k = p.key.c_str();
        switch (p.cat) {
        case C_STR: return build(c, pairs, i + 1, rc, a..., k, p.snull ? nullptr : p.sval.c_str());
        case C_INT: return build(c, pairs, i + 1, rc, a..., k, p.ival);
        case C_UINT: return build(c, pairs, i + 1, rc, a..., k, static_cast<unsigned int>(p.ival));
        case C_LL: return build(c, pairs, i + 1, rc, a..., k, p.llval);
        case C_ULL: return build(c, pairs, i + 1, rc, a..., k, static_cast<unsigned long long>(p.llval));
        case C_DBL: return build(c, pairs, i + 1, rc, a..., k, p.dval);
        case C_JSON: return build(c, pairs, i + 1, rc, a..., k, p.ptr_null ? nullptr : &p.json);
        case C_NONE: return build(c, pairs, i + 1, rc, a..., k);
        }
        return nullptr;
    }
}

json_t *make_json(Input &in, json_t *current) {
    switch (in.byte() % 8) {
    case 0: return nullptr;
    case 1: return json_integer(static_cast<long long>(in.bytes(8)));
    case 2: { std::string s = in.str(); return json_stringn(s.data(), s.size()); }  // NULL if not UTF-8
    case 3: return json_pack("{s:i, s:[n, b]}", "x", 1, "y", 1);
    case 4: return current ? json_incref(current) : json_array();  // the object being added to
    case 5: {
        json_t *args = current ? json_object_get(current, "arguments") : nullptr;
        return args ? json_incref(args) : json_object();
    }
    case 6: return qmp_json_uint64(in.bytes(8));
    default: return json_null();
    }
}

void read_pairs(Input &in, std::vector<Pair> &pairs, json_t *current) {
    size_t n = in.byte() % (kMaxPairs + 1);
    for (size_t i = 0; i < n && in.left; i++) {
        Pair p;
        p.key = in.str();
        p.cat = category(p.key);
        switch (p.cat) {
        case C_STR: p.snull = in.byte() & 1; p.sval = in.str(); break;
        case C_INT: case C_UINT: p.ival = static_cast<int>(in.bytes(4)); break;
        case C_LL: case C_ULL: p.llval = static_cast<long long>(in.bytes(8)); break;
        case C_DBL: {
            uint64_t bits = in.bytes(8);
            std::memcpy(&p.dval, &bits, sizeof p.dval);
            break;
        }
        case C_JSON: p.ptr_null = (in.byte() & 7) == 0; p.json = make_json(in, current); break;
        case C_NONE: break;
        }
        pairs.push_back(std::move(p));
    }
}

// Dumps v and parses it back: the builder only ever makes what the wire can carry.
void check_round_trip(const json_t *v) {
    char *text = qmp_json_dumps(v);
    CHECK(text != nullptr, "a built object does not dump");
    json_t *back = qmp_json_parse(text, std::strlen(text));
    CHECK(back != nullptr, "a built object's text does not parse");
    CHECK(json_equal(const_cast<json_t *>(v), back), "a built object changed through dump and parse");
    json_decref(back);
    qmp_free(text);
}

void check_made(const Call &c, json_t *made) {
    if (!made) {
        int code = qmp_error_last()->code;
        CHECK(code == QMP_EINVAL || code == QMP_ENOMEM, "a builder failed with an undocumented code");
        CHECK(qmp_error_last()->message && qmp_error_last()->message[0], "a builder failed without a message");
        return;
    }
    CHECK(json_is_object(made), "a builder returned a non-object");
    if (c.op == OP_COMMAND) {
        json_t *ex = json_object_get(made, "execute");
        CHECK(json_is_string(ex) && std::strcmp(json_string_value(ex), c.name) == 0, "wrong \"execute\"");
        json_t *args = json_object_get(made, "arguments");
        CHECK(!args || (json_is_object(args) && json_object_size(args) > 0), "bad \"arguments\"");
        CHECK(json_object_size(made) == (args ? 2u : 1u), "stray command members");
    } else if (c.op == OP_ACTION) {
        json_t *ty = json_object_get(made, "type");
        CHECK(json_is_string(ty) && std::strcmp(json_string_value(ty), c.name) == 0, "wrong \"type\"");
        CHECK(json_is_object(json_object_get(made, "data")), "action without a \"data\" object");
    }
    check_round_trip(made);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Input in{data, size};
    std::string name = in.str();
    bool name_null = (in.byte() & 15) == 0;
    json_t *current = nullptr;
    json_t *actions = json_array();

    for (int round = 0; round < 6 && in.left; round++) {
        std::vector<Pair> pairs;
        uint8_t opb = in.byte();
        Call c;
        c.op = static_cast<Op>(opb % 4);
        c.name = name_null ? nullptr : name.c_str();
        c.target = current;
        if (c.op == OP_ADD && !current) c.op = OP_ARGS_NEW;
        read_pairs(in, pairs, current);

        char *before = current ? qmp_json_dumps(current) : nullptr;
        int rc = 0;
        json_t *made = build(c, pairs, 0, &rc);

        if (c.op == OP_ADD) {
            CHECK(rc == 0 || rc == QMP_EINVAL || rc == QMP_ENOMEM, "qmp_args_add: undocumented status");
            CHECK(rc == 0 || qmp_error_last()->code == rc, "qmp_args_add: qmp_error_last() disagrees");
            char *after = qmp_json_dumps(current);
            CHECK(after != nullptr, "the object no longer dumps after qmp_args_add");
            if (rc != 0) CHECK(before && std::strcmp(before, after) == 0, "a failed qmp_args_add changed the object");
            qmp_free(after);
            check_round_trip(current);
        } else {
            check_made(c, made);
        }
        qmp_free(before);

        // What was not stolen is still ours to free; a stolen one is NULL.
        for (Pair &p : pairs) {
            if (p.cat == C_JSON && rc == 0 && made && p.key.size() > 2 && p.key[1] == ':' && !p.ptr_null)
                CHECK(p.json == nullptr || p.key[0] == 'A', "a successful call did not steal an 'a' value");
            json_decref(p.json);
        }
        if (made) {
            if (c.op == OP_ACTION && (in.byte() & 1)) {
                json_array_append(actions, made);
            }
            json_decref(current);
            current = made;
        }
    }
    // Oob and transactions on what was built.
    if (current) {
        int rc = qmp_command_set_oob(current);
        CHECK(rc == 0 || rc == QMP_EINVAL || rc == QMP_ENOMEM, "qmp_command_set_oob: undocumented status");
        if (rc == 0) CHECK(json_is_string(json_object_get(current, "exec-oob")), "set_oob did not rename");
        check_round_trip(current);
    }
    json_t *tx = qmp_transaction_new(actions, (size & 1) ? nullptr : name.c_str());
    if (tx) check_round_trip(tx);
    else CHECK(qmp_error_last()->code == QMP_EINVAL, "qmp_transaction_new failed with an undocumented code");
    json_decref(tx);
    json_decref(current);
    return 0;
}
