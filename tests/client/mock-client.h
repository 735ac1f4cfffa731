/*
 * mock-client.h: the client tests' ordinary conversations on the public
 * test server (qmp/qmp-mock.h), which checks each command's name and
 * arguments in order and says by qmp_mock_verify() whether the client sent
 * exactly the script.  Garbage, timing and the other faults stay with the
 * scripted peer (peer.h).
 *
 *   qmp_mock *m;
 *   qmp_client *c = mock_connect_client(&m);   // greeting without oob, negotiated
 *   qmp_mock_expect_str(m, "stop", "{}", "{\"return\": {}}");
 *   ...
 *   mock_finish(c, m);                          // verify, free the client, free the mock
 */
#ifndef QMP_TEST_MOCK_CLIENT_H
#define QMP_TEST_MOCK_CLIENT_H

#include <qmp/qmp.h>
#include <qmp/qmp-mock.h>

/* The QEMU 7.2 greeting without oob, as the peer's connect_client() sends it. */
#define MOCK_GREETING_NO_OOB \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": []}}"

/* A new test server (*mp) and a client connected to it; the negotiation is over. */
qmp_client *mock_connect_client(qmp_mock **mp);
/* Asserts that c still works: a query-status round trip through m. */
void mock_assert_client_usable(qmp_client *c, qmp_mock *m);
/* Asserts the client went through the whole script, then frees the client (may be NULL) and the server. */
void mock_finish(qmp_client *c, qmp_mock *m);

#endif /* QMP_TEST_MOCK_CLIENT_H */
