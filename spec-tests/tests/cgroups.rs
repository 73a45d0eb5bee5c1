//! Basic cgroup placement: the container's cgroup is made, joined, limited and
//! removed on every hierarchy the host has (v1 and the hybrid cgroup2 tree here).

use spec_tests::*;
use std::fs;
use std::path::PathBuf;

/// The container's directory in the v1 memory hierarchy.
fn memory_dir(id: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup/memory/anchor-spec-tests").join(id)
}

#[test]
fn memory_and_pids_limits_are_written_and_init_joins_the_cgroup() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
    let c = b.start();
    let dir = memory_dir(&c.id);
    assert_eq!(fs::read_to_string(dir.join("memory.limit_in_bytes")).unwrap().trim(), "67108864");
    let pids_dir = PathBuf::from("/sys/fs/cgroup/pids/anchor-spec-tests").join(&c.id);
    assert_eq!(fs::read_to_string(pids_dir.join("pids.max")).unwrap().trim(), "42");
    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l.trim() == c.pid().to_string()), "init not in {procs}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn delete_removes_sub_cgroups_the_container_made() {
    // A container running systemd or its own containers makes child cgroups.
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    let c = b.start();
    let child = memory_dir(&c.id).join("nested");
    fs::create_dir(&child).unwrap();
    fs::write(child.join("cgroup.procs"), c.pid().to_string()).unwrap();
    c.delete(&["--force"]).ok();
    assert!(!child.exists() && !memory_dir(&c.id).exists());
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn cgroup_that_already_holds_processes_is_refused() {
    // Adopting it would have delete kill processes that are not the container's.
    let mut b = Bundle::new();
    let squatter = HostProcess::spawn("sleep", &["30"]);
    let path = "/anchor-spec-tests-occupied";
    let dir = PathBuf::from("/sys/fs/cgroup/memory").join(&path[1..]);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("cgroup.procs"), squatter.pid().to_string()).unwrap();
    b.config["linux"]["cgroupsPath"] = json!(path);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["already holds processes"]);
    assert!(process_alive(squatter.pid()), "the runtime killed a process it did not own");
    assert!(b.runtime(&["state", &c.id]).code != Some(0));
    drop(squatter);
    wait_until("the squatter's cgroup to empty", || {
        fs::read_to_string(dir.join("cgroup.procs")).unwrap().is_empty()
    });
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn mount_covering_part_of_proc_is_refused() {
    // The runtime masks paths through the container's /proc: nothing may hide it.
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}));
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["/proc"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn proc_must_be_a_proc_mount() {
    let mut b = Bundle::new();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    let proc = mounts.iter_mut().find(|m| m["destination"] == "/proc").unwrap();
    *proc = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["/proc must be a proc mount"]);
    assert_no_leftovers(&b, &c.id);
}

/// A running container whose init waits for a signal.
fn waiting() -> Bundle {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b
}

#[test]
fn pause_freezes_and_resume_thaws_with_state_reporting_paused() {
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    c.cmd("pause", &[]).ok();
    assert_eq!(c.status(), "paused");
    let freezer = PathBuf::from("/sys/fs/cgroup/freezer/anchor-spec-tests").join(&c.id).join("freezer.state");
    assert_eq!(fs::read_to_string(&freezer).unwrap().trim(), "FROZEN");
    // A frozen process does not run its signal handler until thawed.
    c.kill("TERM").ok();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(c.status(), "paused");
    c.cmd("resume", &[]).ok();
    c.wait_status("stopped");
    assert_eq!(c.output_json(), json!({"signal": libc::SIGTERM}));
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn pause_and_resume_in_the_wrong_state_are_errors() {
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    c.cmd("resume", &[]).fails_mentioning(&["running"]);
    c.cmd("pause", &[]).ok();
    c.cmd("pause", &[]).fails_mentioning(&["paused"]);
    c.delete(&[]).fails_mentioning(&["paused"]);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn ps_json_lists_the_host_pids_in_the_containers_cgroup() {
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    let pids = c.cmd("ps", &["--format", "json"]).ok().json();
    assert_eq!(pids, json!([c.pid()]));
    let table = c.cmd("ps", &[]).ok().stdout.clone();
    assert!(table.starts_with("UID") && table.contains(&format!(" {} ", c.pid())), "{table}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

fn read_limit(controller: &str, id: &str, file: &str) -> String {
    let path = PathBuf::from("/sys/fs/cgroup").join(controller).join("anchor-spec-tests").join(id).join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).trim().to_string()
}

#[test]
fn update_flags_change_the_limits_of_a_running_container() {
    let mut b = waiting();
    b.config["linux"]["resources"] = json!({"memory": {"limit": 268435456}, "pids": {"limit": 100}});
    let c = b.start();
    c.wait_probe_ready();
    c.cmd(
        "update",
        &["--memory", "128m", "--pids-limit", "50", "--cpu-quota", "50000", "--cpu-period", "100000"],
    )
    .ok();
    assert_eq!(read_limit("memory", &c.id, "memory.limit_in_bytes"), (128u64 << 20).to_string());
    assert_eq!(read_limit("pids", &c.id, "pids.max"), "50");
    assert_eq!(read_limit("cpu", &c.id, "cpu.cfs_quota_us"), "50000");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn update_resources_json_is_applied_and_device_rules_are_kept() {
    // As Kubernetes' CRI plugin sends it; an update must not reset device access.
    let mut b = waiting();
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"},
                                                         {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]});
    let c = b.start();
    c.wait_probe_ready();
    let devices_before = read_limit("devices", &c.id, "devices.list");
    let file =
        write_file(&b.test_dir().join("resources.json"), r#"{"pids": {"limit": 7}, "cpu": {"shares": 512}}"#);
    c.cmd("update", &["--resources", &file.to_string_lossy()]).ok();
    assert_eq!(read_limit("pids", &c.id, "pids.max"), "7");
    assert_eq!(read_limit("cpu", &c.id, "cpu.shares"), "512");
    assert_eq!(read_limit("devices", &c.id, "devices.list"), devices_before);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn update_of_a_stopped_container_or_a_bad_size_is_an_error() {
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    c.cmd("update", &["--memory", "12x"]).fails_mentioning(&["12x"]);
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.cmd("update", &["--pids-limit", "5"]).fails_mentioning(&["stopped"]);
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}
