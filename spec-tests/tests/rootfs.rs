//! root, mounts, devices, maskedPaths and readonlyPaths as seen from inside
//! the container.

use spec_tests::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const EROFS: i64 = libc::EROFS as i64;

fn errno(result: &Value) -> Option<i64> {
    assert_eq!(result["ok"], false, "expected failure: {result}");
    result["errno"].as_i64()
}

/// A host directory holding one file `name` with `content`.
fn host_dir_with_file(b: &Bundle, dir: &str, name: &str, content: &str) -> std::path::PathBuf {
    let d = b.host_dir(dir);
    write_file(&d.join(name), content);
    d
}

fn writable_root(b: &mut Bundle) {
    b.config["root"]["readonly"] = json!(false);
}

#[test]
fn readonly_root_rejects_writes() {
    let mut b = Bundle::new();
    assert_eq!(b.config["root"]["readonly"], true);
    let out = b.run_probe(&["write", "/newfile", "x"]);
    assert_eq!(errno(&out), Some(EROFS));
    assert!(!b.rootfs().join("newfile").exists());
}

#[test]
fn writable_root_accepts_writes() {
    let mut b = Bundle::new();
    writable_root(&mut b);
    let out = b.run_probe(&["write", "/newfile", "written inside"]);
    assert_eq!(out["ok"], true, "{out}");
    let host = fs::read_to_string(b.rootfs().join("newfile")).unwrap();
    assert_eq!(host, "written inside");
}

#[test]
fn mounts_are_applied_in_config_order() {
    // Two binds on one destination: the later one must end up on top.
    let mut b = Bundle::new();
    let first = host_dir_with_file(&b, "first", "from-first", "");
    let second = host_dir_with_file(&b, "second", "from-second", "");
    b.bind(&first, "/stacked", &[]).bind(&second, "/stacked", &[]);
    let out = b.run_probe(&["ls", "/stacked"]);
    assert_eq!(out["content"], json!(["from-second"]));
}

/// The spec wants an absolute destination; runc takes a relative one as relative to
/// the rootfs, with a warning (its idmap.bats "idmap mount with relative path"), and
/// one that starts with the rootfs's host path as that path in the container (its
/// mounts.bats "mount order" tests). Followed as runc does; neither reaches outside
/// the rootfs.
#[test]
fn relative_and_rootfs_prefixed_mount_destinations_are_taken_below_the_rootfs() {
    let mut b = Bundle::new();
    let dir = host_dir_with_file(&b, "relative", "seen", "");
    let prefixed = format!("{}/mnt/prefixed", b.rootfs().display());
    b.bind(&dir, "tmp/../../mnt/relative", &[]).bind(&dir, &prefixed, &[]);
    let reports = b.run_probes(&[&["ls", "/mnt/relative"], &["ls", "/mnt/prefixed"]]);
    for report in reports {
        assert_eq!(report["content"], json!(["seen"]));
    }
    assert!(!b.rootfs().join(prefixed.trim_start_matches('/')).exists(), "the host path was not made inside");
}

#[test]
fn a_relative_mount_destination_is_warned_about() {
    let mut b = Bundle::new();
    let dir = host_dir_with_file(&b, "relative", "seen", "");
    b.bind(&dir, "mnt/relative", &[]).args(&["true"]);
    let out = b.run_ok();
    let warning = out.stderr.lines().find(|l| l.contains("mnt/relative")).unwrap_or_default();
    assert!(warning.contains("is not absolute"), "{}", out.stderr);
}

#[test]
fn nested_mount_after_its_parent_is_visible() {
    // /outer/inner is mounted after /outer, so it sits on top of the tmpfs.
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/outer", "type": "tmpfs", "source": "outer"}));
    b.add_mount(json!({"destination": "/outer/inner", "type": "tmpfs", "source": "inner"}));
    let info = b.probe_info();
    assert_eq!(probe_mount(&info, "/outer")["source"], "outer");
    assert_eq!(probe_mount(&info, "/outer/inner")["source"], "inner");
}

