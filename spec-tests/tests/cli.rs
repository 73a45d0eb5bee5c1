//! The command line itself: list, spec, --version, --log, usage errors.

use spec_tests::*;
use std::fs;

fn waiting_bundle() -> Bundle {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b
}

#[test]
fn version_flag_prints_runtime_and_spec_versions() {
    let b = Bundle::new();
    let out = b.runtime(&["--version"]);
    out.ok();
    let first = out.stdout.lines().next().unwrap_or("");
    assert!(first.contains("version"), "{out:#?}");
    let spec = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("spec: "))
        .unwrap_or_else(|| panic!("no `spec: <version>` line: {out:#?}"));
    assert!(spec.starts_with("1."), "spec version {spec:?}");
}

#[test]
fn short_version_flag_matches_long() {
    let b = Bundle::new();
    let long = b.runtime(&["--version"]);
    let short = b.runtime(&["-v"]);
    short.ok();
    assert_eq!(short.stdout, long.stdout);
}

#[test]
fn help_flag_lists_commands() {
    let b = Bundle::new();
    let out = b.runtime(&["--help"]);
    out.ok();
    for cmd in ["create", "start", "state", "kill", "delete", "run", "list", "spec"] {
        assert!(out.stdout.contains(cmd), "{cmd} missing: {out:#?}");
    }
}

fn read_config(dir: &std::path::Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("config.json")).expect("config.json"))
        .expect("config.json is JSON")
}

fn namespace_types(config: &Value) -> Vec<String> {
    config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .map(|n| n["type"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn spec_writes_default_config_in_current_directory() {
    let b = Bundle::new();
    // The runtime runs in the (still config-less) bundle directory.
    b.runtime(&["spec"]).ok();
    let config = read_config(&b.path());
    assert!(config["ociVersion"].as_str().unwrap().starts_with("1."));
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["process"]["terminal"], true);
    assert_eq!(config["root"]["path"], "rootfs");
    // runc lists these five, and "cgroup" on a pure cgroup-v2 host only (its
    // delete.bats adds one on v1, which a second entry would make a duplicate).
    let ns = namespace_types(&config);
    for kind in ["pid", "network", "ipc", "uts", "mount"] {
        assert!(ns.contains(&kind.to_string()), "{kind} missing: {ns:?}");
    }
    assert_eq!(ns.contains(&"cgroup".to_string()), cgroup_v2_only(), "{ns:?}");
}

#[test]
fn spec_bundle_flag_writes_into_that_directory() {
    let b = Bundle::new();
    let dir = b.host_dir("spec-here");
    b.runtime(&["spec", "--bundle", &dir.to_string_lossy()]).ok();
    assert!(read_config(&dir)["process"].is_object());
    assert!(!b.path().join("config.json").exists());
}

#[test]
fn spec_refuses_to_overwrite_existing_config() {
    let b = Bundle::new();
    let existing = write_file(&b.path().join("config.json"), "{\"keep\":true}");
    b.runtime(&["spec"]).fails_mentioning(&["exists"]);
    assert_eq!(fs::read_to_string(existing).unwrap(), "{\"keep\":true}");
}

#[test]
fn spec_rootless_sets_up_user_namespace() {
    let b = Bundle::new();
    b.runtime(&["spec", "--rootless"]).ok();
    let config = read_config(&b.path());
    let ns = namespace_types(&config);
    assert!(ns.contains(&"user".to_string()), "{ns:?}");
    // Like runc: an unprivileged user could not set up a new netns anyway.
    assert!(!ns.contains(&"network".to_string()), "{ns:?}");
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_eq!(config["linux"]["uidMappings"], json!([{"containerID": 0, "hostID": uid, "size": 1}]));
    assert_eq!(config["linux"]["gidMappings"], json!([{"containerID": 0, "hostID": gid, "size": 1}]));
}

#[test]
fn generated_spec_runs_once_terminal_is_disabled() {
    let mut b = Bundle::new();
    b.runtime(&["spec"]).ok();
    b.config = read_config(&b.path());
    b.config["process"]["terminal"] = json!(false);
    b.probe(&["exit", "0"]).run_ok();
}

#[test]
fn log_json_writes_structured_error_lines() {
    let b = Bundle::new();
    let log = b.host_dir("log").join("runtime.log");
    let log_str = log.to_string_lossy();
    let root = b.state_root();
    let root_str = root.to_string_lossy();
    let out = b.spawn_runtime_with(
        &["--root", &root_str, "--log", &log_str, "--log-format", "json"],
        &["start", "no-such-container"],
    );
    assert_ne!(out.wait().code, Some(0));
    let text = fs::read_to_string(&log).expect("log file written");
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for l in &lines {
        for key in ["level", "msg", "time"] {
            assert!(l[key].is_string(), "{key} missing in {l}");
        }
    }
    assert!(lines.iter().any(|l| l["level"] == "error"), "no error line in {text:?}");
}

#[test]
fn unknown_global_flag_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["--no-such-flag", "list"]).fails_mentioning(&["no-such-flag"]);
}

