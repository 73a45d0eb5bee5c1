//! `linux.seccomp`: profiles are compiled by the runtime and enforced on the
//! container's process; checked from inside with the probe and busybox.

use spec_tests::*;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

/// The seccomp profile podman 4.3 generates for `podman run` (containerd's is
/// the same list): about 300 allowed syscalls, ERRNO by default.
fn podman_profile() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/podman-default-seccomp.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture is JSON")
}

/// A profile that allows everything but the given rules.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn with_profile(profile: Value) -> Bundle {
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = profile;
    b
}

const MKDIR: [&str; 2] = ["mkdir", "mkdirat"];

#[test]
fn podman_default_profile_is_loaded_and_the_program_runs() {
    let mut b = with_profile(podman_profile());
    let info = b.probe_info();
    assert_eq!(info["seccomp"], 2, "seccomp filter mode expected: {info:#}");
    assert_eq!(info["uid"], 0);
}

#[test]
fn podman_default_profile_denies_unlisted_syscalls_with_its_default_errno() {
    // The real profile with mkdir and mkdirat taken off its lists: they meet the
    // default action, with the profile's defaultErrnoRet.
    let mut profile = podman_profile();
    for entry in profile["syscalls"].as_array_mut().unwrap() {
        entry["names"].as_array_mut().unwrap().retain(|n| !MKDIR.contains(&n.as_str().unwrap()));
    }
    profile["defaultErrnoRet"] = json!(libc::EXDEV);
    let mut b = with_profile(profile);
    let out = b.run_probe(&["mkdir", "/tmp/unlisted"]);
    assert_eq!(out["errno"], libc::EXDEV, "{out:#}");
}

#[test]
fn errno_rule_blocks_mkdir_with_eperm() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}])));
    let out = b.run_probe(&["mkdir", "/tmp/blocked"]);
    assert_eq!(out["ok"], false, "{out:#}");
    assert_eq!(out["errno"], libc::EPERM, "{out:#}");
}

#[test]
fn errno_ret_sets_the_returned_errno() {
    let mut b = with_profile(allow_all_but(
        json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}]),
    ));
    let out = b.run_probe(&["mkdir", "/tmp/blocked"]);
    assert_eq!(out["errno"], libc::ENOSYS, "{out:#}");
}

#[test]
fn kill_process_action_is_seen_as_sigsys() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_KILL_PROCESS"}])));
    b.probe(&["mkdir", "/tmp/x"]);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(128 + libc::SIGSYS), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn log_action_lets_the_syscall_through() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_LOG"}])));
    b.config["root"]["readonly"] = json!(false);
    let out = b.run_probe(&["mkdir", "/tmp/logged"]);
    assert_eq!(out["ok"], true, "{out:#}");
}

#[test]
fn argument_conditions_select_the_calls_a_rule_applies_to() {
    // personality(PER_LINUX32) refused, personality(PER_LINUX) allowed.
    let rule = json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                       "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]);
    let mut b = with_profile(allow_all_but(rule));
    b.args(&["sh", "-c", "linux64 true && echo linux64-ok; linux32 true || echo linux32-refused"]);
    let out = b.run_ok();
    assert_eq!(out.stdout, "linux64-ok\nlinux32-refused\n", "{out:#?}");
}

/// runc adds each condition of an entry that tests one argument twice as a rule of
/// its own (seccomp.bats, seccomp_syscall_test1.json: "arg0 == 100", "arg0 == 9001").
#[test]
fn conditions_on_the_same_argument_combine_as_or_as_runc_reads_them() {
    let rule = json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO", "args": [
        {"index": 0, "value": 0xffff_ffffu32, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]);
    let mut b = with_profile(allow_all_but(rule));
    b.args(&["sh", "-c", "linux64 true && echo linux64-ok; linux32 true || echo linux32-refused"]);
    let out = b.run_ok();
    assert_eq!(out.stdout, "linux64-ok\nlinux32-refused\n", "{out:#?}");
}

