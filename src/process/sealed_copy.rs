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
//! re-executes itself from a memfd copy sealed against writes, as crun and runc
//! before 1.2 always do: then every runtime process in the container runs the sealed
//! copy. It costs a copy of the binary and one more start (README, Performance),
//! which the common configuration never pays.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::ffi::CString;
use std::os::fd::AsRawFd;
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

/// Re-executes this command from a sealed memfd copy of the runtime, with the same
/// arguments and environment; returns only when already running from one.
pub fn reexec() -> Result<()> {
    let step = || "re-execute the runtime from a sealed copy";
    let exe = std::fs::File::open("/proc/self/exe").ctx(step)?;
    // SAFETY: fcntl on an fd we own, without a pointer argument.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & libc::F_SEAL_WRITE != 0 {
        return Ok(());
    }
    crate::logger::debug("the container may reach the runtime's processes: running from a sealed copy");
    let mut copy = super::exec_stub::executable_memfd(c"anchor-runtime").ctx(step)?;
    std::io::copy(&mut &exe, &mut copy).ctx(step)?;
    super::exec_stub::seal(&copy).ctx(step)?;
    let cstrings = |items: Vec<Vec<u8>>| -> Result<Vec<CString>> {
        items
            .into_iter()
            .map(|i| CString::new(i).map_err(|_| Error::invalid("an argument has a NUL byte")))
            .collect()
    };
    let args = cstrings(std::env::args_os().map(|a| a.as_bytes().to_vec()).collect())?;
    let env =
        cstrings(std::env::vars_os().map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat()).collect())?;
    let pointers = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter().map(|c| c.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
    };
    let (argv, envp) = (pointers(&args), pointers(&env));
    // SAFETY: NULL-terminated arrays of C strings that outlive the call; "" with
    // AT_EMPTY_PATH execs the memfd itself. It returns only on failure.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            copy.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(Error::sys(step(), Errno::last()))
}
