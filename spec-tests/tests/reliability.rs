//! What a node running thousands of containers meets every week: a state file
//! damaged or removed, a create that fails half-way, a container sharing the
//! host's PID namespace, a frozen cgroup, a descriptor limit or a full disk. Each
//! test builds the fault for real and checks that `delete --force` (or the failed
//! command itself) leaves no process, cgroup, mount or state entry behind, and
//! that nothing that is not the container's is touched.

use spec_tests::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Every process in a cgroup directory (its cgroup.procs, children included).
fn cgroup_pids(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect();
    for child in fs::read_dir(dir).into_iter().flatten().flatten() {
        if child.file_type().is_ok_and(|t| t.is_dir()) {
            pids.extend(cgroup_pids(&child.path()));
        }
    }
    pids
}

/// A running container whose init waits, with `extra` more processes exec'd into it.
fn running_container(b: &Bundle, extra: usize) -> Container<'_> {
    let c = b.start();
    for _ in 0..extra {
        c.exec(&["-d"], &["sleep", "300"]).ok();
    }
    c
}

/// The ways a state.json is found damaged: cut at each kind of offset (empty, one
/// byte, mid-field, one byte short), garbage, valid JSON of the wrong shape, gone.
fn damages(state: &[u8]) -> Vec<(&'static str, Option<Vec<u8>>)> {
    vec![
        ("truncated to 0 bytes", Some(Vec::new())),
        ("truncated to 1 byte", Some(state[..1].to_vec())),
        ("truncated in the middle", Some(state[..state.len() / 2].to_vec())),
        ("one byte short", Some(state[..state.len() - 1].to_vec())),
        ("garbage", Some(b"\x00\xffnot json at all\n".to_vec())),
        ("the wrong JSON", Some(br#"{"id": 42, "init": "x"}"#.to_vec())),
        ("removed", None),
    ]
}

#[test]
fn delete_force_removes_a_container_whose_state_json_is_damaged_or_gone() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    for (i, (damage, _)) in damages(b"{}").into_iter().enumerate() {
        let c = running_container(&b, 2);
        let init = c.pid();
        let pids = cgroup_pids(&cgroup_dir("memory", &c.id));
        assert_eq!(pids.len(), 3, "{pids:?}");
        let state_file = b.state_root().join(&c.id).join("state.json");
        let (_, replacement) = damages(&fs::read(&state_file).unwrap()).swap_remove(i);
        match replacement {
            Some(bytes) => fs::write(&state_file, bytes).unwrap(),
            None => fs::remove_file(&state_file).unwrap(),
        }
        // Without --force the user is told what is wrong and how to recover.
        c.delete(&[]).fails_mentioning(&["delete --force"]);
        assert!(process_alive(init), "{damage}: a refused delete killed init");
        c.delete(&["--force"]).ok();
        for pid in pids {
            assert!(!process_alive(pid), "{damage}: process {pid} of the container survived delete --force");
        }
        assert_no_leftovers(&b, &c.id);
        println!("state.json {damage}: delete --force removed the container");
    }
}

#[test]
fn delete_never_touches_a_cgroup_the_state_was_edited_to_name() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let c = running_container(&b, 0);
    // A foreign cgroup beside the container's, with a process of its own.
    let foreign_id = b.new_id();
    let foreign = cgroup_dir("memory", &foreign_id);
    fs::create_dir_all(&foreign).unwrap();
    let bystander = HostProcess::spawn("sleep", &["300"]);
    fs::write(foreign.join("cgroup.procs"), bystander.pid().to_string()).unwrap();
    let state_file = b.state_root().join(&c.id).join("state.json");
    let mut state: Value = serde_json::from_slice(&fs::read(&state_file).unwrap()).unwrap();
    let dirs = state["cgroup_dirs"].as_array_mut().expect("the state records cgroup_dirs");
    for d in dirs.iter_mut() {
        let edited = d.as_str().unwrap().replace(&c.id, &foreign_id);
        *d = json!(edited);
    }
    fs::write(&state_file, state.to_string()).unwrap();

    c.kill_with(&["--all"], Some("KILL")).ok();
    assert!(process_alive(bystander.pid()), "kill --all reached into a cgroup that is not the container's");
    c.delete(&["--force"]).ok();
    assert!(process_alive(bystander.pid()), "delete killed a process that is not the container's");
    assert!(foreign.exists(), "delete removed {}, which is not the container's", foreign.display());
    // And the container itself is still removed whole, from the second record.
    assert_no_leftovers(&b, &c.id);
    drop(bystander);
    wait_until("the bystander's cgroup to be removable", || fs::remove_dir(&foreign).is_ok());
}

