//! The lifecycle operations on one container, shared by the commands: create (as far
//! as "created"), start, signal and destroy.

use crate::cgroups::{self, Cgroup, Freezer};
use crate::cli::CreateArgs;
use crate::config::Bundle;
use crate::console::ConsoleLink;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, OnFailure};
use crate::namespaces::NamespacePlan;
use crate::process::{self, init::InitContext, sync};
use crate::state::{ContainerState, HostBind, ProcessId, Remains, StateDir, Status};
use nix::sys::stat::Mode;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// A created container, still locked by this command.
pub struct Created {
    pub dir: StateDir,
    pub state: ContainerState,
    /// The pty master, when `run` in the foreground owns the terminal itself.
    pub master: Option<OwnedFd>,
}

/// What the global flags say about the host, for `create`.
pub struct HostSettings {
    /// Rootless: the container gets only the cgroups delegated to the caller.
    pub rootless: bool,
    /// `--systemd-cgroup`: the container's cgroup is a systemd scope.
    pub systemd_cgroup: bool,
    /// Where CDI spec files are looked for.
    pub cdi_spec_dirs: Vec<std::path::PathBuf>,
}

/// `create`: validates the bundle, records the container, forks init and waits until
/// it is ready. On any failure everything made so far is removed again.
pub fn create(root: &Path, args: &CreateArgs, keep_master: bool, host: &HostSettings) -> Result<Created> {
    let mut bundle = Bundle::read(&args.bundle)?;
    // CDI devices become part of the configuration first, so that everything below
    // (validation included) sees them.
    let cdi_devices = crate::cdi::inject(&mut bundle.spec, &host.cdi_spec_dirs)?;
    bundle.validate()?;
    // Before anything is made: from here on, a copy of this command may be the one
    // that goes on.
    if process::sealed_copy::needed_for_create(&bundle.spec) {
        process::sealed_copy::reexec()?;
    }
    let listen_fds = pass_on_socket_activation(&mut bundle.spec);
    // Compiled before anything exists, so a bad profile leaves nothing behind.
    let seccomp = match bundle.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(crate::seccomp::compile(profile)?),
        None => None,
    };
    // Made before anything is recorded: a mapping the kernel refuses leaves nothing.
    let mut detached_trees = crate::rootfs::idmap::prepare(&bundle.spec, &bundle.dir, &bundle.rootfs)?;
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    let console = ConsoleLink::new(terminal, args.console_socket.as_deref(), keep_master)?;
    let linux = bundle.spec.linux().as_ref();
    // Opened now: a namespace path that does not exist fails before anything is made.
    let plan = NamespacePlan::new(linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]))?;
    let resctrl = match linux.and_then(|l| l.intel_rdt().as_ref()) {
        Some(rdt) => Some(crate::resctrl::plan(rdt, &args.id)?),
        None => None,
    };
    let dir = StateDir::create(root, &args.id)?;
    let planned = plan_cgroup(&bundle.spec, &args.id, host);
    let annotations =
        with_injected_devices(bundle.spec.annotations().clone().unwrap_or_default(), &cdi_devices);
    let mut notify = || -> Result<Option<crate::rootfs::idmap::DetachedTree>> {
        if !crate::notify_socket::give_container_socket(&mut bundle.spec, &dir.path)? {
            return Ok(None);
        }
        let index = bundle.spec.mounts().as_ref().map_or(0, |m| m.len() - 1);
        let new_userns = crate::rootfs::idmap::creates_user_namespace(&bundle.spec);
        crate::rootfs::idmap::prepare_mount(&bundle.spec, &bundle.dir, &bundle.rootfs, index, new_userns)
    };
    let planned = planned.and_then(|c| notify().map(|tree| (c, tree)));
    let planned = planned.and_then(|(c, tree)| {
        let state = new_state(&bundle, &args.id, &c, &plan, annotations, resctrl)?;
        Ok((c, tree, state))
    });
    let (cgroup, mut state) = match planned {
        Ok((c, tree, state)) => {
            detached_trees.extend(tree);
            (c, state)
        }
        Err(e) => {
            if let Err(cleanup) = dir.remove() {
                crate::logger::warn(format!("cleanup after failed create: {cleanup}"));
            }
            return Err(e);
        }
    };
    let setup = Setup {
        bundle: &bundle,
        plan: &plan,
        cgroup: &cgroup,
        console: console.as_ref(),
        seccomp: seccomp.as_ref(),
        detached_trees: &detached_trees,
    };
    match build(&setup, &dir, &mut state, args, listen_fds + args.preserve_fds) {
        Ok(master) => Ok(Created { dir, state, master }),
        Err(e) => {
            // The spec: a failed create goes on to delete, poststop hooks included.
            if let Err(cleanup) = destroy(dir, &state) {
                crate::logger::warn(format!("cleanup after failed create: {cleanup}"));
            }
            Err(e)
        }
    }
}

