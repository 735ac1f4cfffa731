// The extern "C" side of qmp-agent.h.
#include <qmp/qmp-agent.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "capi/guard.h"
#include "capi/hold.h"
#include "client/agent.h"

using qmp::Error;
using qmp::set_last_error;
using qmp::capi::guarded;
using qmp::capi::Hold;
namespace agent = qmp::client::agent;

namespace {

int fail(const Error &e) { return set_last_error(e); }

int null_client() { return set_last_error(QMP_EINVAL, "the client is NULL"); }

// A malloc'ed, NUL-terminated copy of s; throws std::bad_alloc.
unsigned char *copy_bytes(const std::string &s) {
    auto *p = static_cast<unsigned char *>(std::malloc(s.size() + 1));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, s.data(), s.size());
    p[s.size()] = 0;
    return p;
}

}  // namespace

extern "C" {

QMP_API int qmp_agent_ping(qmp_client *c, int timeout_ms) {
    if (!c) return null_client();
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] {
        Hold h(c);
        Error e = agent::ping(*h.get(), timeout_ms);
        return e ? fail(e) : 0;
    });
}

QMP_API void qmp_agent_strv_free(char **names) {
    if (!names) return;
    for (char **p = names; *p; p++) std::free(*p);
    std::free(names);
}

QMP_API int qmp_agent_commands(qmp_client *c, char ***names, char **version) {
    if (names) *names = nullptr;
    if (version) *version = nullptr;
    if (!c) return null_client();
    if (!names) return set_last_error(QMP_EINVAL, "names is NULL");
    return guarded([&] {
        Hold h(c);
        std::vector<std::string> list;
        std::string ver;
        Error e = agent::commands(*h.get(), &list, &ver);
        if (e) return fail(e);
        char **out = static_cast<char **>(std::calloc(list.size() + 1, sizeof(char *)));
        if (!out) throw std::bad_alloc();
        for (size_t i = 0; i < list.size(); i++) {
            out[i] = qmp::capi::dup_string(list[i]);
            if (!out[i]) {
                qmp_agent_strv_free(out);
                throw std::bad_alloc();
            }
        }
        char *v = nullptr;
        if (version && !(v = qmp::capi::dup_string(ver))) {
            qmp_agent_strv_free(out);
            throw std::bad_alloc();
        }
        *names = out;
        if (version) *version = v;
        return 0;
    });
}

QMP_API void qmp_agent_exec_result_clear(qmp_agent_exec_result *res) {
    if (!res) return;
    std::free(res->out);
    std::free(res->err);
    std::memset(res, 0, sizeof *res);
}

QMP_API int qmp_agent_exec(qmp_client *c, const char *const *argv, const char *const *env, const void *input,
                           size_t input_len, int timeout_ms, qmp_agent_exec_result *res) {
    if (res) std::memset(res, 0, sizeof *res);
    if (!c) return null_client();
    if (!res) return set_last_error(QMP_EINVAL, "res is NULL");
    res->exit_code = -1;
    if (!argv || !argv[0]) return set_last_error(QMP_EINVAL, "argv is NULL or empty: it needs at least the program's path");
    if (!input && input_len) return set_last_error(QMP_EINVAL, "input is NULL but input_len is %zu", input_len);
    if (timeout_ms < -1) return set_last_error(QMP_EINVAL, "timeout_ms must be -1, 0 or positive");
    return guarded([&] {
        Hold h(c);
        std::vector<std::string> args;
        for (const char *const *a = argv; *a; a++) args.emplace_back(*a);
        std::vector<std::string> envs;
        if (env)
            for (const char *const *a = env; *a; a++) envs.emplace_back(*a);
        std::string in(static_cast<const char *>(input ? input : ""), input_len);
        agent::ExecResult r;
        Error e = agent::exec(*h.get(), args, env ? &envs : nullptr, in, timeout_ms, &r);
        res->pid = r.pid;
        if (e) return fail(e);
        unsigned char *out = copy_bytes(r.out);
        unsigned char *err = nullptr;
        try {
            err = copy_bytes(r.err);
        } catch (...) {
            std::free(out);
            throw;
        }
        res->exit_code = r.exit_code;
        res->signal = r.signal;
        res->out = out;
        res->out_len = r.out.size();
        res->out_truncated = r.out_truncated;
        res->err = err;
        res->err_len = r.err.size();
        res->err_truncated = r.err_truncated;
        return 0;
    });
}

QMP_API int qmp_agent_file_read(qmp_client *c, const char *path, size_t max_bytes, void **data, size_t *len) {
    if (data) *data = nullptr;
    if (len) *len = 0;
    if (!c) return null_client();
    if (!path || !data || !len) return set_last_error(QMP_EINVAL, "path, data and len must not be NULL");
    return guarded([&] {
        Hold h(c);
        std::string s;
        Error e = agent::file_read(*h.get(), path, max_bytes, &s);
        if (e) return fail(e);
        *data = copy_bytes(s);
        *len = s.size();
        return 0;
    });
}

QMP_API int qmp_agent_file_write(qmp_client *c, const char *path, const void *data, size_t len) {
    if (!c) return null_client();
    if (!path || (!data && len)) return set_last_error(QMP_EINVAL, "path is NULL, or data is NULL with a length");
    return guarded([&] {
        Hold h(c);
        Error e = agent::file_write(*h.get(), path, static_cast<const char *>(data ? data : ""), len);
        return e ? fail(e) : 0;
    });
}

}  // extern "C"
