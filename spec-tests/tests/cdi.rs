//! CDI, built in: devices requested by `cdi.k8s.io/*` annotations are resolved
//! from spec files the test writes (in directories given with `--cdi-spec-dirs`,
//! never the host's /etc/cdi), and every edit is checked from inside the container.

use spec_tests::*;
use std::fs;
use std::path::PathBuf;

const KIND: &str = "anchor.test/dev";

/// A CDI directory of this test holding `files` (name, content).
fn spec_dir(b: &Bundle, name: &str, files: &[(&str, String)]) -> PathBuf {
    let dir = b.host_dir(name);
    for (file, content) in files {
        write_file(&dir.join(file), content);
    }
    dir
}

/// A JSON spec file of `KIND` whose devices are (name, containerEdits).
fn json_spec(version: &str, devices: &[(&str, Value)], spec_edits: Value) -> String {
    let devices: Vec<Value> =
        devices.iter().map(|(name, edits)| json!({"name": name, "containerEdits": edits})).collect();
    json!({"cdiVersion": version, "kind": KIND, "devices": devices, "containerEdits": spec_edits}).to_string()
}

/// Points the runtime at `dirs` and requests `devices` through an annotation.
fn request(b: &mut Bundle, dirs: &[&PathBuf], devices: &[&str]) {
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    b.global_flags = vec!["--cdi-spec-dirs".into(), dirs.join(",")];
    let names: Vec<String> = devices.iter().map(|d| format!("{KIND}={d}")).collect();
    b.config["annotations"] = json!({"cdi.k8s.io/spec-test": names.join(",")});
}

/// `create` fails mentioning every one of `words`, and leaves nothing behind.
#[track_caller]
fn create_fails_mentioning_all(b: &Bundle, words: &[&str]) {
    let (c, out) = b.try_create(&[]);
    for word in words {
        out.fails_mentioning(&[word]);
    }
    assert_no_leftovers(b, &c.id);
}

/// The mem driver's major with a minor it lacks: opening it gives ENXIO when the
/// device cgroup allows it and EPERM when it does not (see cgroups.rs).
fn unallowed_mem_node() -> Value {
    json!({"path": "/dev/cdi-probe", "type": "c", "major": 1, "minor": 200, "permissions": "rw"})
}

