// The incremental splitter: cuts a byte stream from the server into JSON
// messages by JSON structure (strings, escapes, nesting), not by line ends,
// so pretty=on monitors, several messages per read, a message split across
// reads and byte-by-byte delivery all work.  It validates the JSON grammar
// (and UTF-8 inside strings) as it goes, enforces the size and nesting
// limits before buffering more, and records the top-level facts of each
// message (wire/message.h).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "common/error.h"
#include "wire/message.h"

namespace qmp::wire {

constexpr size_t kDefaultMaxMessage = 64u * 1024 * 1024;  // QEMU's own limit
constexpr size_t kDefaultMaxDepth = 1024;                 // QEMU's own limit

class Splitter {
public:
    explicit Splitter(size_t max_message = kDefaultMaxMessage, size_t max_depth = kDefaultMaxDepth);
    ~Splitter();
    Splitter(const Splitter &) = delete;
    Splitter &operator=(const Splitter &) = delete;

    // Consumes len bytes; every message completed by them is appended to out
    // in stream order.  Whitespace between messages is skipped.  On a broken
    // stream returns an Error and the splitter stays failed (every later feed
    // returns the same error) until reset():
    //   QMP_ETOOBIG  a message longer than max_message bytes, or nested deeper
    //                than max_depth (detected as soon as the limit is crossed,
    //                never buffering more than max_message bytes);
    //   QMP_EPROTO   bytes that are not JSON, invalid UTF-8 in a string, a
    //                control character in a string, a bad escape or literal.
    // The error message says what and where ("at byte N of the message").
    // Messages completed before the error in the same call are still appended.
    Error feed(const char *bytes, size_t len, std::vector<Message> &out);

    // True when no partial message is buffered (a clean end of stream).
    bool idle() const;

    // Forgets any partial message and a failure; limits stay.
    void reset();

    void set_limits(size_t max_message, size_t max_depth);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace qmp::wire
