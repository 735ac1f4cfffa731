#include "wire/splitter.h"
#include "wire/text.h"

#include <cstdint>
#include <cstring>
#include <string>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace qmp::wire {

namespace {

// Where the scanner is.  One flat state per grammar position so a message
// can be suspended between any two bytes and resumed by the next feed.
enum State : uint8_t {
    S_TOP,        // between messages
    S_VALUE,      // a value must follow (after ':' or ',' in an array)
    S_ARR_FIRST,  // after '[': a value or ']'
    S_OBJ_FIRST,  // after '{': a key or '}'
    S_KEY,        // after ',' in an object: a key
    S_COLON,      // after a key
    S_AFTER,      // after a value in a container: ',' or the closing bracket
    S_STR,        // inside a string
    S_ESC,        // after a backslash
    S_HEX,        // inside \uXXXX
    S_LOW_BS,     // after a high surrogate escape: '\' of the low one
    S_LOW_U,      // after that '\': 'u'
    S_UTF8,       // inside a multi-byte UTF-8 sequence
    S_NUM_MINUS,  // "-"
    S_NUM_ZERO,   // "0" or "-0" (no more int digits allowed)
    S_NUM_INT,    // int digits
    S_NUM_DOT,    // "." needs a digit
    S_NUM_FRAC,   // fraction digits
    S_NUM_E,      // "e" needs sign or digit
    S_NUM_ESIGN,  // "e+" needs a digit
    S_NUM_EXP,    // exponent digits
    S_LIT,        // inside true/false/null
};

enum Fact : int8_t { F_NONE = -1, F_QMP, F_RETURN, F_ERROR, F_EVENT, F_ID, F_DATA, F_TIMESTAMP };

// Bytes that end the fast scan of a string body.
struct StrTable {
    bool special[256];
    constexpr StrTable() : special() {
        for (int i = 0; i < 256; i++) special[i] = i < 0x20 || i >= 0x80 || i == '"' || i == '\\';
    }
};
constexpr StrTable kStr;

// The four JSON blanks.
struct WsTable {
    bool ws[256];
    constexpr WsTable() : ws() { ws[' '] = ws['\t'] = ws['\r'] = ws['\n'] = true; }
};
constexpr WsTable kWs;




// Unescapes the body of a string the scanner has already validated.
std::string unescape(const char *s, size_t n) {
    std::string r;
    r.reserve(n);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') {
            r += c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case 'b': r += '\b'; break;
        case 'f': r += '\f'; break;
        case 'n': r += '\n'; break;
        case 'r': r += '\r'; break;
        case 't': r += '\t'; break;
        case 'u': {
            uint32_t cp = 0;
            for (int k = 0; k < 4; k++) cp = cp << 4 | hex_value(static_cast<unsigned char>(s[++i]));
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo = 0;
                i += 2;  // the validated "\u" of the low half
                for (int k = 0; k < 4; k++) lo = lo << 4 | hex_value(static_cast<unsigned char>(s[++i]));
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            append_utf8(r, cp);
            break;
        }
        default: r += c; break;  // '"', '\\', '/'
        }
    }
    return r;
}

Fact key_fact(const char *k, size_t n) {
    switch (n) {
    case 2: return memcmp(k, "id", 2) == 0 ? F_ID : F_NONE;
    case 3: return memcmp(k, "QMP", 3) == 0 ? F_QMP : F_NONE;
    case 4: return memcmp(k, "data", 4) == 0 ? F_DATA : F_NONE;
    case 5:
        if (memcmp(k, "error", 5) == 0) return F_ERROR;
        return memcmp(k, "event", 5) == 0 ? F_EVENT : F_NONE;
    case 6: return memcmp(k, "return", 6) == 0 ? F_RETURN : F_NONE;
    case 9: return memcmp(k, "timestamp", 9) == 0 ? F_TIMESTAMP : F_NONE;
    default: return F_NONE;
    }
}

const char kPrefix[] = "malformed JSON from the server: ";

}  // namespace

struct Splitter::Impl {
    size_t max_message;
    size_t max_depth;

    Error failed;
    std::string buf;             // the partial message's bytes from earlier feeds
    std::vector<uint8_t> stack;  // '{' or '[' per open container
    Message cur;                 // facts of the partial message

