#include "wire/codec.h"
#include "wire/text.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "wire/uint64.h"

namespace qmp::wire {

namespace {

inline bool is_ws(unsigned char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }


// Bytes that end a plain run inside a string literal being parsed.
struct ParseTable {
    bool special[256];
    constexpr ParseTable() : special() {
        for (int i = 0; i < 256; i++) special[i] = i < 0x20 || i >= 0x80 || i == '"' || i == '\\';
    }
};
constexpr ParseTable kParse;

// Bytes that must be escaped when encoding.
struct EscTable {
    bool esc[256];
    constexpr EscTable() : esc() {
        for (int i = 0; i < 256; i++) esc[i] = i < 0x20 || i == '"' || i == '\\';
    }
};
constexpr EscTable kEsc;

// Whether a JSON number that std::from_chars found out of range is too
// small (it rounds to zero) rather than too large: the sign of the decimal
// exponent of its first significant digit.  [text, end) is a valid JSON
// number that is not zero.
bool underflows(const char *text, const char *end) {
    const char *p = text + (*text == '-');
    long long int_digits = 0, lead_zeros = 0;  // before the first significant digit, after the point
    bool significant = false, fraction = false;
    for (; p < end && *p != 'e' && *p != 'E'; ++p) {
        if (*p == '.')
            fraction = true;
        else if (*p != '0' || significant)
            significant = true, int_digits += !fraction;
        else if (fraction)
            lead_zeros++;
    }
    long long exp10 = int_digits > 0 ? int_digits - 1 : -(lead_zeros + 1);
    if (p < end) {
        bool minus = *++p == '-';
        if (*p == '-' || *p == '+') ++p;
        long long e = 0;
        for (; p < end; ++p)
            if (e < 100000) e = e * 10 + (*p - '0');  // far beyond a double's range either way
        exp10 += minus ? -e : e;
    }
    return exp10 < 0;
}

struct Frame {
    json_t *container;
    std::string key;  // objects: the key whose value is being parsed
};

class Parser {
public:
    Parser(const char *text, size_t len, size_t max_depth)
        : start_(reinterpret_cast<const unsigned char *>(text)), p_(start_), end_(start_ + len),
          max_depth_(max_depth) {}

    ~Parser() {
        for (Frame &f : stack_) json_decref(f.container);
    }

    Error run(json_t **out);

private:
    size_t off() const { return static_cast<size_t>(p_ - start_); }

    void skip_ws() {
        while (p_ < end_ && is_ws(*p_)) ++p_;
    }

    Error unexpected() {
        if (p_ >= end_) return Error::make(QMP_EPROTO, "malformed JSON: unexpected end of input at byte %zu", off());
        unsigned char c = *p_;
        if (c >= 0x20 && c < 0x7F)
            return Error::make(QMP_EPROTO, "malformed JSON: unexpected '%c' at byte %zu", c, off());
        return Error::make(QMP_EPROTO, "malformed JSON: unexpected byte 0x%02x at byte %zu", c, off());
    }

    Error bad(const char *what) { return Error::make(QMP_EPROTO, "malformed JSON: %s at byte %zu", what, off()); }

    static Error nomem() { return Error::make(QMP_ENOMEM, "out of memory parsing JSON"); }

    Error string(std::string &into, const char **body, size_t *len);
    Error number(json_t **v);
    Error literal(const char *word, json_t *(*make)(), json_t **v);
    Error key(std::string &into);

    const unsigned char *start_, *p_, *end_;
    size_t max_depth_;
    std::vector<Frame> stack_;
    std::string scratch_;
};

// Reads a string literal at p_ (the opening quote).  Without escapes the
// body is returned in place; otherwise decoded into `into`.
Error Parser::string(std::string &into, const char **body, size_t *len) {
    ++p_;
    const unsigned char *run = p_;
    bool decoded = false;
    for (;;) {
        while (p_ < end_ && !kParse.special[*p_]) ++p_;
        if (p_ >= end_) return unexpected();
        unsigned char c = *p_;
        if (c == '"') {
            if (!decoded) {
                *body = reinterpret_cast<const char *>(run);
                *len = static_cast<size_t>(p_ - run);
            } else {
                into.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p_ - run));
                *body = into.data();
                *len = into.size();
            }
            ++p_;
            return Error();
        }
        if (c >= 0x80) {
            size_t n = utf8_len(p_, end_);
            if (n == 0) return bad("invalid UTF-8 in a string");
            p_ += n;
            continue;
        }
        if (c < 0x20) return bad("control character in a string");
        // A backslash: switch to decoding.
        if (!decoded) {
            into.clear();
            decoded = true;
        }
        into.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p_ - run));
        ++p_;
        if (p_ >= end_) return unexpected();
        switch (*p_) {
        case '"': into += '"'; break;
        case '\\': into += '\\'; break;
        case '/': into += '/'; break;
        case 'b': into += '\b'; break;
        case 'f': into += '\f'; break;
        case 'n': into += '\n'; break;
        case 'r': into += '\r'; break;
        case 't': into += '\t'; break;
        case 'u': {
            auto hex4 = [this](uint32_t *cp) {
                uint32_t v = 0;
                for (int i = 0; i < 4; i++) {
                    ++p_;
                    int h = p_ < end_ ? hex_value(*p_) : -1;
                    if (h < 0) return false;
                    v = v << 4 | static_cast<uint32_t>(h);
                }
                *cp = v;
                return true;
            };
            uint32_t cp;
            if (!hex4(&cp)) return p_ < end_ ? bad("invalid \\u escape in a string") : unexpected();
            if (cp >= 0xDC00 && cp <= 0xDFFF) return bad("unpaired surrogate escape in a string");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end_ - p_ < 3 || p_[1] != '\\' || p_[2] != 'u') {
                    ++p_;
                    return bad("unpaired surrogate escape in a string");
                }
                p_ += 2;
                uint32_t lo;
                if (!hex4(&lo)) return p_ < end_ ? bad("invalid \\u escape in a string") : unexpected();
                if (lo < 0xDC00 || lo > 0xDFFF) return bad("unpaired surrogate escape in a string");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(into, cp);
            break;
        }
        default:
            return bad("invalid escape in a string");
        }
        ++p_;
        run = p_;
    }
}

