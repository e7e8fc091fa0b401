/* Crash-consistent checkpoint object of one engine: a POSIX shm object
 * ("/mesh.<mesh>.state.<engine>") holding two snapshot slots and a live
 * progress word. Internal to the runtime (engine_state.c builds the public
 * engine_state_* API on it); no engine struct, so it is unit-tested alone.
 *
 * Layout (native byte order; the object never leaves the host), version 1:
 *   [0, 128)  header: magic, version, header bytes, active slot (0, 1 or
 *             ENGINE_CKPT_NONE), pid of the last writer, progress word,
 *             saves so far, each slot's region (offset and capacity)
 *   regions:  slot header (64 bytes: magic, serial, data length, progress at
 *             save, wall time, ring count, checksum), then nrings
 *             engine_ckpt_ring records, then the engine's bytes.
 * A save writes the slot that is not active (moving it to a larger region
 * appended at the end of the object when it does not fit), checksums it and
 * then publishes its index with a release store: a process killed at any
 * point leaves the previous snapshot valid. */
#ifndef ENGINE_CKPT_H
#define ENGINE_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "bus_shm.h"
#include "engine_plan.h"

#define ENGINE_CKPT_MAGIC      0x3154534b4843534dull /* "MSCHKST1" little-endian */
#define ENGINE_CKPT_SLOT_MAGIC 0x544f4c53544b434dull /* "MCKTSLOT" */
#define ENGINE_CKPT_VERSION    1u
#define ENGINE_CKPT_NONE       UINT64_MAX   /* no active slot */
#define ENGINE_CKPT_MAX_RINGS  64           /* >= ENGINE_MAX_OUTPUTS */
#define ENGINE_CKPT_MAX_DATA   (256u << 20) /* largest snapshot accepted */

/* Header of the object (one 128-byte line). */
typedef struct engine_ckpt_hdr {
    uint64_t magic;     /* ENGINE_CKPT_MAGIC */
    uint32_t version;   /* ENGINE_CKPT_VERSION */
    uint32_t hdr_bytes; /* sizeof(engine_ckpt_hdr) */
    uint64_t active;    /* 0, 1 or ENGINE_CKPT_NONE; release-stored by a save */
    uint64_t mark;      /* live progress word (engine_ckpt_mark) */
    uint64_t saves;     /* snapshots written into this object */
    int32_t pid;        /* last writer */
    uint32_t reserved;
    uint64_t slot_off[2]; /* byte offset of each slot's region, 64-aligned */
    uint64_t slot_cap[2]; /* byte size of each slot's region */
    uint8_t pad[48];
} engine_ckpt_hdr;

/* Where one output ring stood when a snapshot was saved. */
typedef struct engine_ckpt_ring {
    uint64_t head;      /* producer position (bytes) */
    uint64_t next_seq;  /* sequence number of the next record */
    uint64_t name_hash; /* of the ring's shm name: the same ring on load */
} engine_ckpt_ring;

/* Header of a slot's region; the checksum covers it (with check = 0), the
 * ring records and the data. */
typedef struct engine_ckpt_slot {
    uint64_t magic;   /* ENGINE_CKPT_SLOT_MAGIC */
    uint64_t serial;  /* hdr.saves when written */
    uint64_t len;     /* engine data bytes */
    uint64_t mark;    /* progress word at save time */
    uint64_t wall_ns; /* wall clock at save time */
    uint32_t nrings;  /* engine_ckpt_ring records after this header */
    uint32_t reserved;
    uint64_t check;
    uint64_t pad;
} engine_ckpt_slot;

/* The object's layout (version 1): every field at a fixed offset, so a
 * change to the structs fails the build instead of misreading a snapshot
 * another build wrote (a change needs a version bump). */
