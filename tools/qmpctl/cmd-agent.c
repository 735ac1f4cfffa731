/*
 * The guest agent subcommands (--agent SOCKET): run -- ARGV, cat PATH,
 * copy-in LOCAL GUEST-PATH, copy-out GUEST-PATH LOCAL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "qmpctl.h"

/* qmpctl run -- ARGV: the program's stdout and stderr are qmpctl's; so is its exit status (128+N for signal N). */
int cmd_run(qmpctl *q)
{
    const cli *o = q->opt;
    const char **argv = calloc((size_t)o->n_qemu_args + 1, sizeof *argv);
    if (!argv) return report_qmp_error("run");
    for (int i = 0; i < o->n_qemu_args; i++) argv[i] = o->qemu_args[i];
    qmp_agent_exec_result r;
    int rc = qmp_agent_exec(q->client, argv, NULL, NULL, 0, o->timeout_ms >= 0 ? (o->timeout_ms ? o->timeout_ms : 1) : -1, &r);
    free(argv);
    if (rc < 0) {
        qmp_agent_exec_result_clear(&r);
        return report_qmp_error("run");
    }
    fwrite(r.out, 1, r.out_len, stdout);
    fwrite(r.err, 1, r.err_len, stderr);
    fflush(stdout);
    if (r.out_truncated) warn_msg("run: the guest agent kept only the first %zu bytes of stdout", r.out_len);
    if (r.err_truncated) warn_msg("run: the guest agent kept only the first %zu bytes of stderr", r.err_len);
    int status = r.signal ? 128 + r.signal : r.exit_code & 0xff;
    qmp_agent_exec_result_clear(&r);
    return status;
}

/* qmpctl cat GUEST-PATH */
int cmd_cat(qmpctl *q)
{
    void *data = NULL;
    size_t len = 0;
    if (qmp_agent_file_read(q->client, q->opt->words[0], 0, &data, &len) < 0) return report_qmp_error("cat");
    fwrite(data, 1, len, stdout);
    qmp_free(data);
    return EXIT_OK;
}

/* The whole of a local file; NULL after a report. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        warn_msg("copy-in: %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        warn_msg("copy-in: cannot read %s", path);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* qmpctl copy-in LOCAL GUEST-PATH */
int cmd_copy_in(qmpctl *q)
{
    size_t len = 0;
    char *data = slurp(q->opt->words[0], &len);
    if (!data) return EXIT_FAILED;
    int rc = qmp_agent_file_write(q->client, q->opt->words[1], data, len);
    free(data);
    return rc < 0 ? report_qmp_error("copy-in") : EXIT_OK;
}

/* qmpctl copy-out GUEST-PATH LOCAL */
int cmd_copy_out(qmpctl *q)
{
    void *data = NULL;
    size_t len = 0;
    if (qmp_agent_file_read(q->client, q->opt->words[0], 0, &data, &len) < 0) return report_qmp_error("copy-out");
    FILE *f = fopen(q->opt->words[1], "wb");
    int ok = f && fwrite(data, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    qmp_free(data);
    if (!ok) {
        warn_msg("copy-out: cannot write %s: %s", q->opt->words[1], strerror(errno));
        return EXIT_FAILED;
    }
    return EXIT_OK;
}