Error Parser::key(std::string &into) {
    if (p_ >= end_ || *p_ != '"') return unexpected();
    const char *body;
    size_t len;
    if (Error e = string(into, &body, &len)) return e;
    if (body != into.data()) into.assign(body, len);
    skip_ws();
    if (p_ >= end_ || *p_ != ':') return unexpected();
    ++p_;
    skip_ws();
    return Error();
}

Error Parser::number(json_t **v) {
    const unsigned char *s = p_;
    bool neg = false, real = false;
    if (*p_ == '-') {
        neg = true;
        ++p_;
    }
    if (p_ >= end_ || !is_digit(*p_)) return unexpected();
    if (*p_ == '0') {
        ++p_;
    } else {
        while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    const unsigned char *int_end = p_;
    if (p_ < end_ && *p_ == '.') {
        real = true;
        ++p_;
        if (p_ >= end_ || !is_digit(*p_)) return unexpected();
        while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
        real = true;
        ++p_;
        if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
        if (p_ >= end_ || !is_digit(*p_)) return unexpected();
        while (p_ < end_ && is_digit(*p_)) ++p_;
    }
    if (!real) {
        unsigned long long m = 0;
        bool overflow = false;
        for (const unsigned char *q = s + neg; q < int_end; q++) {
            unsigned d = *q - '0';
            if (m > (UINT64_MAX - d) / 10) {
                overflow = true;
                break;
            }
            m = m * 10 + d;
        }
        if (!overflow) {
            if (!neg) {
                *v = m <= static_cast<unsigned long long>(INT64_MAX) ? json_integer(static_cast<json_int_t>(m))
                                                                      : uint64_new(m);
                return *v ? Error() : nomem();
            }
            if (m <= static_cast<unsigned long long>(INT64_MAX) + 1) {
                // -(2^63) is representable though 2^63 is not.
                *v = json_integer(m == static_cast<unsigned long long>(INT64_MAX) + 1
                                      ? INT64_MIN
                                      : -static_cast<json_int_t>(m));
                return *v ? Error() : nomem();
            }
        }
    }
    // from_chars reads the C format whatever the application's locale (no
    // ',' decimal point), rounds correctly, and needs no locale object.
    const char *text = reinterpret_cast<const char *>(s), *text_end = reinterpret_cast<const char *>(p_);
    double d = 0;
    std::from_chars_result r = std::from_chars(text, text_end, d);
    if (r.ec == std::errc::result_out_of_range) {
        if (!underflows(text, text_end)) {
            p_ = s;
            return bad("number out of range");
        }
        d = neg ? -0.0 : 0.0;
    } else if (r.ec != std::errc() || r.ptr != text_end) {
        p_ = s;
        return bad("unreadable number");
    }
    *v = json_real(d);
    return *v ? Error() : nomem();
}

Error Parser::literal(const char *word, json_t *(*make)(), json_t **v) {
    size_t n = strlen(word);
    for (size_t i = 0; i < n; i++, p_++)
        if (p_ >= end_ || *p_ != static_cast<unsigned char>(word[i])) return unexpected();
    *v = make();
    return *v ? Error() : nomem();
}

json_t *make_true() { return json_true(); }
json_t *make_false() { return json_false(); }
json_t *make_null() { return json_null(); }

// Iterative, so the depth limit and not the C stack bounds nesting.  A
// container joins its parent only when complete; until then each open one
// is owned by its frame, which the destructor frees on errors.
Error Parser::run(json_t **out) {
    skip_ws();
    for (;;) {
        // A value starts at p_.
        json_t *v = nullptr;
        if (p_ >= end_) return unexpected();
        unsigned char c = *p_;
        if (c == '{' || c == '[') {
            if (stack_.size() >= max_depth_)
                return Error::make(QMP_ETOOBIG, "nesting deeper than %zu", max_depth_);
            json_t *cont = c == '{' ? json_object() : json_array();
            if (!cont) return nomem();
            try {
                stack_.push_back(Frame{cont, std::string()});
            } catch (const std::bad_alloc &) {
                json_decref(cont);
                return nomem();
            }
            ++p_;
            skip_ws();
            unsigned char close = c == '{' ? '}' : ']';
            if (p_ < end_ && *p_ == close) {
                ++p_;
                v = cont;
                stack_.pop_back();
            } else {
                if (c == '{') {
                    if (Error e = key(stack_.back().key)) return e;
                }
                continue;
            }
        } else if (c == '"') {
            const char *body;
            size_t len;
            if (Error e = string(scratch_, &body, &len)) return e;
            v = json_stringn_nocheck(body, len);
            if (!v) return nomem();
        } else if (c == '-' || is_digit(c)) {
            if (Error e = number(&v)) return e;
        } else if (c == 't') {
            if (Error e = literal("true", make_true, &v)) return e;
        } else if (c == 'f') {
            if (Error e = literal("false", make_false, &v)) return e;
        } else if (c == 'n') {
            if (Error e = literal("null", make_null, &v)) return e;
        } else {
            return unexpected();
        }

        // v is complete: attach it, and close every container it completes.
        for (;;) {
            if (stack_.empty()) {
                skip_ws();
                if (p_ < end_) {
                    json_decref(v);
                    return unexpected();
                }
                *out = v;
                return Error();
            }
            Frame &f = stack_.back();
            int rc = json_is_object(f.container)
                         ? json_object_setn_new_nocheck(f.container, f.key.data(), f.key.size(), v)
                         : json_array_append_new(f.container, v);
            if (rc != 0) return nomem();  // the _new calls consumed v
            skip_ws();
            if (p_ >= end_) return unexpected();
            c = *p_;
            bool obj = json_is_object(f.container);
            if (c == ',') {
                ++p_;
                skip_ws();
                if (obj) {
                    if (Error e = key(f.key)) return e;
                }
                break;
            }
            if (c != (obj ? '}' : ']')) return unexpected();
            ++p_;
            v = f.container;
            stack_.pop_back();
        }
    }
}

Error encode_value(const json_t *v, std::string &out) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        out += '{';
        bool first = true;
        const char *key;
        size_t key_len;
        json_t *val;
        json_object_keylen_foreach(const_cast<json_t *>(v), key, key_len, val) {
            if (!first) out += ',';
            first = false;
            encode_string(key, key_len, out);
            out += ':';
            if (Error e = encode_value(val, out)) return e;
        }
        out += '}';
        return Error();
    }
    case JSON_ARRAY: {
        out += '[';
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i) out += ',';
            if (Error e = encode_value(json_array_get(v, i), out)) return e;
        }
        out += ']';
        return Error();
    }
    case JSON_STRING:
        encode_string(json_string_value(v), json_string_length(v), out);
        return Error();
    case JSON_INTEGER: {
        char buf[24];
        json_int_t i = json_integer_value(v);
        std::to_chars_result r = i < 0 && is_big_uint64(v)
                                     ? std::to_chars(buf, buf + sizeof buf, static_cast<unsigned long long>(i))
                                     : std::to_chars(buf, buf + sizeof buf, static_cast<long long>(i));
        out.append(buf, r.ptr);
        return Error();
    }
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!std::isfinite(d)) return Error::make(QMP_EINVAL, "cannot encode a non-finite real as JSON");
        // The shortest text that reads back as the same double.
        char buf[40];
        std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, d);
        out.append(buf, r.ptr);
        if (!memchr(buf, '.', r.ptr - buf) && !memchr(buf, 'e', r.ptr - buf)) out += ".0";
        return Error();
    }
    case JSON_TRUE: out += "true"; return Error();
    case JSON_FALSE: out += "false"; return Error();
    case JSON_NULL: out += "null"; return Error();
    }
    return Error::make(QMP_EINVAL, "unknown JSON value type");
}

}  // namespace

Error parse(const char *text, size_t len, json_t **out, size_t max_depth) {
    *out = nullptr;
    try {
        Parser parser(text, len, max_depth);
        return parser.run(out);
    } catch (const std::bad_alloc &) {
        return Error::make(QMP_ENOMEM, "out of memory parsing JSON");
    }
}

Error encode(const json_t *v, std::string &out) {
    if (!v) return Error::make(QMP_EINVAL, "cannot encode a NULL JSON value");
    size_t mark = out.size();
    Error e;
    try {
        e = encode_value(v, out);
    } catch (const std::bad_alloc &) {
        e = Error::make(QMP_ENOMEM, "out of memory encoding JSON");
    }
    if (e) out.resize(mark);  // nothing half-written
    return e;
}

void encode_string(const char *s, size_t len, std::string &out) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = reinterpret_cast<const unsigned char *>(s), *end = p + len;
    out += '"';
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !kEsc.esc[*p]) ++p;
        out.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p - run));
        if (p == end) break;
        unsigned char c = *p++;
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            out.append(u, 6);
        }
        }
    }
    out += '"';
}

}  // namespace qmp::wire
