/*
 * cli_help.c - vigil-device's commands: the options each takes and needs,
 * and the help each prints (`vigil-device COMMAND --help`), with every
 * default and the exit codes. The texts are the reference for the options
 * (cli.c checks them); docs/DEVICE-PORT.md describes the protocol.
 */
#include "tools/vigil-device/cli.h"

#include <string.h>

#define CONN (DO_BIT(DO_SERVER) | DO_BIT(DO_CERT) | DO_BIT(DO_KEY) | DO_BIT(DO_CA))
#define ASK (DO_BIT(DO_HELP) | DO_BIT(DO_VERSION))
#define FIELDS                                                                                     \
    (DO_BIT(DO_TYPE) | DO_BIT(DO_SEVERITY) | DO_BIT(DO_COMPONENT) | DO_BIT(DO_FIRMWARE) |          \
     DO_BIT(DO_DETAILS) | DO_BIT(DO_OCCURRED_AT) | DO_BIT(DO_ID) | DO_BIT(DO_COUNT))
#define UPDATE_OPTS                                                                                \
    (DO_BIT(DO_KEYS) | DO_BIT(DO_CLASS) | DO_BIT(DO_STATE_DIR) | DO_BIT(DO_INSTALL_DIR))

#define CONN_HELP                                                                                  \
    "Connection (all needed):\n"                                                                   \
    "  --server HOST:PORT  vigild's device port (such as localhost:8443)\n"                        \
    "  --cert FILE         this device's certificate (`vigilctl device enroll`)\n"                 \
    "  --key FILE          this device's private key (`vigil-device keygen`)\n"                    \
    "  --ca FILE           the fleet CA chain the server is verified against\n"                    \
    "                      (`vigilctl ca chain`)\n"

#define IDENTITY_EXIT                                                                              \
    "  3  identity refused: --cert, --key or --ca unusable (the file and the reason\n"             \
    "     are printed), or the server refused this certificate (the TLS alert or the\n"            \
    "     server's reason is printed: unknown issuer, revoked, expired...)\n"

const char devcli_usage[] =
    "Usage: vigil-device COMMAND [options]\n"
    "       vigil-device COMMAND --help    the command's options, defaults, exit codes\n"
    "       vigil-device --version\n\n"
    "A device stub: its own key and CSR, incident reports queued on disk until the\n"
    "server acknowledges them, certificate renewal (EST), trust anchors and signed\n"
    "updates, once or in a loop.\n\n"
    "Commands:\n"
    "  report   queue one or more incident reports and send the queue\n"
    "  flush    send what is queued\n"
    "  queue    list what is queued\n"
    "  keygen   make this device's key and a CSR for `vigilctl device enroll`\n"
    "  renew    renew this device's certificate (EST simplereenroll), new key by default\n"
    "  cacerts  refresh the trust anchors file from the server (EST cacerts)\n"
    "  update   check for a signed update; verify, download (resuming) and install it\n"
    "  run      the device loop: report, renew at 2/3 of the lifetime, refresh cacerts,\n"
    "           check for updates (with --keys)\n\n"
    "Options are spelled out in full (no abbreviations), and each command takes only\n"
    "its own; the whole command line is checked before anything is queued or sent.\n\n"
    "Exit codes: 0 done; 1 refused for good (report: some rejected, see\n"
    "QUEUE/rejected; renew/run: a 4xx refusal); 2 usage (an unknown option, a bad\n"
    "value, quoted in the message; nothing was done); 3 identity refused\n"
    "(certificate, key or CA file unusable, or the server refused this certificate);\n"
    "4 the server's answer failed the checks; 5 run: --max-time ran out, nothing\n"
    "queued; 75 retry later (network, 429/503; report/flush/run: reports still\n"
    "queued). update has codes of its own (vigil-device update --help).\n";

static const char report_help[] =
    "Usage: vigil-device report --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         [report fields | --file FILE] [--queue-dir DIR] [--max-time DUR] [--json]\n\n"
    "Queues incident reports in the on-disk queue, then sends the whole queue.\n"
    "Every value is checked first: a bad one queues nothing.\n\n" CONN_HELP
    "\nReport fields (one report, or --count copies of it):\n"
    "  --type T              crash, watchdog_reset, auth_failure, update_failure,\n"
    "                        tamper, network_anomaly, resource_exhaustion or x-NAME\n"
    "                        (default: crash)\n"
    "  --severity S          info, warning, error or critical (default: error)\n"
    "  --component C         1-64 printable characters (default: none)\n"
    "  --firmware-version V  1-64 printable characters (default: none)\n"
    "  --details JSON        a JSON object (default: none, stored as {})\n"
    "  --occurred-at TIME    RFC 3339, such as 2026-11-25T10:00:00Z (default: now)\n"
    "  --id UUID             the report's id (default: a random UUID; a report sent\n"
    "                        again with the same id is stored once)\n"
    "  --count N             queue N reports, each with its own id (1..100000,\n"
    "                        default 1)\n"
    "  --file FILE           the reports of a JSON file instead (an object or an array\n"
    "                        of them); an id is added to each report without one\n\n"
    "Queue and sending:\n"
    "  --queue-dir DIR       the on-disk queue (default: vigil-queue)\n"
    "  --max-time DUR        give up retrying after DUR (default: 60s; 500ms, 2m)\n"
    "  --json                print {stored, duplicate, rejected, queued} at the end\n\n"
    "Exit codes:\n"
    "  0  everything queued was stored (or was a duplicate)\n"
    "  1  some reports were rejected for good (see QUEUE/rejected/*.reason)\n"
    "  2  usage: nothing was queued\n" IDENTITY_EXIT
    "  75 reports still queued (the server is unreachable or busy): flush later\n";