#[test]
fn tmpfs_mount_honours_size_and_mode() {
    let mut b = Bundle::new();
    b.add_mount(json!({
        "destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "size=1m", "mode=710"]
    }));
    // One run: runc copies the mode of a pre-existing mount point onto the
    // tmpfs, and a second run would find /scratch already created.
    let [info, st] = <[Value; 2]>::try_from(b.run_probes(&[&["info"], &["stat", "/scratch"]])).unwrap();
    let m = probe_mount(&info, "/scratch");
    assert_eq!(m["fs_type"], "tmpfs");
    let sup = m["super_options"].as_str().unwrap();
    assert!(sup.contains("size=1024k"), "{m}");
    assert!(mount_options(m).contains(&"nosuid".to_string()), "{m}");
    assert_eq!(st["mode"], 0o710);
}

/// runc (its issues 3911 and 3952): a tmpfs on a directory the image has takes the
/// directory's mode, setuid, setgid and sticky bits included, unless its options
/// give one; on a directory made for it, tmpfs's default 1777.
#[test]
fn tmpfs_on_an_image_directory_takes_its_mode_unless_the_options_give_one() {
    use std::os::unix::fs::PermissionsExt;
    let mut b = Bundle::new();
    for (dir, mode) in [("kept", 0o7777), ("explicit", 0o710)] {
        let path = b.rootfs().join(dir);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    }
    b.add_mount(json!({"destination": "/kept", "type": "tmpfs", "source": "tmpfs", "options": ["nodev"]}));
    b.add_mount(
        json!({"destination": "/explicit", "type": "tmpfs", "source": "tmpfs", "options": ["mode=0444"]}),
    );
    b.add_mount(json!({"destination": "/made", "type": "tmpfs", "source": "tmpfs"}));
    let modes: Vec<Value> = b
        .run_probes(&[&["stat", "/kept"], &["stat", "/explicit"], &["stat", "/made"]])
        .iter()
        .map(|st| st["mode"].clone())
        .collect();
    assert_eq!(modes, [json!(0o7777), json!(0o444), json!(0o1777)]);
}

#[test]
fn tmpfs_tmpcopyup_starts_with_the_images_files() {
    // runc's extension, which podman puts on every tmpfs it asks for.
    let mut b = Bundle::new();
    let seed = b.rootfs().join("seed");
    fs::create_dir_all(seed.join("sub")).unwrap();
    write_file(&seed.join("file"), "from the image");
    std::os::unix::fs::symlink("file", seed.join("link")).unwrap();
    std::os::unix::fs::chown(seed.join("file"), Some(1000), Some(1000)).unwrap();
    fs::set_permissions(seed.join("sub"), std::os::unix::fs::PermissionsExt::from_mode(0o701)).unwrap();
    b.add_mount(json!({
        "destination": "/seed", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "nosuid"]
    }));
    let probes: &[&[&str]] = &[
        &["info"],
        &["read", "/seed/link"],
        &["stat", "/seed/file"],
        &["stat", "/seed/sub"],
        &["write", "/seed/new", "x"],
    ];
    let [info, read, file, sub, write] = <[Value; 5]>::try_from(b.run_probes(probes)).unwrap();
    assert_eq!(probe_mount(&info, "/seed")["fs_type"], "tmpfs");
    assert_eq!(read["content"], "from the image");
    assert_eq!((file["uid"].clone(), file["gid"].clone()), (json!(1000), json!(1000)), "{file}");
    assert_eq!(sub["mode"], 0o701, "{sub}");
    assert_eq!(write["ok"], true, "{write}");
    // The copy is the tmpfs's: the image underneath is untouched.
    assert!(!seed.join("new").exists());
}
#[test]
fn read_only_bind_mount_of_host_dir() {
    let mut b = Bundle::new();
    let host = host_dir_with_file(&b, "data", "file", "host content");
    b.bind(&host, "/data", &["ro"]);
    let read = b.run_probe(&["read", "/data/file"]);
    assert_eq!(read["content"], "host content");
    let write = b.run_probe(&["write", "/data/new", "x"]);
    assert_eq!(errno(&write), Some(EROFS));
    assert!(!host.join("new").exists());
    let info = b.probe_info();
    assert!(mount_options(probe_mount(&info, "/data")).contains(&"ro".to_string()));
}

