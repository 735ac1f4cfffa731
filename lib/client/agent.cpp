#include "client/agent.h"

#include <memory>

#include <jansson.h>

#include "common/deadline.h"

namespace qmp::client::agent {

namespace {

constexpr size_t kReadChunk = 64 * 1024;   // bytes per guest-file-read
constexpr size_t kWriteChunk = 48 * 1024;  // bytes per guest-file-write (64 KiB of base64)
constexpr size_t kDefaultMaxRead = 64u * 1024 * 1024;
constexpr int kDefaultPingMs = 1000;

using Tree = std::unique_ptr<json_t, void (*)(json_t *)>;

Tree tree(json_t *j) { return Tree(j, json_decref); }

Error need_agent(Client &c) {
    if (!c.is_agent()) return Error::make(QMP_EINVAL, "not connected to a guest agent (qmp_client_connect_agent_*)");
    return Error::ok();
}

// Runs a command given as a tree (stolen) and returns the value of its reply.
Error run(Client &c, json_t *command, int timeout_ms, Tree *value) {
    Tree cmd = tree(command);
    if (!command) throw std::bad_alloc();
    char *text = json_dumps(command, JSON_COMPACT);
    if (!text) throw std::bad_alloc();
    std::string s(text);
    free(text);
    ExecOptions eo;
    eo.timeout_ms = timeout_ms;
    Outcome o;
    Error e = c.execute(s, json_string_value(json_object_get(command, "execute")), eo, &o);
    json_t *v = nullptr;
    if (!e || e.code == QMP_ECOMMAND) {
        Error pe = reply_value_tree(o, &v);
        if (pe) return pe;
    }
    *value = tree(v);
    return e;
}

int remaining(const Deadline &dl) {
    if (dl.infinite()) return -1;
    int ms = dl.remaining_ms();
    return ms > 0 ? ms : 1;
}

const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(unsigned char ch) {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
}

Error decode_member(json_t *obj, const char *member, std::string *out) {
    json_t *v = json_object_get(obj, member);
    if (!v) return Error::ok();
    if (!json_is_string(v) || !base64_decode(json_string_value(v), json_string_length(v), out))
        return Error::make(QMP_EPROTO, "the guest agent sent \"%s\" that is not base64", member);
    return Error::ok();
}

// Closes a guest file handle, keeping the first error; also after the
// call was cancelled, so that the agent is not left holding the file.
void close_handle(Client &c, long long handle, Error *first) {
    CancelScope shield(&c, nullptr);
    Tree v = tree(nullptr);
    Error e = run(c, json_pack("{s:s, s:{s:I}}", "execute", "guest-file-close", "arguments", "handle", (json_int_t)handle),
                  0, &v);
    if (e && !*first) *first = e;
}

}  // namespace

std::string base64_encode(const char *data, size_t len) {
    std::string out;
    out.reserve((len + 2) / 3 * 4);
    const unsigned char *p = reinterpret_cast<const unsigned char *>(data);
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i < len) {
        unsigned v = p[i] << 16;
        if (i + 1 < len) v |= p[i + 1] << 8;
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < len ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

bool base64_decode(const char *text, size_t len, std::string *out) {
    out->clear();
    if (len % 4 != 0) return false;
    out->reserve(len / 4 * 3);
    for (size_t i = 0; i < len; i += 4) {
        int a = b64_value(text[i]), b = b64_value(text[i + 1]);
        bool last = i + 4 == len;
        bool pad2 = last && text[i + 2] == '=' && text[i + 3] == '=';
        bool pad1 = last && !pad2 && text[i + 3] == '=';
        int c = pad2 ? 0 : b64_value(text[i + 2]);
        int d = (pad1 || pad2) ? 0 : b64_value(text[i + 3]);
        if (a < 0 || b < 0 || c < 0 || d < 0) return false;
        unsigned v = (a << 18) | (b << 12) | (c << 6) | d;
        out->push_back(static_cast<char>((v >> 16) & 0xff));
        if (!pad2) out->push_back(static_cast<char>((v >> 8) & 0xff));
        if (!pad1 && !pad2) out->push_back(static_cast<char>(v & 0xff));
    }
    return true;
}

Error ping(Client &c, int timeout_ms) {
    Error e = need_agent(c);
    if (e) return e;
    Tree v = tree(nullptr);
    return run(c, json_pack("{s:s}", "execute", "guest-ping"), timeout_ms ? timeout_ms : kDefaultPingMs, &v);
}

Error commands(Client &c, std::vector<std::string> *enabled, std::string *version) {
    Error e = need_agent(c);
    if (e) return e;
    Tree v = tree(nullptr);
    if ((e = run(c, json_pack("{s:s}", "execute", "guest-info"), 0, &v))) return e;
    json_t *list = json_object_get(v.get(), "supported_commands");
    if (!json_is_array(list)) return Error::make(QMP_EPROTO, "guest-info has no supported_commands list");
    size_t i;
    json_t *cmd;
    json_array_foreach(list, i, cmd) {
        const char *name = json_string_value(json_object_get(cmd, "name"));
        if (name && json_is_true(json_object_get(cmd, "enabled"))) enabled->emplace_back(name);
    }
    const char *ver = json_string_value(json_object_get(v.get(), "version"));
    if (version) *version = ver ? ver : "";
    return Error::ok();
}

Error exec(Client &c, const std::vector<std::string> &argv, const std::vector<std::string> *env,
           const std::string &input, int timeout_ms, ExecResult *res) {
    Error e = need_agent(c);
    if (e) return e;
    if (argv.empty()) return Error::make(QMP_EINVAL, "argv is empty: it needs at least the program's path");
    Deadline dl = Deadline::in_ms(timeout_ms == 0 ? c.default_timeout() : timeout_ms);
    Tree args = tree(json_pack("{s:s, s:b}", "path", argv[0].c_str(), "capture-output", 1));
    if (!args) throw std::bad_alloc();
    if (argv.size() > 1) {
        json_t *a = json_array();
        json_object_set_new(args.get(), "arg", a);
        for (size_t i = 1; i < argv.size(); i++) json_array_append_new(a, json_string(argv[i].c_str()));
    }
    if (env) {
        json_t *a = json_array();
        json_object_set_new(args.get(), "env", a);
        for (const std::string &s : *env) json_array_append_new(a, json_string(s.c_str()));
    }
    if (!input.empty())
        json_object_set_new(args.get(), "input-data", json_string(base64_encode(input.data(), input.size()).c_str()));
    Tree v = tree(nullptr);
    e = run(c, json_pack("{s:s, s:O}", "execute", "guest-exec", "arguments", args.get()), remaining(dl), &v);
    if (e) return e;
    json_t *pid = json_object_get(v.get(), "pid");
    if (!json_is_integer(pid)) return Error::make(QMP_EPROTO, "guest-exec answered without a pid");
    res->pid = json_integer_value(pid);
    auto still_running = [&] {
        return Error::make(QMP_ETIMEDOUT, "'%s' (pid %lld in the guest) had not exited within %d ms; it keeps running",
                           argv[0].c_str(), res->pid, timeout_ms == 0 ? c.default_timeout() : timeout_ms);
    };
    int wait_ms = 5;
    for (;;) {
        if ((e = run(c, json_pack("{s:s, s:{s:I}}", "execute", "guest-exec-status", "arguments", "pid",
                                  (json_int_t)res->pid),
                     remaining(dl), &v))) {
            // A status query still unanswered when the time is up (a loaded
            // machine) means the same as one that says "not exited".
            if (e.code == QMP_ETIMEDOUT && dl.expired()) return still_running();
            return e;
        }
        if (json_is_true(json_object_get(v.get(), "exited"))) break;
        if (dl.expired()) return still_running();
        int nap = wait_ms;
        if (!dl.infinite() && dl.remaining_ms() < nap) nap = dl.remaining_ms() > 0 ? dl.remaining_ms() : 1;
        c.nap(nap);
        if (c.cancelled())
            return Error::make(QMP_ECANCELLED, "waiting for '%s' (pid %lld in the guest) was cancelled; it keeps running",
                               argv[0].c_str(), res->pid);
        if (wait_ms < 200) wait_ms *= 2;
    }
    json_t *code = json_object_get(v.get(), "exitcode");
    json_t *sig = json_object_get(v.get(), "signal");
    res->exit_code = json_is_integer(code) ? static_cast<int>(json_integer_value(code)) : -1;
    res->signal = json_is_integer(sig) ? static_cast<int>(json_integer_value(sig)) : 0;
    res->out_truncated = json_is_true(json_object_get(v.get(), "out-truncated"));
    res->err_truncated = json_is_true(json_object_get(v.get(), "err-truncated"));
    if ((e = decode_member(v.get(), "out-data", &res->out))) return e;
    return decode_member(v.get(), "err-data", &res->err);
}

Error file_read(Client &c, const std::string &path, size_t max_bytes, std::string *data) {
    Error e = need_agent(c);
    if (e) return e;
    if (max_bytes == 0) max_bytes = kDefaultMaxRead;
    Tree v = tree(nullptr);
    if ((e = run(c, json_pack("{s:s, s:{s:s, s:s}}", "execute", "guest-file-open", "arguments", "path", path.c_str(),
                              "mode", "r"),
                 0, &v)))
        return e;
    if (!json_is_integer(v.get())) return Error::make(QMP_EPROTO, "guest-file-open answered without a handle");
    long long handle = json_integer_value(v.get());
    data->clear();
    std::string chunk;
    for (;;) {
        e = run(c, json_pack("{s:s, s:{s:I, s:I}}", "execute", "guest-file-read", "arguments", "handle",
                             (json_int_t)handle, "count", (json_int_t)kReadChunk),
                0, &v);
        if (e) break;
        if ((e = decode_member(v.get(), "buf-b64", &chunk))) break;
        if (data->size() + chunk.size() > max_bytes) {
            e = Error::make(QMP_ETOOBIG, "%s is larger than %zu bytes", path.c_str(), max_bytes);
            break;
        }
        data->append(chunk);
        if (json_is_true(json_object_get(v.get(), "eof")) || chunk.empty()) break;
    }
    close_handle(c, handle, &e);
    return e;
}

Error file_write(Client &c, const std::string &path, const char *data, size_t len) {
    Error e = need_agent(c);
    if (e) return e;
    Tree v = tree(nullptr);
    if ((e = run(c, json_pack("{s:s, s:{s:s, s:s}}", "execute", "guest-file-open", "arguments", "path", path.c_str(),
                              "mode", "w"),
                 0, &v)))
        return e;
    if (!json_is_integer(v.get())) return Error::make(QMP_EPROTO, "guest-file-open answered without a handle");
    long long handle = json_integer_value(v.get());
    for (size_t off = 0; off < len && !e; off += kWriteChunk) {
        size_t n = len - off < kWriteChunk ? len - off : kWriteChunk;
        std::string b64 = base64_encode(data + off, n);
        e = run(c, json_pack("{s:s, s:{s:I, s:s}}", "execute", "guest-file-write", "arguments", "handle",
                             (json_int_t)handle, "buf-b64", b64.c_str()),
                0, &v);
        if (e) break;
        json_t *count = json_object_get(v.get(), "count");
        if (!json_is_integer(count) || static_cast<size_t>(json_integer_value(count)) != n)
            e = Error::make(QMP_EIO, "the guest agent wrote %lld of %zu bytes to %s",
                            json_is_integer(count) ? (long long)json_integer_value(count) : -1LL, n, path.c_str());
    }
    close_handle(c, handle, &e);
    return e;
}

}  // namespace qmp::client::agent
