/*
 * check-json.h: check_json(got, "expected JSON text"), for the C unit tests
 * (CMocka): fails the test, printing both, unless got equals the expected
 * value (member order ignored).
 */
#ifndef LIBQMP_TEST_CHECK_JSON_H
#define LIBQMP_TEST_CHECK_JSON_H

#include <stdlib.h>

#include <jansson.h>

static inline void check_json(const json_t *got, const char *expected)
{
    json_error_t err;
    json_t *want = json_loads(expected, 0, &err);
    if (!want)
        fail_msg("bad expected JSON %s: %s", expected, err.text);
    if (!json_equal((json_t *)got, want)) {
        char *text = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("got      %s\nexpected %s\n", text ? text : "(null)", expected);
        free(text);
        json_decref(want);
        fail();
    }
    json_decref(want);
}

#endif