    State state = S_TOP;
    bool str_is_key = false;
    bool str_has_esc = false;
    bool want_low = false;  // the \uXXXX being read must be a low surrogate
    uint8_t hex_left = 0;
    uint16_t hex_val = 0;
    uint8_t u8_need = 0;  // continuation bytes still due
    uint8_t u8_lo = 0x80, u8_hi = 0xBF;  // range of the next one
    const char *lit = nullptr;           // rest of true/false/null still due

    Fact fact = F_NONE;  // the depth-1 key just read, if routing cares
    size_t key_off = 0;  // message offset of the depth-1 key's opening quote
    size_t val_off = 0;  // message offset of the depth-1 value's first byte

    // During a feed the message's bytes are buf + [seg, p).
    const unsigned char *seg = nullptr;

    Impl(size_t m, size_t d) : max_message(m), max_depth(d) {}

    size_t offset(const unsigned char *p) const { return buf.size() + static_cast<size_t>(p - seg); }

    // Moves [seg, p) into buf, never growing its capacity past the limit.
    void flush(const unsigned char *p) {
        size_t n = static_cast<size_t>(p - seg);
        if (n == 0) return;
        size_t need = buf.size() + n;
        if (need > buf.capacity()) {
            size_t cap = buf.capacity() * 2;
            if (cap < need) cap = need;
            if (cap > max_message) cap = max_message;
            if (cap < need) cap = need;
            buf.reserve(cap);
        }
        buf.append(reinterpret_cast<const char *>(seg), n);
        seg = p;
    }

    // A pointer to message bytes [off, p), flushing when they began in an
    // earlier feed.
    const char *bytes_from(size_t off, const unsigned char *p) {
        if (off >= buf.size()) return reinterpret_cast<const char *>(seg) + (off - buf.size());
        flush(p);
        return buf.data() + off;
    }

    Error fail(Error e) {
        failed = e;
        return e;
    }

    Error unexpected(const unsigned char *p) {
        size_t off = offset(p);
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7F)
            return fail(Error::make(QMP_EPROTO, "%sunexpected '%c' at byte %zu of a message", kPrefix, c, off));
        return fail(Error::make(QMP_EPROTO, "%sunexpected byte 0x%02x at byte %zu of a message", kPrefix, c, off));
    }

    Error bad(const unsigned char *p, const char *what) {
        return fail(Error::make(QMP_EPROTO, "%s%s at byte %zu of a message", kPrefix, what, offset(p)));
    }

    Error too_big() {
        return fail(Error::make(QMP_ETOOBIG, "message larger than %zu bytes", max_message));
    }

    Error too_deep() {
        return fail(Error::make(QMP_ETOOBIG, "nesting deeper than %zu", max_depth));
    }

    void end_message(const unsigned char *p, std::vector<Message> &out) {
        if (buf.empty()) {
            cur.text.assign(reinterpret_cast<const char *>(seg), static_cast<size_t>(p - seg));
        } else {
            flush(p);
            cur.text = std::move(buf);
            buf = std::string();
        }
        out.push_back(std::move(cur));
        cur = Message();
        seg = p;
    }

    // A depth-1 key ended just before p (its closing quote is p[-1]).
    void key_done(const unsigned char *p) {
        size_t end = offset(p) - 1;
        const char *k = bytes_from(key_off + 1, p);
        size_t n = end - (key_off + 1);
        if (!str_has_esc) {
            fact = key_fact(k, n);
        } else {
            std::string u = unescape(k, n);
            fact = key_fact(u.data(), u.size());
        }
    }

    // A depth-1 value ended just before p.
    void record_fact(const unsigned char *p) {
        Slice s;
        s.off = val_off;
        s.len = offset(p) - val_off;
        switch (fact) {
        case F_QMP: cur.qmp = s; break;
        case F_RETURN: cur.ret = s; break;
        case F_ERROR: cur.error = s; break;
        case F_ID: cur.id = s; break;
        case F_DATA: cur.data = s; break;
        case F_TIMESTAMP: cur.timestamp = s; break;
        case F_EVENT: {
            cur.event = s;
            const char *v = bytes_from(s.off, p);
            if (v[0] == '"')
                cur.event_name = unescape(v + 1, s.len - 2);
            else
                cur.event_name.clear();
            break;
        }
        case F_NONE: break;
        }
        fact = F_NONE;
    }

    Error run(const unsigned char *p, const unsigned char *end, std::vector<Message> &out);
};

