// The QMP state machine without a socket: greeting, negotiation, ids,
// routing, the in-band limit, abandoned commands, events.
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <csetjmp>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

extern "C" {
#include <cmocka.h>
}

#include "protocol/session.h"
#include "wire/splitter.h"

using qmp::protocol::Session;

namespace {

const char kGreeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
    "\"capabilities\": [\"oob\"]}}";
const char kGreetingNoOob[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"}, "
    "\"capabilities\": []}}";

qmp::wire::Message msg(const std::string &text) {
    qmp::wire::Splitter s;
    std::vector<qmp::wire::Message> out;
    qmp::Error e = s.feed(text.data(), text.size(), out);
    assert_int_equal(e.code, QMP_OK);
    assert_int_equal(out.size(), 1);
    return std::move(out[0]);
}

Session::Effects feed(Session &s, const std::string &text) {
    Session::Effects fx;
    s.receive(msg(text), fx);
    return fx;
}

// Takes every queued message as text.
std::vector<std::string> drain(Session &s) {
    std::vector<std::string> out;
    Session::Chunk c;
    while (s.front(&c)) {
        out.emplace_back(c.data, c.len);
        s.consumed(c.len);
    }
    return out;
}

void ready(Session &s, bool oob = false) {
    s.begin(oob);
    feed(s, kGreeting);
    auto sent = drain(s);
    assert_int_equal(sent.size(), 1);
    auto fx = feed(s, "{\"return\": {}, \"id\": 1}");
    assert_true(fx.became_ready);
    assert_true(s.phase() == Session::Phase::Ready);
}

std::string reply(uint64_t id, const char *ret = "{}") {
    return std::string("{\"return\": ") + ret + ", \"id\": " + std::to_string(id) + "}";
}

void test_negotiation_plain(void **) {
    Session s;
    s.begin(false);
    assert_true(s.phase() == Session::Phase::Greeting);
    auto fx = feed(s, kGreeting);
    assert_int_equal(fx.fatal.code, QMP_OK);
    auto sent = drain(s);
    assert_int_equal(sent.size(), 1);
    assert_string_equal(sent[0].c_str(), "{\"id\":1,\"execute\":\"qmp_capabilities\"}");
    fx = feed(s, "{\"return\": {}, \"id\": 1}");
    assert_true(fx.became_ready);
    assert_false(s.has_capability("oob"));
    int maj = 0, min = 0, mic = -1;
    assert_true(s.version(&maj, &min, &mic));
    assert_int_equal(maj, 7);
    assert_int_equal(min, 2);
    assert_int_equal(mic, 0);
}

void test_negotiation_oob(void **) {
    Session s;
    s.begin(true);
    feed(s, kGreeting);
    auto sent = drain(s);
    assert_string_equal(sent[0].c_str(),
                        "{\"id\":1,\"execute\":\"qmp_capabilities\",\"arguments\":{\"enable\":[\"oob\"]}}");
    feed(s, "{\"return\": {}, \"id\": 1}");
    assert_true(s.has_capability("oob"));
}

void test_negotiation_oob_not_offered(void **) {
    Session s;
    s.begin(true);
    feed(s, kGreetingNoOob);
    auto sent = drain(s);
    assert_string_equal(sent[0].c_str(), "{\"id\":1,\"execute\":\"qmp_capabilities\"}");
    feed(s, "{\"return\": {}, \"id\": 1}");
    assert_false(s.has_capability("oob"));
}

void test_not_a_greeting(void **) {
    Session s;
    s.begin(false);
    auto fx = feed(s, "{\"hello\": 1}");
    assert_int_equal(fx.fatal.code, QMP_EHANDSHAKE);
}

void test_event_before_greeting(void **) {
    Session s;
    s.begin(false);
    auto fx = feed(s, "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}");
    assert_int_equal(fx.fatal.code, QMP_OK);
    assert_int_equal(fx.events.size(), 1);
    assert_true(s.phase() == Session::Phase::Greeting);
    fx = feed(s, kGreeting);
    assert_int_equal(fx.fatal.code, QMP_OK);
    assert_true(s.phase() == Session::Phase::Negotiating);
}

void test_greeting_not_object(void **) {
    Session s;
    s.begin(false);
    auto fx = feed(s, "[1, 2]");
    assert_int_equal(fx.fatal.code, QMP_EHANDSHAKE);
}

void test_negotiation_refused(void **) {
    Session s;
    s.begin(false);
    feed(s, kGreeting);
    drain(s);
    auto fx = feed(s, "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}}");
    assert_int_equal(fx.fatal.code, QMP_ENEGOTIATION);
    assert_string_equal(fx.fatal.qmp_class.c_str(), "GenericError");
    assert_false(fx.became_ready);
}

void test_reply_routing_out_of_order(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    auto sent = drain(s);
    assert_int_equal(sent.size(), 2);
    assert_string_equal(sent[0].c_str(), ("{\"id\":" + std::to_string(a) + ",\"execute\":\"a\"}").c_str());
    auto fx = feed(s, reply(b, "2"));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
    assert_int_equal(fx.completions[0].error.code, QMP_OK);
    fx = feed(s, reply(a, "1"));
    assert_int_equal(fx.completions[0].id, a);
    assert_int_equal(s.pending_count(), 0);
}

void test_command_error(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"x\"}", false, false);
    drain(s);
    auto fx = feed(s, "{\"id\": " + std::to_string(a) +
                          ", \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command x has not been found\"}}");
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].error.code, QMP_ECOMMAND);
    assert_string_equal(fx.completions[0].error.qmp_class.c_str(), "CommandNotFound");
    assert_string_equal(fx.completions[0].error.qmp_desc.c_str(), "The command x has not been found");
}

