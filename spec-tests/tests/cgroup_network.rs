//! net_cls and net_prio: cgroup v1 controllers that this host's kernel has but does
//! not mount (cgroup v2 has no such controllers at all: see `cgroups.rs` for the
//! warning there). The test mounts them as one hierarchy, as systemd does, so it
//! lives in a test binary of its own, which cargo runs apart from the others.

use spec_tests::*;
use std::path::Path;
use std::process::Command;

/// Mounts net_cls,net_prio under /sys/fs/cgroup for as long as it lives.
struct NetHierarchy {
    mounted: bool,
}

const MOUNT: &str = "/sys/fs/cgroup/net_cls,net_prio";
const LINKS: [&str; 2] = ["/sys/fs/cgroup/net_cls", "/sys/fs/cgroup/net_prio"];

impl NetHierarchy {
    fn mount() -> Option<Self> {
        if Path::new(MOUNT).exists() {
            return Some(NetHierarchy { mounted: false });
        }
        std::fs::create_dir(MOUNT).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "cgroup", "-o", "net_cls,net_prio", "net_cls", MOUNT])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(MOUNT);
            return None;
        }
        for link in LINKS {
            let _ = std::os::unix::fs::symlink("net_cls,net_prio", link);
        }
        Some(NetHierarchy { mounted: true })
    }
}

impl Drop for NetHierarchy {
    fn drop(&mut self) {
        if self.mounted {
            for link in LINKS {
                let _ = std::fs::remove_file(link);
            }
            let _ = Command::new("umount").arg(MOUNT).status();
            let _ = std::fs::remove_dir(MOUNT);
        }
    }
}

#[test]
fn network_class_id_and_interface_priorities_are_written_on_v1() {
    if cgroup_v2_only() {
        eprintln!("skipped: cgroup v2 has no net_cls or net_prio controller");
        return;
    }
    let Some(_hierarchy) = NetHierarchy::mount() else {
        panic!("could not mount net_cls,net_prio at {MOUNT}: this kernel lists both in /proc/cgroups");
    };
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    b.config["linux"]["resources"] =
        json!({"network": {"classID": 1048577, "priorities": [{"name": "lo", "priority": 5}]}});
    let c = b.start();
    assert_eq!(read_cgroup("net_cls", &c.id, "net_cls.classid"), "1048577");
    let map = read_cgroup("net_prio", &c.id, "net_prio.ifpriomap");
    assert!(map.lines().any(|l| l == "lo 5"), "{map}");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}
