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
    // A hook gets its stdio and nothing else, as runc's do: not the runtime's own
    // descriptors, nor what the runtime's caller left open (a startContainer hook is
    // the image's program). Marked close-on-exec, not closed: the spawn's own error
    // pipe must survive until the exec.
    // SAFETY: close_range is async-signal-safe, and nothing else runs in the child.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    let deadline = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| std::time::Instant::now() + std::time::Duration::from_secs(t as u64));
    let talk = Conversation::new(&mut child, state_json.as_bytes()).map_err(|e| e.to_string())?;
    let stderr = match talk.until_exit(deadline) {
        Ok(Some(stderr)) => stderr,
        Ok(None) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timed out after {}s", hook.timeout().unwrap_or_default()));
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e.to_string());
        }
    };
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&stderr);
        let stderr = stderr.trim();
        let status = go_status_text(status);
        Err(if stderr.is_empty() { status } else { format!("{status}: {stderr}") })
    }
}

/// A hook's end as Go words it ("exit status 2", "signal: bad system call"), which
/// runc prints and tools around it match.
fn go_status_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => {
            // SAFETY: strsignal returns a static string (or a buffer this thread owns
            // until the next call), read at once.
            let text = unsafe { std::ffi::CStr::from_ptr(libc::strsignal(signal)) };
            let core = if status.core_dumped() { " (core dumped)" } else { "" };
            format!("signal: {}{core}", text.to_string_lossy().to_lowercase())
        }
        (None, None) => status.to_string(),
    }
}

/// Most of a hook's stderr kept for its error message: the end, where the cause is.
const STDERR_KEPT: usize = 4096;

/// A running hook's pipes, served together while it runs: the state goes to its
/// stdin as fast as it reads (a hook that never reads it, with a state larger than
/// the pipe, must not block us past its timeout), and its stderr is read as it
/// comes (a hook writing more than the pipe holds must not block itself).
struct Conversation<'a> {
    pidfd: OwnedFd,
    stdin: Option<std::process::ChildStdin>,
    input: &'a [u8],
    stderr: Option<std::process::ChildStderr>,
    kept: Vec<u8>,
}

impl<'a> Conversation<'a> {
    fn new(child: &mut std::process::Child, input: &'a [u8]) -> nix::Result<Self> {
        let pidfd = pidfd_open(child.id() as i32)?;
        let (stdin, stderr) = (child.stdin.take(), child.stderr.take());
        for fd in [stdin.as_ref().map(|f| f.as_raw_fd()), stderr.as_ref().map(|f| f.as_raw_fd())]
            .into_iter()
            .flatten()
        {
            nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))?;
        }
        Ok(Conversation { pidfd, stdin, input, stderr, kept: Vec::new() })
    }

    /// Serves the pipes until the hook exits (its stderr's end) or the deadline
    /// passes (None).
    fn until_exit(mut self, deadline: Option<std::time::Instant>) -> nix::Result<Option<Vec<u8>>> {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        loop {
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                    None => return Ok(None),
                    Some(left) => PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32 + 1)
                        .unwrap_or(PollTimeout::MAX),
                },
            };
            let mut fds = vec![PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            if let Some(stdin) = &self.stdin {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLOUT));
            }
            if let Some(stderr) = &self.stderr {
                fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
            }
            match nix::poll::poll(&mut fds, timeout) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => r?,
            };
            let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
            drop(fds);
            self.feed_stdin();
            self.read_stderr();
            if exited {
                // What it wrote last is still in the pipe.
                self.read_stderr();
                return Ok(Some(self.kept));
            }
        }
    }

    /// Writes what the pipe takes now; closes it once all is written or the hook
    /// has closed its end (a hook need not read its stdin).
    fn feed_stdin(&mut self) {
        let Some(stdin) = &mut self.stdin else { return };
        match stdin.write(self.input) {
            Ok(n) => self.input = &self.input[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => self.input = &[],
        }
        if self.input.is_empty() {
            self.stdin = None;
        }
    }

    /// Reads what is there, keeping the last `STDERR_KEPT` bytes.
    fn read_stderr(&mut self) {
        let Some(stderr) = &mut self.stderr else { return };
        let mut buf = [0u8; 4096];
        loop {
            match stderr.read(&mut buf) {
                Ok(0) => {
                    self.stderr = None;
                    return;
                }
                Ok(n) => {
                    self.kept.extend_from_slice(&buf[..n]);
                    let excess = self.kept.len().saturating_sub(STDERR_KEPT);
                    self.kept.drain(..excess);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
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
