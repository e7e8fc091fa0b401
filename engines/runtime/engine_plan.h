/* Routing plan of one engine, computed from the mesh config alone (no shared
 * memory): which routes are its inputs and outputs, and which outputs carry
 * each message type. Kept separate from the loop so it can be unit-tested. */
#ifndef ENGINE_PLAN_H
#define ENGINE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "mesh_config.h"

#define ENGINE_MAX_INPUTS  32   /* one control-block slot per input ring */
#define ENGINE_MAX_OUTPUTS 64   /* bits of a fan-out mask */
#define ENGINE_TYPE_TABLE  1024 /* type ids carried by routes must be below this */

typedef struct engine_plan {
    int self;                               /* index of the engine in cfg->engines */
    int ninputs;                            /* routes with to == self */
    int inputs[ENGINE_MAX_INPUTS];          /* route indices, config order */
    unsigned input_slot[ENGINE_MAX_INPUTS]; /* control-block slot of inputs[i]: its rank by
                                             * producer name, not by file position */
    int noutputs;                           /* routes with from == self */
    int outputs[ENGINE_MAX_OUTPUTS];        /* route indices, config order */
    uint64_t type_mask[ENGINE_TYPE_TABLE];  /* type id -> bit i set = outputs[i] carries it */
} engine_plan;

/* Fills *p for engine `self` of cfg. Input i keeps its last handled seq in
 * control-block slot input_slot[i], the rank of its producer's name among
 * the inputs: routes reordered in the file (with keep_shm, across meshd
 * runs) still map every ring to its own slot. Returns 0, or MESH_ECONFIG with a
 * message naming the route and its config line in err when a route of the
 * engine goes through a peer (off-host routes need the nng bridge, which the
 * runtime does not have), has an unresolved type (id -1) or a type id
 * >= ENGINE_TYPE_TABLE, or when the engine has more inputs or outputs than
 * the limits above; MESH_EINVAL for a bad `self`. Pure: no I/O. */
int engine_plan_build(engine_plan *p, const mesh_config *cfg, int self, char *err, size_t errlen);

/* Bit mask of the outputs (bit i = p->outputs[i]) that carry `type`; 0 for
 * types no output carries, including ids beyond the table. */
static inline uint64_t engine_plan_outputs_for(const engine_plan *p, uint32_t type)
{
    return type < ENGINE_TYPE_TABLE ? p->type_mask[type] : 0;
}

#endif
