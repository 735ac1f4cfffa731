/*
 * qmpctl record: a man in the middle between a program and QEMU.  It
 * listens on a socket of its own, connects to QEMU's, forwards the bytes
 * both ways as they are (with the fds that come with them, SCM_RIGHTS), and
 * writes the conversation as a libvirt .replies file: JSON values
 * pretty-printed, separated by blank lines, each command followed by its
 * response, the events where they came.  The greeting is left out (a
 * .replies file holds none); the ids become "libvirt-N", N counting the
 * commands.  A command still unanswered at the end is left out, so that
 * the file always loads (qmp_mock_load_replies()).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "connect.h"
#include "exitcode.h"
#include "qmpctl.h"
#include "record-json.h"
#include "signals.h"

/* The most fds one message may carry (the kernel's SCM_MAX_FD). */
#define MAX_FDS 253

/* A command forwarded to QEMU and not answered yet. */
typedef struct pending {
    GString *text;   /* pretty-printed, with its libvirt-N id */
    GString *id;     /* the id the program gave it, as JSON text ("" when none) */
    char *name;
    struct pending *next;
} pending;

typedef struct recorder {
    FILE *out;
    const char *out_path;
    int write_failed;
    int values;          /* written so far */
    int n_commands;      /* the commands seen: N of libvirt-N */
    int greeted;         /* QEMU's greeting went by */
    pending *head, *tail;
    GString *held;       /* what came after the oldest pending command: written with its response */
} recorder;

static void put_value(recorder *r, GString *where, const GString *value)
{
    if (where) {
        g_string_append(where, "\n\n");
        g_string_append_len(where, value->str, (gssize)value->len);
        return;
    }
    if (r->values++ > 0) fputs("\n\n", r->out);
    fwrite(value->str, 1, value->len, r->out);
    if (fflush(r->out) != 0 || ferror(r->out)) r->write_failed = 1;
}

/* The raw id text of a message, "" when it has none. */
static void id_of(const json_message *msg, GString *id)
{
    const json_member *m = json_message_get(msg, "id");
    g_string_truncate(id, 0);
    if (m) g_string_append_len(id, msg->text + m->value, (gssize)m->value_len);
}

static char *name_of(const json_message *msg, const json_member *m)
{
    return g_strndup(msg->text + m->value, m->value_len);
}

/* A command from the program: written now when none is waiting for its response, else queued. */
static void on_command(recorder *r, const json_message *msg, const json_member *name)
{
    pending *p = g_new0(pending, 1);
    p->text = g_string_new(NULL);
    p->id = g_string_new(NULL);
    p->name = name_of(msg, name);
    id_of(msg, p->id);
    char id[32];
    snprintf(id, sizeof id, "libvirt-%d", ++r->n_commands);
    json_message_pretty(msg, id, p->text);
    if (r->tail) {
        r->tail->next = p;
    } else {
        r->head = p;
        g_string_truncate(r->held, 0);
    }
    r->tail = p;
}

static void pending_free(pending *p)
{
    g_string_free(p->text, TRUE);
    g_string_free(p->id, TRUE);
    g_free(p->name);
    g_free(p);
}

/* The response's libvirt-N: the one in its command's pretty text. */
static void libvirt_id_of(const pending *p, char *id, size_t size)
{
    const char *at = strstr(p->text->str, "\"libvirt-");
    id[0] = '\0';
    if (at) snprintf(id, size, "%.*s", (int)strcspn(at + 1, "\""), at + 1);
}

static void on_response(recorder *r, const json_message *msg)
{
    GString *id = g_string_new(NULL);
    id_of(msg, id);
    /* Usually the oldest command's; an out-of-band command may be answered before older ones. */
    pending *p = r->head, *before = NULL;
    while (p && !g_string_equal(p->id, id)) {
        before = p;
        p = p->next;
    }
    g_string_free(id, TRUE);
    if (!p) {
        /* QEMU's answer to something that was no command (e.g. not JSON). */
        warn_msg("record: a response to no command the program sent: not recorded");
        return;
    }
    char libvirt_id[32];
    libvirt_id_of(p, libvirt_id, sizeof libvirt_id);
    GString *text = g_string_new(NULL);
    json_message_pretty(msg, libvirt_id, text);
    put_value(r, NULL, p->text);
    if (p == r->head && r->held->len) {
        /* The events that came between the command and its response (each starts with "\n\n"). */
        if (r->values > 0) fputs(r->held->str, r->out);
        else fputs(r->held->str + 2, r->out);
        r->values++;
        g_string_truncate(r->held, 0);
    }
    put_value(r, NULL, text);
    g_string_free(text, TRUE);
    if (before) before->next = p->next;
    else r->head = p->next;
    if (r->tail == p) r->tail = before;
    pending_free(p);
}

static void on_event(recorder *r, const json_message *msg)
{
    GString *text = g_string_new(NULL);
    json_message_pretty(msg, NULL, text);
    put_value(r, r->head ? r->held : NULL, text);
    g_string_free(text, TRUE);
}

