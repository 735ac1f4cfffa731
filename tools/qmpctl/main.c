/* qmpctl: parse the command line, connect, run one subcommand. */
#include <stdio.h>
#include <string.h>

#include <qmp/qmp.h>

#include "cli.h"
#include "connect.h"
#include "exitcode.h"
#include "launch.h"
#include "qmpctl.h"
#include "signals.h"
#include "validate.h"

int main(int argc, char **argv)
{
    cli opt;
    int rc = cli_parse(argc, argv, &opt);
    if (rc != 0) {
        cli_free(&opt);
        return rc > 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (opt.command->offline && opt.n_words == 0) {
        /* Plain help needs no server. */
        cli_help(stdout);
        cli_free(&opt);
        return EXIT_OK;
    }
    signals_install();
    qmpctl q = {&opt, qmp_client_new(), jsonout_style_for(&opt, stdout)};
    if (!q.client) {
        warn_msg("out of memory");
        cli_free(&opt);
        return EXIT_CONN;
    }
    /* --timeout bounds every synchronous call too. */
    if (opt.timeout_ms >= 0) qmp_client_set_timeout(q.client, opt.timeout_ms > 0 ? opt.timeout_ms : 1);
    rc = qmpctl_connect(&opt, q.client);
    if (rc == EXIT_OK && opt.validate) rc = validation_set(q.client, opt.validate);
    if (rc == EXIT_OK) rc = opt.command->run(&q);
    qmp_client_free(q.client);
    launch_stop();
    cli_free(&opt);
    if (fflush(stdout) != 0 && rc == EXIT_OK) rc = EXIT_CONN;
    return rc;
}
