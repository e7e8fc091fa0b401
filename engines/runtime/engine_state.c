/* Engine checkpoints: the engine_state_* API on the checkpoint object
 * (engine_ckpt.c). Adds what the object does not know: generation rules,
 * the output rings' positions saved with each snapshot, and the resume that
 * keeps a replaying engine from committing records twice. */
#include <stdlib.h>
#include <string.h>

#include "bus_shm.h"
#include "engine_int.h"
#include "mesh_error.h"
#include "mesh_log.h"

int engine_state_setup(engine *e)
{
    char name[ENGINE_SHM_NAME];
    int rc = bus_shm_name(name, sizeof(name), e->cfg->name, "state", e->name, NULL);
    if (rc == 0)
        rc = engine_ckpt_init(&e->st.ck, name);
    if (rc < 0) {
        mesh_error("state object name for engine %s: %s", e->name, mesh_strerror(rc));
        return rc;
    }
    if (e->generation == 0 && bus_shm_unlink(name) == 0)
        mesh_info("removed %s left by an earlier mesh run (a first start begins afresh)", name);
    return 0;
}

void engine_state_teardown(engine *e)
{
    engine_ckpt_fini(&e->st.ck);
}

/* Once per run, before the run writes into the object: a run that did not
 * resume drops the snapshot of an earlier run. */
static void state_adopt(engine *e)
{
    if (e->st.adopted)
        return;
    e->st.adopted = 1;
    int rc = engine_ckpt_invalidate(&e->st.ck);
    if (rc < 0)
        mesh_warn("engine state %s: cannot drop the earlier run's snapshot: %s", e->st.ck.name,
                  mesh_strerror(rc));
}

static uint64_t ring_name_hash(const engine_output *o)
{
    return engine_ckpt_hash(0, o->shm, strlen(o->shm));
}

int engine_state_save(engine *e, const void *data, size_t len)
{
    if (e->st.nskip)
        return MESH_ESTATE;
    state_adopt(e);
    engine_ckpt_meta *m = &e->st.meta;
    m->nrings = (uint32_t)e->nout;
    for (int i = 0; i < e->nout; i++) {
        bus_ring_stats rs;
        bus_ring_stats_get(e->out[i].ring, &rs);
        m->ring[i].head = rs.head;
        m->ring[i].next_seq = rs.next_seq;
        m->ring[i].name_hash = ring_name_hash(&e->out[i]);
    }
    int rc = engine_ckpt_save(&e->st.ck, m, data, len);
    if (rc == 0)
        e->cnt.state_saves++;
    return rc;
}

int engine_state_load(engine *e, void *buf, size_t cap, size_t *len)
{
    *len = 0;
    if (e->generation == 0)
        return MESH_ENOENT;
    int rc = engine_ckpt_load(&e->st.ck, &e->st.meta, buf, cap, len, &e->st.prev_mark);
    e->st.loaded = rc == 0;
    if (rc == 0 && e->st.prev_mark < e->st.meta.mark) {
        mesh_warn("engine state %s: progress word %llu is behind the snapshot's %llu; using the "
                  "snapshot's",
                  e->st.ck.name, (unsigned long long)e->st.prev_mark,
                  (unsigned long long)e->st.meta.mark);
        e->st.prev_mark = e->st.meta.mark;
    }
    return rc;
}

uint64_t engine_state_progress(const engine *e)
{
    return e->st.loaded ? e->st.prev_mark : 0;
}

/* Records the earlier run committed to output i after the snapshot: the
 * sequence numbers the ring gave out since. Exact: a producer killed inside
 * a publish (or a drop) leaves no number used without its record, because
 * attaching as the producer rolled that publish back (bus_ring.h, crash
 * semantics); numbers consumed by drops count as published (a replay drops
 * nothing twice). */
static uint64_t ring_skip(engine *e, int i, const engine_ckpt_ring *saved)
{
    engine_output *o = &e->out[i];
    bus_ring_stats rs;
    bus_ring_stats_get(o->ring, &rs);
    if (rs.next_seq < saved->next_seq || rs.head < saved->head) {
        mesh_warn("output to %s: ring %s is behind the snapshot (seq %llu < %llu): not the same "
                  "ring; nothing skipped",
                  o->to, o->shm, (unsigned long long)rs.next_seq,
                  (unsigned long long)saved->next_seq);
        return 0;
    }
    return rs.next_seq - saved->next_seq;
}

int engine_state_resume(engine *e)
{
    engine_state_rt *st = &e->st;
    if (!st->loaded || st->adopted || e->cnt.msgs_out || e->cnt.drops)
        return MESH_ESTATE;
    st->adopted = 1;
    const engine_ckpt_meta *m = &st->meta;
    int same = m->nrings == (uint32_t)e->nout;
    for (int i = 0; same && i < e->nout; i++)
        same = m->ring[i].name_hash == ring_name_hash(&e->out[i]);
    if (!same) {
        mesh_warn("engine state %s: the snapshot was saved with other output rings (%u, now %d): "
                  "records published after it may be delivered twice",
                  st->ck.name, m->nrings, e->nout);
        return 0;
    }
    for (int i = 0; i < e->nout; i++) {
        st->skip[i] = ring_skip(e, i, &m->ring[i]);
        st->nskip += st->skip[i];
    }
    mesh_info("resuming from snapshot %llu (progress %llu when saved, %llu when the last run "
              "stopped): %llu record(s) it published after the snapshot will not be published "
              "again",
              (unsigned long long)m->serial, (unsigned long long)m->mark,
              (unsigned long long)st->prev_mark, (unsigned long long)st->nskip);
    return 0;
}

int engine_state_replaying(const engine *e)
{
    return e->st.nskip != 0;
}

uint64_t engine_state_replay_end(engine *e)
{
    uint64_t left = e->st.nskip;
    for (int i = 0; left && i < e->nout; i++)
        if (e->st.skip[i])
            mesh_warn("output to %s: replay ended with %llu record(s) of the earlier run not "
                      "reproduced; publishing from here",
                      e->out[i].to, (unsigned long long)e->st.skip[i]);
    memset(e->st.skip, 0, sizeof(e->st.skip));
    e->st.nskip = 0;
    return left;
}

int engine_state_drop(engine *e)
{
    state_adopt(e);
    return engine_ckpt_invalidate(&e->st.ck);
}

void engine_state_mark(engine *e, uint64_t progress)
{
    if (!e->st.adopted)
        state_adopt(e);
    engine_ckpt_mark(&e->st.ck, progress);
}