// With "oob" negotiated, at most 7 in-band commands are unanswered on the
// wire: QEMU stops reading when its queue of 8 fills, and an out-of-band
// command behind them would wait.
void test_inband_limit_with_oob_holds_back(void **) {
    Session s;
    ready(s, true);
    assert_true(s.has_capability("oob"));
    std::vector<uint64_t> ids;
    for (int i = 0; i < 10; i++) ids.push_back(s.submit("{\"execute\":\"q\"}", false, false));
    assert_int_equal(drain(s).size(), qmp::protocol::kMaxInbandWithOob);
    // Out of band commands are not held back.
    uint64_t oob = s.submit("{\"exec-oob\":\"o\"}", true, false);
    auto sent = drain(s);
    assert_int_equal(sent.size(), 1);
    assert_true(sent[0].find("exec-oob") != std::string::npos);
    (void)oob;
    feed(s, reply(ids[0]));
    sent = drain(s);
    assert_int_equal(sent.size(), 1);
    assert_true(sent[0].find("\"id\":" + std::to_string(ids[7]) + ",") != std::string::npos);
    feed(s, reply(ids[1]));
    assert_int_equal(drain(s).size(), 1);
    feed(s, reply(ids[2]));
    sent = drain(s);
    assert_int_equal(sent.size(), 1);
    assert_true(sent[0].find("\"id\":" + std::to_string(ids[9]) + ",") != std::string::npos);
    feed(s, reply(ids[3]));
    assert_int_equal(drain(s).size(), 0);
}

// Without "oob" QEMU reads one command at a time and drops none: nothing is held back.
void test_no_inband_limit_without_oob(void **) {
    Session s;
    ready(s);
    assert_false(s.has_capability("oob"));
    std::vector<uint64_t> ids;
    for (int i = 0; i < 200; i++) ids.push_back(s.submit("{\"execute\":\"q\"}", false, false));
    auto sent = drain(s);
    assert_int_equal(sent.size(), 200);
    for (int i = 0; i < 200; i++)
        assert_true(sent[i].find("{\"id\":" + std::to_string(ids[i]) + ",") == 0);
    for (int i = 0; i < 200; i++) {
        auto fx = feed(s, reply(ids[i]));
        assert_int_equal(fx.completions.size(), 1);
        assert_int_equal(fx.completions[0].id, ids[i]);
    }
    assert_int_equal(s.pending_count(), 0);
}

void test_error_without_id_goes_to_oldest(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    drain(s);
    auto fx = feed(s, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}");
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, a);
    assert_int_equal(fx.completions[0].error.code, QMP_EPROTO);
    assert_non_null(strstr(fx.completions[0].error.message.c_str(), "GenericError: JSON parse error"));
    fx = feed(s, reply(b));
    assert_int_equal(fx.completions[0].id, b);
    assert_int_equal(fx.fatal.code, QMP_OK);
}

void test_error_without_id_nobody_waiting(void **) {
    Session s;
    ready(s);
    auto fx = feed(s, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}");
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
    assert_int_equal(fx.notes.size(), 1);
}