Splitter::Splitter(size_t max_message, size_t max_depth) : impl_(std::make_unique<Impl>(max_message, max_depth)) {}

Splitter::~Splitter() = default;

bool Splitter::idle() const { return impl_->state == S_TOP && !impl_->failed; }

void Splitter::reset() {
    Impl &s = *impl_;
    s.failed = Error();
    s.buf = std::string();
    s.stack.clear();
    s.cur = Message();
    s.state = S_TOP;
    s.fact = F_NONE;
    s.want_low = false;
}

void Splitter::set_limits(size_t max_message, size_t max_depth) {
    impl_->max_message = max_message;
    impl_->max_depth = max_depth;
}

Error Splitter::feed(const char *bytes, size_t len, std::vector<Message> &out) {
    Impl &s = *impl_;
    if (s.failed) return s.failed;
    const unsigned char *p = reinterpret_cast<const unsigned char *>(bytes);
    s.seg = p;
    Error e = s.run(p, p + len, out);
    if (!e && s.state != S_TOP) s.flush(p + len);
    s.seg = nullptr;
    return e;
}

// The scanner, written as a threaded state machine: each state is a label
// and a transition jumps straight to the next state's code, so structural
// bytes cost a few predictable branches instead of a dispatch each.  The
// state variable is written only when a feed runs out in the middle.
//
// lim is where the message in progress would cross max_message; reaching it
// mid-message is the size error, so the buffer never holds more than the
// limit.
Error Splitter::Impl::run(const unsigned char *p, const unsigned char *end, std::vector<Message> &out) {
    const unsigned char *lim = end;
    unsigned char c;

// Consume c and go to state S with the next byte.
#define NEXT(S)                \
    do {                       \
        if (++p == lim) {      \
            state = S;         \
            goto suspend;      \
        }                      \
        c = *p;                \
        goto L_##S;            \
    } while (0)
// Skip blanks (pretty=on indentation) in state S.
#define SKIP_WS(S)             \
    while (kWs.ws[c]) {        \
        if (++p == lim) {      \
            state = S;         \
            goto suspend;      \
        }                      \
        c = *p;                \
    }

    if (state != S_TOP) {
        size_t room = max_message > buf.size() ? max_message - buf.size() : 0;
        if (static_cast<size_t>(end - p) > room) lim = p + room;
    }
    if (p == lim) goto suspend;
    c = *p;

dispatch:
    switch (state) {
    case S_TOP: goto L_S_TOP;
    case S_VALUE: goto L_S_VALUE;
    case S_ARR_FIRST: goto L_S_ARR_FIRST;
    case S_OBJ_FIRST: goto L_S_OBJ_FIRST;
    case S_KEY: goto L_S_KEY;
    case S_COLON: goto L_S_COLON;
    case S_AFTER: goto L_S_AFTER;
    case S_STR: goto L_S_STR;
    case S_ESC: goto L_S_ESC;
    case S_HEX: goto L_S_HEX;
    case S_LOW_BS: goto L_S_LOW_BS;
    case S_LOW_U: goto L_S_LOW_U;
    case S_UTF8: goto L_S_UTF8;
    case S_NUM_MINUS: goto L_S_NUM_MINUS;
    case S_NUM_ZERO: goto L_S_NUM_ZERO;
    case S_NUM_INT: goto L_S_NUM_INT;
    case S_NUM_DOT: goto L_S_NUM_DOT;
    case S_NUM_FRAC: goto L_S_NUM_FRAC;
    case S_NUM_E: goto L_S_NUM_E;
    case S_NUM_ESIGN: goto L_S_NUM_ESIGN;
    case S_NUM_EXP: goto L_S_NUM_EXP;
    case S_LIT: goto L_S_LIT;
    }
    return unexpected(p);  // not reached

L_S_TOP:
    while (kWs.ws[c]) {
        if (++p == end) {
            state = S_TOP;
            return Error();
        }
        c = *p;
    }
    seg = p;
    cur.is_object = c == '{';
    if (static_cast<size_t>(end - p) > max_message) lim = p + max_message;
    goto value_start;

L_S_ARR_FIRST:
    SKIP_WS(S_ARR_FIRST);
    if (c == ']') goto close;
    goto value_start;

L_S_VALUE:
    SKIP_WS(S_VALUE);
value_start:
    if (stack.size() == 1) val_off = offset(p);
    switch (c) {
    case '{':
        if (stack.size() >= max_depth) return too_deep();
        stack.push_back('{');
        NEXT(S_OBJ_FIRST);
    case '[':
        if (stack.size() >= max_depth) return too_deep();
        stack.push_back('[');
        NEXT(S_ARR_FIRST);
    case '"':
        str_is_key = false;
        str_has_esc = false;
        NEXT(S_STR);
    case '-': NEXT(S_NUM_MINUS);
    case '0': NEXT(S_NUM_ZERO);
    case '1': case '2': case '3': case '4': case '5': case '6': case '7': case '8': case '9':
        NEXT(S_NUM_INT);
    case 't': lit = "rue"; NEXT(S_LIT);
    case 'f': lit = "alse"; NEXT(S_LIT);
    case 'n': lit = "ull"; NEXT(S_LIT);
    default: return unexpected(p);
    }

L_S_OBJ_FIRST:
    SKIP_WS(S_OBJ_FIRST);
    if (c == '}') goto close;
    goto key_start;

L_S_KEY:
    SKIP_WS(S_KEY);
key_start:
    if (c != '"') return unexpected(p);
    if (stack.size() == 1) key_off = offset(p);
    str_is_key = true;
    str_has_esc = false;
    NEXT(S_STR);

L_S_COLON:
    SKIP_WS(S_COLON);
    if (c != ':') return unexpected(p);
    NEXT(S_VALUE);

L_S_AFTER:
    SKIP_WS(S_AFTER);
    if (c == ',') {
        if (stack.back() == '{') NEXT(S_KEY);
        NEXT(S_VALUE);
    }
    if (c == '}' || c == ']') goto close;
    return unexpected(p);

L_S_STR:
    // Plain ASCII runs first: the bulk of QMP text.
#ifdef __SSE2__
    // 16 bytes at a time: the end of a short string costs no mispredicted
    // branch per byte.  Signed < 0x20 catches controls and bytes >= 0x80.
    while (lim - p >= 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
        __m128i special = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
        if (mask) {
            p += __builtin_ctz(mask);
            c = *p;
            goto str_special;
        }
        p += 16;
    }
    if (p == lim) {
        state = S_STR;
        goto suspend;
    }
    c = *p;
#endif
    while (!kStr.special[c]) {
        if (++p == lim) {
            state = S_STR;
            goto suspend;
        }
        c = *p;
    }
#ifdef __SSE2__
str_special:
#endif
    if (c == '"') {
        ++p;
        if (!str_is_key) goto value_done;
        if (stack.size() == 1) key_done(p);
        if (p == lim) {
            state = S_COLON;
            goto suspend;
        }
        c = *p;
        goto L_S_COLON;
    }
    if (c == '\\') {
        str_has_esc = true;
        NEXT(S_ESC);
    }
    if (c < 0x20) return bad(p, "control character in a string");
    // A UTF-8 lead byte: fix the range of the next byte so that overlongs,
    // surrogates and values above U+10FFFF fail there.
    if (c >= 0xC2 && c <= 0xDF) {
        u8_need = 1, u8_lo = 0x80, u8_hi = 0xBF;
    } else if (c >= 0xE0 && c <= 0xEF) {
        u8_need = 2;
        u8_lo = c == 0xE0 ? 0xA0 : 0x80;
        u8_hi = c == 0xED ? 0x9F : 0xBF;
    } else if (c >= 0xF0 && c <= 0xF4) {
        u8_need = 3;
        u8_lo = c == 0xF0 ? 0x90 : 0x80;
        u8_hi = c == 0xF4 ? 0x8F : 0xBF;
    } else {
        return bad(p, "invalid UTF-8 in a string");
    }
    NEXT(S_UTF8);

L_S_UTF8:
    if (c < u8_lo || c > u8_hi) return bad(p, "invalid UTF-8 in a string");
    u8_lo = 0x80, u8_hi = 0xBF;
    if (--u8_need == 0) NEXT(S_STR);
    NEXT(S_UTF8);

L_S_ESC:
    switch (c) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        NEXT(S_STR);
    case 'u':
        hex_left = 4;
        hex_val = 0;
        NEXT(S_HEX);
    default:
        return bad(p, "invalid escape in a string");
    }