/* From the program: commands are recorded. */
static void from_program(const char *text, size_t len, void *user)
{
    recorder *r = user;
    json_message msg;
    json_message_scan(&msg, text, len);
    const json_member *name = msg.n >= 0 ? json_message_get(&msg, "execute") : NULL;
    if (!name && msg.n >= 0) name = json_message_get(&msg, "exec-oob");
    if (!name || msg.text[name->value] != '"') {
        warn_msg("record: the program sent something that is not a command: not recorded");
        return;
    }
    on_command(r, &msg, name);
}

/* From QEMU: the greeting is skipped, responses follow their commands, events go where they came. */
static void from_qemu(const char *text, size_t len, void *user)
{
    recorder *r = user;
    json_message msg;
    json_message_scan(&msg, text, len);
    if (msg.n < 0) {
        warn_msg("record: QEMU sent something that is not a JSON object: not recorded");
        return;
    }
    if (!r->greeted && json_message_get(&msg, "QMP")) {
        r->greeted = 1;
        return;
    }
    if (json_message_get(&msg, "event"))
        on_event(r, &msg);
    else if (json_message_get(&msg, "return") || json_message_get(&msg, "error"))
        on_response(r, &msg);
    else
        warn_msg("record: QEMU sent neither a response nor an event: not recorded");
}

/* The end: the events held are written; a command never answered is not. */
static void recorder_finish(recorder *r)
{
    for (pending *p = r->head; p; p = p->next)
        warn_msg("record: the command %s got no response: not recorded", p->name);
    if (r->head) {
        if (r->held->len) {
            /* Without the command, the events follow the last value written. */
            fputs(r->values > 0 ? r->held->str : r->held->str + 2, r->out);
            r->values++;
        }
    }
    while (r->head) {
        pending *p = r->head;
        r->head = p->next;
        pending_free(p);
    }
    r->tail = NULL;
    if (r->values > 0) fputc('\n', r->out);
    if (fflush(r->out) != 0 || ferror(r->out)) r->write_failed = 1;
}

/* --- sockets ----------------------------------------------------------------------- */

static int unix_address(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a->sun_path, path);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Connects to QEMU's socket, waiting up to timeout_ms for it to appear. */
static int connect_qemu(const char *path, int timeout_ms)
{
    struct sockaddr_un a;
    if (unix_address(path, &a) < 0) return -1;
    long long end = now_ms() + timeout_ms;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        int e = errno;
        close(fd);
        errno = e;
        if ((e != ENOENT && e != ECONNREFUSED) || now_ms() >= end) return -1;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
}

static int listen_at(const char *path)
{
    struct sockaddr_un a;
    if (unix_address(path, &a) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void close_fds(int *fds, int n)
{
    for (int k = 0; k < n; k++) close(fds[k]);
}

/*
 * Moves what can be read from `from` to `to`, fds included; feeds the bytes
 * to the splitter.  Returns 1 when from has closed (or failed), 0 else, -1
 * when `to` cannot take it.
 */
static int forward(int from, int to, json_splitter *sp, void (*done)(const char *, size_t, void *), recorder *r)
{
    char buf[65536];
    union {
        char space[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.space;
    mh.msg_controllen = sizeof control.space;
    ssize_t n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
    int fds[MAX_FDS];
    int n_fds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        if (k > MAX_FDS - n_fds) k = MAX_FDS - n_fds;
        memcpy(fds + n_fds, CMSG_DATA(c), (size_t)k * sizeof(int));
        n_fds += k;
    }
    if (n <= 0) {
        close_fds(fds, n_fds);
        return 1;
    }
    if (mh.msg_flags & MSG_CTRUNC) warn_msg("record: more fds than can be passed on arrived: some were dropped");
    /* The fds go with the first bytes, as they came. */
    size_t sent = 0;
    while (sent < (size_t)n) {
        struct iovec out_iov = {buf + sent, (size_t)n - sent};
        struct msghdr out;
        memset(&out, 0, sizeof out);
        out.msg_iov = &out_iov;
        out.msg_iovlen = 1;
        if (sent == 0 && n_fds > 0) {
            out.msg_control = control.space;
            out.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n_fds);
            memset(control.space, 0, out.msg_controllen);
            struct cmsghdr *c = CMSG_FIRSTHDR(&out);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n_fds);
            memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n_fds);
        }
        ssize_t k = sendmsg(to, &out, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            close_fds(fds, n_fds);
            return -1;
        }
        sent += (size_t)k;
    }
    close_fds(fds, n_fds);
    json_splitter_feed(sp, buf, (size_t)n, done, r);
    return 0;
}

/* Waits for the program to connect; -1 on a signal or when the time is up (*why says which). */
static int accept_program(int lfd, int sig_fd, int timeout_ms, int *why)
{
    long long end = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        struct pollfd p[2] = {{lfd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
        int t = end < 0 ? -1 : (int)(end - now_ms());
        if (end >= 0 && t <= 0) {
            *why = EXIT_TIMEOUT;
            return -1;
        }
        if (poll(p, 2, t) < 0 && errno != EINTR) {
            *why = EXIT_CONN;
            return -1;
        }
        if (p[1].revents) {
            *why = EXIT_OK;
            return -1;
        }
        if (p[0].revents) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) return fd;
            if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
                *why = EXIT_CONN;
                return -1;
            }
        }
    }
}

