//! Path resolution inside the container's root filesystem that a symlink cannot lead
//! out of. Every lookup goes through openat2(2) with RESOLVE_IN_ROOT, so `..` and
//! absolute symlinks are clamped to the rootfs, and RESOLVE_NO_MAGICLINKS, so
//! /proc/self/fd tricks are refused. Mounts are then made onto the opened fd
//! (/proc/self/fd/N), so swapping a path component for a symlink after the check
//! cannot redirect them (the CVE-2021-30465 class).

use crate::error::{Context, Result};
use nix::errno::Errno;
use nix::sys::stat::Mode;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Most symlinks followed while creating one path, as the kernel's own limit.
const MAX_SYMLINKS: usize = 40;

/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS relative to `root`.
pub fn open_in_root(
    root: &OwnedFd,
    path: &Path,
    flags: i32,
    mode: u32,
) -> std::result::Result<OwnedFd, Errno> {
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    crate::resolve::openat2(root.as_fd(), &relative(path), flags, mode, resolve)
}

/// `path` with every symlink in it followed inside the root (an absolute target starts
/// again at the root, as RESOLVE_IN_ROOT does): where the kernel would put a mount on
/// it, as an absolute path in the container. The part that does not exist stays as
/// written.
pub fn resolved_in_root(root: &OwnedFd, path: &Path) -> PathBuf {
    let mut done = PathBuf::new();
    let mut rest: std::collections::VecDeque<std::ffi::OsString> =
        relative(path).components().map(|c| c.as_os_str().to_os_string()).collect();
    let mut budget = MAX_SYMLINKS;
    while let Some(name) = rest.pop_front() {
        if name == "." {
            continue;
        }
        if name == ".." {
            done.pop();
            continue;
        }
        let parent = open_in_root(root, &done, libc::O_PATH | libc::O_DIRECTORY, 0);
        let target =
            parent.ok().and_then(|dir| nix::fcntl::readlinkat(Some(dir.as_raw_fd()), name.as_os_str()).ok());
        match target {
            Some(target) if budget > 0 => {
                budget -= 1;
                let target = PathBuf::from(target);
                if target.is_absolute() {
                    done.clear();
                }
                for (i, c) in target
                    .components()
                    .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
                    .enumerate()
                {
                    rest.insert(i, c.as_os_str().to_os_string());
                }
            }
            _ => done.push(name),
        }
    }
    Path::new("/").join(done)
}

/// The path with its root and `.` components removed and `..` resolved lexically
/// (clamped at the root, as the kernel does for RESOLVE_IN_ROOT).
pub fn relative(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// What to create at the end of a path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Leaf {
    Dir,
    File,
}

/// Creates `path` inside the root (and the directories above it) as `mkdir -p` would,
/// resolving every component inside the root, and returns an O_PATH fd of the result.
/// A dangling symlink on the way is followed inside the root and its target created.
pub fn create_in_root(root: &OwnedFd, path: &Path, leaf: Leaf) -> Result<OwnedFd> {
    create_with_budget(root, &relative(path), leaf, MAX_SYMLINKS)
        .ctx(|| format!("create {} inside the rootfs", path.display()))
}

fn create_with_budget(
    root: &OwnedFd,
    rel: &Path,
    leaf: Leaf,
    budget: usize,
) -> std::result::Result<OwnedFd, Errno> {
    let leaf_flags = libc::O_PATH | if leaf == Leaf::Dir { libc::O_DIRECTORY } else { 0 };
    // Mostly the path is there already: one lookup instead of one per component.
    match open_in_root(root, rel, leaf_flags, 0) {
        Err(Errno::ENOENT) => {}
        found => return found,
    }
    let comps: Vec<_> = rel.components().collect();
    // Mostly just the last component is missing (a mount point the image lacks): its
    // parent is found in one lookup too, and the walk starts there, not at the root.
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY;
    let above = rel.parent().filter(|p| !p.as_os_str().is_empty());
    let (mut parent, start) = match above.map(|p| open_in_root(root, p, dir_flags, 0)) {
        Some(Ok(fd)) => (fd, comps.len() - 1),
        Some(Err(Errno::ENOENT)) | None => (open_in_root(root, Path::new("."), dir_flags, 0)?, 0),
        Some(Err(e)) => return Err(e),
    };
    let mut walked: PathBuf = comps[..start].iter().collect();
    for (i, comp) in comps.iter().enumerate().skip(start) {
        let last = i + 1 == comps.len();
        let want_dir = !last || leaf == Leaf::Dir;
        walked.push(comp);
        let flags = libc::O_PATH | if want_dir { libc::O_DIRECTORY } else { 0 };
        // The whole path was just found missing: no second lookup of the last one.
        match if last { Err(Errno::ENOENT) } else { open_in_root(root, &walked, flags, 0) } {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let name = CString::new(comp.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        let made = if want_dir {
            nix::sys::stat::mkdirat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                Mode::from_bits_truncate(0o755),
            )
        } else {
            nix::fcntl::openat(
                Some(parent.as_raw_fd()),
                name.as_c_str(),
                nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_EXCL | nix::fcntl::OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o644),
            )
            // SAFETY: openat returned a new fd that nothing else owns.
            .map(|fd| drop(unsafe { OwnedFd::from_raw_fd(fd) }))
        };
        match made {
            Ok(()) => {}
            // The name exists but did not resolve: a dangling symlink. Create its target
            // inside the root instead, then resolve the path again through it.
            Err(Errno::EEXIST) => {
                if budget == 0 {
                    return Err(Errno::ELOOP);
                }
                let target = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name.as_c_str())?;
                let base = walked.parent().unwrap_or(Path::new("")).to_path_buf();
                let resolved = relative(&base.join(target));
                let kind = if want_dir { Leaf::Dir } else { Leaf::File };
                create_with_budget(root, &resolved, kind, budget - 1)?;
            }
            Err(e) => return Err(e),
        }
        parent = open_in_root(root, &walked, flags, 0)?;
    }
    Ok(parent)
}

