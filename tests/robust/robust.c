#include "robust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* As qemu-system-x86_64 7.2 sends it (tests/data/qemu-7.2/greeting.json), without oob. */
static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": []}}\r\n";

int robust_under_valgrind(void) {
    const char *v = getenv("LIBQMP_TEST_VALGRIND");
    return v && strcmp(v, "1") == 0;
}

int robust_under_asan(void) {
#if defined(__SANITIZE_ADDRESS__)
    return 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return 1;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

long robust_scale(long n, long divisor) {
    if (!robust_under_valgrind()) return n;
    long m = n / divisor;
    return m > 0 ? m : 1;
}

int robust_fd_count(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static long status_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            v = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

long robust_rss_kib(void) { return status_kib("VmRSS"); }
long robust_hwm_kib(void) { return status_kib("VmHWM"); }

int robust_reset_hwm(void) {
    int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = write(fd, "5", 1) == 1 ? 0 : -1;
    close(fd);
    return rc;
}

int mini_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void on_connected(qmp_client *c, int status, void *user_data) {
    (void)c;
    *(int *)user_data = status;
}

/* Runs qmp_client_process() until *done is set (or 10 s pass). */
static void process_until(qmp_client *c, const int *done) {
    for (int i = 0; i < 10000 && *done == 1; i++) {
        int fd = qmp_client_get_fd(c);
        if (fd < 0) {
            qmp_client_process(c, 0);
            continue;
        }
        int want = qmp_client_get_events(c);
        struct pollfd p = {fd, (short)(((want & QMP_POLL_IN) ? POLLIN : 0) | ((want & QMP_POLL_OUT) ? POLLOUT : 0)), 0};
        int t = qmp_client_get_timeout_ms(c);
        if (poll(&p, 1, t < 0 || t > 1 ? 1 : t) < 0 && errno != EINTR) return;
        int rev = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) rev |= QMP_POLL_IN;
        if (p.revents & POLLOUT) rev |= QMP_POLL_OUT;
        qmp_client_process(c, rev);
    }
}

int robust_connect_pair(qmp_client *c, int *server_fd) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        perror("socketpair");
        abort();
    }
    *server_fd = sv[1];
    if (mini_write_all(sv[1], greeting, sizeof greeting - 1) < 0) abort();
    int status = 1;
    int rc = qmp_client_connect_fd_async(c, sv[0], 10000, on_connected, &status, NULL);
    if (rc < 0) return rc;
    /* The client reads the greeting and sends qmp_capabilities... */
    int sent = 0;
    char msg[512], id[32];
    for (int i = 0; i < 10000 && status == 1 && !sent; i++) {
        qmp_client_process(c, QMP_POLL_IN | QMP_POLL_OUT);
        struct pollfd p = {sv[1], POLLIN, 0};
        if (poll(&p, 1, 1) > 0) sent = 1;
    }
    /* ...which the test answers with the command's id. */
    if (sent && mini_read_message(sv[1], msg, sizeof msg, 10000) > 0 && mini_command_id(msg, id, sizeof id) == 0) {
        char reply[96];
        int n = snprintf(reply, sizeof reply, "{\"return\": {}, \"id\": %s}\r\n", id);
        mini_write_all(sv[1], reply, (size_t)n);
    }
    process_until(c, &status);
    return status;
}

int robust_answer_handshake(int fd) {
    char msg[512], id[32];
    if (mini_write_all(fd, greeting, sizeof greeting - 1) < 0) return -1;
    if (mini_read_message(fd, msg, sizeof msg, 30000) < 0 || !strstr(msg, "qmp_capabilities") ||
        mini_command_id(msg, id, sizeof id) < 0)
        return -1;
    char reply[96];
    int n = snprintf(reply, sizeof reply, "{\"return\": {}, \"id\": %s}\r\n", id);
    return mini_write_all(fd, reply, (size_t)n);
}

long mini_read_message(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t len = 0;
    int depth = 0, in_str = 0, esc = 0, started = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        char c;
        ssize_t n = recv(fd, &c, 1, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        if (!started && (c == ' ' || c == '\r' || c == '\n' || c == '\t')) continue;
        if (len + 1 >= cap) return -1;
        buf[len++] = c;
        started = 1;
        if (in_str) {
            if (esc) esc = 0;
            else if (c == '\\') esc = 1;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                buf[len] = '\0';
                return (long)len;
            }
        }
    }
}

int mini_command_id(const char *msg, char *out, size_t cap) {
    const char *k = strstr(msg, "\"id\":");
    if (!k) return -1;
    k += 5;
    while (*k == ' ') k++;
    size_t n = strspn(k, "0123456789");
    if (n == 0 || n + 1 > cap) return -1;
    memcpy(out, k, n);
    out[n] = '\0';
    return 0;
}

struct mini_server {
    pthread_t thread;
    int fd;
    mini_then_fn then;
    void *arg;
};

static void *mini_main(void *arg) {
    mini_server *s = arg;
    if (robust_answer_handshake(s->fd) == 0 && s->then) s->then(s->fd, s->arg);
    close(s->fd);
    return NULL;
}

mini_server *mini_server_pair(int *client_fd, mini_then_fn then, void *arg) {
    mini_server *s = calloc(1, sizeof *s);
    int sv[2];
    if (!s || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) abort();
    s->fd = sv[1];
    s->then = then;
    s->arg = arg;
    *client_fd = sv[0];
    if (pthread_create(&s->thread, NULL, mini_main, s) != 0) abort();
    return s;
}

void mini_server_join(mini_server *s) {
    pthread_join(s->thread, NULL);
    free(s);
}