void test_unknown_id_dropped(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    auto fx = feed(s, "{\"return\": {}, \"id\": \"not-ours\"}");
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
    fx = feed(s, reply(a + 100));
    assert_int_equal(fx.completions.size(), 0);
    fx = feed(s, reply(a));
    assert_int_equal(fx.completions.size(), 1);
}

void test_duplicate_reply_dropped(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    assert_int_equal(feed(s, reply(a)).completions.size(), 1);
    auto fx = feed(s, reply(a));
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
}

void test_wrong_shapes(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    drain(s);
    auto fx = feed(s, "{\"return\": {}, \"error\": {\"class\": \"C\", \"desc\": \"d\"}, \"id\": " + std::to_string(a) + "}");
    assert_int_equal(fx.completions[0].error.code, QMP_EPROTO);
    fx = feed(s, "{\"id\": " + std::to_string(b) + "}");
    assert_int_equal(fx.completions[0].error.code, QMP_EPROTO);
    fx = feed(s, "{\"something\": 1}");
    assert_int_equal(fx.fatal.code, QMP_EPROTO);
}

void test_not_an_object_is_fatal(void **) {
    Session s;
    ready(s);
    assert_int_equal(feed(s, "\"hello\"").fatal.code, QMP_EPROTO);
    Session t;
    ready(t);
    assert_int_equal(feed(t, "[]").fatal.code, QMP_EPROTO);
}

void test_abandon_unsent_drops_it(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    s.abandon(a);
    assert_false(s.want_write());
    assert_int_equal(s.pending_count(), 0);
}

void test_abandon_sent_drops_late_reply(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    s.abandon(a);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    drain(s);
    auto fx = feed(s, reply(a));
    assert_int_equal(fx.completions.size(), 0);
    fx = feed(s, reply(b));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
}

void test_abandoned_keeps_inband_slot_until_reply(void **) {
    Session s;
    ready(s, true);
    std::vector<uint64_t> ids;
    for (int i = 0; i < 8; i++) ids.push_back(s.submit("{\"execute\":\"q\"}", false, false));
    assert_int_equal(drain(s).size(), 7);
    s.abandon(ids[0]);  // on the wire: QEMU still holds it in its queue
    assert_int_equal(drain(s).size(), 0);
    feed(s, reply(ids[0]));
    assert_int_equal(drain(s).size(), 1);
}

void test_fds_ride_on_first_byte(void **) {
    Session s;
    ready(s);
    uint64_t id = s.submit("{\"execute\":\"getfd\"}", false, true);
    Session::Chunk c;
    assert_true(s.front(&c));
    assert_true(c.with_fds);
    assert_true(c.first);
    assert_int_equal(c.id, id);
    s.consumed(3);  // a partial write
    assert_true(s.front(&c));
    assert_false(c.with_fds);
    assert_false(c.first);
    assert_int_equal(c.id, id);
}

void test_a_message_with_fds_leads_its_own_send(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, true);
    uint64_t d = s.submit("{\"execute\":\"d\"}", false, false);
    Session::Chunk cs[8];
    // a alone: b's fds must ride on b's first byte, the first of a send.
    assert_int_equal(s.fronts(cs, 8), 1);
    assert_int_equal(cs[0].id, a);
    assert_false(cs[0].with_fds);
    s.consumed(cs[0].len);
    assert_int_equal(s.fronts(cs, 8), 2);
    assert_int_equal(cs[0].id, b);
    assert_true(cs[0].with_fds);
    assert_int_equal(cs[1].id, d);
    assert_false(cs[1].with_fds);
}

void test_end_lists_pending(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, true);
    auto ids = s.end();
    assert_int_equal(ids.size(), 2);
    assert_int_equal(ids[0], a);
    assert_int_equal(ids[1], b);
    assert_false(s.want_write());
    assert_true(s.phase() == Session::Phase::Idle);
}

