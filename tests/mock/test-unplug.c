/*
 * The example's toolstack function (examples/unplug-disk.h) tested with the
 * test server, as a toolstack would test its own: the unplug that
 * completes, the one QEMU refuses, the guest that never lets go, and an
 * event for another device that must not end the wait.  QEMU 7.2's schema
 * checks that the script is what QEMU would send.
 */
#include "helpers.h"
#include "schema-fixture.h"

#include "unplug-disk.h"

static qmp_mock *new_mock(void)
{
    qmp_mock *m = qmp_mock_new();
    assert_non_null(m);
    assert_ok(qmp_mock_set_schema(m, g_schema));
    return m;
}

static void test_unplug_completes(void **state)
{
    (void)state;
    qmp_mock *m = new_mock();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    /* QEMU reports the virtio backend first (no "device"), then the device. */
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", "
                                    "\"data\": {\"path\": \"/machine/peripheral/disk0/virtio-backend\"}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", "
                                    "\"data\": {\"device\": \"disk0\", \"path\": \"/machine/peripheral/disk0\"}}"));
    qmp_client *c = connect_mock(m);
    assert_ok(unplug_disk(c, "disk0", wait_ms()));
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_unplug_refused(void **state)
{
    (void)state;
    qmp_mock *m = new_mock();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}",
                                  "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'disk0' not found\"}}"));
    qmp_client *c = connect_mock(m);
    assert_int_equal(unplug_disk(c, "disk0", wait_ms()), QMP_ECOMMAND);
    assert_string_equal(qmp_error_last()->qmp_class, "DeviceNotFound");
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_guest_never_releases(void **state)
{
    (void)state;
    qmp_mock *m = new_mock();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    assert_int_equal(unplug_disk(c, "disk0", 100), QMP_ETIMEDOUT);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

static void test_other_device_does_not_count(void **state)
{
    (void)state;
    qmp_mock *m = new_mock();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    assert_ok(qmp_mock_event_str(m, "{\"event\": \"DEVICE_DELETED\", "
                                    "\"data\": {\"device\": \"disk1\", \"path\": \"/machine/peripheral/disk1\"}}"));
    qmp_client *c = connect_mock(m);
    assert_int_equal(unplug_disk(c, "disk0", 100), QMP_ETIMEDOUT);
    assert_ok(qmp_mock_verify(m, wait_ms()));
    qmp_client_free(c);
    qmp_mock_free(m);
}

/* The function sends what the script says, so a wrong id is caught at once. */
static void test_wrong_device_is_a_mismatch(void **state)
{
    (void)state;
    qmp_mock *m = new_mock();
    assert_ok(qmp_mock_expect_str(m, "device_del", "{\"id\": \"disk0\"}", "{\"return\": {}}"));
    qmp_client *c = connect_mock(m);
    assert_int_equal(unplug_disk(c, "disk9", wait_ms()), QMP_ECOMMAND);
    assert_error(qmp_mock_verify(m, wait_ms()), QMP_EPROTO,
                 "qmp_mock: command 'device_del': expected arguments {\"id\":\"disk0\"}, got {\"id\":\"disk9\"}");
    qmp_client_free(c);
    qmp_mock_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unplug_completes),
        cmocka_unit_test(test_unplug_refused),
        cmocka_unit_test(test_guest_never_releases),
        cmocka_unit_test(test_other_device_does_not_count),
        cmocka_unit_test(test_wrong_device_is_a_mismatch),
    };
    return cmocka_run_group_tests(tests, schema_setup, schema_teardown);
}
