//! linux.namespaces: new, shared with the host, joined by path; user and
//! time namespaces.

use spec_tests::*;

/// (config type, /proc/self/ns name)
const NET: (&str, &str) = ("network", "net");
const PID: (&str, &str) = ("pid", "pid");
const IPC: (&str, &str) = ("ipc", "ipc");
const UTS: (&str, &str) = ("uts", "uts");
const MNT: (&str, &str) = ("mount", "mnt");
const CGROUP: (&str, &str) = ("cgroup", "cgroup");

/// Probe namespace `proc_name` as seen inside a container built from `b`.
fn container_ns(b: &mut Bundle, proc_name: &str) -> String {
    let info = b.probe_info();
    info["namespaces"][proc_name].as_str().expect("namespace link").to_string()
}

fn check_new_namespace((kind, proc_name): (&str, &str)) {
    let mut b = Bundle::new();
    b.set_namespace(kind, None);
    assert_ne!(container_ns(&mut b, proc_name), ns_of("self", proc_name));
}

fn check_shared_namespace((kind, proc_name): (&str, &str)) {
    let mut b = Bundle::new();
    b.remove_namespace(kind);
    if kind == "uts" {
        // Setting a hostname requires a private UTS namespace.
        b.config.as_object_mut().unwrap().remove("hostname");
    }
    if kind == "mount" {
        // Masking needs a private mount namespace (runc refuses it too).
        without_masked_and_readonly_paths(&mut b);
    }
    assert_eq!(container_ns(&mut b, proc_name), ns_of("self", proc_name));
}

fn without_masked_and_readonly_paths(b: &mut Bundle) {
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
}

/// Joins the namespace of a host helper made with `unshare <flag>`.
fn check_joined_namespace((kind, proc_name): (&str, &str), unshare_flag: &str) {
    let helper = HostProcess::spawn("unshare", &[unshare_flag, "sleep", "60"]);
    let pid = helper.pid().to_string();
    wait_until("unshare to create the namespace", || {
        std::fs::read_link(format!("/proc/{pid}/ns/{proc_name}"))
            .is_ok_and(|l| l.to_string_lossy() != ns_of("self", proc_name))
    });
    let mut b = Bundle::new();
    b.set_namespace(kind, Some(&format!("/proc/{pid}/ns/{proc_name}")));
    assert_eq!(container_ns(&mut b, proc_name), ns_of(&pid, proc_name));
}

/// An empty path is Go's zero value: runc makes a new namespace for it (its run.bats
/// "joining existing container namespaces" sends `"path": ""` for the mount one).
#[test]
fn a_namespace_with_an_empty_path_is_a_new_one() {
    for (kind, proc_name) in [MNT, NET, UTS] {
        let mut b = Bundle::new();
        b.set_namespace(kind, Some(""));
        assert_ne!(container_ns(&mut b, proc_name), ns_of("self", proc_name), "{kind}");
    }
}

#[test]
fn new_pid_namespace_differs_from_host() {
    check_new_namespace(PID);
}

#[test]
fn new_network_namespace_differs_from_host() {
    check_new_namespace(NET);
}

#[test]
fn new_ipc_namespace_differs_from_host() {
    check_new_namespace(IPC);
}

#[test]
fn new_uts_namespace_differs_from_host() {
    check_new_namespace(UTS);
}

#[test]
fn new_mount_namespace_differs_from_host() {
    check_new_namespace(MNT);
}

#[test]
fn new_cgroup_namespace_differs_from_host() {
    check_new_namespace(CGROUP);
}

#[test]
fn unlisted_pid_namespace_is_shared_with_host() {
    check_shared_namespace(PID);
}

#[test]
fn unlisted_network_namespace_is_shared_with_host() {
    check_shared_namespace(NET);
}

#[test]
fn unlisted_ipc_namespace_is_shared_with_host() {
    check_shared_namespace(IPC);
}

#[test]
fn unlisted_uts_namespace_is_shared_with_host() {
    check_shared_namespace(UTS);
}

#[test]
fn unlisted_cgroup_namespace_is_shared_with_host() {
    check_shared_namespace(CGROUP);
}

#[test]
fn unlisted_mount_namespace_is_shared_with_host() {
    // The spec: an unlisted type is inherited from the runtime. (run_json checks that
    // no mount is left under the bundle.)
    check_shared_namespace(MNT);
}

