/*
 * commands.h - the vigilctl commands, one function each. argv[0] is the
 * command name ("enroll"). Each builds its own cli_ctx with its --help text.
 */
#ifndef VIGIL_COMMANDS_H
#define VIGIL_COMMANDS_H

#include "tools/vigilctl/cli.h"

int cmd_db_migrate(int argc, char **argv);

int cmd_ca_init(int argc, char **argv);
int cmd_ca_show(int argc, char **argv);
int cmd_ca_chain(int argc, char **argv);
int cmd_ca_server_cert(int argc, char **argv);
int cmd_ca_crl(int argc, char **argv);
int cmd_ca_rotate(int argc, char **argv);
int cmd_ca_policy(int argc, char **argv);

int cmd_device_enroll(int argc, char **argv);
int cmd_device_create(int argc, char **argv);
int cmd_device_list(int argc, char **argv);
int cmd_device_show(int argc, char **argv);
int cmd_device_allow_renewal(int argc, char **argv);
int cmd_device_tag(int argc, char **argv);
int cmd_device_untag(int argc, char **argv);
int cmd_device_quarantine(int argc, char **argv);
int cmd_device_release(int argc, char **argv);
int cmd_device_decommission(int argc, char **argv);

int cmd_audit(int argc, char **argv);

int cmd_cert_revoke(int argc, char **argv);
int cmd_cert_list(int argc, char **argv);
int cmd_cert_show(int argc, char **argv);

/* `release key init|rotate|export`: argv[0] is "key", argv[1] the
 * subcommand. */
int cmd_release_key(int argc, char **argv);
int cmd_release_create(int argc, char **argv);
int cmd_release_list(int argc, char **argv);
int cmd_release_show(int argc, char **argv);
int cmd_release_revoke(int argc, char **argv);

int cmd_rollout_start(int argc, char **argv);
int cmd_rollout_widen(int argc, char **argv);
int cmd_rollout_pause(int argc, char **argv);
int cmd_rollout_resume(int argc, char **argv);
int cmd_rollout_abort(int argc, char **argv);
int cmd_rollout_status(int argc, char **argv);
int cmd_rollout_list(int argc, char **argv);

int cmd_token_create(int argc, char **argv);
int cmd_token_list(int argc, char **argv);
int cmd_token_revoke(int argc, char **argv);

/* `vigilctl incidents`, `vigilctl devices`: groups whose bare name is a
 * command (argv[0] is the group name). */
int cmd_incidents(int argc, char **argv);
int cmd_incidents_groups(int argc, char **argv);
int cmd_incidents_stats(int argc, char **argv);
int cmd_devices(int argc, char **argv);

#endif
