//! create / start / state / kill / delete / run: the container lifecycle and
//! the exit codes and errors of each step.

use spec_tests::*;
use std::fs;
use std::time::Duration;

/// A bundle whose process stays up until it receives a signal and then
/// reports `{"signal":N}` on stdout.
fn waiting_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b
}

/// A bundle whose process exits with `code` right away.
fn exiting_bundle(code: i32) -> Bundle {
    let mut b = Bundle::new();
    b.probe(&["exit", &code.to_string()]);
    b
}

#[test]
fn create_leaves_container_created_with_init_pid_and_bundle() {
    let b = waiting_bundle();
    let c = b.create();
    let state = c.state();
    assert_eq!(state["status"], "created");
    assert_eq!(state["id"], c.id.as_str());
    assert_eq!(state["bundle"], b.path_str().as_str());
    let pid = state["pid"].as_i64().expect("pid") as i32;
    assert!(pid > 0 && process_alive(pid), "init {pid} must be alive");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn state_json_has_oci_fields_and_annotations() {
    let mut b = waiting_bundle();
    b.config["annotations"] = json!({"org.example.key": "value", "other": "x"});
    let c = b.create();
    let state = c.state();
    assert!(state["ociVersion"].as_str().is_some_and(|v| v.starts_with("1.")), "ociVersion: {state:#}");
    assert_eq!(state["id"], c.id.as_str());
    assert_eq!(state["status"], "created");
    assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state:#}");
    let bundle = state["bundle"].as_str().expect("bundle");
    assert!(bundle.starts_with('/'), "bundle must be absolute: {bundle}");
    assert_eq!(state["annotations"], json!({"org.example.key": "value", "other": "x"}));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn create_returns_while_init_waits_for_start() {
    let mut b = Bundle::new();
    let shared = b.share();
    b.shell("touch /shared/ran; sleep 30");
    let c = b.create();
    // The user process must not run before `start`.
    std::thread::sleep(Duration::from_millis(300));
    assert!(process_alive(c.pid()), "init must be waiting");
    assert!(!shared.join("ran").exists(), "process ran before start");
    c.start().ok();
    wait_until("process to run after start", || shared.join("ran").exists());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn create_without_bundle_flag_uses_current_directory() {
    let b = waiting_bundle();
    let id = b.new_id();
    b.write_config(&id);
    // The harness runs the runtime inside the bundle directory.
    b.runtime(&["create", &id]).ok();
    let state = b.runtime(&["state", &id]).ok().json();
    assert_eq!(state["bundle"], b.path_str().as_str());
    b.runtime(&["delete", "--force", &id]).ok();
    assert_no_leftovers(&b, &id);
}

#[test]
fn pid_file_contains_init_host_pid() {
    let b = waiting_bundle();
    let pid_file = b.host_dir("pid").join("init.pid");
    let (c, out) = b.try_create(&["--pid-file", &pid_file.to_string_lossy()]);
    out.ok();
    let written = fs::read_to_string(&pid_file).expect("pid file written");
    assert_eq!(written.trim().parse::<i32>().ok(), Some(c.pid()));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn start_makes_created_container_running() {
    let b = waiting_bundle();
    let c = b.create();
    let pid = c.pid();
    c.start().ok();
    let state = c.state();
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"], pid, "the init process becomes the user process");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn container_is_stopped_after_its_process_exits() {
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    assert_eq!(c.state()["id"], c.id.as_str(), "state kept until delete");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_removes_stopped_container() {
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    c.cmd("state", &[]).fails();
    let listed = b.runtime(&["list", "-q"]).ok().stdout.clone();
    assert!(!listed.contains(&c.id), "still listed: {listed}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn start_of_nonexistent_container_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["start", "no-such-container"]).fails_mentioning(&[
        "no-such-container",
        "not exist",
        "not found",
    ]);
}

#[test]
fn start_twice_is_an_error() {
    let b = waiting_bundle();
    let c = b.start();
    c.start().fails();
    assert_eq!(c.status(), "running", "failed start must not disturb it");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn start_of_stopped_container_is_an_error() {
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    c.start().fails();
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_of_running_container_without_force_is_an_error() {
    let b = waiting_bundle();
    let c = b.start();
    let pid = c.pid();
    c.delete(&[]).fails_mentioning(&["running", "not stopped"]);
    assert_eq!(c.status(), "running");
    assert!(process_alive(pid), "container must be unharmed");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_without_force_removes_created_container() {
    // runc deletes a created (never started) container without --force.
    let b = waiting_bundle();
    let c = b.create();
    let pid = c.pid();
    c.delete(&[]).ok();
    wait_until("init to be killed", || !process_alive(pid));
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_force_kills_and_removes_running_container() {
    let b = waiting_bundle();
    let c = b.start();
    let pid = c.pid();
    c.delete(&["--force"]).ok();
    wait_until("init to be killed", || !process_alive(pid));
    c.cmd("state", &[]).fails();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_force_of_nonexistent_id_succeeds() {
    // containerd relies on this being idempotent.
    let b = Bundle::new();
    b.runtime(&["delete", "--force", "no-such-container"]).ok();
}

#[test]
fn delete_of_nonexistent_id_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["delete", "no-such-container"]).fails_mentioning(&[
        "no-such-container",
        "not exist",
        "not found",
    ]);
}

/// Sends `signal` (as spelled on the command line) to a running waiting
/// probe and checks which signal it received; SIGKILL just stops it.
fn check_kill(signal: Option<&str>, expected: Option<i32>) {
    let b = waiting_bundle();
    let c = b.start();
    c.wait_probe_ready();
    c.kill_with(&[], signal).ok();
    c.wait_status("stopped");
    match expected {
        Some(sig) => assert_eq!(c.output_json(), json!({ "signal": sig })),
        None => assert_eq!(c.stdout(), "", "SIGKILL leaves no report"),
    }
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn kill_accepts_signal_name_with_sig_prefix() {
    check_kill(Some("SIGKILL"), None);
}

#[test]
fn kill_accepts_signal_name_without_prefix() {
    check_kill(Some("KILL"), None);
}

#[test]
fn kill_accepts_signal_number() {
    check_kill(Some("9"), None);
}

#[test]
fn kill_term_delivers_sigterm() {
    check_kill(Some("TERM"), Some(libc::SIGTERM));
}

#[test]
fn kill_delivers_the_named_signal() {
    check_kill(Some("SIGUSR1"), Some(libc::SIGUSR1));
}

#[test]
fn kill_accepts_lowercase_signal_name() {
    check_kill(Some("term"), Some(libc::SIGTERM));
}

#[test]
fn kill_delivers_real_time_signals_by_name_and_number() {
    // podman stops systemd containers with SIGRTMIN+3.
    check_kill(Some("RTMIN+3"), Some(libc::SIGRTMIN() + 3));
    check_kill(Some(&(libc::SIGRTMIN() + 3).to_string()), Some(libc::SIGRTMIN() + 3));
}

/// A created container's init is PID 1 of its namespace, which ignores a signal it
/// has no handler for; runc's init (a Go program) handles them all, so `kill ID
/// TERM` stops a created container, and engines rely on it (pidfd-socket.bats
/// sends SIGTERM so).
#[test]
fn a_created_container_stops_on_sigterm() {
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let c = b.create();
    c.kill("TERM").ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn kill_of_stopped_container_says_not_running() {
    // containerd recognises runc's wording.
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    c.kill("KILL").fails_mentioning(&["container not running"]);
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn kill_all_of_stopped_container_succeeds() {
    // containerd sends `kill --all` after init exits to reap what is left.
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    c.kill_with(&["--all"], Some("KILL")).ok();
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn kill_defaults_to_sigterm() {
    check_kill(None, Some(libc::SIGTERM));
}

#[test]
fn kill_of_stopped_container_is_an_error() {
    let b = exiting_bundle(0);
    let c = b.start();
    c.wait_status("stopped");
    c.kill("KILL").fails();
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn kill_all_signals_every_process_in_the_container() {
    // PID 1 in a PID namespace ignores SIGTERM (no handler), so only --all
    // reaches the two children; once they die the shell's `wait` returns and
    // the container stops.
    let mut b = Bundle::new();
    let shared = b.share();
    b.shell("sleep 1000 & sleep 1000 & touch /shared/up; wait");
    let c = b.start();
    wait_until("children to start", || shared.join("up").exists());
    c.kill_with(&["--all"], Some("TERM")).ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn container_survives_runtime_exit() {
    let b = waiting_bundle();
    let c = b.start();
    let pid = c.pid();
    // `start` has returned, so no runtime process is around any more.
    std::thread::sleep(Duration::from_millis(500));
    assert!(process_alive(pid));
    assert_eq!(c.status(), "running");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_exit_code_equals_container_exit_code() {
    let b = exiting_bundle(42);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(42), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_removes_container_after_it_exits() {
    let b = exiting_bundle(0);
    let (c, out) = b.run(&[]);
    out.ok();
    c.cmd("state", &[]).fails();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_exits_128_plus_signal_when_container_is_killed() {
    let b = waiting_bundle();
    let (c, running) = b.spawn_run(&[]);
    c.wait_probe_ready();
    c.kill("KILL").ok();
    let out = running.wait();
    assert_eq!(out.code, Some(128 + libc::SIGKILL), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_forwards_sigterm_to_the_container() {
    let b = waiting_bundle();
    let (c, running) = b.spawn_run(&[]);
    c.wait_probe_ready();
    running.signal(libc::SIGTERM);
    let out = running.wait();
    out.ok();
    assert_eq!(out.json(), json!({"signal": libc::SIGTERM}));
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_detach_returns_with_container_running() {
    let b = waiting_bundle();
    let (c, out) = b.run(&["--detach"]);
    out.ok();
    assert_eq!(c.status(), "running");
    assert!(process_alive(c.pid()));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn state_and_list_answer_while_create_is_still_running() {
    // A createRuntime hook holds create up; state and list must not wait for it.
    let mut b = waiting_bundle();
    let marker = b.host_dir("markers").join("hook-started");
    b.hook("createRuntime", &format!("touch {}; exec sleep 3", marker.display()));
    let id = b.new_id();
    b.write_config(&id);
    b.track_id(&id);
    let create = b.spawn_runtime(&["create", "--bundle", &b.path_str(), &id]);
    wait_until("the createRuntime hook to start", || marker.exists());
    let started = std::time::Instant::now();
    let state = b.runtime(&["state", &id]);
    state.ok();
    assert_eq!(state.json()["status"], "creating", "{state:#?}");
    assert!(b.runtime(&["list", "-q"]).ok().stdout.contains(&id));
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "state or list waited for create");
    create.wait().ok();
    b.runtime(&["delete", "--force", &id]).ok();
    assert_no_leftovers(&b, &id);
}

/// runc's `--pidfd-socket` (create, run, exec): a pidfd of the process arrives on the
/// caller's socket, and signals sent through it reach that process only
/// (pidfd-socket.bats).
#[test]
fn pidfd_socket_receives_a_pidfd_of_init_and_of_an_execd_process() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;
    let kill_through = |listener: &UnixListener| {
        let (conn, _) = listener.accept().expect("the runtime connects to --pidfd-socket");
        let (_, pidfd) = receive_with_fd(conn.as_raw_fd());
        // SAFETY: pidfd_send_signal on a pidfd we own, with a null siginfo.
        let r = unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, 0usize, 0u32)
        };
        assert_eq!(r, 0, "pidfd_send_signal: {}", std::io::Error::last_os_error());
    };
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let socket = b.test_dir().join("pidfd.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let socket = socket.to_string_lossy().into_owned();
    let (c, created) = b.try_create(&["--pidfd-socket", &socket]);
    created.ok();
    kill_through(&listener);
    c.wait_status("stopped");
    c.delete(&[]).ok();

    let c = b.start();
    let pid_file = b.test_dir().join("exec.pid");
    let pid_file = pid_file.to_string_lossy().into_owned();
    c.exec(&["-d", "--pid-file", &pid_file, "--pidfd-socket", &socket], &["sleep", "30"]).ok();
    let exec_pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    kill_through(&listener);
    wait_until("the exec'd process to die", || !process_alive(exec_pid));
    assert_eq!(c.state()["status"], "running", "only the exec'd process got the signal");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
