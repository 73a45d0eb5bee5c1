//! What the container's init does, in the order of the runtime spec's create
//! operation: enter the namespaces, build the root filesystem, let the parent run the
//! createRuntime hooks, run createContainer hooks, switch into the rootfs, set
//! hostname and sysctls, report ready, then wait for `start` and exec.

use super::exec;
use super::sync::{Message, SyncSocket};
use crate::cgroups::Cgroup;
use crate::error::{Context, Error, Result};
use crate::hooks::OnFailure;
use crate::namespaces::NamespacePlan;
use crate::rootfs::{self, RootfsContext};
use crate::state::{ContainerState, Status, EXEC_FIFO};
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

/// Everything init needs, prepared by the parent before the fork.
pub struct InitContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    pub namespaces: &'a NamespacePlan,
    pub cgroup: &'a Cgroup,
    /// O_PATH fd of the container's state directory: init reaches the exec FIFO
    /// through it after pivot_root. Close-on-exec, so it never reaches the program.
    pub state_dir: &'a OwnedFd,
    /// The container's state, for hooks' stdin.
    pub state: &'a ContainerState,
    /// The compiled seccomp filter, loaded right before the exec.
    pub seccomp: Option<&'a crate::seccomp::Filter>,
    /// Join a new session keyring, so the container does not share the caller's keys
    /// (off with `--no-new-keyring`).
    pub new_keyring: bool,
    /// Where init sends the pty master when process.terminal is true.
    pub console_socket: Option<RawFd>,
    /// The state directory's lock, inherited through fork (see `StateDir::lock_fd`).
    pub lock_fd: RawFd,
    pub no_pivot: bool,
    pub preserve_fds: u32,
    /// The bind mounts' trees, made by the parent (see `rootfs::idmap`).
    pub detached_trees: &'a [crate::rootfs::idmap::DetachedTree],
}

/// The child side of `spawn`; never returns. A failure before `create` finished goes
/// back to the parent over the sync socket; after that, to stderr.
pub fn run(ctx: &InitContext, sock: SyncSocket, stepwise: bool) -> ! {
    let err = match steps(ctx, &sock, stepwise) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // A parent that is gone has reported its own, real, cause: init says nothing.
    if err != Error::PeerGone && sock.send(&Message::Failed(err.clone())).is_err() {
        eprintln!("anchor-runtime init: {}", crate::error::one_line(&err.to_string()));
    }
    // SAFETY: _exit skips atexit handlers and buffers that belong to the parent.
    unsafe { libc::_exit(1) }
}

