/*
 * events: a handler sees every event as it arrives, and a wait finds an
 * event that may already have arrived (nothing is lost between sending a
 * command and waiting for its event: take the sequence number first).
 *
 *   events /path/to/qmp.sock
 */
#include <stdio.h>

#include <qmp/qmp.h>

static void print_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    char *text = qmp_event_to_json(ev);
    printf("handler: #%llu %s at %lld.%06lld: %s\n", qmp_event_seq(ev), qmp_event_name(ev),
           qmp_event_seconds(ev), qmp_event_microseconds(ev), text);
    qmp_free(text);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    qmp_client *c = qmp_client_new();
    if (qmp_client_connect_unix(c, argv[1], 5000) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        qmp_client_free(c);
        return 1;
    }
    qmp_client_on_event(c, NULL, print_event, NULL, NULL, NULL);

    unsigned long long seq = qmp_client_event_seq(c);
    int rc = qmp_client_execute(c, qmp_command_new("stop", NULL), NULL);
    json_t *ev = NULL;
    if (rc == 0) rc = qmp_client_wait_event(c, "STOP", NULL, seq, 5000, &ev);
    if (rc == 0) {
        printf("waited: STOP (the VM is paused)\n");
        json_decref(ev);
        seq = qmp_client_event_seq(c);
        rc = qmp_client_execute(c, qmp_command_new("cont", NULL), NULL);
    }
    char *text = NULL;
    if (rc == 0) rc = qmp_client_wait_event_str(c, "RESUME", NULL, seq, 5000, &text);
    if (rc == 0) printf("waited: %s\n", text);
    qmp_free(text);
    if (rc != 0) fprintf(stderr, "error: %s\n", qmp_error_last()->message);
    qmp_client_free(c);
    return rc == 0 ? 0 : 1;
}
