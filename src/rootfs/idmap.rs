//! Idmapped bind mounts: `mounts[]` entries with `uidMappings`/`gidMappings`, or the
//! `idmap` / `ridmap` option (recursive), which then take the container's own
//! mappings. Files appear through such a mount with their owners translated: an
//! on-disk owner is read as an ID inside the mapping and shown as the host ID it maps
//! to.
//!
//! Making one needs CAP_SYS_ADMIN over the source's filesystem, which init no longer
//! has once it is in the container's user namespace. So the parent makes them before
//! init is forked: a detached copy of each source (open_tree), given the mapping of a
//! user namespace made for the purpose (mount_setattr with MOUNT_ATTR_IDMAP). init
//! inherits the fds and attaches them in its own mount namespace (move_mount), which
//! the capabilities of its user namespace allow.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A detached, idmapped copy of mount number `index`'s source.
pub struct IdmappedTree {
    pub index: usize,
    pub is_dir: bool,
    tree: OwnedFd,
}

/// Whether the mount asks for an idmapping.
pub fn wanted(m: &Mount) -> bool {
    let opts = m.options().iter().flatten();
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || opts.clone().any(|o| o == "idmap" || o == "ridmap")
}

/// In the parent: the idmapped trees of every mount that wants one.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<IdmappedTree>> {
    let mounts = spec.mounts().iter().flatten().enumerate().filter(|(_, m)| wanted(m));
    mounts.map(|(index, m)| prepare_one(spec, bundle, index, m)).collect()
}

fn prepare_one(spec: &Spec, bundle: &Path, index: usize, m: &Mount) -> Result<IdmappedTree> {
    let dest = m.destination().display();
    let opts: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    if !super::is_bind(m) {
        return Err(Error::invalid(format!("mount {dest}: idmapped mounts must be bind mounts")));
    }
    let linux = spec.linux().as_ref();
    let (uid, gid) = match (m.uid_mappings(), m.gid_mappings()) {
        (Some(u), Some(g)) => (u.as_slice(), g.as_slice()),
        (None, None) => (
            linux.and_then(|l| l.uid_mappings().as_deref()).unwrap_or(&[]),
            linux.and_then(|l| l.gid_mappings().as_deref()).unwrap_or(&[]),
        ),
        _ => {
            return Err(Error::invalid(format!(
                "mount {dest}: an idmapped mount needs both uidMappings and gidMappings"
            )))
        }
    };
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::invalid(format!(
            "mount {dest}: idmap needs uidMappings and gidMappings, on the mount or for the container"
        )));
    }
    let source = super::bind_source(m, bundle)?;
    let step = |what: &str| format!("idmapped mount {} on {dest}: {what}", source.display());
    let is_dir = std::fs::metadata(&source).map_err(|e| Error::invalid(step(&e.to_string())))?.is_dir();
    let userns = user_namespace_with(uid, gid).map_err(|e| Error::invalid(step(&e.to_string())))?;
    let recursive_tree = opts.contains(&"rbind");
    let c_source = std::ffi::CString::new(source.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid(step("the source has a NUL byte")))?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive_tree { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    // SAFETY: a valid C string; open_tree returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_source.as_ptr(), flags) };
    let fd = nix::errno::Errno::result(r).map_err(|e| Error::sys(step("open_tree"), e))?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let attr = super::MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    let at_flags = libc::AT_EMPTY_PATH | if opts.contains(&"ridmap") { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: attr is a valid mount_attr for the call; the path is "" (the fd itself).
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            at_flags as libc::c_uint,
            &attr as *const super::MountAttr,
            std::mem::size_of::<super::MountAttr>(),
        )
    };
    nix::errno::Errno::result(r).map_err(|e| Error::sys(step("mount_setattr(MOUNT_ATTR_IDMAP)"), e))?;
    Ok(IdmappedTree { index, is_dir, tree })
}

impl IdmappedTree {
    /// In init: attaches the tree on `target` (an fd inside the rootfs).
    pub fn attach(&self, target: &OwnedFd) -> nix::Result<()> {
        // SAFETY: both fds are valid; empty paths name the fds themselves.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                self.tree.as_raw_fd(),
                c"".as_ptr(),
                target.as_raw_fd(),
                c"".as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
            )
        };
        nix::errno::Errno::result(r).map(drop)
    }
}

/// A user namespace with the given mappings, held by its fd: a child is cloned into a
/// new one, its maps are written, its namespace is opened, and it exits.
fn user_namespace_with(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (hold, release) = nix::unistd::pipe().map_err(|e| Error::sys("pipe", e))?;
    // SAFETY: a raw clone without CLONE_VM is a fork; the runtime is single-threaded
    // and the child only blocks on a read and exits.
    let pid = unsafe { libc::syscall(libc::SYS_clone, libc::CLONE_NEWUSER | libc::SIGCHLD, 0, 0, 0, 0) };
    let pid = nix::errno::Errno::result(pid)
        .map_err(|e| Error::sys("clone a user namespace for an idmapped mount", e))? as i32;
    if pid == 0 {
        drop(release);
        let mut byte = [0u8; 1];
        // Returns when the parent closes its end (or dies).
        let _ = nix::unistd::read(hold.as_raw_fd(), &mut byte);
        // SAFETY: _exit skips atexit handlers and buffers that belong to the parent.
        unsafe { libc::_exit(0) }
    }
    drop(hold);
    let opened = crate::procfs::Procfs::open()
        .and_then(|proc| crate::namespaces::write_id_maps(&proc, pid, uid, gid))
        .and_then(|()| {
            std::fs::File::open(format!("/proc/{pid}/ns/user"))
                .map(OwnedFd::from)
                .map_err(|e| Error::invalid(format!("open the user namespace of the idmapping: {e}")))
        });
    drop(release);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    opened
}
