//! Building the container's root filesystem, in init, inside its new mount
//! namespace: the mounts of config.json in order, the standard devices, then the
//! switch into the rootfs, then masked and read-only paths. Every destination is
//! resolved inside the rootfs through `safe_path`, never by joining strings.
//!
//! A container without a mount namespace of its own shares the runtime's (the
//! host's), as the spec says. The host's propagation is then left as it is (runc
//! makes the host's `/` rslave); the rootfs is bound onto itself and made private,
//! so the container's mounts below it reach no other mount namespace, init chroots
//! into it, and `delete` detaches that bind with everything below it.

pub mod devices;
pub mod idmap;
pub mod mount_options;
pub mod safe_path;
mod tmpcopyup;

use crate::cgroups::{Cgroup, Hierarchy};
use crate::error::{Context, Error, Result};
use mount_options::MountOptions;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::{Mount, Spec};
use safe_path::{create_in_root, fd_path, open_in_root, Leaf};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const NONE: Option<&str> = None;

/// What rootfs setup needs beyond the spec.
pub struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// The container's cgroup directories, for `cgroup` mounts.
    pub cgroup: &'a Cgroup,
    pub new_cgroup_ns: bool,
    pub in_user_ns: bool,
    /// A mount namespace of the container's own (new or joined), not the host's.
    pub own_mount_ns: bool,
    /// The bind mounts' trees the parent made (see `idmap`).
    pub detached_trees: &'a [idmap::DetachedTree],
    /// Asks the parent for the tree of an idmapped mount whose source is in the
    /// rootfs, cloned now that the mounts before it are there (see `idmap`).
    pub tree_from_parent: &'a dyn Fn(usize) -> Result<idmap::DetachedTree>,
}

