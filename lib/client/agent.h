// Helpers over a guest agent connection (qmp-agent.h): guest-exec with
// guest-exec-status, guest-file-* in chunks, guest-ping and guest-info.
// Each is a sequence of ordinary commands on the Client.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "client/client.h"
#include "common/error.h"

namespace qmp::client::agent {

struct ExecResult {
    long long pid = 0;
    int exit_code = -1;
    int signal = 0;
    std::string out, err;
    bool out_truncated = false, err_truncated = false;
};

Error ping(Client &c, int timeout_ms);
Error commands(Client &c, std::vector<std::string> *enabled, std::string *version);
Error exec(Client &c, const std::vector<std::string> &argv, const std::vector<std::string> *env,
           const std::string &input, int timeout_ms, ExecResult *res);
Error file_read(Client &c, const std::string &path, size_t max_bytes, std::string *data);
Error file_write(Client &c, const std::string &path, const char *data, size_t len);

// Base64 (RFC 4648, with padding), as the agent speaks it.
std::string base64_encode(const char *data, size_t len);
bool base64_decode(const char *text, size_t len, std::string *out);

}  // namespace qmp::client::agent
