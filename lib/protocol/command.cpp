#include "protocol/command.h"

#include <cstring>

#include "wire/codec.h"

namespace qmp::protocol {

Error prepare_command(const json_t *command, bool *oob, std::string *text, std::string *name) {
    if (!json_is_object(command)) return Error::make(QMP_EINVAL, "a command must be a JSON object");
    json_t *exec = json_object_get(command, "execute");
    json_t *exec_oob = json_object_get(command, "exec-oob");
    if (exec && exec_oob) return Error::make(QMP_EINVAL, "a command has either \"execute\" or \"exec-oob\", not both");
    json_t *n = exec ? exec : exec_oob;
    if (!json_is_string(n))
        return Error::make(QMP_EINVAL, "a command needs a string member \"execute\" (or \"exec-oob\")");
    *name = json_string_value(n);
    json_t *args = json_object_get(command, "arguments");
    if (args && !json_is_object(args))
        return Error::make(QMP_EINVAL, "command '%s': \"arguments\" must be an object", name->c_str());
    if (json_object_get(command, "id"))
        return Error::make(QMP_EINVAL, "command '%s' has an \"id\": the library assigns ids", name->c_str());
    const char *key;
    json_t *value;
    json_object_foreach(const_cast<json_t *>(command), key, value) {
        if (std::strcmp(key, "execute") && std::strcmp(key, "exec-oob") && std::strcmp(key, "arguments") &&
            std::strcmp(key, "control"))
            return Error::make(QMP_EINVAL, "command '%s' has an unknown member '%s'", name->c_str(), key);
    }
    if (exec_oob) *oob = true;
    text->clear();
    text->reserve(64);
    *text += *oob ? "{\"exec-oob\":" : "{\"execute\":";
    wire::encode_string(name->data(), name->size(), *text);
    json_object_foreach(const_cast<json_t *>(command), key, value) {
        if (!std::strcmp(key, "execute") || !std::strcmp(key, "exec-oob")) continue;
        *text += ',';
        wire::encode_string(key, std::strlen(key), *text);
        *text += ':';
        Error e = wire::encode(value, *text);
        if (e) return e;
    }
    *text += '}';
    return Error::ok();
}

}  // namespace qmp::protocol
