/* The round trip of the raw client and of libqmp's synchronous APIs
   against the same server, in alternating batches: each client on a
   connection of its own (against QEMU, its own monitor: QEMU serves one
   client per monitor), so all are connected at once and every batch of one
   is next to a batch of the others in time.  A round trip varies by tens
   of percent over seconds (QEMU's main loop, the machine's other load, how
   soon an idle virtual CPU wakes up); batches of 100 alternating keep that
   out of the ratios, as runs one after another could not. */
#include <stdio.h>

#include <qmp/qmp.h>

#include "bench.h"

void alternating_round_trips(const char *const *socks, const int *modes, int nlib, long count, long batch,
                             sample_t *out) {
    raw_t *raw = raw_connect(socks[0], &out[0]);
    qmp_client *lib[4] = {NULL, NULL, NULL, NULL};
    double spent[5] = {0, 0, 0, 0, 0};
    long done = 0;
    int failed = !raw || nlib < 1 || nlib > 4;
    for (int k = 0; k < nlib && !failed; k++) failed = !(lib[k] = lib_open(socks[k + 1], &out[k + 1]));
    for (int i = 0; i < 10 && !failed; i++) { /* warm up */
        failed = raw_status_call(raw) < 0;
        for (int k = 0; k < nlib && !failed; k++) failed = lib_status_call(lib[k], modes[k]) < 0;
    }
    while (!failed && done < count) {
        long n = count - done < batch ? count - done : batch;
        for (int who = 0; who <= nlib && !failed; who++) {
            double t0 = now_s();
            for (long i = 0; i < n && !failed; i++) {
                int rc = who == 0 ? raw_status_call(raw) : lib_status_call(lib[who - 1], modes[who - 1]);
                if (rc < 0) {
                    sample_fail(&out[who], "query-status failed: %s", who ? qmp_error_last()->message : "raw");
                    failed = 1;
                }
            }
            spent[who] += now_s() - t0;
        }
        done += n;
    }
    for (int who = 0; who <= nlib; who++) {
        if (!failed && done > 0)
            out[who].value = spent[who] * 1e6 / (double)done;
        else if (!out[who].error[0])
            sample_fail(&out[who], "another client of the alternation failed");
    }
    raw_disconnect(raw);
    for (int k = 0; k < nlib; k++) qmp_client_free(lib[k]);
}
