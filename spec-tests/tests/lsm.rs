//! AppArmor profiles and SELinux labels (`process.apparmorProfile`,
//! `process.selinuxLabel`, `linux.mountLabel`, `exec --apparmor`, `exec
//! --process-label`), as runc applies them.
//!
//! Each test checks what its requirement means on the kernel it runs on: where the
//! LSM is enabled, the confinement seen from inside the container; where it is not,
//! that the setting is ignored and the container runs (runc's behaviour). The host
//! has no LSM; `make test-lsm` runs this file in a Debian guest booted once with
//! AppArmor and once with SELinux (spec-tests/guest/debian/). There
//! `ANCHOR_EXPECT_LSM` says which LSM the boot enabled, and every test first checks
//! that the kernel agrees, so a guest that lost its LSM fails instead of passing the
//! "ignored" branch.

use spec_tests::*;
use std::path::Path;
use std::process::Command;

#[derive(Debug, PartialEq, Clone, Copy)]
enum Lsm {
    None,
    AppArmor,
    SELinux,
}

/// The LSM the kernel has enabled, checked against `ANCHOR_EXPECT_LSM` when set.
fn active_lsm() -> Lsm {
    let apparmor = Path::new("/sys/kernel/security/apparmor").is_dir()
        && std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|v| v.starts_with('Y'));
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let lsm = match (apparmor, selinux) {
        (true, false) => Lsm::AppArmor,
        (false, true) => Lsm::SELinux,
        (false, false) => Lsm::None,
        (true, true) => panic!("both AppArmor and SELinux are enabled: not a configuration these tests know"),
    };
    if let Ok(expected) = std::env::var("ANCHOR_EXPECT_LSM") {
        let expected = match expected.as_str() {
            "apparmor" => Lsm::AppArmor,
            "selinux" => Lsm::SELinux,
            "none" => Lsm::None,
            other => panic!("ANCHOR_EXPECT_LSM={other:?}: use apparmor, selinux or none"),
        };
        assert_eq!(lsm, expected, "the kernel's LSM is not the one this run expects");
    }
    lsm
}

/// A profile that lets everything through but writes below /tmp, loaded (or
/// replaced) with apparmor_parser.
const DENY_TMP_PROFILE: &str = "anchor-test-deny-tmp";

fn load_deny_tmp_profile() {
    let text = format!(
        "profile {DENY_TMP_PROFILE} flags=(attach_disconnected,mediate_deleted) {{\n\
         file,\n  capability,\n  network,\n  signal,\n  unix,\n  ptrace,\n  mount,\n  umount,\n\
         deny /tmp/** w,\n}}\n"
    );
    let path = std::env::temp_dir().join(format!("{DENY_TMP_PROFILE}.profile"));
    std::fs::write(&path, text).expect("write the test profile");
    let out = Command::new("apparmor_parser").arg("-r").arg(&path).output().expect("run apparmor_parser");
    assert!(out.status.success(), "apparmor_parser -r failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// What the process's LSM says it runs as (`/proc/self/attr/current`), and whether
/// it could write below /tmp.
const WHO_AND_WRITE: &str =
    "cat /proc/self/attr/current 2>/dev/null || echo none; echo; if echo x > /tmp/f; then echo wrote; else echo denied; fi";

/// A bundle whose /tmp is writable (the root is read-only), for `WHO_AND_WRITE`.
fn bundle_with_writable_tmp() -> Bundle {
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}));
    b
}

fn label_of(out: &str) -> String {
    out.lines().next().unwrap_or("").trim_end_matches('\0').trim().to_string()
}

#[test]
fn apparmor_profile_confines_the_program_where_apparmor_is_enabled() {
    let lsm = active_lsm();
    if lsm == Lsm::AppArmor {
        load_deny_tmp_profile();
    }
    let mut b = bundle_with_writable_tmp();
    b.config["process"]["apparmorProfile"] = json!(DENY_TMP_PROFILE);
    b.shell(WHO_AND_WRITE);
    let out = b.run_ok().stdout.clone();
    if lsm == Lsm::AppArmor {
        assert_eq!(label_of(&out), format!("{DENY_TMP_PROFILE} (enforce)"), "{out}");
        assert!(out.contains("denied"), "the profile denies writes below /tmp: {out}");
    } else {
        // runc: a profile means nothing without AppArmor; the container runs.
        assert!(out.contains("wrote"), "{out}");
    }
}

