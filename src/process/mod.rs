//! The container's processes: forking init (`spawn`), what init does in the child
//! (`init`), and the final steps that turn it into the user's program (`exec`, through
//! the sealed `exec_stub`).

pub mod exec;
mod exec_stub;
pub mod init;
pub mod join;
pub mod scheduling;
pub mod sealed_copy;
pub mod sync;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::procfs::Procfs;
use init::InitContext;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, PosixRlimitType};
use std::os::fd::{AsRawFd, OwnedFd};
use sync::{Message, SyncSocket};

/// Forks init and takes it through the namespace steps that need the parent: joining
/// the cgroup (before init does anything, so it never runs unconstrained) and writing
/// the uid/gid maps of a new user namespace. Returns init's host PID.
///
/// The runtime is single-threaded, so a plain fork (or clone without CLONE_VM) is
/// safe and needs no re-exec of the runtime binary.
pub fn spawn(ctx: &InitContext, cgroup: &Cgroup, parent: &SyncSocket, child: SyncSocket) -> Result<i32> {
    let plan = ctx.namespaces;
    let single = plan.single_clone();
    if !single && plan.needs_inner_fork() {
        // The real init is a grandchild; when its parent exits it must come back to us.
        nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)")?;
    }
    // Init makes most of its namespaces itself, right after the clone, in parallel
    // with the cgroup setup below (see `NamespacePlan::made_at_clone`).
    let flags = if single { plan.made_at_clone() } else { CloneFlags::empty() };
    // Who puts init in which cgroup: in the cgroup2 hierarchy the kernel, at clone
    // (clone3's CLONE_INTO_CGROUP), where it can; in v1 hierarchies init itself when
    // it can (see `Cgroup::join_v1_self`); the rest the parent, by writing
    // cgroup.procs, which costs an RCU grace period in the kernel.
    let cgroup_dir = cgroup.v2_dir()?;
    let (pid, in_v2) = fork_with_namespaces(flags, cgroup_dir.as_ref()).ctx(|| "clone init")?;
    if pid == 0 {
        // The child must not keep the parent's end open, or the parent's death would
        // not close the socket for it.
        parent.close_in_child();
        // Nor a host cgroup directory, open in init until its last exec otherwise.
        drop(cgroup_dir);
        init::run(ctx, child, !single);
    }
    drop(child);
    drop(cgroup_dir);
    // The child this process must reap should the rest fail: the forked one, or
    // init once the intermediate child has been reaped.
    let mut ours = pid;
    let released = release(ctx, cgroup, parent, pid, in_v2, &mut ours);
    if released.is_err() {
        kill_and_reap(ours);
    }
    released
}

/// The parent's part of `spawn` after the fork: cgroups, limits, ID maps, and the
/// go-ahead; init's PID when it is through.
fn release(
    ctx: &InitContext,
    cgroup: &Cgroup,
    parent: &SyncSocket,
    pid: i32,
    in_v2: bool,
    ours: &mut i32,
) -> Result<i32> {
    let plan = ctx.namespaces;
    let single = plan.single_clone();
    let resources = ctx.spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    cgroup.set_up_for_init(pid, &ctx.state.id, resources)?;
    // systemd put init in the scope's cgroup2 directory.
    let in_v2 = in_v2 || cgroup.systemd.is_some();
    if let Some(groups) = &ctx.state.resctrl {
        groups.apply(pid)?;
    }
    // Step marks: with --debug the log's timestamps show where create spends its time.
    crate::logger::debug("create: cgroups made");
    let init_joins_v1 = init_joins_v1_itself(plan);
    cgroup.add(pid, |h| if h.v2 { !in_v2 } else { !init_joins_v1 })?;
    crate::logger::debug(format!(
        "init placed: cgroup2 {}, v1 {}",
        if in_v2 { "at clone (clone3 CLONE_INTO_CGROUP)" } else { "by the parent" },
        if init_joins_v1 { "by init itself" } else { "by the parent" }
    ));
    apply_limits(pid, ctx.spec)?;
    // Before init forks again: its children inherit the reset.
    crate::cpu_affinity::reset(pid);
    if single {
        if plan.creates(LinuxNamespaceType::User) {
            write_id_maps(pid, ctx)?;
        }
        parent.send(&Message::Go)?;
        return Ok(pid);
    }
    parent.send(&Message::Go)?;
    if plan.creates(LinuxNamespaceType::User) {
        parent.expect("UsernsCreated", |m| matches!(m, Message::UsernsCreated))?;
        write_id_maps(pid, ctx)?;
        parent.send(&Message::MapsWritten)?;
    }
    if !plan.needs_inner_fork() {
        return Ok(pid);
    }
    let Message::InitPid(init_pid) = parent.expect("InitPid", |m| matches!(m, Message::InitPid(_)))? else {
        unreachable!()
    };
    // Reap the intermediate child; init is reparented to us (the subreaper).
    nix::sys::wait::waitpid(Pid::from_raw(pid), None).ctx(|| "wait for intermediate child")?;
    *ours = init_pid;
    parent.send(&Message::Go)?;
    Ok(init_pid)
}

/// After a failed step (of create, or exec's pid file): SIGKILL for a child of ours
/// and its reaping, so it is not left a zombie until the runtime exits. Bounded: a
/// child that cannot die (stuck in the kernel) is left to the runtime's exit rather
/// than waited on forever.
pub fn kill_and_reap(child: i32) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let child = Pid::from_raw(child);
    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
    for _ in 0..5000 {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(std::time::Duration::from_millis(1)),
            _ => return,
        }
    }
}

