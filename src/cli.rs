//! The command line, flag for flag as runc spells it, so containerd, podman and
//! scripts written for runc drive anchor-runtime unchanged.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const DEFAULT_ROOT: &str = "/run/anchor";

#[derive(Parser, Debug)]
#[command(
    name = "anchor-runtime",
    about = "An OCI container runtime with runc's command line",
    disable_version_flag = true
)]
pub struct Cli {
    /// Directory holding container state (default /run/anchor, or
    /// $XDG_RUNTIME_DIR/anchor for an unprivileged user)
    #[arg(long, global = true)]
    pub root: Option<PathBuf>,
    /// Write log messages to this file instead of stderr
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log debug messages
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (not supported yet: a clear error)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Rootless mode: auto, true or false (before the command: `spec --rootless` is
    /// a different flag)
    #[arg(long, default_value = "auto")]
    pub rootless: Rootless,
    /// Directories of CDI spec files, in order (default /etc/cdi,/var/run/cdi)
    #[arg(long, global = true, value_delimiter = ',')]
    pub cdi_spec_dirs: Option<Vec<PathBuf>>,
    /// Print the version, commit and OCI spec version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// `--root`, else /run/anchor for root and $XDG_RUNTIME_DIR/anchor for anyone
    /// else (who cannot write /run), as runc does. A root that is a symlink (or lies
    /// below one) is resolved once, here, so the command works in one directory even
    /// if the link is changed meanwhile.
    pub fn state_root(&self) -> Result<PathBuf, String> {
        let root = if let Some(root) = &self.root {
            root.clone()
        } else if nix::unistd::geteuid().is_root() {
            PathBuf::from(DEFAULT_ROOT)
        } else {
            match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
                Some(dir) => PathBuf::from(dir).join("anchor"),
                None => {
                    return Err(
                        "an unprivileged user needs --root or XDG_RUNTIME_DIR for the container state".into(),
                    )
                }
            }
        };
        // Not there yet: create makes it, as a directory.
        Ok(std::fs::canonicalize(&root).unwrap_or(root))
    }

    /// `--cdi-spec-dirs`, else the CDI specification's two directories.
    pub fn cdi_spec_dirs(&self) -> Vec<PathBuf> {
        match &self.cdi_spec_dirs {
            Some(dirs) => dirs.clone(),
            None => crate::cdi::DEFAULT_SPEC_DIRS.iter().map(PathBuf::from).collect(),
        }
    }

    /// Rootless: asked for, or an unprivileged caller (`auto`).
    pub fn is_rootless(&self) -> bool {
        match self.rootless {
            Rootless::True => true,
            Rootless::False => false,
            Rootless::Auto => !nix::unistd::geteuid().is_root(),
        }
    }
}

/// The command line as containerd's shim writes it: go-runc passes `restore`'s
/// subreaper flag Go-style, with one dash (`-no-subreaper`), which runc's flag parser
/// takes and clap does not. Only the restore command's own flags are rewritten: the
/// arguments of a program `exec` runs stay as they are.
pub fn with_go_style_flags(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    const GLOBALS_WITH_VALUES: [&str; 5] =
        ["--root", "--log", "--log-format", "--rootless", "--cdi-spec-dirs"];
    let mut args: Vec<_> = args.into_iter().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].to_str() {
            Some(global) if GLOBALS_WITH_VALUES.contains(&global) => i += 2,
            Some(flag) if flag.starts_with('-') => i += 1,
            _ => break,
        }
    }
    if args.get(i).is_some_and(|a| a == "restore") {
        for arg in &mut args[i + 1..] {
            if arg == "-no-subreaper" {
                *arg = "--no-subreaper".into();
            }
        }
    }
    args
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rootless {
    Auto,
    True,
    False,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container from a bundle; it waits for `start`
    Create(CreateArgs),
    /// Start the user process of a created container
    Start(IdArg),
    /// Print the state of a container as JSON
    State(IdArg),
    /// Send a signal to the container's init process
    Kill(KillArgs),
    /// Delete a container and everything the runtime made for it
    Delete(DeleteArgs),
    /// Create and start a container; wait for it unless --detach
    Run(RunArgs),
    /// List containers
    List(ListArgs),
    /// Write a default config.json
    Spec(SpecArgs),
    /// Print what this runtime supports (runtime-spec features.md JSON)
    Features,
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// Freeze every process of a running container
    Pause(IdArg),
    /// Thaw a paused container
    Resume(IdArg),
    /// List the processes of a container
    Ps(PsArgs),
    /// Change the resource limits of a running container
    Update(UpdateArgs),
    /// Print the container's resource usage and OOM events as JSON lines
    Events(EventsArgs),
    /// Save a running container's processes to disk with CRIU
    Checkpoint(CheckpointArgs),
    /// Run a container from a CRIU checkpoint
    Restore(RestoreArgs),
}

/// The flags `checkpoint` and `restore` share, as runc spells them.
#[derive(Args, Debug)]
pub struct CriuArgs {
    /// Directory of the CRIU image files (default ./checkpoint)
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's work files and log (default: the image directory)
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs (a process whose session or terminal is outside the container)
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,
    /// Cgroups mode: soft, full, strict or ignore (CRIU's default: soft)
    #[arg(long)]
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// Create this namespace, but do not restore its properties (network)
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// Deduplicate memory images as they are written or read
    #[arg(long)]
    pub auto_dedup: bool,
    /// Restore memory pages lazily with userfaultfd
    #[arg(long)]
    pub lazy_pages: bool,
}

