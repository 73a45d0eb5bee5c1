//! config `hooks`: when each kind runs, where (namespaces, path
//! resolution), what it receives, and what a failing hook does.

use spec_tests::*;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A bundle whose process waits for a signal, plus a host directory for
/// hook markers.
fn hook_bundle() -> (Bundle, PathBuf) {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    let markers = b.host_dir("markers");
    (b, markers)
}

/// Adds a host hook of `kind` that saves its stdin (the state) to
/// `<markers>/<kind>.json`.
fn save_state_hook(b: &mut Bundle, markers: &std::path::Path, kind: &str) {
    b.hook(kind, &format!("cat > {}", markers.join(format!("{kind}.json")).display()));
}

fn read_json(path: &std::path::Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{} not written: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}: {text:?}", path.display()))
}

/// Takes a container from `b` through create, start, kill and delete;
/// returns (init pid, id).
fn full_lifecycle(b: &Bundle) -> (i32, String) {
    let c = b.create();
    let pid = c.pid();
    c.start().ok();
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(b, &c.id);
    (pid, c.id.clone())
}

/// Checks that a `kind` hook got the state JSON on stdin with the right id,
/// bundle and `status`, and the init's pid: as seen from the namespace the
/// hook runs in (PID 1 for hooks inside the container), per the spec.
fn check_hook_gets_state(kind: &str, status: &str, in_container: bool) {
    let (mut b, markers) = hook_bundle();
    save_state_hook(&mut b, &markers, kind);
    let (pid, id) = full_lifecycle(&b);
    let state = read_json(&markers.join(format!("{kind}.json")));
    assert_eq!(state["id"], id.as_str(), "{state:#}");
    assert_eq!(state["status"], status, "{state:#}");
    assert_eq!(state["bundle"], b.path_str().as_str(), "{state:#}");
    if status != "stopped" {
        let want = if in_container { 1 } else { pid };
        assert_eq!(state["pid"], want, "{state:#}");
    }
}

#[test]
fn prestart_hook_runs_with_state_on_stdin() {
    check_hook_gets_state("prestart", "creating", false);
}

#[test]
fn create_runtime_hook_runs_with_state_on_stdin() {
    check_hook_gets_state("createRuntime", "creating", false);
}

#[test]
fn create_container_hook_runs_with_state_on_stdin() {
    check_hook_gets_state("createContainer", "creating", true);
}

#[test]
fn poststart_hook_runs_with_state_on_stdin() {
    check_hook_gets_state("poststart", "running", false);
}

#[test]
fn poststop_hook_runs_with_state_on_stdin() {
    check_hook_gets_state("poststop", "stopped", false);
}

#[test]
fn start_container_hook_runs_with_state_on_stdin() {
    // startContainer runs inside the container: /bin/sh is the rootfs's
    // busybox and the marker goes through the /shared bind mount.
    let (mut b, _) = hook_bundle();
    let shared = b.share();
    b.hook("startContainer", "cat > /shared/startContainer.json");
    let (_, id) = full_lifecycle(&b);
    let state = read_json(&shared.join("startContainer.json"));
    assert_eq!(state["id"], id.as_str(), "{state:#}");
    assert_eq!(state["pid"], 1, "pid as seen in the container: {state:#}");
    assert_eq!(state["status"], "created", "{state:#}");
}

#[test]
fn hooks_run_at_their_lifecycle_step() {
    // Each hook appends its name; the test appends the step it has reached.
    let (mut b, _) = hook_bundle();
    let shared = b.share();
    let log = shared.join("log");
    let host_log = log.display().to_string();
    for kind in ["prestart", "createRuntime", "createContainer", "poststart", "poststop"] {
        b.hook(kind, &format!("echo {kind} >> {host_log}"));
    }
    b.hook("startContainer", "echo startContainer >> /shared/log");
    let note = |step: &str| {
        let mut f = fs::OpenOptions::new().append(true).create(true).open(&log).unwrap();
        std::io::Write::write_all(&mut f, format!("{step}\n").as_bytes()).unwrap();
    };
    let c = b.create();
    note("created");
    c.start().ok();
    note("started");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    note("stopped");
    c.delete(&[]).ok();
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "prestart\ncreateRuntime\ncreateContainer\ncreated\n\
         startContainer\npoststart\nstarted\nstopped\npoststop\n"
    );
    assert_no_leftovers(&b, &c.id);
}

