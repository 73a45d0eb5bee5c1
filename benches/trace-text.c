// Single-steps a command, and the processes it forks until they exec something
// else, and prints (in decimal, ascending) the offsets into the command's binary of
// every instruction of its code they executed. For benches/hot-functions.sh.
//
//   trace-text OUT COMMAND [ARGS...]
//
// Processes still running when the command exits (a created container's init) are
// let go untraced.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

struct text {
    uint64_t base, lo, hi;
    unsigned char *hit;
};

// The executable mapping of `binary` in process `pid`, and where the file starts.
static struct text find_text(pid_t pid, const char *binary) {
    char maps[64], line[4608], real[4096];
    struct text t = {0};
    if (!realpath(binary, real)) {
        perror(binary);
        exit(2);
    }
    snprintf(maps, sizeof maps, "/proc/%d/maps", pid);
    FILE *f = fopen(maps, "r");
    while (f && fgets(line, sizeof line, f)) {
        uint64_t a, b, off;
        char perm[8];
        if (sscanf(line, "%lx-%lx %7s %lx", &a, &b, perm, &off) != 4 || !strstr(line, real))
            continue;
        if (!t.base)
            t.base = a - off;
        if (perm[2] == 'x') {
            t.lo = a;
            t.hi = b;
        }
    }
    if (f)
        fclose(f);
    if (!t.hi) {
        fprintf(stderr, "no executable mapping of %s\n", real);
        exit(2);
    }
    t.hit = calloc(t.hi - t.lo, 1);
    return t;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT COMMAND [ARGS...]\n", argv[0]);
        return 2;
    }
    pid_t command = fork();
    if (command == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        raise(SIGSTOP);
        execv(argv[2], argv + 2);
        _exit(127);
    }
    int status;
    waitpid(command, &status, 0);
    ptrace(PTRACE_SETOPTIONS, command, 0,
           PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC);
    ptrace(PTRACE_CONT, command, 0, 0);
    struct text t = {0};
    long steps = 0;
    for (;;) {
        pid_t p = waitpid(-1, &status, __WALL);
        if (p < 0 && errno == ECHILD)
            break;
        if (p < 0 || !WIFSTOPPED(status)) {
            if (p == command)
                break;
            continue;
        }
        int sig = WSTOPSIG(status), event = status >> 16, deliver = 0;
        if (event == PTRACE_EVENT_EXEC) {
            if (t.hit) { // a child runs another program now: not ours to trace
                ptrace(PTRACE_DETACH, p, 0, 0);
                continue;
            }
            t = find_text(p, argv[2]);
        } else if (!event && sig == SIGTRAP && t.hit) {
            struct user_regs_struct r;
            if (ptrace(PTRACE_GETREGS, p, 0, &r) == 0 && r.rip >= t.lo && r.rip < t.hi) {
                t.hit[r.rip - t.lo] = 1;
                steps++;
            }
        } else if (!event && sig != SIGTRAP && sig != SIGSTOP) {
            deliver = sig;
        }
        ptrace(t.hit ? PTRACE_SINGLESTEP : PTRACE_CONT, p, 0, (void *)(long)deliver);
    }
    FILE *out = fopen(argv[1], "w");
    if (!out || !t.hit) {
        fprintf(stderr, "nothing traced\n");
        return 1;
    }
    for (uint64_t i = 0; i < t.hi - t.lo; i++)
        if (t.hit[i])
            fprintf(out, "%lu\n", (unsigned long)(t.lo - t.base + i));
    fclose(out);
    fprintf(stderr, "%s: %ld instructions traced\n", argv[2], steps);
    return 0;
}
