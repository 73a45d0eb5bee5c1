//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved into the
//! container's network namespace, renamed there when `name` says so. One rtnetlink
//! RTM_NEWLINK per device, with the namespace's fd and the new name, moves and renames
//! it in one step (the kernel never shows it under its old name inside). When the
//! namespace goes away, the kernel gives a physical interface back to the host and
//! deletes a virtual one (dummy, veth), as with runc.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, LinuxNetDevice, Spec};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};

/// The longest interface name (IFNAMSIZ less its NUL).
const MAX_NAME: usize = 15;

fn devices(spec: &Spec) -> Option<&HashMap<String, LinuxNetDevice>> {
    spec.linux().as_ref().and_then(|l| l.net_devices().as_ref()).filter(|d| !d.is_empty())
}

/// Whether the config moves any device (init then asks the parent to, once its
/// network namespace exists).
pub fn wanted(spec: &Spec) -> bool {
    devices(spec).is_some()
}

/// At `create`, before anything exists: the container has a network namespace of
/// its own (moving an interface into the host's would do nothing but rename it),
/// every device is on the host, and every name is one the kernel takes.
pub fn check(spec: &Spec) -> Result<()> {
    let Some(devices) = devices(spec) else { return Ok(()) };
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    if !namespaces.is_some_and(|n| n.iter().any(|ns| ns.typ() == LinuxNamespaceType::Network)) {
        return Err(Error::invalid("linux.netDevices needs a network namespace for the container"));
    }
    for (host_name, device) in devices {
        for name in [Some(host_name), device.name().as_ref()].into_iter().flatten() {
            if name.is_empty()
                || name.len() > MAX_NAME
                || name.contains(['/', ':'])
                || name.contains(char::is_whitespace)
                || name == "."
                || name == ".."
            {
                return Err(Error::invalid(format!(
                    "linux.netDevices: {} is not a valid interface name",
                    crate::error::quoted(name)
                )));
            }
        }
        index_of(host_name)?;
    }
    Ok(())
}

/// In the parent, when init asks (its network namespace exists): moves every device
/// there.
pub fn move_into(spec: &Spec, init: i32) -> Result<()> {
    let Some(devices) = devices(spec) else { return Ok(()) };
    let netns = std::fs::File::open(format!("/proc/{init}/ns/net"))
        .map(OwnedFd::from)
        .map_err(|e| Error::invalid(format!("open the network namespace of init {init}: {e}")))?;
    // Never the runtime's own: that would only rename a host interface.
    let inode = |fd: i32| nix::sys::stat::fstat(fd).map(|st| (st.st_dev, st.st_ino));
    let own = std::fs::File::open("/proc/self/ns/net").ctx(|| "open the runtime's network namespace")?;
    if inode(netns.as_raw_fd()).ctx(|| "stat init's network namespace")?
        == inode(own.as_raw_fd()).ctx(|| "stat the runtime's network namespace")?
    {
        return Err(Error::invalid("linux.netDevices: init is in the runtime's network namespace"));
    }
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Netlink,
        nix::sys::socket::SockType::Raw,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        nix::sys::socket::SockProtocol::NetlinkRoute,
    )
    .ctx(|| "open an rtnetlink socket")?;
    for (host_name, device) in devices {
        let new_name = device.name().as_deref().unwrap_or(host_name);
        let step = || format!("move network device {host_name} into the container as {new_name}");
        let request = move_request(index_of(host_name)?, netns.as_raw_fd(), new_name);
        nix::unistd::write(&socket, &request).ctx(step)?;
        let mut reply = [0u8; 1024];
        let n = nix::unistd::read(socket.as_raw_fd(), &mut reply).ctx(step)?;
        ack_errno(&reply[..n]).map_err(|e| Error::sys(step(), e))?;
    }
    Ok(())
}

fn index_of(name: &str) -> Result<i32> {
    let step = || format!("linux.netDevices: host interface {}", crate::error::quoted(name));
    let c_name = std::ffi::CString::new(name).map_err(|_| Error::invalid(step() + ": a NUL byte"))?;
    // SAFETY: a valid C string; if_nametoindex only reads it.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(Error::sys(step(), nix::errno::Errno::last())),
        index => Ok(index as i32),
    }
}

/// RTM_NEWLINK for interface `index`: into the namespace of `netns_fd`, named `name`.
fn move_request(index: i32, netns_fd: i32, name: &str) -> Vec<u8> {
    const RTM_NEWLINK: u16 = 16;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const IFLA_IFNAME: u16 = 3;
    const IFLA_NET_NS_FD: u16 = 28;
    let mut attrs = Vec::new();
    let mut attr = |kind: u16, payload: &[u8]| {
        attrs.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        attrs.extend_from_slice(&kind.to_ne_bytes());
        attrs.extend_from_slice(payload);
        attrs.resize(attrs.len().next_multiple_of(4), 0);
    };
    attr(IFLA_NET_NS_FD, &netns_fd.to_ne_bytes());
    attr(IFLA_IFNAME, &[name.as_bytes(), b"\0"].concat());
    // struct ifinfomsg: family, pad, type, index, flags, change.
    let mut info = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    info.extend_from_slice(&index.to_ne_bytes());
    info.extend_from_slice(&[0; 8]);
    let len = 16 + info.len() + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
    msg.extend(info);
    msg.extend(attrs);
    msg
}

/// The errno of the kernel's NLMSG_ERROR answer (0 is the acknowledgement).
fn ack_errno(reply: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
    const NLMSG_ERROR: u16 = 2;
    let kind = reply.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let error = reply.get(16..20).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (kind, error) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(e)) => Err(nix::errno::Errno::from_raw(-e)),
        _ => Err(nix::errno::Errno::EPROTO),
    }
}
