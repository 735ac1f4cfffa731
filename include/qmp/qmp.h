/* libqmp: the whole public API.  #include <qmp/qmp.h>, link with `pkg-config --libs libqmp`. */
#ifndef QMP_H
#define QMP_H

#include <qmp/qmp-common.h>
#include <qmp/qmp-command.h>
#include <qmp/qmp-json.h>
#include <qmp/qmp-client.h>
#include <qmp/qmp-schema.h>
#include <qmp/qmp-mock.h>
#include <qmp/qmp-agent.h>
#include <qmp/qmp-call.h>

#endif /* QMP_H */
