//! `checkpoint` and `restore`: a running container's processes saved to image files
//! by CRIU, and a new container run from them. CRIU is driven as runc drives it: its
//! RPC over `criu swrk`, the same options, and the same image directory (with runc's
//! descriptors.json beside the images), so tools written for runc's checkpoints
//! (podman, containerd) work unchanged.
//!
//! What CRIU cannot see for itself is the host side: which mounts come from outside
//! the container (bind mounts, the cgroup directories, devices and masked files bound
//! from /dev/null), which namespaces were joined rather than made, and which of init's
//! stdio descriptors are the caller's pipes. A checkpoint names them; a restore maps
//! the names to this host's paths, descriptors and the new container's cgroup.

mod rpc;
mod swrk;

use crate::cgroups::{Cgroup, Freezer};
use crate::cli::{CgroupsMode, CheckpointArgs, CriuArgs, RestoreArgs};
use crate::config::Bundle;
use crate::container::{self, HostSettings};
use crate::error::{quoted, Context, Error, Result};
use crate::namespaces::NamespacePlan;
use crate::state::{ContainerState, ProcessId, StateDir, Status};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use rpc::{opt, Message};
use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use swrk::Swrk;

/// Init's stdio as it was (the link targets of /proc/PID/fd/0..2), beside the
/// images under runc's name: a restore hands the pipes among them to the new init.
const DESCRIPTORS: &str = "descriptors.json";
/// CRIU's configuration file when the config names none: runc's, so that a host's
/// settings for runc's checkpoints apply to ours.
const DEFAULT_CRIU_CONFIG: &str = "/etc/criu/runc.conf";
/// runc's annotation naming another CRIU configuration file (empty: none at all).
const CONFIG_ANNOTATION: &str = "org.criu.config";

/// `checkpoint`: CRIU saves the container's processes into the image directory. The
/// caller removes the container afterwards unless it is left running.
pub fn dump(dir: &StateDir, state: &ContainerState, args: &CheckpointArgs) -> Result<()> {
    let status = state.status(&dir.path);
    let init = match (status, state.init) {
        (Status::Running | Status::Paused, Some(init)) => init,
        _ => {
            return Err(Error::WrongState(format!(
                "cannot checkpoint container {} that is {}: only a running or paused one can be",
                state.id,
                status.as_str()
            )))
        }
    };
    let mut bundle = Bundle::read(&state.bundle)?;
    crate::notify_socket::add_if_given(&mut bundle.spec, &dir.path);
    let spec = &bundle.spec;
    let dirs = Dirs::open(&args.criu, "dump.log", true)?;
    let mut opts = common_options(&args.criu, &dirs, &state.annotations)?;
    opts.string(opt::ROOT, text(&state.rootfs)?)
        .int(opt::PID, init.pid)
        .flag(opt::LEAVE_RUNNING, args.leave_running)
        .flag(opt::TCP_SKIP_IN_FLIGHT, args.tcp_skip_in_flight)
        .flag(opt::LINK_REMAP, args.link_remap);
    // A joined network or PID namespace is not the container's to save: CRIU leaves
    // it out under a name, and a restore is given one to use instead.
    for (typ, path) in joined_namespaces(spec) {
        if matches!(typ, LinuxNamespaceType::Network | LinuxNamespaceType::Pid) {
            let inode = std::fs::metadata(path).ctx(|| format!("stat namespace {}", path.display()))?;
            let inode = std::os::unix::fs::MetadataExt::ino(&inode);
            opts.string(opt::EXTERNAL, &format!("{}[{inode}]:{}", criu_namespace(typ), external_key(typ)));
        }
    }
    // The freezer keeps the processes still while CRIU works, rather than ptrace alone.
    if let Some(freezer) = Freezer::find(&state.cgroup_dirs) {
        opts.string(opt::FREEZE_CGROUP, text(freezer.dir())?);
    }
    if let Some(server) = &args.page_server {
        opts.message(opt::PAGE_SERVER, &page_server(server)?);
    }
    if let Some(parent) = &args.parent_path {
        opts.string(opt::PARENT_IMG, text(&checked_parent(&dirs.images_path, parent)?)?)
            .flag(opt::TRACK_MEM, true);
    }
    // A pre-dump saves memory only; the mounts and descriptors come with the dump.
    if !args.pre_dump {
        let cgroup = Cgroup::from_dirs(&state.cgroup_dirs, None)?;
        for (dest, _) in external_mounts(&bundle, &cgroup)? {
            opts.message(opt::EXT_MNT, &Message::pair(text(&dest)?, text(&dest)?));
        }
        for path in masked_files(spec, init.pid) {
            opts.message(opt::EXT_MNT, &Message::pair(text(&path)?, "/dev/null"));
        }
        save_descriptors(&dirs.images_path, init.pid)?;
    }
    let kind = if args.pre_dump { rpc::kind::PRE_DUMP } else { rpc::kind::DUMP };
    let mut criu = Swrk::start(&[], dirs.log)?;
    let mut status_fd = (args.criu.lazy_pages && args.status_fd >= 0).then_some(args.status_fd);
    criu.call(&rpc::request(kind, &opts), |notify, _| {
        // The lazy-pages server is ready: the caller waits for a NUL byte (runc's --status-fd).
        if notify.script == "status-ready" {
            if let Some(fd) = status_fd.take() {
                nix::unistd::write(caller_fd(fd), &[0]).ctx(|| format!("write to --status-fd {fd}"))?;
            }
        }
        Ok(())
    })?;
    criu.finish(args.pre_dump)
}

