/* meshctl: operate a running mesh through meshd's control socket (status,
 * start/stop/restart, rings, reload, stop-mesh) and watch its traffic (tail). */
#include "mctl.h"

#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_config.h"

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: meshctl [--config FILE | --socket PATH] COMMAND [ARGS]\n"
    "\n"
    "Talks to meshd over its control socket: --socket PATH, else mesh.control_socket\n"
    "of --config FILE, else $MESH_CONFIG's, else /tmp/mesh-default.sock.\n"
    "\n"
    "commands:\n"
    "  status [--json]            engines: pid, state, uptime, restarts, last exit,\n"
    "                             heartbeat age, messages in/out, handler p50/p99\n"
    "  start ENGINE               start an engine that is down or failed\n"
    "  stop ENGINE                stop an engine (SIGTERM, SIGKILL at its stop timeout)\n"
    "  restart ENGINE             stop, then start again\n"
    "  rings [--json] [--interval MS]\n"
    "                             per route: depth, rate, messages, full waits, drops,\n"
    "                             wakeups, high-water (rate over MS, default 1000)\n"
    "  tail TYPE [--count N] [--timeout MS]\n"
    "                             print live messages of TYPE as JSON lines\n"
    "  reload                     re-read the config; apply what is safe\n"
    "  stop-mesh [--no-wait]      graceful stop of the whole mesh\n"
    "  help [COMMAND]             this text, or one command's\n"
    "\n"
    "exit status: 0 ok, 1 the request failed, 2 usage error.\n";

static const struct {
    const char *cmd, *help;
} cmd_help[] = {
    {"status", "usage: meshctl status [--json]\n"
               "  One line per engine: ENGINE PID STATE UPTIME RESTARTS LAST-EXIT HB-AGE\n"
               "  MSGS-IN MSGS-OUT P50 P99 (handler latency). --json prints meshd's reply as is,\n"
               "  including each engine's restart_history (exit_ms, delay_ms, spawn_ms; times\n"
               "  in ms since meshd started). A mesh with off-host routes also gets the nng\n"
               "  bridge's counters per route and bridge-wide (as in `meshctl rings`).\n"},
    {"start", "usage: meshctl start ENGINE\n  Starts ENGINE (down or failed: the failure "
              "history is forgotten).\n"},
    {"stop", "usage: meshctl stop ENGINE\n  SIGTERM (the engine drains its inputs), SIGKILL "
             "after its stop_timeout_ms;\n  it stays down until started.\n"},
    {"restart", "usage: meshctl restart ENGINE\n  Stops ENGINE as 'stop' does, then starts it "
                "again once it exited.\n"},
    {"rings", "usage: meshctl rings [--json] [--interval MS]\n"
              "  Samples the ring counters twice, MS apart (default 1000), and prints per\n"
              "  route: depth (bytes waiting), rate (messages/s between the samples), messages,\n"
              "  full waits (producer found it full), drops, wakeups (doorbell rings),\n"
              "  high-water (largest depth seen, bytes). Off-host routes (`peer:`) get a\n"
              "  second table, the nng bridge's counters: direction, link, records sent and\n"
              "  received, gaps, reconnects, drops, rejected, bad frames, resent, and a line\n"
              "  of bridge-wide counters (docs/MULTIHOST.md).\n"},
    {"tail", "usage: meshctl tail TYPE [--count N] [--timeout MS]\n"
             "  Prints every TYPE message (e.g. trade, quote, bar, vpin) passing through the\n"
             "  mesh's rings as one JSON line, starting with those still queued. Read-only:\n"
             "  the rings are attached as an observer, records are copied, never consumed,\n"
             "  and the engines are not slowed. If meshctl falls behind (a consumer frees\n"
             "  records before they are copied) it skips ahead and MISSES records; it says\n"
             "  so on stderr. Needs the config (--config, or asks meshd where it is).\n"
             "  --count N     stop after N messages (exit 1 if the timeout comes first)\n"
             "  --timeout MS  give up after MS milliseconds (default: no limit)\n"},
    {"reload", "usage: meshctl reload\n  Same as SIGHUP to meshd: engines added are started, "
               "removed ones stopped,\n  changed binary/args/env restarted, policies applied. "
               "Route changes are\n  refused (the old config stays).\n"},
    {"stop-mesh", "usage: meshctl stop-mesh [--no-wait]\n"
                  "  Stops every engine in reverse start order, removes shared memory and the\n"
                  "  control socket, and waits until meshd has finished (unless --no-wait).\n"},
};

static int help_for(const char *cmd)
{
    for (size_t i = 0; i < sizeof(cmd_help) / sizeof(cmd_help[0]); i++)
        if (strcmp(cmd, cmd_help[i].cmd) == 0) {
            fputs(cmd_help[i].help, stdout);
            return 0;
        }
    fprintf(stderr, "meshctl: no command '%s'\n%s", cmd, usage);
    return 2;
}

static int resolve_socket(mctl *c, const char *socket)
{
    if (socket) {
        snprintf(c->socket, sizeof(c->socket), "%s", socket);
        return 0;
    }
    if (!c->config)
        c->config = getenv("MESH_CONFIG");
    if (!c->config) {
        snprintf(c->socket, sizeof(c->socket), "/tmp/mesh-default.sock");
        return 0;
    }
    static char err[SUP_CONFIG_ERRLEN];
    mesh_config *cfg = NULL;
    if (sup_config_load_for_tool(&cfg, c->config, err, sizeof(err)) != 0) {
        fprintf(stderr, "meshctl: %s:\n%s", c->config, err);
        return 1;
    }
    snprintf(c->socket, sizeof(c->socket), "%s", cfg->control_socket);
    mesh_config_free(cfg);
    return 0;
}

