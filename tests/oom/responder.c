/* responder.c: the answering QMP server (see responder.h). */
#include "responder.h"
#include "robust.h" /* mini_write_all() */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <jansson.h>

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n";

struct responder {
    int fd;
    int listen_fd;   /* -1 on a socketpair */
    int connections; /* left to accept */
    const char *schema;
    pthread_t thread;
    int malformed;
};

/* Answers one command; -1 when the client has gone. */
static int answer(responder *r, const char *text, size_t len) {
    json_error_t err;
    json_t *cmd = json_loadb(text, len, 0, &err);
    const char *name = cmd ? json_string_value(json_object_get(cmd, "execute")) : NULL;
    if (!name && cmd) name = json_string_value(json_object_get(cmd, "exec-oob"));
    json_t *id = cmd ? json_object_get(cmd, "id") : NULL;
    if (!name || !id) {
        r->malformed++;
        json_decref(cmd);
        return 0;
    }
    char *id_text = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *ret = "{}";
    const char *error = NULL;
    if (!strcmp(name, "query-status")) ret = "{\"status\": \"running\", \"singlestep\": false, \"running\": true}";
    else if (!strcmp(name, "human-monitor-command")) ret = "\"ok\\r\\n\"";
    else if (!strcmp(name, "query-qmp-schema") && r->schema) ret = r->schema;
    else if (!strcmp(name, "add-fd")) ret = "{\"fdset-id\": 1, \"fd\": 42}";
    else if (!strcmp(name, "slow")) usleep(50 * 1000);
    else if (!strcmp(name, "no-such-command")) error = "{\"class\": \"CommandNotFound\", \"desc\": \"The command no-such-command has not been found\"}";
    size_t cap = strlen(ret) + 256;
    char *out = malloc(cap);
    int n = error ? snprintf(out, cap, "{\"id\": %s, \"error\": %s}\r\n", id_text, error)
                  : snprintf(out, cap, "{\"return\": %s, \"id\": %s}\r\n", ret, id_text);
    int rc = mini_write_all(r->fd, out, (size_t)n);
    if (rc == 0 && !strcmp(name, "stop")) {
        static const char stop[] =
            "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"STOP\"}\r\n"
            "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 2}, \"event\": \"JOB_STATUS_CHANGE\", "
            "\"data\": {\"status\": \"created\", \"id\": \"j0\"}}\r\n";
        rc = mini_write_all(r->fd, stop, sizeof stop - 1);
    }
    free(out);
    free(id_text);
    json_decref(cmd);
    return rc;
}

static void serve(responder *r);

static void *run(void *arg) {
    responder *r = arg;
    if (r->listen_fd < 0) {
        serve(r);
        return NULL;
    }
    for (; r->connections > 0; r->connections--) {
        r->fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (r->fd < 0) break;
        serve(r);
        close(r->fd);
        r->fd = -1;
    }
    return NULL;
}

/* One connection, until the client closes it. */
static void serve(responder *r) {
    size_t cap = 1 << 16, len = 0, scan = 0, start = 0;
    char *buf = malloc(cap);
    int depth = 0, in_str = 0, esc = 0;
    if (!buf || mini_write_all(r->fd, greeting, sizeof greeting - 1) < 0) goto out;
    for (;;) {
        if (len == cap) {
            char *b = realloc(buf, cap *= 2);
            if (!b) goto out;
            buf = b;
        }
        ssize_t n = recv(r->fd, buf + len, cap - len, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) goto out;
        len += (size_t)n;
        for (; scan < len; scan++) {
            char c = buf[scan];
            if (in_str) {
                if (esc) esc = 0;
                else if (c == '\\') esc = 1;
                else if (c == '"') in_str = 0;
            } else if (c == '"') {
                in_str = 1;
            } else if (c == '{' || c == '[') {
                if (depth++ == 0) start = scan;
            } else if ((c == '}' || c == ']') && depth > 0 && --depth == 0) {
                if (answer(r, buf + start, scan + 1 - start) < 0) goto out;
            }
        }
        if (depth == 0) {
            len = scan = 0;
        }
    }
out:
    free(buf);
}

responder *responder_new(int *client_fd, const char *schema_json) {
    responder *r = calloc(1, sizeof *r);
    int sv[2];
    if (!r || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) abort();
    r->fd = sv[1];
    r->listen_fd = -1;
    r->schema = schema_json;
    *client_fd = sv[0];
    if (pthread_create(&r->thread, NULL, run, r) != 0) abort();
    return r;
}

responder *responder_listen(const char *path, int connections, const char *schema_json) {
    responder *r = calloc(1, sizeof *r);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (!r || strlen(path) >= sizeof a.sun_path) abort();
    strcpy(a.sun_path, path);
    unlink(path);
    r->fd = -1;
    r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(r->listen_fd, 4) < 0)
        abort();
    r->connections = connections;
    r->schema = schema_json;
    if (pthread_create(&r->thread, NULL, run, r) != 0) abort();
    return r;
}

responder *responder_listen_tcp(int *port, int connections, const char *schema_json) {
    responder *r = calloc(1, sizeof *r);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (!r) abort();
    r->fd = -1;
    r->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->listen_fd < 0 || bind(r->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(r->listen_fd, 4) < 0 ||
        getsockname(r->listen_fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    *port = ntohs(a.sin_port);
    r->connections = connections;
    r->schema = schema_json;
    if (pthread_create(&r->thread, NULL, run, r) != 0) abort();
    return r;
}

int responder_finish(responder *r) {
    if (r->listen_fd >= 0) shutdown(r->listen_fd, SHUT_RDWR); /* an accept() still waiting returns */
    pthread_join(r->thread, NULL);
    if (r->listen_fd >= 0) close(r->listen_fd);
    if (r->fd >= 0) close(r->fd);
    int m = r->malformed;
    free(r);
    return m;
}