/// The container's cgroup as `create` plans it, before anything exists: the driver's
/// directories (and a systemd unit's annotated properties), only the delegated
/// hierarchies when rootless, and none that holds someone else's processes.
pub fn plan_cgroup(spec: &oci_spec::runtime::Spec, id: &str, host: &HostSettings) -> Result<Cgroup> {
    let linux = spec.linux().as_ref();
    let cgroups_path = linux.and_then(|l| l.cgroups_path().as_deref());
    let resources = linux.and_then(|l| l.resources().as_ref());
    let mut cgroup = Cgroup::plan(cgroups_path, id, host.systemd_cgroup.then_some(host.rootless))?;
    if let Some(unit) = &mut cgroup.systemd {
        unit.add_annotations(spec.annotations().as_ref())?;
        cgroup.owner = crate::cgroups::delegation_owner(spec);
    }
    let cgroup = if host.rootless { cgroup.delegated_only(resources)? } else { cgroup };
    cgroup.check_adoptable()?;
    Ok(cgroup)
}

/// The record of a container about to be made by this process (`create`, `restore`):
/// what `delete` will have to undo, before any of it exists.
pub fn new_state(
    bundle: &Bundle,
    id: &str,
    cgroup: &Cgroup,
    plan: &NamespacePlan,
    annotations: std::collections::HashMap<String, String>,
    resctrl: Option<crate::resctrl::Groups>,
) -> Result<ContainerState> {
    use oci_spec::runtime::LinuxNamespaceType;
    Ok(ContainerState {
        oci_version: bundle.spec.version().clone(),
        id: id.to_string(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: crate::logger::rfc3339_now(),
        owner: nix::unistd::geteuid().as_raw(),
        annotations,
        creator: ProcessId::of(std::process::id() as i32)?,
        init: None,
        cgroup_dirs: cgroup.paths(),
        systemd_unit: cgroup.systemd.clone(),
        resctrl,
        own_pid_namespace: plan.creates(LinuxNamespaceType::Pid),
        host_rootfs_bind: match plan.apart(LinuxNamespaceType::Mount) {
            true => None,
            false => Some(HostBind {
                rootfs: bundle.rootfs.clone(),
                mount_before: crate::rootfs::mount_id(&bundle.rootfs)?,
            }),
        },
        hooks: bundle.spec.hooks().clone(),
    })
}

/// The state's annotations: the config's, and the CDI devices injected, if any.
fn with_injected_devices(
    mut annotations: std::collections::HashMap<String, String>,
    devices: &[String],
) -> std::collections::HashMap<String, String> {
    if !devices.is_empty() {
        annotations.insert(crate::cdi::INJECTED_ANNOTATION.to_string(), devices.join(","));
    }
    annotations
}

/// systemd socket activation, passed on as runc does: when LISTEN_PID names this
/// process, its LISTEN_FDS descriptors (from fd 3) go to the container's process,
/// before the `--preserve-fds` ones, and its environment says so with LISTEN_FDS=N
/// and LISTEN_PID=1. Returns N.
fn pass_on_socket_activation(spec: &mut oci_spec::runtime::Spec) -> u32 {
    let count = socket_activation_fds();
    if let Some(mut process) = spec.process().clone().filter(|_| count > 0) {
        let mut env = process.env().clone().unwrap_or_default();
        env.extend([format!("LISTEN_FDS={count}"), "LISTEN_PID=1".to_string()]);
        process.set_env(Some(env));
        spec.set_process(Some(process));
    }
    count
}

/// How many descriptors from fd 3 systemd's socket activation gave this process.
pub fn socket_activation_fds() -> u32 {
    let var = |name| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    match (var("LISTEN_PID"), var("LISTEN_FDS")) {
        (Some(pid), Some(count)) if pid == std::process::id() => count,
        _ => 0,
    }
}

/// What `create` worked out before making anything.
struct Setup<'a> {
    bundle: &'a Bundle,
    plan: &'a NamespacePlan,
    cgroup: &'a Cgroup,
    console: Option<&'a ConsoleLink>,
    seccomp: Option<&'a crate::seccomp::Filter>,
    detached_trees: &'a [crate::rootfs::idmap::DetachedTree],
}

