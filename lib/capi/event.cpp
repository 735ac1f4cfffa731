// The C boundary for the qmp_event accessors.
#include <qmp/qmp-client.h>

#include "capi/guard.h"
#include "protocol/event.h"

namespace {

// A qmp_event is the Delivery that run_dispatch hands to the handlers.
const qmp::protocol::Delivery *delivery_of(const qmp_event *ev) {
    return reinterpret_cast<const qmp::protocol::Delivery *>(ev);
}

const qmp::protocol::Event *ev_of(const qmp_event *ev) { return &delivery_of(ev)->event(); }

}  // namespace

extern "C" {

QMP_API const char *qmp_event_name(const qmp_event *ev) { return ev ? ev_of(ev)->name().c_str() : nullptr; }

QMP_API const json_t *qmp_event_data(const qmp_event *ev) {
    if (!ev) return nullptr;
    try {
        return delivery_of(ev)->data();
    } catch (const std::bad_alloc &) {
        qmp::set_last_error(QMP_ENOMEM, "out of memory decoding the event's data");
    } catch (...) {
        qmp::set_last_error(QMP_EINVAL, "internal error: unexpected exception");
    }
    return nullptr;
}

QMP_API long long qmp_event_seconds(const qmp_event *ev) { return ev ? ev_of(ev)->seconds() : -1; }

QMP_API long long qmp_event_microseconds(const qmp_event *ev) { return ev ? ev_of(ev)->microseconds() : -1; }

QMP_API unsigned long long qmp_event_seq(const qmp_event *ev) { return ev ? ev_of(ev)->seq() : 0; }

QMP_API char *qmp_event_to_json(const qmp_event *ev) {
    if (!ev) return nullptr;
    try {
        char *s = qmp::capi::dup_string(ev_of(ev)->text());
        if (!s) qmp::set_last_error(QMP_ENOMEM, "out of memory");
        return s;
    } catch (...) {
        qmp::set_last_error(QMP_ENOMEM, "out of memory");
        return nullptr;
    }
}

}  // extern "C"
