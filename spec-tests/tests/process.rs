//! The `process` object, hostname/domainname, sysctl and personality, as
//! seen by the containerised process.

use spec_tests::*;
use std::fs;
use std::path::Path;

/// Asserts `create` fails cleanly mentioning one of `words`.
#[track_caller]
fn create_fails(b: &Bundle, words: &[&str]) {
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(words);
    assert_no_leftovers(b, &c.id);
}

fn env_of(info: &Value) -> Vec<String> {
    serde_json::from_value(info["env"].clone()).expect("env array")
}

fn set_user(b: &mut Bundle, user: Value) {
    b.config["process"]["user"] = user;
}

#[test]
fn args_are_resolved_via_path() {
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "echo hello"]);
    assert_eq!(b.run_ok().stdout, "hello\n");
}

#[test]
fn args_are_resolved_via_container_path_variable() {
    // Only the container's PATH can find /opt/tools/myprobe.
    let mut b = Bundle::new();
    fs::create_dir_all(b.rootfs().join("opt/tools")).unwrap();
    fs::copy(probe_path(), b.rootfs().join("opt/tools/myprobe")).unwrap();
    b.config["process"]["env"] = json!(["PATH=/opt/tools"]);
    b.args(&["myprobe", "exit", "7"]);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(7), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn args_are_passed_verbatim() {
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "printf '[%s]' \"$0\" \"$@\"", "zero", "a b", "", "*"]);
    assert_eq!(b.run_ok().stdout, "[zero][a b][][*]");
}

#[test]
fn env_is_passed_to_the_process() {
    let mut b = Bundle::new();
    let env = ["PATH=/bin", "FOO=bar", "EMPTY=", "SPACED=a b", "EQ=x=y"];
    b.config["process"]["env"] = json!(env);
    let got = env_of(&b.probe_info());
    for var in env {
        assert!(got.contains(&var.to_string()), "{var} missing from {got:?}");
    }
    assert!(!got.iter().any(|v| v.starts_with("CARGO")), "the runtime's environment leaked: {got:?}");
}

#[test]
fn home_is_set_from_passwd_when_missing() {
    let mut b = Bundle::new();
    b.config["process"]["env"] = json!(["PATH=/bin"]);
    let got = env_of(&b.probe_info());
    assert!(got.contains(&"HOME=/root".to_string()), "{got:?}");
}

#[test]
fn home_from_config_is_kept() {
    let mut b = Bundle::new();
    b.config["process"]["env"] = json!(["PATH=/bin", "HOME=/custom"]);
    let got = env_of(&b.probe_info());
    let homes: Vec<_> = got.iter().filter(|v| v.starts_with("HOME=")).collect();
    assert_eq!(homes, ["HOME=/custom"]);
}

#[test]
fn stdout_and_stderr_are_passed_through() {
    let mut b = Bundle::new();
    b.shell("echo to-stdout; echo to-stderr >&2");
    let out = b.run_ok();
    assert_eq!(out.stdout, "to-stdout\n");
    assert!(out.stderr.contains("to-stderr\n"), "{out:#?}");
}

#[test]
fn only_stdio_file_descriptors_are_inherited() {
    let mut b = Bundle::new();
    let fds = b.run_probe(&["fds"]);
    let mut open: Vec<&String> = fds.as_object().unwrap().keys().collect();
    open.sort();
    assert_eq!(open, ["0", "1", "2"], "{fds}");
}

#[test]
fn cwd_is_applied() {
    let mut b = Bundle::new();
    b.config["process"]["cwd"] = json!("/tmp");
    assert_eq!(b.probe_info()["cwd"], "/tmp");
}

/// As runc: the runtime enters the cwd while it still has its privileges, so a
/// non-root user gets a cwd whose parents it may not search (a 0700 directory above
/// it, as runc's own test suite makes).
#[test]
fn a_user_gets_a_cwd_below_a_directory_it_cannot_search() {
    let mut b = Bundle::new();
    let private = b.rootfs().join("private");
    std::fs::create_dir_all(private.join("app")).unwrap();
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["cwd"] = json!("/private/app");
    b.args(&["sh", "-c", "pwd"]);
    assert_eq!(b.run_ok().stdout, "/private/app\n");
}

#[test]
fn missing_cwd_is_created() {
    let mut b = Bundle::new();
    b.config["process"]["cwd"] = json!("/work/dir");
    assert_eq!(b.probe_info()["cwd"], "/work/dir");
}