/// Prints the hook's mount and network namespaces (busybox readlink takes
/// one file at a time).
const NS_SCRIPT: &str = "{ readlink /proc/self/ns/mnt; readlink /proc/self/ns/net; }";

/// `readlink /proc/self/ns/{mnt,net}` as seen by a `kind` hook.
fn hook_namespaces(b: &mut Bundle, markers: &std::path::Path, kind: &str) -> PathBuf {
    let out = markers.join(format!("{kind}.ns"));
    b.hook(kind, &format!("{NS_SCRIPT} > {}", out.display()));
    out
}

fn ns_pair(pid: &str) -> String {
    format!("{}\n{}\n", ns_of(pid, "mnt"), ns_of(pid, "net"))
}

#[test]
fn create_runtime_hook_runs_in_runtime_namespaces() {
    let (mut b, markers) = hook_bundle();
    let out = hook_namespaces(&mut b, &markers, "createRuntime");
    let c = b.create();
    assert_eq!(fs::read_to_string(out).unwrap(), ns_pair("self"));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn create_container_hook_runs_in_container_namespaces() {
    let (mut b, markers) = hook_bundle();
    let out = hook_namespaces(&mut b, &markers, "createContainer");
    let c = b.create();
    let init = c.pid().to_string();
    assert_eq!(fs::read_to_string(out).unwrap(), ns_pair(&init));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// runc runs createContainer hooks in the rootfs, and hooks rely on it to reach the
/// container's files by relative paths (hooks_so.bats mounts a library so).
#[test]
fn create_container_hook_runs_in_the_rootfs() {
    let (mut b, markers) = hook_bundle();
    b.hook("createContainer", &format!("pwd > {}", markers.join("cwd").display()));
    let c = b.create();
    let cwd = fs::read_to_string(markers.join("cwd")).unwrap();
    assert_eq!(cwd.trim(), fs::canonicalize(b.rootfs()).unwrap().to_string_lossy());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn start_container_hook_path_resolves_in_container() {
    // The hook binary exists only inside the rootfs.
    let (mut b, _) = hook_bundle();
    let shared = b.share();
    let script =
        b.write_rootfs_file("container-only-hook", &format!("#!/bin/sh\n{NS_SCRIPT} > /shared/ns\n"));
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    b.add_hook("startContainer", json!({"path": "/container-only-hook"}));
    let c = b.create();
    let init = c.pid().to_string();
    c.start().ok();
    assert_eq!(fs::read_to_string(shared.join("ns")).unwrap(), ns_pair(&init));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn poststart_hook_runs_in_runtime_namespaces() {
    let (mut b, markers) = hook_bundle();
    let out = hook_namespaces(&mut b, &markers, "poststart");
    let c = b.start();
    assert_eq!(fs::read_to_string(out).unwrap(), ns_pair("self"));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn hook_args_and_env_are_honoured() {
    let (mut b, markers) = hook_bundle();
    let out = markers.join("args");
    b.add_hook(
        "createRuntime",
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"$0|$1|$FOO|$HOME\" > {}", out.display()), "zero", "one"],
            "env": ["FOO=bar baz"],
        }),
    );
    let c = b.create();
    // HOME is set for the runtime but the hook gets only its own env.
    assert_eq!(fs::read_to_string(out).unwrap(), "zero|one|bar baz|\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn hooks_of_one_kind_run_in_config_order() {
    let (mut b, markers) = hook_bundle();
    let log = markers.join("order");
    for n in 1..=3 {
        b.hook("createRuntime", &format!("echo {n} >> {}", log.display()));
    }
    let c = b.create();
    assert_eq!(fs::read_to_string(log).unwrap(), "1\n2\n3\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn hook_timeout_is_enforced() {
    let (mut b, _) = hook_bundle();
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 15"], "timeout": 1}),
    );
    let started = Instant::now();
    let (c, out) = b.try_create(&[]);
    out.fails();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "hook was not stopped after its 1 s timeout ({:?})",
        started.elapsed()
    );
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn a_hook_that_never_reads_a_large_state_still_times_out() {
    // A state larger than a pipe holds (annotations of 256 KiB) and a hook that
    // does not read its stdin: the write used to block before the timeout started.
    let (mut b, _) = hook_bundle();
    b.config["annotations"] = json!({"big": "a".repeat(256 * 1024)});
    b.add_hook(
        "createRuntime",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "exec sleep 15"], "timeout": 1}),
    );
    let started = Instant::now();
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["timed out"]);
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn a_hook_writing_more_than_a_pipe_holds_to_stderr_is_not_blocked() {
    // Its stderr is read while it runs: unread, a 1 MiB write would block the hook
    // (and the runtime waiting for it) forever. The end of it names the failure.
    let (mut b, _) = hook_bundle();
    b.hook(
        "createRuntime",
        "head -c 1048576 /dev/zero | tr '\\0' x >&2; echo; echo the-real-cause >&2; exit 4",
    );
    let started = Instant::now();
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["the-real-cause"]);
    assert!(out.stderr.len() < 16 * 1024, "{} bytes of error", out.stderr.len());
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_no_leftovers(&b, &c.id);
}