/// Makes this process non-dumpable. Until the exec stub runs, a runtime process in a
/// container has the runtime's host binary as /proc/self/exe; non-dumpable, nothing
/// in the container can open its /proc/PID/exe or ptrace it without CAP_SYS_PTRACE
/// over the host (CVE-2019-5736). Every change of credentials resets it to
/// fs.suid_dumpable, which a host may set to 1: so it is set again after each.
pub(super) fn become_undumpable() -> Result<()> {
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)")
}

/// Whether a runtime process that is about to join a container can be non-dumpable
/// from the start. Two writes need it dumpable for a while: an unprivileged parent's
/// to the child's /proc files (uid/gid maps, setgroups, oom_score_adj), which a
/// non-dumpable process's /proc gives to root; and init's own timens_offsets in a user
/// namespace, for the same reason.
pub(super) fn undumpable_from_the_start(plan: Option<&crate::namespaces::NamespacePlan>) -> bool {
    let writes_time_offsets_in_userns =
        plan.is_some_and(|p| p.creates(LinuxNamespaceType::Time) && p.apart(LinuxNamespaceType::User));
    nix::unistd::geteuid().is_root() && !writes_time_offsets_in_userns
}

/// Whether init moves itself into its v1 cgroups: it can write their `tasks` files
/// when it came from one clone and is root outside any user namespace.
pub(super) fn init_joins_v1_itself(plan: &crate::namespaces::NamespacePlan) -> bool {
    let user_ns = plan.apart(LinuxNamespaceType::User);
    plan.single_clone() && !user_ns && nix::unistd::geteuid().is_root()
}

/// clone3(2)'s arguments (struct clone_args up to `cgroup`, CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks with namespace flags (no new stack, no shared memory), into `cgroup` when
/// one is given and the kernel has clone3 with CLONE_INTO_CGROUP (5.7+); says
/// whether the child started there.
fn fork_with_namespaces(flags: CloneFlags, cgroup: Option<&OwnedFd>) -> nix::Result<(i32, bool)> {
    if let Some(dir) = cgroup {
        let mut args = CloneArgs {
            flags: flags.bits() as u64 | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        // SAFETY: as for clone below, the child gets a copy of the address space
        // (no CLONE_VM, no stack given); args outlives the call.
        let r = unsafe {
            libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>())
        };
        match nix::errno::Errno::result(r) {
            Ok(pid) => return Ok((pid as i32, true)),
            // Older kernels: fork, then join the cgroup by writing cgroup.procs.
            Err(nix::errno::Errno::ENOSYS | nix::errno::Errno::E2BIG | nix::errno::Errno::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    // SAFETY: without CLONE_VM the child gets a copy of the address space, exactly as
    // with fork(); the runtime is single-threaded, so no lock is held by another thread.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    nix::errno::Errno::result(r).map(|p| (p as i32, false))
}

/// Resource limits and the OOM score, set on init from here: from inside a user
/// namespace raising a hard limit is refused, and /proc/self/oom_score_adj of a
/// non-dumpable init is not init's to write. A limit the host does not allow fails
/// `create`; the program inherits them all.
pub(super) fn apply_limits(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(process) = spec.process() else { return Ok(()) };
    for rl in process.rlimits().iter().flatten() {
        let lim = libc::rlimit { rlim_cur: rl.soft(), rlim_max: rl.hard() };
        // SAFETY: lim is a valid rlimit; the old value is not asked for.
        let r = unsafe { libc::prlimit(pid, rlimit_resource(rl.typ()), &lim, std::ptr::null_mut()) };
        nix::errno::Errno::result(r).ctx(|| format!("set {:?} to {}/{}", rl.typ(), rl.soft(), rl.hard()))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        Procfs::open()?.write(&format!("{pid}/oom_score_adj"), &adj.to_string())?;
    }
    Ok(())
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

fn write_id_maps(pid: i32, ctx: &InitContext) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let uid = linux.and_then(|l| l.uid_mappings().as_deref()).unwrap_or(&[]);
    let gid = linux.and_then(|l| l.gid_mappings().as_deref()).unwrap_or(&[]);
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::invalid("a new user namespace needs linux.uidMappings and linux.gidMappings"));
    }
    if nix::unistd::geteuid().is_root() {
        return crate::namespaces::write_id_maps(&Procfs::open()?, pid, uid, gid);
    }
    // Unprivileged, the kernel lets us map our own uid and gid, one ID each, and a
    // gid map only once setgroups is denied (or dropping groups could widen access).
    // Anything more takes the setuid helpers and the caller's /etc/subuid and
    // /etc/subgid ranges.
    let own = |map: &[LinuxIdMapping], id: u32| matches!(map, [m] if m.host_id() == id && m.size() == 1);
    if own(uid, nix::unistd::geteuid().as_raw()) && own(gid, nix::unistd::getegid().as_raw()) {
        let proc = Procfs::open()?;
        proc.write(&format!("{pid}/setgroups"), "deny")?;
        return crate::namespaces::write_id_maps(&proc, pid, uid, gid);
    }
    run_id_map_helper("newuidmap", pid, uid)?;
    run_id_map_helper("newgidmap", pid, gid)
}

/// newuidmap / newgidmap (Debian: uidmap), which check the mapping against the
/// caller's /etc/subuid and /etc/subgid entries.
fn run_id_map_helper(helper: &str, pid: i32, map: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in map {
        cmd.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
    }
    let out = cmd.output().map_err(|e| {
        Error::invalid(format!(
            "rootless: mapping more than your own ID needs {helper} (Debian: uidmap) and /etc/subuid and /etc/subgid entries: {e}"
        ))
    })?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "{helper} {pid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
