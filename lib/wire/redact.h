// Redaction of secrets in messages written to a wire trace.
//
// The values of members named in the list are replaced by "<redacted>"
// wherever they appear, at any depth; so is the "data" member of an
// object-add of qom-type "secret" (and its inline "data" argument), which is
// the secret itself.  Member names ending in "-secret" or "-password" are
// treated as secrets too (key-secret, new-secret...).
#pragma once

#include <string>
#include <vector>

namespace qmp::wire {

// The built-in names: password, passwd, secret, new-secret, key-secret,
// password-secret, passphrase, keyfile-passphrase, token.
const std::vector<std::string> &default_secret_members();

// Adds a member name to the process-wide list (thread-safe).
void add_secret_member(const std::string &name);

// A copy of text (one JSON message) with secrets redacted.  Text that does
// not parse is replaced by a summary that shows no content.
std::string redact(const std::string &text);

// The start of a message, for a note in the trace or an error message:
// redact(text) cut to at most max bytes (at a character boundary) and
// "..." when it was longer.
std::string redact_preview(const std::string &text, size_t max = 80);

}  // namespace qmp::wire
