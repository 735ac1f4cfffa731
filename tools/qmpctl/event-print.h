/* One event as one compact JSON line (coloured per the style), flushed. */
#ifndef QMPCTL_EVENT_PRINT_H
#define QMPCTL_EVENT_PRINT_H

#include <stdio.h>

#include <qmp/qmp.h>

#include "jsonout.h"

void event_print(FILE *f, const qmp_event *ev, const jsonout_style *style);

#endif
