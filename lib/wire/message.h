// One message from the server, as cut by the Splitter: its text plus the
// top-level facts that routing needs, found in the same pass.  The jansson
// tree is built only when someone asks for it (wire::parse).
#pragma once

#include <cstddef>
#include <string>

namespace qmp::wire {

// A byte range [off, off + len) inside Message::text.  len == 0: absent.
struct Slice {
    size_t off = 0;
    size_t len = 0;
    bool present() const { return len != 0; }
};

struct Message {
    std::string text;   // exactly the bytes of the message, from its first to its last byte

    bool is_object = false;  // the top-level value is an object (anything else is not QMP)

    // Value ranges of the top-level members routing cares about.  Each is the
    // raw JSON text of the member's value (for strings: with the quotes).
    // When a key appears twice, the last one wins (as in QEMU's parser).
    Slice qmp;        // "QMP"       (greeting)
    Slice ret;        // "return"
    Slice error;      // "error"
    Slice event;      // "event"
    Slice id;         // "id"
    Slice data;       // "data"
    Slice timestamp;  // "timestamp"

    std::string event_name;  // the unescaped value of "event" when it is a string, else empty

    std::string slice(const Slice &s) const { return text.substr(s.off, s.len); }
};

}  // namespace qmp::wire
