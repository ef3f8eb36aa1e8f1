/* pt_cli.h: shared pieces of the command-line front end: loading a config
 * with its overrides, and the console reporting of a training run. Each
 * subcommand lives in its own src/cmd_*.c; only this layer prints or exits. */
#ifndef PT_CLI_H
#define PT_CLI_H

#include "pt_config.h"
#include "pt_run.h"

/* Exit codes, documented in `ptrain --help` and the README. */
enum { PT_EXIT_OK = 0, PT_EXIT_FAILED = 1, PT_EXIT_USAGE = 2, PT_EXIT_INPUT = 3 };

/* Global console options. */
typedef struct pt_cli {
    int verbose;   /* -v: placement map and more detail */
    int quiet;     /* -q: errors and the final line only */
} pt_cli;

/* Defaults, then the file, then each `section.key=value` in overrides, then
 * PTRAIN_BIND, then cross-key validation. Prints the error and returns -1. */
int pt_cli_load_config(pt_config *cfg, const char *path, int n_overrides, char **overrides);

/* Console hooks for a training run (epoch lines, progress on a terminal). */
pt_run_hooks pt_cli_run_hooks(const pt_cli *cli);

/* Prints "ptrain: <msg>" to stderr. */
void pt_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The value of option `opt`, the whole of s, in [lo, hi] into *out; else
 * prints what was expected and returns -1. */
int pt_cli_parse_long(const char *opt, const char *s, long lo, long hi, long *out);

int pt_cmd_train(const pt_cli *cli, int argc, char **argv);
int pt_cmd_plot(const pt_cli *cli, int argc, char **argv);
int pt_cmd_scale(const pt_cli *cli, int argc, char **argv);
int pt_cmd_compare(const pt_cli *cli, int argc, char **argv);
int pt_cmd_sweep(const pt_cli *cli, int argc, char **argv);

#endif
