/* meshctl status and rings: one request (two samples for ring rates), then a
 * table for people or JSON for programs. */
#include "mctl.h"

#include "mesh_clock.h"
#include "mesh_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void fmt_ns(char *buf, size_t len, double ns)
{
    if (ns <= 0)
        snprintf(buf, len, "-");
    else if (ns < 1000)
        snprintf(buf, len, "%.0fns", ns);
    else if (ns < 1e6)
        snprintf(buf, len, "%.1fus", ns / 1e3);
    else
        snprintf(buf, len, "%.1fms", ns / 1e6);
}

static void fmt_exit(char *buf, size_t len, const sup_jval *e)
{
    const sup_jval *x = sup_jval_get(e, "last_exit");
    if (!x || x->type != SUP_J_OBJ) {
        snprintf(buf, len, "-");
        return;
    }
    int sig = (int)sup_jval_gnum(x, "signal", 0);
    const char *why = sup_jval_gstr(x, "reason", "");
    if (sig)
        snprintf(buf, len, "signal %d (%s)", sig, why);
    else
        snprintf(buf, len, "exit %d (%s)", (int)sup_jval_gnum(x, "status", 0), why);
}

static void print_engine(const sup_jval *e)
{
    char up[32], hb[32], ex[96], p50[32], p99[32];
    mctl_fmt_ms(up, sizeof(up), sup_jval_gnum(e, "uptime_ms", 0));
    const sup_jval *h = sup_jval_get(e, "heartbeat_age_ms");
    if (h && h->type == SUP_J_NUM)
        mctl_fmt_ms(hb, sizeof(hb), h->num);
    else
        snprintf(hb, sizeof(hb), "-");
    fmt_exit(ex, sizeof(ex), e);
    fmt_ns(p50, sizeof(p50), sup_jval_gnum(e, "p50_ns", 0));
    fmt_ns(p99, sizeof(p99), sup_jval_gnum(e, "p99_ns", 0));
    int pid = (int)sup_jval_gnum(e, "pid", 0);
    char pids[16];
    snprintf(pids, sizeof(pids), pid > 0 ? "%d" : "-", pid);
    printf("%-16s %-7s %-9s %7s %8.0f  %-32s %6s %10.0f %10.0f %8s %8s\n",
           sup_jval_gstr(e, "name", "?"), pids, sup_jval_gstr(e, "state", "?"), up,
           sup_jval_gnum(e, "restarts", 0), ex, hb, sup_jval_gnum(e, "msgs_in", 0),
           sup_jval_gnum(e, "msgs_out", 0), p50, p99);
}

/* "bridge: ..." line of the bridge-wide counters (br: the "bridge" object). */
static void bridge_totals(const sup_jval *br)
{
    printf("bridge: %.0f peer link(s) up, %.0f bad frame(s) before a route was known, %.0f "
           "route(s) refused at handshakes (%.0f held by another mesh), %.0f refusal(s) from "
           "peers\n",
           sup_jval_gnum(br, "links_up", 0), sup_jval_gnum(br, "bad_frames", 0),
           sup_jval_gnum(br, "hello_refused", 0), sup_jval_gnum(br, "route_conflicts", 0),
           sup_jval_gnum(br, "peer_refusals", 0));
}

/* One row of an off-host table: the route, its peer and the bridge's
 * counters (o: the counters object, or NULL before the bridge runs). */
static void bridge_row(const sup_jval *r, const sup_jval *o, int *header)
{
    if (!(*header)++)
        printf("\n%-28s %-10s %-3s %4s %12s %12s %8s %10s %10s %9s %10s %8s\n", "OFF-HOST ROUTE",
               "PEER", "DIR", "LINK", "SENT", "RECEIVED", "GAPS", "RECONNECTS", "DROPS", "REJECTED",
               "BAD FRAMES", "RESENT");
    char route[64];
    snprintf(route, sizeof(route), "%s -> %s", sup_jval_gstr(r, "from", "?"),
             sup_jval_gstr(r, "to", "?"));
    if (!o || o->type != SUP_J_OBJ || !sup_jval_get(o, "direction")) {
        printf("%-28s %-10s (bridge not running yet)\n", route, sup_jval_gstr(r, "peer", "?"));
        return;
    }
    printf("%-28s %-10s %-3s %4s %12.0f %12.0f %8.0f %10.0f %10.0f %9.0f %10.0f %8.0f\n", route,
           sup_jval_gstr(r, "peer", "?"), sup_jval_gstr(o, "direction", "?"),
           sup_jval_gnum(o, "link_up", 0) > 0 ? "up" : "down", sup_jval_gnum(o, "sent", 0),
           sup_jval_gnum(o, "received", 0), sup_jval_gnum(o, "gaps", 0),
           sup_jval_gnum(o, "reconnects", 0), sup_jval_gnum(o, "drops", 0),
           sup_jval_gnum(o, "rejected", 0), sup_jval_gnum(o, "bad_frames", 0),
           sup_jval_gnum(o, "resent", 0));
}

