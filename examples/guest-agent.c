/*
 * guest-agent: the two channels a toolstack has to a VM.
 *
 *   guest-agent QMP_SOCKET [AGENT_SOCKET]
 *
 * The QMP side: the host end of the guest agent's channel is a chardev
 * (here a Unix socket server, added with chardev-add) behind a
 * virtserialport on a virtio-serial controller; QEMU emits VSERPORT_CHANGE
 * {"id": PORT, "open": true} when the guest opens the port, which is when
 * it is worth connecting to the agent.
 *
 * What a QEMU started with -M none can and cannot show: it has no bus, so
 * it can host the chardev but not the virtio-serial controller (device_add
 * is refused, printed below), and with no guest nothing ever opens the port,
 * so VSERPORT_CHANGE never comes; the example shows the subscription and the
 * wait, not the event.  Against a real machine (e.g. -M q35 with
 * -device virtio-serial-pci -device virtserialport,chardev=qga0,name=org.qemu.guest_agent.0)
 * the same code sees the event.
 *
 * The agent side, when AGENT_SOCKET is given: a qemu-ga socket (the host end
 * of the channel, or a qemu-ga -m unix-listen started by hand with -b
 * listing every command that changes the machine, since a qemu-ga on the
 * host acts on the host): connect, ping, list the enabled commands, run
 * /bin/echo in the "guest".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <qmp/qmp.h>

static void on_vserport(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    char *text = qmp_event_to_json(ev);
    printf("event: %s\n", text ? text : "?");
    qmp_free(text);
}

static int qmp_side(const char *qmp_socket)
{
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, qmp_socket, 5000) < 0) {
        fprintf(stderr, "QMP: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    qmp_client_on_event(c, "VSERPORT_CHANGE", on_vserport, NULL, NULL, NULL);

    /* The host end of the agent's channel: a socket QEMU serves. */
    char path[4096];
    snprintf(path, sizeof path, "%s.qga", qmp_socket);
    char cmd[4300];
    snprintf(cmd, sizeof cmd,
             "{\"execute\": \"chardev-add\", \"arguments\": {\"id\": \"qga0\", \"backend\": {\"type\": \"socket\", "
             "\"data\": {\"addr\": {\"type\": \"unix\", \"data\": {\"path\": \"%s\"}}, \"server\": true, \"wait\": false}}}}",
             path);
    if (qmp_client_execute_str(c, cmd, NULL) < 0) {
        fprintf(stderr, "chardev-add: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    printf("chardev qga0: the channel's host end at %s\n", path);

    /* The controller and the port: refused by -M none (no bus). */
    int rc = qmp_client_execute_str(c, "{\"execute\": \"device_add\", \"arguments\": "
                                       "{\"driver\": \"virtio-serial-pci\", \"id\": \"vs0\"}}", NULL);
    if (rc == QMP_ECOMMAND)
        printf("device_add virtio-serial-pci: refused: %s\n", qmp_error_last()->message);
    else if (rc == QMP_OK)
        printf("device_add virtio-serial-pci: added\n");

    /* A toolstack waits for the guest to open the port. */
    json_t *ev = NULL;
    unsigned long long seq = 0;
    rc = qmp_client_wait_event(c, "VSERPORT_CHANGE", NULL, seq, 300, &ev);
    if (rc == QMP_OK)
        printf("the guest opened its agent port\n");
    else
        printf("no VSERPORT_CHANGE within 300 ms: no guest has opened the port (-M none runs none)\n");
    json_decref(ev);
    unlink(path);
    qmp_client_free(c);
    return 0;
}

static int agent_side(const char *agent_socket)
{
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_agent_unix(c, agent_socket, 5000) < 0) {
        fprintf(stderr, "agent: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    int ok = qmp_agent_ping(c, 1000) == QMP_OK;
    printf("agent: ping %s\n", ok ? "answered" : qmp_error_last()->message);
    char **names = NULL;
    char *version = NULL;
    if (qmp_agent_commands(c, &names, &version) == QMP_OK) {
        size_t n = 0;
        while (names[n]) n++;
        printf("agent: qemu-ga %s, %zu commands enabled\n", version, n);
        qmp_agent_strv_free(names);
        qmp_free(version);
    }
    const char *argv[] = {"/bin/echo", "hello from the guest", NULL};
    qmp_agent_exec_result r;
    if (qmp_agent_exec(c, argv, NULL, NULL, 0, 10000, &r) == QMP_OK)
        printf("agent: /bin/echo exited %d: %.*s", r.exit_code, (int)r.out_len, (const char *)r.out);
    else
        printf("agent: guest-exec failed: %s\n", qmp_error_last()->message);
    qmp_agent_exec_result_clear(&r);
    qmp_client_free(c);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET [AGENT_SOCKET]\n", argv[0]);
        return 2;
    }
    if (qmp_side(argv[1])) return 1;
    if (argc > 2 && agent_side(argv[2])) return 1;
    return 0;
}