fn steps(ctx: &InitContext, sock: &SyncSocket, stepwise: bool) -> Result<Infallible> {
    // SAFETY: the lock fd is this process's copy; nothing in init uses it.
    unsafe { libc::close(ctx.lock_fd) };
    // Before it can be seen from any container (a PID namespace shared by path).
    if super::undumpable_from_the_start(Some(ctx.namespaces)) {
        super::become_undumpable()?;
    }
    // `run` blocks signals to forward them, and Rust ignores SIGPIPE; ignored
    // dispositions survive exec, so the container starts with every default back.
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)
        .ctx(|| "reset signal mask")?;
    reset_signal_dispositions();
    // A session of its own: the caller's terminal must not be the container's
    // controlling terminal (TIOCSTI on /dev/tty could type into the host's shell).
    nix::unistd::setsid().ctx(|| "setsid")?;
    // Until create has finished, init must not outlive the runtime.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    let plan = ctx.namespaces;
    // While the parent sets up the cgroups: kernel work only, nothing of the config's.
    let own = plan.unshared_by_init();
    if !stepwise && !own.is_empty() {
        unshare(own).ctx(|| format!("create namespaces {own:?}"))?;
    }
    sock.expect("Go", |m| matches!(m, Message::Go))?;
    // Before anything else, and before its cgroup namespace is made (see `spawn`).
    if super::init_joins_v1_itself(plan) {
        ctx.cgroup.join_v1_self()?;
    }
    if stepwise {
        enter_namespaces_stepwise(ctx, sock)?;
    } else if plan.creates(LinuxNamespaceType::Cgroup) {
        unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "create cgroup namespace")?;
    }
    if plan.apart(LinuxNamespaceType::User) {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .ctx(|| "become root (gid) in the user namespace")?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .ctx(|| "become root (uid) in the user namespace")?;
        // Changing credentials clears the parent-death signal: set it again.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
    }
    // Now at the latest (see `undumpable_from_the_start`), and again after the change
    // of credentials above; the exec resets it.
    super::become_undumpable()?;
    if ctx.new_keyring {
        // The keyring carries the process's SELinux label, as with runc.
        if let Some(process) = ctx.spec.process() {
            crate::lsm::ExecLabels::of(process).set_keyring_label()?;
        }
        join_session_keyring(&ctx.state.id)?;
    }
    // Hooks run by init run in the container's namespaces: they see init's PID there.
    let own_pid = nix::unistd::getpid().as_raw();
    let state_json = |status: Status| ctx.state.hook_json(own_pid, status);

    if crate::net_devices::wanted(ctx.spec) {
        sock.send(&Message::MoveNetDevices)?;
        sock.expect("NetDevicesMoved", |m| matches!(m, Message::NetDevicesMoved))?;
    }
    let tree_from_parent = |index: usize| {
        sock.send(&Message::MountTreePlease(index))?;
        match sock.recv_with_fd()? {
            (Message::MountTree { is_dir }, Some(tree)) => {
                Ok(crate::rootfs::idmap::DetachedTree::received(index, is_dir, tree))
            }
            (Message::Failed(e), _) => Err(e),
            (m, _) => {
                Err(Error::invalid(format!("sync protocol: expected MountTree with a tree, got {m:?}")))
            }
        }
    };
    rootfs::prepare(&RootfsContext {
        spec: ctx.spec,
        rootfs: ctx.rootfs,
        bundle: ctx.bundle,
        cgroup: ctx.cgroup,
        new_cgroup_ns: plan.creates(LinuxNamespaceType::Cgroup),
        in_user_ns: plan.apart(LinuxNamespaceType::User),
        own_mount_ns: plan.apart(LinuxNamespaceType::Mount),
        detached_trees: ctx.detached_trees,
        tree_from_parent: &tree_from_parent,
    })?;
    crate::logger::debug("init: rootfs mounted");
    let hooks = ctx.spec.hooks().as_ref();
    let has = |h: Option<&Vec<oci_spec::runtime::Hook>>| h.is_some_and(|v| !v.is_empty());
    if hooks.is_some_and(|h| has(h.prestart().as_ref()) || has(h.create_runtime().as_ref())) {
        sock.send(&Message::RunCreateRuntimeHooks)?;
        sock.expect("HooksDone", |m| matches!(m, Message::HooksDone))?;
    }
    if let Some(create_container) = hooks.and_then(|h| h.create_container().as_deref()) {
        let json = state_json(Status::Creating);
        // In the rootfs, as runc runs them (hooks use paths relative to it).
        nix::unistd::chdir(ctx.rootfs).ctx(|| format!("chdir to {}", ctx.rootfs.display()))?;
        crate::hooks::run_all("createContainer", create_container, &json, OnFailure::Stop)?;
    }
    // The state names the owner, which glibc looks up through NSS: after the switch
    // it would read the image's nsswitch.conf and load the modules it names into
    // this process, which still holds every capability. So it is built here, on the
    // host's root, and only when a startContainer hook will read it.
    let start_container = hooks
        .and_then(|h| h.start_container().as_deref())
        .filter(|h| !h.is_empty())
        .map(|h| (h, state_json(Status::Created)));
    set_names(ctx.spec)?;
    rootfs::enter(ctx.rootfs, ctx.no_pivot, plan.apart(LinuxNamespaceType::Mount))?;
    crate::logger::debug("init: in the rootfs");
    rootfs::devices::reopen_null_stdio()?;
    if let Some(socket) = ctx.console_socket {
        let process =
            ctx.spec.process().as_ref().ok_or_else(|| Error::invalid("config.json has no process"))?;
        crate::console::setup_in_container(socket, true, process)?;
    }
    write_sysctls(ctx.spec)?;
    rootfs::finalize(ctx.spec)?;
    let mut program = exec::Program::prepare(ctx.spec, ctx.preserve_fds, ctx.seccomp)?;
    hand_over_seccomp_listener(&mut program, sock)?;

    sock.send(&Message::Ready)?;
    sock.expect("CreateDone", |m| matches!(m, Message::CreateDone))?;
    // The container now outlives the runtime; acknowledge so the parent may exit.
    nix::sys::prctl::set_pdeathsig(None).ctx(|| "clear PR_SET_PDEATHSIG")?;
    sock.send(&Message::Detached)?;

    // Blocks until `start`. From here on `start` is the one listening: a failure goes
    // to it through the FIFO; a successful exec closes the FIFO (close-on-exec).
    end_on_termination_signals();
    let fifo = open_exec_fifo(ctx.state_dir)?;
    // `start` is here: from now on the container counts as running, whatever
    // happens to `start`. (In a user namespace init may lack the right; start does it.)
    let _ = nix::unistd::unlinkat(
        Some(ctx.state_dir.as_raw_fd()),
        EXEC_FIFO,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    );
    // Nothing of the host may stay reachable while the program's cwd is resolved.
    // SAFETY: init's copy of the state directory fd is not used after this.
    unsafe { libc::close(ctx.state_dir.as_raw_fd()) };
    let err = match start_steps(program, start_container, &fifo) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = nix::unistd::write(&fifo, &super::sync::failure_record(&err));
    // SAFETY: _exit skips atexit handlers and buffers that belong to the parent.
    unsafe { libc::_exit(1) }
}

