/* Tests of the mesh config loader: a full config loads exactly as written
 * (defaults where omitted), and every kind of bad config is refused with the
 * right file:line and a clear reason. Line numbers are counted by hand from
 * the texts below, where each line carries its number in a comment. */
#include "test_mesh_config_util.h"
#include "mesh_error.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

TestSuite(config, .init = cfgtest_setup, .fini = cfgtest_teardown);

/* ---- a full config ---------------------------------------------------- */

static const char full_cfg[] = "mesh:\n"                                              /* 1 */
                               "  name: prod-1\n"                                     /* 2 */
                               "  ring_bytes: 64KiB\n"                                /* 3 */
                               "  control_socket: /tmp/meshcfg-test.sock\n"           /* 4 */
                               "  metrics_listen: 127.0.0.1:9464\n"                   /* 5 */
                               "  listen: tcp://127.0.0.1:7400\n"                     /* 6 */
                               "  strategy: rest_for_one\n"                           /* 7 */
                               "  stop_timeout_ms: 7000\n"                            /* 8 */
                               "  keep_shm: true\n"                                   /* 9 */
                               "  bin_path: [bin]\n"                                  /* 10 */
                               "peers:\n"                                             /* 11 */
                               "  - name: hostb\n"                                    /* 12 */
                               "    address: tcp://10.0.0.2:7400\n"                   /* 13 */
                               "engines:\n"                                           /* 14 */
                               "  - name: marketdata\n"                               /* 15 */
                               "    args: [--feed, synthetic]\n"                      /* 16 */
                               "    cpu: 0\n"                                         /* 17 */
                               "    restart: transient\n"                             /* 18 */
                               "    heartbeat_timeout_ms: 0\n"                        /* 19 */
                               "    ready_timeout_ms: 2500\n"                         /* 20 */
                               "    backoff_initial_ms: 50\n"                         /* 21 */
                               "    backoff_max_ms: 800\n"                            /* 22 */
                               "    intensity: {max_restarts: 3, period_ms: 60000}\n" /* 23 */
                               "    escalation: stop_mesh\n"                          /* 24 */
                               "    wait: spin\n"                                     /* 25 */
                               "    stop_timeout_ms: 1500\n"                          /* 26 */
                               "    env: {FEED_SEED: 42, MODE: fast}\n"               /* 27 */
                               "  - name: features\n"                                 /* 28 */
                               "    binary: ./engines/feat\n"                         /* 29 */
                               "    depends_on: [marketdata]\n"                       /* 30 */
                               "  - name: vpin\n"                                     /* 31 */
                               "    binary: mesh-vpin-bin\n"                          /* 32 */
                               "    depends_on: marketdata\n"                         /* 33 */
                               "    wait: yield\n"                                    /* 34 */
                               "  - name: tool\n"                                     /* 35 */
                               "    binary: /bin/true\n"                              /* 36 */
                               "routes:\n"                                            /* 37 */
                               "  - from: marketdata\n"                               /* 38 */
                               "    to: [features, vpin]\n"                           /* 39 */
                               "    types: [trade, bar]\n"                            /* 40 */
                               "    ring_bytes: 4194304\n"                            /* 41 */
                               "    policy: drop\n"                                   /* 42 */
                               "  - from: vpin\n"                                     /* 43 */
                               "    to: strategy\n"                                   /* 44 */
                               "    peer: hostb\n"                                    /* 45 */
                               "    types: quote\n";                                  /* 46 */

