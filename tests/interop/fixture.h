/* What every interop test case shares: one server and the client connected to it. */
#ifndef LIBQMP_TEST_FIXTURE_H
#define LIBQMP_TEST_FIXTURE_H

#include "qemu.h"

typedef struct fixture {
    qemu_proc q;
    qmp_client *c;      /* freed by the teardown when set */
} fixture;

/* CMocka setup/teardown: a server of that kind per test case (not connected). */
int fixture_setup_system(void **state);
int fixture_setup_storage_daemon(void **state);
int fixture_teardown(void **state);

/* Connects f->c (oob: negotiate "oob"). */
void fixture_connect(fixture *f, int oob);

/*
 * Runs command (stolen), asserts success and returns the "return" value
 * (a new reference).
 */
json_t *exec_ok(qmp_client *c, json_t *command);

/* Runs command (stolen), asserts QMP_ECOMMAND with this error class. */
void exec_fails_with(qmp_client *c, json_t *command, const char *qmp_class);

#endif /* LIBQMP_TEST_FIXTURE_H */