#[test]
fn unknown_command_flag_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["list", "--no-such-flag"]).fails_mentioning(&["no-such-flag"]);
}

#[test]
fn unknown_command_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["no-such-command"]).fails();
}

#[test]
fn missing_container_id_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["start"]).fails_mentioning(&["argument", "id"]);
}

#[test]
fn list_shows_id_pid_status_and_bundle() {
    let b = waiting_bundle();
    let c = b.start();
    let out = b.runtime(&["list"]);
    out.ok();
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]);
    let row: Vec<&str> = lines
        .find(|l| l.starts_with(&c.id))
        .unwrap_or_else(|| panic!("{} not listed: {out:#?}", c.id))
        .split_whitespace()
        .collect();
    assert_eq!(row[1], c.pid().to_string());
    assert_eq!(row[2], "running");
    assert_eq!(row[3], b.path_str());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn list_quiet_prints_only_ids() {
    let b = waiting_bundle();
    let first = b.create();
    let second = b.start();
    let out = b.runtime(&["list", "-q"]);
    out.ok();
    let mut ids: Vec<&str> = out.stdout.lines().collect();
    ids.sort();
    let mut want = [first.id.as_str(), second.id.as_str()];
    want.sort();
    assert_eq!(ids, want);
    for c in [&first, &second] {
        c.delete(&["--force"]).ok();
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn list_format_json_describes_containers() {
    let mut b = waiting_bundle();
    b.config["annotations"] = json!({"k": "v"});
    let c = b.start();
    let list = b.runtime(&["list", "--format", "json"]).ok().json();
    let entries = list.as_array().expect("a JSON array");
    assert_eq!(entries.len(), 1, "{list:#}");
    let e = &entries[0];
    assert_eq!(e["id"], c.id.as_str());
    assert_eq!(e["pid"], c.pid());
    assert_eq!(e["status"], "running");
    assert_eq!(e["bundle"], b.path_str().as_str());
    assert_eq!(e["rootfs"], b.rootfs().to_string_lossy().as_ref());
    assert!(e["created"].is_string(), "{e:#}");
    assert_eq!(e["annotations"], json!({"k": "v"}));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A deleted container's directory is kept, emptied, as the root's one spare, and
/// the next create starts from it: nothing of the old container shows through
/// (no state, no FIFO, not in `list`), and a second delete removes its directory.
#[test]
fn a_deleted_containers_directory_is_reused_empty_by_the_next() {
    let b = waiting_bundle();
    let root = b.state_root();
    let first = b.start();
    first.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &first.id);
    assert!(root.join(SPARE_STATE_DIR).is_dir(), "no spare kept in {}", root.display());

    let second = b.create();
    assert!(!root.join(SPARE_STATE_DIR).exists(), "the spare was not taken");
    assert_eq!(second.state()["status"], "created", "a fresh state");
    let listed = b.runtime(&["list", "-q"]).ok().stdout.clone();
    assert_eq!(listed.lines().collect::<Vec<_>>(), [second.id.as_str()], "only the new container");
    let third = b.create();
    for c in [&second, &third] {
        c.delete(&["--force"]).ok();
        assert_no_leftovers(&b, &c.id);
    }
    assert_eq!(state_entries(&root), Vec::<String>::new(), "one empty spare, nothing else");
}

#[test]
fn list_with_no_containers_is_empty() {
    let b = Bundle::new();
    let quiet = b.runtime(&["list", "-q"]);
    quiet.ok();
    assert_eq!(quiet.stdout, "");
    // runc prints `null` here; an empty array is just as good.
    let json = b.runtime(&["list", "--format", "json"]).ok().json();
    assert!(json.is_null() || json == json!([]), "{json}");
}

#[test]
fn features_reports_versions_hooks_namespaces_and_seccomp() {
    let b = Bundle::new();
    let f = b.runtime(&["features"]).ok().json();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert_eq!(f["hooks"].as_array().map(Vec::len), Some(6), "{f:#}");
    for ns in ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"] {
        assert!(f["linux"]["namespaces"].as_array().unwrap().contains(&json!(ns)), "{ns} missing");
    }
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    assert!(f["mountOptions"].as_array().unwrap().contains(&json!("rbind")));
    let actions = f["linux"]["seccomp"]["actions"].as_array().unwrap();
    assert!(actions.contains(&json!("SCMP_ACT_NOTIFY")), "{actions:?}");
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert_eq!(f["linux"]["memoryPolicy"]["modes"].as_array().map(Vec::len), Some(7), "{f:#}");
    assert_eq!(f["linux"]["memoryPolicy"]["flags"].as_array().map(Vec::len), Some(3), "{f:#}");
    assert_eq!(f["linux"]["netDevices"]["enabled"], true);
    // What is not supported is said so, not left out.
    assert_eq!(f["linux"]["apparmor"]["enabled"], false);
}

#[test]
fn output_to_a_reader_that_has_gone_is_not_a_crash() {
    // `anchor-runtime list | head -1`: the reader may close before the output ends.
    let b = Bundle::new();
    let root = b.state_root();
    for args in [vec!["--version"], vec!["--root", root.to_str().unwrap(), "list"]] {
        let mut child = std::process::Command::new(runtime_path())
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && !stderr.contains("panicked"), "{args:?}: {:?} {stderr}", out.status);
    }
}