#[test]
fn kill_and_delete_end_every_process_of_a_container_without_its_own_pid_namespace() {
    // runc: with the host's PID namespace, SIGKILL goes to the whole cgroup (init's
    // death does not take the others with it), for `kill` and for `delete --force`.
    let mut b = Bundle::new();
    b.remove_namespace("pid").args(&["sleep", "300"]);
    for how in ["kill KILL", "delete --force"] {
        let c = running_container(&b, 5);
        let dir = cgroup_dir("memory", &c.id);
        let pids = cgroup_pids(&dir);
        assert_eq!(pids.len(), 6, "{pids:?}");
        match how {
            "kill KILL" => c.kill("KILL").ok(),
            _ => c.delete(&["--force"]).ok(),
        };
        wait_until(&format!("every process to be gone after {how}"), || {
            pids.iter().all(|p| !process_alive(*p))
        });
        c.delete(&["--force"]).ok();
        assert_no_leftovers(&b, &c.id);
    }
}

#[test]
fn signal_0_checks_that_the_container_is_alive() {
    // runc accepts signal 0, as kill(1) does: a liveness check that sends nothing.
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let c = running_container(&b, 0);
    c.kill("0").ok();
    assert_eq!(c.status(), "running");
    c.kill("KILL").ok();
    c.wait_status("stopped");
    c.kill("0").fails_mentioning(&["container not running"]);
}

#[test]
fn a_frozen_cgroup_is_refused_up_front_instead_of_hanging() {
    // Init joining a frozen cgroup stops before it can report anything; `run -d`
    // used to wait for it forever. runc refuses such a cgroup too.
    let b = Bundle::new();
    let id = b.new_id();
    let (dir, file, frozen) = if cgroup_v2_only() {
        (cgroup_dir("memory", &id), "cgroup.freeze", "1")
    } else {
        (cgroup_dir("freezer", &id), "freezer.state", "FROZEN")
    };
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(file), frozen).unwrap();
    b.write_config(&id);
    let out = b.runtime(&["run", "-d", "--bundle", &b.path_str(), &id]);
    // runc's words first ("container's cgroup unexpectedly frozen").
    out.fails_mentioning(&["container's cgroup unexpectedly frozen"]);
    assert!(!b.state_root().join(&id).exists(), "the refused create left its state");
    fs::write(dir.join(file), if cgroup_v2_only() { "0" } else { "THAWED" }).unwrap();
    fs::remove_dir(&dir).unwrap();
    assert_no_leftovers(&b, &id);
}

/// Runs the runtime with `args` under `probe subreaper` and returns what the runtime
/// left unreaped: its forks come to the subreaper when it exits.
fn orphans_of(b: &Bundle, args: &[&str]) -> (Value, Vec<Value>) {
    let runtime = b.runtime.to_string_lossy().into_owned();
    let root = b.state_root().to_string_lossy().into_owned();
    let mut full = vec!["subreaper", runtime.as_str(), "--root", root.as_str()];
    full.extend_from_slice(args);
    let out = b.spawn_program(&probe_path(), &full).wait();
    let report: Value = out.json();
    let orphans = report["orphans"].as_array().cloned().unwrap_or_default();
    (report, orphans)
}

#[test]
fn a_failed_create_or_exec_reaps_every_process_it_forked() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let path = b.path_str();
    // Fails in init (a mount source that does not exist), then in the parent after
    // init is ready (a createRuntime hook).
    b.add_mount(json!({"destination": "/missing", "type": "bind", "source": "/nonexistent-source", "options": ["bind"]}));
    let id = b.new_id();
    b.write_config(&id);
    let (report, orphans) = orphans_of(&b, &["create", "--bundle", &path, &id]);
    assert_eq!(report["exit"], 1, "{report}");
    assert!(orphans.is_empty(), "a create that failed in init left {orphans:?}");
    assert_no_leftovers(&b, &id);

    b.config["mounts"].as_array_mut().unwrap().pop();
    b.hook("createRuntime", "exit 3");
    let id = b.new_id();
    b.write_config(&id);
    let (report, orphans) = orphans_of(&b, &["create", "--bundle", &path, &id]);
    assert_eq!(report["exit"], 1, "{report}");
    assert!(orphans.is_empty(), "a create that failed after init was ready left {orphans:?}");
    assert_no_leftovers(&b, &id);

    // Fails in the parent between the fork and init's go (a CPU quota the kernel
    // refuses: below its 1 ms minimum).
    b.config["hooks"] = json!({});
    b.config["linux"]["resources"] = json!({"cpu": {"quota": 500, "period": 100000}});
    let id = b.new_id();
    b.write_config(&id);
    let (report, orphans) = orphans_of(&b, &["create", "--bundle", &path, &id]);
    assert_eq!(report["exit"], 1, "{report}");
    assert!(orphans.is_empty(), "a create that failed setting the cgroup left {orphans:?}");
    assert_no_leftovers(&b, &id);

    b.config["linux"].as_object_mut().unwrap().remove("resources");
    let c = running_container(&b, 0);
    let (report, orphans) = orphans_of(&b, &["exec", &c.id, "/nonexistent"]);
    assert_ne!(report["exit"], 0, "{report}");
    assert!(orphans.is_empty(), "a failed exec left {orphans:?}");
    // Only init is left in the container, and the container stops at once.
    assert_eq!(cgroup_pids(&cgroup_dir("memory", &c.id)), vec![c.pid()]);
    c.kill("KILL").ok();
    c.wait_status("stopped");
}

