//! The container's processes: forking init (`spawn`), what init does in the child
//! (`init`), and the final steps that turn it into the user's program (`exec`).

pub mod exec;
pub mod init;
pub mod sync;

use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use init::InitContext;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};
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
    let flags = if single { plan.new } else { CloneFlags::empty() };
    let pid = fork_with_namespaces(flags).ctx(|| "clone init")?;
    if pid == 0 {
        drop_parent_end(parent);
        init::run(ctx, child, !single);
    }
    drop(child);
    cgroup.add(pid)?;
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
    parent.send(&Message::Go)?;
    Ok(init_pid)
}

/// The child must not keep the parent's end open, or the parent's death would not
/// close the socket for it.
fn drop_parent_end(parent: &SyncSocket) {
    parent.close_in_child();
}

/// clone(2) with fork semantics (no new stack, no shared memory) and namespace flags.
fn fork_with_namespaces(flags: CloneFlags) -> nix::Result<i32> {
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
    nix::errno::Errno::result(r).map(|p| p as i32)
}

fn write_id_maps(pid: i32, ctx: &InitContext) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    let uid = linux.and_then(|l| l.uid_mappings().as_deref()).unwrap_or(&[]);
    let gid = linux.and_then(|l| l.gid_mappings().as_deref()).unwrap_or(&[]);
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::invalid("a new user namespace needs linux.uidMappings and linux.gidMappings"));
    }
    write_map(pid, "uid_map", uid)?;
    write_map(pid, "gid_map", gid)
}

fn write_map(pid: i32, file: &str, map: &[LinuxIdMapping]) -> Result<()> {
    let text: String =
        map.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).ctx(|| format!("write {path}"))
}
