/* The bridge engine entry meshd adds to a config: when, with which defaults,
 * which engines depend on it, start order, a user-declared bridge. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "bridge_cfg.h"
#include "mesh_error.h"

static mesh_config *parse(const char *yaml)
{
    mesh_config *cfg = NULL;
    char err[2048] = "";
    int rc = mesh_config_parse(&cfg, yaml, strlen(yaml), "test.yaml", "/", NULL, err, sizeof(err));
    cr_assert_eq(rc, 0, "config: %s", err);
    return cfg;
}

static const char two_routes[] = "mesh: {name: t, listen: 'tcp://0.0.0.0:7400'}\n"
                                 "engines:\n"
                                 "  - {name: md, binary: /bin/true}\n"
                                 "  - {name: feat, binary: /bin/true, depends_on: [md]}\n"
                                 "  - {name: mon, binary: /bin/true}\n"
                                 "routes:\n"
                                 "  - {from: md, to: feat, types: [trade]}\n"
                                 "  - {from: md, to: vpin, peer: b, types: [trade]}\n"
                                 "  - {from: vpin, to: mon, peer: b, types: [vpin]}\n"
                                 "peers:\n"
                                 "  - {name: b, address: 'tcp://10.0.0.2:7400'}\n";

Test(cfg, a_mesh_with_off_host_routes_gets_a_bridge_started_first)
{
    mesh_config *cfg = parse(two_routes);
    char err[256] = "";
    cr_assert(bridge_cfg_needed(cfg));
    cr_assert_eq(bridge_cfg_inject(cfg, "/usr/bin/mesh-bridge", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cfg->nengines, 4);
    int bi = bridge_cfg_index(cfg);
    cr_assert_eq(bi, 3, "appended after the three engines of the file");
    const mesh_engine_cfg *b = &cfg->engines[bi];
    cr_assert_str_eq(b->binary, "/usr/bin/mesh-bridge");
    cr_assert_str_eq(b->argv[0], "/usr/bin/mesh-bridge");
    cr_assert_null(b->argv[1]);
    cr_assert_null(b->env[0]);
    cr_assert_eq(b->restart, MESH_RESTART_PERMANENT);
    cr_assert_eq(b->heartbeat_timeout_ms, 3000);
    cr_assert_eq(b->ndeps, 0);
    cr_assert_eq(cfg->start_order[0], bi, "the bridge starts first");
    /* md (from of md->vpin) and mon (to of vpin->mon) use it; feat does not */
    int md = mesh_config_engine_index(cfg, "md"), mon = mesh_config_engine_index(cfg, "mon");
    int feat = mesh_config_engine_index(cfg, "feat");
    cr_assert_eq(cfg->engines[md].ndeps, 1);
    cr_assert_eq(cfg->engines[md].deps[0], bi);
    cr_assert_eq(cfg->engines[mon].ndeps, 1);
    cr_assert_eq(cfg->engines[feat].ndeps, 1, "only its own dependency on md");
    /* every engine still after its dependencies */
    int pos[8];
    for (int i = 0; i < cfg->nengines; i++)
        pos[cfg->start_order[i]] = i;
    for (int e = 0; e < cfg->nengines; e++)
        for (int d = 0; d < cfg->engines[e].ndeps; d++)
            cr_assert_lt(pos[cfg->engines[e].deps[d]], pos[e]);
    /* a second call changes nothing */
    cr_assert_eq(bridge_cfg_inject(cfg, "/usr/bin/mesh-bridge", err, sizeof(err)), 0);
    cr_assert_eq(cfg->nengines, 4);
    cr_assert_eq(cfg->engines[md].ndeps, 1);
    mesh_config_free(cfg);
}

Test(cfg, a_local_mesh_needs_no_bridge)
{
    mesh_config *cfg = parse("mesh: {name: t}\n"
                             "engines:\n"
                             "  - {name: a, binary: /bin/true}\n"
                             "  - {name: b, binary: /bin/true}\n"
                             "routes:\n"
                             "  - {from: a, to: b, types: [trade]}\n");
    char err[256];
    cr_assert_not(bridge_cfg_needed(cfg));
    cr_assert_eq(bridge_cfg_inject(cfg, NULL, err, sizeof(err)), 0);
    cr_assert_eq(cfg->nengines, 2);
    mesh_config_free(cfg);
}

Test(cfg, a_listen_address_alone_needs_a_bridge)
{
    mesh_config *cfg = parse("mesh: {name: t, listen: 'tcp://0.0.0.0:7400'}\n"
                             "engines:\n"
                             "  - {name: a, binary: /bin/true}\n");
    cr_assert(bridge_cfg_needed(cfg));
    mesh_config_free(cfg);
}

Test(cfg, a_declared_bridge_is_used_as_written)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml), "%s",
             "mesh: {name: t}\n"
             "engines:\n"
             "  - {name: md, binary: /bin/true}\n"
             "  - {name: bridge, binary: /bin/true, args: [--batch-bytes, '8192'],\n"
             "     heartbeat_timeout_ms: 9000}\n"
             "routes:\n"
             "  - {from: md, to: vpin, peer: b, types: [trade]}\n"
             "peers:\n"
             "  - {name: b, address: 'tcp://10.0.0.2:7400'}\n");
    mesh_config *cfg = parse(yaml);
    char err[256];
    cr_assert_eq(bridge_cfg_inject(cfg, "/usr/bin/mesh-bridge", err, sizeof(err)), 0);
    cr_assert_eq(cfg->nengines, 2, "no second bridge");
    int bi = bridge_cfg_index(cfg);
    cr_assert_eq(cfg->engines[bi].heartbeat_timeout_ms, 9000);
    cr_assert_str_eq(cfg->engines[bi].argv[1], "--batch-bytes");
    cr_assert_eq(cfg->start_order[0], bi);
    cr_assert_eq(cfg->engines[0].deps[0], bi);
    mesh_config_free(cfg);
}

Test(cfg, no_binary_is_a_config_error_that_says_so)
{
    mesh_config *cfg = parse(two_routes);
    char err[512] = "";
    cr_assert_eq(bridge_cfg_inject(cfg, NULL, err, sizeof(err)), MESH_ECONFIG);
    cr_assert(strstr(err, "mesh-bridge") != NULL, "message: %s", err);
    mesh_config_free(cfg);
}

Test(cfg, the_binary_is_found_in_the_search_path)
{
    char out[512];
    const char *root = getenv("MESH_BUILD_ROOT");
    char dirs[600];
    snprintf(dirs, sizeof(dirs), "/nonexistent:%s/bridge", root ? root : ".");
    cr_assert_eq(bridge_cfg_find_binary(dirs, out, sizeof(out)), 0);
    cr_assert(strstr(out, "/bridge/mesh-bridge") != NULL, "found %s", out);
    cr_assert_eq(out[0], '/', "absolute");
}
