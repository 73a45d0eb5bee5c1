//! Cgroups: the container's cgroup is made, joined, limited, changed, frozen,
//! read and removed on every hierarchy the host has. Every test reads the files
//! of whichever layout it runs on: v1 and hybrid here, pure v2 in the qemu guest
//! (`make test-cgroupv2`).

use spec_tests::*;
use std::fs;
use std::path::PathBuf;

/// The container's directory in the hierarchy that holds the memory controller.
fn memory_dir(id: &str) -> PathBuf {
    cgroup_dir("memory", id)
}

/// `(v1 file, v2 file)` for the running layout.
fn pick<'a>(v1: &'a str, v2: &'a str) -> &'a str {
    if cgroup_v2_only() {
        v2
    } else {
        v1
    }
}

#[test]
fn memory_and_pids_limits_are_written_and_init_joins_the_cgroup() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 42}});
    let c = b.start();
    assert_eq!(read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max")), "67108864");
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "42");
    let procs = read_cgroup("memory", &c.id, "cgroup.procs");
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
    // The memory hierarchy's root: two levels above any container's directory.
    let dir = memory_dir("x").parent().and_then(|p| p.parent()).unwrap().join(&path[1..]);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("cgroup.procs"), squatter.pid().to_string()).unwrap();
    b.config["linux"]["cgroupsPath"] = json!(path);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["container's cgroup is not empty", "already holds processes"]);
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
    create_is_refused(&b, &["/proc"]);
}

