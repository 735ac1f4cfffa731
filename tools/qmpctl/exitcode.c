#include "exitcode.h"

#include <stdarg.h>
#include <stdio.h>

#include <qmp/qmp.h>

int exit_code_for(int qmp_status)
{
    switch (qmp_status) {
    case QMP_OK:        return EXIT_OK;
    case QMP_ECOMMAND:  return EXIT_QMP;
    case QMP_ETIMEDOUT: return EXIT_TIMEOUT;
    case QMP_EINVAL:    return EXIT_USAGE;
    default:            return EXIT_CONN;
    }
}

int report_qmp_error(const char *what)
{
    const qmp_error *e = qmp_error_last();
    if (e->code == QMP_ECOMMAND)
        fprintf(stderr, "%s: %s\n", e->qmp_class ? e->qmp_class : "GenericError",
                e->qmp_desc ? e->qmp_desc : "");
    else if (what)
        fprintf(stderr, "qmpctl: %s: %s\n", what, e->message);
    else
        fprintf(stderr, "qmpctl: %s\n", e->message);
    return exit_code_for(e->code);
}

void warn_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("qmpctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