fn build(
    setup: &Setup,
    dir: &StateDir,
    state: &mut ContainerState,
    args: &CreateArgs,
    preserve_fds: u32,
) -> Result<Option<OwnedFd>> {
    let Setup { bundle, plan, cgroup, console, seccomp, detached_trees } = *setup;
    // Recorded before they exist: a create killed from here on leaves a state that
    // `delete --force` cleans up from.
    dir.save(state)?;
    nix::unistd::mkfifo(&dir.exec_fifo(), Mode::from_bits_truncate(0o600)).ctx(|| "create exec FIFO")?;
    // Init opens it as the container's root, which is another host user in a user namespace.
    let (uid, gid) = match plan.joined_user_root()? {
        Some(root) => root,
        None => bundle.container_root_on_host(),
    };
    nix::unistd::chown(&dir.exec_fifo(), Some(uid.into()), Some(gid.into())).ctx(|| "chown exec FIFO")?;
    let linux = bundle.spec.linux().as_ref();
    // The rest is made while init makes its namespaces (see `process::spawn`).
    cgroup.create_v2(linux.and_then(|l| l.resources().as_ref()))?;
    let state_dir = crate::rootfs::safe_path::open_root(&dir.path)?;
    let (parent, child) = sync::pair()?;
    let ctx = InitContext {
        spec: &bundle.spec,
        rootfs: &bundle.rootfs,
        bundle: &bundle.dir,
        namespaces: plan,
        cgroup,
        state_dir: &state_dir,
        state,
        seccomp,
        new_keyring: !args.no_new_keyring,
        console_socket: console.map(ConsoleLink::init_end),
        lock_fd: dir.lock_fd(),
        no_pivot: args.no_pivot,
        preserve_fds,
        detached_trees,
    };
    let pid = process::spawn(&ctx, cgroup, &parent, child)?;
    crate::logger::debug(format!("create: init {pid} forked and released"));
    // Known from here on to the cleanup of a failed create, which kills and reaps
    // it; saved (which makes the container "created") only once init is ready.
    state.init = Some(ProcessId::of(pid)?);
    loop {
        let (message, fd) = parent.recv_with_fd()?;
        match message {
            sync::Message::SeccompListener => {
                crate::seccomp::pass_to_listener(seccomp, fd, pid, state.to_spec_json(Status::Creating))?;
                parent.send(&sync::Message::SeccompListenerDone)?;
            }
            sync::Message::RunCreateRuntimeHooks => {
                run_create_runtime_hooks(&bundle.spec, state, pid)?;
                parent.send(&sync::Message::HooksDone)?;
            }
            sync::Message::MoveNetDevices => {
                crate::net_devices::move_into(&bundle.spec, pid)?;
                parent.send(&sync::Message::NetDevicesMoved)?;
            }
            sync::Message::MountTreePlease(index) => {
                let tree = crate::rootfs::idmap::prepare_from_container(
                    &bundle.spec,
                    &bundle.dir,
                    &bundle.rootfs,
                    index,
                    pid,
                )?;
                parent.send_with_fd(&sync::Message::MountTree { is_dir: tree.is_dir }, tree.fd())?;
            }
            sync::Message::Ready => {
                crate::logger::debug("create: init ready");
                break;
            }
            sync::Message::Failed(e) => return Err(e),
            m => return Err(Error::invalid(format!("sync protocol: unexpected {m:?} during create"))),
        }
    }
    let master = console.map(ConsoleLink::receive_master).transpose()?.flatten();
    dir.save(state)?;
    if let Some(pid_file) = &args.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    if let Some(socket) = &args.pidfd_socket {
        send_pidfd(socket, pid)?;
    }
    parent.send(&sync::Message::CreateDone)?;
    parent.expect("Detached", |m| matches!(m, sync::Message::Detached))?;
    Ok(master)
}

