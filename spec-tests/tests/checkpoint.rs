//! `checkpoint` and `restore` with CRIU, as runc's checkpoint.bats exercises them: a
//! counter that goes on after a restore, with its open file, its UNIX socket and the
//! caller's stdio pipes; `--leave-running`; `--pre-dump` then `--parent-path`; a
//! terminal's new master through `--console-socket`; a restore killed at any instant;
//! and the refusals.
//!
//! Where CRIU cannot work (Debian's criu 3.17 fails `criu check` on kernels newer than
//! it knows, such as this host's 6.18), each functional test checks instead that
//! `checkpoint` fails in one line with CRIU's reason and leaves the container running.
//! ANCHOR_EXPECT_CRIU=1 (set in the Debian guest, kernel 6.1) makes a CRIU that does
//! not work a failure rather than that branch.

use spec_tests::*;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Whether CRIU works on this machine (`criu check`).
fn criu_works() -> bool {
    let works = Command::new("criu").arg("check").output().is_ok_and(|o| o.status.success());
    if std::env::var_os("ANCHOR_EXPECT_CRIU").is_some() {
        assert!(works, "ANCHOR_EXPECT_CRIU is set and `criu check` fails here");
    }
    eprintln!("criu works here: {works}");
    works
}

/// Three pipes for a container's stdio, as runc's checkpoint tests make them: CRIU
/// can save a process whose stdio are pipes (not a host file, which lies outside the
/// container), and a restore hands the same pipes to the restored process.
struct Pipes {
    stdin: (OwnedFd, OwnedFd),
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
    /// The runtime's environment beyond the test's own.
    env: Vec<(&'static str, String)>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array with two new descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe2");
    // SAFETY: both were just made and are owned here only.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on a descriptor this process owns.
    unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    (r, w)
}

impl Pipes {
    fn new() -> Self {
        Pipes { stdin: pipe(), stdout: pipe(), stderr: pipe(), env: Vec::new() }
    }

    /// `RUNTIME --root STATE args...` with these pipes as its stdio (and so the
    /// container's); its exit code and what it (or the container) wrote on stderr.
    fn runtime(&self, b: &Bundle, args: &[&str]) -> (Option<i32>, String) {
        let dup = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        let mut child = Command::new(&b.runtime)
            .arg("--root")
            .arg(b.state_root())
            .args(args)
            .current_dir(b.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(dup(&self.stdin.0))
            .stdout(dup(&self.stdout.1))
            .stderr(dup(&self.stderr.1))
            .spawn()
            .expect("spawn the runtime");
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            assert!(Instant::now() < deadline, "runtime {args:?} hung");
            std::thread::sleep(Duration::from_millis(10));
        };
        (status.code(), drain(&self.stderr.0))
    }

    #[track_caller]
    fn runtime_ok(&self, b: &Bundle, args: &[&str]) {
        let (code, stderr) = self.runtime(b, args);
        assert_eq!(code, Some(0), "runtime {args:?} failed: {stderr}");
    }