_Static_assert(sizeof(engine_ckpt_hdr) == 128, "checkpoint header is one 128-byte line");
_Static_assert(_Alignof(engine_ckpt_hdr) == 8, "checkpoint header alignment");
_Static_assert(offsetof(engine_ckpt_hdr, magic) == 0, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, version) == 8, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, hdr_bytes) == 12, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, active) == 16, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, mark) == 24, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, saves) == 32, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, pid) == 40, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, reserved) == 44, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, slot_off) == 48, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, slot_cap) == 64, "checkpoint header layout");
_Static_assert(offsetof(engine_ckpt_hdr, pad) == 80, "checkpoint header layout");
_Static_assert(sizeof(engine_ckpt_ring) == 24, "ring record is three words");
_Static_assert(offsetof(engine_ckpt_ring, head) == 0, "ring record layout");
_Static_assert(offsetof(engine_ckpt_ring, next_seq) == 8, "ring record layout");
_Static_assert(offsetof(engine_ckpt_ring, name_hash) == 16, "ring record layout");
_Static_assert(sizeof(engine_ckpt_slot) == 64, "slot header is 64 bytes");
_Static_assert(_Alignof(engine_ckpt_slot) == 8, "slot header alignment");
_Static_assert(offsetof(engine_ckpt_slot, magic) == 0, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, serial) == 8, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, len) == 16, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, mark) == 24, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, wall_ns) == 32, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, nrings) == 40, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, reserved) == 44, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, check) == 48, "slot header layout");
_Static_assert(offsetof(engine_ckpt_slot, pad) == 56, "slot header layout");
/* A snapshot records every output ring of an engine. */
_Static_assert(ENGINE_CKPT_MAX_RINGS >= ENGINE_MAX_OUTPUTS, "a checkpoint holds every output");

/* What a snapshot carries besides the engine's bytes. */
typedef struct engine_ckpt_meta {
    uint64_t serial, mark, wall_ns;
    uint32_t nrings;
    engine_ckpt_ring ring[ENGINE_CKPT_MAX_RINGS];
} engine_ckpt_meta;

/* Handle on the object (process memory). Zero it, then engine_ckpt_init. */
typedef struct engine_ckpt {
    char name[256];
    bus_shm *seg;         /* NULL until attached or created */
    engine_ckpt_hdr *hdr; /* base of seg */
    uint64_t mark;        /* local copy of the progress word */
} engine_ckpt;

/* Sets the object's name ("/mesh.<mesh>.state.<engine>", from
 * bus_shm_name); no system call. Returns 0 or MESH_ENAMETOOLONG. */
int engine_ckpt_init(engine_ckpt *c, const char *name);

/* Unmaps (never unlinks). Safe on a zeroed or closed handle. */
void engine_ckpt_fini(engine_ckpt *c);

/* Loads the active snapshot: copies up to cap bytes of its data into buf,
 * its meta into *meta (may be NULL), its length into *len and the live
 * progress word into *mark (may be NULL). Attaches the object if needed.
 * Returns 0; MESH_ENOENT when there is no object or no snapshot in it;
 * MESH_EMSGSIZE when cap is too small (*len says how much is needed);
 * MESH_EFOREIGN / MESH_EVERSION / MESH_ECORRUPT for an object that does not
 * validate (bad magic, layout version, sizes or checksum: a warning names
 * the object and the reason; nothing is trusted). */
int engine_ckpt_load(engine_ckpt *c, engine_ckpt_meta *meta, void *buf, size_t cap, size_t *len,
                     uint64_t *mark);

/* Saves a snapshot of len bytes with *meta (serial, mark and wall_ns are
 * filled in here: mark from the local progress word). Creates the object on
 * first use (replacing one that does not validate) and grows it when the
 * slot is too small. Crash-consistent: the previous snapshot stays the
 * active one until this one is complete. Returns 0, MESH_EINVAL (len over
 * ENGINE_CKPT_MAX_DATA or nrings over ENGINE_CKPT_MAX_RINGS), or a system
 * error (then the object holds no active snapshot if it could be reached). */
int engine_ckpt_save(engine_ckpt *c, engine_ckpt_meta *meta, const void *data, size_t len);

/* Sets the progress word: kept locally and, when the object is mapped,
 * stored into it (one relaxed store). No system call. */
void engine_ckpt_mark(engine_ckpt *c, uint64_t mark);

/* Makes the object hold no active snapshot (a restart finds none). Attaches
 * it if needed; 0 when there is no object. Returns 0 or an error. */
int engine_ckpt_invalidate(engine_ckpt *c);

/* Checksum used for the slots (64-bit, word-wise; detects torn and
 * corrupted snapshots, not an adversary). Exposed for tests. */
uint64_t engine_ckpt_hash(uint64_t seed, const void *p, size_t n);

#endif