#[test]
fn bind_mount_nosuid_nodev_noexec_flags_are_applied() {
    let mut b = Bundle::new();
    let host = b.host_dir("flags");
    b.bind(&host, "/flags", &["nosuid", "nodev", "noexec"]);
    let info = b.probe_info();
    let opts = mount_options(probe_mount(&info, "/flags"));
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&flag.to_string()), "{flag} missing: {opts:?}");
    }
}

/// A host dir `tree` with a tmpfs submount at `tree/sub` holding `deep`.
fn tree_with_submount(b: &Bundle) -> (std::path::PathBuf, HostMount) {
    let tree = b.host_dir("tree");
    let mount = HostMount::tmpfs(&tree.join("sub"), "submount");
    write_file(&tree.join("sub/deep"), "");
    (tree, mount)
}

#[test]
fn rbind_mount_includes_submounts() {
    let mut b = Bundle::new();
    let (tree, _mount) = tree_with_submount(&b);
    b.add_mount(json!({
        "destination": "/tree", "type": "bind", "source": tree, "options": ["rbind"]
    }));
    let out = b.run_probe(&["ls", "/tree/sub"]);
    assert_eq!(out["content"], json!(["deep"]));
}

#[test]
fn bind_mount_excludes_submounts() {
    let mut b = Bundle::new();
    let (tree, _mount) = tree_with_submount(&b);
    b.bind(&tree, "/tree", &[]);
    let out = b.run_probe(&["ls", "/tree/sub"]);
    assert_eq!(out["content"], json!([]));
}

#[test]
fn bind_mount_rshared_propagation_is_applied() {
    let mut b = Bundle::new();
    let host = b.host_dir("shared-prop");
    b.bind(&host, "/prop", &["rshared"]);
    let info = b.probe_info();
    let m = probe_mount(&info, "/prop");
    assert!(m["propagation"].as_str().unwrap().contains("shared:"), "{m}");
}

#[test]
fn bind_mount_propagation_options_apply_in_order() {
    // rshared then rprivate: the last one wins.
    let mut b = Bundle::new();
    let host = b.host_dir("private-prop");
    b.bind(&host, "/prop", &["rshared", "rprivate"]);
    let info = b.probe_info();
    assert_eq!(probe_mount(&info, "/prop")["propagation"], "");
}

/// Whether a tmpfs the host mounts inside the rootfs after the container
/// started shows up in the container, for a `linux.rootfsPropagation`
/// (`None`: unset). The test directory is made a shared mount, as `/` is on
/// systemd hosts.
fn host_mount_reaches_container(propagation: Option<&str>) -> bool {
    let mut b = Bundle::new();
    let _shared = HostMount::shared_bind(b.test_dir());
    let shared = b.share();
    if let Some(p) = propagation {
        b.config["linux"]["rootfsPropagation"] = json!(p);
    }
    b.shell("while [ ! -e /shared/go ]; do sleep 0.05; done; /probe info");
    let late = b.rootfs().join("late");
    fs::create_dir(&late).unwrap();
    let c = b.start();
    let marker = format!("late-{}", c.id);
    let late_mount = HostMount::tmpfs(&late, &marker);
    write_file(&shared.join("go"), "");
    let info = c.output_json();
    drop(late_mount);
    c.delete(&[]).ok();
    assert_no_leftovers(&b, &c.id);
    info["mounts"].as_array().unwrap().iter().any(|m| m["source"] == marker.as_str())
}

#[test]
fn rootfs_propagation_rslave_receives_host_mounts() {
    assert!(host_mount_reaches_container(Some("rslave")));
}

