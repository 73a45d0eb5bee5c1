//! One function per CLI command; each returns the process exit code.

use crate::cli::{
    CheckpointArgs, Cli, Command, CreateArgs, DeleteArgs, EventsArgs, ExecArgs, KillArgs, ListArgs,
    ListFormat, PsArgs, RestoreArgs, RunArgs, SpecArgs, UpdateArgs,
};
use crate::console::{ConsoleLink, Flow, Proxy};
use crate::container;
use crate::error::{quoted, Context, Error, Result};
use crate::state::{self, StateDir, Status};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use std::os::fd::AsFd;
use std::path::Path;
use std::str::FromStr;

/// Closes every descriptor the caller left open beyond stdio and those the command
/// hands to the container (socket activation's, then `--preserve-fds`'s). The
/// runtime forks its init rather than exec'ing a fresh one, so anything else would
/// stay open in init until its last exec: seen in runc's fd-leak test, a caller's
/// output file and /dev/null. A descriptor an argument names stays (`--process
/// <(...)` gives /dev/fd/63). Called first, before the runtime opens anything.
pub fn close_stray_descriptors(command: Option<&Command>) {
    let passed = match command {
        Some(Command::Create(a)) => container::socket_activation_fds() + a.preserve_fds,
        Some(Command::Run(a)) => container::socket_activation_fds() + a.create.preserve_fds,
        Some(Command::Exec(a)) => a.preserve_fds,
        _ => 0,
    };
    let first = 3u32.saturating_add(passed);
    // `checkpoint --status-fd N` names one by number.
    let status_fd = match command {
        Some(Command::Checkpoint(a)) => u32::try_from(a.status_fd).ok(),
        _ => None,
    };
    let mut named: Vec<u32> = std::env::args()
        .filter_map(|a| descriptor_named_by(&a))
        .chain(status_fd)
        .filter(|fd| *fd >= first)
        .collect();
    named.sort_unstable();
    named.dedup();
    let close_range = |from: u32, to: u32| {
        // SAFETY: nothing of the runtime's is open yet; close_range takes plain integers.
        unsafe { libc::syscall(libc::SYS_close_range, from, to, 0u32) };
    };
    let mut from = first;
    for fd in named {
        if fd > from {
            close_range(from, fd - 1);
        }
        from = fd + 1;
    }
    close_range(from, u32::MAX);
}

/// The descriptor a path argument names through /dev/fd or /proc/self/fd, if any.
fn descriptor_named_by(arg: &str) -> Option<u32> {
    ["/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"].iter().find_map(|prefix| {
        let rest = &arg[arg.find(prefix)? + prefix.len()..];
        rest.split('/').next()?.parse().ok()
    })
}

pub fn dispatch(cli: &Cli, command: &Command) -> Result<i32> {
    // The two commands that touch no container state.
    match command {
        Command::Spec(a) => return spec(a),
        Command::Features => {
            print_json(&crate::features::report());
            return Ok(0);
        }
        _ => {}
    }
    let root = &cli.state_root().map_err(Error::invalid)?;
    let host = container::HostSettings {
        rootless: cli.is_rootless(),
        systemd_cgroup: cli.systemd_cgroup,
        cdi_spec_dirs: cli.cdi_spec_dirs(),
    };
    match command {
        Command::Create(a) => create(root, a, &host),
        Command::Start(a) => {
            let dir = StateDir::open(root, &a.id)?;
            let state = dir.load()?;
            // Bound before the program runs, so nothing it sends is lost.
            let relay = crate::notify_socket::Relay::bind(&dir.path)?;
            container::start(&dir, &state)?;
            if let (Some(relay), Some(init)) = (relay, state.init) {
                // Other commands (state, kill) must be able to lock the container meanwhile.
                drop(dir);
                relay.relay(init.pid, init.pid)?;
            }
            Ok(0)
        }
        Command::State(a) => {
            let (st, status) = state::peek(root, &a.id)?;
            say(serde_json::to_string_pretty(&st.spec_state(status)).expect("the state serializes"));
            Ok(0)
        }
        Command::Kill(a) => kill(root, a),
        Command::Delete(a) => delete(root, a),
        Command::Run(a) => run(root, a, &host),
        Command::List(a) => list(root, a),
        Command::Exec(a) => exec(root, a),
        Command::Pause(a) | Command::Resume(a) => {
            let dir = StateDir::open(root, &a.id)?;
            container::set_paused(&dir, &dir.load()?, matches!(command, Command::Pause(_)))?;
            Ok(0)
        }
        Command::Ps(a) => ps(root, a),
        Command::Update(a) => update(root, a),
        Command::Events(a) => events(root, a),
        Command::Checkpoint(a) => checkpoint(root, a),
        Command::Restore(a) => restore(root, a, &host),
        Command::Spec(_) | Command::Features => unreachable!("handled above"),
    }
}

