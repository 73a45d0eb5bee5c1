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
//!
//! A source inside the rootfs may lie on a mount the config makes before it (runc's
//! mounts.bats builds trees so): it exists only in the container's mount namespace,
//! once init is there. Init binds such a source itself, reaching it through the
//! rootfs; an idmapped one it asks the parent for when its turn comes, and the parent
//! clones it from init's mount namespace (`prepare_from_container`), as runc's parent
//! answers its init's mount-source requests.

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
/// the container gets a new user namespace, but those whose source is in the rootfs.
pub fn prepare(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<Vec<DetachedTree>> {
    let new_userns = creates_user_namespace(spec);
    let mut trees = Vec::new();
    for index in 0..spec.mounts().as_ref().map_or(0, Vec::len) {
        trees.extend(prepare_mount(spec, bundle, rootfs, index, new_userns)?);
    }
    Ok(trees)
}

pub fn creates_user_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none()))
}

/// `prepare` for the config's mount number `index` (one added after `prepare` too).
pub fn prepare_mount(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    index: usize,
    new_userns: bool,
) -> Result<Option<DetachedTree>> {
    let Some(m) = spec.mounts().as_ref().and_then(|mounts| mounts.get(index)) else { return Ok(None) };
    if path_in_rootfs(spec, bundle, rootfs, m).is_some() {
        return Ok(None);
    }
    if wanted(m) {
        return prepare_idmapped(spec, bundle, index, SourceAt::Host).map(Some);
    }
    if !(new_userns && super::is_bind(m)) {
        return Ok(None);
    }
    let source = super::bind_source(m, bundle)?;
    let step =
        |what: &str| format!("bind mount {} on {}: {what}", source.display(), m.destination().display());
    match clone_tree(&source, m, SourceAt::Host, &step) {
        Ok((tree, is_dir)) => Ok(Some(DetachedTree { index, is_dir, tree })),
        // An unprivileged (rootless) runtime may not clone a mount; its container's
        // root is the runtime's own user, who reaches what it does: init binds the
        // source itself.
        Err(Error::Sys { errno, .. }) if errno == libc::EPERM => Ok(None),
        Err(e) => Err(e),
    }
}

/// The path in the container of a bind mount's source that lies in the rootfs
/// (named through the config's root path or the canonical one), if it does.
fn path_in_rootfs(spec: &Spec, bundle: &Path, rootfs: &Path, m: &Mount) -> Option<std::path::PathBuf> {
    if !super::is_bind(m) {
        return None;
    }
    let source = super::bind_source(m, bundle).ok()?;
    let given = bundle.join(spec.root().as_ref()?.path());
    [given.as_path(), rootfs].iter().find_map(|root| source.strip_prefix(root).ok()).map(Path::to_path_buf)
}

/// Where a tree's source is looked up.
#[derive(Clone, Copy)]
enum SourceAt<'a> {
    /// On the host, as the config names it.
    Host,
    /// In init's mount namespace, as a path in the container: resolved inside the
    /// rootfs, so the image's symlinks cannot lead the runtime out of it.
    Container { mount_ns: &'a OwnedFd, rootfs: &'a Path, inside: &'a Path },
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
/// Returns the tree and whether it is a directory.
fn clone_tree(
    source: &Path,
    m: &Mount,
    at: SourceAt,
    step: &dyn Fn(&str) -> String,
) -> Result<(OwnedFd, bool)> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::sys(step("open_tree"), nix::errno::Errno::EPERM));
    }
    let recursive_tree = m.options().iter().flatten().any(|o| o == "rbind");
    let flags = OPEN_TREE_CLONE
        | libc::O_CLOEXEC as libc::c_uint
        | if recursive_tree { libc::AT_RECURSIVE as libc::c_uint } else { 0 };
    let file_name = source.file_name().map(|n| std::ffi::CString::new(n.as_encoded_bytes()));
    let file_name = match file_name {
        Some(Ok(name)) => name,
        Some(Err(_)) => return Err(Error::invalid(step("the source has a NUL byte"))),
        None => std::ffi::CString::default(),
    };
    let (ours, theirs) =
        std::os::unix::net::UnixStream::pair().map_err(|e| Error::invalid(step(&e.to_string())))?;
    // SAFETY: the runtime is single-threaded; the child only makes syscalls, sends
    // one fd and exits.
    match unsafe { nix::unistd::fork() }.map_err(|e| Error::sys(step("fork"), e))? {
        nix::unistd::ForkResult::Child => {
            drop(ours);
            let cloned = (|| {
                // A directory is the child's working directory, which the namespace
                // copy carries over (nothing left to resolve with the lesser rights of
                // the new namespace); a file is named in its directory.
                let is_dir = enter_source_dir(source, at)?;
                let name = if is_dir { c"" } else { file_name.as_c_str() };
                nix::sched::unshare(
                    nix::sched::CloneFlags::CLONE_NEWUSER | nix::sched::CloneFlags::CLONE_NEWNS,
                )?;
                let mut at_flags = flags;
                if is_dir {
                    at_flags |= libc::AT_EMPTY_PATH as libc::c_uint;
                } else if matches!(at, SourceAt::Container { .. }) {
                    // Checked not to be a symlink below; never followed out of the rootfs.
                    at_flags |= libc::AT_SYMLINK_NOFOLLOW as libc::c_uint;
                }
                // SAFETY: a valid C string; open_tree returns a new fd or -1.
                let r =
                    unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, name.as_ptr(), at_flags) };
                nix::errno::Errno::result(r).map(|fd| (fd as RawFd, is_dir))
            })();
            let _ = match cloned {
                Ok((fd, is_dir)) => {
                    let kind: &[u8] = if is_dir { b"dir" } else { b"file" };
                    crate::fd_passing::send_fd(theirs.as_raw_fd(), kind, fd, "a cloned mount tree")
                }
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
                (kind, Some(tree)) => Ok((tree, kind == b"dir")),
                // No fd came: the child sent the errno of the step that failed.
                (data, None) => {
                    let errno = data.get(..4).map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    Err(Error::sys(step("clone the source"), nix::errno::Errno::from_raw(errno)))
                }
            }
        }
    }
}

