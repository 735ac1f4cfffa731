// Loading releases everything it took when an allocation fails: a schema
// built from text (Schema::build_text, the tree it parses and the Schema it
// fills) and the splitter (its state and the messages it cuts).  Every
// allocation of this program is counted: C++ operator new (replaced here)
// and jansson's (json_set_alloc_funcs); one of them, the Nth, fails.  For
// every N until the load succeeds, the count of live blocks after the
// failure must equal the count before it.
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <csetjmp>
#include <cstdarg>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include <cmocka.h>
}

#include <jansson.h>

#include "schema/schema.h"
#include "wire/splitter.h"

using qmp::Error;

namespace {

// 0: no failure; otherwise the allocation number that fails.
long fail_at = 0;
long allocations = 0;  // counted since the last arm()
long failures = 0;     // allocations refused since the last arm()
long live = 0;         // blocks allocated and not yet freed

bool refuse() {
    ++allocations;
    if (fail_at != 0 && allocations == fail_at) {
        ++failures;
        return true;
    }
    return false;
}

void *counted_malloc(size_t n) {
    if (refuse()) return nullptr;
    void *p = std::malloc(n ? n : 1);
    if (p) ++live;
    return p;
}

void counted_free(void *p) {
    if (!p) return;
    --live;
    std::free(p);
}

void arm(long n) {
    allocations = 0;
    failures = 0;
    fail_at = n;
}

void disarm() { fail_at = 0; }

}  // namespace

// Every C++ allocation of the program (the library's included) goes here.
void *operator new(size_t n) {
    void *p = counted_malloc(n);
    if (!p) throw std::bad_alloc();
    return p;
}
void *operator new[](size_t n) { return operator new(n); }
void *operator new(size_t n, const std::nothrow_t &) noexcept { return counted_malloc(n); }
void *operator new[](size_t n, const std::nothrow_t &) noexcept { return counted_malloc(n); }
void operator delete(void *p) noexcept { counted_free(p); }
void operator delete[](void *p) noexcept { counted_free(p); }
void operator delete(void *p, size_t) noexcept { counted_free(p); }
void operator delete[](void *p, size_t) noexcept { counted_free(p); }

namespace {

// Every meta-type, a union with a base and branches, an alternate, an
// array, features: each part of the graph load() builds.
const char kSchema[] =
    "{\"return\": ["
    "{\"name\":\"blockdev-add\",\"meta-type\":\"command\",\"arg-type\":\"0\",\"ret-type\":\"1\"},"
    "{\"name\":\"query-x\",\"meta-type\":\"command\",\"arg-type\":\"1\",\"ret-type\":\"[4]\","
    " \"features\":[\"unstable\"],\"allow-oob\":true},"
    "{\"name\":\"STOP\",\"meta-type\":\"event\",\"arg-type\":\"1\"},"
    "{\"name\":\"0\",\"meta-type\":\"object\",\"members\":["
    "  {\"name\":\"driver\",\"type\":\"2\"},"
    "  {\"name\":\"node-name\",\"type\":\"str\",\"default\":null}],"
    " \"tag\":\"driver\",\"variants\":[{\"case\":\"file\",\"type\":\"3\"},{\"case\":\"luks\",\"type\":\"5\"}]},"
    "{\"name\":\"1\",\"meta-type\":\"object\",\"members\":[]},"
    "{\"name\":\"2\",\"meta-type\":\"enum\",\"values\":[\"file\",\"luks\"],"
    " \"members\":[{\"name\":\"file\"},{\"name\":\"luks\",\"features\":[\"deprecated\"]}]},"
    "{\"name\":\"3\",\"meta-type\":\"object\",\"members\":[{\"name\":\"filename\",\"type\":\"str\"},"
    "  {\"name\":\"size\",\"type\":\"6\",\"default\":null}]},"
    "{\"name\":\"4\",\"meta-type\":\"object\",\"members\":[{\"name\":\"n\",\"type\":\"int\"}]},"
    "{\"name\":\"[4]\",\"meta-type\":\"array\",\"element-type\":\"4\"},"
    "{\"name\":\"5\",\"meta-type\":\"object\",\"members\":[{\"name\":\"key-secret\",\"type\":\"str\"},"
    "  {\"name\":\"file\",\"type\":\"6\"}]},"
    "{\"name\":\"6\",\"meta-type\":\"alternate\",\"members\":[{\"type\":\"str\"},{\"type\":\"int\"}]},"
    "{\"name\":\"str\",\"meta-type\":\"builtin\",\"json-type\":\"string\"},"
    "{\"name\":\"int\",\"meta-type\":\"builtin\",\"json-type\":\"int\"}"
    "]}";

// Loads the schema with the Nth allocation failing; true when it loaded.
bool load_schema_failing(long n) {
    arm(n);
    qmp::schema::Schema *s = nullptr;
    bool loaded = false;
    try {
        Error e = qmp::schema::Schema::build_text(kSchema, sizeof kSchema - 1, &s);
        loaded = !e;
        if (e) assert_null(s);
    } catch (const std::bad_alloc &) {
        assert_null(s);
    }
    disarm();
    if (s) {
        // The loaded graph is whole.
        assert_non_null(s->find("blockdev-add"));
        assert_non_null(s->find("STOP"));
        assert_int_equal(s->commands().size(), 2);
        s->unref();
    }
    return loaded;
}

void test_schema_load_failures_leak_nothing(void **) {
    assert_true(load_schema_failing(0));  // the schema is valid
    long tried = 0;
    for (long n = 1;; n++) {
        long before = live;
        bool loaded = load_schema_failing(n);
        if (live != before) fail_msg("allocation %ld failed: %ld blocks leaked", n, live - before);
        if (failures == 0) {
            assert_true(loaded);
            break;
        }
        tried++;
    }
    print_message("schema: %ld allocation failures tried\n", tried);
    assert_true(tried > 50);
}

// A stream of messages cut into pieces, one message across several feeds.
const char kStream[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": \"\"},"
    " \"capabilities\": [\"oob\"]}}\r\n"
    "{\"return\": {\"status\": \"running\", \"running\": true}, \"id\": 1}\r\n"
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"ST\\u004fP\"}\r\n"
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no\"}, \"id\": 2}";

// Feeds the stream with the Nth allocation failing; true when it went through.
bool split_failing(long n) {
    arm(n);
    bool whole = false;
    try {
        qmp::wire::Splitter sp;
        std::vector<qmp::wire::Message> out;
        size_t len = sizeof kStream - 1;
        for (size_t off = 0; off < len; off += 37) {
            Error e = sp.feed(kStream + off, off + 37 < len ? 37 : len - off, out);
            assert_int_equal(e.code, QMP_OK);
        }
        whole = out.size() == 4 && out[2].event_name == "STOP";
    } catch (const std::bad_alloc &) {
    }
    disarm();
    return whole;
}

void test_splitter_failures_leak_nothing(void **) {
    assert_true(split_failing(0));
    long tried = 0;
    for (long n = 1;; n++) {
        long before = live;
        bool whole = split_failing(n);
        if (live != before) fail_msg("allocation %ld failed: %ld blocks leaked", n, live - before);
        if (failures == 0) {
            assert_true(whole);
            break;
        }
        tried++;
    }
    print_message("splitter: %ld allocation failures tried\n", tried);
    assert_true(tried > 5);
}

}  // namespace

int main(void) {
    json_set_alloc_funcs(counted_malloc, counted_free);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_load_failures_leak_nothing),
        cmocka_unit_test(test_splitter_failures_leak_nothing),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