/// One line on stdout. A reader that has gone (`list | head -1`) ends the output,
/// not the runtime: Rust ignores SIGPIPE, and println! would panic on EPIPE. Returns
/// whether the line was written, so a stream (`events`) can stop.
pub fn say(line: impl std::fmt::Display) -> bool {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}").is_ok()
}

fn print_json(v: &serde_json::Value) {
    say(serde_json::to_string_pretty(v).expect("JSON values serialize"));
}

fn create(root: &Path, args: &CreateArgs, host: &container::HostSettings) -> Result<i32> {
    container::create(root, args, false, host)?;
    Ok(0)
}

/// Signal names as runc takes them: `KILL`, `SIGKILL`, `kill`, a number, or a
/// real-time signal (`RTMIN+3`, `SIGRTMAX-1`, `37`: podman stops systemd with one).
pub fn parse_signal(s: &str) -> Result<i32> {
    let bad = || Error::invalid(format!("unknown signal {s:?}"));
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if let Ok(n) = s.parse::<i32>() {
        let valid = n == 0 || Signal::try_from(n).is_ok() || (min..=max).contains(&n);
        return if valid { Ok(n) } else { Err(bad()) };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let realtime = |base: i32, rest: &str| -> Option<i32> {
        let n = match rest.chars().next() {
            None => base,
            Some('+') => base + rest[1..].parse::<i32>().ok()?,
            Some('-') => base - rest[1..].parse::<i32>().ok()?,
            _ => return None,
        };
        (min..=max).contains(&n).then_some(n)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(min, rest).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(max, rest).ok_or_else(bad);
    }
    Signal::from_str(&format!("SIG{name}")).map(|s| s as i32).map_err(|_| bad())
}

fn kill(root: &Path, args: &KillArgs) -> Result<i32> {
    let sig = parse_signal(&args.signal)?;
    let dir = StateDir::open(root, &args.id)?;
    container::signal(&dir, &dir.load()?, sig, args.all)?;
    Ok(0)
}

fn delete(root: &Path, args: &DeleteArgs) -> Result<i32> {
    let dir = match StateDir::open(root, &args.id) {
        // containerd deletes twice; the second, forced one must succeed, as with runc.
        Err(Error::NotExist(_)) if args.force => return Ok(0),
        r => r?,
    };
    let st = match dir.load_or_remains() {
        Ok(st) => st,
        Err(damage) => return delete_damaged(dir, damage, args.force),
    };
    match st.status(&dir.path) {
        status @ (Status::Running | Status::Paused) if !args.force => Err(Error::WrongState(format!(
            "cannot delete container {} that is {}: stop it first or use --force",
            args.id,
            status.as_str()
        ))),
        Status::Creating if !args.force => {
            Err(Error::WrongState(format!("cannot delete container {}: it is still being created", args.id)))
        }
        _ => {
            container::destroy(dir, &st)?;
            Ok(0)
        }
    }
}

/// `delete` of a container whose state.json is missing or damaged: `--force` removes
/// whatever the second record still finds (nothing is touched that it does not
/// vouch for); without it, only a container that can no longer be running goes.
fn delete_damaged(dir: StateDir, damage: state::Damage, force: bool) -> Result<i32> {
    let (why, remains) = match damage {
        // A create killed before its first state write leaves only the directory.
        state::Damage::Missing(None) => return dir.remove().map(|()| 0),
        state::Damage::Missing(remains) => ("its state.json is missing".to_string(), remains),
        state::Damage::Unreadable(cause, remains) => (cause, remains),
    };
    let alive = remains.as_ref().is_some_and(|r| r.may_be_alive());
    if !force && (alive || remains.is_none()) {
        return Err(Error::invalid(format!(
            "cannot delete container {}: {why}; `delete --force {}` removes what is left of it",
            dir.id, dir.id
        )));
    }
    crate::logger::warn(format!("delete {}: {why}; removing what the runtime recorded besides", dir.id));
    match remains {
        Some(remains) => container::remove_remains(dir, &remains)?,
        None => dir.remove()?,
    }
    Ok(0)
}

/// `run`: create and start; in the foreground, forward signals to the container (and
/// relay its terminal), wait for it, remove it and exit with its status (128+N when
/// killed by signal N).
fn run(root: &Path, args: &RunArgs, host: &container::HostSettings) -> Result<i32> {
    let forwarded = forwardable_signals();
    if !args.detach {
        // Blocked before init is forked, so no signal is lost; init unblocks them.
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
            .ctx(|| "block signals")?;
    }
    let container::Created { dir, state, master } =
        container::create(root, &args.create, !args.detach, host)?;
    // The pty is set up (no CRLF translation, the caller's window size) before the
    // program can write to it.
    let proxy = master.map(Proxy::new);
    let relay = match crate::notify_socket::Relay::bind(&dir.path) {
        Ok(relay) => relay,
        Err(e) => {
            let _ = container::destroy(dir, &state);
            return Err(e);
        }
    };
    if let Err(e) = container::start(&dir, &state) {
        drop(proxy);
        let _ = container::destroy(dir, &state);
        return Err(e);
    }
    let init = state.init.expect("a started container has an init").pid;
    // Other commands (state, kill) must be able to lock the container while it runs.
    drop(dir);
    if let Some(relay) = relay {
        // runc's MAINPID: init when detached, else this process, which the caller
        // (systemd) already waits on.
        let main_pid = if args.detach { init } else { std::process::id() as i32 };
        relay.relay(init, main_pid)?;
    }
    if args.detach {
        return Ok(0);
    }
    wait_then_remove(root, &args.create.id, init, &forwarded, proxy, !args.keep)
}

/// A foreground `run` or `restore` once the container runs: waits for init
/// (forwarding signals, relaying a terminal), removes the container unless kept, and
/// returns init's status.
fn wait_then_remove(
    root: &Path,
    id: &str,
    init: i32,
    forwarded: &SigSet,
    proxy: Option<Proxy>,
    remove: bool,
) -> Result<i32> {
    let code = wait_forwarding(init, forwarded, proxy)?;
    if remove {
        let dir = StateDir::open(root, id)?;
        let st = dir.load()?;
        container::destroy(dir, &st)?;
    }
    Ok(code)
}

/// `checkpoint`: CRIU saves the container, which is then removed unless it is left
/// running (or only its memory was pre-dumped).
fn checkpoint(root: &Path, args: &CheckpointArgs) -> Result<i32> {
    let dir = StateDir::open(root, &args.id)?;
    let state = dir.load()?;
    crate::checkpoint::dump(&dir, &state, args)?;
    if !args.leave_running && !args.pre_dump {
        container::destroy(dir, &state)?;
    }
    Ok(0)
}

/// `restore`: a container from a checkpoint; in the foreground, like `run`: signals
/// forwarded, its exit status ours, the container removed after it.
fn restore(root: &Path, args: &RestoreArgs, host: &container::HostSettings) -> Result<i32> {
    let forwarded = forwardable_signals();
    if !args.detach {
        // Blocked before CRIU starts, so no signal is lost; CRIU's child starts with
        // an empty mask and the restored processes get their own back.
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
            .ctx(|| "block signals")?;
        if !args.no_subreaper {
            // The container's orphans come to this process, which reaps them.
            nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl(PR_SET_CHILD_SUBREAPER)")?;
        }
    }
    let crate::checkpoint::Restored { dir, state } = crate::checkpoint::restore(root, args, host)?;
    let init = state.init.expect("a restored container has an init").pid;
    // Other commands (state, kill) must be able to lock the container while it runs.
    drop(dir);
    if args.detach {
        return Ok(0);
    }
    wait_then_remove(root, &args.id, init, &forwarded, None, true)
}

/// `exec`: a new process in the container, with the container's confinement as the
/// process JSON (or the flags) says; in the foreground its exit status is ours.
fn exec(root: &Path, args: &ExecArgs) -> Result<i32> {
    let (st, status) = state::peek(root, &args.id)?;
    let init = match (status, st.init) {
        (Status::Created | Status::Running, Some(init)) => init.pid,
        (Status::Paused, Some(init)) if args.ignore_paused => init.pid,
        // runc's words, which its tests and tools look for.
        (Status::Paused, _) => {
            return Err(Error::WrongState(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            ))
        }
        _ => {
            return Err(Error::WrongState(format!(
                "cannot exec in container {}: it is {}",
                args.id,
                status.as_str()
            )))
        }
    };
    let mut bundle = crate::config::Bundle::load(&st.bundle)?;
    // Decided on config.json, before `--process` is read (it may be a pipe).
    if crate::process::sealed_copy::needed_for_exec(&bundle.spec) {
        crate::process::sealed_copy::reexec()?;
    }
    let process = exec_process(args, bundle.spec.process().clone().unwrap_or_default())?;
    let terminal = process.terminal().unwrap_or(false);
    bundle.spec.set_process(Some(process));
    bundle.validate()?;
    let seccomp = match bundle.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        Some(profile) => Some(crate::seccomp::compile(profile)?),
        None => None,
    };
    let forwarded = forwardable_signals();
    if !args.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&forwarded), None)
            .ctx(|| "block signals")?;
    }
    let cgroup_dirs = match args.cgroup.is_empty() {
        true => st.cgroup_dirs.clone(),
        false => crate::cgroups::Cgroup::from_dirs(&st.cgroup_dirs, None)?.exec_dirs(&args.cgroup)?,
    };
    let console = ConsoleLink::new(terminal, args.console_socket.as_deref(), !args.detach)?;
    let pid = crate::process::join::spawn(&crate::process::join::Join {
        init,
        spec: &bundle.spec,
        seccomp: seccomp.as_ref(),
        cgroup_dirs: &cgroup_dirs,
        // runc: an explicit --cgroup (even "/") is that cgroup or an error.
        may_join_inits_cgroup: args.cgroup.is_empty(),
        resctrl: st.resctrl.as_ref(),
        console_socket: console.as_ref().map(ConsoleLink::init_end),
        preserve_fds: args.preserve_fds,
        state: st.to_spec_json(crate::state::Status::Running),
    })?;
    let told = args.pid_file.as_deref().map_or(Ok(()), |file| container::write_pid_file(file, pid));
    let told =
        told.and_then(|()| args.pidfd_socket.as_deref().map_or(Ok(()), |s| container::send_pidfd(s, pid)));
    if let Err(e) = told {
        // Its caller cannot learn of it: as runc, it does not keep running.
        crate::process::kill_and_reap(pid);
        return Err(e);
    }
    if args.detach {
        return Ok(0);
    }
    let master = console.as_ref().map(ConsoleLink::receive_master).transpose()?.flatten();
    wait_forwarding(pid, &forwarded, master.map(Proxy::new))
}