/// Everything before the switch into the rootfs: propagation, the rootfs bind mount,
/// every configured mount, devices and /dev symlinks.
pub fn prepare(ctx: &RootfsContext) -> Result<()> {
    if ctx.own_mount_ns {
        let propagation = root_propagation(ctx.spec)?;
        mount(NONE, "/", NONE, propagation, NONE).ctx(|| "set the propagation of /")?;
        make_parent_mount_private(ctx.rootfs)?;
    }
    // pivot_root needs the new root to be a mount point; in the host's mount
    // namespace it is what `delete` detaches.
    mount(Some(ctx.rootfs), ctx.rootfs, NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
        .ctx(|| format!("bind mount rootfs {}", ctx.rootfs.display()))?;
    if !ctx.own_mount_ns {
        mount(NONE, ctx.rootfs, NONE, MsFlags::MS_PRIVATE | MsFlags::MS_REC, NONE)
            .ctx(|| format!("make the rootfs bind {} private", ctx.rootfs.display()))?;
    }
    let root = safe_path::open_root(ctx.rootfs)?;
    let mounts = ctx.spec.mounts().as_deref().unwrap_or(&[]);
    for (index, m) in mounts.iter().enumerate() {
        match ctx.detached_trees.iter().find(|tree| tree.index == index) {
            Some(tree) => attach_detached(ctx, &root, m, tree)?,
            None if idmap::wanted(m) => attach_detached(ctx, &root, m, &(ctx.tree_from_parent)(index)?)?,
            None => mount_one(ctx, &root, m)?,
        }
    }
    // Device nodes go into a /dev of the container's own, never into a host /dev
    // bound there.
    let dev_bound_from_host = mounts.iter().any(|m| m.destination() == Path::new("/dev") && is_bind(m));
    if !dev_bound_from_host {
        devices::create_default(&root, ctx.in_user_ns)?;
        devices::create_symlinks(&root)?;
    }
    let configured = ctx.spec.linux().as_ref().and_then(|l| l.devices().as_deref()).unwrap_or(&[]);
    devices::create_configured(&root, configured, ctx.in_user_ns)?;
    // A missing working directory is created, as runc does.
    if let Some(process) = ctx.spec.process() {
        create_in_root(&root, process.cwd(), Leaf::Dir)?;
    }
    Ok(())
}

fn mount_one(ctx: &RootfsContext, root: &OwnedFd, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    if is_bind(m) {
        return bind_mount(ctx, root, m, &opts);
    }
    let typ = m.typ().as_deref().unwrap_or("none");
    let step = |what: &str| format!("mount {typ} on {}: {what}", dest.display());
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroups(ctx, root, dest, &opts);
    }
    let existing_mode = if typ == "tmpfs" { directory_mode(root, dest) } else { None };
    let target = mount_target(ctx, root, dest, typ, Leaf::Dir)?;
    let source = m.source().as_ref().map(|s| s.as_path()).unwrap_or(Path::new(typ));
    // runc: a tmpfs on a directory the image has takes that directory's mode (setuid,
    // setgid and sticky bits included), unless the options say otherwise (the later
    // mode= wins); on a directory made for it, tmpfs's own default (1777).
    let data = match (existing_mode, opts.data()) {
        (Some(mode), Some(data)) => Some(format!("mode={mode:04o},{data}")),
        (Some(mode), None) => Some(format!("mode={mode:04o}")),
        (None, data) => data,
    };
    // runc gives every filesystem it mounts the mount label, but proc and sysfs (they
    // label their own files) and mqueue (no context option: its root is labelled).
    let mount_label = crate::lsm::mount_label(ctx.spec);
    let data = match typ {
        "proc" | "sysfs" | "mqueue" => data,
        _ => crate::lsm::with_mount_label(data, mount_label),
    };
    let mut flags = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC);
    if read_only_later(m, &opts) {
        // Devices, mount points and tmpcopyup still go in: `finalize` makes it
        // read-only afterwards, as runc does.
        flags.remove(MsFlags::MS_RDONLY);
    }
    // Opened before the mount hides it: the image's files at this path.
    let copy_from = if opts.tmpcopyup && typ == "tmpfs" {
        Some(OwnedFd::from(std::fs::File::open(fd_path(&target)).ctx(|| step("open for tmpcopyup"))?))
    } else {
        None
    };
    let result = mount(Some(source), &fd_path(&target), Some(typ), flags, data.as_deref());
    match result {
        // sysfs cannot be mounted from a user namespace that does not own the network
        // namespace; a recursive bind of the host's /sys is what runc does then.
        Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
            mount(Some("/sys"), &fd_path(&target), NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
                .ctx(|| step("bind /sys"))?;
            let mounted = reopen(root, dest).ctx(|| step("reopen"))?;
            remount(&mounted, flags | MsFlags::MS_BIND).ctx(|| step("remount"))?;
        }
        r => r.ctx(|| step("mount"))?,
    }
    let label_root = mount_label.filter(|_| typ == "mqueue");
    if copy_from.is_none() && label_root.is_none() && !opts.has_after_mount_steps() {
        return Ok(());
    }
    let mounted = reopen(root, dest).ctx(|| step("reopen"))?;
    if let Some(label) = label_root {
        crate::lsm::set_file_label(&fd_path(&mounted), label).ctx(|| step("label its root"))?;
    }
    if let Some(from) = copy_from {
        tmpcopyup::copy_tree(from, mounted.as_fd()).ctx(|| step("tmpcopyup"))?;
    }
    finish_mount(&mounted, &opts).ctx(|| step("set propagation or attributes"))
}

