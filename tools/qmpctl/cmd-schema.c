/* qmpctl schema [--json] [NAME|QUERY], qmpctl help COMMAND */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "qmpctl.h"
#include "schema-print.h"

/* --json: indented unless --compact, even into a pipe. */
static jsonout_style json_style(const qmpctl *q)
{
    jsonout_style style = q->out;
    style.pretty = !q->opt->compact;
    return style;
}

static int list_as_json(qmpctl *q, const qmp_schema *s)
{
    json_t *both = json_pack("{s:o, s:o}", "commands", qmp_schema_list(s, QMP_SCHEMA_COMMANDS),
                             "events", qmp_schema_list(s, QMP_SCHEMA_EVENTS));
    jsonout_style style = json_style(q);
    jsonout_print(stdout, both, &style);
    json_decref(both);
    return EXIT_OK;
}

int cmd_schema(qmpctl *q)
{
    const char *arg = q->opt->n_words ? q->opt->words[0] : NULL;
    /* A query goes to the client's own schema_has (which fetches the schema). */
    if (arg && strchr(arg, '/')) return schema_query(stdout, q->client, arg);
    qmp_schema *s = qmp_client_get_schema(q->client, 0);
    if (!s) return report_qmp_error("query-qmp-schema");
    int rc;
    jsonout_style style = json_style(q);
    if (!arg && q->opt->json) rc = list_as_json(q, s);
    else if (!arg) {
        schema_print_list(stdout, s, schema_width(stdout), isatty(STDOUT_FILENO));
        rc = EXIT_OK;
    } else {
        rc = schema_show(stdout, s, arg, q->opt->json ? &style : NULL);
    }
    qmp_schema_unref(s);
    return rc;
}

int cmd_help(qmpctl *q)
{
    qmp_schema *s = qmp_client_get_schema(q->client, 0);
    if (!s) return report_qmp_error("query-qmp-schema");
    int rc = schema_help(stdout, s, q->opt->words[0]);
    qmp_schema_unref(s);
    return rc;
}
