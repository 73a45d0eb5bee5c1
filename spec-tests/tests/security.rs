//! Hardening that runc's security history calls for, checked from inside the
//! container: what the program inherits (signals, session, cgroup view), what it
//! may run, and limits set from outside a user namespace.

use spec_tests::*;
use std::fs;

/// A line of /proc/self/status as busybox `cat` (C, which leaves signal
/// dispositions alone, unlike the Rust probe) sees it when exec'd as init.
fn status_field(field: &str) -> String {
    let mut b = Bundle::new();
    b.args(&["cat", "/proc/self/status"]);
    let text = b.run_ok().stdout;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} missing from {text}"))
        .trim()
        .to_string()
}

#[test]
fn program_starts_with_no_signal_ignored() {
    // The runtime (Rust) ignores SIGPIPE; an ignored disposition would survive exec.
    assert_eq!(status_field("SigIgn"), "0000000000000000");
}

#[test]
fn program_starts_with_no_signal_blocked() {
    assert_eq!(status_field("SigBlk"), "0000000000000000");
}

#[test]
fn init_leads_its_own_session_without_the_callers_terminal() {
    // Field 6 of /proc/self/stat is the session ID; init (PID 1) must lead its own,
    // so the caller's terminal cannot be its controlling terminal (TIOCSTI).
    let mut b = Bundle::new();
    let out = b.run_probe(&["read", "/proc/self/stat"]);
    let stat = out["content"].as_str().expect("stat readable");
    let after_comm = stat.rsplit_once(')').expect("comm").1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    assert_eq!(fields[3], "1", "session of PID 1: {stat}");
    assert_eq!(fields[4], "0", "no controlling terminal: {stat}");
}

#[test]
fn cgroup_namespace_root_is_the_containers_own_cgroup() {
    let mut b = Bundle::new();
    b.set_namespace("cgroup", None);
    let out = b.run_probe(&["read", "/proc/self/cgroup"]);
    let text = out["content"].as_str().expect("cgroup readable");
    for line in text.lines() {
        assert!(line.ends_with(":/"), "cgroup path not the namespace root: {line:?} in {text}");
    }
}

#[test]
fn runtime_binary_cannot_be_run_in_the_container() {
    // /proc/self/exe is the runtime until init execs (CVE-2019-5736).
    let mut b = Bundle::new();
    b.args(&["/proc/self/exe", "--version"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["runtime"]);
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn relative_program_path_is_taken_from_the_cwd() {
    let mut b = Bundle::new();
    std::fs::create_dir_all(b.rootfs().join("app")).unwrap();
    std::fs::copy(probe_path(), b.rootfs().join("app/server")).unwrap();
    b.config["process"]["cwd"] = json!("/app");
    b.args(&["./server", "exit", "4"]);
    let (c, out) = b.run(&[]);
    assert_eq!(out.code, Some(4), "{out:#?}");
    assert_no_leftovers(&b, &c.id);
}

#[test]
fn rlimits_and_oom_score_apply_in_a_user_namespace() {
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]);
    b.config["process"]["oomScoreAdj"] = json!(123);
    let info = b.probe_info();
    assert_eq!(info["rlimits"]["RLIMIT_NOFILE"], json!([512, 1024]), "{info:#}");
    assert_eq!(info["oom_score_adj"], 123, "{info:#}");
}