/// The permission bits of the directory at `dest` in the rootfs, if there is one.
fn directory_mode(root: &OwnedFd, dest: &Path) -> Option<u32> {
    let dir = open_in_root(root, dest, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
    nix::sys::stat::fstat(dir.as_raw_fd()).ok().map(|st| st.st_mode & 0o7777)
}

/// The mount point for `dest`, made inside the rootfs where missing, and checked where
/// it really is: a symlink in the image can lead a destination elsewhere than it
/// reads (`/data -> /proc/sys/net`). There it must still keep out of /proc
/// (`procfs::check_mount_destination`), and proc and sysfs take no symlink on the way,
/// as with runc (an image's `/proc -> /elsewhere` would put them anywhere).
fn mount_target(ctx: &RootfsContext, root: &OwnedFd, dest: &Path, typ: &str, leaf: Leaf) -> Result<OwnedFd> {
    let written = Path::new("/").join(safe_path::relative(dest));
    // "must be mounted on ordinary directory": runc's words, which tests look for.
    let ordinary = |why: String| {
        Error::invalid(format!(
            "mount {typ} on {}: it must be mounted on ordinary directory, {why}",
            written.display()
        ))
    };
    if typ == "proc" || typ == "sysfs" {
        // Before anything is made: making the mount point would make the link's target.
        if let Ok(link) = open_in_root(root, dest, libc::O_PATH | libc::O_NOFOLLOW, 0) {
            if let Ok(to) = nix::fcntl::readlinkat(Some(link.as_raw_fd()), "") {
                return Err(ordinary(format!(
                    "and {} in the rootfs is a symlink to {to:?}",
                    written.display()
                )));
            }
        }
    }
    let target = create_in_root(root, dest, leaf)?;
    let real = std::fs::read_link(fd_path(&target))
        .ctx(|| format!("mount on {}: find where it leads", written.display()))?;
    let resolved = match real.strip_prefix(ctx.rootfs) {
        Ok(inside) => Path::new("/").join(inside),
        Err(_) => {
            return Err(Error::invalid(format!("mount on {}: it leads out of the rootfs", written.display())))
        }
    };
    if resolved == written {
        return Ok(target);
    }
    if typ == "proc" || typ == "sysfs" {
        return Err(ordinary(format!("but the image makes it lead to {}", resolved.display())));
    }
    crate::procfs::check_mount_destination(&resolved, typ).map_err(|e| {
        Error::invalid(format!(
            "mount on {}: the image makes it lead to {}: {e}",
            written.display(),
            resolved.display()
        ))
    })?;
    Ok(target)
}

/// The mount's type for the /proc rules: a bind of a procfs counts as `proc`.
pub fn mount_kind(m: &Mount, bundle: &Path) -> String {
    if is_bind(m) && bind_source(m, bundle).is_ok_and(|source| crate::procfs::is_procfs(&source)) {
        return "proc".to_string();
    }
    m.typ().clone().unwrap_or_default()
}

/// The config's bind mounts as (destination, host source): their sources lie outside
/// the container, so a checkpoint names them and a restore finds them again.
pub fn bind_mounts(spec: &Spec, bundle: &Path) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    mounts
        .iter()
        .filter(|m| is_bind(m))
        .map(|m| Ok((m.destination().clone(), bind_source(m, bundle)?)))
        .collect()
}

/// The mount points of the config's mounts, made in the rootfs as `create` makes them,
/// for a restore: CRIU mounts everything again but makes no mount point, and a new
/// copy of the image (containerd's new snapshot) lacks those `create` added. Those
/// below a tmpfs of the config come back with its contents; the cgroup mounts' with
/// /sys. (runc's prepareCriuRestoreMounts.) Call it in a mount namespace of the
/// caller's own: the bind mounts are bound onto their destinations.
pub fn create_mount_points(spec: &Spec, bundle: &Path, rootfs: &Path) -> Result<()> {
    let root = safe_path::open_root(rootfs)?;
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let tmpfs = |m: &&Mount| m.typ().as_deref() == Some("tmpfs");
    let on_tmpfs: Vec<&Path> = mounts.iter().filter(tmpfs).map(|m| m.destination().as_path()).collect();
    for m in mounts.iter().filter(|m| m.typ().as_deref() != Some("cgroup")) {
        let dest = m.destination();
        if on_tmpfs.iter().any(|t| dest.starts_with(t) && dest != *t) {
            continue;
        }
        let source = if is_bind(m) { Some(bind_source(m, bundle)?) } else { None };
        let source_is_file =
            source.as_ref().and_then(|s| std::fs::metadata(s).ok()).is_some_and(|md| !md.is_dir());
        let target = create_in_root(&root, dest, if source_is_file { Leaf::File } else { Leaf::Dir })?;
        // Bound there, so that the mount points of mounts nested in it are made in
        // its source, as at create. The caller's mount namespace is its own: the
        // binds end with it.
        if let Some(source) = source {
            let step =
                || format!("bind {} on {} for the mount points below it", source.display(), dest.display());
            mount(Some(&source), &fd_path(&target), NONE, MsFlags::MS_BIND | MsFlags::MS_REC, NONE)
                .ctx(step)?;
        }
    }
    Ok(())
}

/// A bind mount is asked for by type or by option.
fn is_bind(m: &Mount) -> bool {
    asks_for_bind(m, &MountOptions::parse(m.options().as_deref().unwrap_or(&[])))
}

/// `is_bind` with the options already parsed.
fn asks_for_bind(m: &Mount, opts: &MountOptions) -> bool {
    m.typ().as_deref() == Some("bind") || opts.is_bind()
}

