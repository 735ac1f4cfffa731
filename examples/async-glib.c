/*
 * async-glib: drive libqmp from a GMainLoop.  Replies and events arrive in
 * the loop's thread; the loop quits when the last reply is in.
 *
 *   async-glib /path/to/qmp.sock
 */
#include <stdio.h>

#include <qmp/qmp.h>
#include <qmp/qmp-glib.h>

static GMainLoop *loop;
static int pending;
static int failed;

static void on_reply(qmp_client *c, int status, const json_t *result, void *user_data)
{
    (void)c;
    if (status == QMP_OK) {
        char *text = qmp_json_dumps(result);
        printf("%s -> %s\n", (const char *)user_data, text);
        qmp_free(text);
    } else {
        printf("%s failed: %s\n", (const char *)user_data, qmp_error_last()->message);
        failed = 1;
    }
    if (--pending == 0) g_main_loop_quit(loop);
}

static void on_event(qmp_client *c, const qmp_event *ev, void *user_data)
{
    (void)c;
    (void)user_data;
    printf("event %s\n", qmp_event_name(ev));
}

static void on_connected(qmp_client *c, int status, void *user_data)
{
    (void)user_data;
    if (status != QMP_OK) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        failed = 1;
        g_main_loop_quit(loop);
        return;
    }
    static const char *const names[] = {"stop", "query-status", "cont", "query-status"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (qmp_client_execute_async(c, qmp_command_new(names[i], NULL), NULL, on_reply, (void *)names[i], NULL) == 0)
            pending++;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s QMP_SOCKET\n", argv[0]);
        return 2;
    }
    loop = g_main_loop_new(NULL, FALSE);
    qmp_client *c = qmp_client_new();
    qmp_client_on_event(c, NULL, on_event, NULL, NULL, NULL);
    qmp_client_attach(c, NULL);
    if (qmp_client_connect_unix_async(c, argv[1], 5000, on_connected, NULL, NULL) < 0) {
        fprintf(stderr, "connect: %s\n", qmp_error_last()->message);
        return 1;
    }
    g_main_loop_run(loop);
    qmp_client_free(c);
    g_main_loop_unref(loop);
    return failed ? 1 : 0;
}
