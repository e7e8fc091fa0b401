/* Time-bar aggregation per symbol: bars are [k*bar_ns, (k+1)*bar_ns) in ns
 * since the Unix epoch, and a bar exists only if a trade fell into it. */
#ifndef MD_BARS_H
#define MD_BARS_H

#include <stddef.h>
#include <stdint.h>

#include "md_types.h"

typedef struct md_bars md_bars;

/* Receives one closed bar; the bar is only valid during the call. */
typedef void (*md_bar_fn)(void *ctx, const md_bar *bar);

/* Creates an aggregator for bars of bar_ns nanoseconds. Returns 0 and *out,
 * MESH_EINVAL if bar_ns == 0, MESH_ENOMEM. The caller owns *out; an aggregator
 * must not be used by two threads at once. */
int md_bars_open(md_bars **out, uint64_t bar_ns);

/* Adds a trade to its symbol's bar. If the trade belongs to a later bar than
 * the symbol's open one, that open bar is closed first and copied to *closed:
 * returns 1 then, else 0. Returns MESH_EINVAL for a bad trade (symbol empty or
 * not NUL-terminated within 16 bytes, price or size not finite and > 0) and
 * MESH_ERANGE for a trade older than the symbol's open bar or than a bar already
 * emitted; in both cases nothing changes. Within one bar, trades may arrive in
 * any order: open/close follow arrival order, last_trade_ts_ns is the latest.
 * MESH_ENOMEM if a new symbol cannot be stored. Allocates only for new symbols. */
int md_bars_add(md_bars *b, const md_trade *t, md_bar *closed);

/* Time-driven closing: emits (through fn) every open bar whose end_ts_ns <=
 * now_ns, in the order the symbols first appeared, and closes it. Pass
 * UINT64_MAX at the end of input to emit everything. Returns the count. */
size_t md_bars_flush(md_bars *b, uint64_t now_ns, md_bar_fn fn, void *ctx);

/* End (end_ts_ns) of the earliest open bar, UINT64_MAX when none is open:
 * md_bars_flush(b, now) emits something iff this is <= now. O(1) (kept up
 * to date as bars open and close), so it may be asked on every tick. */
uint64_t md_bars_next_end(const md_bars *b);

/* Writes a snapshot of the aggregator (bar length; per symbol, in order of
 * first appearance: the open bar, its price x size sum, the end of the last
 * bar emitted) into buf as a flat versioned byte buffer; buf may be NULL
 * with cap 0 to measure. *len = its size. Returns 0 or MESH_ENOSPC. */
int md_bars_save(const md_bars *b, void *buf, size_t cap, size_t *len);

/* Replaces b's state with a snapshot's: b then adds, flushes and emits
 * exactly as the saved aggregator would have. Returns 0; MESH_EFOREIGN,
 * MESH_EVERSION, MESH_ECORRUPT (truncated, duplicate symbols, impossible
 * bars), MESH_EINVAL (saved with another bar length), MESH_ENOMEM. On error b
 * is unchanged. */
int md_bars_restore(md_bars *b, const void *buf, size_t len);

/* Frees the aggregator (open bars are dropped). Accepts NULL. */
void md_bars_close(md_bars *b);

#endif