#[test]
fn user_uid_and_gid_are_applied() {
    let mut b = Bundle::new();
    set_user(&mut b, json!({"uid": 1000, "gid": 2000}));
    let info = b.probe_info();
    for (field, want) in [("uid", 1000), ("euid", 1000), ("gid", 2000), ("egid", 2000)] {
        assert_eq!(info[field], want, "{field}");
    }
    assert_eq!(info["groups"], json!([]), "no supplementary groups leak");
}

#[test]
fn additional_gids_are_applied() {
    let mut b = Bundle::new();
    set_user(&mut b, json!({"uid": 1000, "gid": 1000, "additionalGids": [20, 10]}));
    let mut groups: Vec<u64> = serde_json::from_value(b.probe_info()["groups"].clone()).unwrap();
    groups.sort();
    assert_eq!(groups, [10, 20]);
}

#[test]
fn umask_is_applied() {
    let mut b = Bundle::new();
    set_user(&mut b, json!({"uid": 0, "gid": 0, "umask": 0o027}));
    assert_eq!(b.probe_info()["umask"], 0o027);
}

#[test]
fn default_umask_is_0022() {
    let mut b = Bundle::new();
    assert_eq!(b.probe_info()["umask"], 0o022);
}

#[test]
fn rlimits_are_applied() {
    let mut b = Bundle::new();
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024},
        {"type": "RLIMIT_NPROC", "soft": 100, "hard": 200},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
    ]);
    let limits = &b.probe_info()["rlimits"];
    assert_eq!(limits["RLIMIT_NOFILE"], json!([512, 1024]));
    assert_eq!(limits["RLIMIT_NPROC"], json!([100, 200]));
    assert_eq!(limits["RLIMIT_CORE"], json!([0, 0]));
}

#[test]
fn default_template_rlimit_nofile_is_1024() {
    let mut b = Bundle::new();
    assert_eq!(b.probe_info()["rlimits"]["RLIMIT_NOFILE"], json!([1024, 1024]));
}

#[test]
fn rlimit_above_host_hard_limit_fails() {
    // Without CAP_SYS_RESOURCE the hard limit cannot be raised.
    let mut host = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut host) }, 0);
    let mut b = Bundle::new();
    let hard = host.rlim_max + 1;
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": hard, "hard": hard}]);
    create_fails(&b, &["rlimit", "operation not permitted"]);
}

#[test]
fn oom_score_adj_is_applied() {
    let mut b = Bundle::new();
    b.config["process"]["oomScoreAdj"] = json!(500);
    assert_eq!(b.probe_info()["oom_score_adj"], 500);
}

#[test]
fn hostname_is_applied() {
    let mut b = Bundle::new();
    b.config["hostname"] = json!("anchor-test");
    assert_eq!(b.probe_info()["hostname"], "anchor-test");
}

#[test]
fn domainname_is_applied() {
    let mut b = Bundle::new();
    b.config["domainname"] = json!("example.org");
    assert_eq!(b.probe_info()["domainname"], "example.org");
}

#[test]
fn sysctl_is_applied_in_own_network_namespace() {
    let host_path = "/proc/sys/net/ipv4/ip_forward";
    let host_before = fs::read_to_string(host_path).unwrap();
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let out = b.run_probe(&["read", host_path]);
    assert_eq!(out["content"], "1\n");
    assert_eq!(fs::read_to_string(host_path).unwrap(), host_before, "host changed");
}

#[test]
fn net_sysctl_without_network_namespace_is_rejected() {
    let mut b = Bundle::new();
    b.remove_namespace("network");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    create_fails(&b, &["net.ipv4.ip_forward", "sysctl"]);
}

#[test]
fn non_namespaced_sysctl_is_rejected() {
    let mut b = Bundle::new();
    b.config["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    create_fails(&b, &["vm.swappiness"]);
}

#[test]
fn personality_linux32_is_applied() {
    let mut b = Bundle::new();
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let info = b.probe_info();
    assert_eq!(info["personality"].as_i64().map(|p| p & 0xff), Some(0x0008));
    assert_eq!(info["machine"], "i686", "uname -m under PER_LINUX32");
}

/// Personality flags by the kernel's names (linux/personality.h), with the domain.
#[test]
fn personality_flags_are_applied_with_the_domain() {
    let mut b = Bundle::new();
    b.config["linux"]["personality"] =
        json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE", "UNAME26"]});
    b.args(&["sh", "-c", "cat /proc/self/personality; uname -r"]);
    let out = b.run_ok().stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("00060008"), "{out}");
    assert!(lines.next().is_some_and(|release| release.starts_with("2.6.")), "UNAME26: {out}");
}

