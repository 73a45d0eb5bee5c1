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
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
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

/// A detached copy of `source` (with its submounts for `rbind`), carrying the
/// kernel's locks: the flags of a host mount (read-only, nosuid, noexec, ...) stay
/// out of reach of the container's root, as in a mount namespace made inside a user
/// namespace. A copy made in the host's own mount namespace would carry none, and a
/// container with CAP_SYS_ADMIN in its user namespace could remount a host
/// read-only bind writable. So a short-lived child copies the host's mount
/// namespace into a throwaway user namespace (the copy is locked) and clones the
/// source there, as runc clones sources from inside the container's namespaces.
/// An unprivileged runtime clones nothing (EPERM): init binds the source itself.
fn clone_tree(source: &Path, m: &Mount, step: &dyn Fn(&str) -> String) -> Result<OwnedFd> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::sys(step("open_tree"), nix::errno::Errno::EPERM));
    }
    let recursive_tree = m.options().iter().flatten().any(|o| o == "rbind");
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive_tree { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    // A directory is the child's working directory, which the namespace copy carries
    // over (nothing left to resolve with the lesser rights of the new namespace); a
    // file is named in its directory.
    let (dir, name) = if source.is_dir() {
        (source, std::ffi::CString::default())
    } else {
        let name = source.file_name().ok_or_else(|| Error::invalid(step("the source has no file name")))?;
        let name = std::ffi::CString::new(name.as_encoded_bytes())
            .map_err(|_| Error::invalid(step("the source has a NUL byte")))?;
        (source.parent().unwrap_or(Path::new("/")), name)
    };
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(|e| Error::invalid(step(&e.to_string())))?;
    // SAFETY: the runtime is single-threaded; the child only makes syscalls, sends
    // one fd and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys(step("fork"), e))? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            let cloned = (|| {
                nix::unistd::chdir(dir)?;
                nix::sched::unshare(
                    nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
                )?;
                let at = if name.is_empty() { flags | libc::AT_EMPTY_PATH as libc::c_uint } else { flags };
                // SAFETY: a valid C string; open_tree returns a new fd or -1.
                let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, name.as_ptr(), at) };
                nix::errno::Errno::result(r).map(|fd| fd as RawFd)
            })();
            let _ = match cloned {
                Ok(fd) => crate::fd_passing::send_fd(theirs.as_raw_fd(), b"tree", fd, "a cloned mount tree"),
                Err(e) => nix::unistd::write(&theirs, &(e as i32).to_ne_bytes())
                    .map(drop)
                    .map_err(|_| Error::PeerGone),
            };
            // SAFETY: _exit skips the parent's atexit handlers and buffers.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            drop(theirs);
            let received = crate::fd_passing::recv(ours.as_raw_fd(), "a cloned mount tree");
            let _ = nix::sys::wait::waitpid(child, None);
            match received? {
                (_, Some(tree)) => Ok(tree),
                // No fd came: the child sent the errno of the step that failed.
                (data, None) => {
                    let errno = data.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    Err(Error::sys(step("open_tree"), nix::errno::Errno::from_raw(errno)))
                }
            }
        }
    }
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
