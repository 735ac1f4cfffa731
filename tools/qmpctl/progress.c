#include "progress.h"

#include <string.h>
#include <unistd.h>

#include <glib.h>

#define BAR_WIDTH 24

void progress_init(progress *p, FILE *f)
{
    memset(p, 0, sizeof *p);
    p->f = f;
    p->tty = isatty(fileno(f));
    p->last_ms = -1;
    p->rate = -1;
}

/* 1536 -> "1.5 KiB" (IEC units, as QEMU's own sizes) */
static void human_bytes(char *buf, size_t n, double v)
{
    char *text = g_format_size_full(v > 0 ? (guint64)(v + 0.5) : 0, G_FORMAT_SIZE_IEC_UNITS);
    /*
     * GLib joins number and unit with a no-break space (U+00A0) in UTF-8,
     * whatever the locale: a plain space reads the same on any terminal
     * and in any log.
     */
    size_t o = 0;
    for (const char *t = text; *t && o + 1 < n; t++) {
        if ((unsigned char)t[0] == 0xc2 && (unsigned char)t[1] == 0xa0) {
            buf[o++] = ' ';
            t++;
        } else {
            buf[o++] = *t;
        }
    }
    if (n) buf[o] = '\0';
    g_free(text);
}

static void human_duration(char *buf, size_t n, double seconds)
{
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
}

static void render(const progress *p, char *line, size_t n, const char *label, const char *status,
                   double done, double total)
{
    char d[32], t[32], r[40] = "", eta[40] = "";
    human_bytes(d, sizeof d, done);
    if (total <= 0) {
        snprintf(line, n, "%s  %s  %s", label, status, d);
        return;
    }
    double frac = done / total;
    if (frac < 0) frac = 0;
    if (frac > 1) frac = 1;
    char bar[BAR_WIDTH + 1];
    int filled = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    human_bytes(t, sizeof t, total);
    if (p->rate > 0) {
        char rb[32], eb[32];
        human_bytes(rb, sizeof rb, p->rate);
        snprintf(r, sizeof r, "  %s/s", rb);
        human_duration(eb, sizeof eb, (total - done) / p->rate);
        snprintf(eta, sizeof eta, "  ETA %s", eb);
    }
    snprintf(line, n, "%s [%s] %5.1f%%  %s / %s%s%s  %s", label, bar, frac * 100, d, t, r, eta, status);
}

void progress_update(progress *p, long long now_ms, const char *label, const char *status,
                     double done, double total)
{
    if (p->last_ms >= 0 && now_ms > p->last_ms) {
        double inst = (done - p->last_done) * 1000.0 / (double)(now_ms - p->last_ms);
        if (inst >= 0) p->rate = p->rate < 0 ? inst : 0.7 * p->rate + 0.3 * inst;
    }
    p->last_ms = now_ms;
    p->last_done = done;

    char line[256];
    render(p, line, sizeof line, label, status, done, total);
    if (p->tty) {
        fprintf(p->f, "\r\33[K%s", line);
        p->drawn = 1;
    } else {
        /* Plain lines: only when the status or the whole percentage changed. */
        char key[256];
        snprintf(key, sizeof key, "%s %d", status, total > 0 ? (int)(done * 100 / total) : -1);
        if (strcmp(key, p->last_line) == 0) return;
        snprintf(p->last_line, sizeof p->last_line, "%s", key);
        fprintf(p->f, "%s\n", line);
    }
    fflush(p->f);
}

void progress_finish(progress *p, const char *text)
{
    if (p->drawn) fputs("\r\33[K", p->f);
    fprintf(p->f, "%s\n", text);
    fflush(p->f);
    p->drawn = 0;
}
