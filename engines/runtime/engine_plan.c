/* Builds an engine's routing plan (inputs, outputs, type -> outputs masks)
 * from the validated mesh config. */
#include "engine_plan.h"

#include <stdio.h>
#include <string.h>

#include "mesh_error.h"

static int plan_fail(char *err, size_t errlen, const mesh_config *cfg, const mesh_route_cfg *r,
                     const char *what)
{
    if (err && errlen)
        snprintf(err, errlen, "%s:%d: route %s -> %s: %s", cfg->path, r->line, r->from, r->to,
                 what);
    return MESH_ECONFIG;
}

/* Adds the types of output route r (output number `bit`) to the masks. */
static int plan_add_types(engine_plan *p, const mesh_config *cfg, const mesh_route_cfg *r, int bit,
                          char *err, size_t errlen)
{
    char msg[160];
    for (int t = 0; t < r->ntypes; t++) {
        int id = r->types[t];
        if (id < 0) {
            snprintf(msg, sizeof(msg), "message type '%s' was not resolved to a type id",
                     r->type_names[t]);
            return plan_fail(err, errlen, cfg, r, msg);
        }
        if (id >= ENGINE_TYPE_TABLE) {
            snprintf(msg, sizeof(msg), "type id %d ('%s') is beyond the runtime's limit %d", id,
                     r->type_names[t], ENGINE_TYPE_TABLE - 1);
            return plan_fail(err, errlen, cfg, r, msg);
        }
        p->type_mask[id] |= (uint64_t)1 << bit;
    }
    return 0;
}

static int plan_route(engine_plan *p, const mesh_config *cfg, int ri, char *err, size_t errlen)
{
    const mesh_route_cfg *r = &cfg->routes[ri];
    int is_in = r->to_engine == p->self, is_out = r->from_engine == p->self;
    if (!is_in && !is_out)
        return 0;
    /* An off-host route (peer >= 0) is a ring to or from the local bridge
     * engine, the same for this engine as a local route. */
    if (is_in) {
        if (p->ninputs == ENGINE_MAX_INPUTS)
            return plan_fail(err, errlen, cfg, r, "too many input routes for one engine (max 32)");
        p->inputs[p->ninputs++] = ri;
    }
    if (is_out) {
        if (p->noutputs == ENGINE_MAX_OUTPUTS)
            return plan_fail(err, errlen, cfg, r, "too many output routes for one engine (max 64)");
        int rc = plan_add_types(p, cfg, r, p->noutputs, err, errlen);
        if (rc < 0)
            return rc;
        p->outputs[p->noutputs++] = ri;
    }
    return 0;
}

/* Slot of each input = how many inputs have a producer name sorting before
 * its own (ties, which the config refuses, by position). */
static void plan_slots(engine_plan *p, const mesh_config *cfg)
{
    for (int i = 0; i < p->ninputs; i++) {
        const char *from = cfg->routes[p->inputs[i]].from;
        unsigned rank = 0;
        for (int j = 0; j < p->ninputs; j++) {
            int c = strcmp(cfg->routes[p->inputs[j]].from, from);
            rank += c < 0 || (c == 0 && j < i);
        }
        p->input_slot[i] = rank;
    }
}

int engine_plan_build(engine_plan *p, const mesh_config *cfg, int self, char *err, size_t errlen)
{
    if (!p || !cfg || self < 0 || self >= cfg->nengines)
        return MESH_EINVAL;
    memset(p, 0, sizeof(*p));
    p->self = self;
    for (int ri = 0; ri < cfg->nroutes; ri++) {
        int rc = plan_route(p, cfg, ri, err, errlen);
        if (rc < 0)
            return rc;
    }
    plan_slots(p, cfg);
    return 0;
}