/// A failing `kind` hook must make `create` fail and leave nothing behind.
fn check_failing_hook_fails_create(kind: &str) {
    let (mut b, _) = hook_bundle();
    b.hook(kind, "echo hook-failed >&2; exit 3");
    let (c, out) = b.try_create(&[]);
    // runc's wording, which tools grep for, then the hook's own words.
    out.fails_mentioning(&[&format!("error running {kind} hook #0:"), "hook-failed"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn failing_prestart_hook_fails_create_without_leftovers() {
    check_failing_hook_fails_create("prestart");
}

#[test]
fn failing_create_runtime_hook_fails_create_without_leftovers() {
    check_failing_hook_fails_create("createRuntime");
}

#[test]
fn failing_create_container_hook_fails_create_without_leftovers() {
    check_failing_hook_fails_create("createContainer");
}

#[test]
fn failing_start_container_hook_fails_start() {
    let (mut b, _) = hook_bundle();
    b.hook("startContainer", "exit 1");
    let c = b.create();
    c.start().fails();
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A container from `b` taken through create, start, kill and delete with
/// `hooks.<kind>` = [failing hook, hook touching a marker]. Returns (start and
/// delete outputs, whether the second hook ran).
fn lifecycle_with_failing_hook(kind: &str) -> (Output, Output, bool) {
    let (mut b, markers) = hook_bundle();
    let second = markers.join("second");
    b.hook(kind, "exit 1");
    b.hook(kind, &format!("touch {}", second.display()));
    let (c, created) = b.try_create(&[]);
    created.ok();
    let started = c.start();
    c.kill("KILL");
    c.wait_status("stopped");
    let deleted = c.delete(&[]);
    c.cmd("state", &[]).fails();
    assert_no_leftovers(&b, &c.id);
    (started, deleted, second.exists())
}

/// The spec says a failing poststart hook only warns and the lifecycle goes on;
/// runc stops the container, fails `start` and runs no later poststart hook, and
/// engines rely on runc: followed here (runc's hooks.bats "runc run [hook fails]").
#[test]
fn a_failing_poststart_hook_fails_start_and_stops_the_container() {
    let (started, _, second_ran) = lifecycle_with_failing_hook("poststart");
    started.fails_mentioning(&["error running poststart hook #0"]);
    assert!(!second_ran, "the hooks after the failing one do not run");
}

#[test]
fn run_with_a_failing_poststart_hook_fails_and_leaves_nothing() {
    let (mut b, _) = hook_bundle();
    b.hook("poststart", "exit 1");
    b.probe(&["wait-signal"]);
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["error running poststart hook #0"]);
    assert_no_leftovers(&b, &c.id);
}

/// runc gives a startContainer hook without an env of its own the program's
/// environment (HOME included); hooks rely on it (hooks.bats "startContainer hook
/// should inherit process environment").
#[test]
fn a_start_container_hook_without_env_gets_the_programs() {
    let mut b = Bundle::new();
    let shared = b.share();
    b.config["process"]["env"] = json!(["ONE=two", "PATH=/bin"]);
    b.hook("startContainer", "echo \"$ONE $HOME\" > /shared/env");
    b.args(&["true"]).run_ok();
    assert_eq!(fs::read_to_string(shared.join("env")).unwrap(), "two /root\n");
}

/// runc runs the startContainer hooks as the last thing before the program's
/// execve: as the container's user, with its capabilities and under its seccomp
/// filter, so a hook cannot do what the program may not (seccomp.bats
/// "startContainer hook").
#[test]
fn a_start_container_hook_runs_as_the_program_does_under_its_filter() {
    let mut b = Bundle::new();
    let shared = b.share();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.hook("startContainer", "echo $(id -u) $(grep CapEff /proc/self/status) > /shared/who");
    b.args(&["true"]).run_ok();
    assert_eq!(fs::read_to_string(shared.join("who")).unwrap(), "1000 CapEff: 0000000000000000\n");

    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]});
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]);
    b.config["hooks"]["startContainer"] = json!([]);
    b.hook("startContainer", "mkdir /tmp/made-by-the-hook");
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["error running startContainer hook #0", "signal: bad system call"]);
    assert!(!b.rootfs().join("tmp/made-by-the-hook").exists());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn failing_poststop_hook_is_not_fatal() {
    let (_, deleted, _) = lifecycle_with_failing_hook("poststop");
    deleted.ok();
}

