/*
 * libvirt-calls.h: commands built the way libvirt builds them, for the tests
 * that check libqmp against them (the builder's bytes in test-builder.c, the
 * schema's verdict in test-schema.c).  One definition, so both check the
 * same call.
 */
#ifndef LIBQMP_TEST_LIBVIRT_CALLS_H
#define LIBQMP_TEST_LIBVIRT_CALLS_H

#include <qmp/qmp.h>

/* The arguments and codes of libvirt's qemuMonitorJSONDriveMirror, with
 * libvirt's C types for them. */
static inline json_t *libvirt_drive_mirror(const char *device, const char *file, const char *format,
                                           unsigned long long speed, unsigned int granularity,
                                           unsigned long long buf_size, int shallow, int reuse)
{
    return qmp_command_new("drive-mirror",
                           "s:device", device,
                           "s:target", file,
                           "Y:speed", speed,
                           "z:granularity", granularity,
                           "P:buf-size", buf_size,
                           "s:sync", shallow ? "top" : "full",
                           "s:mode", reuse ? "existing" : "absolute-paths",
                           "S:format", format,
                           NULL);
}

#endif
