/* Connecting as the command line says: --launch, --socket, --tcp or $QMP_SOCKET. */
#ifndef QMPCTL_CONNECT_H
#define QMPCTL_CONNECT_H

#include <qmp/qmp.h>

#include "cli.h"

/* How long connecting may take when --timeout is not given. */
#define CONNECT_TIMEOUT_MS 5000
#define LAUNCH_TIMEOUT_MS 30000

/* Connects c.  Returns EXIT_OK, or an exit code after printing why. */
int qmpctl_connect(const cli *o, qmp_client *c);

#endif