    /// The numbers the counter printed during `wait`.
    fn numbers_for(&self, wait: Duration) -> Vec<u64> {
        std::thread::sleep(wait);
        drain(&self.stdout.0).lines().filter_map(|l| l.trim().parse().ok()).collect()
    }
}

/// Whatever a non-blocking pipe holds now.
fn drain(fd: &OwnedFd) -> String {
    let mut file = std::fs::File::from(fd.try_clone().expect("dup"));
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[track_caller]
fn assert_consecutive(numbers: &[u64], what: &str) {
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{what}: not consecutive: {numbers:?}");
}

/// A counter on stdout, one number every 100 ms.
const SHELL_COUNTER: &str = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done";

/// Where CRIU does not work: `checkpoint` fails in one line naming CRIU, and the
/// container runs on untouched.
#[track_caller]
fn assert_checkpoint_refused_cleanly(b: &Bundle, p: &Pipes, id: &str) {
    let images = b.host_dir("refused-images");
    let (code, stderr) = p.runtime(b, &["checkpoint", "--image-path", &images.to_string_lossy(), id]);
    eprintln!("checkpoint where CRIU does not work => {}", stderr.trim());
    assert_ne!(code, Some(0), "checkpoint succeeded where criu check fails: {stderr}");
    assert!(stderr.contains("criu"), "the error names CRIU: {stderr:?}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr:?}");
    let c = b.container(id);
    assert_eq!(c.status(), "running", "a failed checkpoint leaves the container running");
    assert!(!p.numbers_for(Duration::from_millis(300)).is_empty(), "and it goes on counting");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(b, id);
}

/// The running counter `id` counts, then is checkpointed into the images directory:
/// gone, processes, cgroups and state, as with runc. Its images and the last number it
/// printed; None where CRIU does not work, once the refusal has been checked instead.
fn checkpoint_the_counter(b: &Bundle, p: &Pipes, id: &str) -> Option<(String, u64)> {
    let before = p.numbers_for(Duration::from_millis(800));
    assert!(before.len() >= 3, "the counter counts: {before:?} {}", drain(&p.stderr.0));
    if !criu_works() {
        assert_checkpoint_refused_cleanly(b, p, id);
        return None;
    }
    let images = b.host_dir("images").to_string_lossy().into_owned();
    p.runtime_ok(b, &["checkpoint", "--image-path", &images, id]);
    assert_no_leftovers(b, id);
    let until_checkpoint: Vec<u64> = before.iter().copied().chain(p.numbers_for(Duration::ZERO)).collect();
    assert_consecutive(&until_checkpoint, "before the checkpoint");
    Some((images, *until_checkpoint.last().unwrap()))
}

#[test]
fn restore_continues_the_counter_with_its_open_file_and_unix_socket() {
    let mut b = Bundle::new();
    // On a tmpfs, whose contents CRIU carries in its images (the rootfs is read-only).
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    // A source relative to the bundle, as runc's checkpoint.bats has it: CRIU 3.17
    // found no mount for the external source "<bundle>/." at restore.
    b.add_mount(json!({"destination": "/bundle", "type": "bind", "source": ".", "options": ["bind", "ro"]}));
    b.probe(&["socket-counter", "/tmp/counter.log"]);
    let id = b.new_id();
    b.write_config(&id);
    let p = Pipes::new();
    p.runtime_ok(&b, &["run", "-d", "--bundle", &b.path_str(), &id]);
    let Some((images, last)) = checkpoint_the_counter(&b, &p, &id) else { return };
    assert!(p.numbers_for(Duration::from_millis(300)).is_empty(), "nothing counts while checkpointed");

    p.runtime_ok(&b, &["restore", "-d", "--image-path", &images, "--bundle", &b.path_str(), &id]);
    let after = p.numbers_for(Duration::from_millis(800));
    assert!(after.len() >= 3, "the restored counter counts on the same stdout pipe: {after:?}");
    assert_eq!(after[0], last + 1, "it goes on from where it was checkpointed: {last} then {after:?}");
    assert_consecutive(&after, "after the restore");
    // The child wrote each number through a descriptor it opened before the
    // checkpoint, after it came back over the socket pair.
    let c = b.container(&id);
    let logged: Vec<u64> = c
        .exec(&[], &["cat", "/tmp/counter.log"])
        .ok()
        .stdout
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    assert_eq!(logged.first(), Some(&0), "the file has every number: {logged:?}");
    assert_consecutive(&logged, "the open file");
    assert!(logged.contains(after.last().unwrap()), "the restored child still writes the file");
    assert_eq!(c.status(), "running");
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert!(cgroups.contains(&format!("/anchor-spec-tests/{id}")), "restored into its cgroup: {cgroups}");
    let inside = c
        .exec(&[], &["sh", "-c", "cat /proc/1/cmdline; echo; ls /proc | grep -c '^[0-9]'"])
        .ok()
        .stdout
        .clone();
    assert!(inside.starts_with("/probe"), "exec joins the restored PID namespace: {inside:?}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &id);
}

/// runc's order with NOTIFY_SOCKET: the caller of `run` waits for READY=1, the mount
/// the runtime added for the container's socket (not in the config) is named for CRIU,
/// and a restore whose caller has a NOTIFY_SOCKET too gives it a source again.
#[test]
fn checkpoint_and_restore_of_a_container_with_a_notify_socket() {
    let host = NotifyListener::new();
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    b.shell("/probe notify READY=1 >/dev/null; exec /probe socket-counter /tmp/counter.log");
    let id = b.new_id();
    b.write_config(&id);
    let mut p = Pipes::new();
    p.env.push(("NOTIFY_SOCKET", host.path.to_string_lossy().into_owned()));
    let systemd = std::thread::spawn(move || {
        let got = host.until_barrier();
        (host, got)
    });
    p.runtime_ok(&b, &["run", "-d", "--bundle", &b.path_str(), &id]);
    let (host, got) = systemd.join().expect("the listener");
    assert_eq!(got.first().map(String::as_str), Some("READY=1\n"), "READY relayed: {got:?}");
    let Some((images, last)) = checkpoint_the_counter(&b, &p, &id) else { return };
    p.runtime_ok(&b, &["restore", "-d", "--image-path", &images, "--bundle", &b.path_str(), &id]);
    let after = p.numbers_for(Duration::from_millis(800));
    assert_eq!(after.first(), Some(&(last + 1)), "it goes on from {last}: {after:?}");
    assert_consecutive(&after, "after the restore");
    let c = b.container(&id);
    let mounts = c.exec(&[], &["cat", "/proc/self/mountinfo"]).ok().stdout.clone();
    assert!(mounts.contains(" /run/notify "), "the socket's directory is mounted again: {mounts}");
    assert!(host.nothing_yet(), "the restore relays nothing: the service was ready before");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &id);
}

#[test]
fn checkpoint_leave_running_keeps_the_container_and_the_images_restore_it_later() {
    let mut b = Bundle::new();
    b.shell(SHELL_COUNTER);
    // A mount point only `create` made: a fresh copy of the image (containerd
    // restores into a new snapshot) lacks it, and CRIU makes none.
    b.add_mount(json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}));
    let id = b.new_id();
    b.write_config(&id);
    let p = Pipes::new();
    p.runtime_ok(&b, &["run", "-d", "--bundle", &b.path_str(), &id]);
    let before = p.numbers_for(Duration::from_millis(500));
    if !criu_works() {
        return assert_checkpoint_refused_cleanly(&b, &p, &id);
    }
    let images = b.host_dir("images");
    let images = images.to_string_lossy();
    p.runtime_ok(&b, &["checkpoint", "--leave-running", "--image-path", &images, &id]);
    let c = b.container(&id);
    assert_eq!(c.status(), "running", "--leave-running keeps it");
    let went_on = p.numbers_for(Duration::from_millis(1200));
    let seen: Vec<u64> = before.iter().chain(&went_on).copied().collect();
    assert_consecutive(&seen, "across the checkpoint");
    c.delete(&["--force"]).ok();
    // What it printed between the last read and its end.
    let seen: Vec<u64> = seen.into_iter().chain(p.numbers_for(Duration::ZERO)).collect();
    let newest = *seen.last().unwrap();
    assert_no_leftovers(&b, &id);
    std::fs::remove_dir(b.rootfs().join("scratch")).unwrap();

