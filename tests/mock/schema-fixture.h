/*
 * schema-fixture.h: QEMU 7.2's schema for the whole group, for the test
 * server's tests that check their scripts against it (test-schema.c,
 * test-unplug.c): cmocka_run_group_tests(tests, schema_setup,
 * schema_teardown), then g_schema in the tests.
 */
#ifndef QMP_TEST_MOCK_SCHEMA_FIXTURE_H
#define QMP_TEST_MOCK_SCHEMA_FIXTURE_H

#include "helpers.h"

static qmp_schema *g_schema;

/*
 * Loads QEMU 7.2's schema (tests/data/qemu-7.2/query-qmp-schema.json, found
 * through $LIBQMP_TEST_DATA) into g_schema; -1 fails the group.
 */
static int schema_setup(void **state)
{
    (void)state;
    const char *dir = getenv("LIBQMP_TEST_DATA");
    if (!dir)
        return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/qemu-7.2/query-qmp-schema.json", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static char text[4 << 20];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    g_schema = qmp_schema_new_str(text, n);
    return g_schema ? 0 : -1;
}

static int schema_teardown(void **state)
{
    (void)state;
    qmp_schema_unref(g_schema);
    return 0;
}

#endif
