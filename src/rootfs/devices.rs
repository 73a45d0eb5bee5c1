//! Device nodes in the container's /dev: the standard ones every container gets, the
//! ones `linux.devices` asks for, and the /dev symlinks. Inside a user namespace the
//! kernel refuses mknod, so the host's node is bind-mounted instead, as runc does.

use super::safe_path::{create_in_root, fd_path, open_in_root, Leaf};
use crate::error::{Context, Error, Result};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknodat, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// (name, major, minor) of the character devices every container gets.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

const DEV_SYMLINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Every device node path a container gets: the default ones and `linux.devices`.
pub fn node_paths(spec: &oci_spec::runtime::Spec) -> Vec<std::path::PathBuf> {
    let defaults = DEFAULT_DEVICES.iter().map(|(name, _, _)| Path::new("/dev").join(name));
    let configured = spec.linux().as_ref().and_then(|l| l.devices().clone()).unwrap_or_default();
    defaults.chain(configured.into_iter().map(|d| d.path().clone())).collect()
}

pub fn create_default(root: &OwnedFd, in_user_ns: bool) -> Result<()> {
    for (name, major, minor) in DEFAULT_DEVICES {
        let path = Path::new("/dev").join(name);
        make_node(root, &path, SFlag::S_IFCHR, major, minor, 0o666, None, in_user_ns)?;
    }
    Ok(())
}

pub fn create_symlinks(root: &OwnedFd) -> Result<()> {
    let dev = create_in_root(root, Path::new("/dev"), Leaf::Dir)?;
    let mut links: Vec<(&str, &str)> = DEV_SYMLINKS.to_vec();
    if Path::new("/proc/kcore").exists() {
        links.push(("core", "/proc/kcore"));
    }
    for (name, target) in links {
        match nix::unistd::symlinkat(target, Some(dev.as_raw_fd()), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(Error::sys(format!("symlink /dev/{name} -> {target}"), e)),
        }
    }
    Ok(())
}

pub fn create_configured(root: &OwnedFd, devices: &[LinuxDevice], in_user_ns: bool) -> Result<()> {
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::invalid(format!(
                    "device {}: type \"a\" is only for cgroup rules",
                    d.path().display()
                )))
            }
        };
        let owner = Some((d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
        let mode = d.file_mode().unwrap_or(0o666);
        make_node(root, d.path(), kind, d.major() as u64, d.minor() as u64, mode, owner, in_user_ns)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_node(
    root: &OwnedFd,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    owner: Option<(u32, u32)>,
    in_user_ns: bool,
) -> Result<()> {
    let parent_path = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("device path {} has no name", path.display())))?;
    let parent = create_in_root(root, parent_path, Leaf::Dir)?;
    let c_name = CString::new(name.as_bytes()).map_err(|_| Error::invalid("device name has a NUL byte"))?;
    let step = || format!("create device {}", path.display());
    if !in_user_ns {
        // Replace whatever the rootfs has there: the config decides what the node is.
        let _ = nix::unistd::unlinkat(
            Some(parent.as_raw_fd()),
            c_name.as_c_str(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        let perm = Mode::from_bits_truncate(mode & 0o7777);
        mknodat(Some(parent.as_raw_fd()), c_name.as_c_str(), kind, perm, makedev(major, minor)).ctx(step)?;
        let node = open_in_root(root, path, libc::O_PATH | libc::O_NOFOLLOW, 0).ctx(step)?;
        // mknod applies the umask; set the exact mode and owner the config gives.
        nix::sys::stat::fchmodat(None, &fd_path(&node), perm, nix::sys::stat::FchmodatFlags::FollowSymlink)
            .ctx(step)?;
        if let Some((uid, gid)) = owner {
            nix::unistd::fchownat(
                None,
                &fd_path(&node),
                Some(uid.into()),
                Some(gid.into()),
                nix::fcntl::AtFlags::empty(),
            )
            .ctx(step)?;
        }
        return Ok(());
    }
    let target = create_in_root(root, path, Leaf::File)?;
    mount(Some(path), &fd_path(&target), None::<&str>, MsFlags::MS_BIND, None::<&str>).ctx(step)?;
    Ok(())
}

/// Opens the container's /dev/null and checks it is the real null device (1:3), so a
/// masked path is never covered by a file the container planted (CVE-2025-31133).
pub fn open_verified_null(root: &OwnedFd) -> Result<OwnedFd> {
    let fd = open_in_root(root, Path::new("/dev/null"), libc::O_PATH | libc::O_NOFOLLOW, 0)
        .ctx(|| "open /dev/null")?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| "stat /dev/null")?;
    if !is_null_device(&st) {
        return Err(Error::invalid(
            "/dev/null in the container is not the null device: refusing to mask with it",
        ));
    }
    Ok(fd)
}

/// The character device 1:3, whatever its name.
fn is_null_device(st: &nix::sys::stat::FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == makedev(1, 3)
}

/// Stdio that is a null device (the caller's `< /dev/null`, conmon's stdin for a
/// container without one) becomes the container's own /dev/null, as runc does after
/// the switch into the rootfs: CRIU cannot checkpoint a descriptor of a file on a
/// mount outside the container.
pub fn reopen_null_stdio() -> Result<()> {
    let mut null: Option<OwnedFd> = None;
    for fd in 0..3 {
        if !nix::sys::stat::fstat(fd).is_ok_and(|st| is_null_device(&st)) {
            continue;
        }
        if null.is_none() {
            let root = crate::rootfs::safe_path::open_root(Path::new("/"))?;
            let flags = libc::O_RDWR | libc::O_NOFOLLOW | libc::O_CLOEXEC;
            match open_in_root(&root, Path::new("/dev/null"), flags, 0) {
                Ok(opened)
                    if nix::sys::stat::fstat(opened.as_raw_fd()).is_ok_and(|st| is_null_device(&st)) =>
                {
                    null = Some(opened)
                }
                // A container without a null device of its own keeps the caller's.
                _ => {
                    crate::logger::debug("no /dev/null in the container: stdio stays the caller's");
                    return Ok(());
                }
            }
        }
        let from = null.as_ref().expect("opened above").as_raw_fd();
        nix::unistd::dup3(from, fd, nix::fcntl::OFlag::empty())
            .ctx(|| format!("put /dev/null on fd {fd}"))?;
    }
    Ok(())
}
