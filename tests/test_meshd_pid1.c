/* meshd as PID 1 of a new PID namespace (as in a container): SIGTERM stops
 * the mesh cleanly (engines drain, exit status 0, no shared memory left),
 * and an orphaned grandchild of an engine is reaped by meshd. Needs
 * `unshare --pid --fork --mount-proc` (root or CAP_SYS_ADMIN): when the
 * system refuses it, main() says why and exits 77, which meson reports as
 * SKIP; when unshare works, the test runs and its assertions can fail. */
#include "mesh_harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static th_mesh H;

static void fini(void)
{
    th_cleanup_all();
}

#define UNSHARE "unshare --pid --fork --mount-proc"

/* "" when `unshare` can make a PID namespace here, else why not. */
static const char *unshare_refused(void)
{
    static char out[1024], err[1024], why[1200];
    char *argv[] = {"/bin/sh", "-c", "exec " UNSHARE " /bin/true", NULL};
    int rc = th_run(argv, out, sizeof(out), err, sizeof(err), 20000);
    if (rc == 0)
        return "";
    snprintf(why, sizeof(why), "'%s /bin/true' failed (exit %d): %s", UNSHARE, rc, err);
    return why;
}

/* Field `key` ("PPid", "NSpid") of /proc/<pid>/status into buf; 0 or -1. */
static int status_field(pid_t pid, const char *key, char *buf, size_t len)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int found = -1;
    size_t klen = strlen(key);
    while (found < 0 && fgets(line, sizeof(line), f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            snprintf(buf, len, "%s", line + klen + 1);
            found = 0;
        }
    fclose(f);
    return found;
}

/* Host pid of the process whose NSpid ends with `nspid` (its pid inside the
 * namespace) and whose parent chain is in meshd's namespace, or 0. With
 * `parent_of` > 0: the child of that host pid instead. */
static pid_t find_host_pid(pid_t parent_of, int nspid, const char *ns)
{
    DIR *d = opendir("/proc");
    pid_t found = 0;
    for (struct dirent *de; d && !found && (de = readdir(d));) {
        pid_t pid = (pid_t)atoi(de->d_name);
        char buf[256], link[64], target[64] = "";
        if (pid <= 0)
            continue;
        if (parent_of > 0) {
            if (status_field(pid, "PPid", buf, sizeof(buf)) == 0 && atoi(buf) == parent_of)
                found = pid;
            continue;
        }
        snprintf(link, sizeof(link), "/proc/%d/ns/pid", (int)pid);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        if (strcmp(target, ns) != 0 || status_field(pid, "NSpid", buf, sizeof(buf)) != 0)
            continue;
        const char *last = strrchr(buf, '\t');
        if (last && atoi(last + 1) == nspid)
            found = pid;
    }
    if (d)
        closedir(d);
    return found;
}

static int read_int_file(const char *path)
{
    for (int i = 0; i < 1000; i++) {
        FILE *f = fopen(path, "r");
        int v = 0;
        if (f) {
            if (fscanf(f, "%d", &v) != 1)
                v = 0;
            fclose(f);
        }
        if (v > 0)
            return v;
        usleep(10000);
    }
    return 0;
}

Test(meshd_pid1, as_pid_1_sigterm_stops_cleanly_and_orphans_are_reaped, .fini = fini, .timeout = 90)
{
    th_init(&H);
    /* prod -> cons carries 100 trades; `sh` leaves an orphan: its subshell
     * exits at once, so `sleep 2` is re-parented to PID 1 = meshd. */
    th_write_config(&H, "",
                    "engines:\n"
                    "  - name: prod\n    binary: test-producer\n    args: [--count, '100']\n"
                    "  - name: cons\n    binary: test-consumer\n"
                    "    args: [--out, @DIR@/cons.out]\n    depends_on: [prod]\n"
                    "  - name: sh\n    binary: /bin/sh\n    heartbeat_timeout_ms: 0\n"
                    "    args: [-c, '( sleep 2 & echo $! > @DIR@/orphan.pid ); "
                    "echo ready >&3; exec 3>&-; exec sleep 600']\n"
                    "routes:\n  - from: prod\n    to: cons\n    types: [trade]\n");
    th_start_wrapped(&H, UNSHARE, NULL);
    cr_assert(th_wait_ready(&H, 30000), "never ready (log %s)", H.log);
    sup_jval *st = th_request(&H, "status");
    cr_assert_not_null(st);
    cr_assert_eq(sup_jval_gnum(st, "pid", 0), 1.0, "meshd is PID 1 in its namespace");
    sup_jval_free(st);
    pid_t meshd = find_host_pid(H.meshd, 0, NULL); /* unshare's child */
    cr_assert_gt(meshd, 0, "meshd's host pid not found");
    char link[64], ns[64] = "";
    snprintf(link, sizeof(link), "/proc/%d/ns/pid", (int)meshd);
    cr_assert_gt(readlink(link, ns, sizeof(ns) - 1), 0);

    /* the orphan: found while it sleeps, then gone (reaped, not a zombie) */
    char path[400];
    snprintf(path, sizeof(path), "%s/orphan.pid", H.dir);
    int nspid = read_int_file(path);
    cr_assert_gt(nspid, 0, "the orphan's pid was never written");
    pid_t orphan = find_host_pid(0, nspid, ns);
    cr_assert_gt(orphan, 0, "orphan (pid %d in the namespace) not found", nspid);
    char ppid[64] = "";
    if (status_field(orphan, "PPid", ppid, sizeof(ppid)) == 0)
        cr_assert_eq(atoi(ppid), meshd, "the orphan's parent is PID 1 = meshd");
    snprintf(path, sizeof(path), "/proc/%d", (int)orphan);
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) { /* bounded: 10 s; a zombie stays listed */
        gone = access(path, F_OK) != 0;
        usleep(20000);
    }
    cr_assert(gone, "orphan %d left as a zombie of PID 1", (int)orphan);

    /* SIGTERM to PID 1 (from outside its namespace, as `docker stop` does) */
    cr_assert_eq(kill(meshd, SIGTERM), 0);
    cr_assert_eq(th_wait_exit(&H, 30000), 0, "graceful stop exits 0 (log %s)", H.log);
    cr_assert_eq(th_shm_count(&H), 0, "shared memory objects left in /dev/shm");
    cr_assert_neq(access(H.socket, F_OK), 0, "control socket left behind");
    unsigned counts[101] = {0};
    snprintf(path, sizeof(path), "%s/cons.out", H.dir);
    cr_assert_eq(th_read_counters(path, counts, 101), 100, "the consumer handled all 100");
    pid_t left[8];
    cr_assert_eq(th_mesh_procs(&H, left, 8), 0, "processes of the mesh survived");
}

/* Criterion's main, preceded by the check that the test can run here. */
int main(int argc, char *argv[])
{
    struct criterion_test_set *tests = criterion_initialize();
    const char *why = unshare_refused();
    if (why[0]) {
        fprintf(stderr, "SKIP: cannot run meshd as PID 1 here: %s\n", why);
        criterion_finalize(tests);
        return 77; /* meson: skipped */
    }
    int result = 0;
    if (criterion_handle_args(argc, argv, true))
        result = !criterion_run_all_tests(tests);
    criterion_finalize(tests);
    return result;
}