Test(config, full_config_loads_every_field_as_written)
{
    make_exec("bin/mesh-marketdata"); /* default binary name, found via bin_path */
    make_exec("engines/feat");        /* path with '/': relative to the file's dir */
    make_exec("mesh-vpin-bin");       /* bare name: found in opts.search_path (= dir) */
    mesh_config *cfg;
    int rc = load(full_cfg, &cfg);
    cr_assert_eq(rc, 0, "rc %d:\n%s", rc, errbuf);
    cr_assert_str_eq(cfg->path, cfg_path);
    cr_assert_str_eq(cfg->name, "prod-1");
    cr_assert_eq(cfg->ring_bytes, 65536u); /* 64 KiB = 64 * 1024 */
    cr_assert_str_eq(cfg->control_socket, "/tmp/meshcfg-test.sock");
    cr_assert_str_eq(cfg->metrics_listen, "127.0.0.1:9464");
    cr_assert_str_eq(cfg->listen, "tcp://127.0.0.1:7400");
    cr_assert_eq(cfg->strategy, MESH_STRATEGY_REST_FOR_ONE);
    cr_assert_eq(cfg->stop_timeout_ms, 7000u);
    cr_assert_eq(cfg->keep_shm, 1);
    cr_assert_eq(cfg->npeers, 1);
    cr_assert_str_eq(cfg->peers[0].name, "hostb");
    cr_assert_str_eq(cfg->peers[0].address, "tcp://10.0.0.2:7400");
    cr_assert_eq(cfg->peers[0].line, 12);
    cr_assert_eq(cfg->nengines, 4);

    const mesh_engine_cfg *md = &cfg->engines[0];
    cr_assert_str_eq(md->name, "marketdata");
    expect_path(md->binary, "bin/mesh-marketdata");
    cr_assert_str_eq(md->argv[0], md->binary);
    cr_assert_str_eq(md->argv[1], "--feed");
    cr_assert_str_eq(md->argv[2], "synthetic");
    cr_assert_null(md->argv[3]);
    cr_assert_str_eq(md->env[0], "FEED_SEED=42");
    cr_assert_str_eq(md->env[1], "MODE=fast");
    cr_assert_null(md->env[2]);
    cr_assert_eq(md->cpu, 0);
    cr_assert_eq(md->restart, MESH_RESTART_TRANSIENT);
    cr_assert_eq(md->heartbeat_timeout_ms, 0u);
    cr_assert_eq(md->ready_timeout_ms, 2500u);
    cr_assert_eq(md->backoff_initial_ms, 50u);
    cr_assert_eq(md->backoff_max_ms, 800u);
    cr_assert_eq(md->intensity_max, 3u);
    cr_assert_eq(md->intensity_period_ms, 60000u);
    cr_assert_eq(md->escalation, MESH_ESCALATE_STOP_MESH);
    cr_assert_eq(md->wait, MESH_WAIT_SPIN);
    cr_assert_eq(md->stop_timeout_ms, 1500u);
    cr_assert_eq(md->ndeps, 0);
    cr_assert_eq(md->line, 15);

    /* features: everything omitted takes the documented default. */
    const mesh_engine_cfg *ft = &cfg->engines[1];
    expect_path(ft->binary, "engines/feat");
    cr_assert_str_eq(ft->argv[0], ft->binary);
    cr_assert_null(ft->argv[1]);
    cr_assert_null(ft->env[0]);
    cr_assert_eq(ft->cpu, -1);
    cr_assert_eq(ft->restart, MESH_RESTART_PERMANENT);
    cr_assert_eq(ft->escalation, MESH_ESCALATE_LEAVE_DOWN);
    cr_assert_eq(ft->wait, MESH_WAIT_ADAPTIVE);
    cr_assert_eq(ft->heartbeat_timeout_ms, 3000u);
    cr_assert_eq(ft->ready_timeout_ms, 10000u);
    cr_assert_eq(ft->backoff_initial_ms, 100u);
    cr_assert_eq(ft->backoff_max_ms, 10000u);
    cr_assert_eq(ft->intensity_max, 5u);
    cr_assert_eq(ft->intensity_period_ms, 30000u);
    cr_assert_eq(ft->stop_timeout_ms, 7000u); /* mesh.stop_timeout_ms */
    cr_assert_eq(ft->ndeps, 1);
    cr_assert_eq(ft->deps[0], 0);
    cr_assert_eq(ft->line, 28);

    const mesh_engine_cfg *vp = &cfg->engines[2];
    expect_path(vp->binary, "mesh-vpin-bin");
    cr_assert_eq(vp->ndeps, 1); /* depends_on given as a lone name */
    cr_assert_eq(vp->deps[0], 0);
    cr_assert_eq(vp->wait, MESH_WAIT_YIELD);
    cr_assert_str_eq(cfg->engines[3].binary, "/bin/true");

    /* to: [features, vpin] expands to two routes; the peer route keeps -1 for
     * the remote side. */
    cr_assert_eq(cfg->nroutes, 3);
    const mesh_route_cfg *r = cfg->routes;
    cr_assert_str_eq(r[0].from, "marketdata");
    cr_assert_str_eq(r[0].to, "features");
    cr_assert_str_eq(r[1].to, "vpin");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(r[i].from_engine, 0);
        cr_assert_eq(r[i].to_engine, i + 1);
        cr_assert_eq(r[i].peer, -1);
        cr_assert_eq(r[i].ring_bytes, 4194304u);
        cr_assert_eq(r[i].policy, MESH_POLICY_DROP);
        cr_assert_eq(r[i].ntypes, 2);
        cr_assert_eq(r[i].types[0], 0); /* trade, in lookup_type's table */
        cr_assert_eq(r[i].types[1], 2); /* bar */
        cr_assert_str_eq(r[i].type_names[1], "bar");
        cr_assert_eq(r[i].line, 38);
    }
    cr_assert_str_eq(r[2].from, "vpin");
    cr_assert_str_eq(r[2].to, "strategy");
    cr_assert_eq(r[2].from_engine, 2);
    cr_assert_eq(r[2].to_engine, -1);
    cr_assert_eq(r[2].peer, 0);
    cr_assert_eq(r[2].ring_bytes, 65536u); /* mesh.ring_bytes */
    cr_assert_eq(r[2].policy, MESH_POLICY_WAIT);
    cr_assert_eq(r[2].ntypes, 1);
    cr_assert_eq(r[2].types[0], 1); /* quote */
    cr_assert_eq(r[2].line, 43);
    /* Dependencies: features and vpin after marketdata; file order otherwise. */
    int want[] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++)
        cr_assert_eq(cfg->start_order[i], want[i]);
    cr_assert_eq(mesh_config_engine_index(cfg, "vpin"), 2);
    cr_assert_eq(mesh_config_engine_index(cfg, "strategy"), -1);
    mesh_config_free(cfg);
}