#[test]
fn no_new_privileges_true_sets_the_flag() {
    let mut b = Bundle::new();
    b.config["process"]["noNewPrivileges"] = json!(true);
    assert_eq!(b.probe_info()["no_new_privs"], true);
}

#[test]
fn no_new_privileges_false_leaves_the_flag_clear() {
    let mut b = Bundle::new();
    b.config["process"]["noNewPrivileges"] = json!(false);
    assert_eq!(b.probe_info()["no_new_privs"], false);
}

#[test]
fn capabilities_from_config_are_applied() {
    let mut b = Bundle::new();
    let caps = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"];
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = json!(caps);
    }
    let got = &b.probe_info()["caps"];
    let want = cap_mask(&[0, 5, 13]);
    assert_eq!(got["bounding"], want.as_str());
    assert_eq!(got["effective"], want.as_str());
    assert_eq!(got["permitted"], want.as_str());
}

#[test]
fn empty_capabilities_drop_everything() {
    let mut b = Bundle::new();
    b.config["process"]["capabilities"] = json!({});
    let got = &b.probe_info()["caps"];
    for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
        assert_eq!(got[set], cap_mask(&[]).as_str(), "{set}");
    }
}

#[test]
fn ambient_capabilities_are_kept_for_non_root_user() {
    // For a non-root user only ambient capabilities survive execve.
    let mut b = Bundle::new();
    set_user(&mut b, json!({"uid": 1000, "gid": 1000}));
    for set in ["bounding", "effective", "permitted", "inheritable", "ambient"] {
        b.config["process"]["capabilities"][set] = json!(["CAP_NET_BIND_SERVICE"]);
    }
    let got = &b.probe_info()["caps"];
    let want = cap_mask(&[10]);
    for set in ["ambient", "effective", "permitted", "inheritable", "bounding"] {
        assert_eq!(got[set], want.as_str(), "{set}");
    }
}

#[test]
fn unknown_capabilities_are_ignored_with_a_warning_naming_their_set() {
    // runtime-spec: a capability that cannot be granted is logged as a warning, not a
    // failure; runc 1.3 ignores unknown names so (its capabilities.bats "runc run
    // with unknown capability").
    let mut b = Bundle::new();
    b.config["process"]["capabilities"]["bounding"] = json!(["CAP_CHOWN", "CAP_UNKNOWN", "UNKNOWN_CAP"]);
    b.probe(&[]);
    let out = b.run_ok();
    assert_eq!(out.json()["caps"]["bounding"], cap_mask(&[0]).as_str());
    for name in ["CAP_UNKNOWN", "UNKNOWN_CAP"] {
        let warning = out.stderr.lines().find(|l| l.contains(name)).unwrap_or_default();
        assert!(
            warning.contains("process.capabilities.bounding"),
            "a warning names {name} and its set: {}",
            out.stderr
        );
    }
}