int mctl_status(const mctl *c)
{
    char *reply = NULL;
    if (mctl_request(c, "status", &reply, NULL) != 0)
        return 1;
    sup_jval *v = NULL;
    int rc = mctl_parse_reply(reply, &v);
    if (rc == 0 && c->json) {
        printf("%s\n", reply);
    } else if (rc == 0) {
        char up[32];
        mctl_fmt_ms(up, sizeof(up), sup_jval_gnum(v, "uptime_ms", 0));
        printf("mesh %s: %s, meshd pid %.0f, up %s, config %s\n", sup_jval_gstr(v, "mesh", "?"),
               sup_jval_gstr(v, "state", "?"), sup_jval_gnum(v, "pid", 0), up,
               sup_jval_gstr(v, "config", "?"));
        printf("%-16s %-7s %-9s %7s %8s  %-32s %6s %10s %10s %8s %8s\n", "ENGINE", "PID", "STATE",
               "UPTIME", "RESTARTS", "LAST EXIT", "HB AGE", "MSGS IN", "MSGS OUT", "P50", "P99");
        const sup_jval *es = sup_jval_get(v, "engines");
        for (size_t i = 0; i < sup_jval_len(es); i++)
            print_engine(sup_jval_at(es, i));
        const sup_jval *br = sup_jval_get(v, "bridge"), *rs = sup_jval_get(br, "routes");
        int header = 0;
        for (size_t i = 0; br && br->type == SUP_J_OBJ && i < sup_jval_len(rs); i++)
            bridge_row(sup_jval_at(rs, i), sup_jval_at(rs, i), &header);
        if (br && br->type == SUP_J_OBJ)
            bridge_totals(br);
    }
    sup_jval_free(v);
    free(reply);
    return rc == 0 ? 0 : 1;
}

static sup_jval *rings_sample(const mctl *c)
{
    char *reply = NULL;
    sup_jval *v = NULL;
    if (mctl_request(c, "rings", &reply, NULL) == 0 && mctl_parse_reply(reply, &v) != 0) {
        sup_jval_free(v);
        v = NULL;
    }
    free(reply);
    return v;
}

/* Off-host route: the peer and the bridge's counters, as meshd sent them. */
static void bridge_json(sup_json *j, const sup_jval *r)
{
    const sup_jval *br = sup_jval_get(r, "bridge");
    if (!sup_jval_get(r, "peer"))
        return;
    sup_json_kstr(j, "peer", sup_jval_gstr(r, "peer", ""));
    sup_json_key(j, "bridge");
    if (!br || br->type != SUP_J_OBJ) {
        sup_json_null(j);
        return;
    }
    sup_json_obj(j);
    for (const sup_jval *k = br->child; k; k = k->next) {
        if (k->type == SUP_J_NUM)
            sup_json_kuint(j, k->key, (uint64_t)k->num);
        else if (k->type == SUP_J_STR)
            sup_json_kstr(j, k->key, k->str);
    }
    sup_json_obj_end(j);
}

/* The off-host routes' table and the bridge-wide counters (only when the
 * mesh has off-host routes). */
static void bridge_table(const sup_jval *b)
{
    const sup_jval *rs = sup_jval_get(b, "rings"), *br = sup_jval_get(b, "bridge");
    int header = 0;
    for (size_t i = 0; i < sup_jval_len(rs); i++) {
        const sup_jval *r = sup_jval_at(rs, i);
        if (sup_jval_get(r, "peer"))
            bridge_row(r, sup_jval_get(r, "bridge"), &header);
    }
    if (br && br->type == SUP_J_OBJ)
        bridge_totals(br);
}

