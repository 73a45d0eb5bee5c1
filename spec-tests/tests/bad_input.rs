//! Invalid configurations and arguments: each must fail with a message on
//! stderr and a non-zero exit, and leave nothing behind.

use spec_tests::*;
use std::fs;
use std::os::unix::fs::symlink;

/// `create` with the bundle as configured; asserts a clean failure that
/// mentions one of `words` and no leftovers.
#[track_caller]
fn create_fails(b: &Bundle, words: &[&str]) -> Output {
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(words);
    assert_no_leftovers(b, &c.id);
    out
}

/// `create` with `config.json` replaced by `text` (or absent for `None`).
#[track_caller]
fn create_with_raw_config(text: Option<&str>, words: &[&str]) {
    let b = Bundle::new();
    let id = b.new_id();
    let config = b.path().join("config.json");
    match text {
        Some(t) => write_file(&config, t),
        None => config,
    };
    b.runtime(&["create", "--bundle", &b.path_str(), &id]).fails_mentioning(words);
    assert_no_leftovers(&b, &id);
}

/// `create` under the ID `bad`, which must be refused (saying so with one
/// of `words`) before anything is set up: nothing may appear in the state
/// directory.
#[track_caller]
fn create_with_bad_id(bad: &str, words: &[&str]) {
    let b = Bundle::new();
    let id = b.new_id();
    b.write_config(&id);
    b.track_id(bad);
    b.runtime(&["create", "--bundle", &b.path_str(), bad]).fails_mentioning(words);
    let state = state_entries(&b.state_root());
    assert!(state.is_empty(), "state entries left: {state:?}");
    assert_no_leftovers(&b, &id);
}

#[test]
fn malformed_config_json_is_rejected() {
    create_with_raw_config(Some("{ \"ociVersion\": "), &["config", "json"]);
}