Test(config, minimal_config_takes_mesh_defaults)
{
    mesh_config *cfg;
    int rc = load("mesh:\n  name: mini\nengines:\n" ENGINE_A, &cfg);
    cr_assert_eq(rc, 0, "%s", errbuf);
    cr_assert_eq(cfg->ring_bytes, 1048576u); /* 1 MiB = 2^20 */
    cr_assert_str_eq(cfg->control_socket, "/tmp/mesh-mini.sock");
    cr_assert_str_eq(cfg->metrics_listen, "");
    cr_assert_str_eq(cfg->listen, "");
    cr_assert_eq(cfg->strategy, MESH_STRATEGY_ONE_FOR_ONE);
    cr_assert_eq(cfg->stop_timeout_ms, 5000u);
    cr_assert_eq(cfg->keep_shm, 0);
    cr_assert_eq(cfg->engines[0].stop_timeout_ms, 5000u);
    cr_assert_eq(cfg->nroutes, 0);
    cr_assert_eq(cfg->npeers, 0);
    mesh_config_free(cfg);
}

Test(config, start_order_puts_dependencies_first_stable_by_file_order)
{
    /* Rule: repeatedly start the first engine in file order whose
     * dependencies have all started. By hand, with indices
     * ui=0 logger=1 strategy=2 vpin=3 features=4 md=5:
     *   round 1: ui waits (strategy), logger ready          -> 1
     *   round 2: ui, strategy, vpin, features wait; md ready -> 5
     *   round 3: vpin ready (md started)                    -> 3
     *   round 4: strategy still waits (features); features  -> 4
     *   round 5: strategy ready                             -> 2
     *   round 6: ui                                         -> 0 */
    mesh_config *cfg;
    int rc = load(HEAD "engines:\n"
                       "  - {name: ui, binary: /bin/true, depends_on: [strategy]}\n"
                       "  - {name: logger, binary: /bin/true}\n"
                       "  - {name: strategy, binary: /bin/true, depends_on: [vpin, features]}\n"
                       "  - {name: vpin, binary: /bin/true, depends_on: [md]}\n"
                       "  - {name: features, binary: /bin/true, depends_on: [md]}\n"
                       "  - {name: md, binary: /bin/true}\n",
                  &cfg);
    cr_assert_eq(rc, 0, "%s", errbuf);
    int want[] = {1, 5, 3, 4, 2, 0};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(cfg->start_order[i], want[i], "start_order[%d] = %d, want %d", i,
                     cfg->start_order[i], want[i]);
    mesh_config_free(cfg);
}

Test(config, binary_search_order_is_search_path_then_bin_path_then_PATH)
{
    char pathdir[128], text[512];
    snprintf(pathdir, sizeof(pathdir), "%s/pathdir", dir);
    make_exec("mesh-one");         /* in search_path (dir) */
    make_exec("bin/mesh-one");     /* also in bin_path: search_path wins */
    make_exec("bin/mesh-two");     /* bin_path */
    make_exec("pathdir/mesh-two"); /* also in $PATH: bin_path wins */
    make_exec("pathdir/mesh-three");
    setenv("PATH", pathdir, 1); /* this test runs in its own process */
    snprintf(text, sizeof(text),
             "mesh: {name: t, bin_path: [bin]}\n"
             "engines:\n"
             "  - {name: a, binary: mesh-one}\n"
             "  - {name: b, binary: mesh-two}\n"
             "  - {name: three}\n"); /* default binary: mesh-<name> */
    mesh_config *cfg;
    int rc = load(text, &cfg);
    cr_assert_eq(rc, 0, "%s", errbuf);
    expect_path(cfg->engines[0].binary, "mesh-one");
    expect_path(cfg->engines[1].binary, "bin/mesh-two");
    expect_path(cfg->engines[2].binary, "pathdir/mesh-three");
    mesh_config_free(cfg);
}

/* ---- refusals, one per kind of problem --------------------------------- */

Test(config, unknown_key_suggests_the_closest)
{
    refused(HEAD "engines:\n"               /* 3 */
                 "  - name: a\n"            /* 4 */
                 "    bianry: /bin/true\n", /* 5 */
            5, "unknown key 'bianry' in engine entry (did you mean 'binary'?)");
}