#[test]
fn rootfs_propagation_defaults_to_rslave() {
    assert!(host_mount_reaches_container(None));
}

#[test]
fn rootfs_propagation_private_isolates_from_host_mounts() {
    assert!(!host_mount_reaches_container(Some("private")));
}

#[test]
fn rootfs_propagation_rshared_carries_container_mounts_to_the_host() {
    // Kubernetes' Bidirectional mounts: with rshared, a mount the container makes on
    // a shared volume appears on the host.
    let mut b = Bundle::new();
    let _shared = HostMount::shared_bind(b.test_dir());
    // A volume is a shared mount of its own (kubelet makes pod volume directories so).
    let vol = b.host_dir("vol");
    let _vol_shared = HostMount::shared_bind(&vol);
    b.bind(&vol, "/vol", &["rshared"]);
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    let admin = json!(["CAP_SYS_ADMIN"]);
    b.config["process"]["capabilities"] = json!({"bounding": admin, "effective": admin, "permitted": admin});
    let marker = format!("bidir-{}", std::process::id());
    b.args(&["sh", "-c", &format!("mkdir -p /vol/m && mount -t tmpfs {marker} /vol/m")]);
    b.run_ok();
    let on_host = vol.join("m");
    let seen = mountinfo().iter().any(|m| m.mount_point == on_host && m.source == marker);
    let _cleanup = HostMount(on_host.clone());
    assert!(seen, "the container's mount did not reach the host at {}", on_host.display());
}

#[test]
fn missing_mount_destination_is_created() {
    let mut b = Bundle::new();
    b.add_mount(json!({"destination": "/does/not/exist", "type": "tmpfs", "source": "auto"}));
    let info = b.probe_info();
    assert_eq!(probe_mount(&info, "/does/not/exist")["source"], "auto");
    b.probe(&["stat", "/does/not/exist"]);
    assert_eq!(b.run_json()["kind"], "dir");
}

#[test]
fn bind_mount_of_file_creates_file_destination() {
    let mut b = Bundle::new();
    let host = host_dir_with_file(&b, "conf", "app.conf", "key=value\n");
    b.bind(&host.join("app.conf"), "/etc/app/app.conf", &["ro"]);
    let out = b.run_probe(&["read", "/etc/app/app.conf"]);
    assert_eq!(out["content"], "key=value\n");
}

#[test]
fn no_pivot_runs_container_in_its_rootfs() {
    let mut b = Bundle::new();
    b.probe(&["read", "/etc/passwd"]);
    let (c, out) = b.run(&["--no-pivot"]);
    out.ok();
    let ours = fs::read_to_string(b.rootfs().join("etc/passwd")).unwrap();
    assert_eq!(out.json()["content"], ours.as_str());
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn default_devices_exist_with_right_numbers() {
    let mut b = Bundle::new();
    let devices = [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ];
    let stats: Vec<[&str; 2]> = devices.iter().map(|(d, ..)| ["stat", *d]).collect();
    let invocations: Vec<&[&str]> = stats.iter().map(|s| &s[..]).collect();
    for ((dev, major, minor), st) in devices.iter().zip(b.run_probes(&invocations)) {
        assert_eq!(st["kind"], "char", "{dev}: {st}");
        assert_eq!(st["major"], *major, "{dev}");
        assert_eq!(st["minor"], *minor, "{dev}");
    }
}

#[test]
fn default_dev_symlinks_exist() {
    let mut b = Bundle::new();
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ];
    let stats: Vec<[&str; 2]> = links.iter().map(|(l, _)| ["stat", *l]).collect();
    let invocations: Vec<&[&str]> = stats.iter().map(|s| &s[..]).collect();
    for ((link, target), st) in links.iter().zip(b.run_probes(&invocations)) {
        assert_eq!(st["kind"], "symlink", "{link}: {st}");
        assert_eq!(st["target"], *target, "{link}");
    }
}