#[test]
fn unlisted_user_and_time_namespaces_are_shared_with_host() {
    let mut b = Bundle::new();
    let info = b.probe_info();
    for kind in ["user", "time"] {
        assert_eq!(info["namespaces"][kind], json!(ns_of("self", kind)), "{kind}");
    }
}

#[test]
fn a_config_without_any_namespace_shares_every_one_of_the_runtimes() {
    let mut b = Bundle::new();
    b.config["linux"]["namespaces"] = json!([]);
    b.config.as_object_mut().unwrap().remove("hostname");
    without_masked_and_readonly_paths(&mut b);
    let info = b.probe_info();
    for kind in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
        assert_eq!(info["namespaces"][kind], json!(ns_of("self", kind)), "{kind}");
    }
}

#[test]
fn masked_paths_without_a_mount_namespace_are_refused_as_runc_does() {
    let mut b = Bundle::new();
    b.remove_namespace("mount");
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["without a private MNT namespace"]);
    assert_no_leftovers(&b, &c.id);
}

/// The optional fields (shared:N, master:N) of the host's `/` in mountinfo.
fn root_propagation() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/")).unwrap().to_string();
    let fields: Vec<&str> = line.split(" - ").next().unwrap().split(' ').collect();
    fields[6..].join(" ")
}

#[test]
fn a_container_in_the_host_mount_namespace_keeps_its_mounts_to_itself() {
    // runc makes the host's / rslave and leaves the container's mounts behind; here
    // the host's propagation is left alone, the container's mounts (its /proc) reach
    // no peer mount namespace, exec sees the rootfs, and delete removes them all.
    let mut b = Bundle::new();
    b.remove_namespace("mount").args(&["sleep", "300"]);
    without_masked_and_readonly_paths(&mut b);
    // The test directory shared with a peer mount namespace, as / is on systemd hosts.
    let _shared = HostMount::shared_bind(b.test_dir());
    let peer = HostProcess::spawn("unshare", &["-m", "--propagation", "unchanged", "sleep", "300"]);
    let peer_sees = |what: &std::path::Path| {
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", peer.pid())).unwrap_or_default();
        info.lines().any(|l| l.split(' ').nth(4).is_some_and(|m| std::path::Path::new(m).starts_with(what)))
    };
    wait_until("the peer mount namespace", || ns_of(&peer.pid().to_string(), "mnt") != ns_of("self", "mnt"));
    let propagation = root_propagation();
    let c = b.start();
    let proc_mount = b.rootfs().join("proc");
    assert!(
        mountinfo().iter().any(|m| m.mount_point == proc_mount),
        "the container's /proc is not in the host's mount table"
    );
    // The rootfs bind itself reaches the peer (it is made under a shared mount): the
    // set-up propagates, and what is mounted below the bind does not.
    assert!(
        peer_sees(&b.rootfs()),
        "the peer does not receive this directory's mounts: the test proves nothing"
    );
    assert!(!peer_sees(&proc_mount), "the container's /proc propagated into a peer mount namespace");
    assert_eq!(root_propagation(), propagation, "the host's / propagation changed");
    let exec = c.exec(&[], &["/probe", "info"]).ok().json();
    assert_eq!(exec["namespaces"]["mnt"], json!(ns_of("self", "mnt")));
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
    assert!(!peer_sees(&b.rootfs()), "the rootfs bind is left in a peer mount namespace");
}

#[test]
fn init_is_pid_1_in_new_pid_namespace() {
    let mut b = Bundle::new();
    let info = b.probe_info();
    assert_eq!(info["pid"], 1);
    assert_eq!(info["ppid"], 0);
}

#[test]
fn process_is_not_pid_1_in_host_pid_namespace() {
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    let info = b.probe_info();
    assert_ne!(info["pid"], 1);
}

#[test]
fn network_namespace_is_joined_by_path() {
    check_joined_namespace(NET, "--net");
}

#[test]
fn ipc_namespace_is_joined_by_path() {
    check_joined_namespace(IPC, "--ipc");
}

#[test]
fn uts_namespace_is_joined_by_path() {
    check_joined_namespace(UTS, "--uts");
}

#[test]
fn cgroup_namespace_is_joined_by_path() {
    check_joined_namespace(CGROUP, "--cgroup");
}