Test(config, unknown_key_lists_the_allowed_keys)
{
    refused("mesh:\n"              /* 1 */
            "  name: t\n"          /* 2 */
            "  frobnicate: 1\n"    /* 3 */
            "engines:\n" ENGINE_A, /* 4.. */
            3, "unknown key 'frobnicate' in 'mesh'; allowed keys: name, ring_bytes,");
    refused("mesh: {name: t}\nengines:\n" ENGINE_A "colour: red\n", 5,
            "unknown key 'colour' in the top level; allowed keys: mesh, engines, routes, peers");
}

Test(config, list_where_a_scalar_is_expected)
{
    refused(HEAD "engines:\n"         /* 3 */
                 "  - name: [a, b]\n" /* 4 */
                 "    binary: /bin/true\n",
            4, "engine name must be a name, got a list");
    refused("mesh: [t]\nengines:\n" ENGINE_A, 1, "'mesh' must be a mapping");
    refused(HEAD "engines:\n" ENGINE_A "    args: --fast\n", 6, "'args' must be a list");
}

Test(config, non_integer_negative_and_out_of_range_numbers)
{
    refused(HEAD "engines:\n" ENGINE_A /* 3-5 */
                 "    cpu: two\n",     /* 6 */
            6, "'cpu' must be an integer, got 'two'");
    refused(HEAD "engines:\n" ENGINE_A "    heartbeat_timeout_ms: 3s\n", 6,
            "must be an integer, got '3s'");
    refused(HEAD "engines:\n" ENGINE_A "    ready_timeout_ms: -5\n", 6,
            "'ready_timeout_ms' must not be negative");
    /* 90000000 ms = 25 h > the 24 h (86400000 ms) bound */
    refused(HEAD "engines:\n" ENGINE_A "    stop_timeout_ms: 90000000\n", 6,
            "out of range (allowed 0..86400000)");
    refused(HEAD "engines:\n" ENGINE_A "    intensity: {max_restarts: 3, period_ms: 0}\n", 6,
            "intensity.period_ms is 0, out of range");
    /* the supervisor keeps one restart time per allowed restart: 255 at most */
    refused(HEAD "engines:\n" ENGINE_A "    intensity: {max_restarts: 256}\n", 6,
            "intensity.max_restarts is 256, out of range (allowed 0..255)");
    refused("mesh:\n  name: t\n  keep_shm: maybe\nengines:\n" ENGINE_A, 3,
            "mesh.keep_shm must be true or false, got 'maybe'");
}

Test(config, backoff_max_below_initial)
{
    refused(HEAD "engines:\n" ENGINE_A           /* 3-5 */
                 "    backoff_initial_ms: 500\n" /* 6 */
                 "    backoff_max_ms: 200\n",    /* 7 */
            7, "backoff_max_ms (200) is below backoff_initial_ms (500)");
}

Test(config, missing_required_keys)
{
    /* The mesh mapping starts at its first key, line 2. */
    refused("mesh:\n  ring_bytes: 65536\nengines:\n" ENGINE_A, 2,
            "missing required key 'name' in 'mesh'");
    refused("engines:\n" ENGINE_A, 1, "missing required key 'mesh'");
    refused(HEAD, 1, "'engines' must list at least one engine");
    refused(HEAD "engines:\n  - binary: /bin/true\n", 4,
            "missing required key 'name' in engine entry");
    refused(HEAD "engines:\n" ENGINE_A "peers:\n  - name: hostb\n", 7,
            "missing required key 'address' in peer entry");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B "routes:\n  - to: b\n    types: [trade]\n", 9,
            "missing required key 'from' in route entry");
}

Test(config, missing_binary_says_where_it_looked)
{
    refused(HEAD "engines:\n"                         /* 3 */
                 "  - name: a\n"                      /* 4 */
                 "    binary: /nonexistent/mesh-a\n", /* 5 */
            5, "binary '/nonexistent/mesh-a' not found (looked at /nonexistent/mesh-a)");
    char want[256];
    setenv("PATH", "/nonexistent-bin", 1);
    snprintf(want, sizeof(want),
             "binary 'mesh-nowhere' not found; searched search_path (%s), $PATH "
             "(/nonexistent-bin)",
             dir);
    refused(HEAD "engines:\n  - name: a\n    binary: mesh-nowhere\n", 5, want);
    /* No binary key: the default mesh-<name> is searched, reported at the name. */
    refused(HEAD "engines:\n  - name: zz\n", 4, "binary 'mesh-zz' not found; searched");
}

Test(config, non_executable_binary)
{
    char want[256];
    write_file("engine.sh", "#!/bin/sh\n", 0644);
    snprintf(want, sizeof(want), "binary './engine.sh' is not executable (looked at %s/engine.sh)",
             dir);
    refused(HEAD "engines:\n  - name: a\n    binary: ./engine.sh\n", 5, want);
    refused(HEAD "engines:\n  - name: a\n    binary: /tmp\n", 5, "is not a regular file");
    /* Found on a search directory but not executable: said so. */
    write_file("mesh-b", "#!/bin/sh\n", 0644);
    snprintf(want, sizeof(want), "(found %s/mesh-b but it is not executable)", dir);
    refused(HEAD "engines:\n  - name: b\n", 4, want);
}

