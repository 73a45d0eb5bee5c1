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

    /// Joins the user namespace, if one is given by path.
    pub fn join_user(&self) -> Result<()> {
        self.join_where(|t| t == LinuxNamespaceType::User)
    }

    /// Joins every namespace given by path except the user namespace.
    pub fn join_others(&self) -> Result<()> {
        self.join_where(|t| t != LinuxNamespaceType::User)
    }

    fn join_where(&self, pick: impl Fn(LinuxNamespaceType) -> bool) -> Result<()> {
        for (typ, fd) in self.joins.iter().filter(|(t, _)| pick(*t)) {
            setns(fd, clone_flag(*typ)).map_err(|e| match e {
                nix::errno::Errno::EINVAL => {
                    Error::invalid(format!("join {typ} namespace: the path is not a {typ} namespace"))
                }
                e => Error::sys(format!("join {typ} namespace"), e),
            })?;
        }
        Ok(())
    }
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