    p.runtime_ok(&b, &["restore", "-d", "--image-path", &images, "--bundle", &b.path_str(), &id]);
    let restored = p.numbers_for(Duration::from_millis(600));
    let first = *restored.first().expect("the restored counter counts");
    // From the images, not from where the first container got to a second later.
    assert!(
        first > *before.last().unwrap() && first + 5 < newest,
        "restored at {first}: {before:?} {went_on:?}"
    );
    assert_consecutive(&restored, "after the restore");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &id);
}

/// runc's reOpenDevNull: a caller's `< /dev/null` (conmon gives podman's containers
/// one) is a file on a host mount, which CRIU cannot save; init replaces it with the
/// container's own /dev/null, and the container can be checkpointed.
#[test]
fn stdio_from_the_host_dev_null_becomes_the_containers_own_and_checkpoints() {
    let mut b = Bundle::new();
    b.shell(&format!(
        "[ $(stat -L -c %d /proc/self/fd/0) = $(stat -c %d /dev/null) ] && echo own-null >&2; {SHELL_COUNTER}"
    ));
    let id = b.new_id();
    b.write_config(&id);
    let p = Pipes::new();
    let stdio = |fd: &OwnedFd| Stdio::from(fd.try_clone().unwrap());
    let status = Command::new(&b.runtime)
        .arg("--root")
        .arg(b.state_root())
        .args(["run", "-d", "--bundle", &b.path_str(), &id])
        .stdin(Stdio::null())
        .stdout(stdio(&p.stdout.1))
        .stderr(stdio(&p.stderr.1))
        .status()
        .unwrap();
    assert!(status.success());
    assert!(!p.numbers_for(Duration::from_millis(500)).is_empty(), "it counts");
    assert_eq!(drain(&p.stderr.0).trim(), "own-null", "stdin is the container's /dev/null");
    if !criu_works() {
        return assert_checkpoint_refused_cleanly(&b, &p, &id);
    }
    let images = b.host_dir("images");
    p.runtime_ok(&b, &["checkpoint", "--image-path", &images.to_string_lossy(), &id]);
    assert_no_leftovers(&b, &id);
}

