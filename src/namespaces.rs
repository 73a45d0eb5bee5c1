//! Which namespaces a container gets, new or joined through `path`, and how to enter
//! them in the order the kernel needs: the user namespace first (it owns the others),
//! the mount namespace last (joining it changes what paths mean).

use crate::error::{Context, Error, Result};
use crate::procfs::Procfs;
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespace, LinuxNamespaceType};
use std::os::fd::OwnedFd;

pub fn clone_flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME shares its bit with CSIGNAL in clone(2); only unshare takes it.
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

/// The namespaces of one container. Paths of joined namespaces are opened when the
/// plan is made, in the parent, so a bad path fails before anything is created.
pub struct NamespacePlan {
    /// Namespaces to create.
    pub new: CloneFlags,
    /// Namespaces to join, user first and mount last.
    pub joins: Vec<(LinuxNamespaceType, OwnedFd)>,
}

impl NamespacePlan {
    pub fn new(namespaces: &[LinuxNamespace]) -> Result<Self> {
        let mut new = CloneFlags::empty();
        let mut joins = Vec::new();
        for ns in namespaces {
            match ns.path() {
                None => new |= clone_flag(ns.typ()),
                Some(path) => {
                    let fd = std::fs::File::open(path)
                        .ctx(|| format!("open {} namespace {}", ns.typ(), path.display()))?;
                    joins.push((ns.typ(), OwnedFd::from(fd)));
                }
            }
        }
        let rank = |t: &LinuxNamespaceType| match t {
            LinuxNamespaceType::User => 0,
            LinuxNamespaceType::Mount => 2,
            _ => 1,
        };
        joins.sort_by_key(|(t, _)| rank(t));
        Ok(NamespacePlan { new, joins })
    }

