/*
 * The two ends of the `qmpctl record` test (test-qmpctl.py, case record):
 *
 *   record-peer client PATH         a small toolstack conversation over the
 *                                   QMP socket PATH; prints one line per
 *                                   step: NAME TAB STATUS TAB JSON
 *   record-peer serve REPLIES PATH  the test server, loaded with REPLIES,
 *                                   accepting one client at PATH; exits 0
 *                                   when qmp_mock_verify() says the client
 *                                   went through the script, else 1
 *
 * The conversation: the version, the status, an error reply, stop and cont
 * with their events, getfd with an fd and closefd of it (twice: the second
 * fails when the first closed QEMU's copy), add-fd and query-fdsets.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qmp/qmp.h>
#include <qmp/qmp-mock.h>

static void step(const char *name, int rc, const char *json)
{
    printf("%s\t%d\t%s\n", name, rc, json ? json : "null");
    fflush(stdout);
}

static void exec_step(qmp_client *c, const char *name, const char *command)
{
    char *result = NULL;
    int rc = qmp_client_execute_str(c, command, &result);
    step(name, rc, result);
    qmp_free(result);
}

static void event_step(qmp_client *c, const char *name, const char *command, const char *event)
{
    unsigned long long seq = qmp_client_event_seq(c);
    exec_step(c, name, command);
    char *ev = NULL;
    int rc = qmp_client_wait_event_str(c, event, NULL, seq, 5000, &ev);
    step(event, rc, ev);
    qmp_free(ev);
}

static int client(const char *path)
{
    qmp_client *c = qmp_client_new();
    if (!c || qmp_client_connect_unix(c, path, 10000) < 0) {
        fprintf(stderr, "record-peer: connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    exec_step(c, "query-version", "{\"execute\": \"query-version\"}");
    exec_step(c, "query-status", "{\"execute\": \"query-status\"}");
    exec_step(c, "device_del", "{\"execute\": \"device_del\", \"arguments\": {\"id\": \"nosuchdisk\"}}");
    event_step(c, "stop", "{\"execute\": \"stop\"}", "STOP");
    exec_step(c, "query-status", "{\"execute\": \"query-status\"}");
    event_step(c, "cont", "{\"execute\": \"cont\"}", "RESUME");
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("pipe2");
        qmp_client_free(c);
        return 1;
    }
    step("getfd", qmp_client_getfd(c, p[1], "recfd"), NULL);
    step("closefd", qmp_client_closefd(c, "recfd"), NULL);
    exec_step(c, "closefd-again", "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"recfd\"}}");
    long long set_id = -1, qemu_fd = -1;
    char ids[64];
    int rc = qmp_client_add_fd(c, p[0], -1, "recorded", &set_id, &qemu_fd);
    snprintf(ids, sizeof ids, "[%lld, %lld]", set_id, qemu_fd);
    step("add-fd", rc, ids);
    exec_step(c, "query-fdsets", "{\"execute\": \"query-fdsets\"}");
    close(p[0]);
    close(p[1]);
    qmp_client_free(c);
    return 0;
}

static int serve(const char *replies, const char *path)
{
    qmp_mock *m = qmp_mock_new();
    int rc = 1;
    if (!m) return 1;
    if (qmp_mock_load_replies(m, replies) < 0 || qmp_mock_listen_unix(m, path) < 0) {
        fprintf(stderr, "record-peer: %s\n", qmp_error_last()->message);
    } else if (qmp_mock_verify(m, 30000) < 0) {
        fprintf(stderr, "record-peer: verify: %s\n", qmp_error_last()->message);
    } else {
        rc = 0;
    }
    qmp_mock_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "client")) return client(argv[2]);
    if (argc == 4 && !strcmp(argv[1], "serve")) return serve(argv[2], argv[3]);
    fprintf(stderr, "usage: record-peer client PATH | record-peer serve REPLIES PATH\n");
    return 2;
}