Test(config, dependency_cycles_are_named)
{
    refused(HEAD "engines:\n"              /* 3 */
                 "  - name: a\n"           /* 4 */
                 "    binary: /bin/true\n" /* 5 */
                 "    depends_on: [b]\n"   /* 6 */
                 "  - name: b\n"           /* 7 */
                 "    binary: /bin/true\n" /* 8 */
                 "    depends_on: [c]\n"   /* 9 */
                 "  - name: c\n"           /* 10 */
                 "    binary: /bin/true\n" /* 11 */
                 "    depends_on: [a]\n"   /* 12 */
                 "  - name: d\n"           /* 13 */
                 "    binary: /bin/true\n" /* 14 */
                 "    depends_on: [d]\n",  /* 15 */
            6, "dependency cycle: a -> b -> c -> a");
    cr_assert(has_error(15, "dependency cycle: d -> d"), "%s", errbuf);
    cr_assert_eq(error_lines(), 2, "%s", errbuf);
}

Test(config, cycle_behind_an_acyclic_engine)
{
    /* x depends on y, y and z depend on each other: one cycle, found from x. */
    refused(HEAD "engines:\n"                                           /* 3 */
                 "  - {name: x, binary: /bin/true, depends_on: [y]}\n"  /* 4 */
                 "  - {name: y, binary: /bin/true, depends_on: [z]}\n"  /* 5 */
                 "  - {name: z, binary: /bin/true, depends_on: [y]}\n", /* 6 */
            5, "dependency cycle: y -> z -> y");
    cr_assert_eq(error_lines(), 1, "%s", errbuf);
}

Test(config, reference_to_unknown_engine)
{
    refused(HEAD "engines:\n" ENGINE_A    /* 3-5 */
                 "    depends_on: [b]\n", /* 6 */
            6, "engine 'a' depends on unknown engine 'b'");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B /* 3-7 */
                 "routes:\n"                    /* 8 */
                 "  - from: a\n"                /* 9 */
                 "    to: [b, c]\n"             /* 10 */
                 "    types: [trade]\n",        /* 11 */
            10, "route to unknown engine 'c' (add 'peer:' if it runs on another host)");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B "routes:\n  - {from: q, to: b, types: [bar]}\n", 9,
            "route from unknown engine 'q'");
    /* A near miss gets a suggestion. */
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B "routes:\n  - {from: a, to: bb, types: [bar]}\n", 9,
            "route to unknown engine 'bb' (did you mean 'b'?)");
}

Test(config, duplicate_engine_and_peer_names)
{
    refused(HEAD "engines:\n" ENGINE_A /* 3-5 */
                 "  - name: a\n"       /* 6 */
                 "    binary: /bin/true\n",
            6, "duplicate engine name 'a' (first at line 4)");
    refused(HEAD "engines:\n" ENGINE_A          /* 3-5 */
                 "peers:\n"                     /* 6 */
                 "  - name: p\n"                /* 7 */
                 "    address: tcp://h1:7400\n" /* 8 */
                 "  - name: p\n"                /* 9 */
                 "    address: tcp://h2:7400\n",
            9, "duplicate peer name 'p' (first at line 7)");
}

Test(config, duplicate_route_for_the_same_pair)
{
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B            /* 3-7 */
                 "routes:\n"                               /* 8 */
                 "  - {from: a, to: b, types: [trade]}\n"  /* 9 */
                 "  - {from: a, to: [b], types: [bar]}\n", /* 10 */
            10, "duplicate route from 'a' to 'b' (first at line 9)");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B
                 "routes:\n  - {from: a, to: [b, b], types: [bar]}\n",
            9, "duplicate route from 'a' to 'b' (first at line 9)");
}

Test(config, route_without_types)
{
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B /* 3-7 */
                 "routes:\n"                    /* 8 */
                 "  - from: a\n"                /* 9 */
                 "    to: b\n",                 /* 10 */
            9, "route from 'a' has no types");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B "routes:\n  - from: a\n    to: b\n    types: []\n",
            11, "route from 'a' has no types");
}

Test(config, route_from_an_engine_to_itself)
{
    refused(HEAD "engines:\n" ENGINE_A "routes:\n  - {from: a, to: a, types: [trade]}\n", 7,
            "a route from engine 'a' to itself is not allowed");
}

Test(config, cpu_must_exist_on_this_machine)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    char text[256], want[128];
    refused(HEAD "engines:\n" ENGINE_A "    cpu: -1\n", 6, "cpu -1 is negative");
    /* CPUs are numbered 0..ncpu-1, so ncpu itself is the first that does not exist. */
    snprintf(text, sizeof(text), HEAD "engines:\n" ENGINE_A "    cpu: %ld\n", ncpu);
    snprintf(want, sizeof(want), "cpu %ld is not available: this process may run on CPUs", ncpu);
    refused(text, 6, want);
}