static const char flush_help[] =
    "Usage: vigil-device flush --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         [--queue-dir DIR] [--max-time DUR] [--json]\n\n"
    "Sends what is queued.\n\n" CONN_HELP "\nOptions:\n"
    "  --queue-dir DIR     the on-disk queue (default: vigil-queue)\n"
    "  --max-time DUR      give up retrying after DUR (default: 60s; 500ms, 2m)\n"
    "  --json              print {stored, duplicate, rejected, queued} at the end\n\n"
    "Exit codes: 0 all sent; 1 some rejected for good; 2 usage;\n" IDENTITY_EXIT
    "  75 reports still queued\n";

static const char queue_help[] =
    "Usage: vigil-device queue [--queue-dir DIR]\n\n"
    "Lists what is queued, one JSON report a line.\n"
    "  --queue-dir DIR     the on-disk queue (default: vigil-queue)\n\n"
    "Exit codes: 0 listed; 2 usage or the queue directory is unusable.\n";

static const char keygen_help[] =
    "Usage: vigil-device keygen --id ID --out-dir DIR [--key-type TYPE]\n\n"
    "Makes this device's private key (DIR/ID.key, mode 0600; it never leaves the\n"
    "device) and a CSR (DIR/ID.csr) for `vigilctl device enroll --csr`.\n"
    "  --id ID             the device id: 1-64 characters A-Z a-z 0-9 . _ -, starting\n"
    "                      with a letter or digit\n"
    "  --out-dir DIR       where to write them (made if missing; existing files are\n"
    "                      never replaced)\n"
    "  --key-type TYPE     p256, p384 or ed25519 (default: p256)\n\n"
    "Exit codes: 0 written; 1 DIR/ID.key or DIR/ID.csr exists already (never replaced)\n"
    "or cannot be written (the path and the reason are printed); 2 usage.\n";

static const char renew_help[] =
    "Usage: vigil-device renew --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         [--key-type TYPE | --same-key] [--json]\n\n"
    "Renews this device's certificate over EST simplereenroll. The key and\n"
    "certificate at --key/--cert are replaced crash-safely: the previous pair is kept\n"
    "as FILE.prev until the new pair has made a request; every command repairs an\n"
    "interrupted renewal (FILE.new/.prev) on start.\n\n" CONN_HELP "\nOptions:\n"
    "  --key-type TYPE     the new key: p256, p384 or ed25519 (default: p256)\n"
    "  --same-key          keep the current key (default: a new key)\n"
    "  --json              print the outcome as JSON\n\n"
    "Exit codes: 0 renewed; 1 refused by the server (4xx: quarantined, same key\n"
    "refused, no grant); 2 usage;\n" IDENTITY_EXIT
    "  4  the server's answer failed the checks (nothing installed)\n"
    "  75 retry later (429/503/network; the delay is printed)\n";

static const char cacerts_help[] =
    "Usage: vigil-device cacerts --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         [--out FILE] [--json]\n\n"
    "Refreshes the trust anchors from the server (EST cacerts). A set without the\n"
    "root --ca trusts, or with another root, is refused.\n\n" CONN_HELP "\nOptions:\n"
    "  --out FILE          where to write the set (default: replace the --ca file)\n"
    "  --json              print the outcome as JSON\n\n"
    "Exit codes: 0 written; 2 usage;\n" IDENTITY_EXIT
    "  4  the server's set failed the checks (nothing written)\n"
    "  75 retry later (429/503/network)\n";

#define UPDATE_OPTS_HELP                                                                           \
    "  --keys FILE         the pinned release keys (the JWKS of `vigilctl release key\n"           \
    "                      export`, written at provisioning); a rotated key is added\n"            \
    "                      to it only from an endorsement by a key already in it\n"                \
    "  --class CLASS       this device's class: needed the first time, then stored;\n"             \
    "                      another class later is refused (exit 2)\n"                              \
    "  --state-dir DIR     installed version, security version (the floor), the\n"                 \
    "                      partial download, unsent status reports (default:\n"                    \
    "                      vigil-update beside the --queue-dir)\n"                                 \
    "  --install-dir DIR   where the artifact is installed, as firmware.bin\n"                     \
    "                      (default: STATE-DIR/install)\n"

