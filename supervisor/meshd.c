/* meshd: the mesh supervisor's command line. Validates the config (--check),
 * or runs the mesh on one libuv loop until a graceful stop. */
#include "mesh_error.h"
#include "mesh_log.h"
#include "sup_config.h"
#include "sup_mesh.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: meshd --config FILE [options]\n"
    "       meshd --config FILE --check\n"
    "\n"
    "Supervises a mesh of engine processes: creates the shared memory (rings and\n"
    "control blocks), starts the engines in dependency order (each after its\n"
    "dependencies reported ready), restarts them per policy, stops them in reverse\n"
    "order on SIGTERM/SIGINT, and serves meshctl on the control socket.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     mesh config (YAML; see docs/CONFIG.md)\n"
    "      --check           validate the config, print every error as\n"
    "                        file:line:col, exit 1 if any (0 if valid)\n"
    "      --keep-shm        leave shared memory in place after stop (also mesh.keep_shm);\n"
    "                        the next start re-attaches valid objects\n"
    "      --log-level L     debug | info | warn | error (default info); engines get it\n"
    "                        as MESH_LOG_LEVEL unless that is set\n"
    "      --foreground      stay in the foreground (default: detach once the mesh is\n"
    "                        ready; exit status 0 = ready, 1 = failed to start;\n"
    "                        never detaches as PID 1)\n"
    "      --log-file FILE   when detached, append meshd and engine output to FILE\n"
    "                        (default: output stays on the inherited stdout/stderr)\n"
    "      --bin-path DIRS   colon-separated directories searched first for engine\n"
    "                        binaries named without '/' (also $MESH_SEARCH_PATH,\n"
    "                        which engines inherit)\n"
    "      --ready-fd N      write \"ready\\n\" to fd N and close it once every engine\n"
    "                        is ready (s6-style readiness of meshd itself)\n"
    "  -h, --help            this text\n"
    "\n"
    "signals: SIGTERM/SIGINT graceful stop; SIGHUP reload the config (what is safe).\n"
    "Engine output is re-emitted line by line as \"[engine] line\".\n"
    "exit status: 0 clean stop, 1 startup failure or an engine failed with\n"
    "escalation stop_mesh, 2 usage error.\n";

typedef struct meshd_args {
    const char *config, *log_file, *bin_path;
    int check, keep_shm, foreground, ready_fd;
    enum mesh_log_level level;
} meshd_args;

static int parse_level(const char *s, enum mesh_log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum mesh_log_level)i;
            return 0;
        }
    return MESH_EINVAL;
}

enum { O_CHECK = 256, O_KEEP, O_LEVEL, O_FG, O_LOGFILE, O_BIN, O_READY };

/* One option. Returns -1 to go on, else the exit status (0 after --help). */
static int take_option(int c, const char *arg, meshd_args *a)
{
    switch (c) {
    case 'c':
        a->config = arg;
        return -1;
    case O_CHECK:
        a->check = 1;
        return -1;
    case O_KEEP:
        a->keep_shm = 1;
        return -1;
    case O_FG:
        a->foreground = 1;
        return -1;
    case O_LOGFILE:
        a->log_file = arg;
        return -1;
    case O_BIN:
        a->bin_path = arg;
        return -1;
    case O_READY:
        a->ready_fd = atoi(arg);
        if (a->ready_fd >= 3 && fcntl(a->ready_fd, F_GETFD) >= 0)
            return -1;
        fprintf(stderr, "meshd: --ready-fd %s: not an open descriptor >= 3\n", arg);
        return 2;
    case O_LEVEL:
        setenv("MESH_LOG_LEVEL", arg, 0); /* engines follow, unless set already */
        if (parse_level(arg, &a->level) == 0)
            return -1;
        fprintf(stderr, "meshd: --log-level %s: expected debug, info, warn or error\n", arg);
        return 2;
    case 'h':
        fputs(usage, stdout);
        return 0;
    default:
        fputs("meshd: try --help\n", stderr);
        return 2;
    }
}