#[test]
fn linux_devices_entry_creates_node_with_mode_and_owner() {
    let mut b = Bundle::new();
    b.config["linux"]["devices"] = json!([{
        "path": "/dev/anchor-null", "type": "c", "major": 1, "minor": 3,
        "fileMode": 0o640, "uid": 1000, "gid": 2000
    }]);
    let st = b.run_probe(&["stat", "/dev/anchor-null"]);
    assert_eq!(st["kind"], "char");
    assert_eq!((st["major"].as_u64(), st["minor"].as_u64()), (Some(1), Some(3)));
    assert_eq!(st["mode"], 0o640);
    assert_eq!((st["uid"].as_u64(), st["gid"].as_u64()), (Some(1000), Some(2000)));
}

#[test]
fn masked_file_reads_empty() {
    let mut b = Bundle::new();
    b.write_rootfs_file("secret.txt", "top secret");
    b.config["linux"]["maskedPaths"] = json!(["/secret.txt"]);
    let out = b.run_probe(&["read", "/secret.txt"]);
    assert_eq!(out["content"], "");
}

#[test]
fn masked_directory_is_empty() {
    let mut b = Bundle::new();
    b.write_rootfs_file("secrets/key", "top secret");
    b.config["linux"]["maskedPaths"] = json!(["/secrets"]);
    let out = b.run_probe(&["ls", "/secrets"]);
    assert_eq!(out["content"], json!([]));
}

/// runc masks every directory with one read-only tmpfs (mask.bats "directories share
/// tmpfs"); each stays empty and read-only.
#[test]
fn masked_directories_share_one_read_only_tmpfs() {
    let mut b = Bundle::new();
    for dir in ["a", "b", "c"] {
        b.write_rootfs_file(&format!("{dir}/secret"), "top secret");
    }
    b.config["linux"]["maskedPaths"] = json!(["/a", "/b", "/c"]);
    b.shell("stat -c %d /a /b /c | uniq | wc -l; ls -A /a /b /c | grep -c secret; touch /c/x 2>&1; true");
    let out = b.run_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[..2], ["1", "0"], "one filesystem, nothing visible: {out:#?}");
    assert!(lines[2].contains("Read-only file system"), "{out:#?}");
}

#[test]
fn masked_path_that_does_not_exist_is_ignored() {
    let mut b = Bundle::new();
    b.config["linux"]["maskedPaths"] = json!(["/no/such/path"]);
    b.probe(&["exit", "0"]).run_ok();
}

#[test]
fn readonly_path_rejects_writes() {
    let mut b = Bundle::new();
    writable_root(&mut b);
    b.write_rootfs_file("locked/file", "");
    b.write_rootfs_file("open/file", "");
    b.config["linux"]["readonlyPaths"] = json!(["/locked"]);
    let locked = b.run_probe(&["write", "/locked/file", "x"]);
    assert_eq!(errno(&locked), Some(EROFS));
    let open = b.run_probe(&["write", "/open/file", "x"]);
    assert_eq!(open["ok"], true, "only the listed path is read-only: {open}");
}

#[test]
fn default_template_mounts_are_present() {
    let mut b = Bundle::new();
    let info = b.probe_info();
    for (dest, fs_type) in [
        ("/proc", "proc"),
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert_eq!(probe_mount(&info, dest)["fs_type"], fs_type, "{dest}");
    }
    assert!(mount_options(probe_mount(&info, "/sys")).contains(&"ro".to_string()));
}

#[test]
fn rootfs_is_the_container_root() {
    let mut b = Bundle::new();
    let out = b.run_probe(&["ls", "/"]);
    let mut expected: Vec<String> = fs::read_dir(b.rootfs())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort();
    // Read after the run: directories the runtime created are on both sides.
    assert_eq!(out["content"], json!(expected));
}

/// A host directory holding a file owned by root and one owned by uid and gid 1000.
fn dir_with_owners(b: &Bundle) -> std::path::PathBuf {
    let dir = b.host_dir("idmapped");
    fs::write(dir.join("root-owned"), "").unwrap();
    fs::write(dir.join("owned-by-1000"), "").unwrap();
    std::os::unix::fs::chown(dir.join("owned-by-1000"), Some(1000), Some(1000)).unwrap();
    dir
}

