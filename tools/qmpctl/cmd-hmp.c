/* qmpctl hmp LINE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qmp/qmp.h>

#include "exitcode.h"
#include "qmpctl.h"

int cmd_hmp(qmpctl *q)
{
    /* The words are one command line: "hmp info status" == "hmp 'info status'". */
    size_t len = 1;
    for (int i = 0; i < q->opt->n_words; i++) len += strlen(q->opt->words[i]) + 1;
    char *line = calloc(1, len);
    if (!line) return EXIT_CONN;
    for (int i = 0; i < q->opt->n_words; i++) {
        if (i) strcat(line, " ");
        strcat(line, q->opt->words[i]);
    }
    char *output = NULL;
    int rc = qmp_client_hmp(q->client, line, &output);
    free(line);
    if (rc < 0) return report_qmp_error("hmp");
    fputs(output, stdout);
    qmp_free(output);
    return EXIT_OK;
}