/* One of the signals that end the recording (SIGPIPE does not). */
static int stop_signal(int sig_fd)
{
    unsigned char b;
    int stop = 0;
    while (read(sig_fd, &b, 1) == 1)
        if (b != SIGPIPE) stop = 1;
    return stop;
}

int cmd_record(qmpctl *q)
{
    const cli *o = q->opt;
    const char *qemu_path = o->socket ? o->socket : getenv("QMP_SOCKET");
    if (!qemu_path || !*qemu_path) {
        warn_msg("no QMP server: give -s PATH or set QMP_SOCKET");
        return EXIT_USAGE;
    }
    int sig_pipe[2];
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        warn_msg("record: pipe: %s", strerror(errno));
        return EXIT_CONN;
    }
    signals_defer_to(sig_pipe[1]);
    int rc = EXIT_OK, qfd = -1, lfd = -1, pfd = -1;
    char *listen_path = o->listen ? g_strdup(o->listen) : NULL;
    FILE *out = NULL;
    recorder r;
    memset(&r, 0, sizeof r);
    r.held = g_string_new(NULL);
    json_splitter from_p, from_q;
    json_splitter_init(&from_p);
    json_splitter_init(&from_q);

    int timeout = o->timeout_ms >= 0 ? o->timeout_ms : CONNECT_TIMEOUT_MS;
    if (o->verbose) fprintf(stderr, "qmpctl: connecting to %s\n", qemu_path);
    qfd = connect_qemu(qemu_path, timeout);
    if (qfd < 0) {
        warn_msg("cannot connect to %s: %s", qemu_path, strerror(errno));
        rc = EXIT_CONN;
        goto done;
    }
    out = fopen(o->output, "w");
    if (!out) {
        warn_msg("record: cannot write %s: %s", o->output, strerror(errno));
        rc = EXIT_USAGE;
        goto done;
    }
    r.out = out;
    r.out_path = o->output;
    if (!listen_path) {
        const char *tmp = getenv("TMPDIR");
        listen_path = g_strdup_printf("%s/qmpctl-record.%ld.sock", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    }
    lfd = listen_at(listen_path);
    if (lfd < 0) {
        warn_msg("record: cannot listen on %s: %s", listen_path, strerror(errno));
        g_free(listen_path);
        listen_path = NULL; /* not ours to remove */
        rc = EXIT_CONN;
        goto done;
    }
    if (!o->listen) {
        printf("%s\n", listen_path);
        fflush(stdout);
    }
    if (o->verbose) fprintf(stderr, "qmpctl: recording to %s; listening on %s\n", o->output, listen_path);
    int why = EXIT_OK;
    pfd = accept_program(lfd, sig_pipe[0], o->timeout_ms, &why);
    /* One program: the socket goes as soon as it is connected. */
    close(lfd);
    lfd = -1;
    unlink(listen_path);
    if (pfd < 0) {
        if (why == EXIT_TIMEOUT) warn_msg("record: no program connected to %s in time", listen_path);
        else if (why == EXIT_CONN) warn_msg("record: accept: %s", strerror(errno));
        rc = why;
        goto done;
    }
    if (o->verbose) fprintf(stderr, "qmpctl: a program connected\n");
    for (;;) {
        struct pollfd p[3] = {{pfd, POLLIN, 0}, {qfd, POLLIN, 0}, {sig_pipe[0], POLLIN, 0}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR) continue;
            warn_msg("record: poll: %s", strerror(errno));
            rc = EXIT_CONN;
            break;
        }
        if (p[2].revents && stop_signal(sig_pipe[0])) break;
        /* QEMU's bytes first: a response before the program's next command. */
        if (p[1].revents) {
            int k = forward(qfd, pfd, &from_q, from_qemu, &r);
            if (k != 0) {
                if (o->verbose) fprintf(stderr, "qmpctl: %s\n", k > 0 ? "QEMU closed the connection" : "the program left");
                break;
            }
        }
        if (p[0].revents) {
            int k = forward(pfd, qfd, &from_p, from_program, &r);
            if (k > 0) {
                if (o->verbose) fprintf(stderr, "qmpctl: the program closed the connection\n");
                break;
            }
            if (k < 0) {
                if (o->verbose) fprintf(stderr, "qmpctl: QEMU closed the connection\n");
                break;
            }
        }
    }
    recorder_finish(&r);

done:
    signals_defer_to(-1);
    if (pfd >= 0) close(pfd);
    if (qfd >= 0) close(qfd);
    if (lfd >= 0) {
        close(lfd);
        unlink(listen_path);
    }
    if (out && fclose(out) != 0) r.write_failed = 1;
    if (r.write_failed) {
        warn_msg("record: cannot write %s", o->output);
        if (rc == EXIT_OK) rc = EXIT_CONN;
    }
    g_string_free(r.held, TRUE);
    json_splitter_clear(&from_p);
    json_splitter_clear(&from_q);
    g_free(listen_path);
    close(sig_pipe[0]);
    close(sig_pipe[1]);
    return rc;
}