/// In clone_tree's child: makes the source (a directory) or the directory holding
/// it (a file) the working directory; returns whether the source is a directory.
fn enter_source_dir(source: &Path, at: SourceAt) -> nix::Result<bool> {
    let is_type = |mode: libc::mode_t, kind: libc::mode_t| mode & libc::S_IFMT == kind;
    match at {
        SourceAt::Host => {
            let is_dir = std::fs::metadata(source)
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
                .is_dir();
            nix::unistd::chdir(if is_dir { source } else { source.parent().unwrap_or(Path::new("/")) })?;
            Ok(is_dir)
        }
        SourceAt::Container { mount_ns, rootfs, inside } => {
            nix::sched::setns(mount_ns, nix::sched::CloneFlags::CLONE_NEWNS)?;
            let root = super::safe_path::open_root(rootfs).map_err(|e| match e {
                Error::Sys { errno, .. } => nix::errno::Errno::from_raw(errno),
                _ => nix::errno::Errno::EIO,
            })?;
            let found = super::safe_path::open_in_root(&root, inside, libc::O_PATH | libc::O_CLOEXEC, 0)?;
            let is_dir = is_type(nix::sys::stat::fstat(found.as_raw_fd())?.st_mode, libc::S_IFDIR);
            let dir = match is_dir {
                true => found,
                false => {
                    let parent = inside.parent().unwrap_or(Path::new(""));
                    let dir =
                        super::safe_path::open_in_root(&root, parent, libc::O_PATH | libc::O_DIRECTORY, 0)?;
                    let name = inside.file_name().unwrap_or_default();
                    let st = nix::sys::stat::fstatat(
                        Some(dir.as_raw_fd()),
                        name,
                        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                    )?;
                    if is_type(st.st_mode, libc::S_IFLNK) {
                        return Err(nix::errno::Errno::ELOOP);
                    }
                    dir
                }
            };
            nix::unistd::fchdir(dir.as_raw_fd())?;
            Ok(is_dir)
        }
    }
}

/// In the parent, when init asks for it: the tree of idmapped mount number `index`,
/// whose source is in the rootfs, cloned from init's mount namespace.
pub fn prepare_from_container(
    spec: &Spec,
    bundle: &Path,
    rootfs: &Path,
    index: usize,
    init: i32,
) -> Result<DetachedTree> {
    let m = spec.mounts().as_ref().and_then(|mounts| mounts.get(index)).filter(|m| wanted(m));
    let inside = m.and_then(|m| path_in_rootfs(spec, bundle, rootfs, m)).ok_or_else(|| {
        Error::invalid(format!("sync protocol: mount number {index} is no idmapped mount from the rootfs"))
    })?;
    let mount_ns = std::fs::File::open(format!("/proc/{init}/ns/mnt"))
        .map(OwnedFd::from)
        .map_err(|e| Error::invalid(format!("open the mount namespace of init {init}: {e}")))?;
    prepare_idmapped(
        spec,
        bundle,
        index,
        SourceAt::Container { mount_ns: &mount_ns, rootfs, inside: &inside },
    )
}

/// Mount number `index`'s tree, idmapped.
fn prepare_idmapped(spec: &Spec, bundle: &Path, index: usize, at: SourceAt) -> Result<DetachedTree> {
    let m = &spec.mounts().as_deref().unwrap_or_default()[index];
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
    // Without mappings of its own, a container that joins a user namespace by path
    // has that namespace's: the mount takes it as it is (runc's idmap.bats "userns
    // join").
    let joined_userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|n| n.iter().find(|ns| ns.typ() == LinuxNamespaceType::User))
        .and_then(|ns| ns.path().as_ref());
    let source = super::bind_source(m, bundle)?;
    let step = |what: &str| format!("idmapped mount {} on {dest}: {what}", source.display());
    let userns = if !uid.is_empty() && !gid.is_empty() {
        user_namespace_with(uid, gid).map_err(|e| Error::invalid(step(&e.to_string())))?
    } else if let Some(path) = joined_userns {
        std::fs::File::open(path).map(OwnedFd::from).map_err(|e| {
            Error::invalid(step(&format!("open the joined user namespace {}: {e}", path.display())))
        })?
    } else {
        return Err(Error::invalid(format!(
            "mount {dest}: idmap needs uidMappings and gidMappings, on the mount or for the container"
        )));
    };
    let (tree, is_dir) = clone_tree(&source, m, at, &step)?;
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
    /// In init: a tree the parent sent (see `prepare_from_container`).
    pub fn received(index: usize, is_dir: bool, tree: OwnedFd) -> Self {
        DetachedTree { index, is_dir, tree }
    }

    /// In the parent: the tree's fd, to send to init.
    pub fn fd(&self) -> RawFd {
        self.tree.as_raw_fd()
    }

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
