/* mesh-vpin's offline mode (trades CSV in, VPIN CSV out) and its option
 * parser, shared with the live engine so both take the same VPIN options. */
#ifndef VPIN_OFFLINE_H
#define VPIN_OFFLINE_H

#include "vpin.h"

/* Usage text of the VPIN options and of offline mode. */
extern const char vpin_offline_usage[];

/* Runs offline mode: argv as documented in vpin_offline_usage (--input and
 * --output required). Returns the process exit status (0 ok, 1 failure, 2
 * usage error). */
int vpin_offline_main(int argc, char **argv);

/* Parses the VPIN options of argv (no --input/--output) into *p, starting
 * from the defaults. Returns 0, or -1 after printing what is wrong. */
int vpin_cli_params(int argc, char **argv, vpin_params *p);

#endif