/// The hooks that run in the runtime's namespace once the container's exist, before
/// its program: prestart (deprecated, still run) and createRuntime. Init's PID is the
/// host's; a failing hook fails create (or restore).
pub fn run_create_runtime_hooks(
    spec: &oci_spec::runtime::Spec,
    state: &ContainerState,
    pid: i32,
) -> Result<()> {
    let Some(h) = spec.hooks() else { return Ok(()) };
    let json = state.hook_json(pid, Status::Creating);
    let stop = OnFailure::Stop;
    hooks::run_all("prestart", h.prestart().as_deref().unwrap_or(&[]), &json, stop)?;
    hooks::run_all("createRuntime", h.create_runtime().as_deref().unwrap_or(&[]), &json, stop)
}

/// `--pidfd-socket`: a pidfd of the process, sent (SCM_RIGHTS) on a connection to the
/// caller's Unix socket, as runc does: the caller can then signal or wait for the
/// process without the PID-reuse race.
pub fn send_pidfd(socket: &Path, pid: i32) -> Result<()> {
    let step = || format!("send a pidfd to --pidfd-socket {}", socket.display());
    let pidfd = hooks::pidfd_open(pid).ctx(step)?;
    let conn = std::os::unix::net::UnixStream::connect(socket).ctx(step)?;
    crate::fd_passing::send_fd(conn.as_raw_fd(), b"pidfd", pidfd.as_raw_fd(), "a pidfd over --pidfd-socket")
}

/// Written to a temporary name and renamed, so a reader never sees a partial PID.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let step = || format!("write pid file {}", path.display());
    // A new file of our own beside the target, under a name nobody can have planted a
    // symlink at in advance (and O_EXCL | O_NOFOLLOW should someone have), then
    // renamed over the target: a symlink there is replaced, never followed.
    let mut random = [0u8; 8];
    nix::errno::Errno::result(
        // SAFETY: getrandom fills the buffer it is given, of the size given.
        unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) },
    )
    .ctx(step)?;
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{:016x}.tmp", u64::from_ne_bytes(random)));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .ctx(step)?;
    let written = std::io::Write::write_all(&mut file, pid.to_string().as_bytes())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.ctx(step)
}

/// Why `start` failed: after init was let go (the container is used up), or before
/// (it stays created and can be started again).
enum StartFailure {
    Released(String),
    NotReleased(String),
}

impl From<String> for StartFailure {
    fn from(why: String) -> Self {
        StartFailure::Released(why)
    }
}

/// Opens the exec FIFO, which lets init go on, and waits for the outcome: the FIFO
/// closes without a word when init has exec'd the program (close-on-exec); init
/// writes its error there when the startContainer hooks or the exec fail.
fn release_init(dir: &StateDir, init: ProcessId) -> std::result::Result<(), StartFailure> {
    use nix::poll::{PollFd, PollFlags};
    // The pidfd catches an init that died before getting to the FIFO. It is taken
    // first: once the FIFO is open, init may exec a program that exits and is reaped
    // by the caller (containerd's shim) before this line could run.
    let pidfd = hooks::pidfd_open(init.pid).map_err(|e| format!("pidfd_open init: {e}"))?;
    // A non-blocking open succeeds with no writer yet; init's blocking open then
    // completes.
    let fifo = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.exec_fifo())
        .map_err(|e| format!("open exec FIFO: {e}"))?;
    let mut message = Vec::new();
    loop {
        let mut fds =
            [PollFd::new(fifo.as_fd(), PollFlags::POLLIN), PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        // Woken now and then to notice an init that was stopped (SIGSTOP): it would
        // never open the FIFO, and `start` would wait forever.
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(200u8)) {
            Err(nix::errno::Errno::EINTR) => continue,
            // Still there: init has not opened it (it removes it as soon as it has).
            Ok(0) if init.is_stopped() && dir.exec_fifo().exists() => {
                return Err(StartFailure::NotReleased(format!(
                    "init (pid {}) is stopped: continue it (SIGCONT), then start again",
                    init.pid
                )))
            }
            r => r.map_err(|e| format!("wait for init: {e}"))?,
        };
        let fifo_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let init_gone = fds[1].revents().is_some_and(|r| !r.is_empty());
        if fifo_ready {
            let mut buf = [0u8; 4096];
            match (&fifo).read(&mut buf) {
                Ok(0) => break,
                Ok(n) => message.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(format!("read exec FIFO: {e}").into()),
            }
        } else if init_gone {
            return Err(String::from("init exited before it could start").into());
        }
    }
    if message.is_empty() {
        Ok(())
    } else {
        Err(sync::read_failure(&message).into())
    }
}

