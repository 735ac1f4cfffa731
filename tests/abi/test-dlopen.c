/*
 * libqmp.so.0 loaded at run time, the way a binding or a plugin host does:
 * dlopen by SONAME (found through LD_LIBRARY_PATH, set by meson to the
 * build tree), dlsym of public functions, a client made and freed, dlclose;
 * twice, so unloading and loading again works.  Internal symbols must not
 * be reachable.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef struct qmp_client qmp_client;

#define FAIL(...)                         \
    do {                                  \
        fprintf(stderr, __VA_ARGS__);     \
        fputc('\n', stderr);              \
        return 1;                         \
    } while (0)

static int round_trip(int round) {
    void *h = dlopen("libqmp.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) FAIL("dlopen(libqmp.so.0): %s", dlerror());

    const char *(*version)(void);
    const char *(*strerror_fn)(int);
    qmp_client *(*client_new)(void);
    void (*client_free)(qmp_client *);
    int (*is_connected)(qmp_client *);
    int (*set_timeout)(qmp_client *, int);
    *(void **)&version = dlsym(h, "qmp_version_string");
    *(void **)&strerror_fn = dlsym(h, "qmp_strerror");
    *(void **)&client_new = dlsym(h, "qmp_client_new");
    *(void **)&client_free = dlsym(h, "qmp_client_free");
    *(void **)&is_connected = dlsym(h, "qmp_client_is_connected");
    *(void **)&set_timeout = dlsym(h, "qmp_client_set_timeout");
    if (!version || !strerror_fn || !client_new || !client_free || !is_connected || !set_timeout)
        FAIL("dlsym of a public function failed: %s", dlerror());
    if (!dlsym(h, "qmp_client_execute") || !dlsym(h, "qmp_command_new"))
        FAIL("dlsym of qmp_client_execute / qmp_command_new failed");

    /* Hidden: nothing but the version script's names (a C++ internal, say). */
    if (dlsym(h, "_ZN3qmp14set_last_errorERKNS_5ErrorE") || dlsym(h, "set_last_error"))
        FAIL("an internal symbol is exported");

    const char *v = version();
    if (!v || strncmp(v, "0.", 2) != 0) FAIL("qmp_version_string() = %s", v ? v : "(null)");
    char vcopy[32]; /* v points into the library, which dlclose unmaps */
    snprintf(vcopy, sizeof vcopy, "%s", v);
    if (strcmp(strerror_fn(-4), strerror_fn(-5)) == 0) FAIL("qmp_strerror does not tell codes apart");

    qmp_client *c = client_new();
    if (!c) FAIL("qmp_client_new() = NULL");
    if (set_timeout(c, 1000) != 0) FAIL("qmp_client_set_timeout failed");
    if (is_connected(c) != 0) FAIL("a new client says it is connected");
    client_free(c);
    client_free(NULL);

    if (dlclose(h) != 0) FAIL("dlclose: %s", dlerror());
    printf("round %d: libqmp %s loaded, used, unloaded\n", round, vcopy);
    return 0;
}

int main(void) {
    for (int round = 1; round <= 2; round++)
        if (round_trip(round) != 0) return 1;
    return 0;
}
