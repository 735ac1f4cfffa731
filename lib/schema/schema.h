// The QMP schema layer: the resolved introspection graph of one server
// (query-qmp-schema), the query strings of qmp-schema.h over it, the
// listings and descriptions built from it, and command validation.
//
// A Schema is immutable once built, so any number of threads may read it;
// the reference count is the only thing that changes.
#pragma once

#include <atomic>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <jansson.h>

#include <qmp/qmp-schema.h>

#include "common/error.h"

namespace qmp::schema {

// Every flag qmp-schema.h defines.
constexpr int kAllFlags = QMP_VALIDATE | QMP_VALIDATE_DENY_DEPRECATED | QMP_VALIDATE_DENY_UNSTABLE;

enum class Meta { Builtin, Enum, Array, Object, Alternate, Command, Event };

struct Entity;

using Features = std::vector<std::string>;

struct Member {
    std::string name;
    const Entity *type = nullptr;
    bool optional = false;
    Features features;
};

struct Variant {
    std::string value;  // the tag's value that selects it
    const Entity *type = nullptr;
};

struct EnumValue {
    std::string name;
    Features features;
};

struct Entity {
    Meta meta = Meta::Builtin;
    std::string name;
    Features features;
    std::string json_type;               // Builtin: string, int, number, boolean, null, value
    std::vector<EnumValue> values;       // Enum
    const Entity *element = nullptr;     // Array
    std::vector<Member> members;         // Object
    std::string tag;                     // Object: the union's tag member, or empty
    std::vector<Variant> variants;       // Object
    std::vector<const Entity *> alternatives;  // Alternate
    const Entity *arg = nullptr;         // Command, Event
    const Entity *ret = nullptr;         // Command
    bool allow_oob = false;              // Command

    const Member *member(std::string_view n) const;
    const Variant *variant(std::string_view v) const;
    const EnumValue *value(std::string_view v) const;
};

bool has_feature(const Features &f, std::string_view name);

// Why a use is flagged: "deprecated", "unstable" or nullptr.
const char *flagged_feature(const Features &f);

class Schema {
public:
    // Builds from the return value of query-qmp-schema.
    static Error build(const json_t *entities, Schema **out);
    // The same from text: the return value or a whole {"return": [...]} reply.
    static Error build_text(const char *text, size_t len, Schema **out);

    static Schema *from(const qmp_schema *s) { return reinterpret_cast<Schema *>(const_cast<qmp_schema *>(s)); }
    qmp_schema *handle() { return reinterpret_cast<qmp_schema *>(this); }
    void ref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
    void unref() const;

    const Entity *find(std::string_view name) const;
    const std::vector<const Entity *> &commands() const { return commands_; }
    const std::vector<const Entity *> &events() const { return events_; }

    // 1 or 0; an Error (QMP_EINVAL) when the query is malformed.
    Error has(const char *query, int *out) const;

    // New trees (whole, never partial); std::bad_alloc when memory runs out.
    json_t *list(int what) const;
    Error arguments(const char *name, json_t **out) const;
    Error describe(const char *name, json_t **out) const;
    // The command or event name (what: QMP_SCHEMA_COMMANDS and/or
    // QMP_SCHEMA_EVENTS) closest to name by suggest(); empty when none is
    // close or when name is itself one of them.
    std::string suggest(std::string_view name, int what) const;

    // Validates command (a QMP command object); oob: it goes out as exec-oob
    // whatever it says.  warnings may be null.
    Error validate(const json_t *command, int flags, std::vector<std::string> *warnings, bool oob = false) const;

    // The type a query names (qmp_schema_validate_value()): *type, and the
    // name the value has in messages (*root: "return", "arguments", "data"
    // or "value").  QMP_EINVAL when the query names no single type.
    Error resolve_type(const char *query, const Entity **type, const char **root) const;
    // Validates value against the type query names; messages begin with
    // the query, then the path from root ("query-status/ret-type:
    // return.status: ...").
    Error validate_value(const char *query, const json_t *value, int flags, std::vector<std::string> *warnings) const;

private:
    Schema() = default;
    ~Schema() = default;
    Error load(const json_t *entities);

    mutable std::atomic<int> refs_{1};
    std::deque<Entity> entities_;
    std::unordered_map<std::string_view, const Entity *> by_name_;
    std::vector<const Entity *> commands_;  // sorted by name
    std::vector<const Entity *> events_;
};

// A readable rendering of a type: str, enum, object, [T], A|B.
std::string type_label(const Entity *t);

// The closest candidate to word by optimal string alignment distance
// (insertions, deletions, substitutions, swaps of neighbours), at most a
// third of word's length (1 to 3 edits); empty when none is that close.
std::string suggest(std::string_view word, const std::vector<std::string_view> &candidates);

}  // namespace qmp::schema
