//! Passing one file descriptor with a message over a unix socket (SCM_RIGHTS): the
//! pty master to a console socket, and a seccomp notify fd from init to the parent
//! and on to the profile's listener.

use crate::error::{Context, Error, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::io::IoSlice;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Sends `payload` with a copy of `fd`; `what` names the step in an error.
pub fn send_fd(socket: RawFd, payload: &[u8], fd: RawFd, what: &str) -> Result<()> {
    let fds = [fd];
    sendmsg::<()>(
        socket,
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .ctx(|| format!("send {what}"))?;
    Ok(())
}

/// Receives one message (close-on-exec for a fd that comes with it); returns the
/// payload and the fd, if one came. An empty payload means the peer closed.
pub fn recv(socket: RawFd, what: &str) -> Result<(Vec<u8>, Option<OwnedFd>)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!(RawFd);
    let msg = recvmsg::<()>(socket, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .map_err(|e| Error::sys(format!("receive {what}"), e))?;
    let len = msg.bytes;
    let mut received = None;
    for cmsg in msg.cmsgs().ctx(|| "read control message")? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed this fd for us; nothing else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                received.get_or_insert(owned);
            }
        }
    }
    buf.truncate(len);
    Ok((buf, received))
}

/// Receives a message that must carry a fd.
pub fn recv_fd(socket: RawFd, what: &str) -> Result<(Vec<u8>, OwnedFd)> {
    match recv(socket, what)? {
        (data, Some(fd)) => Ok((data, fd)),
        (_, None) => Err(Error::invalid(format!("{what}: no file descriptor came with it"))),
    }
}
