//! A `create` can die at any instant (OOM killer, a caller's timeout, a
//! reboot of the shim): whatever it had set up must still be removable with
//! `delete --force`, and nothing it left may block later commands on the ID.

use spec_tests::*;
use std::time::{Duration, Instant};

/// Pseudo-random delay for iteration `i`, uniform-ish in [0, `max_us`) µs:
/// one step of Knuth's MMIX LCG on the index, keeping the high bits (the
/// low bits of an LCG are poorly distributed). Deterministic, so a failing
/// iteration can be replayed.
fn delay_for(i: u64, max_us: u64) -> Duration {
    let x = (i + 1).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    Duration::from_micros((x >> 33) % max_us)
}

/// Where a killed `create` had got to, judged from the outside before any
/// cleanup.
#[derive(Debug, PartialEq)]
enum Reached {
    /// Killed before the state directory existed: the runtime had not begun
    /// (still exec'ing, or loading the config).
    NotStarted,
    /// The state directory existed but the container was not `created`:
    /// `state` failed (no state.json yet) or said `creating`/`stopped`.
    MidCreate,
    /// `created`: create had finished (or was past the point of no return).
    Created,
}

/// Spawns `create` for a new ID, SIGKILLs it after `delay`, and reports how
/// far it got; also checks that `state` answers in time and consistently.
fn kill_create_after(b: &Bundle, delay: Duration) -> (String, Reached) {
    let id = b.new_id();
    b.write_config(&id);
    let path = b.path_str();
    let create = b.spawn_runtime(&["create", "--bundle", &path, &id]);
    std::thread::sleep(delay);
    // The child is not reaped before wait(), so this hits it even if it has
    // already exited (a zombie), never a recycled PID.
    create.signal(libc::SIGKILL);
    let create = create.wait();

    let started = b.state_root().join(&id).exists();
    let state = b.runtime(&["state", &id]);
    assert!(!state.timed_out, "state hung after create was killed after {delay:?}: {state:#?}");
    let status = if state.success() {
        Some(state.json()["status"].as_str().expect("state.status is a string").to_string())
    } else {
        // Not a crash or a hang: a clean error that says why.
        state.fails();
        None
    };
    if create.success() {
        assert_eq!(status.as_deref(), Some("created"), "create returned 0 but: {state:#?}");
    }
    let reached = match status.as_deref() {
        Some("created") => Reached::Created,
        None | Some("creating" | "stopped") if started => Reached::MidCreate,
        None => Reached::NotStarted,
        Some(other) => panic!("status {other:?} after create was killed after {delay:?}: {state:#?}"),
    };
    (id, reached)
}

/// `kills` creates killed at seeded instants (iterations `first..first + kills`),
/// each followed by `delete --force` and a leftovers check; how far they had got.
fn kill_creates(b: &Bundle, first: u64, kills: u64) -> [usize; 3] {
    let mut counts = [0usize; 3];
    for i in first..first + kills {
        let delay = delay_for(i, 8000);
        let (id, reached) = kill_create_after(b, delay);
        let delete = b.runtime(&["delete", "--force", &id]);
        assert!(delete.success(), "iteration {i} (killed after {delay:?}, {reached:?}): {delete:#?}");
        assert_no_leftovers(b, &id);
        counts[reached as usize] += 1;
    }
    counts
}

#[test]
fn create_killed_at_any_instant_leaves_nothing_after_delete_force() {
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    let [not_started, mid_create, created] = kill_creates(&b, 0, 60);
    println!(
        "create killed: {not_started} before it began, {mid_create} mid-create, {created} after created"
    );
    // Kills that land before the runtime starts, or after it finished, prove
    // nothing about cleanup: enough must have hit a half-built container.
    assert!(
        mid_create >= 5,
        "only {mid_create} of 60 kills landed mid-create ({not_started} too early, {created} too late): \
         adjust the delays to how long create takes here"
    );
}

#[test]
fn commands_are_not_blocked_after_a_killed_create() {
    // Init inherits the state directory's lock through fork; an init that
    // outlived (or outwaited) its killed creator used to keep every later
    // command on the ID waiting for the lock.
    let mut b = Bundle::new();
    b.probe(&["wait-signal"]);
    for ms in [0, 1, 2, 3, 4, 5, 6, 8, 10, 15] {
        let delay = Duration::from_millis(ms);
        // kill_create_after asserts that `state` returned in time.
        let (id, reached) = kill_create_after(&b, delay);
        let t = Instant::now();
        let delete = b.runtime(&["delete", "--force", &id]);
        assert!(
            !delete.timed_out,
            "delete --force hung after create was killed after {delay:?}: {delete:#?}"
        );
        assert!(delete.success(), "killed after {delay:?} ({reached:?}): {delete:#?}");
        println!("killed after {delay:?} ({reached:?}): delete --force took {:?}", t.elapsed());
        assert_no_leftovers(&b, &id);
    }
}

