//! Terminals for `process.terminal`. Init opens a pty inside the container's own
//! devpts, bind-mounts the slave on /dev/console, makes it its controlling terminal
//! and stdio, and sends the master to whoever holds the console socket, with
//! SCM_RIGHTS, as containerd and conmon expect. A foreground `run` without
//! `--console-socket` keeps the master itself and proxies it to its own stdio.

use crate::error::{Context, Error, Result};
use crate::fd_passing::{recv_fd, send_fd};
use crate::rootfs::safe_path::{create_in_root, fd_path, open_root, Leaf};
use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Where the pty master goes: the caller's console socket, or back to us.
pub enum ConsoleLink {
    Socket(UnixStream),
    Internal { ours: UnixStream, theirs: UnixStream },
}

impl ConsoleLink {
    /// `keep_master`: a foreground `run` or `exec` may hold the terminal itself.
    pub fn new(terminal: bool, console_socket: Option<&Path>, keep_master: bool) -> Result<Option<Self>> {
        match (console_socket, terminal) {
            (Some(_), false) => Err(Error::invalid("--console-socket given, but process.terminal is false")),
            (None, false) => Ok(None),
            (Some(path), true) => UnixStream::connect(path)
                .ctx(|| format!("connect to console socket {}", path.display()))
                .map(|s| Some(ConsoleLink::Socket(s))),
            (None, true) if keep_master => {
                let (ours, theirs) = UnixStream::pair().ctx(|| "create console socketpair")?;
                Ok(Some(ConsoleLink::Internal { ours, theirs }))
            }
            (None, true) => Err(Error::invalid(
                "process.terminal is true: a detached process needs --console-socket to receive its terminal",
            )),
        }
    }

    /// The end the container's process writes the master to.
    pub fn init_end(&self) -> RawFd {
        match self {
            ConsoleLink::Socket(s) => s.as_raw_fd(),
            ConsoleLink::Internal { theirs, .. } => theirs.as_raw_fd(),
        }
    }

    /// The master, when we keep it (`Internal`); it has been sent by now.
    pub fn receive_master(&self) -> Result<Option<OwnedFd>> {
        match self {
            ConsoleLink::Internal { ours, .. } => receive_master(ours).map(Some),
            ConsoleLink::Socket(_) => Ok(None),
        }
    }
}

/// Inside the container (init after the switch into the rootfs, or an `exec`'d
/// process): a new pty becomes the process's controlling terminal and stdio, and its
/// master goes out over `socket`. Only init's pty becomes the container's
/// /dev/console (`is_init`): an exec'd process gets its pty as stdio and changes
/// nothing else in the container, as with runc.
/// As runc does, the pty belongs to the process's user (devpts gave it root, with its
/// group kept: tty) and takes `process.consoleSize` when given.
pub fn setup_in_container(socket: RawFd, is_init: bool, process: &oci_spec::runtime::Process) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).ctx(|| "open /dev/ptmx")?;
    grantpt(&master).ctx(|| "grantpt")?;
    unlockpt(&master).ctx(|| "unlockpt")?;
    let slave_path = ptsname_r(&master).ctx(|| "ptsname")?;
    if is_init {
        // The bind mount goes through /proc/self/fd.
        crate::procfs::Procfs::open()?;
        let root = open_root(Path::new("/"))?;
        let console = create_in_root(&root, Path::new("/dev/console"), Leaf::File)?;
        mount(Some(slave_path.as_str()), &fd_path(&console), None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .ctx(|| format!("bind mount {slave_path} on /dev/console"))?;
    }
    send_fd(socket, b"/dev/ptmx", master.as_raw_fd(), "the pty master over the console socket")?;
    drop(master);
    let slave = nix::fcntl::open(slave_path.as_str(), OFlag::O_RDWR, nix::sys::stat::Mode::empty())
        .ctx(|| format!("open {slave_path}"))?;
    match nix::unistd::fchown(slave, Some(process.user().uid().into()), None) {
        // As runc: a user or group the user namespace does not map, or a read-only
        // /dev, leaves the pty as it is rather than failing.
        Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS) | Ok(()) => {}
        Err(e) => return Err(Error::sys(format!("give {slave_path} to the process's user"), e)),
    }
    if let Some(size) = process.console_size() {
        let size = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
        let r = unsafe { libc::ioctl(slave, libc::TIOCSWINSZ, &size) };
        nix::errno::Errno::result(r).ctx(|| "set the console size")?;
    }
    // SAFETY: TIOCSCTTY on the open slave; init is a session leader without a terminal.
    let r = unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(r).ctx(|| "make the pty the controlling terminal")?;
    for stdio in 0..3 {
        nix::unistd::dup2(slave, stdio).ctx(|| "make the pty stdio")?;
    }
    if slave > 2 {
        let _ = nix::unistd::close(slave);
    }
    Ok(())
}

/// Receives the pty master that init sends.
fn receive_master(socket: &impl AsRawFd) -> Result<OwnedFd> {
    recv_fd(socket.as_raw_fd(), "the pty master").map(|(_, master)| master)
}

/// Relays between the caller's stdio and the container's pty during a foreground
/// `run`; the caller's terminal, if it has one, is raw meanwhile and restored after.
pub struct Proxy {
    pub master: OwnedFd,
    saved: Option<Termios>,
}

impl Proxy {
    pub fn new(master: OwnedFd) -> Self {
        // Output as the program wrote it: no \n to \r\n translation (as runc does).
        if let Ok(mut t) = termios::tcgetattr(&master) {
            t.output_flags.remove(termios::OutputFlags::ONLCR);
            let _ = termios::tcsetattr(&master, SetArg::TCSANOW, &t);
        }
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok();
        if let Some(orig) = &saved {
            let mut raw = orig.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        }
        let proxy = Proxy { master, saved };
        proxy.copy_window_size();
        proxy
    }

    /// The caller's window size onto the pty (at start and on SIGWINCH).
    pub fn copy_window_size(&self) {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: ws is a valid winsize for both ioctls.
        unsafe {
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
    }

    /// Copies one read's worth from `from` to `to`.
    pub fn pump(from: BorrowedFd, to: BorrowedFd) -> Flow {
        let mut buf = [0u8; 8192];
        match nix::unistd::read(from.as_raw_fd(), &mut buf) {
            Ok(0) | Err(nix::errno::Errno::EIO) => Flow::Closed,
            Ok(n) => {
                let mut rest = &buf[..n];
                while !rest.is_empty() {
                    match nix::unistd::write(to, rest) {
                        Ok(w) => rest = &rest[w..],
                        Err(nix::errno::Errno::EINTR) => {}
                        Err(_) => return Flow::Closed,
                    }
                }
                Flow::Moved
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => Flow::Idle,
            Err(_) => Flow::Closed,
        }
    }

    /// After the container exited: what the program wrote last, without waiting for
    /// more (something else may still hold the pty open).
    pub fn drain(&self, to: BorrowedFd) {
        let _ = nix::fcntl::fcntl(self.master.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
        while Proxy::pump(self.master.as_fd(), to) == Flow::Moved {}
    }
}

/// What one `pump` did.
#[derive(PartialEq, Eq, Debug)]
pub enum Flow {
    Moved,
    /// Nothing to read now.
    Idle,
    /// The source is finished (or the destination gone).
    Closed,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(orig) = &self.saved {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, orig);
        }
    }
}
