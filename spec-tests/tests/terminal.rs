//! `process.terminal`: the pty master goes to `--console-socket` as containerd and
//! conmon expect, and the container's stdio is the pty's slave.

use spec_tests::*;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixListener;

/// Receives one fd sent with SCM_RIGHTS on a connection accepted from `listener`.
fn receive_fd(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().expect("the runtime connects to the console socket");
    receive_with_fd(conn.as_raw_fd()).1
}

/// `create --console-socket` (process.terminal set by the caller), and the pty master
/// the runtime sends there.
fn create_on_a_console(b: &Bundle) -> (Container<'_>, OwnedFd) {
    let socket = b.test_dir().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    // The connection waits in the listener's backlog with the master queued on it.
    let (c, created) = b.try_create(&["--console-socket", &socket.to_string_lossy()]);
    created.ok();
    let master = receive_fd(&listener);
    (c, master)
}

#[test]
fn console_socket_receives_the_pty_master_and_the_program_runs_on_the_pty() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.args(&["sh", "-c", "tty; [ -t 0 ] && [ -t 1 ] && echo stdio-is-a-terminal"]);
    let (c, master) = create_on_a_console(&b);
    c.start().ok();
    c.wait_status("stopped");
    let out = read_until_closed(master);
    assert!(out.contains("/dev/pts/"), "tty output: {out:?}");
    assert!(out.contains("stdio-is-a-terminal"), "tty output: {out:?}");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// What the container wrote on its terminal until it stopped.
fn read_until_closed(master: OwnedFd) -> String {
    let mut out = String::new();
    let mut file = std::fs::File::from(master);
    // Reading a pty master whose slave is closed ends with EIO: take what came.
    let mut buf = [0u8; 4096];
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    out
}

#[test]
fn a_terminal_works_with_a_time_namespace_and_a_joined_namespace() {
    // Init forks once more for these, and its child must lead a session of its own
    // to take the terminal: `make the pty the controlling terminal: EPERM` (runc's
    // tests run both).
    let helper = HostProcess::spawn("unshare", &["--ipc", "sleep", "60"]);
    let pid = helper.pid().to_string();
    wait_until("unshare to create the namespace", || ns_of(&pid, "ipc") != ns_of("self", "ipc"));
    for joined in [false, true] {
        let mut b = Bundle::new();
        b.config["process"]["terminal"] = json!(true);
        b.args(&["sh", "-c", "[ -t 0 ] && echo stdio-is-a-terminal"]);
        if joined {
            b.set_namespace("ipc", Some(&format!("/proc/{pid}/ns/ipc")));
        } else {
            b.set_namespace("time", None);
        }
        let (c, master) = create_on_a_console(&b);
        c.start().ok();
        c.wait_status("stopped");
        let out = read_until_closed(master);
        assert!(out.contains("stdio-is-a-terminal"), "joined {joined}: {out:?}");
        c.delete(&[]).ok();
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn detached_terminal_without_console_socket_is_refused() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["console-socket"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn console_socket_without_terminal_is_refused() {
    let b = Bundle::new();
    let (c, out) = b.try_create(&["--console-socket", "/nonexistent.sock"]);
    out.fails_mentioning(&["terminal"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn foreground_run_relays_the_terminal_itself() {
    // No console socket: `run` keeps the master and copies it to its own stdout, as
    // runc does for a `runc spec` bundle (terminal: true).
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.args(&["sh", "-c", "tty; echo line; exit 3"]);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(3), "{out:#?}");
    assert!(out.stdout.contains("/dev/pts/") && out.stdout.contains("line\n"), "{out:#?}");
    assert!(!out.stdout.contains('\r'), "output translated to CRLF: {out:#?}");
    assert_no_leftovers(&b, &c.id);
}

/// Only init's terminal is /dev/console. An `exec -t` gets its own pty as stdio and
/// changes nothing else: before, each one bound its pty over /dev/console, so it could
/// take init's console and a second `exec -t` failed (`bind mount /dev/pts/0 on
/// /dev/console: ENOENT`).
#[test]
fn exec_with_a_terminal_leaves_dev_console_to_init() {
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.args(&["sleep", "30"]);
    let (c, _master) = create_on_a_console(&b);
    c.start().ok();
    let console = || c.exec(&[], &["stat", "-L", "-c", "%t:%T", "/dev/console"]).ok().stdout.clone();
    let before = console();
    for _ in 0..2 {
        let out = c.exec(&["-t"], &["sh", "-c", "tty"]);
        out.ok();
        assert!(out.stdout.contains("/dev/pts/"), "{out:#?}");
    }
    assert_eq!(console(), before, "/dev/console changed");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// runc gives the pty to the process's user, keeping the group devpts gave it (tty,
/// gid 5 in the config's devpts options), and applies `process.consoleSize`, for init
/// and for `exec` (tty.bats "[tty owner] ({u,g}id != 0)" and "exec [tty consolesize]").
#[test]
fn the_pty_belongs_to_the_process_user_and_takes_the_console_size() {
    let report = "stat -c %u:%g $(tty); stty size";
    let mut b = Bundle::new();
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 100});
    b.config["process"]["consoleSize"] = json!({"height": 10, "width": 110});
    b.args(&["sh", "-c", &format!("{report}; sleep 30")]);
    let (c, master) = create_on_a_console(&b);
    c.start().ok();
    let process = b.test_dir().join("process.json");
    let exec_process = json!({"terminal": true, "user": {"uid": 1001, "gid": 100}, "cwd": "/",
        "consoleSize": {"height": 12, "width": 90}, "args": ["sh", "-c", report]});
    std::fs::write(&process, exec_process.to_string()).unwrap();
    let exec = c.exec(&["-t", "-p", &process.to_string_lossy()], &[]);
    assert_eq!(exec.ok().stdout.replace('\r', ""), "1001:5\n12 90\n");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    let init = read_until_closed(master).replace('\r', "");
    assert!(init.starts_with("1000:5\n10 110\n"), "init's terminal: {init:?}");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}