#[test]
fn pre_dump_then_dump_with_parent_path_restores() {
    let mut b = Bundle::new();
    b.shell(SHELL_COUNTER);
    let id = b.new_id();
    b.write_config(&id);
    let p = Pipes::new();
    p.runtime_ok(&b, &["run", "-d", "--bundle", &b.path_str(), &id]);
    p.numbers_for(Duration::from_millis(300));
    if !criu_works() {
        return assert_checkpoint_refused_cleanly(&b, &p, &id);
    }
    let images = b.host_dir("images");
    let (parent, last) = (images.join("parent"), images.join("last"));
    let pre = p.runtime(&b, &["checkpoint", "--pre-dump", "--image-path", &parent.to_string_lossy(), &id]);
    let tracks_memory = Command::new("criu").args(["check", "--feature", "mem_dirty_track"]).status();
    if !tracks_memory.is_ok_and(|s| s.success()) {
        // CRIU needs the kernel's soft-dirty bits for a pre-dump; without them it says so.
        assert_ne!(pre.0, Some(0), "pre-dump without memory tracking: {}", pre.1);
        assert!(pre.1.contains("criu failed"), "{}", pre.1);
        b.container(&id).delete(&["--force"]).ok();
        return;
    }
    assert_eq!(pre.0, Some(0), "pre-dump: {}", pre.1);
    let c = b.container(&id);
    assert_eq!(c.status(), "running", "a pre-dump leaves the container running");
    p.runtime_ok(
        &b,
        &["checkpoint", "--image-path", &last.to_string_lossy(), "--parent-path", "../parent", &id],
    );
    let last_seen = *p.numbers_for(Duration::ZERO).last().expect("it counted");
    assert_no_leftovers(&b, &id);
    p.runtime_ok(
        &b,
        &["restore", "-d", "--image-path", &last.to_string_lossy(), "--bundle", &b.path_str(), &id],
    );
    let after = p.numbers_for(Duration::from_millis(500));
    assert_eq!(after.first(), Some(&(last_seen + 1)), "continues: {last_seen} then {after:?}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &id);
}

#[test]
fn restore_of_a_terminal_sends_the_new_master_to_the_console_socket() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.shell("while read line; do echo got-$line; done");
    let id = b.new_id();
    b.write_config(&id);
    let socket = b.test_dir().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let socket = socket.to_string_lossy().into_owned();
    b.runtime(&["run", "-d", "--console-socket", &socket, "--bundle", &b.path_str(), &id]).ok();
    let master = receive(&listener);
    let c = b.container(&id);
    assert_eq!(talk(&master, "one"), "got-one");
    let images = b.host_dir("images");
    let images = images.to_string_lossy();
    if !criu_works() {
        let out = b.runtime(&["checkpoint", "--image-path", &images, &id]);
        out.fails_mentioning(&["criu"]);
        assert_eq!(c.status(), "running");
        c.delete(&["--force"]).ok();
        return;
    }
    b.runtime(&["checkpoint", "--image-path", &images, &id]).ok();
    drop(master);
    let restore = [
        "restore",
        "-d",
        "--console-socket",
        &socket,
        "--image-path",
        &images,
        "--bundle",
        &b.path_str(),
        &id,
    ];
    b.runtime(&restore).ok();
    let master = receive(&listener);
    assert_eq!(talk(&master, "two"), "got-two", "the restored shell reads and writes the new pty");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &id);
}

fn receive(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().expect("the runtime connects to the console socket");
    receive_with_fd(conn.as_raw_fd()).1
}

/// Writes a line to the pty and returns the first `got-` line that comes back.
fn talk(master: &OwnedFd, line: &str) -> String {
    let mut file = std::fs::File::from(master.try_clone().unwrap());
    writeln!(file, "{line}").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    let mut buf = [0u8; 1024];
    while Instant::now() < deadline {
        let n = file.read(&mut buf).unwrap_or(0);
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if let Some(reply) = seen.lines().map(str::trim).find(|l| l.starts_with("got-")) {
            return reply.to_string();
        }
    }
    panic!("no reply on the pty: {seen:?}")
}

#[test]
fn checkpoint_refuses_a_container_that_is_not_running() {
    let b = Bundle::new();
    let c = b.create();
    c.cmd("checkpoint", &["--image-path", &b.host_dir("images").to_string_lossy()])
        .fails_mentioning(&["cannot checkpoint container", "created"]);
    assert_eq!(c.status(), "created", "untouched");
    c.delete(&[]).ok();
}

