/* qmpctl exec NAME [KEY=VALUE...] [--args JSON] */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "kvargs.h"
#include "qmpctl.h"
#include "validate.h"

/* The arguments object from --args and the KEY=VALUE words; NULL after a usage error. */
static json_t *build_arguments(const cli *o)
{
    json_t *args;
    if (o->args_json) {
        args = qmp_json_parse(o->args_json, strlen(o->args_json));
        if (!args || !json_is_object(args)) {
            /* The library's message says where the text is not JSON. */
            if (args) warn_msg("--args: not a JSON object: %s", o->args_json);
            else warn_msg("--args: %s", qmp_error_last()->message);
            json_decref(args);
            return NULL;
        }
    } else {
        args = json_object();
    }
    if (kvargs_add(args, o->words + 1, o->n_words - 1) < 0) {
        json_decref(args);
        return NULL;
    }
    return args;
}

int cmd_exec(qmpctl *q)
{
    json_t *args = build_arguments(q->opt);
    if (!args) return EXIT_USAGE;
    json_t *cmd = json_object();
    json_object_set_new(cmd, "execute", json_string(q->opt->words[0]));
    if (json_object_size(args) > 0) json_object_set(cmd, "arguments", args);
    json_decref(args);

    json_t *result = NULL;
    int rc = qmp_client_execute(q->client, cmd, &result);
    if (rc < 0) {
        json_decref(result);
        return report_exec_error(q->client, q->opt->words[0]);
    }
    jsonout_print(stdout, result, &q->out);
    json_decref(result);
    return EXIT_OK;
}
