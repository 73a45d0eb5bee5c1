//! `exec`: a new process in a running container. It enters every namespace of the
//! container's init that differs from the runtime's (user first, mount last), forks
//! once more so a PID namespace applies, joins the container's cgroups before it
//! runs anything, and then takes the same last steps as init (limits, user,
//! capabilities, seccomp, exec). The sync socket is close-on-exec: the exec closes
//! it silently, a failure is sent over it.

use super::exec::Program;
use super::sync::{self, Message, SyncSocket};
use crate::error::{Context, Error, Result};
use crate::seccomp::Filter;
use nix::sched::setns;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Namespaces in the order they are entered.
const ORDER: [(LinuxNamespaceType, &str); 8] = [
    (LinuxNamespaceType::User, "user"),
    (LinuxNamespaceType::Cgroup, "cgroup"),
    (LinuxNamespaceType::Ipc, "ipc"),
    (LinuxNamespaceType::Uts, "uts"),
    (LinuxNamespaceType::Network, "net"),
    (LinuxNamespaceType::Pid, "pid"),
    (LinuxNamespaceType::Time, "time"),
    (LinuxNamespaceType::Mount, "mnt"),
];

pub struct Join<'a> {
    /// The container's init, whose namespaces are entered.
    pub init: i32,
    /// config.json with `process` replaced by the exec'd process.
    pub spec: &'a Spec,
    pub seccomp: Option<&'a Filter>,
    pub cgroup_dirs: &'a [PathBuf],
    /// No `--cgroup` given: a cgroup2 directory that can hold no process gives way to
    /// init's (see `cgroups::join_for_exec`).
    pub may_join_inits_cgroup: bool,
    /// `linux.intelRdt`: the groups every process of the container is in.
    pub resctrl: Option<&'a crate::resctrl::Groups>,
    pub console_socket: Option<RawFd>,
    pub preserve_fds: u32,
    /// The container's state, for a seccomp listener.
    pub state: serde_json::Value,
}

/// Starts the process; returns its host PID once it has exec'd (or the error that
/// stopped it).
pub fn spawn(join: &Join) -> Result<i32> {
    let namespaces = open_namespaces(join.init)?;
    let root = open_root_if_mount_ns_shared(join.init, &namespaces)?;
    let (parent, child) = sync::pair()?;
    let process = join.spec.process().as_ref().ok_or_else(|| Error::invalid("no process to exec"))?;
    crate::cpu_affinity::enter_initial(process)?;
    // The process is a grandchild; it must come back to us when its parent exits.
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)")?;
    // SAFETY: the runtime is single-threaded; the child only runs our own code.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork")? {
        nix::unistd::ForkResult::Child => {
            parent.close_in_child();
            let err = match enter_and_exec(&namespaces, root.as_ref(), &child, join) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let _ = child.send(&Message::Failed(err));
            // SAFETY: _exit skips atexit handlers and buffers that belong to the parent.
            unsafe { libc::_exit(1) }
        }
        nix::unistd::ForkResult::Parent { child: intermediate } => {
            drop(child);
            let Message::InitPid(pid) = parent.expect("InitPid", |m| matches!(m, Message::InitPid(_)))?
            else {
                unreachable!()
            };
            nix::sys::wait::waitpid(intermediate, None).ctx(|| "wait for intermediate child")?;
            for dir in join.cgroup_dirs {
                crate::cgroups::join_for_exec(dir, pid, join.may_join_inits_cgroup.then_some(join.init))?;
            }
            if let Some(groups) = join.resctrl {
                groups.join(pid)?;
            }
            super::apply_limits(pid, join.spec)?;
            crate::cpu_affinity::settle(pid, process)?;
            parent.send(&Message::Go)?;
            // Closed by the exec (close-on-exec): success. A message: the failure, or
            // first the notify fd for a seccomp listener.
            loop {
                match parent.recv_with_fd() {
                    Ok((Message::SeccompListener, fd)) => {
                        crate::seccomp::pass_to_listener(join.seccomp, fd, pid, join.state.clone())?;
                        parent.send(&Message::SeccompListenerDone)?;
                    }
                    Ok((Message::Failed(e), _)) => {
                        // It exits right after saying so, and is our child now (the
                        // subreaper's): reaped here, or it would be left a zombie in the
                        // container once this command has exited.
                        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
                        return Err(e);
                    }
                    Ok((m, _)) => {
                        return Err(Error::invalid(format!("sync protocol: unexpected {m:?} during exec")))
                    }
                    Err(_) => return Ok(pid),
                }
            }
        }
    }
}

