/* mesh-features' offline mode (trades CSV in, feature CSV out) and its option
 * parser, shared with the live engine so both take the same options. */
#ifndef FEAT_OFFLINE_H
#define FEAT_OFFLINE_H

#include "feat_engine.h"

/* Usage text of the feature options and of offline mode. */
extern const char feat_offline_usage[];

/* Runs offline mode (--input and --output required). Returns the process
 * exit status (0 ok, 1 failure, 2 usage error). */
int feat_offline_main(int argc, char **argv);

/* Parses the feature options of argv (no --input/--output) into *cfg,
 * starting from the defaults. Returns 0, or -1 after printing what is wrong.
 * The caller sets cfg->emit. */
int feat_cli_config(int argc, char **argv, feat_config *cfg);

#endif