/// What `start` sets going: the user's program, with the startContainer hooks (given
/// the state they read) run just before its execve. They run there as runc runs them:
/// in the container as its user, with its capabilities and its seccomp filter (a
/// hook must not do what the program may not). A failure goes to `start` through the
/// FIFO.
fn start_steps(
    program: exec::Program,
    start_container: Option<(&[oci_spec::runtime::Hook], String)>,
    fifo: &OwnedFd,
) -> Result<Infallible> {
    // Not in the spec, but runc's long-standing behaviour that hooks rely on: a
    // startContainer hook without an env of its own gets the program's.
    let start_container = start_container.map(|(hooks, state_json)| {
        let hooks: Vec<_> = hooks
            .iter()
            .cloned()
            .map(|mut hook| {
                if hook.env().is_none() {
                    hook.set_env(Some(program.environment()));
                }
                hook
            })
            .collect();
        (hooks, state_json)
    });
    program.exec(Some(fifo.as_raw_fd()), || match &start_container {
        Some((hooks, state_json)) => {
            crate::hooks::run_all("startContainer", hooks, state_json, OnFailure::Stop)
        }
        None => Ok(()),
    })
}

/// With a seccomp listener, the filter goes in now and its notify fd goes to the
/// parent, which passes it on to the listener (see `Program::load_seccomp_with_listener`).
pub(super) fn hand_over_seccomp_listener(program: &mut exec::Program, sock: &SyncSocket) -> Result<()> {
    if let Some(notify_fd) = program.load_seccomp_with_listener()? {
        sock.send_with_fd(&Message::SeccompListener, notify_fd.as_raw_fd())?;
        sock.expect("SeccompListenerDone", |m| matches!(m, Message::SeccompListenerDone))?;
    }
    Ok(())
}

/// Every signal back to SIG_DFL, through the raw system call: glibc's wrappers refuse
/// the real-time signals it keeps for itself (32 and 33), which the caller may have
/// left ignored too.
pub(super) fn reset_signal_dispositions() {
    // The kernel's struct sigaction (handler, flags, restorer, mask) on x86_64 and aarch64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction { handler: libc::SIG_DFL, flags: 0, restorer: 0, mask: 0 };
    for sig in (1..=64).filter(|s| *s != libc::SIGKILL && *s != libc::SIGSTOP) {
        // SAFETY: installs the default disposition; the old one is not asked for.
        unsafe {
            libc::syscall(libc::SYS_rt_sigaction, sig, &default as *const KernelSigaction, 0usize, 8usize);
        }
    }
}

/// The namespaces one clone(2) could not do: joining by path, a time namespace, and
/// the extra fork a PID or time namespace needs (after which the forked child goes on
/// as init and this process exits).
fn enter_namespaces_stepwise(ctx: &InitContext, sock: &SyncSocket) -> Result<()> {
    let plan = ctx.namespaces;
    // Everything given by path is joined first, while we are still in the user
    // namespace that owns it; a new user namespace comes after.
    plan.join_all()?;
    if plan.creates(LinuxNamespaceType::User) {
        unshare(CloneFlags::CLONE_NEWUSER).ctx(|| "create user namespace")?;
        sock.send(&Message::UsernsCreated)?;
        sock.expect("MapsWritten", |m| matches!(m, Message::MapsWritten))?;
    }
    // On raw bits: CloneFlags' own operators would drop CLONE_NEWTIME, unknown to nix.
    let rest = CloneFlags::from_bits_retain(plan.new.bits() & !CloneFlags::CLONE_NEWUSER.bits());
    if !rest.is_empty() {
        unshare(rest).ctx(|| format!("create namespaces {rest:?}"))?;
    }
    if plan.creates(LinuxNamespaceType::Time) {
        write_time_offsets(ctx.spec)?;
    }
    if !plan.needs_inner_fork() {
        return Ok(());
    }
    // The child lands in the PID namespace, which may be another container's.
    super::become_undumpable()?;
    // SAFETY: single-threaded process; the child continues as init.
    match unsafe { nix::unistd::fork() }.ctx(|| "fork into the PID/time namespace")? {
        nix::unistd::ForkResult::Parent { child } => {
            sock.send(&Message::InitPid(child.as_raw()))?;
            // SAFETY: the intermediate child has nothing to flush or clean up.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Child => {
            // Our parent is exiting; the runtime (subreaper) adopts us and says so.
            sock.expect("Go", |m| matches!(m, Message::Go))?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).ctx(|| "prctl(PR_SET_PDEATHSIG)")?;
            // A session of its own again: only a session leader can take a
            // terminal (TIOCSCTTY), and the leader was the parent that exits.
            nix::unistd::setsid().ctx(|| "setsid")?;
            Ok(())
        }
    }
}

