#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int setup(void **state, qemu_kind kind, const char *const *extra_args)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    if (qemu_start(&f->q, kind, extra_args) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int fixture_setup_system(void **state)
{
    return setup(state, QEMU_SYSTEM, NULL);
}

int fixture_setup_storage_daemon(void **state)
{
    static const char *const args[] = {
        "--blockdev", "null-co,node-name=null0,size=67108864", NULL
    };
    return setup(state, QEMU_STORAGE_DAEMON, args);
}

int fixture_teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    qmp_client_free(f->c);
    qemu_stop(&f->q);
    free(f);
    *state = NULL;
    return 0;
}

void fixture_connect(fixture *f, int oob)
{
    f->c = qemu_connect(&f->q, oob);
}

json_t *exec_ok(qmp_client *c, json_t *command)
{
    assert_non_null(command);
    json_t *ret = NULL;
    int rc = qmp_client_execute(c, command, &ret);
    if (rc != QMP_OK)
        fail_msg("execute: %d (%s)", rc, qmp_error_last()->message);
    assert_non_null(ret);
    return ret;
}

void exec_fails_with(qmp_client *c, json_t *command, const char *qmp_class)
{
    assert_non_null(command);
    json_t *err = NULL;
    int rc = qmp_client_execute(c, command, &err);
    assert_int_equal(rc, QMP_ECOMMAND);
    const qmp_error *e = qmp_error_last();
    assert_int_equal(e->code, QMP_ECOMMAND);
    assert_non_null(e->qmp_class);
    assert_string_equal(e->qmp_class, qmp_class);
    assert_non_null(e->qmp_desc);
    assert_non_null(err);
    assert_true(json_is_object(err));
    assert_string_equal(json_string_value(json_object_get(err, "class")), qmp_class);
    assert_string_equal(json_string_value(json_object_get(err, "desc")), e->qmp_desc);
    json_decref(err);
}
