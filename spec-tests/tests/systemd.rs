//! The systemd cgroup driver (`--systemd-cgroup`): podman's default wherever systemd
//! is PID 1, and Kubernetes nodes' (containerd with `SystemdCgroup = true`).
//!
//! Where systemd runs (`make test-systemd` boots a Debian guest with it, unified and
//! hybrid), each test checks the scope from systemd's side (`systemctl show`) and from
//! the kernel's (`/proc/PID/cgroup`, the cgroup files). The host has no systemd: there
//! the tests that need one check the clear error instead. `ANCHOR_EXPECT_SYSTEMD=1`
//! (set by the guest) makes every test first check that systemd really runs.

use spec_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn systemd_runs() -> bool {
    let runs = Path::new("/run/systemd/system").is_dir();
    if std::env::var_os("ANCHOR_EXPECT_SYSTEMD").is_some() {
        assert!(runs, "ANCHOR_EXPECT_SYSTEMD is set but systemd is not PID 1 here");
    }
    runs
}

/// A bundle driven with `--systemd-cgroup`; its cgroupsPath is empty (the default,
/// `system.slice:anchor:<id>`) unless the test sets one.
fn systemd_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.global_flags.push("--systemd-cgroup".into());
    b.config["linux"]["cgroupsPath"] = json!("");
    b
}

/// systemd's command-line tools, each given a minute: one that hangs fails its test
/// with the command named instead of holding the guest until run.sh's timeout.
fn systemd_tool(tool: &str, args: &[&str]) -> std::process::Output {
    let out = Command::new("timeout").arg("60").arg(tool).args(args).output().expect("run timeout");
    assert_ne!(out.status.code(), Some(124), "{tool} {args:?} did not finish within 60 s");
    out
}

/// `systemctl show UNIT -p NAME` for each name, as NAME=VALUE lines.
fn show(unit: &str, names: &[&str]) -> std::collections::HashMap<String, String> {
    let mut args = vec!["show", unit];
    for n in names {
        args.extend(["-p", n]);
    }
    let out = systemd_tool("systemctl", &args);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every value `systemctl show` prints for a list property (one line per entry).
fn show_list(unit: &str, name: &str) -> Vec<String> {
    let out = systemd_tool("systemctl", &["show", unit, "-p", name]);
    let prefix = format!("{name}=");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(String::from)
        .collect()
}

/// `systemctl daemon-reload`: systemd reloads its units and applies each unit's
/// cgroup settings again, device list included.
fn daemon_reload() {
    let out = systemd_tool("systemctl", &["daemon-reload"]);
    assert!(out.status.success(), "systemctl daemon-reload: {out:?}");
}

fn unit_gone(unit: &str) -> bool {
    let state = show(unit, &["LoadState", "ActiveState"]);
    state["LoadState"] == "not-found" || state["ActiveState"] == "inactive"
}

fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The scope's directory in the memory controller's hierarchy.
fn memory_dir(control_group: &str) -> PathBuf {
    let base =
        if pure_v2() { PathBuf::from("/sys/fs/cgroup") } else { PathBuf::from("/sys/fs/cgroup/memory") };
    base.join(control_group.trim_start_matches('/'))
}

fn waiting(b: &mut Bundle) {
    b.probe(&["wait-signal"]);
}

#[test]
fn a_container_runs_in_a_transient_scope_with_delegate_and_its_limits() {
    let systemd = systemd_runs();
    let mut b = systemd_bundle();
    waiting(&mut b);
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 268435456},
        "pids": {"limit": 100},
        "cpu": {"quota": 50000, "period": 100000}
    });
    if !systemd {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["systemd cgroup driver: cannot connect to /run/dbus/system_bus_socket"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert_no_leftovers(&b, &c.id);
        return;
    }
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("anchor-{}.scope", c.id);
    let memory = if pure_v2() { "MemoryMax" } else { "MemoryLimit" };
    let p = show(
        &unit,
        &["Delegate", memory, "TasksMax", "CPUQuotaPerSecUSec", "Slice", "ControlGroup", "ActiveState"],
    );
    assert_eq!(p["ActiveState"], "active", "{p:?}");
    assert_eq!(p["Delegate"], "yes", "{p:?}");
    assert_eq!(p["Slice"], "system.slice", "{p:?}");
    assert_eq!(p[memory], "268435456", "{p:?}");
    assert_eq!(p["TasksMax"], "100", "{p:?}");
    assert_eq!(p["CPUQuotaPerSecUSec"], "500ms", "{p:?}");
    assert_eq!(p["ControlGroup"], format!("/system.slice/{unit}"), "{p:?}");
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert!(cgroup.contains(&format!("/system.slice/{unit}")), "init is in the scope: {cgroup}");
    let file = if pure_v2() { "memory.max" } else { "memory.limit_in_bytes" };
    let limit = std::fs::read_to_string(memory_dir(&p["ControlGroup"]).join(file)).unwrap();
    assert_eq!(limit.trim(), "268435456");
    c.delete(&["--force"]).ok();
    wait_until("the scope to be gone", || unit_gone(&unit));
    assert!(!memory_dir(&p["ControlGroup"]).exists(), "the scope's cgroup is removed");
    assert_no_leftovers(&b, &c.id);
}