/// A restored container, recorded and running, still locked by this command.
pub struct Restored {
    pub dir: StateDir,
    pub state: ContainerState,
}

/// `restore`: a new container from the bundle whose processes CRIU brings back from
/// the images, in the container's cgroup from the start. On any failure everything
/// made so far is removed again, as for `create`.
pub fn restore(root: &Path, args: &RestoreArgs, host: &HostSettings) -> Result<Restored> {
    let mut bundle = Bundle::read(&args.bundle)?;
    bundle.validate()?;
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref();
    let plan = NamespacePlan::new(linux.and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]))?;
    if !plan.apart(LinuxNamespaceType::Mount) {
        return Err(Error::invalid(
            "restore: the config must give the container a mount namespace of its own: CRIU restores the mounts into a new one",
        ));
    }
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false);
    if terminal && args.console_socket.is_none() {
        return Err(Error::invalid(
            "restore: the container has a terminal (process.terminal): --console-socket must say where its pty master goes",
        ));
    }
    // First: what is opened before would stay in the host's mount namespace, where
    // CRIU (in this one) could not mount below it.
    root_as_mount_point(&bundle.rootfs)?;
    let dirs = Dirs::open(&args.criu, "restore.log", false)?;
    let stdio = read_descriptors(&dirs.images_path)?;
    let resctrl = match linux.and_then(|l| l.intel_rdt().as_ref()) {
        Some(rdt) => Some(crate::resctrl::plan(rdt, &args.id)?),
        None => None,
    };
    let dir = StateDir::create(root, &args.id)?;
    let annotations = spec.annotations().clone().unwrap_or_default();
    // As at create: a container checkpointed with a notify socket has its mount, which
    // CRIU can restore only with a source for it (runc asks for NOTIFY_SOCKET too).
    let planned = crate::notify_socket::give_container_socket(&mut bundle.spec, &dir.path)
        .and_then(|_| container::plan_cgroup(&bundle.spec, &args.id, host));
    let planned = planned.and_then(|cgroup| {
        let state = container::new_state(&bundle, &args.id, &cgroup, &plan, annotations, resctrl)?;
        Ok((cgroup, state))
    });
    let (cgroup, mut state) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            if let Err(cleanup) = dir.remove() {
                crate::logger::warn(format!("cleanup after failed restore: {cleanup}"));
            }
            return Err(e);
        }
    };
    let restoring = Restoring { bundle: &bundle, cgroup: &cgroup, args, dirs, stdio: &stdio };
    match restoring.run(&dir, &mut state) {
        Ok(()) => Ok(Restored { dir, state }),
        Err(e) => {
            if let Err(cleanup) = container::destroy(dir, &state) {
                crate::logger::warn(format!("cleanup after failed restore: {cleanup}"));
            }
            Err(e)
        }
    }
}