/// `start`: lets a created container's init go on to exec the user's program.
pub fn start(dir: &StateDir, state: &ContainerState) -> Result<()> {
    let status = state.status(&dir.path);
    if status != Status::Created {
        return Err(Error::WrongState(format!(
            "cannot start container {}: it is {}, not created",
            state.id,
            status.as_str()
        )));
    }
    let init = state.init.expect("a created container has an init");
    let outcome = match release_init(dir, init) {
        Err(StartFailure::NotReleased(why)) => {
            return Err(Error::WrongState(format!("start container {}: {why}", state.id)))
        }
        Err(StartFailure::Released(why)) => Err(why),
        Ok(()) => Ok(()),
    };
    crate::logger::debug("start: init released");
    // init removes it as soon as its open returns (so a `start` killed now does not
    // leave the container looking created); inside a user namespace it may not.
    match std::fs::remove_file(dir.exec_fifo()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::invalid(format!("remove exec FIFO: {e}")));
        }
        _ => {}
    }
    if let Err(why) = outcome {
        return Err(Error::invalid(format!("start container {}: {why}", state.id)));
    }
    if let Some(poststart) = state.hooks.as_ref().and_then(|h| h.poststart().as_deref()) {
        let json = state.to_spec_json(Status::Running).to_string();
        // runc, not the spec (which asks for a warning and the lifecycle to go on):
        // the first failing poststart hook stops the container and fails `start`.
        // Engines were built against runc's behaviour.
        if let Err(e) = hooks::run_all("poststart", poststart, &json, OnFailure::Stop) {
            let _ = signal(dir, state, libc::SIGKILL, false);
            return Err(e);
        }
    }
    Ok(())
}

/// Sends signal number `sig` (real-time ones included) to init, or with `all` to
/// every process in the container's cgroup tree; `--all` also works on a stopped
/// container, whose init is gone but whose other processes may linger (runc's rule,
/// which containerd relies on).
pub fn signal(dir: &StateDir, state: &ContainerState, sig: i32, all: bool) -> Result<()> {
    let status = state.status(&dir.path);
    // Without a PID namespace of its own, init's death leaves the others running:
    // runc then SIGKILLs the whole cgroup, as if --all had been given.
    let all = all || (sig == libc::SIGKILL && !state.own_pid_namespace && !state.cgroup_dirs.is_empty());
    if all {
        if sig == libc::SIGKILL {
            cgroups::kill_all(&state.cgroup_dirs);
        } else {
            for pid in cgroups::pids_of(&state.cgroup_dirs) {
                // SAFETY: kill with plain integers.
                unsafe { libc::kill(pid, sig) };
            }
        }
        return Ok(());
    }
    // containerd matches runc's words "container not running" for this case.
    let init = state.init.filter(|_| matches!(status, Status::Created | Status::Running | Status::Paused));
    let init =
        init.ok_or_else(|| Error::WrongState(format!("signal {}: container not running", state.id)))?;
    // Signal 0 checks that init is alive, as kill(2) does.
    pidfd_signal(init, sig).ctx(|| format!("send signal {sig} to init (pid {})", init.pid))
}

