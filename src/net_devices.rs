//! `linux.netDevices` (runtime-spec 1.3): host network interfaces moved into the
//! container's network namespace, renamed there when `name` says so. As runc does it:
//! the interface is set down on the host, one rtnetlink RTM_NEWLINK with the
//! namespace's fd and the new name moves and renames it in one step (the kernel never
//! shows it under its old name inside), then its permanent addresses of global scope,
//! which the kernel drops on the move, are added again inside and it is set up. When
//! the namespace goes away, the kernel gives a physical interface back to the host and
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
    let host = rtnetlink_socket()?;
    // A socket stays in the namespace it was made in: one made inside, for the steps
    // after the move. This process is single-threaded, so entering and leaving the
    // namespace changes nothing else.
    nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| "enter the container's network namespace")?;
    let inside = rtnetlink_socket();
    nix::sched::setns(&own, nix::sched::CloneFlags::CLONE_NEWNET)
        .ctx(|| "return to the runtime's network namespace")?;
    let inside = inside?;
    for (host_name, device) in devices {
        let new_name = device.name().as_deref().unwrap_or(host_name);
        let step =
            |what: &str| format!("move network device {host_name} into the container as {new_name}: {what}");
        let index = index_of(host_name)?;
        // Read before the link goes down: by default the kernel flushes an interface's
        // IPv6 addresses when it does (keep_addr_on_down).
        let addresses = addresses_of(&host, index).map_err(|e| Error::sys(step("read its addresses"), e))?;
        request(&host, &link_up(index, false)).map_err(|e| Error::sys(step("set it down"), e))?;
        request(&host, &move_request(index, netns.as_raw_fd(), new_name))
            .map_err(|e| Error::sys(step("move"), e))?;
        let index = index_in(&inside, new_name).map_err(|e| Error::sys(step("find it inside"), e))?;
        for address in &addresses {
            request(&inside, &add_address(index, address))
                .map_err(|e| Error::sys(step(&format!("add address {address} inside")), e))?;
        }
        request(&inside, &link_up(index, true)).map_err(|e| Error::sys(step("set it up inside"), e))?;
    }
    Ok(())
}

fn rtnetlink_socket() -> Result<OwnedFd> {
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Netlink,
        nix::sys::socket::SockType::Raw,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        nix::sys::socket::SockProtocol::NetlinkRoute,
    )
    .ctx(|| "open an rtnetlink socket")
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

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;

/// A netlink message: header, the fixed part of the request, then attributes.
fn message(kind: u16, flags: u16, body: &[u8], attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut msg = vec![0u8; 16];
    msg[4..6].copy_from_slice(&kind.to_ne_bytes());
    msg[6..8].copy_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    msg[8..12].copy_from_slice(&1u32.to_ne_bytes()); // sequence; port 0: the kernel
    msg.extend_from_slice(body);
    msg.resize(msg.len().next_multiple_of(4), 0);
    for (kind, payload) in attrs {
        msg.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        msg.extend_from_slice(&kind.to_ne_bytes());
        msg.extend_from_slice(payload);
        msg.resize(msg.len().next_multiple_of(4), 0);
    }
    let len = msg.len() as u32;
    msg[0..4].copy_from_slice(&len.to_ne_bytes());
    msg
}

/// `struct ifinfomsg`: family, pad, type, index, flags, change.
fn ifinfo(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut info = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    info.extend_from_slice(&index.to_ne_bytes());
    info.extend_from_slice(&flags.to_ne_bytes());
    info.extend_from_slice(&change.to_ne_bytes());
    info
}

/// RTM_NEWLINK for interface `index`: into the namespace of `netns_fd`, named `name`.
fn move_request(index: i32, netns_fd: i32, name: &str) -> Vec<u8> {
    let name = [name.as_bytes(), b"\0"].concat();
    let attrs = [(IFLA_NET_NS_FD, &netns_fd.to_ne_bytes()[..]), (IFLA_IFNAME, &name[..])];
    message(RTM_NEWLINK, NLM_F_ACK, &ifinfo(index, 0, 0), &attrs)
}

fn link_up(index: i32, up: bool) -> Vec<u8> {
    let flag = libc::IFF_UP as u32;
    message(RTM_NEWLINK, NLM_F_ACK, &ifinfo(index, if up { flag } else { 0 }, flag), &[])
}

/// Sends a request and waits for the kernel's acknowledgement.
fn request(socket: &OwnedFd, msg: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
    nix::unistd::write(socket, msg)?;
    let mut reply = [0u8; 1024];
    let n = nix::unistd::read(socket.as_raw_fd(), &mut reply)?;
    ack_errno(&reply[..n])
}

/// An interface's index in the namespace of `socket` (RTM_GETLINK by name).
fn index_in(socket: &OwnedFd, name: &str) -> std::result::Result<i32, nix::errno::Errno> {
    let name = [name.as_bytes(), b"\0"].concat();
    nix::unistd::write(socket, &message(RTM_GETLINK, 0, &ifinfo(0, 0, 0), &[(IFLA_IFNAME, &name)]))?;
    let mut reply = vec![0u8; 16384];
    let n = nix::unistd::read(socket.as_raw_fd(), &mut reply)?;
    match reply.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]])) {
        Some(RTM_NEWLINK) => reply[..n]
            .get(20..24)
            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or(nix::errno::Errno::EPROTO),
        _ => ack_errno(&reply[..n]).and(Err(nix::errno::Errno::EPROTO)),
    }
}

