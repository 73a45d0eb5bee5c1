//! The exec stub in a sealed memfd: how a container's program is started without the
//! runtime's host binary ever being reachable from the container (CVE-2019-5736).
//!
//! A runtime process that joins a container has the host binary as /proc/self/exe.
//! Were it to exec the user's program itself, a program that leads back to
//! /proc/self/exe (`#!/proc/self/exe`, an interpreter, binfmt_misc) would start the
//! host binary inside the container, dumpable, for another process there to open
//! through /proc/PID/exe and overwrite once it exits. Instead the runtime execs a tiny
//! libc-free stub (exec_stub.c) from a memfd sealed against writes, and the stub makes
//! the final execve: whatever the program does with /proc/self/exe reaches only that
//! sealed copy. Until then the runtime's processes are not dumpable, so nothing in the
//! container can open their /proc/PID/exe (see `init` and `join`).
//!
//! Why a stub and not the whole runtime re-executed from a sealed copy (crun, runc
//! before 1.2) or from a read-only mount (runc 1.2): a glibc start costs about 0.8 ms
//! here and a 3 MiB copy more; the stub is about 1 KiB and its exec costs tens of
//! microseconds (README, Performance).

use crate::error::{Context, Result};
use nix::errno::Errno;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The stub's program, built by build.rs.
const STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/exec-stub"));

/// The stub's argv[0]: run with anything else (as a script's interpreter through
/// /proc/self/exe, say) it refuses.
const MAGIC: &CStr = c"anchor-exec-stub";

/// memfd_create's MFD_EXEC (Linux 6.3): executable even where vm.memfd_noexec asks for
/// non-executable memfds by default. libc does not export it.
const MFD_EXEC: libc::c_uint = 0x10;

/// A new memfd that can be sealed and executed. Close-on-exec: it reaches no program,
/// and an execveat of it still works (the kernel holds the file by then).
pub(super) fn executable_memfd(name: &CStr) -> nix::Result<std::fs::File> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create takes a C string and flags; it returns a new fd.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // SAFETY: as above; kernels before 6.3 know no MFD_EXEC.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    Errno::result(fd)?;
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Seals a memfd against any change of its content or size, and against unsealing.
pub(super) fn seal(memfd: &std::fs::File) -> nix::Result<()> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on an fd the caller owns, with an integer argument.
    Errno::result(unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

pub struct ExecStub(std::fs::File);

impl ExecStub {
    /// A new memfd holding the stub, sealed.
    pub fn new() -> Result<Self> {
        let step = || "make the sealed exec stub";
        let mut memfd = executable_memfd(MAGIC).ctx(step)?;
        std::io::Write::write_all(&mut memfd, STUB).ctx(step)?;
        seal(&memfd).ctx(step)?;
        Ok(ExecStub(memfd))
    }

    /// Execs the stub, which execs `path`. `report` (the exec FIFO, the sync socket)
    /// is kept open across this exec for the stub to report a failed execve on:
    /// `failure_prefix` and the errno make a `Failed` message of it (see
    /// `sync::stub_failure_prefix`). Returns only on failure.
    pub fn exec(
        &self,
        report: Option<RawFd>,
        failure_prefix: &CStr,
        path: &CStr,
        args: &[CString],
        env: &[CString],
    ) -> Errno {
        let report_arg = CString::new(report.map_or_else(|| "-".to_string(), |fd| fd.to_string()))
            .expect("a number has no NUL byte");
        let head = [MAGIC, report_arg.as_c_str(), failure_prefix, path];
        let argv = null_terminated(head.into_iter().chain(args.iter().map(CString::as_c_str)));
        let envp = null_terminated(env.iter().map(CString::as_c_str));
        if let Some(fd) = report {
            // SAFETY: clears FD_CLOEXEC on an fd the caller owns; the stub sets it again.
            if let Err(e) = Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }) {
                return e;
            }
        }
        match exec_fd(self.0.as_fd(), &argv, &envp) {
            // A seccomp profile written before execveat (2014) may refuse it: the same
            // sealed file through the container's /proc, with execve, which every
            // profile that runs anything allows.
            refused @ (Errno::EPERM | Errno::ENOSYS) => {
                let by_path = CString::new(format!("/proc/self/fd/{}", self.0.as_raw_fd()))
                    .expect("a path of digits has no NUL byte");
                // SAFETY: argv and envp are NULL-terminated arrays of C strings that
                // outlive the call; execve returns only on failure. Should it fail too
                // (no /proc), the refusal of execveat is the cause to report.
                unsafe { libc::execve(by_path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
                refused
            }
            e => e,
        }
    }
}

/// The NULL-terminated array of pointers that execve takes for argv and envp; the
/// strings must outlive it.
pub(super) fn null_terminated<'a>(strings: impl IntoIterator<Item = &'a CStr>) -> Vec<*const libc::c_char> {
    strings.into_iter().map(CStr::as_ptr).chain(std::iter::once(std::ptr::null())).collect()
}

/// execveat(2) of the file `fd` refers to (a memfd, a detached mount's root), with
/// arrays made by `null_terminated`. Returns only on failure, with its errno.
pub(super) fn exec_fd(fd: BorrowedFd, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of C strings that outlive the
    // call (see `null_terminated`); "" with AT_EMPTY_PATH execs the file itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}
