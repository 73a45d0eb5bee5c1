//! `exec`: a new process in a running container, in all its namespaces and its
//! cgroup, with its confinement, as containerd and podman drive it.

use spec_tests::*;
use std::fs;

/// A running container whose init waits for a signal.
fn running(b: &Bundle) -> Container<'_> {
    let c = b.start();
    c.wait_probe_ready();
    c
}

fn waiting_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b
}

#[test]
fn exec_joins_every_namespace_of_the_container() {
    let b = waiting_bundle();
    let c = running(&b);
    let info = c.exec(&[], &["/probe", "info"]).ok().json();
    let init = c.pid().to_string();
    for kind in ["pid", "net", "ipc", "uts", "mnt"] {
        assert_eq!(info["namespaces"][kind], ns_of(&init, kind), "{kind} namespace differs");
    }
    assert_ne!(info["pid"], 1, "init is PID 1; the exec'd process is another one");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_exit_code_is_the_commands() {
    let b = waiting_bundle();
    let c = running(&b);
    let out = c.exec(&[], &["sh", "-c", "echo out; exit 7"]);
    assert_eq!((out.code, out.stdout.as_str()), (Some(7), "out\n"), "{out:#?}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_flags_set_env_cwd_and_user() {
    let b = waiting_bundle();
    let c = running(&b);
    let flags = ["--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1001"];
    let out = c.exec(&flags, &["sh", "-c", "echo $FOO; pwd; id -u; id -g"]);
    assert_eq!(out.ok().stdout, "bar\n/tmp\n1000\n1001\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// runc's `exec --cap`: added to the bounding, effective and permitted sets, and to
/// the ambient set only when the config has an inheritable set; an unknown name is a
/// warning (capabilities.bats "runc exec --cap" and "[ambient is set from spec]").
#[test]
fn exec_cap_adds_to_the_process_sets_and_to_ambient_with_an_inheritable_set() {
    let caps_of = |b: &Bundle, flags: &[&str]| {
        let c = running(b);
        let out = c.exec(flags, &["/probe", "info"]);
        let caps = out.ok().json()["caps"].clone();
        c.delete(&["--force"]).ok();
        assert_no_leftovers(b, &c.id);
        (caps, out.stderr)
    };
    let mut b = waiting_bundle();
    b.config["process"]["capabilities"] = json!({});
    let (caps, stderr) = caps_of(&b, &["--cap", "CAP_KILL", "--cap", "CAP_AUDIT_WRITE", "--cap", "CAP_NOPE"]);
    let added = cap_mask(&[5, 29]);
    for set in ["bounding", "effective", "permitted"] {
        assert_eq!(caps[set], added.as_str(), "{set}");
    }
    assert_eq!(
        (caps["inheritable"].as_str(), caps["ambient"].as_str()),
        (Some(cap_mask(&[]).as_str()), Some(cap_mask(&[]).as_str()))
    );
    assert!(stderr.contains("CAP_NOPE"), "the unknown name is warned about: {stderr}");

    b.config["process"]["capabilities"] = json!({"inheritable": ["CAP_CHOWN", "CAP_SYSLOG"], "permitted": ["CAP_CHOWN"],
        "effective": ["CAP_CHOWN"], "bounding": ["CAP_CHOWN", "CAP_SYSLOG"], "ambient": ["CAP_CHOWN"]});
    let (caps, _) = caps_of(&b, &["--cap", "CAP_SYSLOG"]);
    assert_eq!(caps["ambient"], cap_mask(&[0, 34]).as_str());
    assert_eq!(caps["permitted"], cap_mask(&[0, 34]).as_str());
}

/// runc reads a process.json without `user` as uid 0, gid 0 (its Go structure's zero
/// value); its own test suite sends such files.
#[test]
fn exec_process_json_without_a_user_runs_as_root() {
    let b = waiting_bundle();
    let c = running(&b);
    let process = json!({"args": ["id", "-u"], "env": ["PATH=/bin"], "cwd": "/"});
    let file = write_file(&b.test_dir().join("process.json"), &process.to_string());
    let out = c.exec(&["--process", &file.to_string_lossy()], &[]);
    assert_eq!(out.ok().stdout, "0\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_process_json_is_used_as_given() {
    let b = waiting_bundle();
    let c = running(&b);
    let process = json!({"args": ["sh", "-c", "echo $GREETING; pwd"], "env": ["GREETING=hi", "PATH=/bin"],
                         "cwd": "/dev", "user": {"uid": 0, "gid": 0}});
    let file = write_file(&b.test_dir().join("process.json"), &process.to_string());
    let out = c.exec(&["--process", &file.to_string_lossy()], &[]);
    assert_eq!(out.ok().stdout, "hi\n/dev\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn detached_exec_writes_its_pid_and_runs_in_the_containers_cgroup() {
    let b = waiting_bundle();
    let c = running(&b);
    let pid_file = b.test_dir().join("exec.pid");
    c.exec(&["--detach", "--pid-file", &pid_file.to_string_lossy()], &["sleep", "30"]).ok();
    let pid: i32 = fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    assert!(process_alive(pid), "the detached process outlives exec");
    let procs = read_cgroup("memory", &c.id, "cgroup.procs");
    assert!(
        procs.lines().any(|l| l.trim() == pid.to_string()),
        "{pid} not in the container's cgroup: {procs}"
    );
    c.delete(&["--force"]).ok();
    wait_until("the exec'd process to die with the container", || !process_alive(pid));
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_gets_the_containers_seccomp_filter_and_no_new_privs() {
    let mut b = waiting_bundle();
    b.config["process"]["noNewPrivileges"] = json!(true);
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]});
    let c = running(&b);
    let info = c.exec(&[], &["/probe", "info"]).ok().json();
    assert_eq!((info["seccomp"].clone(), info["no_new_privs"].clone()), (json!(2), json!(true)), "{info:#}");
    let mkdir = c.exec(&[], &["/probe", "mkdir", "/tmp/x"]).ok().json();
    assert_eq!(mkdir["errno"], 38, "{mkdir:#}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_exits_255_for_its_own_failures_as_runc_does() {
    // runc's exec.bats "[exit codes]": the program's status as it is, 255 when exec
    // itself fails (a pid file it cannot write, a missing program or container). A
    // process whose PID could not be written is not left running.
    let b = waiting_bundle();
    let c = running(&b);
    assert_eq!(c.exec(&[], &["false"]).code, Some(1));
    assert_eq!(c.exec(&[], &["sh", "-c", "exit 42"]).code, Some(42));
    let pid_file = c.exec(&["--pid-file", "/non-existent/directory"], &["sleep", "300"]);
    assert_eq!(pid_file.fails().code, Some(255), "{pid_file:#?}");
    assert_eq!(c.exec(&[], &["no-such-binary"]).fails().code, Some(255));
    assert_eq!(b.runtime(&["exec", "no_such_container", "true"]).fails().code, Some(255));
    let procs = c.cmd("ps", &["--format", "json"]).ok().json();
    assert_eq!(procs, json!([c.pid()]), "only init is left in the container");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_of_a_missing_program_fails_clearly() {
    let b = waiting_bundle();
    let c = running(&b);
    c.exec(&[], &["/no/such/program"]).fails_mentioning(&["/no/such/program"]);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// Zombies among the processes in the PID namespace of `pid`.
fn zombies_beside(pid: i32) -> Vec<String> {
    let ns = ns_of(&pid.to_string(), "pid");
    let pids = std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().into_string().ok());
    pids.filter(|p| p.parse::<i32>().is_ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/ns/pid")).is_ok_and(|l| l.to_string_lossy() == ns))
        .filter(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .collect()
}

/// A failed `exec` (a program that is not there; a script whose interpreter is not)
/// leaves no zombie in the container: the process that failed is reaped by `exec`,
/// not left to the container's init, which need not reap (issue 21).
#[test]
fn a_failed_exec_leaves_no_zombie_in_the_container() {
    let b = waiting_bundle();
    let script = b.write_rootfs_file("no-interpreter.sh", "#!/no/such/interpreter\n");
    std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = running(&b);
    c.exec(&[], &["/no/such/program"]).fails_mentioning(&["/no/such/program"]);
    c.exec(&[], &["/no-interpreter.sh"]).fails_mentioning(&["/no-interpreter.sh", "ENOENT"]);
    assert_eq!(zombies_beside(c.pid()), Vec::<String>::new(), "zombies in the container");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A failed execve is reported once, in runc's words ("exec /run.sh: no such file or
/// directory", what Kubernetes shows and people search for), by `run` and by `exec`
/// (run.bats and exec.bats "execve error").
#[test]
fn a_failed_execve_is_one_line_in_runcs_words() {
    let mut b = waiting_bundle();
    let script = b.write_rootfs_file("no-interpreter.sh", "#!/no/such/interpreter\n");
    std::fs::set_permissions(script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let c = running(&b);
    let words = "exec /no-interpreter.sh: no such file or directory";
    let out = c.exec(&[], &["/no-interpreter.sh"]);
    out.fails_mentioning(&[words]);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);

    b.args(&["/no-interpreter.sh"]);
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&[words]);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_into_a_stopped_container_is_an_error() {
    let mut b = Bundle::new();
    b.probe(&["exit", "0"]);
    let c = b.start();
    c.wait_status("stopped");
    c.exec(&[], &["true"]).fails_mentioning(&["stopped"]);
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn exec_into_a_paused_container_needs_ignore_paused_as_with_runc() {
    // runc's cgroups.bats looks for its words: "cannot exec in a paused container".
    let b = waiting_bundle();
    let c = running(&b);
    c.cmd("pause", &[]).ok();
    let refused = c.exec(&[], &["true"]);
    refused.fails_mentioning(&["cannot exec in a paused container"]);
    assert_eq!(refused.code, Some(255));
    // With --ignore-paused it goes ahead and, frozen with the rest, finishes once
    // the container is resumed (runc's test resumes it a moment later, too).
    let exec = b.spawn_runtime(&["exec", "--ignore-paused", &c.id, "echo", "ok"]);
    std::thread::sleep(std::time::Duration::from_millis(500));
    c.cmd("resume", &[]).ok();
    let out = exec.wait();
    assert_eq!(out.ok().stdout.trim(), "ok");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// `exec --process <(...)`, as runc's own tests send it: the path names a descriptor
/// the caller passes (bash gives /dev/fd/63), which the runtime keeps while it closes the
/// caller's other strays.
#[test]
fn exec_process_read_from_a_descriptor_the_caller_passes() {
    let b = waiting_bundle();
    let c = running(&b);
    let process = b.test_dir().join("process.json");
    fs::write(&process, json!({"cwd": "/", "args": ["echo", "from fd 9"]}).to_string()).unwrap();
    let script = format!(
        "exec 9<{}; exec {} --root {} exec --process /dev/fd/9 {}",
        process.display(),
        b.runtime.display(),
        b.state_root().display(),
        c.id
    );
    let out = b.spawn_program(std::path::Path::new("/bin/sh"), &["-c", &script]).wait();
    assert_eq!(out.ok().stdout, "from fd 9\n");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