/* Returns -1 to run, else the exit status. */
static int parse_args(int argc, char **argv, meshd_args *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check", no_argument, NULL, O_CHECK},
                                         {"keep-shm", no_argument, NULL, O_KEEP},
                                         {"log-level", required_argument, NULL, O_LEVEL},
                                         {"foreground", no_argument, NULL, O_FG},
                                         {"log-file", required_argument, NULL, O_LOGFILE},
                                         {"bin-path", required_argument, NULL, O_BIN},
                                         {"ready-fd", required_argument, NULL, O_READY},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int c, rc;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1)
        if ((rc = take_option(c, optarg, a)) >= 0)
            return rc;
    if (optind < argc) {
        fprintf(stderr, "meshd: unexpected argument '%s' (try --help)\n", argv[optind]);
        return 2;
    }
    if (!a->config) {
        fputs("meshd: --config FILE is required (try --help)\n", stderr);
        return 2;
    }
    return -1;
}

static int check_config(const meshd_args *a)
{
    static char err[SUP_CONFIG_ERRLEN];
    mesh_config *cfg = NULL;
    int rc = sup_config_load(&cfg, a->config, a->bin_path, NULL, NULL, err, sizeof(err));
    if (rc != 0) {
        fputs(err, stderr);
        if (!err[0])
            fprintf(stderr, "%s: %s\n", a->config, mesh_strerror(rc));
        fprintf(stderr, "meshd: %s: invalid config\n", a->config);
        return 1;
    }
    printf("%s: ok: mesh %s, %d engines, %d routes; start order:", a->config, cfg->name,
           cfg->nengines, cfg->nroutes);
    for (int i = 0; i < cfg->nengines; i++)
        printf(" %s", cfg->engines[cfg->start_order[i]].name);
    printf("\n");
    mesh_config_free(cfg);
    return 0;
}

/* Detaches: the parent waits until the daemon reports the mesh ready on a
 * pipe (exit 0) or closes it without doing so (exit 1). Returns in the
 * daemon with *ready_fd set to the pipe's write end. */
static int detach(const meshd_args *a, int *ready_fd)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return 1;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid > 0) {
        close(p[1]);
        char buf[8];
        ssize_t n = read(p[0], buf, sizeof(buf));
        if (n > 0) {
            printf("meshd: mesh ready (pid %d)\n", (int)pid);
            return 0;
        }
        int st;
        waitpid(pid, &st, WNOHANG);
        fprintf(stderr, "meshd: the mesh did not become ready (see %s)\n",
                a->log_file ? a->log_file : "the output above");
        return 1;
    }
    close(p[0]);
    setsid();
    if (a->log_file) {
        int fd = open(a->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        close(devnull);
    }
    *ready_fd = p[1];
    return -1;
}

int main(int argc, char **argv)
{
    meshd_args a = {.level = MESH_LOG_INFO, .ready_fd = -1};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    mesh_log_init("meshd", a.level);
    /* The engines load the same config and resolve the same binaries: they
     * get the search path through MESH_SEARCH_PATH (inherited). */
    if (a.bin_path)
        setenv("MESH_SEARCH_PATH", a.bin_path, 1);
    else
        a.bin_path = getenv("MESH_SEARCH_PATH");
    if (a.check)
        return check_config(&a);
    int ready_fd = a.ready_fd;
    /* As PID 1 (a container) meshd never detaches: its exit would end the container. */
    if (!a.foreground && getpid() != 1 && (rc = detach(&a, &ready_fd)) >= 0)
        return rc;
    static sup_mesh m; /* large: engine table with its handles */
    uv_loop_t loop;
    uv_loop_init(&loop);
    sup_opts opts = {
        .config_path = a.config,
        .keep_shm = a.keep_shm,
        .search_path = a.bin_path,
        .out_fd = STDOUT_FILENO,
        .err_fd = STDERR_FILENO,
        .ready_fd = ready_fd,
    };
    rc = sup_mesh_start(&m, &loop, &opts);
    if (rc == 0)
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_run(&loop, UV_RUN_NOWAIT);
    if (uv_loop_close(&loop) != 0)
        mesh_warn("event loop closed with handles still open");
    mesh_config_free(m.cfg);
    return rc != 0 ? 1 : m.exit_code;
}
