/*
 * unplug-disk.h: a toolstack function, and the one the test server's
 * example test (tests/mock/test-unplug.c) tests without QEMU.
 */
#ifndef UNPLUG_DISK_H
#define UNPLUG_DISK_H

#include <qmp/qmp.h>

/*
 * Hot-unplugs the device `id` and waits up to timeout_ms for QEMU to report
 * it gone (DEVICE_DELETED with "device": id; the guest must release it
 * first).  0 when it is gone; QMP_ECOMMAND when QEMU refused (details in
 * qmp_error_last()); QMP_ETIMEDOUT when the guest did not let go in time;
 * another negative status when the connection failed.
 */
static inline int unplug_disk(qmp_client *c, const char *id, int timeout_ms)
{
    /* Take the sequence number before sending: the event may come at once. */
    unsigned long long seq = qmp_client_event_seq(c);
    int rc = qmp_client_execute(c, qmp_command_new("device_del", "s:id", id, NULL), NULL);
    if (rc < 0)
        return rc;
    json_t *match = json_pack("{s:s}", "device", id);
    if (!match)
        return QMP_ENOMEM;
    rc = qmp_client_wait_event(c, "DEVICE_DELETED", match, seq, timeout_ms, NULL);
    json_decref(match);
    return rc;
}

#endif
