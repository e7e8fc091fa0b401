/* Command-line options of the mesh-marketdata daemon: parsed into the feed
 * options and the daemon's own settings, every bad value refused with an
 * error naming the option. No bus dependency, so it is testable on its own. */
#ifndef MD_OPTS_H
#define MD_OPTS_H

#include <stddef.h>
#include <stdint.h>

#include "md_feed.h"

#define MD_CKPT_MS_DEFAULT 20
#define MD_CKPT_MS_MAX     3600000u /* one hour */

typedef struct md_opts {
    md_feed_opts feed;
    double bar_s;     /* --bar-seconds */
    uint64_t bar_ns;  /* the same in ns (rounded) */
    int quotes;       /* 0 after --no-quotes */
    uint32_t ckpt_ms; /* --checkpoint-ms: 0..MD_CKPT_MS_MAX, 0 = no checkpoints */
} md_opts;

/* The daemon's usage text (--help). */
extern const char md_opts_usage[];

/* Fills *o with the defaults; the synthetic market starts at start_ts_ns
 * (the daemon passes the wall clock, whole seconds). */
void md_opts_default(md_opts *o, uint64_t start_ts_ns);

/* Parses argv[1..argc-1] (getopt_long, from the start whatever an earlier
 * call left) over the defaults in *o. Returns 0, or MESH_EINVAL with the
 * reason in err, naming the option and its value (getopt itself also prints
 * unknown options to stderr). o->feed.csv_path points into argv. Not
 * thread-safe (getopt). */
int md_opts_parse(md_opts *o, int argc, char **argv, char *err, size_t errlen);

#endif
