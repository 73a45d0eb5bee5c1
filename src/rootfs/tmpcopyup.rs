//! `tmpcopyup`, the mount option runc and crun add to the runtime spec and podman
//! puts on every tmpfs it asks for (`--tmpfs`, and /tmp, /var/tmp and /run with
//! `--read-only`): the new tmpfs starts with a copy of what the image had at that
//! path. The copy reads the directory through an fd opened before the mount, which
//! still sees the image's files underneath, and every lookup is an *at call with
//! O_NOFOLLOW on an fd, so no symlink in the image can send it outside either tree.

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, mkdirat, mknodat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, Gid, Uid};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd};

/// Copies the contents of directory `from` into directory `to`, keeping each entry's
/// type, mode and owner. `from` must be readable (not O_PATH).
pub fn copy_tree(from: OwnedFd, to: BorrowedFd) -> nix::Result<()> {
    let mut dir = Dir::from_fd(from.into_raw_fd())?;
    let src = dir.as_raw_fd();
    // Collected first: the directory stream borrows `dir` for as long as it runs.
    let names: Vec<_> = dir
        .iter()
        .filter_map(|e| e.ok())
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .map(|e| e.file_name().to_owned())
        .collect();
    // SAFETY: `dir` owns this fd and outlives every use of the borrow below.
    let src = unsafe { BorrowedFd::borrow_raw(src) };
    for name in names {
        let st = fstatat(Some(src.as_raw_fd()), name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(Some(to.as_raw_fd()), name.as_c_str(), Mode::S_IRWXU)?;
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let sub_from = open_owned(src, &name, flags, Mode::empty())?;
                let sub_to = open_owned(to, &name, flags, Mode::empty())?;
                copy_tree(sub_from, sub_to.as_fd())?;
            }
            SFlag::S_IFREG => {
                let read = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let mut input = File::from(open_owned(src, &name, read, Mode::empty())?);
                let write = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC;
                let mut output = File::from(open_owned(to, &name, write, Mode::S_IRUSR | Mode::S_IWUSR)?);
                std::io::copy(&mut input, &mut output)
                    .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(Some(src.as_raw_fd()), name.as_c_str())?;
                symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name.as_c_str())?;
            }
            // Device nodes, fifos and sockets: the same node, not its contents.
            _ => mknodat(Some(to.as_raw_fd()), name.as_c_str(), kind, Mode::S_IRUSR, st.st_rdev)?,
        }
        keep_owner_and_mode(to, &name, &st, kind == SFlag::S_IFLNK)?;
    }
    Ok(())
}

fn open_owned(dir: BorrowedFd, name: &std::ffi::CStr, flags: OFlag, mode: Mode) -> nix::Result<OwnedFd> {
    use std::os::fd::FromRawFd;
    let fd = openat(Some(dir.as_raw_fd()), name, flags, mode)?;
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Owner first: chown clears the set-id bits that the mode then puts back.
/// Symlinks have no mode of their own.
fn keep_owner_and_mode(
    dir: BorrowedFd,
    name: &std::ffi::CStr,
    st: &FileStat,
    symlink: bool,
) -> nix::Result<()> {
    let owner = (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    fchownat(Some(dir.as_raw_fd()), name, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if !symlink {
        let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
        fchmodat(Some(dir.as_raw_fd()), name, mode, FchmodatFlags::FollowSymlink)?;
    }
    Ok(())
}