static void rings_json(const sup_jval *b, double dt_s)
{
    sup_json j;
    sup_json_init(&j, 1u << 22);
    sup_json_obj(&j);
    sup_json_kbool(&j, "ok", 1);
    sup_json_kdouble(&j, "interval_s", dt_s);
    const sup_jval *br = sup_jval_get(b, "bridge");
    if (br && br->type == SUP_J_OBJ) { /* bridge-wide counters, as meshd sent them */
        sup_json_key(&j, "bridge");
        sup_json_obj(&j);
        for (const sup_jval *k = br->child; k; k = k->next)
            if (k->type == SUP_J_NUM)
                sup_json_kuint(&j, k->key, (uint64_t)k->num);
        sup_json_obj_end(&j);
    }
    sup_json_key(&j, "rings");
    sup_json_arr(&j);
    static const char *const nums[] = {"capacity", "depth",   "messages",   "bytes",   "full_waits",
                                       "drops",    "wakeups", "high_water", "next_seq"};
    const sup_jval *rs = sup_jval_get(b, "rings");
    for (size_t i = 0; i < sup_jval_len(rs); i++) {
        const sup_jval *r = sup_jval_at(rs, i);
        sup_json_obj(&j);
        sup_json_kstr(&j, "from", sup_jval_gstr(r, "from", ""));
        sup_json_kstr(&j, "to", sup_jval_gstr(r, "to", ""));
        sup_json_kstr(&j, "policy", sup_jval_gstr(r, "policy", ""));
        for (size_t k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
            sup_json_kuint(&j, nums[k], (uint64_t)sup_jval_gnum(r, nums[k], 0));
        sup_json_kdouble(&j, "rate", sup_jval_gnum(r, "rate", 0));
        bridge_json(&j, r);
        sup_json_obj_end(&j);
    }
    sup_json_arr_end(&j);
    sup_json_obj_end(&j);
    printf("%s\n", sup_json_text(&j, NULL));
    sup_json_free(&j);
}

int mctl_rings(const mctl *c, unsigned interval_ms)
{
    sup_jval *a = rings_sample(c);
    if (!a)
        return 1;
    struct timespec ts = {interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    sup_jval *b = rings_sample(c);
    if (!b) {
        sup_jval_free(a);
        return 1;
    }
    double dt = (sup_jval_gnum(b, "time_ns", 0) - sup_jval_gnum(a, "time_ns", 0)) / 1e9;
    const sup_jval *ra = sup_jval_get(a, "rings"), *rb = sup_jval_get(b, "rings");
    /* rate per ring: messages between the two samples / seconds between them */
    for (sup_jval *r = rb ? rb->child : NULL; r; r = r->next) {
        double m0 = 0;
        for (size_t i = 0; i < sup_jval_len(ra); i++)
            if (strcmp(sup_jval_gstr(sup_jval_at(ra, i), "name", ""),
                       sup_jval_gstr(r, "name", "-")) == 0)
                m0 = sup_jval_gnum(sup_jval_at(ra, i), "messages", 0);
        sup_jval *rate = calloc(1, sizeof(*rate));
        if (!rate)
            break;
        rate->type = SUP_J_NUM;
        rate->key = strdup("rate");
        rate->num = dt > 0 ? (sup_jval_gnum(r, "messages", 0) - m0) / dt : 0;
        rate->next = r->child;
        r->child = rate;
    }
    if (c->json) {
        rings_json(b, dt);
    } else {
        printf("%-28s %-6s %10s %12s %12s %10s %10s %10s %10s\n", "ROUTE", "POLICY", "DEPTH B",
               "RATE MSG/S", "MESSAGES", "FULL WAIT", "DROPS", "WAKEUPS", "HIGH-WTR B");
        for (size_t i = 0; i < sup_jval_len(rb); i++) {
            const sup_jval *r = sup_jval_at(rb, i);
            char route[64];
            snprintf(route, sizeof(route), "%s -> %s", sup_jval_gstr(r, "from", "?"),
                     sup_jval_gstr(r, "to", "?"));
            printf("%-28s %-6s %10.0f %12.1f %12.0f %10.0f %10.0f %10.0f %10.0f\n", route,
                   sup_jval_gstr(r, "policy", "?"), sup_jval_gnum(r, "depth", 0),
                   sup_jval_gnum(r, "rate", 0), sup_jval_gnum(r, "messages", 0),
                   sup_jval_gnum(r, "full_waits", 0), sup_jval_gnum(r, "drops", 0),
                   sup_jval_gnum(r, "wakeups", 0), sup_jval_gnum(r, "high_water", 0));
        }
        bridge_table(b);
    }
    sup_jval_free(a);
    sup_jval_free(b);
    return 0;
}