#[test]
fn poststop_hooks_after_a_failing_one_still_run() {
    let (_, _, second_ran) = lifecycle_with_failing_hook("poststop");
    assert!(second_ran);
}

/// A hook named by a relative path (`./hook`, or a bare name that PATH would find).
/// The spec requires an absolute path; runc runs a relative one from its own working
/// directory, the caller's. anchor-runtime never runs a hook from the caller's cwd or
/// PATH: it refuses the config at validation, naming the hook. Here the caller's cwd
/// holds a program by that name, which must not run.
#[test]
fn a_hook_with_a_relative_path_is_refused_and_never_run_from_the_callers_cwd() {
    for path in ["./marker-hook", "marker-hook"] {
        let mut b = Bundle::new();
        let marker = b.test_dir().join("hook-ran");
        // The harness runs the runtime from the bundle directory.
        let hook = b.path().join("marker-hook");
        write_file(&hook, &format!("#!/bin/sh\ntouch {}\n", marker.display()));
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        b.add_hook("prestart", json!({"path": path}));
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["hooks.prestart[0].path", path, "absolute"]);
        assert!(!marker.exists(), "the hook {path} ran from the caller's directory");
        assert_no_leftovers(&b, &c.id);
    }
}

/// A hook gets its stdio and nothing more, as runc's hooks do: not the runtime's own
/// descriptors, nor what the runtime's caller left open. A startContainer hook is a
/// program of the image, run in the container: a host descriptor there would be a way
/// out (seccomp-notify.bats "startContainer hook" counts them).
#[test]
fn hooks_get_their_stdio_and_no_other_descriptor() {
    let mut b = Bundle::new();
    let shared = b.share();
    // The caller leaves a host file open in the runtime, as a careless engine might.
    let wrapper = b.test_dir().join("leaky-caller");
    fs::write(&wrapper, format!("#!/bin/sh\nexec 7</etc/hostname\nexec {} \"$@\"\n", b.runtime.display()))
        .unwrap();
    fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    b.runtime = wrapper;
    let count = |dir: &str, kind: &str| format!("ls /proc/self/fd | wc -l > {dir}/{kind}");
    b.hook("startContainer", &count("/shared", "startContainer"));
    b.hook("prestart", &count(&shared.to_string_lossy(), "prestart"));
    b.args(&["true"]).run_ok();
    for kind in ["startContainer", "prestart"] {
        // 0, 1, 2, and the directory ls reads.
        assert_eq!(fs::read_to_string(shared.join(kind)).unwrap().trim(), "4", "{kind}");
    }
}