/// glibc resolves user names through NSS, which loads the modules its nsswitch.conf
/// names: inside the rootfs those are the image's. A runtime asking for a name after
/// the switch into the rootfs (runc's CVE-2019-14271 class, in docker cp) runs the
/// image's code in a process that still holds every capability. The image here ships
/// such a module, with the libc it needs; it must never run.
#[test]
fn the_images_nss_modules_never_load_into_the_runtime() {
    let mut b = Bundle::new();
    let marker = b.test_dir().join("nss-module-ran");
    let module = format!(
        "#include <fcntl.h>\n#include <unistd.h>\n__attribute__((constructor)) static void ran(void) {{\n\
         close(open(\"/nss-module-ran\", O_CREAT | O_WRONLY, 0644));\n\
         close(open(\"{}\", O_CREAT | O_WRONLY, 0644));\n}}\n",
        marker.display()
    );
    let libdir = b.rootfs().join("lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&libdir).unwrap();
    let source = b.test_dir().join("nss_evil.c");
    std::fs::write(&source, module).unwrap();
    let built = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(libdir.join("libnss_evil.so.2"))
        .arg(&source)
        .status()
        .expect("gcc (Debian: gcc) builds the module");
    assert!(built.success());
    // What the module needs to load into a static binary: the shared libc and loader.
    for lib in ["libc.so.6", "ld-linux-x86-64.so.2"] {
        std::fs::copy(std::path::Path::new("/lib/x86_64-linux-gnu").join(lib), libdir.join(lib)).unwrap();
    }
    b.write_rootfs_file("etc/nsswitch.conf", "passwd: evil files\ngroup: evil files\n");
    // A startContainer hook reads the state, which names the owner in anchor-runtime's
    // (runc's `state` does too): the lookup a runtime would make inside the rootfs.
    b.config["root"]["readonly"] = json!(false);
    b.hook("startContainer", "cat > /hook-state");
    b.args(&["true"]);
    b.run_ok();
    assert!(!b.rootfs().join("nss-module-ran").exists(), "the image's NSS module ran inside the container");
    assert!(!marker.exists(), "the image's NSS module ran in the runtime");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(b.rootfs().join("hook-state")).unwrap())
            .expect("the hook got the state");
    assert_eq!(state["status"], "created", "{state}");
}

/// CVE-2019-5736, run as the exploit runs: the program a runtime process starts is a
/// script whose interpreter is `#!/proc/self/exe`, and a second process in the
/// container (`/probe steal-exe`) opens the /proc/PID/exe of each process that appears
/// in its PID namespace, waits until nothing runs that file, and writes over it. The
/// runtime under attack is a copy of the test's own. Each test attacks several times:
/// the window the exploit needs is a millisecond or less, which one try may miss.
struct ExeAttack {
    watcher: Bundle,
    copy: std::path::PathBuf,
    original: Vec<u8>,
}

/// Attacks made at least, and at most while the watcher has caught nothing (on a
/// loaded machine it may not be scheduled in a window of a few hundred µs).
const ATTEMPTS: usize = 8;
const MAX_ATTEMPTS: usize = 40;