#[test]
fn inheritable_capabilities_outside_the_permitted_set_are_granted() {
    // The kernel lets a process add to its inheritable set only what it holds as
    // permitted; runc sets the sets in one capset while everything is still
    // permitted, so a config may ask for inheritable capabilities it does not permit
    // (capabilities.bats "runc exec --cap [ambient is set from spec]").
    let mut b = Bundle::new();
    let caps = &mut b.config["process"]["capabilities"];
    caps["inheritable"] = json!(["CAP_CHOWN", "CAP_SYSLOG"]);
    caps["permitted"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    caps["effective"] = json!(["CAP_KILL"]);
    caps["bounding"] = json!(["CAP_KILL", "CAP_CHOWN", "CAP_SYSLOG"]);
    caps["ambient"] = json!(["CAP_CHOWN"]);
    let got = &b.probe_info()["caps"];
    // Ambient capabilities are added to permitted and effective by execve.
    assert_eq!(got["inheritable"], cap_mask(&[0, 34]).as_str());
    assert_eq!(got["permitted"], cap_mask(&[0, 5]).as_str());
    assert_eq!(got["effective"], cap_mask(&[0, 5]).as_str());
    assert_eq!(got["ambient"], cap_mask(&[0]).as_str());
}

#[test]
fn an_ambient_capability_that_cannot_be_raised_is_a_warning() {
    // Ambient needs the capability inheritable too; runc warns in its words and
    // runs the container (capabilities.bats "ambient caps not set in inheritable
    // result in a warning").
    let mut b = Bundle::new();
    b.config["process"]["capabilities"]["inheritable"] = json!(["CAP_KILL"]);
    b.config["process"]["capabilities"]["ambient"] = json!(["CAP_KILL", "CAP_CHOWN"]);
    b.probe(&[]);
    let out = b.run_ok();
    assert_eq!(out.json()["caps"]["ambient"], cap_mask(&[5]).as_str());
    assert!(out.stderr.contains("can't raise ambient capability CAP_CHOWN: "), "{}", out.stderr);
}

#[test]
fn stdin_and_stdout_are_not_terminals_without_terminal() {
    let mut b = Bundle::new();
    assert_eq!(b.probe_info()["isatty"], json!({"stdin": false, "stdout": false}));
}

#[test]
fn scheduler_policy_and_priority_are_applied() {
    let mut b = Bundle::new();
    // With real-time group scheduling (a v1 cpu hierarchy with cpu.rt_runtime_us), a
    // task may only take a real-time policy in a cgroup with a real-time budget, and
    // a cgroup only gets one its parent has: give the harness's parent one.
    let parent = cgroup_dir("cpu", "any").parent().unwrap().to_path_buf();
    if parent.parent().unwrap().join("cpu.rt_runtime_us").exists() {
        fs::create_dir_all(&parent).unwrap();
        fs::write(parent.join("cpu.rt_runtime_us"), "20000").unwrap();
        b.config["linux"]["resources"]["cpu"] = json!({"realtimeRuntime": 10000});
    }
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 7});
    let sched = &b.probe_info()["scheduler"];
    assert_eq!(sched["policy"], 1, "SCHED_FIFO: {sched}");
    assert_eq!(sched["rt_priority"], 7, "{sched}");
}

#[test]
fn scheduler_nice_value_is_applied() {
    let mut b = Bundle::new();
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    let sched = &b.probe_info()["scheduler"];
    assert_eq!(sched["policy"], 3, "SCHED_BATCH: {sched}");
    assert_eq!(sched["nice"], 5, "{sched}");
}