#[test]
fn idmapped_mount_shows_owners_through_its_mapping() {
    let mut b = Bundle::new();
    let dir = dir_with_owners(&b);
    // On-disk IDs 0..999 read as 5000..5999; 1000 is outside the mapping.
    let map = json!([{"containerID": 0, "hostID": 5000, "size": 1000}]);
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind", "idmap"],
                       "uidMappings": map, "gidMappings": map}));
    let got = b.run_probes(&[&["stat", "/data/root-owned"], &["stat", "/data/owned-by-1000"]]);
    assert_eq!((got[0]["uid"].as_u64(), got[0]["gid"].as_u64()), (Some(5000), Some(5000)), "{}", got[0]);
    assert_eq!(got[1]["uid"], 65534, "an unmapped owner shows as the overflow ID: {}", got[1]);
    // The source itself is unchanged.
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&fs::metadata(dir.join("root-owned")).unwrap()), 0);
}

#[test]
fn idmap_option_uses_the_containers_mappings_in_its_user_namespace() {
    let mut b = Bundle::new();
    let dir = dir_with_owners(&b);
    b.user_namespace(100000, 65536);
    // The container's root (host 100000) cannot create them in a rootfs owned by root.
    for mount_point in ["data", "plain"] {
        fs::create_dir_all(b.rootfs().join(mount_point)).unwrap();
    }
    b.add_mount(
        json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind", "idmap"]}),
    );
    b.add_mount(json!({"destination": "/plain", "type": "bind", "source": dir, "options": ["rbind"]}));
    let got = b.run_probes(&[
        &["stat", "/data/root-owned"],
        &["stat", "/data/owned-by-1000"],
        &["stat", "/plain/root-owned"],
    ]);
    // Through the mapping, files keep the owners they have on disk, as the
    // container's own IDs.
    assert_eq!(got[0]["uid"], 0, "{}", got[0]);
    assert_eq!(got[1]["uid"], 1000, "{}", got[1]);
    assert_eq!(got[2]["uid"], 65534, "without idmap host root is unmapped here: {}", got[2]);
}

/// A bind source inside the rootfs that lies on a mount the config makes before it
/// exists only in the container's mount namespace: it is bound from there, plain or
/// idmapped, with or without a user namespace (runc's mounts.bats "mount order,
/// container bind-mount source" and "container idmap source"; an idmapped one is
/// cloned by the parent from init's mount namespace when init's turn comes).
#[test]
fn a_bind_source_on_an_earlier_mount_in_the_rootfs_is_bound_from_the_containers_tree() {
    let cases: [(&str, bool, bool, u64); 4] = [
        ("plain", false, false, 1000),
        ("plain, user namespace", false, true, 65534),
        ("idmapped", true, false, 6000),
        ("idmapped, user namespace", true, true, 1000),
    ];
    for (case, idmapped, userns, owner_seen) in cases {
        let mut b = Bundle::new();
        let outer = b.host_dir("outer");
        fs::create_dir(outer.join("inner")).unwrap();
        fs::write(outer.join("inner/file"), "").unwrap();
        std::os::unix::fs::chown(outer.join("inner/file"), Some(1000), Some(1000)).unwrap();
        for mount_point in ["mnt", "final"] {
            fs::create_dir_all(b.rootfs().join(mount_point)).unwrap();
        }
        if userns {
            b.user_namespace(100000, 65536);
        }
        b.bind(&outer, "/mnt", &[]);
        let mut inner = json!({"destination": "/final", "type": "bind", "options": ["rbind"],
                               "source": format!("{}/mnt/inner", b.rootfs().display())});
        if idmapped {
            inner["options"] = json!(["rbind", "idmap"]);
            if !userns {
                let map = json!([{"containerID": 0, "hostID": 5000, "size": 2000}]);
                inner["uidMappings"] = map.clone();
                inner["gidMappings"] = map;
            }
        }
        b.add_mount(inner);
        let got = b.run_probe(&["stat", "/final/file"]);
        assert_eq!(got["uid"], owner_seen, "{case}: {got}");
        assert!(!b.rootfs().join("mnt/inner").exists(), "{case}: nothing was made in the image");
    }
}

