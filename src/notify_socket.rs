//! NOTIFY_SOCKET: systemd's readiness protocol (sd_notify) across the container's
//! boundary, as runc relays it. A service systemd starts with `Type=notify` (a
//! `systemd-run --property=Type=notify` wrapper, podman's `--sdnotify=container`)
//! finds NOTIFY_SOCKET in its environment and counts as started once `READY=1`
//! arrives there.
//!
//! When the runtime's caller has NOTIFY_SOCKET, `create` gives the container a socket
//! of its own: the state directory's `notify/` is bound read-only at /run/notify and
//! the program gets NOTIFY_SOCKET=/run/notify/notify.sock. `start` (or `run`) binds
//! that socket before the program runs and relays to the caller's socket until the
//! program says `READY=`, or init is gone: nothing reaches the host before `start`.
//!
//! Only `READY=1` and `STATUS=` lines go through, then `MAINPID=` (init, or for a
//! foreground `run` the runtime itself, which is what its caller waits on) and a
//! `BARRIER=1` that waits until systemd has read them. Anything else a container sends
//! stays in it: `MAINPID=<a host PID>` would have systemd watch, and at stop kill, a
//! host process; `FDSTORE=`, `NOTIFYACCESS=` and the like are the host's business.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{Mount, Spec};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::state::{NOTIFY_DIR as DIR, NOTIFY_SOCKET as SOCKET};
const IN_CONTAINER_DIR: &str = "/run/notify";
/// How long the relay waits for systemd to acknowledge READY (runc's limit).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(30);

/// The caller's notify socket, if it has one.
pub fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET").ok().filter(|s| !s.is_empty())
}

/// `create` (and `restore`) when the caller has a NOTIFY_SOCKET: the container's
/// socket directory is made and its mount and variable go into the spec. Whether so.
pub fn give_container_socket(spec: &mut Spec, state_dir: &Path) -> Result<bool> {
    if host_socket().is_none() {
        return Ok(false);
    }
    make_dir(state_dir)?;
    add_to_spec(spec, state_dir);
    Ok(true)
}

/// `checkpoint`: the spec as `create` made it, with the socket's mount (which the
/// bundle's config does not list) when the container was given one.
pub fn add_if_given(spec: &mut Spec, state_dir: &Path) {
    if state_dir.join(DIR).is_dir() {
        add_to_spec(spec, state_dir);
    }
}

/// The mount and the variable the program gets.
fn add_to_spec(spec: &mut Spec, state_dir: &Path) {
    let mut mount = Mount::default();
    mount.set_destination(IN_CONTAINER_DIR.into());
    mount.set_typ(Some("bind".into()));
    mount.set_source(Some(state_dir.join(DIR)));
    mount.set_options(Some(["bind", "nosuid", "noexec", "nodev", "ro"].map(String::from).to_vec()));
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(mut process) = spec.process().clone() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER_DIR}/{SOCKET}"));
        process.set_env(Some(env));
        spec.set_process(Some(process));
    }
}

/// The directory the container's socket is bound in, made with the state directory.
fn make_dir(state_dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = state_dir.join(DIR);
    std::fs::DirBuilder::new().mode(0o755).create(&dir).ctx(|| format!("create {}", dir.display()))
}

/// The container's socket, bound, and where its messages go.
pub struct Relay {
    socket: UnixDatagram,
    host: String,
}

impl Relay {
    /// Binds the container's socket in the state directory, if `create` made its
    /// directory and the caller of this command has a NOTIFY_SOCKET.
    pub fn bind(state_dir: &Path) -> Result<Option<Self>> {
        let Some(host) = host_socket() else { return Ok(None) };
        let dir = state_dir.join(DIR);
        let step = || format!("bind the notify socket in {}", dir.display());
        let dir_fd = match std::fs::File::open(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            r => r.ctx(step)?,
        };
        // Through the directory's descriptor: a socket path may have 107 bytes, and a
        // state root plus a 64-character ID comes close.
        let path = format!("/proc/self/fd/{}/{SOCKET}", dir_fd.as_raw_fd());
        let socket = UnixDatagram::bind(&path).ctx(step)?;
        // Any user in the container may notify, as with runc.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777)).ctx(step)?;
        socket.set_read_timeout(Some(Duration::from_millis(100))).ctx(step)?;
        Ok(Some(Relay { socket, host }))
    }

    /// Relays until the program says READY= (then MAINPID=`main_pid` and the
    /// barrier), or `init` is gone.
    pub fn relay(self, init: i32, main_pid: i32) -> Result<()> {
        let host = connect(&self.host)?;
        let send = |what: &[u8]| {
            host.send(what).ctx(|| format!("send to the notify socket {}", self.host)).map(drop)
        };
        let mut buf = vec![0u8; 4096];
        loop {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let lines: Vec<&[u8]> = buf[..n]
                        .split(|b| *b == b'\n')
                        .filter(|l| l.starts_with(b"READY=") || l.starts_with(b"STATUS="))
                        .collect();
                    if !lines.is_empty() {
                        send(&[lines.join(&b'\n').as_slice(), b"\n"].concat())?;
                    }
                    if lines.iter().any(|l| l.starts_with(b"READY=")) {
                        send(format!("MAINPID={main_pid}\n").as_bytes())?;
                        return barrier(&host);
                    }
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
                {
                    if !Path::new(&format!("/proc/{init}")).exists() {
                        return Ok(());
                    }
                }
                Err(e) => return Err(Error::invalid(format!("read the container's notify socket: {e}"))),
            }
        }
    }
}

/// The caller's socket: a path, or an abstract name written `@name`.
fn connect(host: &str) -> Result<UnixDatagram> {
    use std::os::linux::net::SocketAddrExt;
    let step = || format!("connect to the notify socket {host}");
    let socket = UnixDatagram::unbound().ctx(step)?;
    match host.strip_prefix('@') {
        Some(name) => {
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).ctx(step)?;
            socket.connect_addr(&addr).ctx(step)?
        }
        None => socket.connect(host).ctx(step)?,
    }
    Ok(socket)
}

/// sd_notify_barrier: BARRIER=1 with the write end of a pipe; systemd closes it once
/// it has processed everything before it. A systemd too old for barriers never does:
/// after the timeout the relay ends anyway (runc warns and goes on too).
fn barrier(host: &UnixDatagram) -> Result<()> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ctx(|| "pipe for the notify barrier")?;
    crate::fd_passing::send_fd(host.as_raw_fd(), b"BARRIER=1", write.as_raw_fd(), "the notify barrier")?;
    drop(write);
    let deadline = Instant::now() + BARRIER_TIMEOUT;
    let mut fds = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&read), nix::poll::PollFlags::POLLIN)];
    while Instant::now() < deadline {
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => return Ok(()),
            Err(e) => return Err(Error::sys("wait for the notify barrier", e)),
        }
    }
    crate::logger::warn("no answer to the notify barrier in 30s; going on");
    Ok(())
}