/// runc's -ENOSYS stub: with a default that refuses, a syscall newer than every one
/// the profile names fails with ENOSYS, so programs fall back to an older call
/// instead of failing on the default errno (seccomp.bats, "-ENOSYS handling").
#[test]
fn syscalls_above_every_one_the_profile_names_fail_with_enosys() {
    let mut profile = podman_profile();
    profile.as_object_mut().unwrap().remove("defaultErrnoRet");
    let mut b = with_profile(profile);
    b.args(&["/bin/sh", "-c", &format!("/probe syscall {}; /probe syscall 1000", libc::SYS_uselib)]);
    let out = b.run_ok();
    let results: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // uselib is below the highest named and unlisted: the default errno.
    assert_eq!(results[0]["errno"], libc::EPERM, "{out:#?}");
    assert_eq!(results[1]["errno"], libc::ENOSYS, "{out:#?}");
}

#[test]
fn entries_for_one_syscall_combine_as_or() {
    // podman's profile allows personality through five entries, one value each.
    let mut b = with_profile(podman_profile());
    b.args(&["sh", "-c", "linux64 true && linux32 uname -m"]);
    assert_eq!(b.run_ok().stdout, "i686\n");
}

#[test]
fn malformed_profiles_are_rejected_without_leftovers() {
    let bad_action = json!({"defaultAction": "SCMP_ACT_NOPE"});
    let bad_index = allow_all_but(json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                          "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]));
    let notify_without_listener = allow_all_but(json!([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]));
    // The runtime writes after the filter is in: a notified write would deadlock
    // (runc refuses it with these words).
    let mut notify_write = allow_all_but(json!([{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}]));
    notify_write["listenerPath"] = json!("/run/listener.sock");
    for (profile, words) in [
        (bad_action, &["SCMP_ACT_NOPE"][..]),
        (bad_index, &["index"][..]),
        (notify_without_listener, &["listenerPath"][..]),
        (notify_write, &["SCMP_ACT_NOTIFY cannot be used for the write syscall"][..]),
    ] {
        let b = with_profile(profile);
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(words);
        assert_no_leftovers(&b, &c.id);
    }
}

/// The listener side of seccomp notify, as a test-suite-sized program: accepts the
/// runtime's connection, takes the container process state and the notify fd, then
/// answers every notification with `errno` until the container's process is gone.
/// Returns the state and the syscall numbers it answered.
fn serve_notifications(listener: &UnixListener, errno: i32) -> (Value, Vec<i32>) {
    const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
    const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)
    #[repr(C)]
    struct Notif {
        id: u64,
        pid: u32,
        flags: u32,
        nr: i32,
        arch: u32,
        ip: u64,
        args: [u64; 6],
    }
    #[repr(C)]
    struct Resp {
        id: u64,
        val: i64,
        error: i32,
        flags: u32,
    }
    let (conn, _) = listener.accept().expect("the runtime connects to the listener");
    let (state, notify) = receive_with_fd(conn.as_raw_fd());
    drop(conn);
    let mut answered = Vec::new();
    loop {
        // The fd reports POLLHUP once no process uses the filter any more.
        let mut pfd = libc::pollfd { fd: notify.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
        if ready <= 0 || pfd.revents & libc::POLLIN == 0 {
            break;
        }
        // SAFETY: the kernel wants a zeroed struct seccomp_notif to fill in.
        let mut n: Notif = unsafe { std::mem::zeroed() };
        if unsafe { libc::ioctl(notify.as_raw_fd(), NOTIF_RECV, &mut n) } != 0 {
            break;
        }
        answered.push(n.nr);
        let resp = Resp { id: n.id, val: 0, error: -errno, flags: 0 };
        // SAFETY: a valid struct seccomp_notif_resp for the notification just read.
        unsafe { libc::ioctl(notify.as_raw_fd(), NOTIF_SEND, &resp) };
    }
    (serde_json::from_slice(&state).expect("the process state is JSON"), answered)
}

/// A bundle whose profile sends mkdir to a listener bound in the test's directory.
fn notifying_bundle() -> (Bundle, UnixListener) {
    let mut b = Bundle::new();
    let socket = b.test_dir().join("seccomp.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": socket,
        "listenerMetadata": "from-the-spec-tests",
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}]
    });
    (b, listener)
}