/// Such a source is cloned by the runtime with the host's privileges: it is
/// resolved inside the rootfs, as a path in the container, so a symlink the image
/// plants on it does not lead to the host (a symlink to /etc gives the image's /etc).
#[test]
fn an_idmapped_source_in_the_rootfs_is_resolved_inside_it_whatever_the_image_links() {
    let mut b = Bundle::new();
    let host_only = b.host_dir("host-only");
    fs::write(host_only.join("secret"), "host").unwrap();
    let image_side = b.rootfs().join(host_only.strip_prefix("/").unwrap());
    fs::create_dir_all(&image_side).unwrap();
    fs::write(image_side.join("secret"), "image").unwrap();
    std::os::unix::fs::symlink(&host_only, b.rootfs().join("planted")).unwrap();
    fs::create_dir_all(b.rootfs().join("final")).unwrap();
    let map = json!([{"containerID": 0, "hostID": 5000, "size": 2000}]);
    b.add_mount(json!({"destination": "/final", "type": "bind", "options": ["rbind", "idmap"],
                       "source": format!("{}/planted", b.rootfs().display()),
                       "uidMappings": map, "gidMappings": map}));
    let got = b.run_probe(&["read", "/final/secret"]);
    assert_eq!(got["content"], "image", "{got}");
}

/// A container that joins a user namespace by path has no mappings in its config:
/// an `idmap` mount then takes the joined namespace's (runc's idmap.bats "idmap
/// flag, implied mapping, userns join").
#[test]
fn idmap_option_takes_the_mappings_of_a_joined_user_namespace() {
    let mut owner = Bundle::new();
    owner.user_namespace(100000, 65536);
    owner.probe(&["wait-signal"]);
    let holder = owner.start();
    holder.wait_probe_ready();

    let mut b = Bundle::new();
    let dir = dir_with_owners(&b);
    b.set_namespace("user", Some(&format!("/proc/{}/ns/user", holder.pid())));
    fs::create_dir_all(b.rootfs().join("data")).unwrap();
    b.add_mount(
        json!({"destination": "/data", "type": "bind", "source": dir, "options": ["rbind", "idmap"]}),
    );
    let got = b.run_probes(&[&["stat", "/data/root-owned"], &["stat", "/data/owned-by-1000"]]);
    assert_eq!(got[0]["uid"], 0, "{}", got[0]);
    assert_eq!(got[1]["uid"], 1000, "{}", got[1]);
    holder.delete(&["--force"]).ok();
}

#[test]
fn a_read_only_dev_tmpfs_is_filled_first_and_made_read_only_after() {
    // runc mounts a read-only tmpfs writable, makes the devices, /dev/pts and the
    // other mount points under it, and remounts it read-only at the end.
    let mut b = Bundle::new();
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    b.args(&[
        "sh",
        "-c",
        "[ -c /dev/null ] && [ -d /dev/pts ] && echo devices; touch /dev/x 2>&1 || echo read-only",
    ]);
    let out = b.run_ok();
    assert!(out.stdout.contains("devices"), "{out:#?}");
    assert!(out.stdout.contains("Read-only file system") && out.stdout.contains("read-only"), "{out:#?}");
}

