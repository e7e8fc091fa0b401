/* Streaming, strictly validating reader for trade CSV files with the header
 * "ts_ns,symbol,price,size"; every error names file:line and the field. */
#ifndef MD_CSV_H
#define MD_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "md_types.h"

/* Longest accepted line in bytes (excluding the line ending); longer lines are
 * rejected with MESH_ECSV, never truncated silently. */
#define MD_CSV_MAX_LINE 4096

typedef struct md_csv md_csv;

/* Opens path and checks the header row. Returns 0 and *out on success;
 * MESH_ENOENT / MESH_EACCES / ... if the file cannot be opened; MESH_ECSV if
 * the header is missing or wrong; MESH_ENOMEM. On failure *out = NULL and
 * md_csv_error(NULL) gives this thread's message for the failed open
 * ("trades.csv:1: header must be 'ts_ns,symbol,price,size', got 'a,b'").
 * The caller owns the reader on success. A reader must not be used by two
 * threads at once; separate readers are independent. */
int md_csv_open(md_csv **out, const char *path);

/* Reads the next row into *out. Returns 1 for a trade (aggressor = 0), 0 at end
 * of file, MESH_ECSV for a bad row (md_csv_error() says why; the reader stays
 * usable: the next call reads the next line), MESH_EIO on a read error.
 * A timestamp lower than the previous good row's is reported as MESH_ECSV
 * ("goes backwards") with *out filled in, so the caller may still use it. */
int md_csv_next(md_csv *r, md_trade *out);

/* Message for the reader's last error, e.g. "trades.csv:17: price 'abc' is
 * not a number"; "" if there was none. With r == NULL: the message of this
 * calling thread's last failed md_csv_open. Owned by the reader (or thread),
 * valid until the next call on it. */
const char *md_csv_error(const md_csv *r);

/* Line number of the row last returned or rejected (header = line 1). */
uint64_t md_csv_line(const md_csv *r);

/* Writes the reader's position (byte offset of the next row, line number,
 * last good timestamp, and a hash of the up to 256 bytes before the offset,
 * so a restore can tell the file changed) into buf as a flat versioned byte
 * buffer; buf may be NULL with cap 0 to measure. *len = its size. Returns 0,
 * MESH_ENOSPC, or MESH_EIO (or the read's error) when the bytes before the
 * offset cannot be read: md_csv_error then names the file, the offset and
 * why. */
int md_csv_save(md_csv *r, void *buf, size_t cap, size_t *len);

/* Moves a reader opened on the same file to a saved position: the next
 * md_csv_next returns the row the saved reader would have. Returns 0;
 * MESH_EFOREIGN, MESH_EVERSION, MESH_ECORRUPT (not a reader position);
 * MESH_EINVAL when the file no longer holds the bytes read before that
 * position (truncated or rewritten: md_csv_error says which); MESH_EIO. On
 * error the reader is unchanged. */
int md_csv_restore(md_csv *r, const void *buf, size_t len);

/* Closes the file and frees the reader. Accepts NULL. */
void md_csv_close(md_csv *r);

#endif