void test_events_sequence_and_ring(void **) {
    Session s;
    s.set_ring_size(3);
    ready(s);
    for (int i = 0; i < 5; i++) {
        auto fx = feed(s, "{\"timestamp\": {\"seconds\": 100, \"microseconds\": " + std::to_string(i) +
                              "}, \"event\": \"E" + std::to_string(i) + "\", \"data\": {\"n\": " + std::to_string(i) + "}}");
        assert_int_equal(fx.events.size(), 1);
        assert_int_equal(fx.events[0]->seq(), i + 1);
        assert_int_equal(fx.events[0]->seconds(), 100);
        assert_int_equal(fx.events[0]->microseconds(), i);
    }
    assert_int_equal(s.last_seq(), 5);
    assert_int_equal(s.ring().size(), 3);
    assert_int_equal(s.ring().front()->seq(), 3);
    const json_t *d = s.ring().back()->data();
    assert_int_equal(json_integer_value(json_object_get(d, "n")), 4);
}

void test_event_bad_timestamp_and_no_name(void **) {
    Session s;
    ready(s);
    auto fx = feed(s, "{\"timestamp\": \"yesterday\", \"event\": \"X\"}");
    assert_int_equal(fx.events.size(), 1);
    assert_int_equal(fx.events[0]->seconds(), -1);
    assert_null(fx.events[0]->data());
    fx = feed(s, "{\"event\": 42}");
    assert_int_equal(fx.events.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
}

// Every form of timestamp reads as jansson reads it: the plain form in
// place, any other (keys escaped, repeated or extra, reals, huge numbers)
// through the tree.
void test_event_timestamp_forms(void **) {
    struct {
        const char *ts;
        long long sec, usec;
    } cases[] = {
        {"{\"seconds\": 1700000000, \"microseconds\": 123456}", 1700000000, 123456},
        {"{\"microseconds\":7,\"seconds\":8}", 8, 7},
        {"{ \"seconds\" :\n 1 ,\t\"microseconds\" : 2 \r\n}", 1, 2},
        {"{\"seconds\": -1, \"microseconds\": -1}", -1, -1},
        {"{\"seconds\": 0, \"microseconds\": 0}", 0, 0},
        {"{\"seconds\": 123456789012345678, \"microseconds\": 1}", 123456789012345678LL, 1},
        {"{\"seconds\": 1234567890123456789, \"microseconds\": 1}", 1234567890123456789LL, 1},
        {"{\"seconds\": 1, \"microseconds\": 2, \"nanoseconds\": 3}", 1, 2},
        {"{\"seconds\": 1, \"seconds\": 5, \"microseconds\": 2}", 5, 2},
        {"{\"\\u0073econds\": 3, \"microseconds\": 4}", 3, 4},
        {"{\"seconds\": 1.5, \"microseconds\": 2}", -1, -1},
        {"{\"seconds\": 1e3, \"microseconds\": 2}", -1, -1},
        {"{\"seconds\": 1}", -1, -1},
        {"{}", -1, -1},
        {"{\"seconds\": \"1\", \"microseconds\": 2}", -1, -1},
        {"[1, 2]", -1, -1},
        {"null", -1, -1},
    };
    for (const auto &c : cases) {
        Session s;
        ready(s);
        auto fx = feed(s, std::string("{\"event\": \"E\", \"timestamp\": ") + c.ts + "}");
        assert_int_equal(fx.events.size(), 1);
        if (fx.events[0]->seconds() != c.sec || fx.events[0]->microseconds() != c.usec)
            fail_msg("%s: read %lld/%lld, want %lld/%lld", c.ts, fx.events[0]->seconds(), fx.events[0]->microseconds(),
                     c.sec, c.usec);
    }
}

// A handler's view builds its own data tree, once, and frees it with the
// view (ASan and valgrind check that); the event's own tree is apart.
void test_event_delivery_data(void **) {
    Session s;
    ready(s);
    auto fx = feed(s, "{\"event\": \"E\", \"data\": {\"n\": 7, \"s\": \"x\"}}");
    assert_int_equal(fx.events.size(), 1);
    const qmp::protocol::Event &ev = *fx.events[0];
    {
        qmp::protocol::Delivery view(ev);
        assert_ptr_equal(&view.event(), &ev);
        const json_t *d = view.data();
        assert_non_null(d);
        assert_ptr_equal(view.data(), d);
        assert_int_equal(json_integer_value(json_object_get(d, "n")), 7);
        assert_true(json_equal(const_cast<json_t *>(d), const_cast<json_t *>(ev.data())));
        assert_ptr_not_equal(d, ev.data());
    }
    fx = feed(s, "{\"event\": \"F\"}");
    qmp::protocol::Delivery none(*fx.events[0]);
    assert_null(none.data());
    assert_null(none.data());
}

void test_second_greeting_ignored(void **) {
    Session s;
    ready(s);
    auto fx = feed(s, kGreeting);
    assert_int_equal(fx.fatal.code, QMP_OK);
    assert_int_equal(fx.notes.size(), 1);
    assert_false(s.want_write());
}


// Ids start from 1 again whenever nothing is pending: QEMU reads its
// monitor one byte per recvmsg(), so every digit of an id costs it system
// calls.  Never the id answered last (qmp_capabilities' 1, first), so
// sequential calls take 2, 1, 2, 1...
void test_ids_start_again_when_nothing_pending(void **) {
    Session s;
    ready(s);  // qmp_capabilities was id 1, and is answered
    for (uint64_t want : {2, 1, 2, 1}) {
        uint64_t a = s.submit("{\"execute\":\"query-status\"}", false, false);
        assert_int_equal(a, want);
        auto sent = drain(s);
        assert_int_equal(sent.size(), 1);
        assert_string_equal(sent[0].c_str(), ("{\"id\":" + std::to_string(want) + ",\"execute\":\"query-status\"}").c_str());
        auto fx = feed(s, reply(a));
        assert_int_equal(fx.completions.size(), 1);
        assert_int_equal(fx.completions[0].id, want);
    }
    // A command dropped before a byte of it was sent left nothing to answer:
    // the next one takes its id.
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    assert_int_equal(a, 2);
    s.abandon(a);
    assert_int_equal(s.submit("{\"execute\":\"b\"}", false, false), 2);
}

// A reply sent twice: the copy comes before the next command's reply, and
// the next command has another id, so the copy is dropped.
void test_reply_twice_not_given_to_next_command(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    auto fx = feed(s, reply(a, "\"first\""));
    assert_int_equal(fx.completions.size(), 1);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    assert_int_not_equal(b, a);
    assert_true(b <= 2);
    drain(s);
    fx = feed(s, reply(a, "\"again\""));
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
    fx = feed(s, reply(b, "\"second\""));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
    assert_string_equal(fx.completions[0].reply.text.c_str(), reply(b, "\"second\"").c_str());
}

// While a command is pending the next one takes another id: the smallest
// that no pending command holds (nor the one answered last).
void test_ids_distinct_while_in_flight(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    assert_int_equal(a, 2);
    assert_int_equal(b, 3);
    drain(s);
    auto fx = feed(s, reply(a));
    assert_int_equal(fx.completions.size(), 1);
    uint64_t c = s.submit("{\"execute\":\"c\"}", false, false);  // b is still pending, a answered last
    assert_int_equal(c, 1);
    auto sent = drain(s);
    assert_string_equal(sent[0].c_str(), "{\"id\":1,\"execute\":\"c\"}");
    fx = feed(s, reply(c));
    assert_int_equal(fx.completions[0].id, c);
    fx = feed(s, reply(b));
    assert_int_equal(fx.completions[0].id, b);
    assert_int_equal(s.pending_count(), 0);
    assert_int_equal(s.submit("{\"execute\":\"d\"}", false, false), 1);  // b (3) answered last
    // The same with an out-of-band command pending.
    Session t;
    ready(t, true);
    uint64_t o = t.submit("{\"exec-oob\":\"o\"}", true, false);
    assert_int_equal(o, 2);
    drain(t);
    assert_int_equal(t.submit("{\"execute\":\"i\"}", false, false), 3);
}

// A command given up on while on the wire keeps its id until its late reply
// comes: no newer command takes it, and the late reply is dropped, not
// given to a newer command.
void test_abandoned_id_not_reused_until_late_reply(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"slow\"}", false, false);
    assert_int_equal(a, 2);
    drain(s);
    s.abandon(a);  // timed out
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    assert_int_equal(b, 3);
    drain(s);
    auto fx = feed(s, reply(b));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
    // The abandoned command still holds its id: the next takes another.
    uint64_t c = s.submit("{\"execute\":\"c\"}", false, false);
    assert_int_equal(c, 1);
    drain(s);
    fx = feed(s, reply(a, "\"late\""));
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(fx.fatal.code, QMP_OK);
    assert_int_equal(fx.notes.size(), 1);
    fx = feed(s, reply(c));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, c);
    // The late reply came: its id is free again.
    uint64_t e = s.submit("{\"execute\":\"e\"}", false, false);
    assert_int_equal(e, a);
    drain(s);
    fx = feed(s, reply(e, "\"mine\""));
    assert_int_equal(fx.completions.size(), 1);
    assert_string_equal(fx.completions[0].reply.text.c_str(), reply(e, "\"mine\"").c_str());
}

