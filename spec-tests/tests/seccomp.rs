//! `linux.seccomp`: profiles are compiled by the runtime and enforced on the
//! container's process; checked from inside with the probe and busybox.

use spec_tests::*;

/// The seccomp profile podman 4.3 generates for `podman run` (containerd's is
/// the same list): about 300 allowed syscalls, ERRNO by default.
fn podman_profile() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/podman-default-seccomp.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture is JSON")
}

/// A profile that allows everything but the given rules.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules})
}

fn with_profile(profile: Value) -> Bundle {
    let mut b = Bundle::new();
    b.config["linux"]["seccomp"] = profile;
    b
}

const MKDIR: [&str; 2] = ["mkdir", "mkdirat"];

#[test]
fn podman_default_profile_is_loaded_and_the_program_runs() {
    let mut b = with_profile(podman_profile());
    let info = b.probe_info();
    assert_eq!(info["seccomp"], 2, "seccomp filter mode expected: {info:#}");
    assert_eq!(info["uid"], 0);
}

#[test]
fn podman_default_profile_denies_unlisted_syscalls_with_its_default_errno() {
    // The real profile with mkdir and mkdirat taken off its lists: they meet the
    // default action, with the profile's defaultErrnoRet.
    let mut profile = podman_profile();
    for entry in profile["syscalls"].as_array_mut().unwrap() {
        entry["names"].as_array_mut().unwrap().retain(|n| !MKDIR.contains(&n.as_str().unwrap()));
    }
    profile["defaultErrnoRet"] = json!(libc::EXDEV);
    let mut b = with_profile(profile);
    let out = b.run_probe(&["mkdir", "/tmp/unlisted"]);
    assert_eq!(out["errno"], libc::EXDEV, "{out:#}");
}

#[test]
fn errno_rule_blocks_mkdir_with_eperm() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}])));
    let out = b.run_probe(&["mkdir", "/tmp/blocked"]);
    assert_eq!(out["ok"], false, "{out:#}");
    assert_eq!(out["errno"], libc::EPERM, "{out:#}");
}

#[test]
fn errno_ret_sets_the_returned_errno() {
    let mut b = with_profile(allow_all_but(
        json!([{"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}]),
    ));
    let out = b.run_probe(&["mkdir", "/tmp/blocked"]);
    assert_eq!(out["errno"], libc::ENOSYS, "{out:#}");
}

#[test]
fn kill_process_action_is_seen_as_sigsys() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_KILL_PROCESS"}])));
    b.probe(&["mkdir", "/tmp/x"]);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(128 + libc::SIGSYS), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn log_action_lets_the_syscall_through() {
    let mut b = with_profile(allow_all_but(json!([{"names": MKDIR, "action": "SCMP_ACT_LOG"}])));
    b.config["root"]["readonly"] = json!(false);
    let out = b.run_probe(&["mkdir", "/tmp/logged"]);
    assert_eq!(out["ok"], true, "{out:#}");
}

#[test]
fn argument_conditions_select_the_calls_a_rule_applies_to() {
    // personality(PER_LINUX32) refused, personality(PER_LINUX) allowed.
    let rule = json!([{"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                       "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]);
    let mut b = with_profile(allow_all_but(rule));
    b.args(&["sh", "-c", "linux64 true && echo linux64-ok; linux32 true || echo linux32-refused"]);
    let out = b.run_ok();
    assert_eq!(out.stdout, "linux64-ok\nlinux32-refused\n", "{out:#?}");
}

#[test]
fn entries_for_one_syscall_combine_as_or() {
    // podman's profile allows personality through five entries, one value each.
    let mut b = with_profile(podman_profile());
    b.args(&["sh", "-c", "linux64 true && linux32 uname -m"]);
    assert_eq!(b.run_ok().stdout, "i686\n");
}

#[test]
fn malformed_profiles_are_rejected_without_leftovers() {
    let bad_action = json!({"defaultAction": "SCMP_ACT_NOPE"});
    let bad_index = allow_all_but(json!([{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                                          "args": [{"index": 9, "value": 0, "op": "SCMP_CMP_EQ"}]}]));
    let notify = allow_all_but(json!([{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]));
    for (profile, words) in
        [(bad_action, &["SCMP_ACT_NOPE"][..]), (bad_index, &["index"][..]), (notify, &["NOTIFY"][..])]
    {
        let b = with_profile(profile);
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(words);
        assert_no_leftovers(&b, &c.id);
    }
}
