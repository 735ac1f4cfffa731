#include "schema/schema.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <unordered_set>

#include "json/ptr.h"
#include "wire/codec.h"

namespace qmp::schema {

namespace {

const char *str_member(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : nullptr;
}

Error bad(const std::string &entity, const char *what) {
    return Error::make(QMP_EINVAL, "not a valid QMP schema: entity '%s': %s", entity.c_str(), what);
}

Error read_features(const json_t *o, const std::string &entity, Features *out) {
    const json_t *f = json_object_get(o, "features");
    if (!f) return Error::ok();
    if (!json_is_array(f)) return bad(entity, "\"features\" is not an array");
    size_t i;
    const json_t *v;
    json_array_foreach(f, i, v) {
        if (!json_is_string(v)) return bad(entity, "a feature is not a string");
        out->emplace_back(json_string_value(v));
    }
    return Error::ok();
}

}  // namespace

// --- entities -----------------------------------------------------------------

const Member *Entity::member(std::string_view n) const {
    for (const Member &m : members)
        if (m.name == n) return &m;
    return nullptr;
}

const Variant *Entity::variant(std::string_view v) const {
    for (const Variant &x : variants)
        if (x.value == v) return &x;
    return nullptr;
}

const EnumValue *Entity::value(std::string_view v) const {
    for (const EnumValue &x : values)
        if (x.name == v) return &x;
    return nullptr;
}

bool has_feature(const Features &f, std::string_view name) {
    return std::find(f.begin(), f.end(), name) != f.end();
}

const char *flagged_feature(const Features &f) {
    if (has_feature(f, "deprecated")) return "deprecated";
    if (has_feature(f, "unstable")) return "unstable";
    return nullptr;
}

// --- building -------------------------------------------------------------------

void Schema::unref() const {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

namespace {

struct Unref {
    void operator()(const Schema *s) const { s->unref(); }
};

}  // namespace

Error Schema::build(const json_t *entities, Schema **out) {
    *out = nullptr;
    std::unique_ptr<Schema, Unref> s(new Schema());  // freed if load() fails or throws
    Error e = s->load(entities);
    if (e) return e;
    *out = s.release();
    return Error::ok();
}

Error Schema::build_text(const char *text, size_t len, Schema **out) {
    *out = nullptr;
    json_t *parsed = nullptr;
    Error e = wire::parse(text, len, &parsed);
    json::JsonPtr v(parsed);
    if (e) return Error::make(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "the schema is not valid JSON: %s",
                              e.message.c_str());
    const json_t *arr = json_is_object(v.get()) ? json_object_get(v.get(), "return") : v.get();
    return build(arr, out);
}

Error Schema::load(const json_t *list) {
    if (!json_is_array(list))
        return Error::make(QMP_EINVAL, "not a valid QMP schema: expected the array query-qmp-schema returns");
    size_t n = json_array_size(list);
    // First every entity by name, then the references between them.
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(list, i);
        const char *name = json_is_object(o) ? str_member(o, "name") : nullptr;
        if (!name) return Error::make(QMP_EINVAL, "not a valid QMP schema: element %zu has no name", i);
        const char *meta = str_member(o, "meta-type");
        if (!meta) return bad(name, "no meta-type");
        Entity ent;
        ent.name = name;
        static const std::pair<const char *, Meta> metas[] = {
            {"builtin", Meta::Builtin}, {"enum", Meta::Enum},           {"array", Meta::Array},
            {"object", Meta::Object},   {"alternate", Meta::Alternate}, {"command", Meta::Command},
            {"event", Meta::Event}};
        bool known = false;
        for (auto &m : metas)
            if (std::strcmp(meta, m.first) == 0) {
                ent.meta = m.second;
                known = true;
            }
        if (!known) return bad(name, "unknown meta-type");
        entities_.push_back(std::move(ent));
        const Entity *p = &entities_.back();
        if (!by_name_.emplace(p->name, p).second) return bad(name, "defined twice");
    }
    auto lookup = [&](const json_t *o, const char *key, const std::string &who, const Entity **out) {
        const char *ref = str_member(o, key);
        if (!ref) return bad(who, (std::string("no \"") + key + "\"").c_str());
        *out = find(ref);
        if (!*out) return bad(who, (std::string("\"") + key + "\" names the unknown type '" + ref + "'").c_str());
        return Error::ok();
    };
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(list, i);
        Entity &ent = entities_[i];
        Error e = read_features(o, ent.name, &ent.features);
        if (e) return e;
        switch (ent.meta) {
        case Meta::Builtin: {
            const char *jt = str_member(o, "json-type");
            if (!jt) return bad(ent.name, "no json-type");
            ent.json_type = jt;
            break;
        }
        case Meta::Enum: {
            // "members" (with features) since QEMU 6.2; "values" before.
            const json_t *mem = json_object_get(o, "members");
            const json_t *vals = json_object_get(o, "values");
            size_t j;
            const json_t *v;
            if (json_is_array(mem)) {
                json_array_foreach(mem, j, v) {
                    const char *vn = json_is_object(v) ? str_member(v, "name") : nullptr;
                    if (!vn) return bad(ent.name, "an enum member has no name");
                    EnumValue ev{vn, {}};
                    if ((e = read_features(v, ent.name, &ev.features))) return e;
                    ent.values.push_back(std::move(ev));
                }
            } else if (json_is_array(vals)) {
                json_array_foreach(vals, j, v) {
                    if (!json_is_string(v)) return bad(ent.name, "an enum value is not a string");
                    ent.values.push_back(EnumValue{json_string_value(v), {}});
                }
            } else {
                return bad(ent.name, "an enum without values");
            }
            break;
        }
        case Meta::Array:
            if ((e = lookup(o, "element-type", ent.name, &ent.element))) return e;
            break;
        case Meta::Object: {
            const json_t *mem = json_object_get(o, "members");
            if (!json_is_array(mem)) return bad(ent.name, "an object without members");
            size_t j;
            const json_t *v;
            json_array_foreach(mem, j, v) {
                const char *mn = json_is_object(v) ? str_member(v, "name") : nullptr;
                if (!mn) return bad(ent.name, "a member has no name");
                Member m;
                m.name = mn;
                if ((e = lookup(v, "type", ent.name + "." + mn, &m.type))) return e;
                m.optional = json_object_get(v, "default") != nullptr;
                if ((e = read_features(v, ent.name, &m.features))) return e;
                ent.members.push_back(std::move(m));
            }
            if (const char *tag = str_member(o, "tag")) {
                ent.tag = tag;
                if (!ent.member(tag)) return bad(ent.name, "the tag is not a member");
                const json_t *vars = json_object_get(o, "variants");
                if (!json_is_array(vars)) return bad(ent.name, "a union without variants");
                json_array_foreach(vars, j, v) {
                    const char *c = json_is_object(v) ? str_member(v, "case") : nullptr;
                    if (!c) return bad(ent.name, "a variant has no case");
                    Variant var;
                    var.value = c;
                    if ((e = lookup(v, "type", ent.name + "+" + c, &var.type))) return e;
                    if (var.type->meta != Meta::Object) return bad(ent.name, "a variant is not an object");
                    ent.variants.push_back(std::move(var));
                }
            }
            break;
        }
        case Meta::Alternate: {
            const json_t *mem = json_object_get(o, "members");
            if (!json_is_array(mem)) return bad(ent.name, "an alternate without members");
            size_t j;
            const json_t *v;
            json_array_foreach(mem, j, v) {
                const Entity *t;
                if (!json_is_object(v) || (e = lookup(v, "type", ent.name, &t)))
                    return e ? e : bad(ent.name, "an alternative is not an object");
                ent.alternatives.push_back(t);
            }
            break;
        }
        case Meta::Command:
            if ((e = lookup(o, "arg-type", ent.name, &ent.arg))) return e;
            if ((e = lookup(o, "ret-type", ent.name, &ent.ret))) return e;
            ent.allow_oob = json_is_true(json_object_get(o, "allow-oob"));
            commands_.push_back(&ent);
            break;
        case Meta::Event:
            if ((e = lookup(o, "arg-type", ent.name, &ent.arg))) return e;
            events_.push_back(&ent);
            break;
        }
        if ((ent.meta == Meta::Command || ent.meta == Meta::Event) && ent.arg->meta != Meta::Object)
            return bad(ent.name, "the arguments are not an object");
    }
    // An array of an array of ... itself would send every walk round for ever.
    for (const Entity &ent : entities_) {
        if (ent.meta != Meta::Array) continue;
        const Entity *t = &ent;
        for (size_t hops = 0; t->meta == Meta::Array; hops++) {
            if (hops > entities_.size()) return bad(ent.name, "an array of itself");
            t = t->element;
        }
    }
    auto by_name = [](const Entity *a, const Entity *b) { return a->name < b->name; };
    std::sort(commands_.begin(), commands_.end(), by_name);
    std::sort(events_.begin(), events_.end(), by_name);
    return Error::ok();
}