static const char update_help[] =
    "Usage: vigil-device update --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         --keys FILE [--class CLASS] [--state-dir DIR] [--install-dir DIR]\n"
    "         [--queue-dir DIR] [--json]\n\n"
    "Checks for a signed update; verifies, downloads (resuming) and installs it.\n\n" CONN_HELP
    "\nOptions:\n" UPDATE_OPTS_HELP
    "  --queue-dir DIR     only places the default --state-dir (default: vigil-queue)\n"
    "  --json              print the outcome as JSON\n\n"
    "Exit codes: 0 installed, or nothing to install (the server's reason is printed);\n"
    "1 refused by the server (4xx); 2 usage; 3 identity; 4 bad answer; 6 the keys\n"
    "file or state is unusable; 10 bad signature; 11 unknown key id; 12 expired\n"
    "manifest; 13 wrong class; 14 security version below the stored one; 15 digest\n"
    "mismatch; 16 size mismatch; 17 install failed; 18 not a valid manifest; 75 retry\n"
    "later (network, 429/503, a download cut: the part is kept and resumed). Each of\n"
    "10-18 is reported to the server as failed.\n";

static const char run_help[] =
    "Usage: vigil-device run --server HOST:PORT --cert FILE --key FILE --ca FILE\n"
    "         [--queue-dir DIR] [--report-every DUR] [--max-time DUR]\n"
    "         [--key-type TYPE | --same-key] [--keys FILE [--update-interval DUR]\n"
    "         [--class CLASS] [--state-dir DIR] [--install-dir DIR]] [--json]\n\n"
    "The device loop: sends what is queued, renews the certificate at 2/3 of its\n"
    "lifetime (+-5% jitter), refreshes the trust anchors before each renewal, checks\n"
    "for updates (with --keys); backs off on 429/503 and network failures. Stops on\n"
    "SIGTERM/SIGINT after flushing what it can. One line per event on stderr.\n\n" CONN_HELP
    "\nLoop:\n"
    "  --queue-dir DIR     the on-disk queue (default: vigil-queue)\n"
    "  --report-every DUR  queue an x-heartbeat report every DUR (default: none)\n"
    "  --max-time DUR      stop after DUR (default: never)\n"
    "  --key-type TYPE     renewals' new key: p256, p384 or ed25519 (default: p256)\n"
    "  --same-key          renewals keep the key (default: a new key each time)\n"
    "  --json              print a summary object when it stops\n"
    "\nUpdates (the options below only with --keys; none: no update checks):\n" UPDATE_OPTS_HELP
    "  --update-interval DUR  check every DUR, +-20% at random, the first within a\n"
    "                      fifth of it (default: 1h)\n"
    "\nDUR: 500ms, 30s, 2m or 1h.\n\n"
    "Exit codes: 0 stopped by a signal, nothing queued; 1 a renewal refused for good;\n"
    "2 usage; 3 the identity is unusable or the server refused it; 5 --max-time ran\n"
    "out, nothing queued; 75 stopped with reports still queued.\n";

static const devcli_command commands[] = {
    {"report", report_help,
     ASK | CONN | FIELDS | DO_BIT(DO_FILE) | DO_BIT(DO_QUEUE_DIR) | DO_BIT(DO_MAX_TIME) |
         DO_BIT(DO_JSON),
     CONN},
    {"flush", flush_help, ASK | CONN | DO_BIT(DO_QUEUE_DIR) | DO_BIT(DO_MAX_TIME) | DO_BIT(DO_JSON),
     CONN},
    {"queue", queue_help, ASK | DO_BIT(DO_QUEUE_DIR), 0},
    {"keygen", keygen_help, ASK | DO_BIT(DO_ID) | DO_BIT(DO_OUT_DIR) | DO_BIT(DO_KEY_TYPE),
     DO_BIT(DO_ID) | DO_BIT(DO_OUT_DIR)},
    {"renew", renew_help, ASK | CONN | DO_BIT(DO_KEY_TYPE) | DO_BIT(DO_SAME_KEY) | DO_BIT(DO_JSON),
     CONN},
    {"cacerts", cacerts_help, ASK | CONN | DO_BIT(DO_OUT) | DO_BIT(DO_JSON), CONN},
    {"update", update_help, ASK | CONN | UPDATE_OPTS | DO_BIT(DO_QUEUE_DIR) | DO_BIT(DO_JSON),
     CONN | DO_BIT(DO_KEYS)},
    {"run", run_help,
     ASK | CONN | UPDATE_OPTS | DO_BIT(DO_QUEUE_DIR) | DO_BIT(DO_REPORT_EVERY) |
         DO_BIT(DO_MAX_TIME) | DO_BIT(DO_KEY_TYPE) | DO_BIT(DO_SAME_KEY) |
         DO_BIT(DO_UPDATE_INTERVAL) | DO_BIT(DO_JSON),
     CONN},
};

const devcli_command *devcli_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}