/// The spec's flag names (`SCHED_FLAG_RESET_ON_FORK`), which runc takes and
/// oci-spec 0.10 spells otherwise (scheduler.bats "scheduler is applied"). Reset on
/// fork shows in a child: it starts at nice 0, not its parent's negative nice.
#[test]
fn scheduler_flags_are_read_by_the_specs_names() {
    let mut b = Bundle::new();
    b.config["process"]["scheduler"] =
        json!({"policy": "SCHED_BATCH", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    // `; true` keeps sh from exec'ing cut itself: cut is its child.
    b.shell("cut -d' ' -f19 /proc/$$/stat; cut -d' ' -f19 /proc/self/stat; true");
    assert_eq!(b.run_ok().stdout, "-5\n0\n");
}

/// A deadline scheduler cannot be admitted in a cgroup with restricted CPUs, and the
/// kernel says only EPERM; runc says why, in words tools match (scheduler.bats).
#[test]
fn a_deadline_scheduler_with_restricted_cpus_is_refused_saying_why() {
    let mut b = Bundle::new();
    b.config["linux"]["resources"]["cpu"] = json!({"cpus": "0"});
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_DEADLINE", "nice": 19, "runtime": 42000, "deadline": 1000000, "period": 1000000});
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["process scheduler can't be used together with AllowedCPUs"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn scheduler_the_kernel_refuses_fails_start_naming_it() {
    // SCHED_FIFO takes priorities 1 to 99.
    let mut b = Bundle::new();
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 100});
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["scheduler"]);
    c.delete(&["--force"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn io_priority_is_applied() {
    let mut b = Bundle::new();
    // (class, its number, whether it has levels: the idle class has none)
    for (class, number, levels) in
        [("IOPRIO_CLASS_RT", 1, true), ("IOPRIO_CLASS_BE", 2, true), ("IOPRIO_CLASS_IDLE", 3, false)]
    {
        b.config["process"]["ioPriority"] = json!({"class": class, "priority": 6});
        let got = b.probe_info()["ioprio"].as_i64().expect("ioprio_get worked");
        assert_eq!(got >> 13, number, "class of {class}: {got:#x}");
        if levels {
            assert_eq!(got & 0x7, 6, "level of {class}: {got:#x}");
        }
    }
}

#[test]
fn io_priority_level_out_of_range_is_refused_by_create() {
    let mut b = Bundle::new();
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 8});
    create_fails(&b, &["ioPriority.priority 8"]);
}

/// `run` of the probe's `args`, started by a shell that first opens one host file
/// per entry of `files` as fds 3, 4, ... and runs `prelude`, so the runtime
/// inherits them; `LISTEN_PID=$$` in the prelude names the runtime (exec keeps the
/// PID). The probe's JSON.
fn run_with_inherited_fds(
    b: &mut Bundle,
    files: &[&str],
    prelude: &str,
    flags: &str,
    args: &[&str],
) -> Value {
    b.probe(args);
    let id = b.new_id();
    b.write_config(&id);
    let opens: String = files
        .iter()
        .enumerate()
        .map(|(i, name)| format!("exec {}<{}; ", i + 3, write_file(&b.test_dir().join(name), name).display()))
        .collect();
    let script = format!(
        "{opens}{prelude} exec {} --root {} run --bundle {} {flags} {id}",
        runtime_path().display(),
        b.state_root().display(),
        b.path_str()
    );
    let out = b.spawn_program(Path::new("/bin/sh"), &["-c", &script]).wait();
    out.ok();
    out.json()
}

/// The host files the container's fds point at, by fd number, from the probe's `fds`.
fn inherited(fds: &Value) -> Vec<(String, String)> {
    let mut seen: Vec<(String, String)> = fds
        .as_object()
        .expect("fds object")
        .iter()
        .filter(|(n, _)| n.parse::<u32>().is_ok_and(|n| n >= 3))
        .filter_map(|(n, t)| {
            t.as_str().and_then(|t| t.rsplit('/').next()).map(|t| (n.clone(), t.to_string()))
        })
        .filter(|(_, t)| t.starts_with("passed-"))
        .collect();
    seen.sort();
    seen
}

#[test]
fn preserve_fds_passes_that_many_fds_after_stdio() {
    let mut b = Bundle::new();
    let fds = run_with_inherited_fds(&mut b, &["passed-a", "passed-b"], "", "--preserve-fds 1", &["fds"]);
    // fd 3 is passed; fd 4 is beyond the count and closed.
    assert_eq!(inherited(&fds), [("3".to_string(), "passed-a".to_string())], "{fds}");
}

#[test]
fn socket_activation_fds_are_passed_with_listen_fds_and_listen_pid_1() {
    // systemd's LISTEN_FDS, when LISTEN_PID names the runtime: passed on as runc does,
    // before the --preserve-fds ones, and announced to the program.
    let mut b = Bundle::new();
    let prelude = "export LISTEN_FDS=1 LISTEN_PID=$$;";
    let fds = run_with_inherited_fds(
        &mut b,
        &["passed-listen", "passed-extra"],
        prelude,
        "--preserve-fds 1",
        &["fds"],
    );
    let want =
        [("3".to_string(), "passed-listen".to_string()), ("4".to_string(), "passed-extra".to_string())];
    assert_eq!(inherited(&fds), want, "{fds}");
    let info = run_with_inherited_fds(&mut b, &["passed-listen"], prelude, "", &["info"]);
    let env = env_of(&info);
    assert!(
        env.contains(&"LISTEN_FDS=1".to_string()) && env.contains(&"LISTEN_PID=1".to_string()),
        "{env:?}"
    );
}

#[test]
fn socket_activation_for_another_pid_is_ignored() {
    let mut b = Bundle::new();
    let prelude = "export LISTEN_FDS=1 LISTEN_PID=1;";
    let info = run_with_inherited_fds(&mut b, &["passed-listen"], prelude, "", &["info"]);
    assert!(!env_of(&info).iter().any(|e| e.starts_with("LISTEN_")), "{info}");
    let fds = run_with_inherited_fds(&mut b, &["passed-listen"], prelude, "", &["fds"]);
    assert_eq!(inherited(&fds), [], "{fds}");
}

#[test]
fn an_empty_home_is_replaced_and_each_variable_set_once_as_runc_does() {
    // runc's env.bats: HOME= (empty) counts as unset and comes from /etc/passwd, and
    // of a repeated variable the last one wins, set once.
    let mut b = Bundle::new();
    b.config["process"]["env"] = json!(["PATH=/bin", "HOME=/override", "ONE=two", "HOME=", "ONE=three"]);
    b.args(&["env"]);
    let out = b.run_ok();
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["HOME=/root", "ONE=three", "PATH=/bin"], "{out:#?}");
}

/// A runtime started on fewer CPUs than the host has (`taskset`, a service's
/// CPUAffinity=): the wrapper the test runs the runtime through.
fn on_first_cpu_only(b: &mut Bundle) -> String {
    let online = fs::read_to_string("/sys/devices/system/cpu/online").unwrap().trim().to_string();
    assert_ne!(online, "0", "this test needs two CPUs or more");
    b.run_runtime_via("exec taskset -c 0");
    online
}

fn cpus_allowed(status: &str) -> &str {
    status.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).unwrap_or_default().trim()
}