/* The CPUs in this process's affinity mask, lowest and highest. */
static int mask_bounds(int *lo, int *hi)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    *lo = *hi = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &set)) {
            *lo = *lo < 0 ? c : *lo;
            *hi = c;
        }
    return CPU_COUNT(&set);
}

/* Only the CPUs this process may run on are accepted, not every number
 * below the online count: with the mask cut down to its highest CPU (as
 * taskset or a cpuset would), the lowest one is refused, with the list. */
Test(config, cpu_must_be_in_this_process_affinity_mask)
{
    int lo, hi;
    if (mask_bounds(&lo, &hi) < 2)
        cr_skip_test("needs a process allowed on 2 CPUs or more to build a mask with a gap");
    mesh_config *cfg;
    char text[256], want[128];
    snprintf(text, sizeof(text), HEAD "engines:\n" ENGINE_A "    cpu: %d\n", lo);
    cr_assert_eq(load(text, &cfg), 0, "%s", errbuf);
    cr_assert_eq(cfg->engines[0].cpu, lo);
    mesh_config_free(cfg);
    cpu_set_t only;
    CPU_ZERO(&only);
    CPU_SET(hi, &only);
    cr_assert_eq(sched_setaffinity(0, sizeof(only), &only), 0);
    snprintf(want, sizeof(want), "cpu %d is not available: this process may run on CPUs %d only",
             lo, hi);
    refused(text, 6, want);
    snprintf(text, sizeof(text), HEAD "engines:\n" ENGINE_A "    cpu: %d\n", hi);
    cr_assert_eq(load(text, &cfg), 0, "%s", errbuf);
    cr_assert_eq(cfg->engines[0].cpu, hi);
    mesh_config_free(cfg);
}

Test(config, ring_bytes_power_of_two_in_range)
{
    /* 1000000 lies in range but 2^19 = 524288 < 1000000 < 2^20 = 1048576. */
    refused("mesh: {name: t, ring_bytes: 1000000}\nengines:\n" ENGINE_A, 1,
            "mesh.ring_bytes 1000000 is not a power of two");
    refused("mesh: {name: t, ring_bytes: 2048}\nengines:\n" ENGINE_A, 1,
            "out of range (allowed 4096..1073741824");
    refused("mesh: {name: t, ring_bytes: 2GiB}\nengines:\n" ENGINE_A, 1, "out of range");
    refused("mesh: {name: t, ring_bytes: 1MB}\nengines:\n" ENGINE_A, 1,
            "must be a size in bytes (e.g. 1048576 or 1MiB), got '1MB'");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B /* 3-7 */
                 "routes:\n"                    /* 8 */
                 "  - from: a\n"                /* 9 */
                 "    to: b\n"                  /* 10 */
                 "    types: [trade]\n"         /* 11 */
                 "    ring_bytes: 12288\n",     /* 12: 3 * 4096 */
            12, "'ring_bytes' 12288 is not a power of two");
    /* The bounds themselves are allowed: 4096 = 2^12 and 1GiB = 2^30. */
    mesh_config *cfg;
    cr_assert_eq(load("mesh: {name: t, ring_bytes: 1GiB}\nengines:\n" ENGINE_A, &cfg), 0, "%s",
                 errbuf);
    cr_assert_eq(cfg->ring_bytes, 1073741824u);
    mesh_config_free(cfg);
    cr_assert_eq(load("mesh: {name: t, ring_bytes: 4096}\nengines:\n" ENGINE_A, &cfg), 0, "%s",
                 errbuf);
    cr_assert_eq(cfg->ring_bytes, 4096u);
    mesh_config_free(cfg);
}

Test(config, unknown_message_type)
{
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B /* 3-7 */
                 "routes:\n"                    /* 8 */
                 "  - from: a\n"                /* 9 */
                 "    to: b\n"                  /* 10 */
                 "    types:\n"                 /* 11 */
                 "      - trade\n"              /* 12 */
                 "      - candle\n",            /* 13 */
            13, "route from 'a': unknown message type 'candle'");
    cr_assert_eq(error_lines(), 1, "%s", errbuf);
}

Test(config, bad_enum_values_list_the_allowed_ones)
{
    refused(HEAD "engines:\n" ENGINE_A "    restart: forever\n", 6,
            "'restart' 'forever' is not allowed; allowed values: permanent, transient, temporary");
    refused(HEAD "engines:\n" ENGINE_A "    escalation: panic\n", 6,
            "allowed values: leave_down, stop_mesh");
    refused(HEAD "engines:\n" ENGINE_A "    wait: sleep\n", 6,
            "allowed values: adaptive, spin, yield");
    refused("mesh: {name: t, strategy: all}\nengines:\n" ENGINE_A, 1,
            "allowed values: one_for_one, rest_for_one");
    refused(HEAD "engines:\n" ENGINE_A ENGINE_B
                 "routes:\n  - {from: a, to: b, types: [trade], policy: block}\n",
            9, "'policy' 'block' is not allowed; allowed values: wait, drop");
}