/// A container sharing the runtime's mount namespace is chrooted into its rootfs:
/// its init's root, which the exec'd process must get too (joining the mount
/// namespace would otherwise have set it).
fn open_root_if_mount_ns_shared(
    init: i32,
    namespaces: &[(LinuxNamespaceType, OwnedFd)],
) -> Result<Option<OwnedFd>> {
    if namespaces.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount) {
        return Ok(None);
    }
    let root = format!("/proc/{init}/root");
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(&root)
        .ctx(|| format!("open {root}"))?;
    Ok(Some(OwnedFd::from(dir)))
}

/// The namespaces of init that are not already ours.
fn open_namespaces(init: i32) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    let mut out = Vec::new();
    for (typ, name) in ORDER {
        let theirs = format!("/proc/{init}/ns/{name}");
        let Ok(file) = std::fs::File::open(&theirs) else { continue };
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}"))
            .ctx(|| format!("stat own {name} namespace"))?;
        let theirs_meta = file.metadata().ctx(|| format!("stat {theirs}"))?;
        if (theirs_meta.dev(), theirs_meta.ino()) != (ours.dev(), ours.ino()) {
            out.push((typ, OwnedFd::from(file)));
        }
    }
    Ok(out)
}

fn enter_and_exec(
    namespaces: &[(LinuxNamespaceType, OwnedFd)],
    root: Option<&OwnedFd>,
    sock: &SyncSocket,
    join: &Join,
) -> Result<std::convert::Infallible> {
    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    for (typ, fd) in namespaces {
        setns(fd, crate::namespaces::clone_flag(*typ))
            .ctx(|| format!("join the container's {typ} namespace"))?;
    }
    if let Some(root) = root {
        nix::unistd::fchdir(root.as_raw_fd()).ctx(|| "chdir to the container's root")?;
        nix::unistd::chroot(".").ctx(|| "chroot into the container's root")?;
    }
    // Before the fork puts it in the container's PID namespace, where its
    // /proc/PID/exe (the host binary) could otherwise be opened (CVE-2019-5736); after
    // the setns calls, as joining a user namespace changes credentials.
    if super::undumpable_from_the_start(None) {
        super::become_undumpable()?;
    }
    // A PID (or time) namespace applies to children: fork into it.
    // SAFETY: single-threaded; the child goes on as the exec'd process.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork into the container's PID namespace")? {
        nix::unistd::ForkResult::Parent { child } => {
            sock.send(&Message::InitPid(child.as_raw()))?;
            // SAFETY: the intermediate child has nothing to flush or clean up.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Child => {}
    }
    // No parent-death signal here (fork cleared it): a detached process outlives
    // `exec`. Should the runtime die before Go, the socket's EOF ends this process.
    sock.expect("Go", |m| matches!(m, Message::Go))?;
    super::init::reset_signal_dispositions();
    nix::unistd::setsid().ctx(|| "setsid")?;
    // At the latest: an unprivileged parent has set the limits by now.
    super::become_undumpable()?;
    if let Some(socket) = join.console_socket {
        let process = join.spec.process().as_ref().ok_or_else(|| Error::invalid("no process to exec"))?;
        crate::console::setup_in_container(socket, false, process)?;
    }
    // Looked up now, inside the container's mount namespace.
    let mut program = Program::prepare(join.spec, join.preserve_fds, join.seccomp)?;
    super::init::hand_over_seccomp_listener(&mut program, sock)?;
    program.exec(Some(sock.raw_fd()), || Ok(()))
}