/// runc resets the CPU affinity of the container's processes to what their cgroup
/// allows, so a runtime restricted to one CPU does not restrict the container
/// (cpu_affinity.bats "CPU affinity should reset", for run and exec).
#[test]
fn the_runtimes_own_cpu_affinity_does_not_pass_to_the_container() {
    let mut b = Bundle::new();
    let online = on_first_cpu_only(&mut b);
    b.args(&["sh", "-c", "grep Cpus_allowed_list /proc/self/status; sleep 30"]);
    let c = b.start();
    let exec = c.exec(&[], &["grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert_eq!(cpus_allowed(&exec.ok().stdout), online);
    c.kill("KILL").ok();
    c.wait_status("stopped");
    assert_eq!(cpus_allowed(&c.stdout()), online);
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// `process.execCPUAffinity.final` (runtime-spec 1.3): the exec'd program runs on
/// those CPUs; from config.json it holds for every exec whose process names none.
#[test]
fn exec_cpu_affinity_final_places_the_execd_program() {
    let mut b = Bundle::new();
    b.config["process"]["execCPUAffinity"] = json!({"initial": "0", "final": "1"});
    b.args(&["sleep", "30"]);
    let c = b.start();
    let exec = c.exec(&[], &["grep", "Cpus_allowed_list", "/proc/self/status"]);
    assert_eq!(cpus_allowed(&exec.ok().stdout), "1");
    let process = b.test_dir().join("process.json");
    let own = json!({"cwd": "/", "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
        "execCPUAffinity": {"final": "0-1"}});
    fs::write(&process, own.to_string()).unwrap();
    let exec = c.exec(&["-p", &process.to_string_lossy()], &[]);
    assert_eq!(cpus_allowed(&exec.ok().stdout), "0-1");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn a_bad_cpu_list_is_refused_naming_the_field() {
    let mut b = Bundle::new();
    b.config["process"]["execCPUAffinity"] = json!({"final": "3-1"});
    let (_, out) = b.try_create(&[]);
    out.fails_mentioning(&["process.execCPUAffinity.final", "3-1"]);
}

/// The policy's first mapping as /proc/self/numa_maps shows it ("bind=static:0").
const NUMA_POLICY: &str = "head -n 1 /proc/self/numa_maps | cut -d ' ' -f 2";

/// `linux.memoryPolicy` is the NUMA policy of the program and of every `exec`
/// (set_mempolicy before execve, which keeps it), seen in /proc/self/numa_maps
/// (runc's memorypolicy.bats).
#[test]
fn memory_policy_is_the_programs_and_every_execs() {
    for (policy, shown) in [
        (json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}), "interleave:0"),
        (json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}), "bind=static:0"),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
    ] {
        let mut b = Bundle::new();
        b.config["linux"]["memoryPolicy"] = policy;
        b.args(&["sh", "-c", NUMA_POLICY]);
        assert_eq!(b.run_ok().stdout.trim(), shown);
    }
    let mut b = Bundle::new();
    b.config["linux"]["memoryPolicy"] =
        json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]});
    b.probe(&["wait-signal"]);
    let c = b.start();
    c.wait_probe_ready();
    let out = c.exec(&[], &["sh", "-c", NUMA_POLICY]).ok().stdout.clone();
    assert_eq!(out.trim(), "prefer=relative:0");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