/// After a `create` of `id` run short of a resource: if it failed, it said so (one
/// of `words`) and left nothing, and once `restore` has given the resource back the
/// same create of the same ID succeeds. The container is removed either way, leaving
/// nothing. Whether the create had failed.
fn check_create_out_of_a_resource(
    b: &Bundle,
    id: &str,
    out: &Output,
    words: &[&str],
    restore: impl FnOnce(),
) -> bool {
    let failed = !out.success();
    if failed {
        out.fails_mentioning(words);
        assert_no_leftovers(b, id);
        restore();
        b.runtime(&["create", "--bundle", &b.path_str(), id]).ok();
    }
    b.runtime(&["delete", "--force", id]).ok();
    assert_no_leftovers(b, id);
    failed
}

/// `create` of `id` with the soft open-file limit at `limit`.
fn create_with_fd_limit(b: &Bundle, id: &str, limit: u32) -> Output {
    let script = format!(
        "ulimit -Sn {limit} && exec {} --root {} create --bundle {} {id}",
        b.runtime.display(),
        b.state_root().display(),
        b.path().display()
    );
    b.spawn_program(Path::new("/bin/sh"), &["-c", &script]).wait()
}

#[test]
fn a_create_out_of_descriptors_leaves_nothing_and_the_id_stays_usable() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    b.config["process"]["rlimits"] = json!([]);
    let (mut failed, mut succeeded) = (0, 0);
    for limit in 4..=24 {
        let id = b.new_id();
        b.write_config(&id);
        let out = create_with_fd_limit(&b, &id, limit);
        // Nothing to restore: the limit was the wrapping shell's alone.
        if check_create_out_of_a_resource(&b, &id, &out, &["EMFILE", "too many open files"], || {}) {
            failed += 1;
        } else {
            succeeded += 1;
        }
    }
    println!("open-file limits 4 to 24: {failed} creates failed for EMFILE, {succeeded} succeeded, none left anything");
    assert!(failed >= 3, "only {failed} limits made create fail: the loop proves nothing");
}

#[test]
fn a_create_on_a_full_state_root_leaves_nothing_and_the_id_stays_usable() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let root: PathBuf = b.state_root();
    fs::create_dir_all(&root).unwrap();
    let mut failed = 0;
    // Each inode more gets create one step further: the state directory, the
    // second record, state.json, the exec FIFO.
    for inodes in 1..=8 {
        let tmpfs = HostMount::tmpfs_with(&root, &format!("size=1m,nr_inodes={inodes}"));
        let id = b.new_id();
        b.write_config(&id);
        let out = b.runtime(&["create", "--bundle", &b.path_str(), &id]);
        let restore = || tmpfs.remount("size=1m,nr_inodes=64");
        if check_create_out_of_a_resource(&b, &id, &out, &["ENOSPC", "no space"], restore) {
            failed += 1;
        }
    }
    println!("state root with 1 to 8 inodes: {failed} creates failed for ENOSPC, none left anything");
    assert!(failed >= 2, "only {failed} creates failed: the loop proves nothing");
}

#[test]
fn start_of_a_stopped_init_fails_clearly_and_the_container_stays_startable() {
    // An init stopped by SIGSTOP never opens the exec FIFO: `start` used to wait
    // for it forever.
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let c = b.create();
    let init = c.pid();
    assert_eq!(unsafe { libc::kill(init, libc::SIGSTOP) }, 0);
    c.start().fails_mentioning(&["stopped", "SIGCONT"]);
    assert_eq!(c.status(), "created");
    assert_eq!(unsafe { libc::kill(init, libc::SIGCONT) }, 0);
    c.start().ok();
    assert_eq!(c.status(), "running");
}
