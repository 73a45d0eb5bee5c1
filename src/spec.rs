//! The config.json `spec` writes: the same default container `runc spec` describes
//! (a shell in a read-only busybox-style rootfs with the usual mounts, namespaces and
//! masked paths), and its rootless variant.

use serde_json::{json, Value};

pub fn default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut spec = json!({
        "ociVersion": crate::config::SPEC_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "anchor",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                           {"type": "mount"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                            "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    });
    // As runc: a cgroup namespace on a pure cgroup-v2 host only (runc's own tests
    // add one to the spec of a v1 host, and a second would be refused).
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        spec["linux"]["namespaces"].as_array_mut().expect("namespaces").push(json!({"type": "cgroup"}));
    }
    if rootless {
        make_rootless(&mut spec);
    }
    spec
}

/// What an unprivileged user can run: a user namespace mapping only their own IDs,
/// the host's network, no cgroup limits, /sys bind-mounted (sysfs cannot be mounted), no devpts gid.
fn make_rootless(spec: &mut Value) {
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let linux = &mut spec["linux"];
    let namespaces = linux["namespaces"].as_array_mut().expect("namespaces");
    // As runc: an unprivileged user could not configure a new network namespace.
    namespaces.retain(|ns| ns["type"] != "network");
    namespaces.push(json!({"type": "user"}));
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    linux.as_object_mut().expect("linux").remove("resources");
    for m in spec["mounts"].as_array_mut().expect("mounts") {
        match m["destination"].as_str() {
            Some("/dev/pts") => {
                if let Some(opts) = m["options"].as_array_mut() {
                    opts.retain(|o| o != "gid=5");
                }
            }
            Some("/sys") => {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_as_an_oci_spec() {
        for rootless in [false, true] {
            let spec: oci_spec::runtime::Spec = serde_json::from_value(default_spec(rootless)).unwrap();
            assert_eq!(spec.process().as_ref().unwrap().args().as_ref().unwrap(), &["sh"]);
        }
    }
}