/// runc's "resources.unified only": raw cgroup2 keys become the scope's properties too
/// (else systemd would put its own values back whenever it applies the unit again).
#[test]
fn unified_keys_become_the_scopes_properties() {
    let systemd = systemd_runs();
    let mut b = systemd_bundle();
    waiting(&mut b);
    b.config["linux"]["resources"] = json!({"unified": {
        "memory.min": "131072", "memory.low": "524288", "memory.high": "20971520",
        "memory.max": "41943040", "pids.max": "99", "cpu.max": "10000 100000", "cpu.weight": "42"
    }});
    if !systemd {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["systemd cgroup driver: cannot connect"]);
        return assert_no_leftovers(&b, &c.id);
    }
    if !pure_v2() {
        // The hybrid layout's cgroup2 tree has none of their controllers.
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["linux.resources.unified needs the"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        return assert_no_leftovers(&b, &c.id);
    }
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("anchor-{}.scope", c.id);
    let names =
        ["MemoryMin", "MemoryLow", "MemoryHigh", "MemoryMax", "TasksMax", "CPUQuotaPerSecUSec", "CPUWeight"];
    let p = show(&unit, &names);
    let want = ["131072", "524288", "20971520", "41943040", "99", "100ms", "42"];
    for (name, value) in names.iter().zip(want) {
        assert_eq!(p[*name], value, "{name}: {p:?}");
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn update_changes_the_units_properties_and_the_files() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let mut b = systemd_bundle();
    waiting(&mut b);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 268435456}, "pids": {"limit": 100}});
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("anchor-{}.scope", c.id);
    c.cmd("update", &["--memory", "134217728", "--pids-limit", "42"]).ok();
    let memory = if pure_v2() { "MemoryMax" } else { "MemoryLimit" };
    let p = show(&unit, &[memory, "TasksMax", "ControlGroup"]);
    assert_eq!(p[memory], "134217728", "{p:?}");
    assert_eq!(p["TasksMax"], "42", "{p:?}");
    let file = if pure_v2() { "memory.max" } else { "memory.limit_in_bytes" };
    let limit = std::fs::read_to_string(memory_dir(&p["ControlGroup"]).join(file)).unwrap();
    assert_eq!(limit.trim(), "134217728");
    // A quota systemd keeps rounded up to whole percents of a second: the file gets
    // the same, as runc writes it (its update.bats: 500000 per 900000 is 504000).
    c.cmd("update", &["--cpu-quota", "500000", "--cpu-period", "900000"]).ok();
    assert_eq!(show(&unit, &["CPUQuotaPerSecUSec"])["CPUQuotaPerSecUSec"], "560ms");
    let cgroup = p["ControlGroup"].trim_start_matches('/');
    if pure_v2() {
        let cpu_max =
            std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(cgroup).join("cpu.max")).unwrap();
        assert_eq!(cpu_max.trim(), "504000 900000");
        // runc's order: the properties, then the files. systemd writes cpu.max with
        // its own default period under an unlimited quota; the file gets the config's.
        c.cmd("update", &["--cpu-quota", "-1", "--cpu-period", "50000"]).ok();
        let cpu_max =
            std::fs::read_to_string(Path::new("/sys/fs/cgroup").join(cgroup).join("cpu.max")).unwrap();
        assert_eq!(cpu_max.trim(), "max 50000");
    } else {
        let quota =
            std::fs::read_to_string(Path::new("/sys/fs/cgroup/cpu").join(cgroup).join("cpu.cfs_quota_us"));
        assert_eq!(quota.unwrap().trim(), "504000");
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// Kubernetes' pod slices: the slice of a pod's first container does not exist yet.
#[test]
fn a_nested_slice_that_does_not_exist_yet_is_made() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let mut b = systemd_bundle();
    waiting(&mut b);
    let pod = format!("pod{}", std::process::id());
    b.config["linux"]["cgroupsPath"] = json!(format!("anchortest-{pod}.slice:cri-containerd:{pod}"));
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("cri-containerd-{pod}.scope");
    let p = show(&unit, &["ControlGroup", "Slice"]);
    assert_eq!(p["Slice"], format!("anchortest-{pod}.slice"), "{p:?}");
    assert_eq!(p["ControlGroup"], format!("/anchortest.slice/anchortest-{pod}.slice/{unit}"), "{p:?}");
    let cgroup = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert!(cgroup.contains(&p["ControlGroup"]), "{cgroup}");
    c.delete(&["--force"]).ok();
    wait_until("the scope to be gone", || unit_gone(&unit));
}

