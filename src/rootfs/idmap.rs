//! Bind mounts whose trees the parent prepares before init is forked, as detached
//! copies of their sources (open_tree) that init attaches in its own mount namespace
//! (move_mount, which the capabilities of its user namespace allow):
//!
//! - Idmapped bind mounts: `mounts[]` entries with `uidMappings`/`gidMappings`, or
//!   the `idmap` / `ridmap` option (recursive), which then take the container's own
//!   mappings. Files appear through such a mount with their owners translated. Making
//!   one needs CAP_SYS_ADMIN over the source's filesystem, which init no longer has
//!   in the container's user namespace: the copy gets the mapping of a user namespace
//!   made for the purpose (mount_setattr with MOUNT_ATTR_IDMAP).
//! - Every bind mount of a container with a new user namespace: init, as the
//!   container's root, may not be able to reach a source the runtime can (a 0700
//!   directory of the host's root on the way), so the source is opened here, as runc
//!   opens mount sources before it enters the user namespace.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// A detached copy of mount number `index`'s source, idmapped or not.
pub struct DetachedTree {
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

/// In the parent: the trees of every idmapped mount, and of every bind mount when
/// the container gets a new user namespace.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<DetachedTree>> {
    let new_userns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none()));
    let mut trees = Vec::new();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        if wanted(m) {
            trees.push(prepare_idmapped(spec, bundle, index, m)?);
        } else if new_userns && super::is_bind(m) {
            let source = super::bind_source(m, bundle)?;
            let step = |what: &str| {
                format!("bind mount {} on {}: {what}", source.display(), m.destination().display())
            };
            let is_dir =
                std::fs::metadata(&source).map_err(|e| Error::invalid(step(&e.to_string())))?.is_dir();
            match clone_tree(&source, m, &step) {
                Ok(tree) => trees.push(DetachedTree { index, is_dir, tree }),
                // An unprivileged (rootless) runtime may not clone a mount; its
                // container's root is the runtime's own user, who reaches what it does:
                // init binds the source itself.
                Err(Error::Sys { errno, .. }) if errno == libc::EPERM => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(trees)
}

/// A detached copy of `source` (with its submounts for `rbind`).
fn clone_tree(source: &Path, m: &Mount, step: &dyn Fn(&str) -> String) -> Result<OwnedFd> {
    let recursive_tree = m.options().iter().flatten().any(|o| o == "rbind");
    let c_source = std::ffi::CString::new(source.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid(step("the source has a NUL byte")))?;
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive_tree { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    // SAFETY: a valid C string; open_tree returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_source.as_ptr(), flags) };
    let fd = nix::errno::Errno::result(r).map_err(|e| Error::sys(step("open_tree"), e))?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn prepare_idmapped(spec: &Spec, bundle: &Path, index: usize, m: &Mount) -> Result<DetachedTree> {
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
    let tree = clone_tree(&source, m, &step)?;
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
    Ok(DetachedTree { index, is_dir, tree })
}

impl DetachedTree {
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