/// The /proc/self/fd path through which a syscall that takes a path acts on `fd`.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Opens the rootfs directory itself, as the anchor for every later lookup.
pub fn open_root(rootfs: &Path) -> Result<OwnedFd> {
    let fd = nix::fcntl::open(
        rootfs,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open rootfs {}", rootfs.display()))?;
    // SAFETY: open returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_in_root_follows_links_inside_the_root_only() {
        let dir = std::env::temp_dir().join(format!("anchor-resolved-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("real/conf")).unwrap();
        symlink("/real", dir.join("abs")).unwrap();
        symlink("real", dir.join("rel")).unwrap();
        symlink("../../../real", dir.join("up")).unwrap();
        let root = open_root(&dir).unwrap();
        let resolved = |p: &str| resolved_in_root(&root, Path::new(p));
        assert_eq!(resolved("/abs/conf"), Path::new("/real/conf"));
        assert_eq!(resolved("/rel/conf/new"), Path::new("/real/conf/new"), "the missing rest stays");
        assert_eq!(resolved("/up/conf"), Path::new("/real/conf"), "`..` stops at the root");
        assert_eq!(resolved("/x/../abs"), Path::new("/real"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
    use std::os::unix::fs::symlink;

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("anchor-safe-path-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn relative_clamps_dotdot_at_the_root() {
        assert_eq!(relative(Path::new("/a/../../b/./c")), PathBuf::from("b/c"));
        assert_eq!(relative(Path::new("/")), PathBuf::from("."));
    }

    #[test]
    fn absolute_symlink_is_resolved_inside_the_root() {
        let base = tempdir("abs");
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("evil")).unwrap();
        let fd = open_root(&root).unwrap();
        create_in_root(&fd, Path::new("/evil/sub"), Leaf::Dir).unwrap();
        assert!(!outside.join("sub").exists(), "created outside the root");
        assert!(root.join(outside.strip_prefix("/").unwrap()).join("sub").is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn missing_leaf_under_a_symlinked_parent_is_made_inside_the_root() {
        let base = tempdir("parent");
        let (root, outside) = (base.join("root"), base.join("outside"));
        let inside = root.join(outside.strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        symlink(&outside, root.join("evil")).unwrap();
        let fd = open_root(&root).unwrap();
        create_in_root(&fd, Path::new("/evil/sub"), Leaf::Dir).unwrap();
        create_in_root(&fd, Path::new("/evil/file"), Leaf::File).unwrap();
        assert!(!outside.join("sub").exists() && !outside.join("file").exists(), "created outside the root");
        assert!(inside.join("sub").is_dir() && inside.join("file").is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn dangling_symlink_leaf_gets_its_target_made_inside_the_root() {
        let base = tempdir("dangling");
        let (root, outside) = (base.join("root"), base.join("outside"));
        std::fs::create_dir_all(root.join("dev")).unwrap();
        symlink(&outside, root.join("dev/link")).unwrap();
        let fd = open_root(&root).unwrap();
        create_in_root(&fd, Path::new("/dev/link"), Leaf::Dir).unwrap();
        assert!(!outside.exists(), "created outside the root");
        assert!(root.join(outside.strip_prefix("/").unwrap()).is_dir());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn dotdot_symlink_cannot_climb_out() {
        let base = tempdir("dotdot");
        let root = base.join("root");
        std::fs::create_dir_all(&root).unwrap();
        symlink("../../../..", root.join("up")).unwrap();
        let fd = open_root(&root).unwrap();
        create_in_root(&fd, Path::new("/up/escaped"), Leaf::File).unwrap();
        assert!(root.join("escaped").is_file());
        assert!(!base.join("escaped").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