#[test]
fn device_rules_hold_after_systemd_applies_the_unit_again() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let mut b = systemd_bundle();
    waiting(&mut b);
    b.config["linux"]["devices"] = json!([probe_dev_node()]);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "r"},
        {"allow": true, "type": "b", "major": 7, "access": "rw"}]});
    let c = b.start();
    c.wait_probe_ready();
    let check = |when: &str| {
        assert_eq!(c.open_errno("r"), libc::ENXIO, "{when}: the read rule allows reading");
        assert_eq!(c.open_errno("w"), libc::EPERM, "{when}: writing is denied");
        let null = c.exec(&[], &["/probe", "open", "/dev/null", "rw"]).ok().json();
        assert_eq!(null["ok"], true, "{when}: a default device: {null}");
    };
    check("as created");
    // Without the unit's own device list, systemd on a v1 or hybrid host writes
    // "allow all" to the scope's devices cgroup here.
    daemon_reload();
    check("after a daemon-reload");
    let unit = format!("anchor-{}.scope", c.id);
    assert_eq!(show(&unit, &["DevicePolicy"])["DevicePolicy"], "strict");
    let allowed = show_list(&unit, "DeviceAllow");
    // The config's rules and the defaults, in systemd's words.
    for entry in
        ["/dev/char/1:200 r", "block-7 rw", "char-* m", "block-* m", "/dev/char/1:3 rw", "char-136 rw"]
    {
        assert!(allowed.iter().any(|a| a == entry), "{entry} in {allowed:?}");
    }
    // An update with a list replaces the unit's list too, and that survives a reload.
    let file = write_file(
        &b.test_dir().join("resources.json"),
        r#"{"devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 200, "access": "w"}]}"#,
    );
    c.cmd("update", &["--resources", &file.to_string_lossy()]).ok();
    let allowed = show_list(&unit, "DeviceAllow");
    assert!(allowed.iter().any(|a| a == "/dev/char/1:200 w"), "{allowed:?}");
    assert!(!allowed.iter().any(|a| a.starts_with("block-7")), "the old list is gone: {allowed:?}");
    daemon_reload();
    assert_eq!(c.open_errno("w"), libc::ENXIO, "after the update and a reload, writing is allowed");
    assert_eq!(c.open_errno("r"), libc::EPERM, "and reading denied");
    c.delete(&["--force"]).ok();
    wait_until("the scope to be gone", || unit_gone(&unit));
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn pause_resume_ps_and_kill_all_work_on_the_scope() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let mut b = systemd_bundle();
    waiting(&mut b);
    let c = b.start();
    c.wait_probe_ready();
    c.cmd("pause", &[]).ok();
    assert_eq!(c.status(), "paused");
    c.cmd("resume", &[]).ok();
    assert_eq!(c.status(), "running");
    let pids = c.cmd("ps", &["--format", "json"]).ok().json();
    assert!(pids.as_array().unwrap().contains(&json!(c.pid())), "{pids}");
    c.kill_with(&["--all"], Some("KILL")).ok();
    c.wait_status("stopped");
    c.delete(&[]).ok();
    wait_until("the scope to be gone", || unit_gone(&format!("anchor-{}.scope", c.id)));
    assert_no_leftovers(&b, &c.id);
}