/// What a restore worked out before making anything.
struct Restoring<'a> {
    bundle: &'a Bundle,
    cgroup: &'a Cgroup,
    args: &'a RestoreArgs,
    dirs: Dirs,
    stdio: &'a [String],
}

impl Restoring<'_> {
    fn run(self, dir: &StateDir, state: &mut ContainerState) -> Result<()> {
        let Restoring { bundle, cgroup, args, dirs, stdio } = self;
        let spec = &bundle.spec;
        // Recorded before they exist: a restore killed from here on leaves a state that
        // `delete --force` cleans up from.
        dir.save(state)?;
        crate::rootfs::create_mount_points(spec, &bundle.dir, &bundle.rootfs)?;
        let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
        cgroup.create_v2(resources)?;
        let mut opts = common_options(&args.criu, &dirs, &state.annotations)?;
        opts.flag(opt::EVASIVE_DEVICES, true)
            .flag(opt::RST_SIBLING, true)
            .string(opt::ROOT, text(&bundle.rootfs)?);
        if let Some(profile) = &args.lsm_profile {
            opts.string(opt::LSM_PROFILE, profile);
        }
        if let Some(context) = &args.lsm_mount_context {
            opts.string(opt::LSM_MOUNT_CONTEXT, context);
        }
        let mut inherited: Vec<std::fs::File> = Vec::new();
        for (typ, path) in joined_namespaces(spec) {
            match typ {
                LinuxNamespaceType::Network | LinuxNamespaceType::Pid => {
                    let file =
                        std::fs::File::open(path).ctx(|| format!("open namespace {}", path.display()))?;
                    // CRIU sees the inherited files from fd 4 on.
                    opts.message(
                        opt::INHERIT_FD,
                        &inherit_fd(&external_key(typ), 4 + inherited.len() as i32),
                    );
                    inherited.push(file);
                }
                LinuxNamespaceType::Cgroup => {
                    return Err(Error::invalid(format!(
                        "restore: CRIU cannot join an existing cgroup namespace ({})",
                        path.display()
                    )))
                }
                _ => {
                    opts.message(opt::JOIN_NS, &Message::pair(criu_namespace(typ), text(path)?));
                }
            }
        }
        for (dest, source) in external_mounts(bundle, cgroup)? {
            opts.message(opt::EXT_MNT, &Message::pair(text(&dest)?, text(&source)?));
        }
        if spec.linux().as_ref().and_then(|l| l.masked_paths().as_ref()).is_some_and(|m| !m.is_empty()) {
            opts.message(opt::EXT_MNT, &Message::pair("/dev/null", "/dev/null"));
        }
        // The pipes init had become ours (CRIU's stdio is this process's).
        for (fd, target) in stdio.iter().enumerate().filter(|(_, t)| t.starts_with("pipe:")) {
            opts.message(opt::INHERIT_FD, &inherit_fd(target, fd as i32));
        }
        let raw: Vec<_> = inherited.iter().map(|f| f.as_raw_fd()).collect();
        let mut criu = Swrk::start(&raw, dirs.log)?;
        // CRIU waits for the request: placed in the cgroup now, everything it restores
        // is there from its first instruction.
        let pid = criu.pid();
        cgroup.set_up_for_init(pid, &state.id, resources)?;
        if let Some(groups) = &state.resctrl {
            groups.apply(pid)?;
        }
        cgroup.add(pid, |h| !(h.v2 && cgroup.systemd.is_some()))?;
        for (controller, path) in cgroups_of(pid)? {
            opts.message(opt::CG_ROOT, &Message::pair(&controller, &path));
        }
        let response = criu.call(&rpc::request(rpc::kind::RESTORE, &opts), |notify, fd| {
            match notify.script.as_str() {
                // The namespaces exist, nothing runs yet: the hooks that come before the
                // program, as at create.
                "setup-namespaces" => container::run_create_runtime_hooks(spec, state, notify.pid),
                // Recorded before CRIU lets the processes go on, so `delete --force`
                // finds them should this command die now.
                "post-restore" => {
                    state.init = Some(ProcessId::of(notify.pid)?);
                    dir.save(state)
                }
                "orphan-pts-master" => send_pty_master(args.console_socket.as_deref(), fd),
                _ => Ok(()),
            }
        })?;
        criu.finish(false)?;
        if state.init.is_none() {
            let pid = response.restored_pid.ok_or_else(|| Error::invalid("criu: restore answered no PID"))?;
            state.init = Some(ProcessId::of(pid)?);
            dir.save(state)?;
        }
        if let (Some(path), Some(init)) = (&args.pid_file, state.init) {
            container::write_pid_file(path, init.pid)?;
        }
        Ok(())
    }
}