/// The exec'd process: `--process` as given, or the container's process with the
/// command and the flags applied over it (runc's rules).
fn exec_process(args: &ExecArgs, base: oci_spec::runtime::Process) -> Result<oci_spec::runtime::Process> {
    if let Some(file) = &args.process {
        let data = std::fs::read(file).ctx(|| format!("read {}", file.display()))?;
        let parse =
            |e: &dyn std::fmt::Display| Error::invalid(format!("parse process {}: {e}", file.display()));
        let mut process: serde_json::Value = serde_json::from_slice(&data).map_err(|e| parse(&e))?;
        // runc's Go structure reads a missing user as uid 0, gid 0.
        if let Some(fields) = process.as_object_mut() {
            fields.entry("user").or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
        }
        crate::config::mend_process(&mut process);
        let mut process: oci_spec::runtime::Process =
            serde_json::from_value(process).map_err(|e| parse(&e))?;
        // runc: the config's execCPUAffinity, AppArmor profile and SELinux label hold
        // for every exec that names none (an exec must not escape the confinement).
        if process.exec_cpu_affinity().is_none() {
            process.set_exec_cpu_affinity(base.exec_cpu_affinity().clone());
        }
        if process.apparmor_profile().as_deref().unwrap_or("").is_empty() {
            process.set_apparmor_profile(base.apparmor_profile().clone());
        }
        if process.selinux_label().as_deref().unwrap_or("").is_empty() {
            process.set_selinux_label(base.selinux_label().clone());
        }
        return Ok(process);
    }
    if args.command.is_empty() {
        return Err(Error::invalid("exec needs a command, or --process FILE"));
    }
    let mut p = base;
    p.set_args(Some(args.command.clone()));
    p.set_terminal(Some(args.tty));
    let mut env = p.env().clone().unwrap_or_default();
    for kv in &args.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    p.set_env(Some(env));
    if let Some(cwd) = &args.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(spec) = &args.user {
        let (uid, gid) = spec.split_once(':').unwrap_or((spec, "0"));
        let num =
            |s: &str| s.parse::<u32>().map_err(|_| Error::invalid(format!("--user {spec:?}: use UID[:GID]")));
        user.set_uid(num(uid)?);
        user.set_gid(num(gid)?);
    }
    if !args.additional_gids.is_empty() {
        user.set_additional_gids(Some(args.additional_gids.clone()));
    }
    p.set_user(user);
    if !args.cap.is_empty() {
        // runc adds each --cap to the bounding, effective and permitted sets, and to
        // the ambient set when the config has an inheritable set (ambient needs it);
        // a name it does not know is ignored with a warning, as in config.json.
        let mut extra = oci_spec::runtime::Capabilities::new();
        for c in &args.cap {
            let name = if c.starts_with("CAP_") { c.clone() } else { format!("CAP_{c}") };
            match serde_json::from_value(serde_json::Value::String(name.clone())) {
                Ok(cap) => _ = extra.insert(cap),
                Err(_) => crate::logger::warn(format!("ignoring unknown capability --cap {}", quoted(c))),
            }
        }
        let add = |set: &Option<oci_spec::runtime::Capabilities>| {
            Some(set.clone().unwrap_or_default().union(&extra).cloned().collect())
        };
        // Not oci-spec's default, which would add its own capabilities to every set.
        let mut caps = p
            .capabilities()
            .clone()
            .unwrap_or_else(|| serde_json::from_value(serde_json::json!({})).expect("all sets are optional"));
        let (bounding, effective, permitted) =
            (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
        if caps.inheritable().is_some() {
            caps.set_ambient(add(caps.ambient()));
        }
        caps.set_bounding(bounding);
        caps.set_effective(effective);
        caps.set_permitted(permitted);
        p.set_capabilities(Some(caps));
    }
    if args.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(profile) = &args.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &args.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    Ok(p)
}

/// `ps`: the container's processes. JSON is the array of host PIDs containerd reads;
/// the table is ps(1)'s own output, kept to the container's PIDs, as runc does.
fn ps(root: &Path, args: &PsArgs) -> Result<i32> {
    let (st, _) = state::peek(root, &args.id)?;
    let pids = crate::cgroups::pids_of(&st.cgroup_dirs);
    if args.format == ListFormat::Json {
        say(serde_json::json!(pids));
        return Ok(0);
    }
    let ps_args = if args.ps_args.is_empty() { vec!["-ef".to_string()] } else { args.ps_args.clone() };
    let out = std::process::Command::new("ps").args(&ps_args).output().ctx(|| "run ps")?;
    if !out.status.success() {
        return Err(Error::invalid(format!(
            "ps {}: {}",
            ps_args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let pid_column = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| Error::invalid("ps output has no PID column"))?;
    say(header);
    for line in lines {
        let pid = line.split_whitespace().nth(pid_column).and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            say(line);
        }
    }
    Ok(0)
}

/// `update`: new limits for a live container, from `--resources` (a file or stdin,
/// as Kubernetes' CRI plugin sends it) or runc's flags.
fn update(root: &Path, args: &UpdateArgs) -> Result<i32> {
    let dir = StateDir::open(root, &args.id)?;
    let st = dir.load()?;
    let status = st.status(&dir.path);
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(Error::WrongState(format!(
            "cannot update container {}: it is {}",
            args.id,
            status.as_str()
        )));
    }
    let resources = update_resources(args)?;
    crate::cgroups::Cgroup::from_dirs(&st.cgroup_dirs, st.systemd_unit.clone())?.update(&resources)?;
    Ok(0)
}

/// `events`: JSON lines as runc prints them, which containerd's shim reads. With
/// `--stats` one stats event; otherwise a stats event every interval and an `oom`
/// event whenever the kernel OOM-kills a process of the container, until it stops.
fn events(root: &Path, args: &EventsArgs) -> Result<i32> {
    let interval = parse_duration(&args.interval)?;
    let dir = StateDir::open(root, &args.id)?;
    let st = dir.load()?;
    let live = |st: &state::ContainerState| {
        matches!(st.status(&dir.path), Status::Created | Status::Running | Status::Paused)
    };
    if !live(&st) {
        return Err(Error::WrongState(format!("events {}: container not running", args.id)));
    }
    let cgroup = crate::cgroups::Cgroup::from_dirs(&st.cgroup_dirs, None)?;
    // In runc's key order (type, id, data), which tools match line by line
    // (runc's events.bats does); serde_json's maps would sort the keys.
    let id = serde_json::Value::from(args.id.as_str());
    let event = |kind: &str, data: Option<serde_json::Value>| match data {
        Some(data) => say(format_args!(r#"{{"type":"{kind}","id":{id},"data":{data}}}"#)),
        None => say(format_args!(r#"{{"type":"{kind}","id":{id}}}"#)),
    };
    if args.stats {
        event("stats", Some(cgroup.stats()));
        return Ok(0);
    }
    // The lock is not held while watching: other commands go on meanwhile.
    drop(dir);
    let dir = root.join(&args.id);
    // OOM kills and the container's end are noticed within this much.
    let poll = interval.min(std::time::Duration::from_millis(100));
    let mut ooms = cgroup.oom_kills();
    let mut next_stats = std::time::Instant::now() + interval;
    while matches!(st.status(&dir), Status::Created | Status::Running | Status::Paused) {
        std::thread::sleep(poll);
        let now_ooms = cgroup.oom_kills();
        if now_ooms > ooms {
            if !event("oom", None) {
                break;
            }
            ooms = now_ooms;
        }
        if std::time::Instant::now() >= next_stats {
            if !event("stats", Some(cgroup.stats())) {
                break;
            }
            next_stats += interval;
        }
    }
    Ok(0)
}

/// A duration as Go writes it, the form runc's --interval takes: 250ms, 5s, 1m30s.
fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let bad = || Error::invalid(format!("invalid duration {s:?}: use a form like 500ms, 5s or 1m"));
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
        let (num, tail) = rest.split_at(split);
        let unit_len = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += num.parse::<f64>().map_err(|_| bad())? * scale;
        rest = tail;
    }
    if total <= 0.0 {
        return Err(bad());
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

fn update_resources(args: &UpdateArgs) -> Result<oci_spec::runtime::LinuxResources> {
    let parse = |data: &[u8], from: &str| {
        serde_json::from_slice(data).map_err(|e| Error::invalid(format!("parse resources from {from}: {e}")))
    };
    match args.resources.as_deref() {
        Some(p) if p == Path::new("-") => {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut data)
                .ctx(|| "read resources from stdin")?;
            return parse(&data, "stdin");
        }
        Some(p) => {
            return parse(
                &std::fs::read(p).ctx(|| format!("read {}", p.display()))?,
                &p.display().to_string(),
            )
        }
        None => {}
    }
    // Each flag is one field of linux.resources; the flags given make up the JSON
    // an update with --resources would carry.
    let mut r = serde_json::Map::new();
    let mut set = |section: &str, key: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            let entry = r.entry(section).or_insert_with(|| serde_json::json!({}));
            entry[key] = v;
        }
    };
    let bytes = |v: &Option<String>| v.as_deref().map(|s| parse_bytes(s).map(Into::into)).transpose();
    set("memory", "limit", bytes(&args.memory)?);
    set("memory", "swap", bytes(&args.memory_swap)?);
    set("memory", "reservation", bytes(&args.memory_reservation)?);
    set("memory", "kernel", bytes(&args.kernel_memory)?);
    set("memory", "kernelTCP", bytes(&args.kernel_memory_tcp)?);
    set("cpu", "shares", args.cpu_shares.map(Into::into));
    set("cpu", "quota", args.cpu_quota.map(Into::into));
    set("cpu", "period", args.cpu_period.map(Into::into));
    set("cpu", "burst", args.cpu_burst.map(Into::into));
    set("cpu", "idle", args.cpu_idle.map(Into::into));
    set("cpu", "realtimePeriod", args.cpu_rt_period.map(Into::into));
    set("cpu", "realtimeRuntime", args.cpu_rt_runtime.map(Into::into));
    set("cpu", "cpus", args.cpuset_cpus.clone().map(Into::into));
    set("cpu", "mems", args.cpuset_mems.clone().map(Into::into));
    set("pids", "limit", args.pids_limit.map(Into::into));
    set("blockIO", "weight", args.blkio_weight.map(Into::into));
    Ok(serde_json::from_value(r.into()).expect("resources built from flags are valid"))
}

/// A size as runc's flags take it: bytes, or a number with k, m or g (powers of 1024).
fn parse_bytes(s: &str) -> Result<i64> {
    let lower = s.trim().to_ascii_lowercase();
    let digits = lower.trim_end_matches(['b', 'k', 'm', 'g']);
    let unit = match &lower[digits.len()..] {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if unit > 0 => Ok(n * unit),
        _ => Err(Error::invalid(format!("invalid size {s:?}: use bytes or a number with k, m or g"))),
    }
}

fn forwardable_signals() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGSYS,
    ] {
        set.remove(s);
    }
    set
}

/// Waits for init to exit, forwarding every signal we get to it and, with a
/// terminal, relaying between our stdio and the container's pty.
fn wait_forwarding(init: i32, set: &SigSet, mut proxy: Option<Proxy>) -> Result<i32> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    let init_pid = nix::unistd::Pid::from_raw(init);
    let signals =
        SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK).ctx(|| "signalfd")?;
    let (stdin, stdout) = (std::io::stdin(), std::io::stdout());
    let mut stdin_open = true;
    loop {
        if let Some(code) = reap(init_pid) {
            if let Some(p) = &proxy {
                // Whatever the program wrote last is still in the pty.
                p.drain(stdout.as_fd());
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
        if let Some(p) = &proxy {
            fds.push(PollFd::new(p.master.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => r.ctx(|| "wait for the container")?,
        };
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        if ready[0] {
            while let Ok(Some(info)) = signals.read_signal() {
                match info.ssi_signo as i32 {
                    libc::SIGCHLD | libc::SIGURG => {}
                    libc::SIGWINCH if proxy.is_some() => proxy.as_ref().unwrap().copy_window_size(),
                    // Raw numbers: real-time signals are forwarded too.
                    // SAFETY: kill with plain integers.
                    sig => unsafe {
                        libc::kill(init, sig);
                    },
                }
            }
        }
        if let Some(p) = &proxy {
            if ready[1] && Proxy::pump(p.master.as_fd(), stdout.as_fd()) == Flow::Closed {
                // The slave side is closed: nothing more will come; just wait.
                proxy = None;
                continue;
            }
            if ready.get(2) == Some(&true) && Proxy::pump(stdin.as_fd(), p.master.as_fd()) == Flow::Closed {
                stdin_open = false;
            }
        }
    }
}

/// Reaps exited children (the runtime may be a subreaper); init's status if it exited.
fn reap(init: nix::unistd::Pid) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == init => return Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == init => return Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

fn list(root: &Path, args: &ListArgs) -> Result<i32> {
    let mut states = Vec::new();
    for id in state::list_ids(root)? {
        // A container deleted while we list is simply not listed.
        if let Ok((st, status)) = state::peek(root, &id) {
            states.push((st, status));
        }
    }
    let rows: Vec<state::SpecState> = states.iter().map(|(st, status)| st.spec_state(*status)).collect();
    if args.quiet {
        for r in &rows {
            say(r.id);
        }
    } else if args.format == ListFormat::Json {
        say(serde_json::to_string(&rows).expect("the states serialize"));
    } else {
        let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
        let table: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let v = serde_json::to_value(r).expect("the state serializes");
                let cell = |k: &str| v[k].as_str().map_or_else(|| v[k].to_string(), str::to_string);
                ["id", "pid", "status", "bundle", "created", "owner"].iter().map(|k| cell(k)).collect()
            })
            .collect();
        let widths: Vec<usize> = (0..header.len())
            .map(|i| table.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            say(padded.join("   ").trim_end());
        };
        line(header.to_vec());
        for r in &table {
            line(r.iter().map(String::as_str).collect());
        }
    }
    Ok(0)
}

fn spec(args: &SpecArgs) -> Result<i32> {
    let path = args.bundle.join("config.json");
    if path.exists() {
        return Err(Error::invalid(format!("File {} exists. Remove it first", path.display())));
    }
    let spec = crate::spec::default_spec(args.rootless);
    let text = serde_json::to_string_pretty(&spec).expect("JSON values serialize");
    std::fs::write(&path, text + "\n").ctx(|| format!("write {}", path.display()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_with_or_without_sig_and_by_number() {
        for s in ["KILL", "SIGKILL", "kill", "9"] {
            assert_eq!(parse_signal(s).unwrap(), libc::SIGKILL);
        }
        assert_eq!(parse_signal("TERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("SIGRTMAX").unwrap(), libc::SIGRTMAX());
        assert_eq!(parse_signal("37").unwrap(), 37);
        // 0 checks that the container is alive, as with runc and kill(1).
        assert_eq!(parse_signal("0").unwrap(), 0);
        for bad in ["NOPE", "99", "-1", "RTMIN+99", "RTMINX"] {
            assert!(parse_signal(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn durations_parse_as_go_writes_them() {
        assert_eq!(parse_duration("5s").unwrap(), std::time::Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), std::time::Duration::from_millis(250));
        assert_eq!(parse_duration("1m30s").unwrap(), std::time::Duration::from_secs(90));
        for bad in ["", "5", "5x", "0s", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sizes_parse_as_runc_flags_take_them() {
        assert_eq!(parse_bytes("1024").unwrap(), 1024);
        assert_eq!(parse_bytes("128M").unwrap(), 128 << 20);
        assert_eq!(parse_bytes("2g").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("4kb").unwrap(), 4096);
        for bad in ["", "m", "12x", "1.5g"] {
            assert!(parse_bytes(bad).is_err(), "{bad} accepted");
        }
    }
}