#[test]
fn commands_are_not_blocked_after_run_is_killed_during_start() {
    // The one sure way to a killed runtime whose init survives holding the
    // lock (if it kept it): init is past create (no more death signal) and
    // still before the exec that would close the descriptor, running a slow
    // startContainer hook, while `run` waits for it inside `start` with the
    // lock held. A create killed at random almost never lands in such a window.
    let mut b = Bundle::new();
    let shared = b.share();
    b.probe(&["wait-signal"]);
    // Longer than TIMEOUT, so a lock held until the hook ends shows as a hang.
    b.hook("startContainer", "touch /shared/hook-started; sleep 60");
    let (c, run) = b.spawn_run(&[]);
    wait_until("the startContainer hook to run", || shared.join("hook-started").exists());
    run.signal(libc::SIGKILL);
    run.wait();
    let state = c.cmd("state", &[]);
    assert!(!state.timed_out, "state hung after run was killed during start: {state:#?}");
    state.ok();
    let delete = c.delete(&["--force"]);
    assert!(!delete.timed_out, "delete --force hung after run was killed during start: {delete:#?}");
    delete.ok();
    assert_no_leftovers(&b, &c.id);
}

/// Kills of one command at seeded random instants, each followed by `delete
/// --force` and a leftovers check; `prepare` makes the container the command works
/// on, `command` gives the command's arguments for it. Returns how many kills
/// landed while the command was still running (the rest came after it ended).
fn kill_at_random_instants(
    b: &Bundle,
    what: &str,
    kills: u64,
    max_us: u64,
    prepare: impl Fn(&Bundle) -> String,
    command: impl Fn(&str) -> Vec<String>,
) -> usize {
    let mut mid_command = 0;
    for i in 0..kills {
        let id = prepare(b);
        let args = command(&id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let running = b.spawn_runtime(&args);
        std::thread::sleep(delay_for(i * 7919 + max_us, max_us));
        let pid = running.pid();
        // Still running (not yet a zombie) when the signal lands?
        if process_alive(pid) {
            mid_command += 1;
        }
        running.signal(libc::SIGKILL);
        let out = running.wait();
        assert!(!out.timed_out, "{what} #{i} hung: {out:#?}");
        let delete = b.runtime(&["delete", "--force", &id]);
        assert!(!delete.timed_out && delete.success(), "{what} #{i} killed: {delete:#?}");
        assert_no_leftovers(b, &id);
    }
    println!("fault injection: {kills} kills of {what} ({mid_command} while it ran), 0 left");
    mid_command
}

fn created(b: &Bundle) -> String {
    let id = b.new_id();
    b.write_config(&id);
    b.runtime(&["create", "--bundle", &b.path_str(), &id]).ok();
    id
}

fn started(b: &Bundle) -> String {
    let id = created(b);
    b.runtime(&["start", &id]).ok();
    id
}

#[test]
fn start_killed_at_any_instant_leaves_nothing_after_delete_force() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let mid = kill_at_random_instants(&b, "start", 50, 3000, created, |id| vec!["start".into(), id.into()]);
    assert!(mid >= 5, "only {mid} of 50 kills landed while start ran");
}

#[test]
fn exec_killed_at_any_instant_leaves_nothing_after_delete_force() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let exec = |id: &str| ["exec", id, "sleep", "300"].map(String::from).to_vec();
    let mid = kill_at_random_instants(&b, "exec", 50, 8000, started, exec);
    assert!(mid >= 5, "only {mid} of 50 kills landed while exec ran");
}

#[test]
fn delete_killed_at_any_instant_leaves_nothing_after_another_delete_force() {
    let mut b = Bundle::new();
    b.args(&["sleep", "300"]);
    let delete = |id: &str| ["delete", "--force", id].map(String::from).to_vec();
    let mid = kill_at_random_instants(&b, "delete --force", 50, 6000, started, delete);
    assert!(mid >= 5, "only {mid} of 50 kills landed while delete ran");
}

#[test]
fn create_in_the_host_mount_namespace_killed_at_any_instant_leaves_no_mount() {
    // Without a mount namespace the container's mounts are made in the host's: a
    // create killed half-way must not leave them there.
    let mut b = Bundle::new();
    b.remove_namespace("mount").args(&["sleep", "300"]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    let [not_started, mid_create, created] = kill_creates(&b, 1000, 30);
    println!("fault injection: 30 kills of create in the host mount namespace ({not_started} before it began, {mid_create} mid-create, {created} after), 0 left");
    assert!(mid_create >= 3, "only {mid_create} of 30 kills landed mid-create");
}
