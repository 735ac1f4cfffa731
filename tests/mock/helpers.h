/*
 * helpers.h: shared by the test server's tests (CMocka, public API only).
 */
#ifndef QMP_TEST_MOCK_HELPERS_H
#define QMP_TEST_MOCK_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

/* How long a test waits for the server or the client (longer under valgrind). */
static inline int wait_ms(void)
{
    const char *v = getenv("LIBQMP_TEST_VALGRIND");
    return v && strcmp(v, "1") == 0 ? 60000 : 5000;
}

/* Fails the test with qmp_error_last()'s message unless rc == 0. */
#define assert_ok(rc) assert_ok_at((rc), #rc, __FILE__, __LINE__)
static inline void assert_ok_at(int rc, const char *what, const char *file, int line)
{
    if (rc != 0)
        fail_msg("%s:%d: %s = %d: %s", file, line, what, rc, qmp_error_last()->message);
}

/* Asserts rc is code and qmp_error_last()'s message is message. */
#define assert_error(rc, code, message) assert_error_at((rc), (code), (message), __FILE__, __LINE__)
static inline void assert_error_at(int rc, int code, const char *message, const char *file, int line)
{
    if (rc != code || qmp_error_last()->code != code || strcmp(qmp_error_last()->message, message) != 0)
        fail_msg("%s:%d: got %d \"%s\"\n  expected %d \"%s\"", file, line, rc, qmp_error_last()->message, code,
                 message);
}

/* A client connected to m through a socketpair. */
static inline qmp_client *connect_mock(qmp_mock *m)
{
    int fd = qmp_mock_socketpair(m);
    assert_true(fd >= 0);
    qmp_client *c = qmp_client_new();
    assert_non_null(c);
    assert_ok(qmp_client_connect_fd(c, fd, wait_ms()));
    return c;
}

/* Runs command_json on c; returns the reply text (free()) or NULL, with the status in *rc. */
static inline char *run(qmp_client *c, const char *command_json, int *rc)
{
    char *out = NULL;
    *rc = qmp_client_execute_str(c, command_json, &out);
    return out;
}

/* The number of entries in a /proc/self directory (fds or threads). */
static inline int count_entries(const char *dir);

#include <dirent.h>
#include <time.h>
static inline int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - (strcmp(dir, "/proc/self/fd") == 0 ? 1 : 0); /* the DIR's own fd */
}

/* The threads of this process, waiting up to a second for the count to come
   down to want: a joined thread can still be listed for a moment
   (pthread_join() returns once the thread has left its memory, before the
   kernel has taken its task away). */
static inline int count_tasks_down_to(int want)
{
    int n;
    for (int i = 0; (n = count_entries("/proc/self/task")) > want && i < 1000; i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return n;
}

#endif