Test(config, invalid_names)
{
    refused("mesh:\n  name: a/b\nengines:\n" ENGINE_A, 2, "mesh.name 'a/b' is not a valid name");
    refused(HEAD "engines:\n  - name: md feed\n    binary: /bin/true\n", 4,
            "engine name 'md feed' is not a valid name");
    /* 32 characters: one more than the 31 allowed. */
    refused(HEAD "engines:\n  - name: abcdefghijklmnopqrstuvwxyz012345\n    binary: /bin/true\n", 4,
            "is not a valid name: use 1 to 31 characters");
    refused(HEAD "engines:\n" ENGINE_A "peers:\n  - {name: 'h b', address: 'tcp://h:1'}\n", 7,
            "peer name 'h b' is not a valid name");
}

Test(config, peer_referenced_but_not_defined)
{
    refused(HEAD "engines:\n" ENGINE_A                                  /* 3-5 */
                 "peers:\n"                                             /* 6 */
                 "  - {name: hostb, address: 'tcp://h:7400'}\n"         /* 7 */
                 "routes:\n"                                            /* 8 */
                 "  - {from: a, to: x, peer: hostc, types: [trade]}\n", /* 9 */
            9, "peer 'hostc' is not defined in 'peers' (did you mean 'hostb'?)");
}

Test(config, remote_route_needs_exactly_one_local_side)
{
    static const char base[] = HEAD "  listen: tcp://0.0.0.0:7400\n"                      /* 3 */
                                    "engines:\n" ENGINE_A ENGINE_B                        /* 4-8 */
                                    "peers:\n"                                            /* 9 */
                                    "  - {name: hostb, address: 'tcp://10.0.0.2:7400'}\n" /* 10 */
                                    "routes:\n";                                          /* 11 */
    char text[512];
    snprintf(text, sizeof(text), "%s  - {from: a, to: b, peer: hostb, types: [trade]}\n", base);
    refused(text, 12, "both are local engines");
    snprintf(text, sizeof(text), "%s  - {from: x, to: y, peer: hostb, types: [trade]}\n", base);
    refused(text, 12, "neither is a local engine");
    /* Either direction with one local side is fine. */
    snprintf(text, sizeof(text),
             "%s  - {from: a, to: far, peer: hostb, types: [trade]}\n"
             "  - {from: far, to: b, peer: hostb, types: [trade]}\n",
             base);
    mesh_config *cfg;
    cr_assert_eq(load(text, &cfg), 0, "%s", errbuf);
    cr_assert_eq(cfg->routes[1].from_engine, -1);
    cr_assert_eq(cfg->routes[1].to_engine, 1);
    cr_assert_eq(cfg->routes[1].peer, 0);
    mesh_config_free(cfg);
}

Test(config, inbound_remote_route_needs_mesh_listen)
{
    static const char base[] = HEAD "engines:\n" ENGINE_A                          /* 3-5 */
                                    "peers:\n"                                     /* 6 */
                                    "  - {name: hostb, address: 'tcp://h:7400'}\n" /* 7 */
                                    "routes:\n"                                    /* 8 */
                                    "  - {from: a, to: far, peer: hostb, types: [trade]}\n" /* 9 */;
    char text[512];
    /* outbound only: no listen needed */
    mesh_config *cfg;
    cr_assert_eq(load(base, &cfg), 0, "%s", errbuf);
    mesh_config_free(cfg);
    /* line 10, the inbound route, is refused without mesh.listen */
    snprintf(text, sizeof(text), "%s  - {from: far, to: a, peer: hostb, types: [trade]}\n", base);
    refused(text, 10, "an inbound off-host route needs mesh.listen");
}

Test(config, empty_file_and_non_mapping_top_level)
{
    refused("", 1, "the file is empty");
    refused("# only a comment\n\n", 1, "the file is empty");
    refused("- mesh\n- engines\n", 1, "the top level must be a mapping");
    refused("hello\n", 1, "the top level must be a mapping");
}

Test(config, yaml_syntax_error_has_its_position)
{
    /* A tab cannot start a token in YAML: line 2, column 1. */
    refused("mesh:\n\tname: t\n", 2, "YAML syntax error");
    cr_assert(
        strstr(errbuf, ":2:1: YAML syntax error: found character that cannot start any token"),
        "%s", errbuf);
}

Test(config, duplicate_key_and_second_document)
{
    refused("mesh:\n"     /* 1 */
            "  name: t\n" /* 2 */
            "  name: u\n" /* 3 */
            "engines:\n" ENGINE_A,
            3, "duplicate key 'name' in 'mesh' (first at line 2)");
    /* mesh 1, engines 2, ENGINE_A 3-4, --- 5, more 6 */
    refused("mesh: {name: t}\nengines:\n" ENGINE_A "---\nmore: 1\n", 6,
            "only one YAML document is allowed");
}