#[test]
fn config_json_with_wrong_field_types_is_rejected() {
    create_with_raw_config(
        Some(r#"{"ociVersion":"1.0.2","process":{"args":"not-an-array"}}"#),
        &["config", "json", "args", "unmarshal"],
    );
}

#[test]
fn missing_config_json_is_rejected() {
    create_with_raw_config(None, &["config.json"]);
}

#[test]
fn oci_version_2_is_rejected() {
    let mut b = Bundle::new();
    b.config["ociVersion"] = json!("2.0.0");
    create_fails(&b, &["version", "2.0.0"]);
}

#[test]
fn oci_versions_1_0_to_1_3_are_accepted() {
    let mut b = Bundle::new();
    b.probe(&["exit", "0"]);
    for version in ["1.0.0", "1.0.2", "1.1.0", "1.2.0", "1.3.0"] {
        b.config["ociVersion"] = json!(version);
        let (c, out) = b.run(&[]);
        assert!(out.success(), "ociVersion {version} refused: {out:#?}");
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn empty_id_is_rejected() {
    create_with_bad_id("", &["container id", "empty"]);
}

#[test]
fn id_with_slash_is_rejected() {
    create_with_bad_id("a/b", &["container id", "invalid"]);
}

#[test]
fn id_dot_dot_is_rejected() {
    create_with_bad_id("..", &["container id", "invalid"]);
}

#[test]
fn id_with_whitespace_is_rejected() {
    create_with_bad_id("a b", &["container id", "invalid"]);
}

#[test]
fn id_longer_than_255_bytes_is_rejected() {
    // runc has no explicit limit; the ID names its state directory, so
    // NAME_MAX (255) is where it stops working.
    create_with_bad_id(&"a".repeat(256), &["too long", "container id", "255"]);
}

#[test]
fn id_of_255_bytes_is_accepted() {
    let mut b = Bundle::new();
    b.probe(&["exit", "0"]);
    let id = "a".repeat(255);
    b.track_id(&id);
    b.write_config(&id);
    b.runtime(&["run", "--bundle", &b.path_str(), &id]).ok();
    assert_no_leftovers(&b, &id);
}

#[test]
fn duplicate_id_is_rejected() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    let c = b.create();
    let pid = c.pid();
    b.runtime(&["create", "--bundle", &b.path_str(), &c.id]).fails_mentioning(&["exists", "already"]);
    let state = c.state();
    assert_eq!(state["status"], "created", "the original is untouched");
    assert_eq!(state["pid"], pid);
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn missing_rootfs_is_rejected() {
    let b = Bundle::new();
    fs::remove_dir_all(b.rootfs()).unwrap();
    create_fails(&b, &["rootfs", "no such file"]);
}

#[test]
fn empty_process_args_are_rejected() {
    let mut b = Bundle::new();
    b.args(&[]);
    create_fails(&b, &["args"]);
}

#[test]
fn relative_cwd_is_rejected() {
    let mut b = Bundle::new();
    b.config["process"]["cwd"] = json!("tmp");
    create_fails(&b, &["cwd", "absolute"]);
}

#[test]
fn missing_executable_fails_at_create() {
    // runc looks the executable up before create returns, so the error is
    // reported by `create`, not by `start`.
    let mut b = Bundle::new();
    b.args(&["/no/such/binary"]);
    let out = create_fails(&b, &["/no/such/binary"]);
    // podman turns the errno's words into its exit code: 127 for a missing program.
    out.fails_mentioning(&["no such file or directory"]);
}

#[test]
fn non_executable_file_fails_at_create_with_permission_denied() {
    // podman's exit code 126 comes from these words.
    let mut b = Bundle::new();
    b.args(&["/etc/passwd"]);
    create_fails(&b, &["/etc/passwd"]).fails_mentioning(&["permission denied"]);
}

#[test]
fn unknown_namespace_type_is_rejected() {
    let mut b = Bundle::new();
    b.set_namespace("bogus", None);
    create_fails(&b, &["bogus", "namespace"]);
}

/// A mount whose destination is a symlink leading out of the rootfs must
/// either be refused or land inside the rootfs; the host directory the link
/// points at must stay untouched.
fn check_symlink_escape(link_target: impl FnOnce(&Bundle) -> String) {
    let mut b = Bundle::new();
    let host = b.host_dir("escape-target");
    write_file(&host.join("keep"), "host data");
    symlink(link_target(&b), b.rootfs().join("evil")).unwrap();
    let marker = format!("escape-{}", std::process::id());
    b.add_mount(json!({
        "destination": "/evil", "type": "tmpfs", "source": marker, "options": ["rw"]
    }));
    b.probe(&[]);
    let (c, out) = b.run(&[]);
    if out.success() {
        let inside = out.json()["mounts"].as_array().unwrap().iter().any(|m| m["source"] == marker.as_str());
        assert!(inside, "the tmpfs is not inside the container: {out:#?}");
    } else {
        out.fails();
    }
    assert!(!mountinfo().iter().any(|m| m.source == marker), "mounted on the host");
    let entries: Vec<_> = fs::read_dir(&host).unwrap().flatten().collect();
    assert_eq!(entries.len(), 1, "host dir changed: {entries:?}");
    assert_eq!(fs::read_to_string(host.join("keep")).unwrap(), "host data");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn mount_destination_symlink_cannot_escape_rootfs() {
    check_symlink_escape(|b| b.host_dir("escape-target").to_string_lossy().into_owned());
}

#[test]
fn mount_destination_relative_symlink_cannot_escape_rootfs() {
    // rootfs/evil -> ../../host/escape-target: followed naively from the
    // host it leaves the bundle; resolved inside the rootfs it cannot.
    check_symlink_escape(|_| "../../host/escape-target".to_string());
}

#[test]
fn kill_with_unknown_signal_is_rejected() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    let c = b.start();
    c.kill("SIGBOGUS").fails_mentioning(&["signal"]);
    assert_eq!(c.status(), "running");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn state_of_nonexistent_container_is_an_error() {
    let b = Bundle::new();
    b.runtime(&["state", "no-such-container"]).fails_mentioning(&[
        "no-such-container",
        "not exist",
        "not found",
    ]);
}

#[test]
fn config_without_mount_namespace_is_rejected() {
    // Without its own mount namespace, init would build the rootfs, make `/`
    // rslave and pivot_root in the host's namespace. runc refuses too
    // ("... without a private MNT namespace").
    let mut b = Bundle::new();
    b.remove_namespace("mount");
    let before = fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    create_fails(&b, &["mount namespace", "mnt namespace"]);
    let after = fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    assert_eq!(after, before, "the host's mount table changed");
}

#[test]
fn hostname_without_uts_namespace_is_rejected() {
    // Setting it would rename the host.
    let mut b = Bundle::new();
    b.remove_namespace("uts");
    b.config["hostname"] = json!("anchor-uts-test");
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    create_fails(&b, &["UTS"]);
    assert_eq!(fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host, "the host was renamed");
}

#[test]
fn unknown_personality_flags_are_refused_by_name() {
    // The spec names no personality flags; the kernel's names are taken. Running
    // without one would be weaker than the config asks: refused instead.
    let mut b = Bundle::new();
    b.config["linux"]["personality"] = json!({"domain": "LINUX", "flags": ["NO_SUCH_FLAG"]});
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["unknown flag", "NO_SUCH_FLAG"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn idmapped_mount_that_is_not_a_bind_mount_is_rejected() {
    let mut b = Bundle::new();
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    b.add_mount(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                       "uidMappings": map, "gidMappings": map}));
    create_fails(&b, &["idmapped mounts must be bind mounts"]);
}

#[test]
fn idmapped_mount_with_only_uid_mappings_is_rejected() {
    let mut b = Bundle::new();
    let dir = b.host_dir("idmapped");
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind", "idmap"],
                       "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}));
    create_fails(&b, &["both uidMappings and gidMappings"]);
}

#[test]
fn idmap_option_without_any_mappings_is_rejected() {
    let mut b = Bundle::new();
    let dir = b.host_dir("idmapped");
    b.add_mount(
        json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind", "idmap"]}),
    );
    create_fails(&b, &["idmap needs uidMappings and gidMappings"]);
}

#[test]
fn an_over_long_value_is_quoted_short_and_the_cause_still_reaches_the_user() {
    // A 100,000-character hostname used to be echoed whole and overflow the sync
    // socket's 64 KiB message: the user read `bad message on sync socket`.
    let mut b = Bundle::new();
    b.config["hostname"] = json!("h".repeat(100_000));
    let out = create_fails(&b, &["hostname"]);
    assert!(out.stderr.contains("(100000 bytes)") && out.stderr.contains("EINVAL"), "{out:#?}");
    assert!(out.stderr.len() < 1000, "{} bytes of error", out.stderr.len());
    assert!(!out.stderr.contains("sync socket"), "{out:#?}");
}

#[test]
fn an_error_quoting_a_newline_stays_one_line_in_text_and_json_logs() {
    let mut b = Bundle::new();
    b.args(&["/no\nsuch-program"]);
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["ENOENT"]);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    assert_no_leftovers(&b, &c.id);

    let log = b.host_dir("log").join("runtime.log");
    let root = b.state_root();
    let id = b.new_id();
    b.write_config(&id);
    let global = ["--root", root.to_str().unwrap(), "--log", log.to_str().unwrap(), "--log-format", "json"];
    b.spawn_runtime_with(&global, &["run", "--bundle", &b.path_str(), &id]).wait().fails();
    let text = fs::read_to_string(&log).unwrap();
    let errors: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON line ({e}): {l:?}")))
        .filter(|l: &Value| l["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(errors[0]["msg"].as_str().unwrap().contains("ENOENT"), "{text}");
}

#[test]
fn a_failure_in_the_runtime_after_init_is_forked_is_the_only_line_reported() {
    // Init used to print `the other end of the sync socket exited unexpectedly`
    // before the real cause: when its parent is gone, init now exits quietly.
    let mut b = Bundle::new();
    b.hook("createRuntime", "exit 3");
    let out = create_fails(&b, &["createRuntime"]);
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{out:#?}");
    assert!(!out.stderr.contains("sync socket"), "{out:#?}");
}

#[test]
fn a_fifo_where_config_json_is_expected_is_refused_without_hanging() {
    let b = Bundle::new();
    let id = b.new_id();
    let config = b.path().join("config.json");
    let _ = fs::remove_file(&config);
    nix_mkfifo(&config);
    let out = b.runtime(&["create", "--bundle", &b.path_str(), &id]);
    out.fails_mentioning(&["not a regular file"]);
    assert_no_leftovers(&b, &id);
}

#[test]
fn a_fifo_planted_as_the_images_etc_passwd_does_not_hang_the_start() {
    // Init reads the image's /etc/passwd for HOME when the process has none.
    let mut b = Bundle::new();
    b.args(&["sh", "-c", "echo home=$HOME"]);
    b.config["process"]["env"] = json!(["PATH=/bin"]);
    let passwd = b.rootfs().join("etc/passwd");
    let _ = fs::remove_file(&passwd);
    fs::create_dir_all(passwd.parent().unwrap()).unwrap();
    nix_mkfifo(&passwd);
    let out = b.run_ok();
    assert_eq!(out.stdout.trim(), "home=/");
}

fn nix_mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

/// A memory policy the kernel would refuse for its form fails `create` with the
/// reason, before anything is made (runc's memorypolicy.bats words).
#[test]
fn a_malformed_memory_policy_is_refused_at_create() {
    for (policy, words) in [
        (json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}), "mode requires 0 nodes but got 8"),
        (json!({"mode": "MPOL_BIND", "nodes": "0-9876543210"}), "invalid memory policy node"),
        (json!({"mode": "MPOL_BIND"}), "MPOL_BIND mode requires nodes"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
            "exclude each other",
        ),
    ] {
        let mut b = Bundle::new();
        b.config["linux"]["memoryPolicy"] = policy;
        create_fails(&b, &["linux.memoryPolicy", words]);
    }
    // A mode the spec does not name is a parse error naming the known ones.
    let mut b = Bundle::new();
    b.config["linux"]["memoryPolicy"] = json!({"mode": "INTERLEAVE", "nodes": "0"});
    create_fails(&b, &["unknown variant `INTERLEAVE`", "MPOL_INTERLEAVE"]);
}
