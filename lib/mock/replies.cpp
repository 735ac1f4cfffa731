// libvirt's .replies files: the conversation with a real QEMU as JSON values
// separated by blank lines, each command followed by its response, with the
// events that came in between.  libvirt keeps one such recording per QEMU
// release for its own tests.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "mock/mock.h"
#include "wire/codec.h"
#include "wire/splitter.h"

namespace qmp::mock {

namespace {

struct Value {
    Json v;
    int line;  // where it starts in the file, from 1
};

Error read_file(const char *path, std::string *out) {
    // Closed also when appending throws std::bad_alloc.
    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path, "rb"), std::fclose);
    if (!f) {
        Error e = Error::sys(errno, "cannot open %s", path);
        if (e.sys_errno == ENOMEM) e.code = QMP_ENOMEM;  // fopen's own buffer
        return e;
    }
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out->append(buf, n);
    if (std::ferror(f.get())) return Error::sys(EIO, "cannot read %s", path);
    return Error::ok();
}

bool blank(const std::string &line) {
    for (char c : line)
        if (c != ' ' && c != '\t' && c != '\r') return false;
    return true;
}

// Cuts the text into its JSON values; an error names the line.
Error values_of(const char *path, const std::string &text, std::vector<Value> *out) {
    size_t pos = 0;
    int lineno = 0;
    std::string chunk;
    int chunk_line = 0;
    auto flush = [&]() -> Error {
        if (chunk.empty()) return Error::ok();
        wire::Splitter sp;
        std::vector<wire::Message> msgs;
        Error e = sp.feed(chunk.data(), chunk.size(), msgs);
        if (e) {
            // The parser says what is wrong in terms of this text, not of a stream from a server.
            json_t *v = nullptr;
            Error pe = wire::parse(chunk.data(), chunk.size(), &v);
            json_decref(v);
            const Error &why = pe ? pe : e;
            return Error::make(why.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "%s:%d: not JSON: %s", path, chunk_line,
                               why.message.c_str());
        }
        if (!sp.idle())
            return Error::make(QMP_EINVAL, "%s:%d: the JSON value that starts here is cut off", path, chunk_line);
        for (const wire::Message &m : msgs) {
            json_t *v = nullptr;
            e = wire::parse(m.text.data(), m.text.size(), &v);
            if (e)
                return Error::make(e.code == QMP_ENOMEM ? QMP_ENOMEM : QMP_EINVAL, "%s:%d: not JSON: %s", path,
                                   chunk_line, e.message.c_str());
            out->push_back(Value{Json(v), chunk_line});
        }
        chunk.clear();
        return Error::ok();
    };
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(pos, end - pos);
        lineno++;
        pos = end + 1;
        if (blank(line)) {
            if (Error e = flush()) return e;
            continue;
        }
        if (chunk.empty()) chunk_line = lineno;
        chunk += line;
        chunk += '\n';
    }
    return flush();
}

std::string command_name(const json_t *v) {
    const json_t *ex = json_object_get(v, "execute");
    if (!ex) ex = json_object_get(v, "exec-oob");
    return json_is_string(ex) ? json_string_value(ex) : std::string();
}

}  // namespace

Error read_replies(const char *path, std::vector<Item> *items) {
    if (!path) return Error::make(QMP_EINVAL, "the .replies path is NULL");
    std::string text;
    if (Error e = read_file(path, &text)) return e;
    std::vector<Value> values;
    if (Error e = values_of(path, text, &values)) return e;

    std::vector<Item> out;
    std::vector<Item> held;  // events that came between a command and its response
    const Value *pending = nullptr;
    bool first_command = true;
    for (const Value &val : values) {
        const json_t *v = val.v.get();
        std::string origin = std::string(path) + ":" + std::to_string(val.line);
        if (!json_is_object(v))
            return Error::make(QMP_EINVAL, "%s: not a JSON object", origin.c_str());
        std::string name = command_name(v);
        if (!name.empty()) {
            if (pending)
                return Error::make(QMP_EINVAL, "%s:%d: the command '%s' has no response (line %d holds the next command)",
                                   path, pending->line, command_name(pending->v.get()).c_str(), val.line);
            const json_t *args = json_object_get(v, "arguments");
            if (args && !json_is_object(args))
                return Error::make(QMP_EINVAL, "%s: the command's \"arguments\" is not an object", origin.c_str());
            pending = &val;
            continue;
        }
        if (json_object_get(v, "event")) {
            Item it;
            it.kind = Item::Event;
            if (Error e = check_event(v)) return Error::make(QMP_EINVAL, "%s: %s", origin.c_str(), e.message.c_str());
            it.event = exact_copy(v);
            if (!it.event) throw std::bad_alloc();
            it.origin = origin;
            (pending ? held : out).push_back(std::move(it));
            continue;
        }
        if (json_object_get(v, "return") || json_object_get(v, "error")) {
            if (!pending) return Error::make(QMP_EINVAL, "%s: a response without a command before it", origin.c_str());
            Json resp = exact_copy(v);
            if (!resp) throw std::bad_alloc();
            json_object_del(resp.get(), "id");  // the client's own id replaces the recorded one
            if (Error e = check_response(resp.get()))
                return Error::make(QMP_EINVAL, "%s: %s", origin.c_str(), e.message.c_str());
            const json_t *cmd = pending->v.get();
            std::string cmd_name = command_name(cmd);
            // The negotiation answers the recording's own qmp_capabilities.
            bool skip = first_command && cmd_name == "qmp_capabilities";
            first_command = false;
            if (!skip) {
                Item it;
                it.kind = Item::Expect;
                it.command = cmd_name;
                const json_t *args = json_object_get(cmd, "arguments");
                it.arguments = args ? exact_copy(args) : Json(json_object());
                if (!it.arguments) throw std::bad_alloc();
                it.response = std::move(resp);
                it.origin = std::string(path) + ":" + std::to_string(pending->line);
                out.push_back(std::move(it));
            }
            for (Item &h : held) out.push_back(std::move(h));
            held.clear();
            pending = nullptr;
            continue;
        }
        return Error::make(QMP_EINVAL, "%s: neither a command, a response nor an event", origin.c_str());
    }
    if (pending)
        return Error::make(QMP_EINVAL, "%s:%d: the command '%s' has no response (the file ends)", path, pending->line,
                           command_name(pending->v.get()).c_str());
    for (Item &h : held) out.push_back(std::move(h));
    *items = std::move(out);
    return Error::ok();
}

}  // namespace qmp::mock
