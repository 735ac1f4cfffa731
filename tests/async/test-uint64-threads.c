/*
 * Integers above INT64_MAX in several threads at once.  libqmp remembers
 * which jansson integers are unsigned in a process-wide registry that holds
 * a reference to each and drops the ones nobody else references as it
 * grows; meanwhile other threads take and drop references to the same
 * values (json_incref/json_decref, atomic in jansson).  Every value must
 * still read back exactly, and under ThreadSanitizer (scripts/test.sh runs
 * this suite with it) no access to a value's reference count may race.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include <jansson.h>
#include <qmp/qmp.h>

enum { HELD = 300, ROUNDS = 200, MADE_PER_ROUND = 64 };

static json_t *held[HELD];
static atomic_int stop;

/* Takes and drops references to the held values, without any library call in between. */
static void *churn_references(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        for (int i = 0; i < HELD; i++) {
            json_incref(held[i]);
            json_decref(held[i]);
        }
    }
    return NULL;
}

/* Makes values and drops them at once: the registry grows and lets them go again. */
static void *make_and_drop(void *arg) {
    unsigned long long base = *(const unsigned long long *)arg;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < MADE_PER_ROUND; i++) {
            unsigned long long want = base - (unsigned long long)(r * MADE_PER_ROUND + i);
            json_t *v = qmp_json_uint64(want);
            assert_non_null(v);
            unsigned long long got = 0;
            assert_int_equal(qmp_json_get_uint64(v, &got), 0);
            assert_true(got == want);
            json_decref(v);
        }
    }
    return NULL;
}

static void test_registry_shared_by_threads(void **state) {
    (void)state;
    for (int i = 0; i < HELD; i++) {
        held[i] = qmp_json_uint64(UINT64_MAX - (unsigned long long)i);
        assert_non_null(held[i]);
    }
    atomic_store(&stop, 0);
    /* One thread only takes references to the held values: jansson's own
     * json_incref() reads the count plainly before its atomic add, so two
     * threads doing it to one value race inside jansson.h, not in libqmp. */
    pthread_t churn, make[2];
    unsigned long long bases[2] = {UINT64_MAX - 1000, UINT64_MAX - 100000};
    assert_int_equal(pthread_create(&churn, NULL, churn_references, NULL), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&make[i], NULL, make_and_drop, &bases[i]), 0);
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(make[i], NULL), 0);
    atomic_store(&stop, 1);
    assert_int_equal(pthread_join(churn, NULL), 0);

    /* The held values survived every pruning and still read as unsigned. */
    for (int i = 0; i < HELD; i++) {
        unsigned long long got = 0;
        assert_int_equal(qmp_json_get_uint64(held[i], &got), 0);
        assert_true(got == UINT64_MAX - (unsigned long long)i);
        char *text = qmp_json_dumps(held[i]);
        assert_non_null(text);
        char want[32];
        snprintf(want, sizeof want, "%llu", UINT64_MAX - (unsigned long long)i);
        assert_string_equal(text, want);
        qmp_free(text);
        json_decref(held[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_shared_by_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
