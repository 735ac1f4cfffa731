#include "watch.h"

#include "exitcode.h"
#include "loop.h"

double watch_number(const json_t *obj, const char *key)
{
    unsigned long long v;
    const json_t *m = json_object_get(obj, key);
    if (m && qmp_json_get_uint64(m, &v) == 0) return (double)v;
    return m && json_is_number(m) ? json_number_value(m) : 0;
}

int watch_query(qmpctl *q, const char *name, json_t **result)
{
    *result = NULL;
    if (qmp_client_execute(q->client, qmp_command_new(name, NULL), result) < 0) {
        json_decref(*result);
        *result = NULL;
        return report_qmp_error(name);
    }
    return EXIT_OK;
}

int watch_pause(qmpctl *q, long long deadline)
{
    if (deadline >= 0 && ms_left(deadline) == 0) return EXIT_TIMEOUT;
    long long next = now_ms() + q->opt->interval_ms;
    if (deadline >= 0 && deadline < next) next = deadline;
    int stop = 0;
    /* Events (e.g. JOB_STATUS_CHANGE) are handled while waiting. */
    int rc = loop_run(q->client, &stop, next);
    if (rc == QMP_ECLOSED) return EXIT_CONN;
    return EXIT_OK;
}
