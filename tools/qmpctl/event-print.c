#include "event-print.h"

#include <string.h>

void event_print(FILE *f, const qmp_event *ev, const jsonout_style *style)
{
    jsonout_style line = *style;
    line.pretty = 0;
    char *text = qmp_event_to_json(ev);
    json_t *v = text ? qmp_json_parse(text, strlen(text)) : NULL;
    if (v) jsonout_print(f, v, &line);
    else if (text) fprintf(f, "%s\n", text);
    json_decref(v);
    qmp_free(text);
    fflush(f);
}
