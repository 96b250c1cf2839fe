/* Sandbox launcher: set the resource limits, drop to an unprivileged uid and exec the command.
 *
 *   bt_launch CPU_S AS_BYTES FSIZE_BYTES NPROC UID -- command [args...]
 *
 * One exec instead of util-linux's `prlimit` followed by `setpriv` (about 3 ms less per
 * program, most of the sandbox's fixed cost for short programs). UID -1 keeps the caller's
 * uid. Compiled once by the harness (trusted code); see sandbox.launcher(). Exit status 125 =
 * usage error, 126 = a limit or the uid could not be set, 127 = the command could not run. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static unsigned long long number(const char *text) {
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || !end || *end) {
        fprintf(stderr, "bt_launch: not a number: %s\n", text);
        exit(125);
    }
    return value;
}

static void limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit r = {soft, hard};
    if (setrlimit(resource, &r) != 0) {
        perror("bt_launch: setrlimit");
        exit(126);
    }
}

int main(int argc, char **argv) {
    if (argc < 8 || strcmp(argv[6], "--") != 0) {
        fprintf(stderr, "usage: bt_launch CPU_S AS FSIZE NPROC UID -- command [args...]\n");
        return 125;
    }
    rlim_t cpu = number(argv[1]);
    limit(RLIMIT_CPU, cpu, cpu + 1);
    limit(RLIMIT_AS, number(argv[2]), number(argv[2]));
    limit(RLIMIT_FSIZE, number(argv[3]), number(argv[3]));
    limit(RLIMIT_NPROC, number(argv[4]), number(argv[4]));
    limit(RLIMIT_CORE, 0, 0);
    if (strcmp(argv[5], "-1") != 0) {
        uid_t uid = (uid_t)number(argv[5]);
        /* Groups first, then gid, then uid: after setuid the others are no longer allowed. */
        if (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0) {
            perror("bt_launch: dropping privileges");
            return 126;
        }
        if (getuid() != uid || geteuid() != uid || setuid(0) == 0) {
            fprintf(stderr, "bt_launch: privileges not dropped\n");
            return 126;
        }
    }
    execvp(argv[7], argv + 7);
    perror("bt_launch: exec");
    return 127;
}