fn bind_mount(ctx: &RootfsContext, root: &OwnedFd, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let source = bind_source(m, ctx.bundle)?;
    let meta = std::fs::metadata(&source).ctx(|| format!("bind mount source {}", source.display()))?;
    let leaf = if meta.is_dir() { Leaf::Dir } else { Leaf::File };
    let target = mount_target(ctx, root, dest, "bind", leaf)?;
    let step = |what: &str| format!("bind mount {} on {}: {what}", source.display(), dest.display());
    let rec = opts.flags & MsFlags::MS_REC;
    mount(Some(&source), &fd_path(&target), NONE, MsFlags::MS_BIND | rec, NONE).ctx(|| step("mount"))?;
    finish_bind(root, dest, opts, &step)
}

/// A bind mount's source on the host; a relative one is relative to the bundle.
fn bind_source(m: &Mount, bundle: &Path) -> Result<std::path::PathBuf> {
    let source = m.source().as_ref().ok_or_else(|| {
        Error::invalid(format!("bind mount on {} has no source", m.destination().display()))
    })?;
    let path = if source.is_absolute() { source.clone() } else { bundle.join(source) };
    // Without `.` components (`bundle/.` for runc's source "."): CRIU matches the
    // external mount sources of a restore against the kernel's paths.
    Ok(path.components().collect())
}

/// A bind mount whose tree the parent made (idmapped, or for a user namespace): it
/// goes on its destination.
fn attach_detached(ctx: &RootfsContext, root: &OwnedFd, m: &Mount, tree: &idmap::DetachedTree) -> Result<()> {
    let dest = m.destination();
    let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    let leaf = if tree.is_dir { Leaf::Dir } else { Leaf::File };
    let target = mount_target(ctx, root, dest, "bind", leaf)?;
    let step = |what: &str| format!("bind mount on {}: {what}", dest.display());
    tree.attach(&target).ctx(|| step("move_mount"))?;
    finish_bind(root, dest, &opts, &step)
}

/// A bind mount ignores other flags: they take a remount. The target is reopened so
/// the remount acts on the new mount, not the directory under it.
fn finish_bind(
    root: &OwnedFd,
    dest: &Path,
    opts: &MountOptions,
    step: &dyn Fn(&str) -> String,
) -> Result<()> {
    let extra = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if extra.is_empty() && opts.cleared.is_empty() && !opts.has_after_mount_steps() {
        return Ok(());
    }
    let target = reopen(root, dest).ctx(|| step("reopen"))?;
    if !extra.is_empty() || !opts.cleared.is_empty() {
        remount_bind(&target, extra, opts.cleared).map_err(|e| Error::invalid(step(&e.to_string())))?;
    }
    finish_mount(&target, opts).ctx(|| step("set propagation or attributes"))
}

/// A bind mount's flags as runc sets them (its mounts_sshfs.bats): just `bind` keeps
/// the source's flags; with any flag option the mount gets exactly the options'
/// flags, the others cleared (a read-only host mount bound with `nosuid` comes out
/// writable, as the config asked). Flags the kernel locks on a source from a more
/// privileged namespace are kept where the options do not clear them by name, and
/// an option that clears (or changes the atime mode of) a locked one fails instead
/// of being quietly overruled.
fn remount_bind(target: &OwnedFd, set: MsFlags, cleared: MsFlags) -> Result<()> {
    let path = fd_path(target);
    let flags = set | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    let Err(refused) = mount(NONE, &path, NONE, flags, NONE) else { return Ok(()) };
    let atime = MsFlags::MS_NOATIME | MsFlags::MS_RELATIME | MsFlags::MS_STRICTATIME | MsFlags::MS_NODIRATIME;
    let lockable = MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | atime;
    let source = statvfs_flags(target).map_err(|e| Error::sys("read the source's mount flags", e))?;
    let locked_cleared = source & cleared & lockable;
    if !locked_cleared.is_empty() {
        let names = mount_options::option_names(locked_cleared);
        return Err(Error::sys(
            format!("cannot clear locked flags: the source's \"{names}\" are locked"),
            refused,
        ));
    }
    if set.intersects(atime) && set & atime != source & atime {
        let names = mount_options::option_names(source & atime);
        return Err(Error::sys(
            format!("cannot change locked atime flags: the source's \"{names}\" are locked"),
            refused,
        ));
    }
    let kept = mount_options::option_names(source & lockable);
    mount(NONE, &path, NONE, flags | (source & lockable), NONE)
        .map_err(|e| Error::sys(format!("remount with the source's locked \"{kept}\" kept"), e))
}