/// CRIU wants the restore's root to be a mount point. The rootfs is bound onto itself
/// in a mount namespace of this command's own (a slave of the host's), which CRIU
/// shares (it reaches the image directory through this process's descriptors): the
/// bind ends with the two processes, so a restore killed at any point leaves no mount
/// on the host.
fn root_as_mount_point(rootfs: &Path) -> Result<()> {
    use nix::mount::{mount, MsFlags};
    let none: Option<&str> = None;
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .ctx(|| "restore: unshare the mount namespace")?;
    mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_SLAVE, none)
        .ctx(|| "restore: make / a slave mount")?;
    mount(Some(rootfs), rootfs, none, MsFlags::MS_BIND | MsFlags::MS_REC, none)
        .ctx(|| format!("restore: bind {} onto itself", rootfs.display()))
}

/// The image and work directories, open for CRIU (which reaches them through this
/// process's /proc/PID/fd), and the log CRIU writes into the work directory.
struct Dirs {
    images_path: PathBuf,
    images: OwnedFd,
    work: Option<OwnedFd>,
    log_file: &'static str,
    log: PathBuf,
}

impl Dirs {
    fn open(args: &CriuArgs, log_file: &'static str, create: bool) -> Result<Self> {
        let images_path = args.image_path.clone().unwrap_or_else(|| PathBuf::from("checkpoint"));
        let open = |path: &Path, create: bool, what: &str| -> Result<OwnedFd> {
            if create {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(path)
                    .ctx(|| format!("create {what} {}", path.display()))?;
            }
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(path)
                .ctx(|| format!("open {what} {}", path.display()))?;
            Ok(OwnedFd::from(dir))
        };
        let images = open(&images_path, create, "image directory (--image-path)")?;
        let work = match &args.work_path {
            Some(path) => Some(open(path, true, "work directory (--work-path)")?),
            None => None,
        };
        let log = args.work_path.as_ref().unwrap_or(&images_path).join(log_file);
        Ok(Dirs { images_path, images, work, log_file, log })
    }
}

/// The options a dump and a restore share, from the shared flags.
fn common_options(args: &CriuArgs, dirs: &Dirs, annotations: &HashMap<String, String>) -> Result<Message> {
    let mut opts = Message::default();
    opts.int(opt::IMAGES_DIR_FD, dirs.images.as_raw_fd())
        .int(opt::LOG_LEVEL, 4)
        .string(opt::LOG_FILE, dirs.log_file)
        .flag(opt::MANAGE_CGROUPS, true)
        .uint(opt::MANAGE_CGROUPS_MODE, cgroups_mode(args.manage_cgroups_mode))
        .flag(opt::NOTIFY_SCRIPTS, true)
        .flag(opt::SHELL_JOB, args.shell_job)
        .flag(opt::TCP_ESTABLISHED, args.tcp_established)
        .flag(opt::EXT_UNIX_SK, args.ext_unix_sk)
        .flag(opt::FILE_LOCKS, args.file_locks)
        .uint(opt::EMPTY_NS, empty_namespaces(&args.empty_ns)?)
        .flag(opt::ORPHAN_PTS_MASTER, true)
        .flag(opt::AUTO_DEDUP, args.auto_dedup)
        .flag(opt::LAZY_PAGES, args.lazy_pages);
    if let Some(work) = &dirs.work {
        opts.int(opt::WORK_DIR_FD, work.as_raw_fd());
    }
    match annotations.get(CONFIG_ANNOTATION).map(String::as_str) {
        None => {
            opts.string(opt::CONFIG_FILE, DEFAULT_CRIU_CONFIG);
        }
        Some("") => {}
        Some(file) => {
            opts.string(opt::CONFIG_FILE, file);
        }
    }
    Ok(opts)
}