#[test]
fn apparmor_profile_that_is_not_loaded_fails_create_naming_it() {
    let lsm = active_lsm();
    let mut b = Bundle::new();
    b.config["process"]["apparmorProfile"] = json!("anchor-no-such-profile");
    b.args(&["true"]);
    if lsm == Lsm::AppArmor {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["apparmor profile \"anchor-no-such-profile\" is not loaded"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {}", out.stderr);
        assert_no_leftovers(&b, &c.id);
    } else {
        b.run_ok();
    }
}

#[test]
fn apparmor_unconfined_runs_unconfined() {
    let lsm = active_lsm();
    let mut b = bundle_with_writable_tmp();
    b.config["process"]["apparmorProfile"] = json!("unconfined");
    b.shell(WHO_AND_WRITE);
    let out = b.run_ok().stdout.clone();
    assert!(out.contains("wrote"), "{out}");
    if lsm == Lsm::AppArmor {
        assert_eq!(label_of(&out), "unconfined", "{out}");
    }
}

#[test]
fn exec_keeps_the_containers_profile_and_apparmor_flag_switches_it() {
    let lsm = active_lsm();
    if lsm == Lsm::AppArmor {
        load_deny_tmp_profile();
    }
    let mut b = bundle_with_writable_tmp();
    b.config["process"]["apparmorProfile"] = json!(DENY_TMP_PROFILE);
    b.probe(&["wait-signal"]);
    let c = b.start();
    c.wait_probe_ready();
    let kept = c.exec(&[], &["sh", "-c", WHO_AND_WRITE]).ok().stdout.clone();
    let switched = c.exec(&["--apparmor", "unconfined"], &["sh", "-c", WHO_AND_WRITE]).ok().stdout.clone();
    c.delete(&["--force"]).ok();
    if lsm == Lsm::AppArmor {
        assert_eq!(label_of(&kept), format!("{DENY_TMP_PROFILE} (enforce)"), "{kept}");
        assert!(kept.contains("denied"), "{kept}");
        assert_eq!(label_of(&switched), "unconfined", "{switched}");
        assert!(switched.contains("wrote"), "{switched}");
    } else {
        assert!(kept.contains("wrote") && switched.contains("wrote"), "{kept}{switched}");
    }
}

/// A context Debian's reference policy has, with MCS categories.
const PROCESS_LABEL: &str = "system_u:system_r:unconfined_t:s0:c1,c2";
const OTHER_PROCESS_LABEL: &str = "system_u:system_r:unconfined_t:s0:c3,c4";
const MOUNT_LABEL: &str = "system_u:object_r:tmp_t:s0:c1,c2";

#[test]
fn selinux_label_is_the_programs_context_and_its_keyrings() {
    let lsm = active_lsm();
    let mut b = Bundle::new();
    b.config["process"]["selinuxLabel"] = json!(PROCESS_LABEL);
    let reports = b.run_probes(&[&["read", "/proc/self/attr/current"], &["keyring-label"]]);
    if lsm == Lsm::SELinux {
        assert_eq!(
            reports[0]["content"].as_str().map(|c| c.trim_end_matches('\0')),
            Some(PROCESS_LABEL),
            "{reports:?}"
        );
        assert_eq!(reports[1]["content"], PROCESS_LABEL, "the session keyring's label: {reports:?}");
    } else {
        assert_ne!(reports[0]["content"], PROCESS_LABEL, "{reports:?}");
    }
}

#[test]
fn selinux_label_the_policy_does_not_know_fails_create() {
    let lsm = active_lsm();
    let mut b = Bundle::new();
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:anchor_no_such_t:s0");
    b.args(&["true"]);
    if lsm == Lsm::SELinux {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&[
            "process.selinuxLabel: \"system_u:system_r:anchor_no_such_t:s0\" is not a valid",
        ]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {}", out.stderr);
        assert_no_leftovers(&b, &c.id);
    } else {
        b.run_ok();
    }
}

#[test]
fn mount_label_is_the_context_of_the_containers_filesystems() {
    let lsm = active_lsm();
    let mut b = Bundle::new();
    b.config["linux"]["mountLabel"] = json!(MOUNT_LABEL);
    b.add_mount(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    let paths = ["/scratch", "/dev", "/dev/null", "/dev/pts", "/dev/mqueue", "/proc/kcore"];
    let invocations: Vec<Vec<&str>> = paths.iter().map(|p| vec!["xattr", *p, "security.selinux"]).collect();
    let invocations: Vec<&[&str]> = invocations.iter().map(|v| v.as_slice()).collect();
    let reports = b.run_probes(&invocations);
    if lsm == Lsm::SELinux {
        // The tmpfs mounts (/scratch, /dev), the nodes made in /dev, devpts, mqueue's
        // root, and the tmpfs that masks a directory (/proc/kcore is a file: /dev/null).
        for (path, report) in paths.iter().zip(&reports) {
            assert_eq!(report["content"], MOUNT_LABEL, "{path}: {report}");
        }
    } else {
        assert!(reports.iter().all(|r| r["content"] != MOUNT_LABEL), "{reports:?}");
    }
}

#[test]
fn exec_process_label_switches_the_context() {
    let lsm = active_lsm();
    let mut b = Bundle::new();
    b.config["process"]["selinuxLabel"] = json!(PROCESS_LABEL);
    b.probe(&["wait-signal"]);
    let c = b.start();
    c.wait_probe_ready();
    let kept = c.exec(&[], &["/probe", "read", "/proc/self/attr/current"]).ok().json();
    let switched = c
        .exec(&["--process-label", OTHER_PROCESS_LABEL], &["/probe", "read", "/proc/self/attr/current"])
        .ok()
        .json();
    c.delete(&["--force"]).ok();
    let context = |v: &Value| v["content"].as_str().unwrap_or("").trim_end_matches('\0').to_string();
    if lsm == Lsm::SELinux {
        assert_eq!(context(&kept), PROCESS_LABEL);
        assert_eq!(context(&switched), OTHER_PROCESS_LABEL);
    } else {
        assert_ne!(context(&switched), OTHER_PROCESS_LABEL);
    }
}

#[test]
fn features_report_the_lsms_this_kernel_has_enabled() {
    let lsm = active_lsm();
    let b = Bundle::new();
    let f = b.runtime(&["features"]).ok().json();
    assert_eq!(f["linux"]["apparmor"]["enabled"], lsm == Lsm::AppArmor, "{f:#}");
    assert_eq!(f["linux"]["selinux"]["enabled"], lsm == Lsm::SELinux, "{f:#}");
}