const Entity *Schema::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

// --- queries --------------------------------------------------------------------

namespace {

// How deep alternates may nest in a walk or a rendering (QAPI allows none;
// a hostile schema could make one contain itself).
constexpr int kMaxHops = 16;

// Where a query stands: a command, event or type, with the member that led
// there (for $feature) and, inside an object union whose branch was picked,
// the objects whose members may be named next.
struct Pos {
    const Entity *ent = nullptr;
    const Member *via = nullptr;
    std::vector<const Entity *> scope;  // objects to look members up in; empty: just ent
};

// Cuts a query into its components; QMP_EINVAL when it is empty or has an empty one.
Error split_query(const char *query, std::vector<std::string_view> *parts) {
    std::string_view q(query);
    if (q.empty()) return Error::make(QMP_EINVAL, "malformed schema query: it is empty");
    size_t start = 0;
    for (;;) {
        size_t slash = q.find('/', start);
        std::string_view part = q.substr(start, slash == std::string_view::npos ? q.npos : slash - start);
        if (part.empty())
            return Error::make(QMP_EINVAL, "malformed schema query '%s': an empty component", query);
        parts->push_back(part);
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return Error::ok();
}

class Walker {
public:
    Walker(const Schema &s, const std::vector<std::string_view> &parts) : s_(s), parts_(parts) {}

    // 1 found, 0 not.  The query's form was checked before (Schema::has).
    // hops counts alternates entered without consuming a component, so a
    // schema whose alternates contain themselves cannot recurse for ever.
    int walk(const Pos &p, size_t i, int hops = 0);

private:
    int enum_value(const Entity *t, std::string_view v, size_t i);
    bool builtin_is(const Entity *t, std::string_view want, int depth = 0);
    bool feature_of(const Pos &p, std::string_view f);
    const Member *lookup(const Pos &p, std::string_view name);

    const Schema &s_;
    const std::vector<std::string_view> &parts_;
    std::vector<std::pair<const Entity *, size_t>> active_;  // alternates being tried, at which component
};

bool Walker::builtin_is(const Entity *t, std::string_view want, int depth) {
    // Arrays are looked through, as everywhere in a query (qmp-schema.h).
    while (t->meta == Meta::Array) t = t->element;
    if (depth > 1) return false;
    if (t->meta == Meta::Alternate) {
        for (const Entity *a : t->alternatives)
            if (builtin_is(a, want, depth + 1)) return true;
        return false;
    }
    return t->meta == Meta::Builtin && (t->json_type == want || t->name == want);
}

bool Walker::feature_of(const Pos &p, std::string_view f) {
    if (p.via && has_feature(p.via->features, f)) return true;
    const Entity *t = p.ent;
    while (t->meta == Meta::Array) t = t->element;
    return has_feature(t->features, f);
}

const Member *Walker::lookup(const Pos &p, std::string_view name) {
    if (p.scope.empty()) return p.ent->member(name);
    for (const Entity *o : p.scope)
        if (const Member *m = o->member(name)) return m;
    return nullptr;
}

int Walker::enum_value(const Entity *t, std::string_view v, size_t i) {
    const EnumValue *ev = t->value(v);
    if (!ev) return 0;
    if (i + 1 == parts_.size()) return 1;
    // The form check let only ^value/$feature through.
    return has_feature(ev->features, parts_[i + 1].substr(1)) ? 1 : 0;
}

int Walker::walk(const Pos &p, size_t i, int hops) {
    if (i == parts_.size()) return 1;
    if (hops > kMaxHops) return 0;
    std::string_view c = parts_[i];
    const Entity *t = p.ent;
    char prefix = c[0];
    std::string_view name = c.substr(1);
    if (prefix == ' ') {
        prefix = 0;  // a name that starts with a special character, escaped by one space
    } else if (prefix != '^' && prefix != '!' && prefix != '$' && prefix != '+' && prefix != '*') {
        prefix = 0;
        name = c;
    }
    if (prefix == '$') {
        if (feature_of(p, name)) return 1;
        if (t->meta == Meta::Alternate) {
            for (const Entity *a : t->alternatives)
                if (has_feature(a->features, name)) return 1;
        }
        return 0;
    }
    if (prefix == '!') {
        return builtin_is(t, name) ? 1 : 0;
    }
    // Look through arrays; try each branch of an alternate.
    while (t->meta == Meta::Array) t = t->element;
    if (t->meta == Meta::Alternate) {
        // An alternate met again at the same component is a cycle: already being tried.
        for (auto &act : active_)
            if (act.first == t && act.second == i) return 0;
        active_.emplace_back(t, i);
        int r = 0;
        for (const Entity *a : t->alternatives) {
            Pos q;
            q.ent = a;
            q.via = p.via;
            r = walk(q, i, hops + 1);
            if (r != 0) break;
        }
        active_.pop_back();
        return r;
    }
    if (prefix == '^') return t->meta == Meta::Enum ? enum_value(t, name, i) : 0;
    if (t->meta == Meta::Command || t->meta == Meta::Event) {
        if (prefix) return 0;
        Pos q;
        if (name == "arg-type") q.ent = t->arg;
        else if (name == "ret-type" && t->meta == Meta::Command) q.ent = t->ret;
        else return 0;
        return walk(q, i + 1);
    }
    if (t->meta != Meta::Object) return 0;
    Pos base = p;
    if (base.ent != t) {
        base.ent = t;
        base.scope.clear();
    }
    if (prefix == '+') {
        // The union is the object itself or, after an earlier +, the branch
        // just picked (which may be a union of its own).  The unions further
        // out have their tag's value already: none of their other branches
        // can be picked inside this one.
        const Variant *v = base.scope.empty() ? t->variant(name) : base.scope.front()->variant(name);
        if (!v) return 0;
        Pos q;
        q.ent = v->type;
        q.scope = base.scope.empty() ? std::vector<const Entity *>{t} : base.scope;
        q.scope.insert(q.scope.begin(), v->type);
        return walk(q, i + 1);
    }
    const Member *m = lookup(base, name);
    if (!m) return 0;
    if (prefix == '*' && !m->optional) return 0;
    Pos q;
    q.ent = m->type;
    q.via = m;
    return walk(q, i + 1);
}

}  // namespace

Error Schema::has(const char *query, int *out) const {
    *out = 0;
    if (!query) return Error::make(QMP_EINVAL, "the schema query is NULL");
    std::vector<std::string_view> parts;
    if (Error e = split_query(query, &parts)) return e;
    // Check the form of the whole query first, whatever the schema holds
    // and however far the walk gets, so that a malformed query is an error
    // on every server (never "not found" on one and QMP_EINVAL on another).
    for (size_t i = 1; i < parts.size(); i++) {
        char p = parts[i][0];
        bool last = i + 1 == parts.size();
        if (parts[i].size() == 1 && (p == '!' || p == '$' || p == '^' || p == '+' || p == '*' || p == ' '))
            return Error::make(QMP_EINVAL, "malformed schema query '%s': the component '%c' names nothing", query, p);
        if ((p == '!' || p == '$') && !last)
            return Error::make(QMP_EINVAL, "malformed schema query '%s': '%.*s' must be the last component", query,
                               int(parts[i].size()), parts[i].data());
        if (p == '^' && !last && !(i + 2 == parts.size() && parts[i + 1][0] == '$'))
            return Error::make(QMP_EINVAL, "malformed schema query '%s': '%.*s' may only be followed by a $feature",
                               query, int(parts[i].size()), parts[i].data());
    }
    std::string_view first = parts[0];
    if (first[0] == ' ') first.remove_prefix(1);
    const Entity *root = find(first);
    if (!root) return Error::ok();
    Walker w(*this, parts);
    Pos p;
    p.ent = root;
    int r = w.walk(p, 1);
    *out = r;
    return Error::ok();
}

// The type a query names, for validating a value against it.  Unlike has(),
// which asks whether a path exists anywhere, this must land on exactly one
// type: arrays are looked through for a member (its elements have it), but
// an alternate is refused (which branch is meant is the value's business),
// and so are the boolean components and +variant (a branch alone lacks the
// union's base members).
Error Schema::resolve_type(const char *query, const Entity **type, const char **root) const {
    *type = nullptr;
    *root = "value";
    if (!query) return Error::make(QMP_EINVAL, "the schema query is NULL");
    std::vector<std::string_view> parts;
    if (Error e = split_query(query, &parts)) return e;
    std::string_view first = parts[0];
    if (first[0] == ' ') first.remove_prefix(1);
    const Entity *t = find(first);
    if (!t)
        return Error::make(QMP_EINVAL, "schema query '%s': no command, event or type '%.*s'", query,
                           int(first.size()), first.data());
    for (size_t i = 1; i < parts.size(); i++) {
        std::string_view c = parts[i];
        char prefix = c[0];
        std::string_view name = c;
        if (prefix == ' ' || prefix == '*') name.remove_prefix(1);
        if (prefix == '^' || prefix == '!' || prefix == '$' || prefix == '+')
            return Error::make(QMP_EINVAL,
                               "schema query '%s': '%.*s' %s, not a type to validate against", query,
                               int(c.size()), c.data(),
                               prefix == '+' ? "selects a union branch" : "is a test");
        if (name.empty())
            return Error::make(QMP_EINVAL, "malformed schema query '%s': the component '%c' names nothing", query,
                               prefix);
        if (t->meta == Meta::Command || t->meta == Meta::Event) {
            if (prefix == '*' || (name != "arg-type" && (name != "ret-type" || t->meta != Meta::Command)))
                return Error::make(QMP_EINVAL, "schema query '%s': %s '%s' has no '%.*s' (use %s)", query,
                                   t->meta == Meta::Command ? "command" : "event", t->name.c_str(), int(c.size()),
                                   c.data(), t->meta == Meta::Command ? "arg-type or ret-type" : "arg-type");
            *root = name == "ret-type" ? "return" : t->meta == Meta::Command ? "arguments" : "data";
            t = name == "ret-type" ? t->ret : t->arg;
            continue;
        }
        while (t->meta == Meta::Array) t = t->element;
        if (t->meta == Meta::Alternate)
            return Error::make(QMP_EINVAL, "schema query '%s': '%.*s' is looked up in an alternate, whose branch "
                               "depends on the value", query, int(c.size()), c.data());
        if (t->meta != Meta::Object)
            return Error::make(QMP_EINVAL, "schema query '%s': '%.*s' is looked up in a type without members",
                               query, int(c.size()), c.data());
        const Member *m = t->member(name);
        if (!m)
            return Error::make(QMP_EINVAL, "schema query '%s': no member '%.*s'", query, int(name.size()),
                               name.data());
        if (prefix == '*' && !m->optional)
            return Error::make(QMP_EINVAL, "schema query '%s': member '%.*s' is not optional", query,
                               int(name.size()), name.data());
        *root = "value";
        t = m->type;
    }
    if (t->meta == Meta::Command || t->meta == Meta::Event)
        return Error::make(QMP_EINVAL, "schema query '%s' names %s '%s', not a type (add %s)", query,
                           t->meta == Meta::Command ? "the command" : "the event", t->name.c_str(),
                           t->meta == Meta::Command ? "/arg-type or /ret-type" : "/arg-type");
    *type = t;
    return Error::ok();
}

// --- listings and descriptions -----------------------------------------------------

namespace {

// Renders t; an alternate already being rendered further out (a schema whose
// alternates contain themselves) shows as "...".
std::string label(const Entity *t, std::vector<const Entity *> &path) {
    switch (t->meta) {
    case Meta::Builtin:
        return t->name;
    case Meta::Enum:
        return "enum";
    case Meta::Array:
        return "[" + label(t->element, path) + "]";
    case Meta::Object:
        return "object";
    case Meta::Alternate: {
        if (std::find(path.begin(), path.end(), t) != path.end()) return "...";
        path.push_back(t);
        std::string s;
        for (const Entity *a : t->alternatives) {
            if (!s.empty()) s += "|";
            s += label(a, path);
        }
        path.pop_back();
        return s;
    }
    default:
        return t->name;
    }
}

}  // namespace

std::string type_label(const Entity *t) {
    std::vector<const Entity *> path;
    return label(t, path);
}

namespace {

// The listings below are built with these: jansson reports running out of
// memory with NULL or -1, which they turn into std::bad_alloc (the C layer
// makes it QMP_ENOMEM), and a tree is held by a Json until it is complete,
// so a listing is whole or not at all, and nothing leaks.
using Json = json::JsonPtr;

Json made(json_t *v) {
    if (!v) throw std::bad_alloc();
    return Json(v);
}

void put(json_t *o, const char *key, Json v) {
    if (json_object_set_new(o, key, v.release())) throw std::bad_alloc();  // jansson frees v on failure
}

void append(json_t *a, Json v) {
    if (json_array_append_new(a, v.release())) throw std::bad_alloc();
}

Json str(const std::string &s) { return made(json_stringn(s.data(), s.size())); }

Json string_array(const Features &f) {
    Json a = made(json_array());
    for (const std::string &s : f) append(a.get(), str(s));
    return a;
}

// The enum a member's values come from: the type itself, an array's element, or an alternate's enum branch.
const Entity *enum_of(const Entity *t) {
    while (t->meta == Meta::Array) t = t->element;
    if (t->meta == Meta::Enum) return t;
    // QAPI's alternates hold no alternates: look one level deep only.
    if (t->meta == Meta::Alternate)
        for (const Entity *a : t->alternatives) {
            while (a->meta == Meta::Array) a = a->element;
            if (a->meta == Meta::Enum) return a;
        }
    return nullptr;
}

Json member_summary(const Member &m) {
    Json o = made(json_object());
    put(o.get(), "name", str(m.name));
    put(o.get(), "type", str(type_label(m.type)));
    put(o.get(), "optional", made(json_boolean(m.optional)));
    if (const Entity *e = enum_of(m.type)) {
        Json vals = made(json_array());
        for (const EnumValue &v : e->values) append(vals.get(), str(v.name));
        put(o.get(), "values", std::move(vals));
    }
    if (!m.features.empty()) put(o.get(), "features", string_array(m.features));
    return o;
}

void add_members(json_t *out, const Entity *obj, const std::string &tag, const std::string &variant,
                 std::unordered_set<const Entity *> &seen) {
    for (const Member &m : obj->members) {
        Json o = member_summary(m);
        if (!tag.empty()) {
            put(o.get(), "tag", str(tag));
            put(o.get(), "variant", str(variant));
        }
        append(out, std::move(o));
    }
    if (obj->tag.empty() || !seen.insert(obj).second) return;
    for (const Variant &v : obj->variants) add_members(out, v.type, obj->tag, v.value, seen);
}

class Describer {
public:
    Json type(const Entity *t);

private:
    Json members(const std::vector<Member> &ms);
    // Guards a type's description against recursion while it is described.
    bool enter(const Entity *t) {
        if (std::find(path_.begin(), path_.end(), t) != path_.end()) return false;
        path_.push_back(t);
        return true;
    }
    std::vector<const Entity *> path_;
};

Json Describer::members(const std::vector<Member> &ms) {
    Json a = made(json_array());
    for (const Member &m : ms) {
        Json o = made(json_object());
        put(o.get(), "name", str(m.name));
        put(o.get(), "optional", made(json_boolean(m.optional)));
        put(o.get(), "type", type(m.type));
        if (!m.features.empty()) put(o.get(), "features", string_array(m.features));
        append(a.get(), std::move(o));
    }
    return a;
}

Json Describer::type(const Entity *t) {
    Json o = made(json_object());
    switch (t->meta) {
    case Meta::Builtin:
        put(o.get(), "type", str(t->name));
        break;
    case Meta::Enum: {
        put(o.get(), "type", str("enum"));
        Json vals = made(json_array());
        Json vf = made(json_object());
        for (const EnumValue &v : t->values) {
            append(vals.get(), str(v.name));
            if (!v.features.empty()) put(vf.get(), v.name.c_str(), string_array(v.features));
        }
        put(o.get(), "values", std::move(vals));
        if (json_object_size(vf.get())) put(o.get(), "value-features", std::move(vf));
        break;
    }
    case Meta::Array:
        put(o.get(), "type", str("array"));
        if (!enter(t)) {
            put(o.get(), "recursive", made(json_true()));
            break;
        }
        put(o.get(), "element", type(t->element));
        path_.pop_back();
        break;
    case Meta::Alternate: {
        put(o.get(), "type", str("alternate"));
        if (!enter(t)) {
            put(o.get(), "recursive", made(json_true()));
            break;
        }
        Json alts = made(json_array());
        for (const Entity *a : t->alternatives) append(alts.get(), type(a));
        put(o.get(), "alternatives", std::move(alts));
        path_.pop_back();
        break;
    }
    case Meta::Object: {
        put(o.get(), "type", str("object"));
        if (!enter(t)) {
            put(o.get(), "recursive", made(json_true()));
            break;
        }
        put(o.get(), "members", members(t->members));
        if (!t->tag.empty()) {
            put(o.get(), "tag", str(t->tag));
            Json vars = made(json_object());
            // A branch is an object type of its own: its members, its
            // features, and (a union within a union) its own tag and branches.
            for (const Variant &v : t->variants) put(vars.get(), v.value.c_str(), type(v.type));
            put(o.get(), "variants", std::move(vars));
        }
        path_.pop_back();
        break;
    }
    case Meta::Command:
    case Meta::Event:
        break;
    }
    if (!t->features.empty()) put(o.get(), "features", string_array(t->features));
    return o;
}

}  // namespace

json_t *Schema::list(int what) const {
    const auto &src = what == QMP_SCHEMA_EVENTS ? events_ : commands_;
    Json a = made(json_array());
    for (const Entity *e : src) append(a.get(), str(e->name));
    return a.release();
}

Error Schema::arguments(const char *name, json_t **out) const {
    *out = nullptr;
    const Entity *e = name ? find(name) : nullptr;
    if (!e || (e->meta != Meta::Command && e->meta != Meta::Event))
        return Error::make(QMP_EINVAL, "'%s' is neither a command nor an event of this schema", name ? name : "(null)");
    Json a = made(json_array());
    std::unordered_set<const Entity *> seen;
    add_members(a.get(), e->arg, "", "", seen);
    *out = a.release();
    return Error::ok();
}

Error Schema::describe(const char *name, json_t **out) const {
    *out = nullptr;
    const Entity *e = name ? find(name) : nullptr;
    if (!e) return Error::make(QMP_EINVAL, "'%s' is not in this schema", name ? name : "(null)");
    Describer d;
    Json o;
    if (e->meta == Meta::Command || e->meta == Meta::Event) {
        o = made(json_object());
        put(o.get(), "name", str(e->name));
        put(o.get(), "meta-type", str(e->meta == Meta::Command ? "command" : "event"));
        put(o.get(), "arguments", d.type(e->arg));
        if (e->meta == Meta::Command) {
            put(o.get(), "returns", d.type(e->ret));
            put(o.get(), "allow-oob", made(json_boolean(e->allow_oob)));
        }
        if (!e->features.empty()) put(o.get(), "features", string_array(e->features));
    } else {
        o = d.type(e);
        put(o.get(), "name", str(e->name));
    }
    *out = o.release();
    return Error::ok();
}

// --- suggestions ------------------------------------------------------------------

namespace {

// Optimal string alignment distance: insertions, deletions, substitutions and
// transpositions of neighbours each cost 1.
size_t distance(std::string_view a, std::string_view b) {
    size_t n = a.size(), m = b.size();
    std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
    for (size_t j = 0; j <= m; j++) prev[j] = j;
    for (size_t i = 1; i <= n; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                cur[j] = std::min(cur[j], prev2[j - 2] + 1);
        }
        prev2.swap(prev);
        prev.swap(cur);
    }
    return prev[m];
}

}  // namespace