/// `criu_cg_mode`; unset is CRIU's own default (soft), as with runc.
fn cgroups_mode(mode: Option<CgroupsMode>) -> u64 {
    match mode {
        None => 6,
        Some(CgroupsMode::Ignore) => 0,
        Some(CgroupsMode::Soft) => 3,
        Some(CgroupsMode::Full) => 4,
        Some(CgroupsMode::Strict) => 5,
    }
}

/// `--empty-ns`: the network namespace is always restored empty (the runtime does not
/// manage network devices, as runc says); `network` may be named, nothing else.
fn empty_namespaces(names: &[String]) -> Result<u64> {
    match names.iter().find(|n| n.as_str() != "network") {
        Some(name) => Err(Error::invalid(format!(
            "--empty-ns: namespace {} is not supported (only network)",
            quoted(name)
        ))),
        None => Ok(libc::CLONE_NEWNET as u64),
    }
}

/// The namespaces the config joins by path.
fn joined_namespaces(spec: &Spec) -> impl Iterator<Item = (LinuxNamespaceType, &Path)> {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_deref()).unwrap_or(&[]);
    namespaces.iter().filter_map(|ns| Some((ns.typ(), ns.path().as_deref()?)))
}

/// CRIU's name of a namespace type.
fn criu_namespace(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Time => "time",
    }
}

/// The name an external namespace is saved under: runc's (`extRootNetNS`), so that
/// either runtime can restore the other's images.
fn external_key(typ: LinuxNamespaceType) -> String {
    let name = criu_namespace(typ);
    format!("extRoot{}{}NS", name[..1].to_uppercase(), &name[1..])
}

/// The mounts whose sources lie outside the container, as (destination, host source):
/// bind mounts, the cgroup directories bound in, and the device nodes (bound from the
/// host in a user namespace; a name nobody uses is harmless to CRIU).
fn external_mounts(bundle: &Bundle, cgroup: &Cgroup) -> Result<Vec<(PathBuf, PathBuf)>> {
    let spec = &bundle.spec;
    let mut mounts = crate::rootfs::bind_mounts(spec, &bundle.dir)?;
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    let new_cgroup_ns =
        namespaces.iter().any(|ns| ns.typ() == LinuxNamespaceType::Cgroup && ns.path().is_none());
    mounts.extend(crate::rootfs::cgroup_binds(spec, cgroup, new_cgroup_ns));
    mounts.extend(crate::rootfs::devices::node_paths(spec).into_iter().map(|p| (p.clone(), p)));
    // CRIU knows a mount by where it really is: a destination through a symlink in
    // the image (runc's test: /conf -> /real/conf) is named as the kernel resolved it.
    let root = crate::rootfs::safe_path::open_root(&bundle.rootfs)?;
    for (dest, _) in &mut mounts {
        *dest = crate::rootfs::safe_path::resolved_in_root(&root, dest);
    }
    Ok(mounts)
}

/// The masked paths that are files in the container (covered by /dev/null), looked up
/// inside its root so that a symlink there cannot point the check at the host.
fn masked_files(spec: &Spec, init: i32) -> Vec<PathBuf> {
    let masked = spec.linux().as_ref().and_then(|l| l.masked_paths().clone()).unwrap_or_default();
    let Ok(root) = crate::rootfs::safe_path::open_root(Path::new(&format!("/proc/{init}/root"))) else {
        return Vec::new();
    };
    masked
        .into_iter()
        .map(PathBuf::from)
        .filter(|path| {
            let flags = libc::O_PATH | libc::O_NOFOLLOW;
            crate::rootfs::safe_path::open_in_root(&root, path, flags, 0)
                .and_then(|fd| nix::sys::stat::fstat(fd.as_raw_fd()))
                .is_ok_and(|st| st.st_mode & libc::S_IFMT != libc::S_IFDIR)
        })
        .collect()
}

