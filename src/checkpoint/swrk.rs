//! One conversation with `criu swrk`: CRIU as a child process serving one request
//! over a socket pair (fd 3 in the child), as runc and crun drive it. Files it must
//! inherit (a namespace to join) follow as fds 4, 5, ...; its stdio is ours, so the
//! restored program's stdio pipes can be handed over by number (`inherit_fd`). CRIU
//! opens the image and work directories through this process's /proc/PID/fd, so it
//! must share this process's mount namespace.

use super::rpc::{self, Message, Notify, Response};
use crate::error::{Context, Error, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

/// A running `criu swrk`.
pub struct Swrk {
    child: std::process::Child,
    socket: OwnedFd,
    /// Where CRIU writes its log, for an error to quote.
    log: PathBuf,
}

impl Swrk {
    /// `inherited`: handed to CRIU as fds 4, 5, ...
    pub fn start(inherited: &[RawFd], log: PathBuf) -> Result<Self> {
        let flags = nix::sys::socket::SockFlag::SOCK_CLOEXEC;
        let (ours, theirs) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::SeqPacket,
            None,
            flags,
        )
        .ctx(|| "criu: socketpair")?;
        // Above every target number, so that placing one cannot overwrite another.
        let mut handed = vec![high_copy(theirs.as_raw_fd())?];
        for &fd in inherited {
            handed.push(high_copy(fd)?);
        }
        let raw: Vec<RawFd> = handed.iter().map(|f| f.as_raw_fd()).collect();
        let mut command = std::process::Command::new("criu");
        command.args(["swrk", "3"]);
        // SAFETY: the closure runs in the forked child before exec and only calls
        // dup2 on descriptors prepared before the fork.
        unsafe {
            command.pre_exec(move || place_descriptors(&raw));
        }
        let child = command.spawn().map_err(|e| {
            Error::invalid(format!("criu: cannot run criu: {e} (checkpoint and restore need CRIU installed)"))
        })?;
        Ok(Swrk { child, socket: ours, log })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `request` and answers CRIU's notifications with `on_notify` until the
    /// final response, which is returned; a failure carries CRIU's own words.
    pub fn call(
        &mut self,
        request: &Message,
        mut on_notify: impl FnMut(&Notify, Option<OwnedFd>) -> Result<()>,
    ) -> Result<Response> {
        self.send(request)?;
        loop {
            let (data, fd) = crate::fd_passing::recv(self.socket.as_raw_fd(), "criu's answer")?;
            if data.is_empty() {
                let status = self.child.wait().ctx(|| "wait for criu")?;
                return Err(self.failure(Some(&format!("it exited ({status}) without answering"))));
            }
            let response = Response::parse(&data)?;
            if !response.success {
                let said = match (&response.errmsg, response.errno) {
                    (Some(m), _) if !m.trim().is_empty() => Some(m.clone()),
                    (_, Some(errno)) if errno != 0 => {
                        Some(nix::errno::Errno::from_raw(errno).desc().to_string())
                    }
                    _ => None,
                };
                return Err(self.failure(said.as_deref()));
            }
            match &response.notify {
                Some(notify) if response.kind == rpc::kind::NOTIFY => {
                    crate::logger::debug(format!("criu: {} (pid {})", notify.script, notify.pid));
                    on_notify(notify, fd)?;
                    self.send(&rpc::notify_success())?;
                }
                _ => return Ok(response),
            }
        }
    }

    fn send(&self, m: &Message) -> Result<()> {
        nix::sys::socket::send(
            self.socket.as_raw_fd(),
            m.as_bytes(),
            nix::sys::socket::MsgFlags::MSG_NOSIGNAL,
        )
        .ctx(|| "send criu a request")?;
        Ok(())
    }

    /// Waits for CRIU to exit after its answer. `pre_dump`: CRIU then waits for a
    /// further request and exits with a failure once the socket closes, as runc
    /// expects too.
    pub fn finish(mut self, pre_dump: bool) -> Result<()> {
        let _ = nix::sys::socket::shutdown(self.socket.as_raw_fd(), nix::sys::socket::Shutdown::Write);
        let status = self.child.wait().ctx(|| "wait for criu")?;
        if !status.success() && !pre_dump {
            return Err(self.failure(Some(&format!("it exited with {status}"))));
        }
        Ok(())
    }

    /// One line: the first error CRIU's log gives, and CRIU's own message if it
    /// says more (that is often an early, harmless error; the log's last line, the
    /// "FAILED" summary, says nothing).
    fn failure(&self, said: Option<&str>) -> Error {
        let said = said.map(str::trim).filter(|s| !s.is_empty());
        let log = crate::small_file::read_to_string(&self.log).unwrap_or_default();
        let cause = log
            .lines()
            .filter_map(|l| l.find("Error (").map(|at| l[at..].trim()))
            .find(|e| !said.is_some_and(|s| s.contains(e)) && !e.ends_with("FAILED."));
        let at = self.log.display();
        let mut line = match (cause, said) {
            (Some(cause), Some(said)) => format!("criu failed: {cause} (criu also said: {said}); log: {at}"),
            (Some(cause), None) => format!("criu failed: {cause}; log: {at}"),
            (None, Some(said)) => format!("criu failed: {said}; log: {at}"),
            (None, None) => format!("criu failed and gave no reason; log: {at}"),
        };
        line.truncate(line.floor_char_boundary(600));
        Error::invalid(line)
    }
}

impl Drop for Swrk {
    /// An abandoned conversation (an error on our side) must not leave CRIU waiting.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn high_copy(fd: RawFd) -> Result<OwnedFd> {
    let copy = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(100)).ctx(|| "criu: dup")?;
    // SAFETY: fcntl just made this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// In the child: `handed[i]` becomes fd 3 + i (dup2 clears close-on-exec).
fn place_descriptors(handed: &[RawFd]) -> std::io::Result<()> {
    for (i, &fd) in handed.iter().enumerate() {
        // SAFETY: dup2 on descriptors this process holds.
        if unsafe { libc::dup2(fd, 3 + i as RawFd) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