std::string suggest(std::string_view word, const std::vector<std::string_view> &candidates) {
    // Close enough: a third of the word's length, at least 1 and at most 3 edits.
    size_t limit = std::min<size_t>(3, std::max<size_t>(1, word.size() / 3));
    size_t best = limit + 1, best_gap = 0;
    std::string_view pick;
    for (std::string_view c : candidates) {
        if (c.size() > word.size() + limit || word.size() > c.size() + limit) continue;
        size_t d = distance(word, c);
        // Of candidates as close, the one whose length is nearest the word's:
        // a swap or a wrong letter keeps the length, so "query-stauts" (one
        // swap from query-status, one deletion from query-stats) means
        // query-status.  Further ties go to the first candidate.
        size_t gap = c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
        if (d < best || (d == best && gap < best_gap)) {
            best = d;
            best_gap = gap;
            pick = c;
        }
    }
    return std::string(pick);
}

std::string Schema::suggest(std::string_view name, int what) const {
    // A name of the schema is not a mistake.
    if (const Entity *e = find(name)) {
        if ((e->meta == Meta::Command && (what & QMP_SCHEMA_COMMANDS)) ||
            (e->meta == Meta::Event && (what & QMP_SCHEMA_EVENTS)))
            return std::string();
    }
    std::vector<std::string_view> names;
    if (what & QMP_SCHEMA_COMMANDS)
        for (const Entity *e : commands_) names.push_back(e->name);
    if (what & QMP_SCHEMA_EVENTS)
        for (const Entity *e : events_) names.push_back(e->name);
    return schema::suggest(name, names);
}

}  // namespace qmp::schema