Test(config, bad_env_and_addresses)
{
    refused(HEAD "engines:\n" ENGINE_A "    env: {1BAD: x}\n", 6, "env name '1BAD' is not valid");
    refused("mesh: {name: t, metrics_listen: 9464}\nengines:\n" ENGINE_A, 1,
            "mesh.metrics_listen '9464' must be host:port");
    refused("mesh: {name: t, listen: 'udp://x:1'}\nengines:\n" ENGINE_A, 1,
            "mesh.listen 'udp://x:1' is not an nng URL");
    refused(HEAD "engines:\n" ENGINE_A "peers:\n  - {name: p, address: 'tcp://host'}\n", 7,
            "peer address 'tcp://host' is not an nng URL");
}

Test(config, every_problem_in_one_file_is_reported_in_line_order)
{
    mesh_config *cfg;
    int rc = load("mesh:\n"                      /* 1 */
                  "  name: t\n"                  /* 2 */
                  "  ring_bytes: 3000\n"         /* 3: below 4096 */
                  "engines:\n"                   /* 4 */
                  "  - name: a\n"                /* 5 */
                  "    binary: /bin/true\n"      /* 6 */
                  "    restart: sometimes\n"     /* 7: bad enum */
                  "    cpu: -3\n"                /* 8: negative CPU */
                  "  - name: b\n"                /* 9 */
                  "    binary: /nonexistent/b\n" /* 10: missing binary */
                  "    depends_on: [ghost]\n"    /* 11: unknown engine */
                  "routes:\n"                    /* 12 */
                  "  - from: a\n"                /* 13 */
                  "    to: b\n"                  /* 14 */
                  "    types: [trade, candle]\n" /* 15: unknown type */
                  "    policy: maybe\n",         /* 16: bad enum */
                  &cfg);
    cr_assert_eq(rc, MESH_ECONFIG);
    cr_assert_null(cfg);
    static const struct {
        int line;
        const char *phrase;
    } want[] = {{3, "out of range"},
                {7, "'restart' 'sometimes'"},
                {8, "cpu -3 is negative"},
                {10, "binary '/nonexistent/b' not found"},
                {11, "unknown engine 'ghost'"},
                {15, "unknown message type 'candle'"},
                {16, "'policy' 'maybe'"}};
    cr_assert_eq(error_lines(), 7, "%s", errbuf);
    const char *pos = errbuf;
    for (int i = 0; i < 7; i++) {
        cr_assert(has_error(want[i].line, want[i].phrase), "line %d '%s' missing:\n%s",
                  want[i].line, want[i].phrase, errbuf);
        char prefix[160];
        snprintf(prefix, sizeof(prefix), "%s:%d:", cfg_path, want[i].line);
        const char *at = strstr(pos, prefix); /* in line order */
        cr_assert_not_null(at, "line %d out of order:\n%s", want[i].line, errbuf);
        pos = at + 1;
    }
}

Test(config, too_many_engines)
{
    /* MESH_CFG_MAX_ENGINES + 1 one-line engines after "engines:" on line 3:
     * engine k (0-based) sits on line 4 + k, so the refused one (k = 64) on 68. */
    static char text[8192];
    size_t pos = (size_t)snprintf(text, sizeof(text), HEAD "engines:\n");
    for (int k = 0; k <= MESH_CFG_MAX_ENGINES; k++)
        pos += (size_t)snprintf(text + pos, sizeof(text) - pos,
                                "  - {name: e%d, binary: /bin/true}\n", k);
    refused(text, 4 + MESH_CFG_MAX_ENGINES, "too many engines (at most 64)");
    refused(HEAD "engines: []\n", 3, "'engines' must list at least one engine");
}

/* ---- thread safety ------------------------------------------------------- */

/* Loads full_cfg and checks a few fields; returns the number of mismatches. */
static void *load_repeatedly(void *arg)
{
    long bad = 0;
    for (int i = 0; i < 20; i++) {
        mesh_config *cfg;
        char err[4096];
        mesh_config_opts o = {.search_path = dir, .type_lookup = lookup_type};
        if (mesh_config_load(&cfg, cfg_path, &o, err, sizeof(err)) != 0) {
            bad++;
            continue;
        }
        bad += cfg->nroutes != 3 || cfg->engines[2].deps[0] != 0 || cfg->routes[2].peer != 0;
        mesh_config_free(cfg);
    }
    return (void *)bad;
}

Test(config, loads_concurrently_from_two_threads)
{
    make_exec("bin/mesh-marketdata");
    make_exec("engines/feat");
    make_exec("mesh-vpin-bin");
    write_file("mesh.yaml", full_cfg, 0644);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, load_repeatedly, NULL), 0);
    for (int i = 0; i < 2; i++) {
        void *bad;
        pthread_join(t[i], &bad);
        cr_assert_eq((long)bad, 0, "thread %d: %ld bad loads", i, (long)bad);
    }
}