// An error without an id is given to the oldest in-band command by
// guesswork; that command may still be answered with its id, so ids go on
// counting until the next connection.
void test_error_without_id_keeps_ids_counting(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    auto fx = feed(s, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}");
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, a);
    assert_int_equal(s.pending_count(), 0);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    assert_int_not_equal(b, a);
    drain(s);
    fx = feed(s, reply(a));
    assert_int_equal(fx.completions.size(), 0);
    fx = feed(s, reply(b));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
    assert_true(s.submit("{\"execute\":\"c\"}", false, false) > b);
    // A new connection starts from 1, its qmp_capabilities first.
    s.end();
    s.begin(false);
    feed(s, kGreeting);
    auto sent = drain(s);
    assert_string_equal(sent[0].c_str(), "{\"id\":1,\"execute\":\"qmp_capabilities\"}");
}

// A new connection cannot be answered for the old one's commands: ids start
// from 1 again, abandoned commands of the old connection or not.
void test_ids_restart_on_new_connection(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    drain(s);
    s.abandon(a);
    assert_int_equal(s.submit("{\"execute\":\"b\"}", false, false), 3);
    s.end();
    ready(s);  // expects qmp_capabilities with id 1
    assert_int_equal(s.submit("{\"execute\":\"c\"}", false, false), 2);
}

