/* The round trip of the raw client and of libqmp's two synchronous APIs
   against the same server, in alternating batches: each client on its own
   monitor of one QEMU, so all three are connected at once and every batch
   of one is next to a batch of the others in time.  Against real QEMU a
   round trip varies by tens of percent over seconds (its main loop, the
   machine's other load); batches of 100 alternating keep that out of the
   ratios, as three runs one after another could not. */
#include <stdio.h>

#include <qmp/qmp.h>

#include "bench.h"

void alternating_round_trips(const char *const socks[3], long count, long batch, sample_t out[3]) {
    raw_t *raw = raw_connect(socks[0], &out[0]);
    qmp_client *lib[2] = {lib_open(socks[1], &out[1]), lib_open(socks[2], &out[2])};
    double spent[3] = {0, 0, 0};
    long done = 0;
    int failed = !raw || !lib[0] || !lib[1];
    for (int i = 0; i < 10 && !failed; i++)  /* warm up */
        failed = raw_status_call(raw) < 0 || lib_status_call(lib[0], 0) < 0 || lib_status_call(lib[1], 1) < 0;
    while (!failed && done < count) {
        long n = count - done < batch ? count - done : batch;
        for (int who = 0; who < 3 && !failed; who++) {
            double t0 = now_s();
            for (long i = 0; i < n && !failed; i++) {
                int rc = who == 0 ? raw_status_call(raw) : lib_status_call(lib[who - 1], who - 1);
                if (rc < 0) {
                    sample_fail(&out[who], "query-status failed: %s", who ? qmp_error_last()->message : "raw");
                    failed = 1;
                }
            }
            spent[who] += now_s() - t0;
        }
        done += n;
    }
    for (int who = 0; who < 3; who++) {
        if (!failed && done > 0)
            out[who].value = spent[who] * 1e6 / (double)done;
        else if (!out[who].error[0])
            sample_fail(&out[who], "another client of the alternation failed");
    }
    raw_disconnect(raw);
    qmp_client_free(lib[0]);
    qmp_client_free(lib[1]);
}
