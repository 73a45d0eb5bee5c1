//! The sync socket between `create` (the parent) and the container's init. A
//! SOCK_SEQPACKET socketpair keeps message boundaries, so each message is one JSON
//! packet. Each step of create is acknowledged, and init's failures travel back as
//! structured errors naming the step, so the parent can report them and clean up.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

#[derive(Serialize, Deserialize, Debug)]
pub enum Message {
    /// parent → init: your ID maps are written and the parent has put you in the
    /// cgroups it places you in (init may join its v1 ones itself); go on.
    Go,
    /// init → parent: a new user namespace exists; write its uid/gid maps.
    UsernsCreated,
    /// parent → init: the maps are written.
    MapsWritten,
    /// intermediate child → parent: this is the PID of the real init (it had to fork
    /// once more to enter a PID or time namespace).
    InitPid(i32),
    /// init → parent: the environment is built; run prestart and createRuntime hooks.
    RunCreateRuntimeHooks,
    /// parent → init: those hooks succeeded.
    HooksDone,
    /// init (or an exec'd process) → parent, with the seccomp notify fd attached:
    /// send it to the profile's listener.
    SeccompListener,
    /// parent → init: the listener has it.
    SeccompListenerDone,
    /// init → parent: my network namespace exists; move `linux.netDevices` into it.
    MoveNetDevices,
    /// parent → init: they are there.
    NetDevicesMoved,
    /// init → parent: clone the source of idmapped mount number N from my mount
    /// namespace (it is in the rootfs, on the mounts made before it).
    MountTreePlease(usize),
    /// parent → init, with the tree attached: here it is, a directory or not.
    MountTree { is_dir: bool },
    /// init → parent: fully set up, about to wait for `start`.
    Ready,
    /// parent → init: create has finished; stop dying with the parent.
    CreateDone,
    /// init → parent: done; the parent may exit without taking init with it.
    Detached,
    /// either way: the step failed; the sender gives up.
    Failed(Error),
}

/// The bytes of a `Failed` message: what goes on the sync socket and, from init
/// during `start`, into the exec FIFO.
pub fn failure_record(err: &Error) -> Vec<u8> {
    serde_json::to_vec(&Message::Failed(err.clone().shortened())).expect("messages serialize")
}

/// What the exec stub writes before the errno of a failed execve (exec_stub.c appends
/// the digits and `}}}`): the start of the `Failed` record of `Error::Sys { step }`.
pub fn stub_failure_prefix(step: &str) -> std::ffi::CString {
    let record = failure_record(&Error::Sys { step: step.into(), errno: 0 });
    let prefix = record.strip_suffix(b"0}}}").expect("a Sys error's record ends with its errno");
    std::ffi::CString::new(prefix).expect("JSON escapes NUL bytes")
}

/// The error a failure record names, or the bytes as text when they are not one.
pub fn read_failure(bytes: &[u8]) -> String {
    match serde_json::from_slice(bytes) {
        Ok(Message::Failed(e)) => e.to_string(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

pub struct SyncSocket {
    fd: OwnedFd,
}

/// One socket for each side; both are close-on-exec so neither leaks into the container.
pub fn pair() -> Result<(SyncSocket, SyncSocket)> {
    let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .ctx(|| "create sync socketpair")?;
    Ok((SyncSocket { fd: a }, SyncSocket { fd: b }))
}

impl SyncSocket {
    /// The socket's own fd, for the exec stub to report a failed execve on.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Message) -> Result<()> {
        let data = match msg {
            // An error may quote a value of any size: cut to fit the receive buffer.
            Message::Failed(e) => failure_record(e),
            m => serde_json::to_vec(m).expect("messages serialize"),
        };
        // MSG_NOSIGNAL: a dead peer is an error to report, not a SIGPIPE that kills us.
        send(self.fd.as_raw_fd(), &data, MsgFlags::MSG_NOSIGNAL).ctx(|| "send on sync socket")?;
        Ok(())
    }

    /// Sends a message with a copy of `fd` attached.
    pub fn send_with_fd(&self, msg: &Message, fd: RawFd) -> Result<()> {
        let data = serde_json::to_vec(msg).expect("messages serialize");
        crate::fd_passing::send_fd(self.fd.as_raw_fd(), &data, fd, "on sync socket")
    }

    /// The next message; a closed socket means the other side died.
    pub fn recv(&self) -> Result<Message> {
        self.recv_with_fd().map(|(msg, _)| msg)
    }

    /// The next message and the fd that came with it, if any.
    pub fn recv_with_fd(&self) -> Result<(Message, Option<OwnedFd>)> {
        let (data, fd) = loop {
            match crate::fd_passing::recv(self.fd.as_raw_fd(), "on sync socket") {
                Err(Error::Sys { errno, .. }) if errno == libc::EINTR => continue,
                r => break r?,
            }
        };
        if data.is_empty() {
            return Err(Error::PeerGone);
        }
        let msg = serde_json::from_slice(&data)
            .map_err(|e| Error::invalid(format!("bad message on sync socket: {e}")))?;
        Ok((msg, fd))
    }

    /// Receives and checks that the message is the expected one; a `Failed` from the
    /// other side becomes this side's error.
    pub fn expect(&self, what: &str, matches: impl Fn(&Message) -> bool) -> Result<Message> {
        match self.recv()? {
            Message::Failed(e) => Err(e),
            m if matches(&m) => Ok(m),
            m => Err(Error::invalid(format!("sync protocol: expected {what}, got {m:?}"))),
        }
    }
}

impl SyncSocket {
    /// In a freshly forked child: closes this process's copy of the *other* side's
    /// end, so that end's owner dying really closes the socket.
    pub fn close_in_child(&self) {
        // SAFETY: only called in the child right after fork; the child never drops this
        // value (it execs or exits), so the fd is not closed twice.
        unsafe { libc::close(self.fd.as_raw_fd()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_the_exec_stub_reports_reads_back_as_the_error() {
        // What exec_stub.c writes: the prefix, the errno in decimal, then "}}}".
        let mut bytes = stub_failure_prefix("exec /bin/x").into_bytes();
        bytes.extend_from_slice(b"8}}}");
        assert_eq!(read_failure(&bytes), "exec /bin/x: exec format error (ENOEXEC)");
        match serde_json::from_slice(&bytes) {
            Ok(Message::Failed(Error::Sys { step, errno })) => {
                assert_eq!((step.as_str(), errno), ("exec /bin/x", 8))
            }
            other => panic!("not a Failed message: {other:?}"),
        }
    }

    #[test]
    fn text_that_is_no_record_is_shown_as_it_is() {
        assert_eq!(read_failure(b"startContainer hook failed"), "startContainer hook failed");
    }
}