#[test]
fn pid_namespace_of_another_container_is_joined_by_path() {
    let mut first = Bundle::new();
    first.probe(&["wait-signal"]);
    let c = first.start();
    let pid = c.pid().to_string();
    let mut b = Bundle::new();
    b.set_namespace("pid", Some(&format!("/proc/{pid}/ns/pid")));
    let info = b.probe_info();
    assert_eq!(info["namespaces"]["pid"], ns_of(&pid, "pid"));
    assert_ne!(info["pid"], 1, "the other container's init is PID 1");
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&first, &c.id);
}

#[test]
fn user_namespace_applies_uid_and_gid_mappings() {
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536);
    let info = b.probe_info();
    assert_eq!(info["uid"], 0);
    assert_eq!(info["gid"], 0);
    assert_ne!(info["namespaces"]["user"], ns_of("self", "user"));
    let fields = |map: &Value| -> Vec<String> {
        map.as_str().expect("map text").split_whitespace().map(str::to_string).collect()
    };
    assert_eq!(fields(&info["uid_map"]), ["0", "100000", "65536"]);
    assert_eq!(fields(&info["gid_map"]), ["0", "100000", "65536"]);
}

/// Runs `check` with the PID of a running container that has a user namespace of its
/// own (uid 0 as 100000, gid 0 as 200000), then removes that container.
fn with_a_user_namespace_container(check: impl FnOnce(&str)) {
    let mut first = Bundle::new();
    first.user_namespace(100000, 65536);
    first.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    first.probe(&["wait-signal"]);
    let c = first.start();
    c.wait_probe_ready();
    check(&c.pid().to_string());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&first, &c.id);
}

/// A user namespace joined by path comes without mappings in the config; what init
/// opens as that namespace's root (the exec FIFO) must still belong to it, found from
/// the namespace as runc does (run.bats "joining existing container namespaces").
#[test]
fn another_containers_user_namespace_is_joined_by_path() {
    with_a_user_namespace_container(|pid| {
        let mut b = Bundle::new();
        b.set_namespace("user", Some(&format!("/proc/{pid}/ns/user")));
        let info = b.probe_info();
        assert_eq!(info["namespaces"]["user"], ns_of(pid, "user"));
        assert_eq!((info["uid"].as_u64(), info["gid"].as_u64()), (Some(0), Some(0)));
    });
}

/// A namespace the joined user namespace does not own (here the host's network
/// namespace) can only be joined before entering that user namespace: runc joins the
/// others first (userns.bats "userns join external namespaces [wrong userns owner]").
#[test]
fn a_namespace_the_joined_user_namespace_does_not_own_is_joined_too() {
    with_a_user_namespace_container(|pid| {
        let mut b = Bundle::new();
        b.set_namespace("user", Some(&format!("/proc/{pid}/ns/user")));
        b.set_namespace("network", Some("/proc/self/ns/net"));
        // sysfs takes the network namespace's owner: the host's /sys is bound instead.
        for m in b.config["mounts"].as_array_mut().unwrap() {
            if m["type"] == "sysfs" {
                *m = json!({"destination": m["destination"], "type": "bind", "source": "/sys", "options": ["rbind"]});
            }
        }
        let info = b.probe_info();
        assert_eq!(info["namespaces"]["user"], ns_of(pid, "user"));
        assert_eq!(info["namespaces"]["net"], ns_of("self", "net"));
    });
}

#[test]
fn time_namespace_applies_offsets() {
    let mut b = Bundle::new();
    b.set_namespace("time", None);
    b.config["linux"]["timeOffsets"] = json!({
        "monotonic": {"secs": 86400, "nanosecs": 0},
        "boottime": {"secs": 3600, "nanosecs": 500},
    });
    let out = b.run_probe(&["read", "/proc/self/timens_offsets"]);
    let offsets: Vec<Vec<String>> = out["content"]
        .as_str()
        .expect("timens_offsets readable")
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(offsets, [["monotonic", "86400", "0"], ["boottime", "3600", "500"]]);
}

#[test]
fn new_time_namespace_differs_from_host() {
    check_new_namespace(("time", "time"));
}

/// A veth pair on the host for one test (this kernel has no dummy interfaces): the
/// test moves the first end; the pair is deleted at the end if it is still there (a
/// container's namespace going away deletes a virtual interface moved in, and with a
/// veth its peer).
struct HostVeth(String, String);

