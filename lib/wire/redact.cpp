#include "wire/redact.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include <jansson.h>

#include "wire/codec.h"

namespace qmp::wire {

namespace {

const char kRedacted[] = "<redacted>";

std::mutex &list_mutex() {
    static std::mutex m;
    return m;
}

std::vector<std::string> &extra_members() {
    static std::vector<std::string> v;
    return v;
}

bool ends_with(const std::string &s, const char *suffix) {
    size_t n = std::strlen(suffix);
    return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool is_secret_member(const std::string &name) {
    const auto &builtin = default_secret_members();
    if (std::find(builtin.begin(), builtin.end(), name) != builtin.end()) return true;
    if (ends_with(name, "-secret") || ends_with(name, "-password") || ends_with(name, "-passphrase")) return true;
    std::lock_guard<std::mutex> lk(list_mutex());
    const auto &extra = extra_members();
    return std::find(extra.begin(), extra.end(), name) != extra.end();
}

// {"qom-type": "secret", "data": ...} (object-add's arguments, QEMU 6.0+)
bool is_secret_object(json_t *obj) {
    json_t *type = json_object_get(obj, "qom-type");
    return json_is_string(type) && std::strncmp(json_string_value(type), "secret", 6) == 0;
}

void scrub(json_t *v) {
    if (json_is_object(v)) {
        bool secret_object = is_secret_object(v);
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, member) {
            if (is_secret_member(key) || (secret_object && !std::strcmp(key, "data"))) {
                json_object_set_new(v, key, json_string(kRedacted));
            } else {
                scrub(member);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) scrub(item);
    }
}

}  // namespace

const std::vector<std::string> &default_secret_members() {
    static const std::vector<std::string> names = {
        "password", "passwd", "secret", "new-secret", "key-secret", "password-secret",
        "passphrase", "keyfile-passphrase", "token",
    };
    return names;
}

void add_secret_member(const std::string &name) {
    std::lock_guard<std::mutex> lk(list_mutex());
    auto &extra = extra_members();
    if (std::find(extra.begin(), extra.end(), name) == extra.end()) extra.push_back(name);
}

std::string redact(const std::string &text) {
    json_t *tree = nullptr;
    if (parse(text.data(), text.size(), &tree))
        return "<" + std::to_string(text.size()) + " bytes that are not JSON, not shown>";
    scrub(tree);
    std::string out;
    Error e = encode(tree, out);
    json_decref(tree);
    if (e) return "<" + std::to_string(text.size()) + " bytes, not shown>";
    return out;
}

std::string redact_preview(const std::string &text, size_t max) {
    std::string shown = redact(text);
    if (shown.size() <= max) return shown;
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) cut--;  // not inside a UTF-8 character
    shown.resize(cut);
    return shown + "...";
}

}  // namespace qmp::wire