/// Signals through a pidfd taken on the process identified by PID *and* start time,
/// so a PID reused after init died is never hit.
fn pidfd_signal(process: ProcessId, sig: i32) -> nix::Result<()> {
    let pidfd = hooks::pidfd_open(process.pid)?;
    if !process.is_alive() {
        return Err(nix::errno::Errno::ESRCH);
    }
    // SAFETY: plain syscall on a valid pidfd with a null siginfo.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), sig, 0usize, 0u32) };
    nix::errno::Errno::result(r).map(drop)
}

/// Removes a container: kills what is left of it, removes its cgroup and state, and
/// runs the poststop hooks (whose failures are only logged, as the spec says).
pub fn destroy(dir: StateDir, state: &ContainerState) -> Result<()> {
    remove_remains(dir, &state.remains())?;
    if let Some(poststop) = state.hooks.as_ref().and_then(|h| h.poststop().as_deref()) {
        let json = state.to_spec_json(Status::Stopped).to_string();
        // The spec: a failing poststop hook is logged; the rest and the lifecycle go on.
        let _ = hooks::run_all("poststop", poststop, &json, OnFailure::Warn);
    }
    Ok(())
}

/// Kills every process of the container, removes its cgroups and its state
/// directory: from the state, or from the second record when state.json is damaged.
pub fn remove_remains(dir: StateDir, remains: &Remains) -> Result<()> {
    crate::logger::debug("delete: removing the container");
    remove_resources(&dir.id, remains)?;
    dir.remove()?;
    crate::logger::debug("delete: cgroups and state removed");
    Ok(())
}

/// `pause` (freeze) or `resume` (thaw) every process of the container.
pub fn set_paused(dir: &StateDir, state: &ContainerState, paused: bool) -> Result<()> {
    let (want, verb) = if paused { (Status::Running, "pause") } else { (Status::Paused, "resume") };
    let status = state.status(&dir.path);
    if status != want {
        return Err(Error::WrongState(format!(
            "cannot {verb} container {}: it is {}",
            state.id,
            status.as_str()
        )));
    }
    let freezer = Freezer::find(&state.cgroup_dirs)
        .ok_or_else(|| Error::invalid(format!("cannot {verb} container {}: no freezer cgroup", state.id)))?;
    freezer.set(paused)
}

/// Kills init and everything in the container's cgroups, then removes the cgroups.
fn remove_resources(id: &str, remains: &Remains) -> Result<()> {
    // Frozen processes cannot act on SIGKILL until they are thawed.
    if let Some(freezer) = Freezer::find(&remains.cgroup_dirs).filter(Freezer::is_frozen) {
        let _ = freezer.set(false);
    }
    if let Some(init) = remains.init {
        if init.is_alive() {
            let _ = pidfd_signal(init, libc::SIGKILL);
            let _ = hooks::wait_exit(init.pid, 5000);
        }
        // When init is this process's child (`run`, a failed create) it is reaped
        // here, not left a zombie until the runtime exits; elsewhere ECHILD.
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(init.pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
    }
    // Init unknown (a create killed before it was recorded), or its death not the
    // end of the others (no PID namespace of its own): found by the cgroup.
    if remains.init.is_none() || !remains.own_pid_namespace {
        cgroups::kill_all(&remains.cgroup_dirs);
    }
    let mut first_error = None;
    // The unit stopped is the scope that the container's vouched cgroup directory is,
    // named after that directory, never after the record alone: a state edited to
    // name another unit (sshd.service, another container's scope) stops nothing else.
    let unit = remains.systemd_unit.as_ref().and_then(|recorded| {
        let mut names = remains.cgroup_dirs.iter().filter_map(|d| d.file_name()?.to_str());
        let scope = names.find(|n| n.ends_with(".scope"))?;
        Some(crate::cgroups::systemd::Unit { name: scope.to_string(), ..recorded.clone() })
    });
    if let Some(unit) = &unit {
        if let Err(e) = unit.stop() {
            first_error.get_or_insert(e);
        }
    }
    for dir in &remains.cgroup_dirs {
        if let Err(e) = cgroups::remove_dir(dir) {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = remains.resctrl.as_ref().map_or(Ok(()), |groups| groups.remove(id)) {
        first_error.get_or_insert(e);
    }
    if let Some(bind) = &remains.host_rootfs_bind {
        if let Err(e) = crate::rootfs::detach_host_bind(&bind.rootfs, bind.mount_before) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