impl HostVeth {
    fn new() -> Self {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("anch{}x{n}", std::process::id() % 100_000);
        let (moved, peer) = (format!("{name}a"), format!("{name}b"));
        let made = std::process::Command::new("ip")
            .args(["link", "add", &moved, "type", "veth", "peer", "name", &peer])
            .status();
        assert!(made.is_ok_and(|s| s.success()), "ip link add {moved} type veth peer name {peer}");
        HostVeth(moved, peer)
    }

    fn on_host(name: &str) -> bool {
        std::path::Path::new("/sys/class/net").join(name).exists()
    }
}

impl Drop for HostVeth {
    fn drop(&mut self) {
        for name in [&self.0, &self.1] {
            if Self::on_host(name) {
                let _ = std::process::Command::new("ip").args(["link", "del", name]).status();
            }
        }
    }
}

/// `linux.netDevices` (runtime-spec 1.3): a host interface is moved into the
/// container's network namespace, renamed there as `name` says; the namespace's end
/// deletes it, being virtual (runc's netdev.bats).
#[test]
fn a_net_device_moves_into_the_container_renamed() {
    let veth = HostVeth::new();
    let mut b = Bundle::new();
    b.config["linux"]["netDevices"] = json!({veth.0.clone(): {"name": "ctr0"}});
    let seen = b.run_probe(&["read", "/proc/net/dev"]);
    let devices = seen["content"].as_str().unwrap_or_default();
    assert!(devices.contains("ctr0:"), "{devices}");
    assert!(!devices.contains(&format!("{}:", veth.0)), "{devices}");
    assert!(!HostVeth::on_host(&veth.0), "moved");
    // The kernel tears the namespace down in the background: the pair goes then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while HostVeth::on_host(&veth.1) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!HostVeth::on_host(&veth.1), "the pair went with the container's namespace");
}

/// The kernel drops an interface's addresses when it changes namespace; runc adds the
/// permanent ones of global scope again inside and sets the interface up.
#[test]
fn a_moved_net_device_keeps_its_permanent_global_addresses_and_comes_up() {
    let veth = HostVeth::new();
    let ip = |args: &[&str]| {
        let status = std::process::Command::new("ip").args(args).status().unwrap();
        assert!(status.success(), "ip {args:?}");
    };
    ip(&["addr", "add", "10.251.7.2/24", "dev", &veth.0]);
    ip(&["-6", "addr", "add", "fd00:a1::2/64", "dev", &veth.0, "nodad"]);
    // Not carried: a dynamic address, and one of link scope.
    ip(&["addr", "add", "10.251.8.2/24", "dev", &veth.0, "valid_lft", "300", "preferred_lft", "300"]);
    ip(&["addr", "add", "10.251.9.2/24", "dev", &veth.0, "scope", "link"]);
    let mut b = Bundle::new();
    b.config["linux"]["netDevices"] = json!({veth.0.clone(): {"name": "ctr0"}});
    let seen = b.run_probes(&[
        &["read", "/proc/net/fib_trie"],
        &["read", "/proc/net/if_inet6"],
        &["read", "/sys/class/net/ctr0/flags"],
    ]);
    let text = |i: usize| seen[i]["content"].as_str().unwrap_or_default().to_string();
    let (v4, v6, flags) = (text(0), text(1), text(2));
    assert!(v4.contains("10.251.7.2"), "the permanent global IPv4 address: {v4}");
    assert!(!v4.contains("10.251.8.2") && !v4.contains("10.251.9.2"), "not the others: {v4}");
    assert!(
        v6.lines().any(|l| l.starts_with("fd0000a1000000000000000000000002") && l.ends_with("ctr0")),
        "the IPv6 one, on ctr0: {v6}"
    );
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "IFF_UP: {flags:#x}");
}

#[test]
fn net_devices_that_cannot_be_moved_are_refused_at_create() {
    let veth = HostVeth::new();
    let cases = [
        (json!({"nosuchdev0": {}}), false, "nosuchdev0"),
        (json!({veth.0.clone(): {"name": "a/b"}}), false, "not a valid interface name"),
        (json!({veth.0.clone(): {}}), true, "needs a network namespace"),
    ];
    for (devices, host_network, words) in cases {
        let mut b = Bundle::new();
        b.config["linux"]["netDevices"] = devices;
        if host_network {
            b.remove_namespace("network");
        }
        let (c, out) = b.try_create(&[]);
        out.fails_mentioning(&["netDevices", words]);
        assert_no_leftovers(&b, &c.id);
        assert!(HostVeth::on_host(&veth.0));
    }
}