/// A create killed at any instant, the scope made or not yet: `delete --force` leaves
/// no unit, no cgroup and no process.
#[test]
fn a_create_killed_at_any_instant_leaves_nothing_after_delete_force() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    for delay_ms in [0u64, 10, 30, 60, 120, 250, 500] {
        let mut b = systemd_bundle();
        // The hook holds create after the scope is made, so the later kills hit then.
        b.hook("createRuntime", "sleep 2");
        let (c, running) = {
            let id = b.new_id();
            b.write_config(&id);
            let path = b.path_str();
            let running = b.spawn_runtime(&["create", "--bundle", path.as_str(), id.as_str()]);
            (id, running)
        };
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        running.signal(libc::SIGKILL);
        running.wait();
        let root = b.state_root().to_string_lossy().into_owned();
        let out =
            b.spawn_runtime_with(&["--root", &root, "--systemd-cgroup"], &["delete", "--force", &c]).wait();
        assert!(
            out.success() || out.stderr.contains("does not exist"),
            "delete --force after {delay_ms} ms: {out:#?}"
        );
        let unit = format!("anchor-{c}.scope");
        wait_until(&format!("{unit} gone after a kill at {delay_ms} ms"), || unit_gone(&unit));
        assert_no_leftovers(&b, &c);
    }
}

#[test]
fn a_scope_name_already_in_use_is_refused_and_the_first_container_kept() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let name = format!("shared{}", std::process::id());
    let mut first = systemd_bundle();
    waiting(&mut first);
    first.config["linux"]["cgroupsPath"] = json!(format!("system.slice:anchortest:{name}"));
    let c1 = first.start();
    c1.wait_probe_ready();
    let mut second = systemd_bundle();
    second.config["linux"]["cgroupsPath"] = json!(format!("system.slice:anchortest:{name}"));
    second.args(&["true"]);
    let (c2, out) = second.try_create(&[]);
    out.fails_mentioning(&["already exists", "not empty"]);
    assert_eq!(c1.status(), "running", "the first container is untouched");
    assert_no_leftovers(&second, &c2.id);
    c1.delete(&["--force"]).ok();
}