/// CRIU's `criu_cg_mode` values runc's flag takes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupsMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Previous images (a pre-dump), relative to the image directory
    #[arg(long)]
    pub parent_path: Option<PathBuf>,
    /// Leave the processes running after the checkpoint
    #[arg(long)]
    pub leave_running: bool,
    /// Skip in-flight TCP connections
    #[arg(long)]
    pub tcp_skip_in_flight: bool,
    /// Link unlinked files back when possible
    #[arg(long)]
    pub link_remap: bool,
    /// With --lazy-pages: CRIU writes a NUL byte to this fd once pages can be served
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of a CRIU page server to send the memory to
    #[arg(long)]
    pub page_server: Option<String>,
    /// Dump only the memory and leave the container running (for a later --parent-path)
    #[arg(long)]
    pub pre_dump: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a container with a terminal
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the container runs, instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Write the init process's PID to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not reap orphaned processes of the container while waiting for it
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for runc's command line: CRIU restores the mounts itself
    #[arg(long)]
    pub no_pivot: bool,
    /// LSM profile for the restored processes, TYPE:NAME (CRIU 3.16 or later)
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// LSM mount context for the restored mounts (CRIU 3.16 or later)
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print one stats event and exit
    #[arg(long)]
    pub stats: bool,
    /// Time between stats events (Go duration syntax: 500ms, 5s, 1m)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IdArg {
    pub id: String,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master when process.terminal is true
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Write the init process's PID to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the init process
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Use MS_MOVE and chroot instead of pivot_root (for a ramfs root)
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (from 3 up) to the container
    #[arg(long, default_value_t = 0, value_parser = parse_preserve_fds)]
    pub preserve_fds: u32,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The process as runtime-spec JSON (instead of COMMAND and the flags below)
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the pty master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Return once the process runs, instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's PID to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the process
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// Join a sub-cgroup of the container's: [CONTROLLER[,CONTROLLER...]:]PATH (repeatable)
    #[arg(long)]
    pub cgroup: Vec<String>,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short, long)]
    pub env: Vec<String>,
    /// UID[:GID] to run as
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional group ID (repeatable)
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Capability to add (repeatable)
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set no_new_privileges for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// SELinux label for the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// Pass this many extra file descriptors (from 3 up) to the process
    #[arg(long, default_value_t = 0, value_parser = parse_preserve_fds)]
    pub preserve_fds: u32,
    /// Exec even if the container is paused
    #[arg(long)]
    pub ignore_paused: bool,
    pub id: String,
    /// The program and its arguments (when --process is not given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container runs, instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// linux.resources as JSON, from a file or `-` for stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit (bytes, or with a k/m/g suffix)
    #[arg(short, long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory plus swap limit (-1 for no limit)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Kernel memory limit (ignored by kernels without one)
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory: Option<String>,
    /// Kernel TCP buffer limit (cgroup v1)
    #[arg(long, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Block IO weight (10..1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// CPU real-time period in microseconds (cgroup v1)
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    /// CPU real-time runtime in microseconds (cgroup v1)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU burst in microseconds
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    /// Run at SCHED_IDLE weight: 1, or 0 for normal
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_idle: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long, alias = "cpu-share")]
    pub cpu_shares: Option<u64>,
    /// CPU CFS quota in microseconds (-1 for none)
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds
    #[arg(long)]
    pub cpu_period: Option<u64>,
    /// CPUs the container may use (e.g. 0-2,4)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Maximum number of processes (-1 for no limit)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// table (runs ps(1) on the host for the container's PIDs) or json (the PIDs)
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    pub id: String,
    /// Arguments for ps(1) (table format; default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process in the container's cgroup, not only init
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// Signal name (KILL, SIGKILL) or number; SIGTERM by default
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container first if it is running; succeed if it does not exist
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// Directory to write config.json into
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Write a config for a container run by an unprivileged user
    #[arg(long)]
    pub rootless: bool,
}

/// `--preserve-fds N`: descriptors 3 to N+2 go on to the container, so N+3 must fit
/// the open-file limit (a count near 2^32 would otherwise wrap or make the runtime
/// walk billions of descriptors).
fn parse_preserve_fds(value: &str) -> Result<u32, String> {
    let n: u32 = value.parse().map_err(|e| format!("{value:?}: {e}"))?;
    let limit = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024);
    if u64::from(n) + 3 > limit {
        return Err(format!("{n} descriptors from 3 up exceed the open-file limit ({limit})"));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::with_go_style_flags;

    fn rewrite(line: &str) -> String {
        let args = with_go_style_flags(line.split(' ').map(std::ffi::OsString::from));
        args.iter().map(|a| a.to_str().unwrap()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn go_runc_restore_flags_are_taken_and_nothing_else_is_touched() {
        // As containerd's shim runs it (go-runc's RestoreOpts).
        let shim = "runc --root /run/r --log /x/log.json --log-format json restore --detach -no-subreaper --bundle /b c1";
        assert_eq!(
            rewrite(shim),
            "runc --root /run/r --log /x/log.json --log-format json restore --detach --no-subreaper --bundle /b c1"
        );
        assert_eq!(
            rewrite("runc exec c1 prog restore -no-subreaper"),
            "runc exec c1 prog restore -no-subreaper"
        );
        assert_eq!(
            rewrite("runc --root restore exec c1 -no-subreaper"),
            "runc --root restore exec c1 -no-subreaper"
        );
    }
}
