/* Unit tests of sup_reap_descendants, run on the test's own children (the
 * function kills and reaps every child of the calling process): a child is
 * killed and reaped; one that does not die is warned about, signalled and
 * counted once, however many 2 ms rounds it survives. */
#include "sup_mesh.h"

#include "mesh_log.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(sup_reap, .timeout = 30);

typedef struct logged {
    pid_t pid;
    int still_running; /* warnings naming pid */
    int did_not_die;   /* the closing error */
    int lines;
} logged;

static int count_line(void *arg, const char *line, size_t len)
{
    logged *l = arg;
    char want[64];
    snprintf(want, sizeof(want), "pid %d (a descendant of an engine) is still running", l->pid);
    l->lines++;
    if (memmem(line, len, want, strlen(want)) != NULL)
        l->still_running++;
    if (memmem(line, len, "did not die within", 18) != NULL)
        l->did_not_die++;
    return 0;
}

/* A child that waits until the write end of p is closed, then exits. */
static pid_t waiting_child(int p[2])
{
    cr_assert_eq(pipe(p), 0);
    pid_t kid = fork();
    cr_assert_geq(kid, 0);
    if (kid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(p[0]);
    return kid;
}

Test(sup_reap, a_running_child_is_killed_once_and_reaped)
{
    int p[2];
    pid_t kid = waiting_child(p);
    logged l = {.pid = kid};
    mesh_log_set_writer(count_line, &l);
    int killed = sup_reap_descendants(5000);
    mesh_log_set_writer(NULL, NULL);
    cr_assert_eq(killed, 1);
    cr_assert_eq(l.still_running, 1);
    cr_assert_eq(l.did_not_die, 0);
    cr_assert_eq(waitpid(kid, NULL, WNOHANG), -1, "reaped already");
    cr_assert_eq(errno, ECHILD);
    close(p[1]);
}

Test(sup_reap, a_child_that_does_not_die_is_warned_about_and_counted_once)
{
    /* A child SIGKILL cannot end, as one in uninterruptible sleep: a root
     * child of a test that then drops to an unprivileged user (kill() fails
     * with EPERM), so it outlives every round until the timeout. */
    if (geteuid() != 0)
        cr_skip_test("needs root, to leave a child the test cannot signal");
    int p[2];
    pid_t kid = waiting_child(p);
    cr_assert_eq(setgroups(0, NULL), 0);
    cr_assert_eq(setresgid(65534, 65534, 65534), 0);
    cr_assert_eq(setresuid(65534, 65534, 65534), 0);
    prctl(PR_SET_DUMPABLE, 1); /* LeakSanitizer's exit check needs it after a uid change */
    cr_assert_eq(kill(kid, 0), -1);
    cr_assert_eq(errno, EPERM);
    logged l = {.pid = kid};
    mesh_log_set_writer(count_line, &l);
    int killed = sup_reap_descendants(200); /* ~100 rounds of 2 ms */
    mesh_log_set_writer(NULL, NULL);
    cr_assert_eq(killed, 1, "one process, counted once (got %d)", killed);
    cr_assert_eq(l.still_running, 1, "one warning for it (got %d)", l.still_running);
    cr_assert_eq(l.did_not_die, 1);
    cr_assert_eq(l.lines, 2, "nothing else logged");
    close(p[1]); /* the child exits */
    cr_assert_eq(waitpid(kid, NULL, 0), kid);
}