// The guest agent answers in order: once it answered a guest-sync-delimited,
// a command given up on before it can no longer be answered (its answer came
// before the sync's and was dropped with the stale bytes), so its id is free.
void test_agent_ids_free_after_resync(void **) {
    Session s;
    s.begin_agent(77);
    auto sent = drain(s);
    assert_int_equal(sent.size(), 2);
    assert_string_equal(sent[1].c_str(), "{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":77}}");
    s.sentinel();
    auto fx = feed(s, "{\"return\": 77}");
    assert_true(fx.became_ready);
    uint64_t a = s.submit("{\"execute\":\"guest-info\"}", false, false);
    assert_int_equal(a, 1);
    drain(s);
    s.abandon(a);  // timed out
    assert_true(s.needs_resync());
    assert_false(s.awaiting_answers());
    s.resync(78);
    uint64_t b = s.submit("{\"execute\":\"guest-ping\"}", false, false);
    assert_int_equal(b, 2);  // a may still be answered until the sync's answer comes
    sent = drain(s);
    assert_int_equal(sent.size(), 2);  // 0xFF and the sync; b waits for its answer
    fx = feed(s, reply(a));            // a's late answer, before the sentinel
    assert_int_equal(fx.completions.size(), 0);
    s.sentinel();
    fx = feed(s, "{\"return\": 78}");
    assert_int_equal(fx.completions.size(), 0);
    assert_int_equal(s.pending_count(), 1);  // b alone: a's entry went with the sync
    sent = drain(s);
    assert_int_equal(sent.size(), 1);
    assert_string_equal(sent[0].c_str(), "{\"id\":2,\"execute\":\"guest-ping\"}");
    fx = feed(s, reply(b));
    assert_int_equal(fx.completions.size(), 1);
    assert_int_equal(fx.completions[0].id, b);
    assert_int_equal(s.submit("{\"execute\":\"guest-ping\"}", false, false), 1);  // after 2
}

// A command still awaited when a sync is answered (one queued but not yet
// sent when the resync was asked for) keeps its entry and its id.
void test_agent_sync_keeps_awaited_commands(void **) {
    Session s;
    s.begin_agent(5);
    drain(s);
    s.sentinel();
    feed(s, "{\"return\": 5}");
    uint64_t a = s.submit("{\"execute\":\"guest-info\"}", false, false);
    drain(s);
    s.abandon(a);
    uint64_t b = s.submit("{\"execute\":\"guest-ping\"}", false, false);  // queued, not sent
    s.resync(6);  // goes behind b
    auto sent = drain(s);
    assert_int_equal(sent.size(), 3);
    s.sentinel();
    feed(s, "{\"return\": 6}");
    assert_int_equal(s.pending_count(), 1);
    assert_true(s.on_wire(b));
    // a's entry went with the sync: its id is free again; b's is not.
    assert_int_equal(s.submit("{\"execute\":\"guest-ping\"}", false, false), a);
}

