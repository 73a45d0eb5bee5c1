//! The runtime re-executed from a sealed copy of itself, for the containers the exec
//! stub alone cannot protect (CVE-2019-5736).
//!
//! Non-dumpable runtime processes keep the container from their /proc/PID/exe, the
//! host binary, until they exec the stub (see `exec_stub`). That holds against every
//! process in the container except one with CAP_SYS_PTRACE over the host's user
//! namespace: a container without a user namespace of its own whose capabilities
//! include it (`--cap-add SYS_PTRACE`, common for debuggers and profilers). For those,
//! and wherever the runtime's processes meet processes it did not start (a PID
//! namespace joined or shared with the host or another container), the runtime first
//! re-executes itself from a view of its binary that cannot be written (a read-only
//! mount, as runc >= 1.2 does always, or a sealed memfd copy, as crun does): then
//! every runtime process in the container runs from that view. It costs one more
//! start of the runtime (README, Performance), which the common configuration never
//! pays.

use super::exec_stub;
use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statvfs::FsFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

/// Whether `create` must run from the sealed copy: its init may meet processes of
/// others, in a PID namespace it joins (or shares with the host), any of which may
/// hold CAP_SYS_PTRACE over the host.
pub fn needed_for_create(spec: &Spec) -> bool {
    !has_own(spec, LinuxNamespaceType::Pid)
}

/// Whether `exec` must run from the sealed copy: as for `create`, or the container's
/// own processes (config.json's capabilities) may hold CAP_SYS_PTRACE over the host,
/// having no user namespace of their own. (A process an earlier `exec` gave more
/// capabilities than config.json is not known here.)
pub fn needed_for_exec(spec: &Spec) -> bool {
    let may_ptrace = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .is_some_and(|b| b.contains(&oci_spec::runtime::Capability::SysPtrace));
    needed_for_create(spec) || (may_ptrace && !has_own(spec, LinuxNamespaceType::User))
}

/// A namespace of this type made for the container (not joined by path, not absent).
fn has_own(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    namespaces.iter().any(|ns| ns.typ() == typ && ns.path().is_none())
}

/// Re-executes this command, with the same arguments and environment, from a view of
/// the runtime's binary that cannot be written; returns only when already running
/// from one. The view is a read-only detached bind mount of the binary itself (no
/// copy, as runc >= 1.2 protects itself with a read-only mount): a write through
/// /proc/PID/exe then fails with EROFS. Where the runtime may not make one (rootless,
/// kernels before 5.12) it is a sealed memfd copy.
pub fn reexec() -> Result<()> {
    let step = || "re-execute the runtime from a view of it that cannot be written";
    if running_from_protected_view().ctx(step)? {
        return Ok(());
    }
    let view = match read_only_view() {
        Ok(view) => view,
        Err(e) => {
            crate::logger::debug(format!("no read-only mount of the runtime ({e}): a sealed copy instead"));
            sealed_memfd_copy().ctx(step)?
        }
    };
    let cstrings = |items: Vec<Vec<u8>>| -> Result<Vec<CString>> {
        items
            .into_iter()
            .map(|i| CString::new(i).map_err(|_| Error::invalid("an argument has a NUL byte")))
            .collect()
    };
    let args = cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()).collect())?;
    let env =
        cstrings(std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()).collect())?;
    crate::logger::debug(
        "the container may reach the runtime's processes: re-executing from a protected view",
    );
    let argv = exec_stub::null_terminated(args.iter().map(CString::as_c_str));
    let envp = exec_stub::null_terminated(env.iter().map(CString::as_c_str));
    Err(Error::sys(step(), exec_stub::exec_fd(view.as_fd(), &argv, &envp)))
}

/// Whether /proc/self/exe cannot be written: it is on a read-only mount (this
/// command's own view, or a host whose /usr is read-only), or a sealed memfd.
fn running_from_protected_view() -> nix::Result<bool> {
    let exe = nix::fcntl::open("/proc/self/exe", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())?;
    // SAFETY: open returned a new fd that nothing else owns.
    let exe = unsafe { OwnedFd::from_raw_fd(exe) };
    if nix::sys::statvfs::fstatvfs(&exe)?.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(true);
    }
    // SAFETY: fcntl on an fd we own, without a pointer argument.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    Ok(seals >= 0 && seals & libc::F_SEAL_WRITE != 0)
}

/// A detached bind mount of the runtime's binary, made read-only.
fn read_only_view() -> nix::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: a valid C string; open_tree returns a new fd or -1.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c"/proc/self/exe".as_ptr(), flags) };
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let view = unsafe { OwnedFd::from_raw_fd(Errno::result(r)? as RawFd) };
    crate::rootfs::mount_setattr_recursive(&view, crate::rootfs::mount_options::MOUNT_ATTR_RDONLY, 0)?;
    Ok(view)
}

/// A memfd copy of the runtime's binary, sealed.
fn sealed_memfd_copy() -> std::io::Result<OwnedFd> {
    let exe = std::fs::File::open("/proc/self/exe")?;
    let mut copy = exec_stub::executable_memfd(c"anchor-runtime")?;
    std::io::copy(&mut &exe, &mut copy)?;
    exec_stub::seal(&copy)?;
    Ok(copy.into())
}