#[test]
fn proc_must_be_a_proc_mount() {
    let mut b = Bundle::new();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    let proc = mounts.iter_mut().find(|m| m["destination"] == "/proc").unwrap();
    *proc = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
    create_is_refused(&b, &["/proc must be a proc mount"]);
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
    let (file, frozen) = if cgroup_v2_only() { ("cgroup.freeze", "1") } else { ("freezer.state", "FROZEN") };
    assert_eq!(read_cgroup("freezer", &c.id, file), frozen);
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

#[test]
fn update_flags_change_the_limits_of_a_running_container() {
    let mut b = waiting();
    b.config["linux"]["resources"] = json!({"memory": {"limit": 268435456}, "pids": {"limit": 100}});
    let c = b.start();
    c.wait_probe_ready();
    let mut flags = vec!["--memory", "128m", "--memory-swap", "192m", "--pids-limit", "50"];
    flags.extend(["--cpu-quota", "50000", "--cpu-period", "100000"]);
    let weight = host_has_blkio_weight();
    if weight {
        flags.extend(["--blkio-weight", "300"]);
    } else {
        eprintln!("--blkio-weight not tried: this kernel has no blkio weight file");
    }
    c.cmd("update", &flags).ok();
    let memory = read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max"));
    assert_eq!(memory, (128u64 << 20).to_string());
    // OCI's swap is memory plus swap: v2's memory.swap.max holds the swap alone.
    let swap = read_cgroup("memory", &c.id, pick("memory.memsw.limit_in_bytes", "memory.swap.max"));
    assert_eq!(swap, pick(&(192u64 << 20).to_string(), &(64u64 << 20).to_string()));
    if weight {
        let weight = if cgroup_v2_only() {
            let dir = cgroup_dir("io", &c.id);
            let file = if dir.join("io.bfq.weight").exists() { "io.bfq.weight" } else { "io.weight" };
            read_cgroup("io", &c.id, file)
        } else {
            read_cgroup("blkio", &c.id, "blkio.bfq.weight")
        };
        assert!(
            weight.contains("300") || weight.contains("2930"),
            "blkio weight 300 (io.weight 2930): {weight}"
        );
    }
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "50");
    if cgroup_v2_only() {
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.cfs_quota_us"), "50000");
    }
    // The period alone keeps the quota (v2's cpu.max holds both), and the quota alone
    // the period.
    c.cmd("update", &["--cpu-period", "200000"]).ok();
    c.cmd("update", &["--cpu-quota", "60000"]).ok();
    if cgroup_v2_only() {
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.max"), "60000 200000");
    } else {
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.cfs_quota_us"), "60000");
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.cfs_period_us"), "200000");
    }
    // runc's own spelling of the flag.
    c.cmd("update", &["--cpu-share", "512"]).ok();
    if !cgroup_v2_only() {
        assert_eq!(read_cgroup("cpu", &c.id, "cpu.shares"), "512");
    }
    // -1 is "unlimited" as a value, not a flag (runc's update.bats gives it so); with
    // a swap limit set, runc lifts it too (v1 keeps memory below memsw).
    c.cmd("update", &["--memory", "-1"]).ok();
    let memory = read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max"));
    assert!(memory == "max" || memory.parse::<u64>().unwrap() > 1 << 60, "unlimited: {memory}");
    // On v2 too, where swap is a limit of its own (runc 1.3's update.bats).
    let swap = read_cgroup("memory", &c.id, pick("memory.memsw.limit_in_bytes", "memory.swap.max"));
    assert!(swap == "max" || swap.parse::<u64>().unwrap() > 1 << 60, "swap unlimited too: {swap}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// runc's cgroups.bats "per-device multiple iops via unified": a keyed file takes one
/// entry per write, so a value of several lines goes line by line.
#[test]
fn a_unified_value_of_several_lines_is_written_line_by_line() {
    let (major, minor) = a_block_device().expect("a block device");
    let value = format!("{major}:{minor} riops=333\n{major}:{minor} wiops=444\n");
    let b = with_resources(json!({"unified": {"io.max": value}}));
    if !host_has_controller("io") {
        // A hybrid host's io controller is v1's blkio.
        return create_is_refused(&b, &["linux.resources.unified needs the io controller of cgroup v2"]);
    }
    let c = b.start();
    let io_max = read_cgroup("io", &c.id, "io.max");
    assert!(io_max.contains("riops=333 wiops=444"), "both lines reached the device's entry: {io_max}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// The kernel takes no cpu.weight for an idle cgroup: on v2 the weight is left out
/// with runc's warning; v1 has shares and idle side by side.
#[test]
fn cpu_idle_leaves_out_the_weight_on_v2_with_a_warning() {
    let b = with_resources(json!({"cpu": {"shares": 200, "idle": 1}}));
    let (c, out) = b.try_create(&[]);
    out.ok();
    assert_eq!(read_cgroup("cpu", &c.id, "cpu.idle"), "1");
    if cgroup_v2_only() {
        assert!(out.stderr.contains("unable to apply both cpu.weight and cpu.idle"), "{}", out.stderr);
    } else {
        // v1 takes both (the shares written first, then idle).
        assert!(out.stderr.is_empty(), "{}", out.stderr);
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn update_resources_json_is_applied_and_device_rules_are_kept() {
    // As Kubernetes' CRI plugin sends it; an update must not reset device access.
    let mut b = waiting();
    b.config["linux"]["devices"] = json!([probe_dev_node()]);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"},
                                                         {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "r"}]});
    let c = b.start();
    c.wait_probe_ready();
    let file =
        write_file(&b.test_dir().join("resources.json"), r#"{"pids": {"limit": 7}, "cpu": {"shares": 512}}"#);
    c.cmd("update", &["--resources", &file.to_string_lossy()]).ok();
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "7");
    assert_eq!(read_cgroup("cpu", &c.id, pick("cpu.shares", "cpu.weight")), pick("512", "59"));
    assert_eq!(c.open_errno("r"), libc::ENXIO, "the read rule still holds");
    assert_eq!(c.open_errno("w"), libc::EPERM);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn update_resources_dash_reads_the_json_from_stdin() {
    // What Kubernetes' CRI plugin runs: `update --resources - ID`.
    let b = waiting();
    let c = b.start();
    let file = write_file(&b.test_dir().join("resources.json"), r#"{"pids": {"limit": 9}}"#);
    c.cmd_reading("update", &["--resources", "-"], &file).ok();
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "9");
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

/// `create` fails with an error naming `words`, and leaves nothing behind.
#[track_caller]
fn create_is_refused(b: &Bundle, words: &[&str]) {
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(words);
    assert_no_leftovers(b, &c.id);
}

/// Starts a waiting container with these resources.
fn with_resources(resources: Value) -> Bundle {
    let mut b = waiting();
    b.config["linux"]["resources"] = resources;
    b
}

#[test]
fn every_memory_field_is_written_where_the_layout_has_it() {
    let b = with_resources(json!({"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                                             "swappiness": 10, "kernelTCP": 16777216, "disableOOMKiller": false}}));
    let c = b.start();
    let read = |file| read_cgroup("memory", &c.id, file);
    if cgroup_v2_only() {
        assert_eq!(read("memory.max"), "67108864");
        assert_eq!(read("memory.low"), "33554432");
        // OCI's swap counts memory plus swap; memory.swap.max is the swap alone.
        assert_eq!(read("memory.swap.max"), "67108864");
        assert!(c.stderr().contains("swappiness"), "v2 has no swappiness: a warning says so\n{}", c.stderr());
    } else {
        assert_eq!(read("memory.limit_in_bytes"), "67108864");
        assert_eq!(read("memory.soft_limit_in_bytes"), "33554432");
        assert_eq!(read("memory.memsw.limit_in_bytes"), "134217728");
        assert_eq!(read("memory.swappiness"), "10");
        assert_eq!(read("memory.kmem.tcp.limit_in_bytes"), "16777216");
        assert!(read("memory.oom_control").contains("oom_kill_disable 0"));
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn every_cpu_field_is_written_where_the_layout_has_it() {
    let mut cpu = json!({"shares": 2048, "quota": 20000, "period": 50000, "burst": 10000, "idle": 0,
                         "cpus": "0", "mems": "0"});
    // A kernel without real-time group scheduling (Debian's 6.1) has no cpu.rt_* files.
    let realtime = !cgroup_v2_only() && std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_period_us").exists();
    if realtime {
        // A real-time runtime needs a budget in every ancestor; the period alone is free.
        cpu["realtimePeriod"] = json!(500000);
    }
    let b = with_resources(json!({"cpu": cpu}));
    let c = b.start();
    let read = |controller, file| read_cgroup(controller, &c.id, file);
    if cgroup_v2_only() {
        assert_eq!(read("cpu", "cpu.weight"), "174");
        assert_eq!(read("cpu", "cpu.max"), "20000 50000");
        assert_eq!(read("cpu", "cpu.max.burst"), "10000");
    } else {
        assert_eq!(read("cpu", "cpu.shares"), "2048");
        assert_eq!(read("cpu", "cpu.cfs_quota_us"), "20000");
        assert_eq!(read("cpu", "cpu.cfs_period_us"), "50000");
        assert_eq!(read("cpu", "cpu.cfs_burst_us"), "10000");
        if realtime {
            assert_eq!(read("cpu", "cpu.rt_period_us"), "500000");
        }
    }
    assert_eq!(read("cpu", "cpu.idle"), "0");
    assert_eq!(read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(read("cpuset", "cpuset.mems"), "0");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn realtime_cpu_on_cgroup_v2_is_refused_by_name() {
    if !cgroup_v2_only() {
        eprintln!("skipped here: v1 and hybrid hosts have cpu.rt_*; the pure-v2 guest runs this test");
        return;
    }
    let b = with_resources(json!({"cpu": {"realtimeRuntime": 1000}}));
    create_is_refused(&b, &["realtimeRuntime"]);
}

/// The first block device of the host (major:minor), for throttle rules.
fn a_block_device() -> Option<(u64, u64)> {
    let mut devices: Vec<_> = fs::read_dir("/sys/block").ok()?.filter_map(|e| e.ok()).collect();
    devices.sort_by_key(|e| e.file_name());
    let dev = fs::read_to_string(devices.first()?.path().join("dev")).ok()?;
    let (major, minor) = dev.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Whether a blkio cgroup on this host has a weight file. v1 weights come from the
/// BFQ I/O scheduler (CFQ's went in 5.0): a kernel built without it has none (seen
/// on a CI machine). Asked of a cgroup made for the question: the root has none.
fn host_has_blkio_weight() -> bool {
    if cgroup_v2_only() {
        return true; // io.weight (blk-iocost); the guest's kernel has it
    }
    let probe = cgroup_dir("blkio", &format!("weight-probe-{}", std::process::id()));
    fs::create_dir_all(&probe).expect("make a blkio cgroup");
    let has = ["blkio.bfq.weight", "blkio.weight"].iter().any(|f| probe.join(f).exists());
    fs::remove_dir(&probe).expect("remove the blkio cgroup");
    has
}

#[test]
fn block_io_weight_without_a_weight_file_is_refused_by_name() {
    if host_has_blkio_weight() {
        eprintln!("skipped here: this kernel has blkio weights (block_io_weight_and_throttles_are_written uses them)");
        return;
    }
    // runc fails too; the error names the field and the files the kernel lacks.
    let b = with_resources(json!({"blockIO": {"weight": 200}}));
    create_is_refused(&b, &["blockIO.weight", "blkio.bfq.weight or blkio.weight"]);
}

#[test]
fn block_io_weight_and_throttles_are_written() {
    let Some((major, minor)) = a_block_device() else {
        eprintln!("skipped: this machine has no block device to throttle (the guest loads none)");
        return;
    };
    let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
    let mut block_io = json!({"throttleReadBpsDevice": dev(1048576), "throttleWriteIOPSDevice": dev(100)});
    let weight = host_has_blkio_weight();
    if weight {
        block_io["weight"] = json!(200);
    } else {
        eprintln!("blkio weight not written: this kernel has no weight file (see the test that refuses it)");
    }
    let b = with_resources(json!({ "blockIO": block_io }));
    let c = b.start();
    let read = |file| read_cgroup(pick("blkio", "io"), &c.id, file);
    let key = format!("{major}:{minor}");
    if cgroup_v2_only() {
        let io_max = read("io.max");
        assert!(io_max.contains(&format!("{key} rbps=1048576")) && io_max.contains("wiops=100"), "{io_max}");
    } else {
        if weight {
            assert!(read("blkio.bfq.weight").contains("200"));
        }
        assert_eq!(read("blkio.throttle.read_bps_device"), format!("{key} 1048576"));
        assert_eq!(read("blkio.throttle.write_iops_device"), format!("{key} 100"));
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn hugepage_limits_go_to_the_hierarchy_that_holds_hugetlb() {
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        eprintln!("skipped: this kernel has no 2MB huge pages");
        return;
    }
    // On this hybrid host hugetlb sits in the cgroup2 tree, the rest in v1.
    let b = with_resources(json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}));
    if !host_has_controller("hugetlb") {
        // Seen on a CI machine. A hybrid host gets here when a v1 hierarchy
        // mounted outside this mount namespace binds hugetlb.
        eprintln!("hugetlb limits not written: no cgroup hierarchy here holds hugetlb; checking create refuses them");
        create_is_refused(&b, &["hugepageLimits", "hugetlb"]);
        return;
    }
    let c = b.start();
    let dir = cgroup_dir("hugetlb", &c.id);
    let v2 = dir.join("hugetlb.2MB.max").exists();
    assert_eq!(
        read_cgroup("hugetlb", &c.id, if v2 { "hugetlb.2MB.max" } else { "hugetlb.2MB.limit_in_bytes" }),
        "4194304"
    );
    if v2 && dir.join("hugetlb.2MB.rsvd.max").exists() {
        assert_eq!(read_cgroup("hugetlb", &c.id, "hugetlb.2MB.rsvd.max"), "4194304");
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
    if v2 && !cgroup_v2_only() {
        // The runtime enabled hugetlb in the hybrid tree for this container and
        // leaves it on (other containers may use it); no other test does, so give
        // it back to v1 users such as crun's hugetlb mount.
        for dir in ["/sys/fs/cgroup/unified/anchor-spec-tests", "/sys/fs/cgroup/unified"] {
            let _ = fs::write(format!("{dir}/cgroup.subtree_control"), "-hugetlb");
        }
    }
}

#[test]
fn unified_keys_are_written_on_v2_and_refused_by_name_where_v2_lacks_the_controller() {
    let b = with_resources(json!({"unified": {"memory.high": "50331648", "pids.max": "33"}}));
    if cgroup_v2_only() {
        let c = b.start();
        assert_eq!(read_cgroup("memory", &c.id, "memory.high"), "50331648");
        assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "33");
        c.delete(&["--force"]).ok();
        assert_no_leftovers(&b, &c.id);
    } else {
        // memory and pids are v1 controllers here: no cgroup2 tree can take the keys.
        // runc's first words, which its cgroups.bats matches.
        create_is_refused(&b, &["invalid configuration", "unified", "memory", "cgroup v2"]);
    }
}

#[test]
fn a_field_no_hierarchy_can_take_is_refused_or_warned_about_by_name() {
    // net_cls is never a v2 controller (a warning, as runc gives) and is not
    // mounted on this v1 host (an error: the limit could not be enforced).
    let b = with_resources(json!({"network": {"classID": 1048577}}));
    if cgroup_v2_only() || host_has_controller("net_cls") {
        let c = b.start();
        if cgroup_v2_only() {
            assert!(c.stderr().contains("network.classID"), "{}", c.stderr());
        } else {
            assert_eq!(read_cgroup("net_cls", &c.id, "net_cls.classid"), "1048577");
        }
        c.delete(&["--force"]).ok();
        assert_no_leftovers(&b, &c.id);
    } else {
        create_is_refused(&b, &["network.classID", "net_cls"]);
    }
}

#[test]
fn a_value_the_kernel_refuses_names_the_file_and_leaves_nothing() {
    let b = with_resources(json!({"cpu": {"cpus": "4000"}}));
    create_is_refused(&b, &["cpuset.cpus", "4000"]);
}

#[test]
fn an_update_the_kernel_refuses_puts_the_old_limits_back() {
    let b = with_resources(json!({"pids": {"limit": 100}, "memory": {"limit": 268435456}}));
    let c = b.start();
    c.wait_probe_ready();
    let file = write_file(
        &b.test_dir().join("resources.json"),
        r#"{"pids": {"limit": 10}, "memory": {"limit": 134217728}, "cpu": {"cpus": "4000"}}"#,
    );
    c.cmd("update", &["--resources", &file.to_string_lossy()]).fails_mentioning(&["cpuset.cpus", "4000"]);
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "100");
    assert_eq!(read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max")), "268435456");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn check_before_update_refuses_a_limit_below_current_usage() {
    let b = with_resources(json!({"memory": {"limit": 268435456}}));
    let c = b.start();
    c.wait_probe_ready();
    // Far below what any running process uses.
    let update = r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#;
    let file = write_file(&b.test_dir().join("resources.json"), update);
    // runc's words, which its update.bats matches.
    c.cmd("update", &["--resources", &file.to_string_lossy()])
        .fails_mentioning(&["rejecting memory limit 4096 <= usage"]);
    let update = r#"{"memory": {"limit": 4096, "swap": 8192, "checkBeforeUpdate": true}}"#;
    let file = write_file(&b.test_dir().join("resources.json"), update);
    c.cmd("update", &["--resources", &file.to_string_lossy()])
        .fails_mentioning(&["rejecting memory+swap limit 8192 <= usage"]);
    assert_eq!(read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max")), "268435456");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn systemd_cgroups_path_is_refused_without_the_systemd_cgroup_flag() {
    let mut b = Bundle::new();
    b.config["linux"]["cgroupsPath"] = json!("system.slice:anchor:abc");
    create_is_refused(&b, &["--systemd-cgroup", "slice:prefix:name"]);
}

#[test]
fn device_rules_are_enforced_inside_the_container() {
    let mut b = waiting();
    b.config["linux"]["devices"] = json!([probe_dev_node()]);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "r"}]});
    let c = b.start();
    c.wait_probe_ready();
    assert_eq!(c.open_errno("r"), libc::ENXIO, "allowed: the driver answers");
    assert_eq!(c.open_errno("w"), libc::EPERM, "denied: the device cgroup answers");
    assert_eq!(c.open_errno("rw"), libc::EPERM, "rw needs both bits");
    let null = c.exec(&[], &["/probe", "open", "/dev/null", "rw"]).ok().json();
    assert_eq!(null["ok"], true, "a default device: {null}");
    // An update that brings a device list replaces the rules whole.
    let file = write_file(
        &b.test_dir().join("resources.json"),
        r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "w"}]}"#,
    );
    c.cmd("update", &["--resources", &file.to_string_lossy()]).ok();
    assert_eq!(c.open_errno("w"), libc::ENXIO);
    assert_eq!(c.open_errno("r"), libc::EPERM, "the old read rule is gone");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn device_access_letters_beyond_rwm_are_ignored_as_runc_does() {
    // runc's update.bats sends access "rwa"; runc's Permissions.toSet ignores the a.
    let mut b = waiting();
    b.config["linux"]["devices"] = json!([probe_dev_node()]);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "rwa"}]});
    let c = b.start();
    c.wait_probe_ready();
    assert_eq!(c.open_errno("rw"), libc::ENXIO, "r and w allowed: the driver answers");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn devices_without_an_allow_rule_cannot_be_opened() {
    let mut b = Bundle::new();
    b.config["linux"]["devices"] = json!([probe_dev_node()]);
    let report = b.run_probe(&["open", "/dev/probe-dev", "r"]);
    assert_eq!(report["errno"], libc::EPERM, "{report}");
}

#[test]
fn events_stats_reports_usage_and_limits_in_runcs_format() {
    let b = with_resources(json!({"memory": {"limit": 67108864}, "pids": {"limit": 50}}));
    let c = b.start();
    c.wait_probe_ready();
    let out = c.cmd("events", &["--stats"]);
    // runc's key order, which its events.bats matches as text.
    let start = format!(r#"{{"type":"stats","id":"{}","data":{{"#, c.id);
    assert!(out.ok().stdout.starts_with(&start), "{out:#?}");
    let e = out.json();
    assert_eq!(e["type"], "stats");
    assert_eq!(e["id"], c.id.as_str());
    let data = &e["data"];
    assert_eq!(data["memory"]["usage"]["limit"], 67108864);
    assert!(data["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{data}");
    assert_eq!(data["pids"]["limit"], 50);
    assert!(data["pids"]["current"].as_u64().unwrap() >= 1, "{data}");
    assert!(data["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{data}");
    assert!(data["blkio"].is_object() && data["hugetlb"].is_object(), "{data}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn an_oom_kill_is_reported_by_events_and_by_the_exit_status() {
    // 32 MiB with no swap on top (OCI's swap counts memory plus swap).
    let b = with_resources(json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    let c = b.start();
    c.wait_probe_ready();
    let events = b.spawn_runtime(&["events", "--interval", "100ms", &c.id]);
    // events reads the OOM count it starts from before it watches.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let alloc = c.exec(&[], &["/probe", "alloc", "256"]);
    assert_eq!(alloc.code, Some(137), "the exec'd process is OOM-killed: 128 + SIGKILL\n{alloc:?}");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    let out = events.wait();
    out.ok();
    assert!(
        out.stdout.lines().any(|l| l == format!(r#"{{"type":"oom","id":"{}"}}"#, c.id)),
        "no oom event in:\n{}",
        out.stdout
    );
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn run_of_an_oom_killed_container_exits_137() {
    let b = {
        let mut b = with_resources(json!({"memory": {"limit": 33554432, "swap": 33554432}}));
        b.probe(&["alloc", "256"]);
        b
    };
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(137), "killed by SIGKILL: 128 + 9\n{out:?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn init_starts_inside_its_cgroup_on_cgroup_v2() {
    if !cgroup_v2_only() {
        eprintln!(
            "skipped here: clone3 into a cgroup needs one cgroup2 tree; the pure-v2 guest runs this test"
        );
        return;
    }
    let b = waiting();
    let id = b.new_id();
    b.write_config(&id);
    let path = b.path_str();
    let root = b.state_root().to_string_lossy().into_owned();
    let out = b.spawn_runtime_with(&["--root", &root, "--debug"], &["create", "--bundle", &path, &id]).wait();
    out.ok();
    assert!(out.stderr.contains("CLONE_INTO_CGROUP"), "{}", out.stderr);
    b.runtime(&["delete", "--force", &id]).ok();
    assert_no_leftovers(&b, &id);
}

/// runc's cgroups.bats "init process in non-root cgroup": an exec joins the
/// container's cgroup, unless the container made it a parent with a domain controller
/// on, which may hold no process (EBUSY): then the cgroup the container moved init to.
#[test]
fn exec_joins_inits_cgroup_where_the_containers_own_may_hold_no_process() {
    if !cgroup_v2_only() {
        eprintln!("skipped here: no domain controller is left to the hybrid host's cgroup2 tree; the pure-v2 guest runs this test");
        return;
    }
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    let dir = cgroup_dir("memory", &c.id);
    let exec_cgroup = || c.exec(&[], &["cat", "/proc/self/cgroup"]).ok().stdout.trim().to_string();
    fs::create_dir(dir.join("below")).unwrap();
    fs::write(dir.join("below/cgroup.procs"), c.pid().to_string()).unwrap();
    let own = exec_cgroup();
    assert!(!own.ends_with("/below"), "no controller on: the container's own cgroup: {own}");
    fs::write(dir.join("cgroup.subtree_control"), "+memory").unwrap();
    assert!(exec_cgroup().ends_with("/below"), "init's, where the container's own can hold no process");
    // runc: an explicit --cgroup, even "/", is that cgroup or an error.
    c.exec(&["--cgroup", "/"], &["true"]).fails_mentioning(&["cgroup.procs: device or resource busy"]);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn the_container_reads_its_own_limits_through_its_cgroup_namespace() {
    // runc spec's config mounts a cgroup filesystem at /sys/fs/cgroup; with a cgroup
    // namespace its root is the container's own cgroup.
    let mut b = with_resources(json!({"memory": {"limit": 67108864}, "pids": {"limit": 77}}));
    let (memory, pids) = if cgroup_v2_only() {
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max")
    } else {
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/pids/pids.max")
    };
    let reports = b.run_probes(&[&["read", memory], &["read", pids]]);
    assert_eq!(reports[0]["content"], "67108864\n", "{reports:?}");
    assert_eq!(reports[1]["content"], "77\n", "{reports:?}");
}

#[test]
fn rdma_limits_reach_the_device_or_are_refused_by_name() {
    // The Debian guest makes a soft-RoCE device (rdma_rxe on a dummy interface) and
    // sets ANCHOR_EXPECT_RDMA; this host has no rdma controller at all.
    let device = std::fs::read_dir("/sys/class/infiniband")
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|_| host_has_controller("rdma"));
    if std::env::var_os("ANCHOR_EXPECT_RDMA").is_some() {
        assert!(
            device.is_some(),
            "ANCHOR_EXPECT_RDMA is set but there is no RDMA device with the rdma controller"
        );
    }
    let limits = json!({"hcaHandles": 3, "hcaObjects": 100});
    let Some(device) = device else {
        // The v2 kernel refuses an unknown device; a host without the controller says so.
        let b = with_resources(json!({"rdma": {"mlx5_0": limits}}));
        return create_is_refused(&b, &["rdma"]);
    };
    let b = with_resources(json!({"rdma": {&device: limits}}));
    let c = b.start();
    c.wait_probe_ready();
    assert_eq!(read_cgroup("rdma", &c.id, "rdma.max"), format!("{device} hca_handle=3 hca_object=100"));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
    // A device the kernel does not have: refused naming the file and the value.
    let b = with_resources(json!({"rdma": {"nosuch0": limits}}));
    create_is_refused(&b, &["rdma.max", "nosuch0 hca_handle=3 hca_object=100", "no such device"]);
}

/// What Docker (20.10) puts in every config and every `update` for the fields its user
/// did not set: zeros. runc reads 0 as "not set" for the fields it keeps as plain
/// numbers; writing them failed every `docker run` (a blkio weight of 0 is out of
/// range) or would lift limits. Here the container starts and an update with the same
/// block changes nothing.
#[test]
fn docker_zero_values_mean_unset_at_create_and_update() {
    let zeros = json!({
        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0, "cpus": "", "mems": ""},
        "pids": {"limit": 0},
        "blockIO": {"weight": 0}
    });
    let b = with_resources(zeros.clone());
    let c = b.start();
    c.wait_probe_ready();
    let pids = || read_cgroup("pids", &c.id, "pids.max");
    let cpu = || read_cgroup("cpu", &c.id, pick("cpu.shares", "cpu.weight"));
    let memory = || read_cgroup("memory", &c.id, pick("memory.limit_in_bytes", "memory.max"));
    let before = (pids(), cpu(), memory());
    assert_eq!(before.0, "max", "no pids limit");
    assert_eq!(before.1, pick("1024", "100"), "the default CPU weight");
    let update = write_file(&b.test_dir().join("host/zeros.json"), &zeros.to_string());
    c.cmd_reading("update", &["--resources", "-"], &update).ok();
    assert_eq!((pids(), cpu(), memory()), before, "the update changed limits");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// runc's `exec --cgroup [CONTROLLER[,...]:]PATH`: the process joins a sub-cgroup of
/// the container's, for the controllers named (all without); PATH may not leave the
/// container's cgroup (exec.bats "runc exec --cgroup sub-cgroups").
#[test]
fn exec_cgroup_joins_a_sub_cgroup_of_the_containers() {
    let b = waiting();
    let c = b.start();
    c.wait_probe_ready();
    c.exec(&["--cgroup", ".."], &["true"]).fails_mentioning(&[".. is not a sub cgroup path"]);
    c.exec(&["--cgroup", "whaaat:/"], &["true"]).fails_mentioning(&["unknown controller"]);
    c.exec(&["--cgroup", "nonexistent"], &["true"])
        // Go's words right after the step, as runc prints them and its test matches.
        .fails_mentioning(&["adding pid", "/nonexistent/cgroup.procs: no such file or directory"]);
    let sub = memory_dir(&c.id).join("sub");
    fs::create_dir(&sub).unwrap();
    let out = c.exec(&["--cgroup", "memory:sub"], &["cat", "/proc/self/cgroup"]);
    let lines = out.ok().stdout.clone();
    let memory_line = lines
        .lines()
        .find(|l| if cgroup_v2_only() { l.starts_with("0::") } else { l.split(':').nth(1) == Some("memory") })
        .unwrap_or_default();
    assert!(memory_line.ends_with("/sub"), "{lines}");
    if !cgroup_v2_only() {
        let pids_line = lines.lines().find(|l| l.split(':').nth(1) == Some("pids")).unwrap_or_default();
        assert!(!pids_line.ends_with("/sub"), "the other controllers stay in the container's: {lines}");
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