#[test]
fn notify_action_sends_the_listener_the_fd_and_the_listener_answers() {
    let (mut b, listener) = notifying_bundle();
    let server = std::thread::spawn(move || serve_notifications(&listener, libc::EXDEV));
    let got = b.run_probe(&["mkdir", "/tmp/made-by-the-listener"]);
    let (state, answered) = server.join().unwrap();
    assert_eq!(got["errno"], libc::EXDEV, "the listener's answer reaches the program: {got}");
    assert!(!answered.is_empty(), "the listener got the mkdir");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state:#}");
    assert_eq!(state["metadata"], "from-the-spec-tests");
    assert_eq!(state["state"]["status"], "creating", "sent while create runs: {state:#}");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state:#}");
    assert_eq!(state["state"]["pid"], state["pid"]);
}

#[test]
fn notify_fd_of_an_exec_process_goes_to_the_listener_too() {
    let (mut b, listener) = notifying_bundle();
    b.probe(&["wait-signal"]);
    // init's connection comes first and is kept (init makes no mkdir); the exec'd
    // process makes the second.
    let server = std::thread::spawn(move || {
        let (init_conn, _) = listener.accept().expect("create connects");
        let (init_state, _init_notify) = receive_with_fd(init_conn.as_raw_fd());
        let exec = serve_notifications(&listener, libc::EXDEV);
        (serde_json::from_slice::<Value>(&init_state).unwrap(), exec)
    });
    let c = b.start();
    c.wait_probe_ready();
    let got = c.exec(&[], &["/probe", "mkdir", "/tmp/made-by-the-listener"]).ok().json();
    c.delete(&["--force"]).ok();
    let (init_state, (exec_state, answered)) = server.join().unwrap();
    assert_eq!(got["errno"], libc::EXDEV, "the listener answered the exec'd process: {got}");
    assert!(!answered.is_empty());
    assert_eq!(init_state["state"]["status"], "creating");
    assert_eq!(exec_state["state"]["status"], "running", "{exec_state:#}");
    assert_ne!(exec_state["pid"], init_state["pid"], "the exec'd process's own PID");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn notify_listener_that_is_not_there_fails_create_without_leftovers() {
    let b = with_profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/nonexistent/seccomp.sock",
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}]
    }));
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&[
        "failed to connect with seccomp agent",
        "seccomp listener /nonexistent/seccomp.sock",
    ]);
    assert_no_leftovers(&b, &c.id);
}

/// Profiles older than execveat (Linux 3.19, 2015) allow execve alone. The runtime's
/// last exec, of its sealed exec stub, falls back from execveat to execve of the same
/// memfd through /proc/self/fd, for init and for `exec`, and without no_new_privs (the
/// filter then goes in before the user switch).
#[test]
fn a_profile_without_execveat_still_runs_the_program() {
    let mut b = with_profile(json!({"defaultAction": "SCMP_ACT_ALLOW",
                                    "syscalls": [{"names": ["execveat"], "action": "SCMP_ACT_ERRNO"}]}));
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.probe(&["wait-signal"]);
    let c = b.start();
    c.wait_probe_ready();
    let out = c.exec(&[], &["/probe", "info"]);
    out.ok();
    assert_eq!(out.json()["seccomp"], 2, "{out:#?}");
    c.kill("TERM").ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A profile written before openat2, close_range, statx, faccessat2 and clone3 (any
/// profile from before 2020, runtime-tools' default, many hand-written Kubernetes
/// ones): those meet the default action. runc and crun run such a profile, with or
/// without no_new_privs; so does anchor-runtime, for init and for `exec`, running a
/// process as a non-root user in a cwd below the root. Before, without no_new_privs,
/// every start failed with `chdir to cwd /: EPERM`.
#[test]
fn a_profile_from_before_openat2_and_close_range_runs_the_program_as_a_user_in_its_cwd() {
    for no_new_privs in [false, true] {
        let mut b = with_profile(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["openat2", "close_range", "statx", "faccessat2", "clone3"], "action": "SCMP_ACT_ERRNO"}
        ]}));
        b.config["process"]["noNewPrivileges"] = json!(no_new_privs);
        b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        b.config["process"]["cwd"] = json!("/srv/app");
        b.probe(&["wait-signal"]);
        let c = b.start();
        c.wait_probe_ready();
        let out = c.exec(&[], &["sh", "-c", "pwd; id -u"]);
        out.ok();
        assert_eq!(out.stdout, "/srv/app\n1000\n", "no_new_privs {no_new_privs}: {out:#?}");
        c.kill("KILL").ok();
        c.wait_status("stopped");
        c.delete(&[]).ok();
        assert_no_leftovers(&b, &c.id);
    }
}