L_S_HEX: {
    int h = hex_value(c);
    if (h < 0) return bad(p, "invalid \\u escape in a string");
    hex_val = static_cast<uint16_t>(hex_val << 4 | h);
    if (--hex_left) NEXT(S_HEX);
    bool high = hex_val >= 0xD800 && hex_val <= 0xDBFF;
    bool low = hex_val >= 0xDC00 && hex_val <= 0xDFFF;
    if (want_low ? !low : low) return bad(p, "unpaired surrogate escape in a string");
    want_low = high;
    if (high) NEXT(S_LOW_BS);
    NEXT(S_STR);
}

L_S_LOW_BS:
    if (c != '\\') return bad(p, "unpaired surrogate escape in a string");
    NEXT(S_LOW_U);

L_S_LOW_U:
    if (c != 'u') return bad(p, "unpaired surrogate escape in a string");
    hex_left = 4;
    hex_val = 0;
    NEXT(S_HEX);

L_S_LIT:
    if (c != static_cast<unsigned char>(*lit)) return unexpected(p);
    if (*++lit == 0) {
        ++p;
        goto value_done;
    }
    NEXT(S_LIT);

L_S_NUM_MINUS:
    if (c == '0') NEXT(S_NUM_ZERO);
    if (c >= '1' && c <= '9') NEXT(S_NUM_INT);
    return unexpected(p);

