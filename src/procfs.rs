//! /proc, verified, and the one way the runtime writes below it: sysctls, uid and gid
//! maps, setgroups, oom_score_adj, time offsets. Also what a mount may cover there.
//!
//! A write that follows a path through /proc can be turned elsewhere: an image or a
//! volume may put a symlink or a mount where the runtime expects procfs (a volume bound
//! over /proc/sys/net holding `core/somaxconn -> /proc/sys/fs/...` made a container's
//! sysctl a host one: CVE-2019-19921, CVE-2025-52881). So every write opens its file
//! below a /proc that is checked to be the root of a procfs mount, with openat2 kept
//! beneath it, on that one mount, and away from magic links.

use crate::error::{Context, Error, Result};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of a procfs root.
const PROC_ROOT_INO: u64 = 1;

/// The root of a procfs mount.
pub struct Procfs(OwnedFd);

impl Procfs {
    /// `/proc` as this process sees it (the container's, after the switch into the
    /// rootfs), refused unless it is the root of a procfs mount: not another
    /// filesystem, not a directory below some procfs bound there.
    pub fn open() -> Result<Self> {
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
        // SAFETY: AT_FDCWD is valid for as long as the process runs.
        let cwd = unsafe { std::os::fd::BorrowedFd::borrow_raw(libc::AT_FDCWD) };
        let root = crate::resolve::openat2(cwd, Path::new("/proc"), flags, 0, libc::RESOLVE_NO_SYMLINKS)
            .ctx(|| "open /proc")?;
        let fs = nix::sys::statfs::fstatfs(&root).ctx(|| "statfs /proc")?;
        let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&root)).ctx(|| "stat /proc")?;
        if fs.filesystem_type().0 as i64 != PROC_SUPER_MAGIC || st.st_ino != PROC_ROOT_INO {
            return Err(Error::invalid(
                "/proc is not the root of a procfs mount: refusing to go on through it",
            ));
        }
        Ok(Procfs(root))
    }

    /// Whether `rel` exists below this root (resolved as `write` resolves it).
    pub fn exists(&self, rel: &str) -> bool {
        let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
        crate::resolve::openat2(self.0.as_fd(), Path::new(rel), libc::O_PATH, 0, resolve).is_ok()
    }

    /// Writes `value` to `rel` (`sys/net/core/somaxconn`, `123/uid_map`,
    /// `self/timens_offsets`) in one write. Its path stays beneath this root and on its
    /// mount: a symlink out of it, a magic link or a mount on the way is refused.
    pub fn write(&self, rel: &str, value: &str) -> Result<()> {
        let step = || format!("write {value:?} to /proc/{rel}");
        let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
        let file = match crate::resolve::openat2(self.0.as_fd(), Path::new(rel), libc::O_WRONLY, 0, resolve) {
            Err(nix::errno::Errno::EXDEV | nix::errno::Errno::ELOOP) => {
                return Err(Error::invalid(format!(
                    "{}: a symlink or a mount on the way leads out of procfs: refused",
                    step()
                )))
            }
            r => r.ctx(step)?,
        };
        nix::unistd::write(&file, value.as_bytes()).ctx(step)?;
        Ok(())
    }
}

/// Files below /proc that a bind mount may cover, as runc allows them (lxcfs shows the
/// container's own cpuinfo, meminfo and so on there).
const ALLOWED_UNDER_PROC: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
    "/proc/sys/crypto/fips_enabled",
];

/// Whether `path` is on a procfs: a bind of one counts as a proc mount (runc's
/// checkProcMount), which a container sharing the host's PID namespace uses to see it
/// where it cannot mount a new one (rootless).
pub fn is_procfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|st| st.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// What a mount of type `typ` may cover in /proc, `dest` being where it really lands in
/// the container: /proc itself only with a proc mount, below it only the allowed
/// files, as runc's checkProcMount (CVE-2019-19921). The runtime works through the
/// container's /proc after the switch (masking, the console, sysctls).
pub fn check_mount_destination(dest: &Path, typ: &str) -> Result<()> {
    if dest == Path::new("/proc") && typ != "proc" {
        return Err(Error::invalid(format!("/proc must be a proc mount, not {typ:?}")));
    }
    if dest.starts_with("/proc")
        && dest != Path::new("/proc")
        && !ALLOWED_UNDER_PROC.iter().any(|a| dest == Path::new(a))
    {
        return Err(Error::invalid(format!(
            "mount on {} is not allowed: it is inside /proc",
            dest.display()
        )));
    }
    Ok(())
}