/// Remounts keeping the flags the kernel locks on a mount inherited from a more
/// privileged namespace (nodev, nosuid, ...), which a remount may not clear.
fn remount(target: &OwnedFd, flags: MsFlags) -> nix::Result<()> {
    let path = fd_path(target);
    match mount(NONE, &path, NONE, flags | MsFlags::MS_REMOUNT, NONE) {
        Err(nix::errno::Errno::EPERM) => {
            let locked = statvfs_flags(target)?;
            mount(NONE, &path, NONE, flags | locked | MsFlags::MS_REMOUNT, NONE)
        }
        r => r,
    }
}

fn statvfs_flags(fd: &OwnedFd) -> nix::Result<MsFlags> {
    let st = nix::sys::statvfs::fstatvfs(fd)?;
    let f = st.flags();
    use nix::sys::statvfs::FsFlags;
    let pairs = [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    let flags = pairs.iter().filter(|(s, _)| f.contains(*s)).fold(MsFlags::empty(), |acc, (_, m)| acc | *m);
    // ST_NOSYMFOLLOW (Linux 5.10), which nix does not name.
    const ST_NOSYMFOLLOW: u64 = 0x2000;
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Ok(if f.bits() as u64 & ST_NOSYMFOLLOW != 0 { flags | nosymfollow } else { flags })
}

/// Propagation flags and the recursive (`r*`) attributes, after the mount exists.
fn finish_mount(target: &OwnedFd, opts: &MountOptions) -> nix::Result<()> {
    for p in &opts.propagation {
        mount(NONE, &fd_path(target), NONE, *p, NONE)?;
    }
    if opts.rec_set != 0 || opts.rec_clear != 0 {
        mount_setattr_recursive(target, opts.rec_set, opts.rec_clear)?;
    }
    Ok(())
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub(crate) fn mount_setattr_recursive(target: &OwnedFd, set: u64, clear: u64) -> nix::Result<()> {
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    // SAFETY: attr is a valid mount_attr for the duration of the call; the path is "".
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH | libc::AT_RECURSIVE) as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    nix::errno::Errno::result(r).map(drop)
}

/// `cgroup` mounts: on a v2 host the cgroup2 filesystem; on v1 and hybrid hosts a
/// tmpfs holding one mount per hierarchy, as runc lays it out. With a cgroup
/// namespace the filesystems are mounted fresh (showing the container's cgroup as
/// the root); without one the container's own directories are bind-mounted.
fn mount_cgroups(ctx: &RootfsContext, root: &OwnedFd, dest: &Path, opts: &MountOptions) -> Result<()> {
    let flags =
        opts.flags & (MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    if ctx.cgroup.dirs.is_empty() {
        // Rootless without delegated cgroups: there is no cgroup of its own to show.
        crate::logger::debug(format!("no cgroup of the container's own to mount on {}", dest.display()));
        return Ok(());
    }
    let step = |what: &str| format!("mount cgroup on {}: {what}", dest.display());
    let pure_v2 = ctx.cgroup.is_pure_v2();
    let mount_hierarchy = |at: &Path, h: &Hierarchy, dir: &Path| -> Result<()> {
        let target = mount_target(ctx, root, at, "cgroup", Leaf::Dir)?;
        let bind_dir = || {
            let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(Some(dir), &fd_path(&target), NONE, rbind, NONE).ctx(|| step(&h.name()))?;
            let mounted = reopen(root, at).ctx(|| step("reopen"))?;
            remount(&mounted, flags | MsFlags::MS_BIND).ctx(|| step("remount"))
        };
        if !ctx.new_cgroup_ns {
            return bind_dir();
        }
        let (fstype, data) = if h.v2 { ("cgroup2", None) } else { ("cgroup", Some(h.controllers.join(","))) };
        match mount(Some(fstype), &fd_path(&target), Some(fstype), flags, data.as_deref()) {
            // As runc: a user namespace may be refused a cgroup2 mount (EPERM, or EBUSY
            // in a scope a user's systemd delegated); the container's own directory,
            // bound there, shows the same tree.
            Err(nix::errno::Errno::EPERM | nix::errno::Errno::EBUSY) if h.v2 && ctx.in_user_ns => bind_dir(),
            r => r.ctx(|| step(&h.name())),
        }
    };
    if pure_v2 {
        let (h, dir) = &ctx.cgroup.dirs[0];
        return mount_hierarchy(dest, h, dir);
    }
    let base = mount_target(ctx, root, dest, "cgroup", Leaf::Dir)?;
    let tmpfs_flags = flags & !MsFlags::MS_RDONLY;
    let data = crate::lsm::with_mount_label(Some("mode=755".into()), crate::lsm::mount_label(ctx.spec));
    mount(Some("tmpfs"), &fd_path(&base), Some("tmpfs"), tmpfs_flags, data.as_deref())
        .ctx(|| step("tmpfs"))?;
    for (h, dir) in &ctx.cgroup.dirs {
        mount_hierarchy(&dest.join(h.name()), h, dir)?;
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let base = reopen(root, dest).ctx(|| step("reopen"))?;
        remount(&base, flags | MsFlags::MS_BIND).ctx(|| step("remount tmpfs read-only"))?;
    }
    Ok(())
}

/// The host cgroup directories that `mount_cgroups` binds into the container, as
/// (destination, host directory): none with a cgroup namespace, where the
/// filesystems are mounted fresh.
pub fn cgroup_binds(spec: &Spec, cgroup: &Cgroup, new_cgroup_ns: bool) -> Vec<(PathBuf, PathBuf)> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    let mut binds = Vec::new();
    for m in mounts.iter().filter(|m| m.typ().as_deref() == Some("cgroup") && !new_cgroup_ns) {
        let dest = m.destination();
        if cgroup.is_pure_v2() {
            binds.extend(cgroup.dirs.iter().map(|(_, dir)| (dest.clone(), dir.clone())));
        } else {
            binds.extend(cgroup.dirs.iter().map(|(h, dir)| (dest.join(h.name()), dir.clone())));
        }
    }
    binds
}

/// Opens a path again after something was mounted on it: an fd opened before the
/// mount still refers to the directory underneath, and a remount or propagation
/// change must act on the new mount's root.
fn reopen(root: &OwnedFd, dest: &Path) -> nix::Result<OwnedFd> {
    open_in_root(root, dest, libc::O_PATH, 0)
}

/// Makes the rootfs the container's `/`. pivot_root detaches the host's tree
/// entirely; `--no-pivot` (for a rootfs on ramfs) moves it over / and chroots; in
/// the host's mount namespace, where neither may touch the host's `/`, a chroot.
pub fn enter(rootfs: &Path, no_pivot: bool, own_mount_ns: bool) -> Result<()> {
    if !own_mount_ns {
        nix::unistd::chdir(rootfs).ctx(|| format!("chdir to {}", rootfs.display()))?;
        nix::unistd::chroot(".").ctx(|| "chroot into rootfs")?;
    } else if no_pivot {
        hide_host_pseudo_filesystems(rootfs)?;
        nix::unistd::chdir(rootfs).ctx(|| format!("chdir to {}", rootfs.display()))?;
        mount(Some(rootfs), "/", NONE, MsFlags::MS_MOVE, NONE).ctx(|| "move rootfs onto /")?;
        nix::unistd::chroot(".").ctx(|| "chroot into rootfs")?;
    } else {
        let old_root = std::fs::File::open("/").ctx(|| "open old root")?;
        nix::unistd::chdir(rootfs).ctx(|| format!("chdir to {}", rootfs.display()))?;
        nix::unistd::pivot_root(".", ".").ctx(|| "pivot_root")?;
        // The old root is now stacked on the new one: detach it, without the unmount
        // propagating anywhere.
        nix::unistd::fchdir(old_root.as_raw_fd()).ctx(|| "chdir to old root")?;
        mount(NONE, ".", NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE).ctx(|| "make old root rslave")?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root")?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir to new root")
}

/// A read-only tmpfs (a `/dev` above all) that is mounted writable and made
/// read-only only in `finalize`: what goes below it (the devices, /dev/pts, the
/// mount points of later mounts) could not be made on it otherwise.
fn read_only_later(m: &Mount, opts: &MountOptions) -> bool {
    !asks_for_bind(m, opts)
        && (m.typ().as_deref() == Some("tmpfs") || m.destination() == Path::new("/dev"))
        && opts.flags.contains(MsFlags::MS_RDONLY)
}

/// After the switch: the read-only tmpfs mounts, masked and read-only paths, a
/// read-only root, and the rootfs propagation the config asks for.
pub fn finalize(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let root = safe_path::open_root(Path::new("/"))?;
    for m in spec.mounts().iter().flatten() {
        let opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        if !read_only_later(m, &opts) {
            continue;
        }
        let dest = m.destination();
        let step = || format!("remount {} read-only", dest.display());
        let mounted = open_in_root(&root, dest, libc::O_PATH | libc::O_DIRECTORY, 0).ctx(step)?;
        remount(&mounted, (opts.flags & !MsFlags::MS_REC) | MsFlags::MS_BIND | MsFlags::MS_RDONLY)
            .ctx(step)?;
    }
    let masked = linux.and_then(|l| l.masked_paths().as_deref()).unwrap_or(&[]);
    let readonly = linux.and_then(|l| l.readonly_paths().as_deref()).unwrap_or(&[]);
    let root_readonly = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
    if !masked.is_empty() || !readonly.is_empty() || root_readonly {
        // What follows goes through /proc/self/fd.
        crate::procfs::Procfs::open()?;
    }
    let mut shared_tmpfs = None;
    let mount_label = crate::lsm::mount_label(spec);
    for path in masked {
        mask(&root, Path::new(path), mount_label, &mut shared_tmpfs)?;
    }
    for path in readonly {
        make_readonly(&root, Path::new(path))?;
    }
    if root_readonly {
        let slash =
            open_in_root(&root, Path::new("/"), libc::O_PATH | libc::O_DIRECTORY, 0).ctx(|| "open /")?;
        remount(&slash, MsFlags::MS_BIND | MsFlags::MS_RDONLY).ctx(|| "remount / read-only")?;
    }
    if linux.and_then(|l| l.rootfs_propagation().as_ref()).is_some() {
        mount(NONE, "/", NONE, root_propagation(spec)?, NONE).ctx(|| "set the rootfs propagation")?;
    }
    Ok(())
}

/// The ID of the mount at `path` (the topmost), for telling the rootfs bind made in
/// the host's mount namespace from whatever was mounted there before.
pub fn mount_id(path: &Path) -> Result<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::invalid(format!("{} has a NUL byte", path.display())))?;
    // SAFETY: statx fills the zeroed buffer it is given.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid C string and buffer; AT_FDCWD with an absolute path.
    let r = unsafe {
        libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_NO_AUTOMOUNT, libc::STATX_MNT_ID, &mut stx)
    };
    nix::errno::Errno::result(r).ctx(|| format!("statx {}", path.display()))?;
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Error::invalid("this kernel does not report mount IDs (statx, Linux 5.8)"));
    }
    Ok(stx.stx_mnt_id)
}