static int simple(const mctl *c, const char *line)
{
    char *reply = NULL;
    sup_jval *v = NULL;
    if (mctl_request(c, line, &reply, NULL) != 0)
        return 1;
    int rc = mctl_parse_reply(reply, &v);
    if (rc == 0)
        printf("%s\n", sup_jval_gstr(v, "message", "ok"));
    sup_jval_free(v);
    free(reply);
    return rc == 0 ? 0 : 1;
}

static int stop_mesh(const mctl *c, int wait)
{
    char *reply = NULL;
    sup_jval *v = NULL;
    int fd = -1;
    if (mctl_request(c, "stop-mesh", &reply, &fd) != 0)
        return 1;
    int rc = mctl_parse_reply(reply, &v);
    sup_jval_free(v);
    free(reply);
    if (rc == 0 && wait) { /* meshd closes the connection when it has finished */
        char b[256];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        while (poll(&p, 1, -1) >= 0 && read(fd, b, sizeof(b)) > 0)
            ;
        printf("mesh stopped\n");
    } else if (rc == 0) {
        printf("stopping\n");
    }
    close(fd);
    return rc == 0 ? 0 : 1;
}

/* Subcommand options after the command word. */
typedef struct sub_opts {
    long count;
    unsigned interval_ms, timeout_ms;
    int no_wait;
} sub_opts;

static int parse_sub(int argc, char **argv, mctl *c, sub_opts *o)
{
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"count", required_argument, NULL, 'n'},
                                         {"interval", required_argument, NULL, 'i'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"no-wait", no_argument, NULL, 'w'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    optind = 0; /* glibc: full re-initialisation (permutes options after TYPE) */
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (ch) {
        case 'j':
            c->json = 1;
            break;
        case 'w':
            o->no_wait = 1;
            break;
        case 'n':
            o->count = strtol(optarg, &end, 10);
            break;
        case 'i':
            o->interval_ms = (unsigned)strtoul(optarg, &end, 10);
            break;
        case 't':
            o->timeout_ms = (unsigned)strtoul(optarg, &end, 10);
            break;
        case 'h':
            return help_for(argv[0]) == 0 ? 0 : 2;
        default:
            return 2;
        }
        if (end && (*end || end == optarg)) {
            fprintf(stderr, "meshctl %s: '%s' is not a number\n", argv[0], optarg);
            return 2;
        }
    }
    return -1;
}

/* Global options before the command. Returns -1 to go on, else the exit status. */
static int parse_global(int argc, char **argv, mctl *c, const char **socket)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"socket", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "+c:s:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            c->config = optarg;
            break;
        case 's':
            *socket = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs("meshctl: try --help\n", stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    return -1;
}

/* Number of positional arguments `cmd` takes. */
static int wanted_args(const char *cmd)
{
    static const char *const one[] = {"start", "stop", "restart", "tail"};
    for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++)
        if (strcmp(cmd, one[i]) == 0)
            return 1;
    return 0;
}

/* Runs command `cmd` with its positional argument (if any). */
static int dispatch(mctl *c, const char *cmd, char **pos, const sub_opts *so)
{
    if (!strcmp(cmd, "status"))
        return mctl_status(c);
    if (!strcmp(cmd, "rings"))
        return mctl_rings(c, so->interval_ms);
    if (!strcmp(cmd, "tail"))
        return mctl_tail(c, pos[0], so->count, so->timeout_ms);
    if (!strcmp(cmd, "stop-mesh"))
        return stop_mesh(c, !so->no_wait);
    if (!strcmp(cmd, "reload"))
        return simple(c, "reload");
    if (wanted_args(cmd) == 1) {
        char line[128];
        snprintf(line, sizeof(line), "%s %s", cmd, pos[0]);
        return simple(c, line);
    }
    return help_for(cmd);
}

int main(int argc, char **argv)
{
    mctl c = {.timeout_ms = 10000};
    const char *socket = NULL;
    mesh_log_init("meshctl", MESH_LOG_WARN);
    int rc = parse_global(argc, argv, &c, &socket);
    if (rc >= 0)
        return rc;
    char **sub = argv + optind;
    int nsub = argc - optind;
    const char *cmd = sub[0];
    if (strcmp(cmd, "help") == 0) {
        if (nsub > 1)
            return help_for(sub[1]);
        fputs(usage, stdout);
        return 0;
    }
    sub_opts so = {.interval_ms = 1000};
    if ((rc = parse_sub(nsub, sub, &c, &so)) >= 0)
        return rc;
    char **pos = sub + optind; /* positional arguments after the options */
    int npos = nsub - optind, want = wanted_args(cmd);
    if (npos != want) {
        fprintf(stderr, "meshctl %s: expected %d argument(s), got %d\n", cmd, want, npos);
        help_for(cmd);
        return 2;
    }
    if (resolve_socket(&c, socket) != 0)
        return 1;
    return dispatch(&c, cmd, pos, &so);
}
