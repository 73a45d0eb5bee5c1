//! NOTIFY_SOCKET (systemd's sd_notify) across the container's boundary, as runc relays
//! it: the program gets a socket of its own at /run/notify/notify.sock, and `start` (or
//! `run`) relays READY=1 to the caller's socket, with MAINPID and a barrier, only once
//! the container has started. A listening socket of the test's own plays systemd.

use spec_tests::*;

#[test]
fn notify_socket_relays_ready_and_init_as_main_pid_only_once_started() {
    let host = NotifyListener::new();
    let mut b = Bundle::new();
    b.run_runtime_via(&format!("NOTIFY_SOCKET={} exec", host.path.display()));
    // A forged MAINPID and an FDSTORE come with READY: they must stay inside.
    b.shell("/probe notify STATUS=starting; /probe notify 'READY=1\\nMAINPID=1\\nFDSTORE=1'; exec /probe wait-signal");
    let c = b.create();
    assert!(host.nothing_yet(), "nothing reaches the host's socket before start");
    let start = b.spawn_runtime(&["start", &c.id]);
    let got = host.until_barrier();
    start.wait().ok();
    assert_eq!(got, ["STATUS=starting\n", "READY=1\n", &format!("MAINPID={}\n", c.pid()), "BARRIER=1"]);
    let environ = std::fs::read(format!("/proc/{}/environ", c.pid())).unwrap();
    assert!(
        String::from_utf8_lossy(&environ).split('\0').any(|e| e == "NOTIFY_SOCKET=/run/notify/notify.sock"),
        "the program's own socket"
    );
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_relays_ready_with_its_own_pid_as_main_pid() {
    let host = NotifyListener::new();
    let mut b = Bundle::new();
    b.run_runtime_via(&format!("NOTIFY_SOCKET={} exec", host.path.display()));
    b.shell("/probe notify READY=1 >/dev/null; sleep 1");
    let (c, running) = b.spawn_run(&[]);
    let runtime_pid = running.pid();
    let got = host.until_barrier();
    running.wait().ok();
    assert_eq!(got, ["READY=1\n", &format!("MAINPID={runtime_pid}\n"), "BARRIER=1"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn start_returns_when_the_program_ends_without_saying_ready() {
    let host = NotifyListener::new();
    let mut b = Bundle::new();
    b.run_runtime_via(&format!("NOTIFY_SOCKET={} exec", host.path.display()));
    b.shell("sleep 0.5");
    let c = b.create();
    c.start().ok();
    assert!(host.nothing_yet(), "no READY, nothing relayed");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