/// `delete` of a container in the host's mount namespace: detaches the rootfs bind
/// create made, with every mount below it, when the topmost mount at `rootfs` is no
/// longer the one that was there before (`before`): never what was there already.
pub fn detach_host_bind(rootfs: &Path, before: u64) -> Result<()> {
    match mount_id(rootfs) {
        Ok(now) if now != before => umount2(rootfs, MntFlags::MNT_DETACH)
            .ctx(|| format!("detach the rootfs bind {}", rootfs.display())),
        _ => Ok(()),
    }
}

/// The propagation of the container's mount tree: `linux.rootfsPropagation` when set
/// (rshared carries Kubernetes' Bidirectional mounts back to the host), else rslave,
/// so nothing made in the container reaches the host.
pub fn root_propagation(spec: &Spec) -> Result<MsFlags> {
    match spec.linux().as_ref().and_then(|l| l.rootfs_propagation().as_deref()) {
        None => Ok(MsFlags::MS_SLAVE | MsFlags::MS_REC),
        Some(prop) => {
            MountOptions::parse(&[prop.to_string()]).propagation.first().copied().ok_or_else(|| {
                Error::invalid(format!("linux.rootfsPropagation {prop:?} is not a propagation mode"))
            })
        }
    }
}

/// pivot_root refuses a new root whose parent mount is shared (with rshared
/// propagation it would be): make just that mount private, as runc does.
fn make_parent_mount_private(rootfs: &Path) -> Result<()> {
    let parent = crate::mountinfo::read()?
        .into_iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len());
    if let Some(parent) = parent {
        if parent.optional.contains("shared:") {
            mount(NONE, &parent.mount_point, NONE, MsFlags::MS_PRIVATE, NONE)
                .ctx(|| format!("make {} private", parent.mount_point.display()))?;
        }
    }
    Ok(())
}