fn write_time_offsets(spec: &Spec) -> Result<()> {
    let offsets = spec.linux().as_ref().and_then(|l| l.time_offsets().clone()).unwrap_or_default();
    let text: String = offsets
        .iter()
        .map(|(clock, o)| format!("{clock} {} {}\n", o.secs().unwrap_or(0), o.nanosecs().unwrap_or(0)))
        .collect();
    if text.is_empty() {
        return Ok(());
    }
    // One write per line: the kernel parses a single clock per write.
    let proc = crate::procfs::Procfs::open()?;
    for line in text.lines() {
        proc.write("self/timens_offsets", line)?;
    }
    Ok(())
}

fn set_names(spec: &Spec) -> Result<()> {
    if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(name).ctx(|| format!("set hostname {}", crate::error::quoted(name)))?;
    }
    if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
        let c = std::ffi::CString::new(name).map_err(|_| Error::invalid("domainname has a NUL byte"))?;
        // SAFETY: c is a valid C string of the given length.
        let r = unsafe { libc::setdomainname(c.as_ptr(), name.len()) };
        nix::errno::Errno::result(r).ctx(|| format!("set domainname {}", crate::error::quoted(name)))?;
    }
    Ok(())
}

/// Through the container's own /proc, after the switch, so only the container's
/// namespaces are touched (config validation already refused host-wide sysctls); a
/// symlink or a mount in the way fails the write (see `procfs`).
fn write_sysctls(spec: &Spec) -> Result<()> {
    let sysctls = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()).filter(|s| !s.is_empty());
    let Some(sysctls) = sysctls else { return Ok(()) };
    let proc = crate::procfs::Procfs::open()?;
    for (name, value) in sysctls {
        proc.write(&format!("sys/{}", name.replace('.', "/")), value)
            .map_err(|e| Error::invalid(format!("set sysctl {name}={value}: {e}")))?;
    }
    Ok(())
}

/// A fresh session keyring named after the container, as runc makes one. Kernels or
/// user namespaces without keyring support refuse it; the container then runs without.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = std::ffi::CString::new(format!("_ses.{id}")).expect("IDs have no NUL byte");
    // SAFETY: keyctl with a valid C string argument.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    match nix::errno::Errno::result(r) {
        Ok(_) => Ok(()),
        Err(e @ (nix::errno::Errno::ENOSYS | nix::errno::Errno::EACCES)) => {
            crate::logger::debug(format!("no new session keyring: {e}"));
            Ok(())
        }
        Err(e) => Err(Error::sys("join a new session keyring", e)),
    }
}

/// While the container is created, a signal that terminates by default ends init,
/// as with runc (its init is a Go program, whose runtime handles every signal): as
/// PID 1 of its namespace init would ignore it otherwise, and `kill ID TERM` of a
/// created container would do nothing. The handlers go with the exec.
fn end_on_termination_signals() {
    extern "C" fn end(sig: libc::c_int) {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(128 + sig) }
    }
    let handler = end as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for sig in [
        libc::SIGHUP,
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGTERM,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
    ] {
        // SAFETY: installs a handler that only calls _exit.
        unsafe { libc::signal(sig, handler) };
    }
}

/// Opens the exec FIFO for writing, which blocks until `start` opens it to read.
fn open_exec_fifo(state_dir: &OwnedFd) -> Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(state_dir.as_raw_fd()),
        EXEC_FIFO,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ctx(|| "open exec FIFO")?;
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