impl ExeAttack {
    /// `ptrace`: the watcher holds CAP_SYS_PTRACE (in the host's user namespace: the
    /// container has none of its own), which lets it open the /proc/PID/exe of a
    /// non-dumpable process too.
    fn new(ptrace: bool) -> Self {
        let mut watcher = Bundle::new();
        if ptrace {
            for set in ["bounding", "effective", "permitted"] {
                watcher.config["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("CAP_SYS_PTRACE"));
            }
        }
        let copy = watcher.test_dir().join("anchor-runtime-copy");
        std::fs::copy(runtime_path(), &copy).expect("copy the runtime");
        let original = std::fs::read(&copy).unwrap();
        watcher.runtime = copy.clone();
        watcher.probe(&["steal-exe", "/stop", "#!/bin/sh\necho pwned\n"]);
        write_evil_script(&watcher);
        ExeAttack { watcher, copy, original }
    }

    /// Stops the watcher and checks the host: the runtime binary is unchanged, the
    /// watcher followed every attacked process (seeing it, or missing it while it was
    /// not scheduled) and caught at least one, and nothing it caught was writable.
    /// Runs `attack` ATTEMPTS times, then on while the watcher has caught nothing;
    /// returns what each attempt returned.
    fn repeat<T>(&self, watcher: &Container, mut attack: impl FnMut() -> T) -> Vec<T> {
        let mut results = Vec::new();
        while results.len() < ATTEMPTS
            || (results.len() < MAX_ATTEMPTS && !watcher.stderr().contains("\"caught\""))
        {
            results.push(attack());
        }
        results
    }

    fn outcome(&self, watcher: &Container, attempts: usize) -> Value {
        self.watcher.write_rootfs_file("stop", "");
        // Read without asking the runtime: the copy may no longer be one.
        wait_until("the watcher's report", || watcher.stdout().ends_with("}\n"));
        let report: Value = serde_json::from_str(&watcher.stdout()).expect("the watcher reports JSON");
        assert!(
            std::fs::read(&self.copy).unwrap() == self.original,
            "the runtime binary on the host was overwritten: {report}"
        );
        let seen = report["appeared"].as_u64().unwrap() + report["missed"].as_u64().unwrap();
        assert_eq!(seen, attempts as u64, "the watcher lost count of the processes: {report}");
        let caught = report["caught"].as_array().expect("a list of catches");
        assert!(!caught.is_empty(), "the watcher was never in position to try: {report}");
        for catch in caught {
            assert!(
                catch["open_for_write"] != "ok" || catch["write"].is_number(),
                "it could write: {report}"
            );
        }
        report
    }
}

/// `/evil.sh`: a script that leads back to whatever runs it.
fn write_evil_script(b: &Bundle) {
    use std::os::unix::fs::PermissionsExt;
    let path = b.write_rootfs_file("evil.sh", "#!/proc/self/exe\n");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Execs `/evil.sh` into the watcher's container, ATTEMPTS times.
fn attack_through_exec(ptrace: bool) {
    let attack = ExeAttack::new(ptrace);
    let watcher = attack.watcher.create();
    watcher.start().ok();
    watcher.wait_probe_ready();
    let outputs = attack.repeat(&watcher, || watcher.exec(&[], &["/evil.sh"]));
    let report = attack.outcome(&watcher, outputs.len());
    // The stub refused to run as the script's interpreter.
    for out in outputs {
        assert_eq!(out.code, Some(127), "{out:#?}");
        assert!(out.stderr.contains("exec stub: not a program to run"), "{out:#?}");
    }
    let caught = report["caught"].as_array().unwrap();
    if ptrace {
        // Non-dumpable is no obstacle to CAP_SYS_PTRACE: it caught the runtime itself,
        // which ran from a read-only mount of its binary (EROFS).
        assert!(caught.iter().any(|c| c["open_for_write"] == libc::EROFS), "{report}");
    } else {
        // Only ever the sealed exec stub, never the runtime.
        let stub = |c: &Value| c["exe"].as_str().unwrap_or_default().starts_with("/memfd:anchor-exec-stub");
        assert!(caught.iter().all(stub), "{report}");
    }
}

#[test]
fn cve_2019_5736_exec_cannot_hand_the_container_the_runtime_binary() {
    attack_through_exec(false);
}

#[test]
fn cve_2019_5736_exec_into_a_container_with_cap_sys_ptrace_runs_a_sealed_runtime() {
    attack_through_exec(true);
}

/// Starts ATTEMPTS containers running `/evil.sh` whose init joins the watcher's PID
/// namespace, as containers of one Kubernetes pod may share one: the watcher sees
/// each init appear there.
fn attack_through_init(ptrace: bool) {
    let attack = ExeAttack::new(ptrace);
    let watcher = attack.watcher.create();
    watcher.start().ok();
    watcher.wait_probe_ready();
    let mut target = Bundle::new();
    target.runtime = attack.copy.clone();
    target.set_namespace("pid", Some(&format!("/proc/{}/ns/pid", watcher.pid())));
    write_evil_script(&target);
    target.args(&["/evil.sh"]);
    let stderrs = attack.repeat(&watcher, || {
        let victim = target.create();
        victim.start().ok();
        victim.wait_status("stopped");
        victim.delete(&[]).ok();
        victim.stderr()
    });
    attack.outcome(&watcher, stderrs.len());
    for stderr in stderrs {
        assert!(stderr.contains("exec stub: not a program to run"), "{stderr}");
    }
}

#[test]
fn cve_2019_5736_init_cannot_hand_the_container_the_runtime_binary() {
    attack_through_init(false);
}

#[test]
fn cve_2019_5736_init_in_a_pid_namespace_with_cap_sys_ptrace_runs_a_sealed_runtime() {
    attack_through_init(true);
}

/// The host's fs.lease-break-time, which the attacks below aim at.
fn host_lease_break_time() -> String {
    std::fs::read_to_string("/proc/sys/fs/lease-break-time").unwrap().trim().to_string()
}

/// Asks for the container's own net.core.somaxconn, a value the host's
/// fs.lease-break-time does not hold, for the planted links to lead there.
fn aim_at_the_hosts_sysctl(b: &mut Bundle) {
    let value = if host_lease_break_time() == "77" { "78" } else { "77" };
    b.config["linux"]["sysctl"] = json!({ "net.core.somaxconn": value });
    b.args(&["true"]);
}

/// `create`, then the host's fs.lease-break-time must be what it was (put back, and
/// the test fails saying so, if the container changed it).
fn create_checking_the_host(b: &Bundle) -> (Container<'_>, Output) {
    let before = host_lease_break_time();
    let (c, out) = b.try_create(&[]);
    let after = host_lease_break_time();
    if after != before {
        std::fs::write("/proc/sys/fs/lease-break-time", &before).unwrap();
        panic!(
            "the container set the host's fs.lease-break-time to {after} (put back to {before}): {out:#?}"
        );
    }
    (c, out)
}

/// CVE-2019-19921 and CVE-2025-52881 as reported: the image has `/data ->
/// /proc/sys/net`; a volume bound at `/data` holds `core/somaxconn ->
/// /proc/sys/fs/lease-break-time`; the config sets net.core.somaxconn, a network
/// namespace's own sysctl. Through the volume over /proc/sys/net, the write would
/// follow the symlink to the host's fs.lease-break-time.
#[test]
fn a_volume_led_into_proc_by_an_image_symlink_is_refused_and_no_host_sysctl_changes() {
    let mut b = Bundle::new();
    std::os::unix::fs::symlink("/proc/sys/net", b.rootfs().join("data")).unwrap();
    let volume = b.host_dir("volume");
    std::fs::create_dir_all(volume.join("core")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/fs/lease-break-time", volume.join("core/somaxconn")).unwrap();
    b.bind(&volume, "/data", &[]);
    aim_at_the_hosts_sysctl(&mut b);
    let (c, out) = create_checking_the_host(&b);
    out.fails_mentioning(&["/data", "/proc/sys/net", "inside /proc"]);
    assert_no_leftovers(&b, &c.id);
}

/// A bind mount whose destination reaches /proc/sys through a symlinked parent
/// directory of the image (`/etc/sysconf -> /proc/sys`), onto a file runc does not
/// allow there.
#[test]
fn a_bind_mount_reaching_proc_sys_through_a_symlinked_parent_is_refused() {
    let mut b = Bundle::new();
    std::os::unix::fs::symlink("/proc/sys", b.rootfs().join("etc/sysconf")).unwrap();
    let file = b.test_dir().join("host/value");
    write_file(&file, "1\n");
    b.bind(&file, "/etc/sysconf/kernel/core_pattern", &[]);
    b.args(&["true"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&[
        "/etc/sysconf/kernel/core_pattern",
        "/proc/sys/kernel/core_pattern",
        "inside /proc",
    ]);
    assert_no_leftovers(&b, &c.id);
}

/// An image whose /proc is a symlink (`/proc -> /bad-proc`): the proc mount would land
/// wherever it points. Refused as runc refuses it; nothing is mounted there.
#[test]
fn an_image_whose_proc_is_a_symlink_is_refused() {
    let mut b = Bundle::new();
    std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
    std::fs::create_dir(b.rootfs().join("bad-proc")).unwrap();
    std::os::unix::fs::symlink("/bad-proc", b.rootfs().join("proc")).unwrap();
    b.args(&["true"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["mount proc on /proc", "must be mounted on ordinary directory", "/bad-proc"]);
    assert_eq!(
        std::fs::read_dir(b.rootfs().join("bad-proc")).unwrap().count(),
        0,
        "something was mounted there"
    );
    assert_no_leftovers(&b, &c.id);
}

/// `--pid-file` is written beside its target and renamed into place. Neither a symlink
/// planted at the temporary name (the fixed `.<name>.tmp` of before) nor one planted
/// as the pid file itself may lead the write to another file.
#[test]
fn the_pid_file_is_never_written_through_a_planted_symlink() {
    let b = Bundle::new();
    let host = b.host_dir("pid");
    let beside = write_file(&host.join("victim-beside"), "precious\n");
    let target = write_file(&host.join("victim-target"), "precious\n");
    std::os::unix::fs::symlink(&beside, host.join(".init.pid.tmp")).unwrap();
    let pid_file = host.join("init.pid");
    std::os::unix::fs::symlink(&target, &pid_file).unwrap();
    let (c, out) = b.try_create(&["--pid-file", &pid_file.to_string_lossy()]);
    out.ok();
    for victim in [&beside, &target] {
        assert_eq!(
            std::fs::read_to_string(victim).unwrap(),
            "precious\n",
            "{} was written",
            victim.display()
        );
    }
    assert!(!std::fs::symlink_metadata(&pid_file).unwrap().is_symlink(), "the planted link is still there");
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), c.pid().to_string());
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A directory holding a file the runtime must never touch, and a symlink to it.
fn plant_link_to_victim_dir(b: &Bundle, link: &std::path::Path) -> std::path::PathBuf {
    let victim = b.host_dir("victim");
    write_file(&victim.join("keep"), "precious\n");
    std::os::unix::fs::symlink(&victim, link).unwrap();
    victim
}

fn assert_victim_dir_untouched(victim: &std::path::Path) {
    let names: Vec<_> = std::fs::read_dir(victim).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["keep"], "the runtime wrote or removed files in {}", victim.display());
}

/// The state root's spare directory (`.spare~`, which a `delete` leaves for the next
/// `create`): a symlink planted there made create write the state into its target and
/// delete remove the files there. It is discarded, never followed.
#[test]
fn a_symlink_planted_as_the_state_roots_spare_is_never_followed() {
    let mut b = Bundle::new();
    let victim = plant_link_to_victim_dir(&b, &b.state_root().join(SPARE_STATE_DIR));
    b.args(&["true"]);
    b.run_ok();
    assert_victim_dir_untouched(&victim);
    let spare = std::fs::symlink_metadata(b.state_root().join(SPARE_STATE_DIR));
    assert!(spare.is_ok_and(|m| m.is_dir()), "the spare is the runtime's own directory again");
}

/// A symlink planted as `<root>/<id>` before the container exists: create refuses the
/// ID, and no command (delete --force included) works through the link.
#[test]
fn a_symlink_planted_as_a_containers_state_directory_is_never_followed() {
    let b = Bundle::new();
    let id = b.new_id();
    let victim = plant_link_to_victim_dir(&b, &b.state_root().join(&id));
    b.write_config(&id);
    let created = b.runtime(&["create", "--bundle", &b.path_str(), &id]);
    created.fails_mentioning(&["already exists"]);
    b.runtime(&["delete", "--force", &id]);
    b.runtime(&["state", &id]).fails();
    assert_victim_dir_untouched(&victim);
}

/// sysfs likewise: it would be mounted wherever the image's /sys points. The link's
/// target is not even made.
#[test]
fn an_image_whose_sys_is_a_symlink_is_refused() {
    let mut b = Bundle::new();
    std::fs::remove_dir(b.rootfs().join("sys")).unwrap();
    std::os::unix::fs::symlink("/bad-sys", b.rootfs().join("sys")).unwrap();
    b.args(&["true"]);
    let (c, out) = b.try_create(&[]);
    out.fails_mentioning(&["mount sysfs on /sys", "ordinary directory", "/bad-sys"]);
    assert!(!b.rootfs().join("bad-sys").exists(), "the runtime made the symlink's target");
    assert_no_leftovers(&b, &c.id);
}

/// The sysctl write on its own, whatever the mounts: the config mounts procfs
/// elsewhere (/real-proc), and the image's own /proc directory holds symlinks to it:
/// `self` (which a check of /proc/self/fd alone would take for procfs) and the
/// sysctl's file, leading to the host-wide fs.lease-break-time. A sysctl is written
/// only beneath the root of a real procfs at /proc.
#[test]
fn a_sysctl_is_never_written_through_an_images_fake_proc() {
    let mut b = Bundle::new();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    let proc =
        mounts.iter_mut().find(|m| m["destination"] == "/proc").expect("the default config mounts /proc");
    proc["destination"] = json!("/real-proc");
    std::os::unix::fs::symlink("/real-proc/self", b.rootfs().join("proc/self")).unwrap();
    let fake = b.rootfs().join("proc/sys/net/core");
    std::fs::create_dir_all(&fake).unwrap();
    std::os::unix::fs::symlink("/real-proc/sys/fs/lease-break-time", fake.join("somaxconn")).unwrap();
    aim_at_the_hosts_sysctl(&mut b);
    let (c, out) = create_checking_the_host(&b);
    out.fails_mentioning(&["/proc is not the root of a procfs mount"]);
    assert_no_leftovers(&b, &c.id);
}

/// A spare that is another user's directory, holding a symlink where the runtime
/// writes its temporary state (`.state.json.tmp`): not used, and the link's target
/// untouched; the container runs in a directory of its own.
#[test]
fn a_spare_state_directory_of_another_user_is_not_used() {
    let mut b = Bundle::new();
    let victim = write_file(&b.host_dir("victim").join("keep"), "precious\n");
    let spare = b.state_root().join(SPARE_STATE_DIR);
    std::fs::create_dir(&spare).unwrap();
    std::os::unix::fs::symlink(&victim, spare.join(".state.json.tmp")).unwrap();
    std::os::unix::fs::chown(&spare, Some(65534), Some(65534)).unwrap();
    b.args(&["true"]);
    let (c, out) = b.run(&[]);
    out.ok();
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n", "the victim was written");
    std::fs::remove_dir_all(&spare).unwrap();
    assert_no_leftovers(&b, &c.id);
}

/// What the runtime's caller leaves open beyond stdio and `--preserve-fds` never
/// reaches the container's init, even before its last exec (runc's create.bats
/// "detect fd leak as comprehensively as possible"); the preserved ones do.
#[test]
fn a_created_init_holds_none_of_the_callers_stray_descriptors() {
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    b.run_runtime_via("exec 3</etc/passwd 7</etc/hostname 9</proc/version; exec");
    let (c, out) = b.try_create(&["--preserve-fds", "1"]);
    out.ok();
    let fds: Vec<String> = fs::read_dir(format!("/proc/{}/fd", c.pid()))
        .unwrap()
        .flatten()
        .map(|e| {
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                fs::read_link(e.path()).unwrap_or_default().display()
            )
        })
        .collect();
    assert!(fds.iter().any(|f| f == "3 -> /etc/passwd"), "the preserved descriptor is kept: {fds:?}");
    for stray in ["/etc/hostname", "/proc/version", "/sys/fs/cgroup"] {
        assert!(!fds.iter().any(|f| f.contains(stray)), "{stray} reached init: {fds:?}");
    }
    c.delete(&["--force"]).ok();
    assert_no_leftovers(&b, &c.id);
}

/// A container root with CAP_SYS_ADMIN in its own user namespace tries to make a
/// host read-only bind writable (`mount -o remount,bind,rw`) and write through it.
/// The kernel refuses only if the bind carries its locks (MNT_LOCK_READONLY), which a
/// copy of the source made in the host's own mount namespace did not: it wrote.
#[test]
fn a_user_namespace_root_cannot_unlock_a_read_only_host_bind() {
    let mut b = Bundle::new();
    b.user_namespace(100000, 65536);
    let volume = HostMount::tmpfs(&b.test_dir().join("volume"), "volume");
    volume.make_read_only_noexec();
    for set in ["bounding", "permitted", "effective"] {
        b.config["process"]["capabilities"][set].as_array_mut().unwrap().push(json!("CAP_SYS_ADMIN"));
    }
    // /tmp: the rootfs is not the mapped root's to make a mount point in.
    b.bind(&volume.0, "/tmp", &[]);
    b.shell("mount -o remount,bind,rw /tmp; mount -o remount,bind,exec /tmp; touch /tmp/planted; true");
    b.run_ok();
    assert!(!volume.0.join("planted").exists(), "the container wrote through the host's read-only bind");
}