#[test]
fn malformed_systemd_cgroups_paths_are_refused_before_anything_is_made() {
    for (path, words) in [
        ("machine.slice:libpod", "slice:prefix:name"),
        ("/anchor/x", "slice:prefix:name"),
        ("bad--name.slice:p:n", "invalid slice name"),
        ("machine.slice:p:", "name part"),
    ] {
        let mut b = systemd_bundle();
        b.config["linux"]["cgroupsPath"] = json!(path);
        b.args(&["true"]);
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&[words]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn systemd_property_annotations_are_added_to_the_scope_and_a_refused_one_fails_create() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let mut b = systemd_bundle();
    waiting(&mut b);
    // As runc reads them: a quoted string, and seconds under systemd's documented
    // `...Sec` name, sent as the `...USec` property.
    b.config["annotations"] = json!({
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
        "org.systemd.property.TimeoutStopSec": "7",
        "org.example.unrelated": "x"
    });
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("anchor-{}.scope", c.id);
    let p = show(&unit, &["CollectMode", "TimeoutStopUSec", "Delegate"]);
    assert_eq!(p["CollectMode"], "inactive-or-failed", "{p:?}");
    assert_eq!(p["TimeoutStopUSec"], "7s", "{p:?}");
    assert_eq!(p["Delegate"], "yes", "the runtime's own properties stay: {p:?}");
    c.delete(&["--force"]).ok();
    wait_until("the scope to be gone", || unit_gone(&unit));
    assert_no_leftovers(&b, &c.id);

    // A property systemd does not have: its refusal, in one line, and nothing left.
    let mut b = systemd_bundle();
    b.args(&["true"]);
    b.config["annotations"] = json!({"org.systemd.property.NoSuchProperty": "'x'"});
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["systemd cgroup driver: start unit", "NoSuchProperty"]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(unit_gone(&format!("anchor-{}.scope", c.id)));
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn a_malformed_systemd_property_annotation_is_refused_before_anything_is_made() {
    // Read before the bus is asked anything: the same error with or without systemd.
    for (annotation, value, words) in [
        ("org.systemd.property.TimeoutStopSec", "'soon'", "not a number of seconds"),
        ("org.systemd.property.Memory_Max", "1", "three or more ASCII letters"),
        ("org.systemd.property.MemoryMax", "uint64 -1", "is not a value of type"),
    ] {
        let mut b = systemd_bundle();
        b.args(&["true"]);
        b.config["annotations"] = json!({ annotation: value });
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&[annotation, words]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn without_a_bus_the_error_names_the_socket() {
    let mut b = systemd_bundle();
    b.run_runtime_via("DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/bus exec");
    b.args(&["true"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&[
        "systemd cgroup driver: cannot connect to /nonexistent/bus: connect: no such file or directory",
    ]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert_no_leftovers(&b, &c.id);
}

/// On a host without systemd a test of the driver has no scope to look at; it checks
/// what still holds there: the path is checked before any bus is asked.
fn assert_malformed_path_is_refused_without_systemd() {
    let mut b = systemd_bundle();
    b.config["linux"]["cgroupsPath"] = json!("not-a-systemd-path");
    b.args(&["true"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["slice:prefix:name"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn features_report_the_systemd_driver() {
    let b = Bundle::new();
    let f = b.runtime(&["features"]).ok().json();
    assert_eq!(f["linux"]["cgroup"]["systemd"], true, "{f:#}");
    assert_eq!(f["linux"]["cgroup"]["systemdUser"], true, "{f:#}");
}

/// A state edited (both of its records) to name another scope: `delete` stops only a
/// scope whose cgroup is one of the container's vouched directories.
#[test]
fn delete_never_stops_a_unit_the_state_was_edited_to_name() {
    if !systemd_runs() {
        return assert_malformed_path_is_refused_without_systemd();
    }
    let victim = format!("anchortest-victim{}.scope", std::process::id());
    let unit_arg = victim.trim_end_matches(".scope");
    let bystander = HostProcess::spawn("systemd-run", &["--scope", "--unit", unit_arg, "sleep", "300"]);
    wait_until("the victim scope to run", || show(&victim, &["ActiveState"])["ActiveState"] == "active");
    let mut b = systemd_bundle();
    waiting(&mut b);
    let c = b.start();
    c.wait_probe_ready();
    for record in ["state.json", "remains.json"] {
        let file = b.state_root().join(&c.id).join(record);
        let mut state: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        state["systemd_unit"]["name"] = json!(victim);
        std::fs::write(&file, state.to_string()).unwrap();
    }
    c.delete(&["--force"]).ok();
    assert_eq!(show(&victim, &["ActiveState"])["ActiveState"], "active", "delete stopped another unit");
    assert_no_leftovers(&b, &c.id);
    wait_until("the container's own scope to go", || unit_gone(&format!("anchor-{}.scope", c.id)));
    systemd_tool("systemctl", &["stop", &victim]);
    drop(bystander);
}

/// Rootless podman's default: the user's own systemd (`systemd --user`, kept running
/// by `loginctl enable-linger`) makes the scope, below its own cgroup, on the user's bus.
/// runc's cgroup_delegation.bats: with a cgroup namespace of its own and the cgroup
/// filesystem mounted writable, the scope's cgroup2 directory (and the files a delegate
/// writes) become the container's root's, so it can make cgroups below and move its
/// processes there. runc does it on a pure cgroup v2 host only; a hybrid host's is
/// left to root.
#[test]
fn the_scope_is_delegated_to_the_containers_root_with_a_cgroup_namespace_and_writable_cgroupfs() {
    let systemd = systemd_runs();
    let mut b = systemd_bundle();
    waiting(&mut b);
    b.user_namespace(100000, 65536).set_namespace("cgroup", None);
    for mount in b.config["mounts"].as_array_mut().unwrap() {
        if mount["destination"] == "/sys/fs/cgroup" {
            mount["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
        }
    }
    if !systemd {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["systemd cgroup driver: cannot connect"]);
        assert_no_leftovers(&b, &c.id);
        return;
    }
    let c = b.start();
    c.wait_probe_ready();
    let unit = format!("anchor-{}.scope", c.id);
    let control_group = show(&unit, &["ControlGroup"])["ControlGroup"].clone();
    let v2_root = if pure_v2() { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/unified" };
    let dir = Path::new(v2_root).join(control_group.trim_start_matches('/'));
    let owner = |file: &str| std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(dir.join(file)).unwrap());
    if !pure_v2() {
        assert_eq!(owner(""), 0, "runc delegates nothing on a hybrid host: {}", dir.display());
        c.delete(&["--force"]).ok();
        return assert_no_leftovers(&b, &c.id);
    }
    for file in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
        assert_eq!(owner(file), 100000, "{}/{file} is the container root's", dir.display());
    }
    assert_eq!(owner("cgroup.max.depth"), 0, "what is not a delegate's stays root's");
    let inside = c
        .exec(&[], &["sh", "-c", "stat -c %U /sys/fs/cgroup; mkdir /sys/fs/cgroup/own && echo $$ > /sys/fs/cgroup/own/cgroup.procs && cat /proc/self/cgroup"])
        .ok()
        .stdout
        .clone();
    assert_eq!(inside.lines().collect::<Vec<_>>(), ["root", "0::/own"], "{inside}");
    c.delete(&["--force"]).ok();
    wait_until("the scope to be gone", || unit_gone(&unit));
    assert!(!dir.exists(), "the scope's cgroup is removed, the container's own below it too");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn a_rootless_container_gets_a_scope_of_the_users_own_systemd() {
    use spec_tests::rootless::*;
    let systemd = systemd_runs();
    let (uid, _) = rootless_user();
    let xdg = PathBuf::from(format!("/run/user/{uid}"));
    if systemd && pure_v2() {
        systemd_tool("loginctl", &["enable-linger", USER]);
        wait_until("the user's systemd and its bus", || xdg.join("bus").exists());
    }
    let r = Rootless::with_runtime_dir(&["wait-signal"], Some(xdg.clone()).filter(|_| systemd && pure_v2()));
    let id = r.b.new_id();
    let bundle = r.bundle.to_str().unwrap().to_string();
    let out = r.runtime(&["--systemd-cgroup", "run", "-d", "--bundle", &bundle, &id]);
    if !(systemd && pure_v2()) {
        // Only cgroup v2 can be delegated to a user (runc says the same).
        out.fails_mentioning(&["needs a pure cgroup v2 host"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        return;
    }
    out.ok();
    let state = r.runtime(&["state", &id]).ok().json();
    let pid = state["pid"].as_i64().unwrap();
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let scope = format!("/user.slice/user-{uid}.slice/user@{uid}.service/user.slice/anchor-{id}.scope");
    assert!(cgroup.contains(&scope), "init is in the user's scope {scope}: {cgroup}");
    r.runtime(&["--systemd-cgroup", "delete", "--force", &id]).ok();
    let dir = Path::new("/sys/fs/cgroup").join(scope.trim_start_matches('/'));
    wait_until("the user's scope to be gone", || !dir.exists());
}
