// Secrets never reach the wire trace.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include "wire/redact.h"

using qmp::wire::redact;

namespace {

void expect(const char *in, const char *out) { assert_string_equal(redact(in).c_str(), out); }

void test_plain_message_unchanged(void **) {
    expect("{\"execute\": \"query-status\", \"id\": 3}", "{\"execute\":\"query-status\",\"id\":3}");
}

void test_password_member(void **) {
    expect("{\"execute\":\"change-vnc-password\",\"arguments\":{\"password\":\"hunter2\"}}",
           "{\"execute\":\"change-vnc-password\",\"arguments\":{\"password\":\"<redacted>\"}}");
}

void test_secret_object_data(void **) {
    expect("{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"hunter2\"}}",
           "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"secret\",\"id\":\"s0\",\"data\":\"<redacted>\"}}");
    expect("{\"qom-type\":\"secret_keyring\",\"data\":\"x\"}", "{\"qom-type\":\"secret_keyring\",\"data\":\"<redacted>\"}");
}

void test_data_of_other_objects_kept(void **) {
    expect("{\"qom-type\":\"memory-backend-ram\",\"data\":\"x\"}", "{\"qom-type\":\"memory-backend-ram\",\"data\":\"x\"}");
    expect("{\"event\":\"X\",\"data\":{\"a\":1}}", "{\"event\":\"X\",\"data\":{\"a\":1}}");
}

void test_suffixes_and_nesting(void **) {
    expect("{\"a\":[{\"key-secret\":\"k\"},{\"b\":{\"new-secret\":1,\"tls-password\":\"p\",\"x-passphrase\":\"q\"}}]}",
           "{\"a\":[{\"key-secret\":\"<redacted>\"},{\"b\":{\"new-secret\":\"<redacted>\",\"tls-password\":\"<redacted>\","
           "\"x-passphrase\":\"<redacted>\"}}]}");
}

void test_extendable_list(void **) {
    expect("{\"my-token-field\":\"t\"}", "{\"my-token-field\":\"t\"}");
    qmp::wire::add_secret_member("my-token-field");
    expect("{\"my-token-field\":\"t\"}", "{\"my-token-field\":\"<redacted>\"}");
}

void test_not_json_shows_nothing(void **) {
    std::string out = redact("{\"password\": \"hunter2\"");
    assert_null(strstr(out.c_str(), "hunter2"));
    assert_non_null(strstr(out.c_str(), "not JSON"));
}

// A preview is redacted first and cut after, so no part of a secret shows,
// and a cut never splits a UTF-8 character.
void test_preview_redacts_then_cuts(void **) {
    using qmp::wire::redact_preview;
    assert_string_equal(redact_preview("{\"password\": \"hunter2\"}").c_str(), "{\"password\":\"<redacted>\"}");
    std::string long_msg = "{\"return\": {\"key-secret\": \"" + std::string(200, 'k') + "\"}, \"id\": 1}";
    assert_string_equal(redact_preview(long_msg).c_str(), "{\"return\":{\"key-secret\":\"<redacted>\"},\"id\":1}");
    std::string big = "{\"a\": \"" + std::string(100, 'x') + "\"}";
    std::string cut = redact_preview(big, 20);
    assert_string_equal(cut.c_str(), "{\"a\":\"xxxxxxxxxxxxxx...");
    // "é" is two bytes (6 and 7 here); a cut at 7 would fall between them.
    assert_string_equal(redact_preview("{\"a\":\"\u00e9\u00e9\"}", 7).c_str(), "{\"a\":\"...");
    assert_string_equal(redact_preview("{\"a\":\"\u00e9\u00e9\"}", 8).c_str(), "{\"a\":\"\xc3\xa9...");
    std::string broken = redact_preview("{\"password\": \"hunter2\"");
    assert_null(strstr(broken.c_str(), "hunter2"));
}

}  // namespace

int main() {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_message_unchanged),
        cmocka_unit_test(test_password_member),
        cmocka_unit_test(test_secret_object_data),
        cmocka_unit_test(test_data_of_other_objects_kept),
        cmocka_unit_test(test_suffixes_and_nesting),
        cmocka_unit_test(test_extendable_list),
        cmocka_unit_test(test_not_json_shows_nothing),
        cmocka_unit_test(test_preview_redacts_then_cuts),
    };
    return cmocka_run_group_tests(tests, nullptr, nullptr);
}