#[test]
fn a_log_path_that_is_a_directory_fails_clearly() {
    // runc: "open DIR: is a directory"; exiting 0 would hide every error the
    // caller looks for in that file.
    let b = Bundle::new();
    let dir = b.host_dir("logdir");
    let root = b.state_root();
    let out = b
        .spawn_runtime_with(&["--root", root.to_str().unwrap(), "--log", dir.to_str().unwrap()], &["list"])
        .wait();
    out.fails_mentioning(&["is a directory"]);
}

#[test]
fn preserve_fds_beyond_the_open_file_limit_is_refused() {
    let b = waiting_bundle();
    for count in ["4294967295", "4294967293", "1048576"] {
        let (c, out) = b.try_create(&["--preserve-fds", count]);
        out.fails_mentioning(&["open-file limit", "invalid value"]);
        assert_no_leftovers(&b, &c.id);
    }
    let c = b.start();
    c.exec(&["--preserve-fds", "4294967295"], &["true"]).fails_mentioning(&["open-file limit"]);
}

#[test]
fn update_with_a_negative_pids_limit_removes_the_limit_as_runc_does() {
    // runc writes "max" for any negative pids limit (cgroups' pids.go), and 0 from
    // `update --pids-limit` leaves the limit as it is (runc 1.1 and 1.2).
    let mut b = waiting_bundle();
    b.config["linux"]["resources"] = json!({"pids": {"limit": 42}});
    let c = b.start();
    c.cmd("update", &["--pids-limit", "0"]).ok();
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "42");
    c.cmd("update", &["--pids-limit", "-5"]).ok();
    assert_eq!(read_cgroup("pids", &c.id, "pids.max"), "max");
}

#[test]
fn state_and_list_json_keep_runcs_field_order() {
    // Tools (and runc's list.bats) match this output as text: ociVersion, id, pid,
    // status, bundle, rootfs, created, owner, as runc prints them.
    let b = waiting_bundle();
    let c = b.start();
    let order = ["ociVersion", "id", "pid", "status", "bundle", "rootfs", "created", "owner"];
    let positions = |text: &str| -> Vec<usize> {
        order
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap_or_else(|| panic!("{k} in {text}")))
            .collect()
    };
    let list = b.runtime(&["list", "--format", "json"]);
    let state = c.cmd("state", &[]);
    for text in [&list.ok().stdout, &state.ok().stdout] {
        let found = positions(text);
        assert!(found.windows(2).all(|w| w[0] < w[1]), "fields out of runc's order: {text}");
    }
    assert!(list.stdout.starts_with(r#"[{"ociVersion":""#), "{}", list.stdout);
    c.delete(&["--force"]).ok();
}