    pub fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(clone_flag(typ))
    }

    pub fn joins(&self, typ: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|(t, _)| *t == typ)
    }

    /// Whether the container has a namespace of this type apart from the runtime's:
    /// a new one or one joined by path (an unlisted type is the runtime's own).
    pub fn apart(&self, typ: LinuxNamespaceType) -> bool {
        self.creates(typ) || self.joins(typ)
    }

    /// One clone(2) with every flag does the whole job when nothing is joined and no
    /// time namespace is needed; otherwise init enters them step by step.
    pub fn single_clone(&self) -> bool {
        self.joins.is_empty() && !self.creates(LinuxNamespaceType::Time)
    }

    /// The namespaces the clone of init makes. PID must be: a new PID namespace only
    /// applies to children. User too, as it owns those made after it. Init makes the
    /// rest itself (`unshared_by_init`), while the parent goes on with the cgroups.
    pub fn made_at_clone(&self) -> CloneFlags {
        self.new & (CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER)
    }

    /// What init unshares at once after a single clone: everything else but the cgroup
    /// namespace, which waits until init is in its cgroup.
    pub fn unshared_by_init(&self) -> CloneFlags {
        // On raw bits: CloneFlags' `!` would drop CLONE_NEWTIME, unknown to nix.
        let kept = (self.made_at_clone() | CloneFlags::CLONE_NEWCGROUP).bits();
        CloneFlags::from_bits_retain(self.new.bits() & !kept)
    }

    /// A new PID or time namespace (created or joined) only applies to children, so
    /// the step-by-step path forks once more after entering them.
    pub fn needs_inner_fork(&self) -> bool {
        [LinuxNamespaceType::Pid, LinuxNamespaceType::Time].iter().any(|t| self.apart(*t))
    }

    /// The host user and group of root in a user namespace joined by path (the
    /// config has no mappings then, but what init opens as that root must belong to
    /// it). Asked of the namespace itself, as runc does: a short-lived child joins
    /// it and reads its own uid_map and gid_map, which then show host IDs.
    pub fn joined_user_root(&self) -> Result<Option<(u32, u32)>> {
        let Some((_, userns)) = self.joins.iter().find(|(t, _)| *t == LinuxNamespaceType::User) else {
            return Ok(None);
        };
        let (read, write) = nix::unistd::pipe().ctx(|| "pipe")?;
        // SAFETY: the runtime is single-threaded; the child only joins, reads two
        // small files, writes to the pipe and exits.
        match unsafe { nix::unistd::fork() }.ctx(|| "fork to read a user namespace's mappings")? {
            nix::unistd::ForkResult::Child => {
                drop(read);
                let report = setns(userns, CloneFlags::CLONE_NEWUSER)
                    .map_err(|e| e.to_string())
                    .and_then(|()| Ok(format!("{} {}", root_in_map("uid_map")?, root_in_map("gid_map")?)));
                let line = report.unwrap_or_else(|e| format!("error {e}"));
                let _ = nix::unistd::write(&write, line.as_bytes());
                // SAFETY: _exit skips the parent's atexit handlers and buffers.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(write);
                let mut line = String::new();
                let read_result = std::io::Read::read_to_string(&mut std::fs::File::from(read), &mut line);
                let _ = nix::sys::wait::waitpid(child, None);
                read_result.ctx(|| "read a user namespace's mappings")?;
                let ids: Vec<u32> = line.split(' ').filter_map(|n| n.parse().ok()).collect();
                match ids[..] {
                    [uid, gid] => Ok(Some((uid, gid))),
                    _ => Err(Error::invalid(format!(
                        "joined user namespace: {}",
                        line.trim_start_matches("error ")
                    ))),
                }
            }
        }
    }

    /// Joins every namespace given by path in runc's order: first the others, with
    /// the runtime's own privileges (once in the joined user namespace, a namespace
    /// it does not own could no longer be joined), skipping those refused for
    /// permission; then the user namespace; then those skipped (a rootless runtime
    /// may join them only from inside the user namespace that owns them).
    pub fn join_all(&self) -> Result<()> {
        let mut pending: Vec<&(LinuxNamespaceType, OwnedFd)> = self.joins.iter().collect();
        let passes = [(false, true), (true, false), (false, false)];
        for (user_pass, may_wait) in passes {
            let mut left = Vec::new();
            for entry @ (typ, fd) in pending {
                if (*typ == LinuxNamespaceType::User) != user_pass {
                    left.push(entry);
                    continue;
                }
                match setns(fd, clone_flag(*typ)) {
                    Ok(()) => {}
                    Err(nix::errno::Errno::EPERM) if may_wait => left.push(entry),
                    Err(nix::errno::Errno::EINVAL) => {
                        return Err(Error::invalid(format!(
                            "join {typ} namespace: the path is not a {typ} namespace"
                        )))
                    }
                    Err(e) => return Err(Error::sys(format!("join {typ} namespace"), e)),
                }
            }
            pending = left;
        }
        Ok(())
    }
}

/// The host ID of ID 0 in this process's user namespace, from /proc/self/`file`.
fn root_in_map(file: &str) -> std::result::Result<u32, String> {
    let text =
        std::fs::read_to_string(format!("/proc/self/{file}")).map_err(|e| format!("read {file}: {e}"))?;
    text.lines()
        .filter_map(|line| {
            let fields: Vec<u32> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
            match fields[..] {
                [0, host, size] if size > 0 => Some(host),
                _ => None,
            }
        })
        .next()
        .ok_or_else(|| format!("{file} maps no ID 0"))
}

/// Writes /proc/PID/uid_map and gid_map (as `containerID hostID size` lines) of a
/// process in a new user namespace: init's, or the one an idmapped mount borrows.
pub fn write_id_maps(proc: &Procfs, pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    for (file, map) in [("uid_map", uid), ("gid_map", gid)] {
        let text: String =
            map.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
        proc.write(&format!("{pid}/{file}"), &text)?;
    }
    Ok(())
}
