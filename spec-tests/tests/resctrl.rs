//! `linux.intelRdt` (resctrl). This host's CPU has no RDT and its kernel no resctrl
//! filesystem, nor does the TCG guest's emulated CPU: here the tests check the
//! error the spec asks for. On a host with resctrl mounted they run a container in
//! a group of its own and check the kernel's side.

use spec_tests::*;
use std::path::Path;

fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.contains(" - resctrl "))
}

#[test]
fn intel_rdt_puts_the_container_in_its_own_group_or_fails_without_resctrl() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b.config["linux"]["intelRdt"] = json!({"enableMonitoring": true});
    if !resctrl_mounted() {
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["linux.intelRdt: no resctrl filesystem is mounted"]);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert_no_leftovers(&b, &c.id);
        return;
    }
    let c = b.start();
    c.wait_probe_ready();
    let group = Path::new("/sys/fs/resctrl").join(&c.id);
    let tasks = std::fs::read_to_string(group.join("tasks")).unwrap();
    assert!(tasks.lines().any(|t| t == c.pid().to_string()), "init in the group: {tasks}");
    let monitor = group.join("mon_groups").join(&c.id);
    let tasks = std::fs::read_to_string(monitor.join("tasks")).unwrap();
    assert!(tasks.lines().any(|t| t == c.pid().to_string()), "and in its monitoring group: {tasks}");
    c.delete(&["--force"]).ok();
    assert!(!group.exists(), "the container's own group is removed");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn features_report_intel_rdt_with_schemata_and_monitoring() {
    let b = Bundle::new();
    let features = b.runtime(&["features"]).ok().json();
    assert_eq!(features["linux"]["intelRdt"], json!({"enabled": true, "schemata": true, "monitoring": true}));
}