#[test]
fn cdi_device_edits_are_applied_inside_the_container() {
    let mut b = Bundle::new();
    let data = b.host_dir("driver-files");
    write_file(&data.join("lib.so"), "driver library");
    let marker = b.test_dir().join("hook-marker");
    let edits = json!({
        "env": ["CDI_DEVICE=one"],
        "deviceNodes": [{"path": "/dev/cdi-null", "hostPath": "/dev/null"}, unallowed_mem_node()],
        "mounts": [{"hostPath": data, "containerPath": "/cdi/lib", "options": ["ro", "rbind"]}],
        "hooks": [{"hookName": "createRuntime", "path": "/bin/sh",
                   "args": ["sh", "-c", format!("cat > {}", marker.display())]}],
        "additionalGids": [4242, 0],
    });
    let dir = spec_dir(
        &b,
        "cdi",
        &[("test.json", json_spec("0.7.0", &[("one", edits)], json!({"env": ["CDI_SPEC=1"]})))],
    );
    request(&mut b, &[&dir], &["one"]);
    b.config["process"]["env"].as_array_mut().unwrap().push(json!("CDI_DEVICE=from-config"));
    let written = b.config.clone();
    let probes: &[&[&str]] = &[
        &["info"],
        &["stat", "/dev/cdi-null"],
        &["write", "/dev/cdi-null", "x"],
        &["open", "/dev/cdi-probe", "rw"],
        &["read", "/cdi/lib/lib.so"],
        &["write", "/cdi/lib/new", "x"],
    ];
    let [info, null, write_null, probe_dev, lib, write_lib] =
        <[Value; 6]>::try_from(b.run_probes(probes)).unwrap();
    let env: Vec<String> = serde_json::from_value(info["env"].clone()).unwrap();
    assert!(env.contains(&"CDI_DEVICE=one".into()) && env.contains(&"CDI_SPEC=1".into()), "{env:?}");
    assert!(!env.contains(&"CDI_DEVICE=from-config".into()), "the CDI value replaces the config's: {env:?}");
    assert_eq!(info["groups"], json!([4242]), "a GID of 0 is ignored: {info}");
    // Type and numbers read from the host's /dev/null, which the spec left out.
    assert_eq!(
        (null["kind"].as_str(), null["major"].as_u64(), null["minor"].as_u64()),
        (Some("char"), Some(1), Some(3))
    );
    assert_eq!(write_null["ok"], true, "{write_null}");
    assert_eq!(probe_dev["errno"], libc::ENXIO, "the device cgroup allows the CDI node: {probe_dev}");
    assert_eq!(lib["content"], "driver library");
    assert_eq!(write_lib["errno"], libc::EROFS);
    let hook_state: Value = serde_json::from_str(&fs::read_to_string(&marker).expect("hook ran")).unwrap();
    assert_eq!(hook_state["status"], "creating");
    // config.json on disk is never changed.
    let on_disk: Value =
        serde_json::from_str(&fs::read_to_string(b.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(on_disk["linux"]["devices"], written["linux"]["devices"]);
    assert_eq!(on_disk["process"]["env"], written["process"]["env"]);
}

#[test]
fn without_cdi_annotations_no_spec_file_is_read() {
    // A broken spec file is harmless to a container that requests no device.
    let mut b = Bundle::new();
    let dir = spec_dir(&b, "cdi", &[("broken.json", "{not json".into())]);
    b.global_flags = vec!["--cdi-spec-dirs".into(), dir.display().to_string()];
    let info = b.probe_info();
    assert!(info["env"].as_array().unwrap().iter().all(|e| !e.as_str().unwrap().starts_with("CDI")));
}

#[test]
fn without_the_cdi_device_the_node_is_denied() {
    // The control for the ENXIO above: the same node from linux.devices alone.
    let mut b = Bundle::new();
    b.config["linux"]["devices"] = json!([unallowed_mem_node()]);
    let out = b.run_probe(&["open", "/dev/cdi-probe", "rw"]);
    assert_eq!(out["errno"], libc::EPERM, "{out}");
}

#[test]
fn state_annotations_list_the_injected_devices() {
    let mut b = Bundle::new();
    let devices = [("one", json!({"env": ["A=1"]})), ("two", json!({"env": ["B=2"]}))];
    let dir = spec_dir(&b, "cdi", &[("test.json", json_spec("0.6.0", &devices, json!({})))]);
    request(&mut b, &[&dir], &["two", "one"]);
    let c = b.create();
    let state = c.state();
    assert_eq!(
        state["annotations"]["io.github.anchor-runtime.cdi.devices"],
        format!("{KIND}=two,{KIND}=one")
    );
    assert_eq!(state["annotations"]["cdi.k8s.io/spec-test"], format!("{KIND}=two,{KIND}=one"));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn yaml_spec_files_are_read() {
    let mut b = Bundle::new();
    let yaml = format!(
        "cdiVersion: 1.0.0\nkind: {KIND}\ndevices:\n  - name: one\n    containerEdits:\n      env:\n        - FROM_YAML=yes\n      deviceNodes:\n        - path: /dev/yaml-null\n          hostPath: /dev/null\n"
    );
    let dir = spec_dir(&b, "cdi", &[("test.yaml", yaml)]);
    request(&mut b, &[&dir], &["one"]);
    let [info, null] =
        <[Value; 2]>::try_from(b.run_probes(&[&["info"], &["stat", "/dev/yaml-null"]])).unwrap();
    assert!(info["env"].as_array().unwrap().contains(&json!("FROM_YAML=yes")), "{info}");
    assert_eq!(null["kind"], "char");
}

#[test]
fn a_later_spec_dir_overrides_an_earlier_one() {
    let mut b = Bundle::new();
    let first = spec_dir(
        &b,
        "etc-cdi",
        &[("a.json", json_spec("0.6.0", &[("one", json!({"env": ["FROM=etc"]}))], json!({})))],
    );
    let second = spec_dir(
        &b,
        "run-cdi",
        &[("a.json", json_spec("0.6.0", &[("one", json!({"env": ["FROM=run"]}))], json!({})))],
    );
    request(&mut b, &[&first, &second], &["one"]);
    let env = b.probe_info()["env"].clone();
    assert!(env.as_array().unwrap().contains(&json!("FROM=run")), "{env}");
    assert!(!env.as_array().unwrap().contains(&json!("FROM=etc")), "{env}");
}

#[test]
fn unknown_cdi_device_is_an_error_naming_it_and_the_dirs_searched() {
    let mut b = Bundle::new();
    let dir = spec_dir(&b, "cdi", &[("test.json", json_spec("0.6.0", &[("one", json!({}))], json!({})))]);
    request(&mut b, &[&dir], &["missing"]);
    create_fails_mentioning_all(&b, &[&format!("{KIND}=missing"), &dir.display().to_string()]);
}

#[test]
fn malformed_cdi_spec_is_an_error_naming_the_file_and_the_field() {
    let mut b = Bundle::new();
    let typo = r#"{"cdiVersion": "0.6.0", "kind": "anchor.test/dev", "devices": [{"name": "one", "containerEdits": {"deviceNode": []}}]}"#;
    let dir = spec_dir(&b, "cdi", &[("typo.json", typo.into())]);
    request(&mut b, &[&dir], &["one"]);
    create_fails_mentioning_all(&b, &["typo.json", "deviceNode"]);
}

#[test]
fn invalid_cdi_device_name_is_rejected() {
    let mut b = Bundle::new();
    let dir = spec_dir(&b, "cdi", &[]);
    request(&mut b, &[&dir], &["one"]);
    b.config["annotations"] = json!({"cdi.k8s.io/bad": "no-kind-here"});
    create_fails_mentioning_all(&b, &["no-kind-here", "cdi.k8s.io/bad"]);
}

#[test]
fn newer_cdi_version_is_refused_by_name() {
    let mut b = Bundle::new();
    let dir = spec_dir(&b, "cdi", &[("future.json", json_spec("9.1.0", &[("one", json!({}))], json!({})))]);
    request(&mut b, &[&dir], &["one"]);
    create_fails_mentioning_all(&b, &["9.1.0", "future.json"]);
}

#[test]
fn two_cdi_devices_claiming_one_path_with_different_nodes_is_an_error() {
    let mut b = Bundle::new();
    let devices = [
        ("one", json!({"deviceNodes": [{"path": "/dev/shared", "hostPath": "/dev/null"}]})),
        ("two", json!({"deviceNodes": [{"path": "/dev/shared", "hostPath": "/dev/zero"}]})),
    ];
    let dir = spec_dir(&b, "cdi", &[("test.json", json_spec("0.6.0", &devices, json!({})))]);
    request(&mut b, &[&dir], &["one", "two"]);
    create_fails_mentioning_all(&b, &["/dev/shared", &format!("{KIND}=one"), &format!("{KIND}=two")]);
}

#[test]
fn features_report_cdi_and_its_versions() {
    let b = Bundle::new();
    let f = b.runtime(&["features"]).ok().json();
    assert_eq!(f["annotations"]["io.github.anchor-runtime.cdi"], "true");
    let versions = f["annotations"]["io.github.anchor-runtime.cdi.versions"].as_str().unwrap();
    assert!(versions.contains("0.3.0") && versions.contains("1.1.0"), "{versions}");
}