/// An interface address to carry over: family, prefix length, address bytes.
#[derive(Debug, PartialEq)]
struct Address {
    family: u8,
    prefix: u8,
    bytes: Vec<u8>,
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip: std::net::IpAddr = match self.bytes.len() {
            4 => <[u8; 4]>::try_from(&self.bytes[..])
                .map(std::net::IpAddr::from)
                .map_err(|_| std::fmt::Error)?,
            _ => <[u8; 16]>::try_from(&self.bytes[..])
                .map(std::net::IpAddr::from)
                .map_err(|_| std::fmt::Error)?,
        };
        write!(f, "{ip}/{}", self.prefix)
    }
}

/// The permanent addresses of global scope of interface `index` (runc's choice:
/// dynamic ones belong to the host's network, link- and host-scoped ones are made
/// again by the kernel or mean nothing elsewhere).
fn addresses_of(socket: &OwnedFd, index: i32) -> std::result::Result<Vec<Address>, nix::errno::Errno> {
    // struct ifaddrmsg: family, prefixlen, flags, scope, index.
    let all = [libc::AF_UNSPEC as u8, 0, 0, 0, 0, 0, 0, 0];
    nix::unistd::write(socket, &message(RTM_GETADDR, NLM_F_DUMP, &all, &[]))?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = nix::unistd::read(socket.as_raw_fd(), &mut buf)?;
        let mut rest = &buf[..n];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let msg = rest.get(..len).filter(|_| len >= 16).ok_or(nix::errno::Errno::EPROTO)?;
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => return ack_errno(msg).and(Err(nix::errno::Errno::EPROTO)),
                RTM_NEWADDR => out.extend(parse_address(&msg[16..], index)),
                _ => {}
            }
            rest = &rest[len.next_multiple_of(4).min(rest.len())..];
        }
    }
}

/// One RTM_NEWADDR body, if it is a wanted address of interface `index`.
fn parse_address(body: &[u8], index: i32) -> Option<Address> {
    let (family, prefix, flags, scope) = (*body.first()?, *body.get(1)?, *body.get(2)?, *body.get(3)?);
    let msg_index = i32::from_ne_bytes(body.get(4..8)?.try_into().ok()?);
    let (mut local, mut address, mut flags) = (None, None, u32::from(flags));
    let mut attrs = body.get(8..)?;
    while attrs.len() >= 4 {
        let len = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        let payload = attrs.get(4..len).filter(|_| len >= 4)?;
        match kind {
            IFA_LOCAL => local = Some(payload.to_vec()),
            IFA_ADDRESS => address = Some(payload.to_vec()),
            IFA_FLAGS => flags = u32::from_ne_bytes(payload.get(..4)?.try_into().ok()?),
            _ => {}
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    let wanted = msg_index == index && scope == RT_SCOPE_UNIVERSE && flags & IFA_F_PERMANENT != 0;
    // IPv4 gives the interface's own address as IFA_LOCAL (IFA_ADDRESS may be a peer's).
    let bytes = local.or(address).filter(|b| b.len() == 4 || b.len() == 16)?;
    wanted.then_some(Address { family, prefix, bytes })
}

/// RTM_NEWADDR for `address` on interface `index`, with IPv4's broadcast address as
/// `ip addr add` computes it.
fn add_address(index: i32, address: &Address) -> Vec<u8> {
    let mut body = vec![address.family, address.prefix, 0, RT_SCOPE_UNIVERSE];
    body.extend_from_slice(&index.to_ne_bytes());
    let bytes = &address.bytes[..];
    let mut attrs = vec![(IFA_LOCAL, bytes), (IFA_ADDRESS, bytes)];
    let broadcast: Vec<u8>;
    if bytes.len() == 4 && address.prefix < 31 {
        let host_bits = u32::MAX.checked_shr(u32::from(address.prefix)).unwrap_or(0);
        broadcast =
            (u32::from_be_bytes(bytes.try_into().expect("four bytes")) | host_bits).to_be_bytes().to_vec();
        attrs.push((IFA_BROADCAST, &broadcast));
    }
    message(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &body, &attrs)
}

/// The errno of the kernel's NLMSG_ERROR answer (0 is the acknowledgement).
fn ack_errno(reply: &[u8]) -> std::result::Result<(), nix::errno::Errno> {
    let kind = reply.get(4..6).map(|b| u16::from_ne_bytes([b[0], b[1]]));
    let error = reply.get(16..20).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    match (kind, error) {
        (Some(NLMSG_ERROR), Some(0)) => Ok(()),
        (Some(NLMSG_ERROR), Some(e)) => Err(nix::errno::Errno::from_raw(-e)),
        _ => Err(nix::errno::Errno::EPROTO),
    }
}