/// `--no-pivot` leaves the host's tree in the container's mount namespace, below the
/// chroot, and the kernel lets a process mount a new procfs or sysfs (one that shows
/// what the container's masks hide) while any whole, uncovered one is in the
/// namespace. So, as runc does, the whole proc and sysfs mounts outside the rootfs
/// are detached first (the namespace is the container's: the host keeps its own), or
/// covered with a tmpfs where detaching is not allowed.
fn hide_host_pseudo_filesystems(rootfs: &Path) -> Result<()> {
    let table = crate::mountinfo::read()?;
    let exposed = table.iter().rev().filter(|m| {
        m.root == "/" && matches!(m.fs_type.as_str(), "proc" | "sysfs") && !m.mount_point.starts_with(rootfs)
    });
    for m in exposed {
        let step = || format!("hide the host's {} at {} (--no-pivot)", m.fs_type, m.mount_point.display());
        match mount(NONE, &m.mount_point, NONE, MsFlags::MS_SLAVE | MsFlags::MS_REC, NONE) {
            // Under a mount already detached.
            Err(nix::errno::Errno::ENOENT) => continue,
            r => r.ctx(step)?,
        }
        match umount2(&m.mount_point, MntFlags::MNT_DETACH) {
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM) => {
                mount(Some("tmpfs"), &m.mount_point, Some("tmpfs"), MsFlags::empty(), NONE).ctx(step)?
            }
            r => r.ctx(step)?,
        }
    }
    Ok(())
}