// A pipeline keeps its ids small: with 64 pending and replies coming in any
// order, every new command takes the smallest free id, two digits at most.
void test_pipeline_ids_stay_small(void **) {
    Session s;
    ready(s);
    std::vector<uint64_t> live;
    for (int i = 0; i < 64; i++) live.push_back(s.submit("{\"execute\":\"q\"}", false, false));
    drain(s);
    uint64_t most = 0;
    for (int round = 0; round < 1000; round++) {
        size_t k = (size_t)(round * 7) % live.size();  // answer one, not the oldest
        auto fx = feed(s, reply(live[k]));
        assert_int_equal(fx.completions.size(), 1);
        assert_int_equal(fx.completions[0].id, live[k]);
        uint64_t id = s.submit("{\"execute\":\"q\"}", false, false);
        drain(s);
        for (uint64_t other : live)
            if (other != live[k]) assert_int_not_equal(id, other);
        assert_int_not_equal(id, live[k]);  // never the id answered last
        live[k] = id;
        if (id > most) most = id;
    }
    assert_true(most <= 66);
}

// Ids no longer say the order commands were submitted in: the connection's
// end reports the pending in that order all the same.
void test_end_reports_in_submission_order(void **) {
    Session s;
    ready(s);
    uint64_t a = s.submit("{\"execute\":\"a\"}", false, false);
    uint64_t b = s.submit("{\"execute\":\"b\"}", false, false);
    drain(s);
    feed(s, reply(a));
    uint64_t c = s.submit("{\"execute\":\"c\"}", false, false);
    assert_true(c < b);  // a smaller id, submitted later
    drain(s);
    auto ids = s.end();
    assert_int_equal(ids.size(), 2);
    assert_int_equal(ids[0], b);
    assert_int_equal(ids[1], c);
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiation_plain),
        cmocka_unit_test(test_negotiation_oob),
        cmocka_unit_test(test_negotiation_oob_not_offered),
        cmocka_unit_test(test_not_a_greeting),
        cmocka_unit_test(test_event_before_greeting),
        cmocka_unit_test(test_greeting_not_object),
        cmocka_unit_test(test_negotiation_refused),
        cmocka_unit_test(test_reply_routing_out_of_order),
        cmocka_unit_test(test_command_error),
        cmocka_unit_test(test_inband_limit_with_oob_holds_back),
        cmocka_unit_test(test_no_inband_limit_without_oob),
        cmocka_unit_test(test_error_without_id_goes_to_oldest),
        cmocka_unit_test(test_error_without_id_nobody_waiting),
        cmocka_unit_test(test_unknown_id_dropped),
        cmocka_unit_test(test_duplicate_reply_dropped),
        cmocka_unit_test(test_wrong_shapes),
        cmocka_unit_test(test_not_an_object_is_fatal),
        cmocka_unit_test(test_abandon_unsent_drops_it),
        cmocka_unit_test(test_abandon_sent_drops_late_reply),
        cmocka_unit_test(test_abandoned_keeps_inband_slot_until_reply),
        cmocka_unit_test(test_fds_ride_on_first_byte),
        cmocka_unit_test(test_a_message_with_fds_leads_its_own_send),
        cmocka_unit_test(test_end_lists_pending),
        cmocka_unit_test(test_events_sequence_and_ring),
        cmocka_unit_test(test_event_bad_timestamp_and_no_name),
        cmocka_unit_test(test_event_timestamp_forms),
        cmocka_unit_test(test_event_delivery_data),
        cmocka_unit_test(test_second_greeting_ignored),
        cmocka_unit_test(test_ids_start_again_when_nothing_pending),
        cmocka_unit_test(test_reply_twice_not_given_to_next_command),
        cmocka_unit_test(test_ids_distinct_while_in_flight),
        cmocka_unit_test(test_abandoned_id_not_reused_until_late_reply),
        cmocka_unit_test(test_error_without_id_keeps_ids_counting),
        cmocka_unit_test(test_ids_restart_on_new_connection),
        cmocka_unit_test(test_agent_ids_free_after_resync),
        cmocka_unit_test(test_agent_sync_keeps_awaited_commands),
        cmocka_unit_test(test_pipeline_ids_stay_small),
        cmocka_unit_test(test_end_reports_in_submission_order),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