/// `--page-server ADDRESS:PORT` as `criu_page_server_info`.
fn page_server(value: &str) -> Result<Message> {
    let bad = || Error::invalid(format!("--page-server {}: use ADDRESS:PORT", quoted(value)));
    let (address, port) = value.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let address = address.trim_start_matches('[').trim_end_matches(']');
    if address.is_empty() {
        return Err(bad());
    }
    let mut m = Message::default();
    m.string(1, address).int(2, i32::from(port));
    Ok(m)
}

/// `--parent-path`: relative to the image directory (CRIU resolves it there), and a
/// directory.
fn checked_parent(images: &Path, parent: &Path) -> Result<PathBuf> {
    if parent.is_absolute() {
        return Err(Error::invalid(format!("--parent-path {} must be relative", parent.display())));
    }
    let full = images.join(parent);
    if !full.is_dir() {
        return Err(Error::invalid(format!(
            "invalid --parent-path {}: {} is not a directory",
            parent.display(),
            full.display()
        )));
    }
    Ok(parent.to_path_buf())
}

fn save_descriptors(images: &Path, init: i32) -> Result<()> {
    let targets: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{init}/fd/{fd}"))
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let path = images.join(DESCRIPTORS);
    let json = serde_json::to_vec(&targets).expect("strings serialize");
    std::fs::write(&path, json).ctx(|| format!("write {}", path.display()))
}

fn read_descriptors(images: &Path) -> Result<Vec<String>> {
    let path = images.join(DESCRIPTORS);
    let data = crate::small_file::read_regular(&path).map_err(|e| {
        Error::invalid(format!(
            "restore: read {}: {e} (is it a checkpoint's image directory?)",
            path.display()
        ))
    })?;
    serde_json::from_slice(&data)
        .map_err(|e| Error::invalid(format!("restore: {} is not a list of descriptors: {e}", path.display())))
}

fn inherit_fd(key: &str, fd: i32) -> Message {
    let mut m = Message::default();
    m.string(1, key).int(2, fd);
    m
}

/// The process's cgroups as (controller, path) pairs, one per v1 controller and ""
/// for the cgroup2 tree, as CRIU's cgroup roots name them.
fn cgroups_of(pid: i32) -> Result<Vec<(String, String)>> {
    let text = crate::small_file::read_to_string(format!("/proc/{pid}/cgroup"))
        .ctx(|| format!("read /proc/{pid}/cgroup"))?;
    let mut roots = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for controller in controllers.split(',') {
            roots.push((controller.to_string(), path.to_string()));
        }
    }
    Ok(roots)
}

/// The restored terminal's master, which CRIU hands over, goes to --console-socket.
fn send_pty_master(socket: Option<&Path>, master: Option<OwnedFd>) -> Result<()> {
    let (Some(socket), Some(master)) = (socket, master) else {
        return Err(Error::invalid("restore: criu sent a pty master, and there is no --console-socket"));
    };
    let step = || format!("connect to --console-socket {}", socket.display());
    let conn = std::os::unix::net::UnixStream::connect(socket).ctx(step)?;
    crate::fd_passing::send_fd(
        conn.as_raw_fd(),
        b"/dev/ptmx",
        master.as_raw_fd(),
        "the pty master over the console socket",
    )
}

/// A path as CRIU takes it (a protobuf string is UTF-8).
fn text(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| Error::invalid(format!("criu: path {} is not UTF-8", path.display())))
}

/// `--status-fd`, a descriptor the caller gave this process.
fn caller_fd(fd: i32) -> std::os::fd::BorrowedFd<'static> {
    // SAFETY: the caller passed this descriptor for the whole command; it stays open.
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}