/// Hides a path: a directory under an empty read-only tmpfs, a file under /dev/null,
/// after checking that /dev/null really is the null device (CVE-2025-31133: a
/// container could otherwise plant something else there). All directories share one
/// tmpfs, as with runc (the first one's, bound onto the others): one superblock
/// instead of one per path. Being read-only, it is read-only wherever it is bound.
fn mask(root: &OwnedFd, path: &Path, label: Option<&str>, shared_tmpfs: &mut Option<OwnedFd>) -> Result<()> {
    let target = match open_in_root(root, path, libc::O_PATH | libc::O_NOFOLLOW, 0) {
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        r => r.ctx(|| format!("open masked path {}", path.display()))?,
    };
    let st = nix::sys::stat::fstat(target.as_raw_fd()).ctx(|| format!("stat {}", path.display()))?;
    let step = || format!("mask {}", path.display());
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        if let Some(tmpfs) = shared_tmpfs {
            return mount(Some(&fd_path(tmpfs)), &fd_path(&target), NONE, MsFlags::MS_BIND, NONE).ctx(step);
        }
        let data = crate::lsm::with_mount_label(Some("size=0k".into()), label);
        mount(Some("tmpfs"), &fd_path(&target), Some("tmpfs"), MsFlags::MS_RDONLY, data.as_deref())
            .ctx(step)?;
        *shared_tmpfs = Some(reopen(root, path).ctx(step)?);
        Ok(())
    } else {
        let null = devices::open_verified_null(root)?;
        mount(Some(&fd_path(&null)), &fd_path(&target), NONE, MsFlags::MS_BIND, NONE).ctx(step)
    }
}

fn make_readonly(root: &OwnedFd, path: &Path) -> Result<()> {
    let target = match open_in_root(root, path, libc::O_PATH, 0) {
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        r => r.ctx(|| format!("open read-only path {}", path.display()))?,
    };
    let step = || format!("make {} read-only", path.display());
    let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
    mount(Some(&fd_path(&target)), &fd_path(&target), NONE, rec, NONE).ctx(step)?;
    let target = reopen(root, path).ctx(step)?;
    remount(&target, rec | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC)
        .ctx(step)
}
