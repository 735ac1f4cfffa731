/*
 * responder.h: a QMP server for the allocation-failure test that answers
 * each command by its name, whatever the order and however many, so a
 * sequence cut short by an allocation failure never leaves it waiting:
 *
 *   qmp_capabilities, query-status  {"return": {}} / {"return": {"status": "running", ...}}
 *   human-monitor-command           {"return": "ok\r\n"}
 *   stop                            {"return": {}}, then the events STOP and
 *                                   JOB_STATUS_CHANGE {"status": "created", "id": "j0"}
 *   query-qmp-schema                {"return": <the schema given to responder_new>}
 *   add-fd                          {"return": {"fdset-id": 1, "fd": 42}}
 *   slow                            {"return": {}}, 50 ms later
 *   no-such-command                 {"error": {"class": "CommandNotFound", ...}}
 *   anything else                   {"return": {}}
 *
 * It sends QEMU 7.2's greeting at once and runs in its own thread until the
 * client closes its end.  fds that come with a command are discarded.
 */
#ifndef QMP_TEST_RESPONDER_H
#define QMP_TEST_RESPONDER_H

typedef struct responder responder;

/* *client_fd is the client's end of a socketpair; schema_json may be NULL. */
responder *responder_new(int *client_fd, const char *schema_json);
/* The same on a Unix socket at path: it accepts `connections` clients, one after the other. */
responder *responder_listen(const char *path, int connections, const char *schema_json);
/* The same on 127.0.0.1, at a free port (*port). */
responder *responder_listen_tcp(int *port, int connections, const char *schema_json);
/* Waits for the client to close, joins and frees; returns the number of malformed commands seen. */
int responder_finish(responder *r);

#endif /* QMP_TEST_RESPONDER_H */