#[test]
fn checkpoint_flags_are_checked_before_criu_runs_and_the_container_runs_on() {
    let mut b = Bundle::new();
    b.args(&["sleep", "60"]);
    let c = b.start();
    let images = b.host_dir("images").to_string_lossy().into_owned();
    for (flags, words) in [
        (&["--empty-ns", "pid"][..], &["--empty-ns", "\"pid\""][..]),
        (&["--page-server", "nowhere"], &["--page-server"]),
        (&["--parent-path", "/abs"], &["--parent-path", "relative"]),
        (&["--parent-path", "no-such"], &["--parent-path", "not a directory"]),
        (&["--manage-cgroups-mode", "bogus"], &["manage-cgroups-mode"]),
    ] {
        let mut args = vec!["--image-path", images.as_str()];
        args.extend_from_slice(flags);
        c.cmd("checkpoint", &args).fails_mentioning(words);
        assert_eq!(c.status(), "running", "after {flags:?}");
    }
    // Without CRIU at all: the runtime says what is missing.
    let out = Command::new("env")
        .args([
            "PATH=/nonexistent",
            &b.runtime.to_string_lossy(),
            "--root",
            &b.state_root().to_string_lossy(),
        ])
        .args(["checkpoint", "--image-path", &images, &c.id])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("cannot run criu"), "{stderr}");
    assert_eq!(c.status(), "running");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn restore_from_a_directory_without_a_checkpoint_leaves_nothing() {
    let b = Bundle::new();
    let id = b.new_id();
    b.write_config(&id);
    let empty = b.host_dir("empty");
    // As containerd's shim runs it: go-runc writes `-no-subreaper` with one dash.
    let (images, bundle) = (empty.to_string_lossy(), b.path_str());
    let shim = ["restore", "--image-path", &images, "--detach", "-no-subreaper", "--bundle", &bundle, &id];
    let out = b.runtime(&shim);
    out.fails_mentioning(&["descriptors.json"]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {:?}", out.stderr);
    assert_no_leftovers(&b, &id);
    // Images CRIU cannot use (a descriptors file and nothing else): CRIU's own words,
    // and nothing left either.
    std::fs::write(empty.join("descriptors.json"), "[]").unwrap();
    let out = b.runtime(&[
        "restore",
        "-d",
        "--image-path",
        &empty.to_string_lossy(),
        "--bundle",
        &b.path_str(),
        &id,
    ]);
    out.fails_mentioning(&["criu"]);
    assert_no_leftovers(&b, &id);
}

/// A restore killed (SIGKILL) at any instant leaves nothing that `delete --force` does
/// not remove: the rootfs bind CRIU needs lives in the command's own mount namespace,
/// and the state is recorded before the cgroup is made.
#[test]
fn restore_killed_at_any_instant_leaves_nothing_after_delete_force() {
    let mut b = Bundle::new();
    b.shell(SHELL_COUNTER);
    let images = b.host_dir("images");
    let works = criu_works();
    if works {
        let id = b.new_id();
        b.write_config(&id);
        let p = Pipes::new();
        p.runtime_ok(&b, &["run", "-d", "--bundle", &b.path_str(), &id]);
        p.numbers_for(Duration::from_millis(300));
        p.runtime_ok(&b, &["checkpoint", "--image-path", &images.to_string_lossy(), &id]);
    } else {
        std::fs::write(images.join("descriptors.json"), "[]").unwrap();
    }
    for delay_ms in [0, 5, 20, 50, 100, 200, 400] {
        let id = b.new_id();
        b.write_config(&id);
        let p = Pipes::new();
        let mut child = Command::new(&b.runtime)
            .arg("--root")
            .arg(b.state_root())
            .args([
                "restore",
                "-d",
                "--image-path",
                &images.to_string_lossy(),
                "--bundle",
                &b.path_str(),
                &id,
            ])
            .current_dir(b.path())
            .stdin(Stdio::from(p.stdin.0.try_clone().unwrap()))
            .stdout(Stdio::from(p.stdout.1.try_clone().unwrap()))
            .stderr(Stdio::from(p.stderr.1.try_clone().unwrap()))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Whatever CRIU was doing ends with it or is left to delete.
        std::thread::sleep(Duration::from_millis(100));
        let deleted = b.runtime(&["delete", "--force", &id]);
        assert!(deleted.success(), "delete --force after a restore killed at {delay_ms} ms: {deleted:#?}");
        assert_no_leftovers(&b, &id);
    }
}