L_S_NUM_INT:
    while (is_digit(c)) {
        if (++p == lim) {
            state = S_NUM_INT;
            goto suspend;
        }
        c = *p;
    }
    /* fall through */
L_S_NUM_ZERO:
    if (c == '.') NEXT(S_NUM_DOT);
    if (c == 'e' || c == 'E') NEXT(S_NUM_E);
    if (is_digit(c)) return unexpected(p);  // a leading zero
    goto value_done;                        // c is not part of the number

L_S_NUM_DOT:
    if (!is_digit(c)) return unexpected(p);
    NEXT(S_NUM_FRAC);

L_S_NUM_FRAC:
    while (is_digit(c)) {
        if (++p == lim) {
            state = S_NUM_FRAC;
            goto suspend;
        }
        c = *p;
    }
    if (c == 'e' || c == 'E') NEXT(S_NUM_E);
    goto value_done;

L_S_NUM_E:
    if (c == '+' || c == '-') NEXT(S_NUM_ESIGN);
    /* fall through */
L_S_NUM_ESIGN:
    if (!is_digit(c)) return unexpected(p);
    NEXT(S_NUM_EXP);

L_S_NUM_EXP:
    while (is_digit(c)) {
        if (++p == lim) {
            state = S_NUM_EXP;
            goto suspend;
        }
        c = *p;
    }
    goto value_done;

close:
    // c is '}' or ']' where closing the innermost container is allowed.
    if (stack.back() != (c == '}' ? '{' : '[')) return unexpected(p);
    stack.pop_back();
    ++p;
    /* fall through */
value_done:
    // A value ended just before p.
    if (stack.empty()) {
        end_message(p, out);
        lim = end;
        state = S_TOP;
        if (p == end) return Error();
        c = *p;
        goto L_S_TOP;
    }
    if (stack.size() == 1 && fact != F_NONE) record_fact(p);
    if (p == lim) {
        state = S_AFTER;
        goto suspend;
    }
    c = *p;
    goto L_S_AFTER;

suspend:
    // p == lim, state is where to resume.
    if (p == end) return Error();
    {
        // At the size limit.  Only a top-level number can still end here
        // without its next byte being part of the message.
        c = *p;
        bool num_can_end = state == S_NUM_ZERO || state == S_NUM_INT || state == S_NUM_FRAC || state == S_NUM_EXP;
        if (!(stack.empty() && num_can_end) || is_digit(c) || c == '.' || c == 'e' || c == 'E' || c == '+' ||
            c == '-')
            return too_big();
        end_message(p, out);
        lim = end;
        state = S_TOP;
        goto dispatch;
    }
#undef NEXT
#undef SKIP_WS
}

}  // namespace qmp::wire
