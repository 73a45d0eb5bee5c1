//! OCI hooks: host programs run at the lifecycle points the runtime spec names, each
//! given the container's state JSON on stdin, with its own args, env and timeout.

use crate::error::{Error, Result};
use oci_spec::runtime::Hook;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// What a failing hook does to the hooks after it and to the operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Stop at the first failure and fail the operation (createRuntime and the like).
    Stop,
    /// Log a warning and run the rest (poststart, poststop).
    Warn,
}

/// Runs `hooks` in order, each with the state JSON on stdin.
pub fn run_all(kind: &str, hooks: &[Hook], state_json: &str, on_failure: OnFailure) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        if let Err(why) = run_one(hook, state_json) {
            // runc's wording, which tools around it look for.
            let err =
                Error::invalid(format!("error running {kind} hook #{i}: {}: {why}", hook.path().display()));
            match on_failure {
                OnFailure::Stop => return Err(err),
                OnFailure::Warn => crate::logger::warn(err.to_string()),
            }
        }
    }
    Ok(())
}

fn run_one(hook: &Hook, state_json: &str) -> std::result::Result<(), String> {
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // A hook that does not read its stdin must not block us: ignore EPIPE.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state_json.as_bytes());
    }
    let timeout_ms = hook.timeout().filter(|t| *t > 0).map(|t| t.saturating_mul(1000));
    if let Some(ms) = timeout_ms {
        if !wait_exit(child.id() as i32, ms).map_err(|e| e.to_string())? {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", hook.timeout().unwrap_or_default()));
        }
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        let stderr = stderr.trim();
        Err(if stderr.is_empty() { status.to_string() } else { format!("{status}: {stderr}") })
    }
}

/// Waits up to `ms` for a child to exit (without reaping it); false on timeout.
pub fn wait_exit(pid: i32, ms: i64) -> nix::Result<bool> {
    let pidfd = pidfd_open(pid)?;
    let mut fds = [nix::poll::PollFd::new(
        // SAFETY: pidfd stays open for the duration of the poll.
        unsafe { std::os::fd::BorrowedFd::borrow_raw(pidfd.as_raw_fd()) },
        nix::poll::PollFlags::POLLIN,
    )];
    let timeout = nix::poll::PollTimeout::try_from(ms.clamp(0, i32::MAX as i64) as i32)
        .unwrap_or(nix::poll::PollTimeout::MAX);
    loop {
        match nix::poll::poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => return Ok(r? > 0),
        }
    }
}

/// pidfd_open(2): a handle on a process that a recycled PID cannot fool.
pub fn pidfd_open(pid: i32) -> nix::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments; returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: on success the fd is new and owned by nobody else.
    nix::errno::Errno::result(fd).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
