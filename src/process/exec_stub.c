/*
 * The exec stub: the last program the runtime itself starts in a container, and the
 * one that execs the user's program (CVE-2019-5736).
 *
 * Until its final execve a container process of the runtime has the runtime's host
 * binary as /proc/self/exe. Had it exec'd the user's program itself, a program that
 * names /proc/self/exe (a `#!/proc/self/exe` script, an interpreter, binfmt_misc)
 * would start the host binary again inside the container, dumpable, and another
 * process there could open it through /proc/PID/exe and overwrite it once it exits.
 * So the runtime execs this stub instead, from a sealed memfd (see exec_stub.rs),
 * and the stub makes the final execve: from then on /proc/self/exe, and anything
 * that resolves it, is the sealed copy of this stub, which nobody can write.
 *
 * No libc: raw system calls only, so the stub is about 1 KiB that costs almost
 * nothing to copy and to exec.
 *
 * argv: MAGIC, report fd, failure prefix, program path, the program's argv...
 *   The report fd ("-": none) is where a failed execve is told: the exec FIFO for
 *   init, the sync socket for `exec`. The stub writes the failure prefix, the
 *   errno in decimal and FAILURE_SUFFIX there, which the runtime makes a JSON
 *   `Failed` message of (process/sync.rs). It is made close-on-exec first, so a
 *   successful execve closes it, which is how the runtime learns of success.
 * Run any other way (as the interpreter of a script, or by hand) it refuses.
 */

#define MAGIC "anchor-exec-stub"
#define FAILURE_SUFFIX "}}}"

#if defined(__x86_64__)
#define SYS_write 1
#define SYS_fcntl 72
#define SYS_execve 59
#define SYS_exit_group 231
__asm__(".text\n.global _start\n_start:\n"
        "  mov %rsp, %rdi\n"   /* argc, argv and envp are on the stack */
        "  and $-16, %rsp\n"
        "  call stub_main\n"
        "  hlt\n");

static long syscall3(long n, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
#define SYS_write 64
#define SYS_fcntl 25
#define SYS_execve 221
#define SYS_exit_group 94
__asm__(".text\n.global _start\n_start:\n"
        "  mov x0, sp\n"
        "  bl stub_main\n"
        "  brk #0\n");

static long syscall3(long n, long a, long b, long c) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
#else
#error "the exec stub supports x86_64 and aarch64"
#endif

#define F_SETFD 2
#define FD_CLOEXEC 1

static unsigned long length(const char *s) {
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static int equal(const char *a, const char *b) {
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void __attribute__((noreturn)) stop(int code) {
    for (;;)
        syscall3(SYS_exit_group, code, 0, 0);
}

/* Appends s to buf at *len, as far as it fits. */
static void append(char *buf, unsigned long size, unsigned long *len, const char *s) {
    while (*s && *len < size)
        buf[(*len)++] = *s++;
}

static void report(long fd, const char *prefix, long errno_value) {
    char buf[8192], digits[24];
    unsigned long len = 0, d = sizeof(digits);
    digits[--d] = 0;
    do
        digits[--d] = (char)('0' + errno_value % 10);
    while ((errno_value /= 10) && d > 0);
    /* The prefix holds the program's path, so it fits; a longer one would be cut
     * (the runtime then shows the bytes as text), still in one write, one packet. */
    append(buf, sizeof(buf) - 32, &len, prefix);
    append(buf, sizeof(buf), &len, digits + d);
    append(buf, sizeof(buf), &len, FAILURE_SUFFIX);
    syscall3(SYS_write, fd, (long)buf, (long)len);
}

void __attribute__((noreturn, used)) stub_main(long *sp) {
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 5 || !equal(argv[0], MAGIC)) {
        static const char refusal[] = "anchor-runtime exec stub: not a program to run\n";
        syscall3(SYS_write, 2, (long)refusal, sizeof(refusal) - 1);
        stop(127);
    }
    long fd = -1;
    if (argv[1][0] >= '0' && argv[1][0] <= '9') {
        fd = 0;
        for (const char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
            fd = fd * 10 + (*p - '0');
        syscall3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
    }
    long ret = syscall3(SYS_execve, (long)argv[3], (long)(argv + 4), (long)envp);
    if (fd >= 0 && length(argv[2]) > 0)
        report(fd, argv[2], -ret);
    stop(1);
}