#[test]
fn a_bind_source_the_containers_root_cannot_reach_is_mounted_in_a_user_namespace() {
    // The source lies below a directory only the host's root may search: runc opens
    // mount sources before it enters the user namespace, and so does the runtime.
    let mut b = Bundle::new();
    let private = b.host_dir("private");
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let shared = private.join("shared");
    fs::create_dir_all(&shared).unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(shared.join("file"), "reachable\n").unwrap();
    fs::set_permissions(shared.join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    b.user_namespace(100000, 65536);
    // On a directory the image has: the container's root could not make one.
    b.bind(&shared, "/tmp", &["rbind", "ro"]);
    b.args(&["cat", "/tmp/file"]);
    let out = b.run_ok();
    assert_eq!(out.stdout.trim(), "reachable");
}

#[test]
fn proc_bound_from_the_host_is_accepted_with_the_hosts_pid_namespace() {
    // runc's checkProcMount: a bind of a procfs on /proc counts as a proc mount (what
    // a rootless container in the host's PID namespace uses).
    let mut b = Bundle::new();
    b.remove_namespace("pid");
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            *m = json!({"destination": "/proc", "type": "bind", "source": "/proc", "options": ["rbind"]});
        }
    }
    b.args(&["sh", "-c", "[ -e /proc/1/stat ] && echo host-proc"]);
    let out = b.run_ok();
    assert_eq!(out.stdout.trim(), "host-proc");
    // A bind of anything else there is still refused.
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/proc" {
            m["source"] = json!("/tmp");
        }
    }
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["/proc must be a proc mount"]);
    assert_no_leftovers(&b, &c.id);
}

/// `--no-pivot` leaves the host's tree below the chroot. Were a whole host procfs
/// left there, a process of the container could mount a fresh procfs in a namespace
/// of its own, one that shows what the masks hide (runc's no_pivot.bats): the
/// kernel allows that only while a whole, uncovered procfs is in the namespace.
#[test]
fn no_pivot_leaves_no_host_procfs_to_mount_a_bare_proc_from() {
    let mut b = Bundle::new();
    for set in ["bounding", "permitted", "effective"] {
        b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SETFCAP"));
    }
    b.shell("unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted' 2>&1; true");
    let (c, out) = b.run(&["--no-pivot"]);
    out.ok();
    assert!(!out.stdout.contains("mounted"), "{out:#?}");
    assert!(
        out.stdout.contains("Operation not permitted") || out.stdout.contains("ermission denied"),
        "{out:#?}"
    );
    assert_no_leftovers(&b, &c.id);
}

/// Bind mount flags as runc sets them (its mounts_sshfs.bats): just `bind` keeps the
/// source mount's flags; any flag option gives exactly the options' flags. In a user
/// namespace, the flags the kernel locks on the source are kept where not cleared by
/// name, and clearing one by name fails rather than being quietly overruled.
#[test]
fn bind_mount_flags_follow_runcs_rules_for_the_sources_flags() {
    let mut b = Bundle::new();
    writable_root(&mut b);
    let volume = HostMount::tmpfs(&b.test_dir().join("volume"), "volume");
    volume.make_read_only_noexec();
    b.bind(&volume.0, "/kept", &[]).bind(&volume.0, "/replaced", &["nosuid"]);
    b.shell("grep -E ' /(kept|replaced) ' /proc/self/mountinfo | cut -d' ' -f5,6");
    let out = b.run_ok().stdout;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/kept ro,") && lines[0].contains("noexec"), "{out}");
    assert!(lines[1].starts_with("/replaced rw,nosuid") && !lines[1].contains("noexec"), "{out}");

    // In a user namespace the source's ro and noexec are locked. (/tmp: the rootfs
    // is not the mapped root's to make a mount point in.)
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536);
    b.bind(&volume.0, "/tmp", &["nosuid"]);
    b.shell("grep ' /tmp ' /proc/self/mountinfo | cut -d' ' -f6");
    let options = b.run_ok().stdout;
    assert!(options.starts_with("ro,nosuid") && options.contains("noexec"), "{options}");
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536);
    b.bind(&volume.0, "/tmp", &["rw"]);
    let (c, out) = b.run(&[]);
    out.fails_mentioning(&["on /tmp"]);
    assert!(
        out.stderr.contains(r#"cannot clear locked flags: the source's "ro" are locked"#),
        "{}",
        out.stderr
    );
    assert_no_leftovers(&b, &c.id);
}
