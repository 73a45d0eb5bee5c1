//! Container state on disk: one directory per container under `--root`, holding
//! `state.json` (written atomically), the exec FIFO while the container waits for
//! `start`, and a lock taken by every command so two commands on one ID never
//! interleave. The status is never trusted from the file alone: it is derived from
//! the live init process, identified by PID *and* start time so a recycled PID is
//! never mistaken for the container. Besides, a root may hold one empty spare
//! directory, which the next container's directory is made from.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, RenameFlags};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
/// The second, small record of what `delete` must undo (see `Remains`).
pub const REMAINS_FILE: &str = "remains.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// With NOTIFY_SOCKET: the directory of the container's notify socket, and its name.
pub const NOTIFY_DIR: &str = "notify";
pub const NOTIFY_SOCKET: &str = "notify.sock";
/// The one empty state directory a root keeps for the next `create` (see
/// `StateDir::remove`). Not a valid ID, so no command can name it; `list` skips it,
/// as it holds no state.json.
const SPARE_DIR: &str = ".spare~";
/// Longest ID accepted: it becomes a directory name (NAME_MAX) and a cgroup name.
const MAX_ID_LEN: usize = 255;

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// A process identified beyond its PID: the start time (field 22 of /proc/PID/stat)
/// tells a live process apart from a later one that reused the number.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessId {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessId {
    pub fn of(pid: i32) -> Result<Self> {
        let (start_time, _) = read_stat(pid).ctx(|| format!("read /proc/{pid}/stat"))?;
        Ok(ProcessId { pid, start_time })
    }

    /// Stopped by a signal (SIGSTOP, a debugger): it will not get on until continued.
    pub fn is_stopped(&self) -> bool {
        matches!(read_stat(self.pid), Ok((start, state)) if start == self.start_time && matches!(state, 'T' | 't'))
    }

    /// True while the process runs (a zombie has exited and counts as gone).
    pub fn is_alive(&self) -> bool {
        matches!(read_stat(self.pid), Ok((start, state)) if start == self.start_time && state != 'Z' && state != 'X')
    }
}

/// Start time and state letter of a process, from /proc/PID/stat.
fn read_stat(pid: i32) -> std::io::Result<(u64, char)> {
    let stat = crate::small_file::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name is in parentheses and may hold spaces: parse after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let mut fields = after.split_whitespace();
    let state = fields.next().and_then(|s| s.chars().next()).unwrap_or('X');
    // Fields after ')' start at field 3 (state); start time is field 22.
    let start = fields
        .nth(22 - 4)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    Ok((start, state))
}

/// What the runtime records about a container. Everything `delete` must undo is
/// written here *before* it is created, so a `create` killed at any instant leaves a
/// record that `delete --force` can clean up from.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ContainerState {
    pub oci_version: String,
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: u32,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The `create` command while it runs; its death before `init` is recorded means
    /// the container never came to be.
    pub creator: ProcessId,
    pub init: Option<ProcessId>,
    /// Cgroup directories this container owns (absolute host paths).
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// With the systemd cgroup driver: the scope unit holding those directories.
    #[serde(default)]
    pub systemd_unit: Option<crate::cgroups::systemd::Unit>,
    /// `linux.intelRdt`: the container's resctrl groups.
    #[serde(default)]
    pub resctrl: Option<crate::resctrl::Groups>,
    /// Whether the container has a PID namespace of its own. Without one, init's
    /// death does not end the other processes: they are killed through the cgroup.
    /// (A state from before this field reads as shared, the safe side.)
    #[serde(default)]
    pub own_pid_namespace: bool,
    /// Without a mount namespace of its own: the rootfs bind made in the host's.
    #[serde(default)]
    pub host_rootfs_bind: Option<HostBind>,
    /// Hooks that run after create returned (poststart, poststop).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

impl ContainerState {
    /// What `delete` needs of this state to remove the container.
    pub fn remains(&self) -> Remains {
        Remains {
            creator: self.creator,
            init: self.init,
            cgroup_dirs: self.cgroup_dirs.clone(),
            systemd_unit: self.systemd_unit.clone(),
            resctrl: self.resctrl.clone(),
            own_pid_namespace: self.own_pid_namespace,
            host_rootfs_bind: self.host_rootfs_bind.clone(),
        }
    }

    /// `dir` is the container's state directory (the exec FIFO lives there).
    pub fn status(&self, dir: &Path) -> Status {
        match self.init {
            Some(init) if init.is_alive() => {
                if dir.join(EXEC_FIFO).exists() {
                    Status::Created
                } else if crate::cgroups::Freezer::find(&self.cgroup_dirs).is_some_and(|f| f.is_frozen()) {
                    Status::Paused
                } else {
                    Status::Running
                }
            }
            Some(_) => Status::Stopped,
            None if self.creator.is_alive() => Status::Creating,
            None => Status::Stopped,
        }
    }

    pub fn pid(&self, status: Status) -> i32 {
        match (status, self.init) {
            (Status::Stopped, _) | (_, None) => 0,
            (_, Some(init)) => init.pid,
        }
    }

    /// The state a hook reads on stdin, with init's PID as seen where the hook runs.
    pub fn hook_json(&self, pid: i32, status: Status) -> String {
        let state = SpecState { pid, ..self.spec_state(status) };
        serde_json::to_string(&state).expect("the state serializes")
    }

    /// The runtime-spec state object, for those who take it as JSON values.
    pub fn to_spec_json(&self, status: Status) -> serde_json::Value {
        serde_json::to_value(self.spec_state(status)).expect("the state serializes")
    }

    /// The runtime-spec state object (plus runc's rootfs, created and owner fields).
    pub fn spec_state(&self, status: Status) -> SpecState<'_> {
        SpecState {
            oci_version: crate::config::SPEC_VERSION,
            id: &self.id,
            pid: self.pid(status),
            status: status.as_str(),
            bundle: &self.bundle,
            rootfs: &self.rootfs,
            created: &self.created,
            owner: owner_name(self.owner),
            annotations: &self.annotations,
        }
    }
}

/// The state as `state`, `list --format json` and hooks show it, in runc's field
/// order, which tools (and runc's own tests) match as text: serde keeps a struct's
/// order where a JSON map would sort its keys.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecState<'a> {
    oci_version: &'static str,
    pub id: &'a str,
    pub pid: i32,
    status: &'static str,
    bundle: &'a Path,
    rootfs: &'a Path,
    created: &'a str,
    owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    annotations: &'a HashMap<String, String>,
}

/// What `delete --force` must undo, recorded a second time apart from state.json:
/// written before it at each save, so a state.json that is damaged, truncated or
/// gone still leaves enough to find the container's processes and cgroups. It also
/// vouches for state.json's cgroup directories: a directory is the container's only
/// where this record names it, so an edited or damaged state.json cannot have
/// `delete` or `kill --all` reach into a cgroup that is not the container's (both
/// would have to be changed alike for that).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Remains {
    pub creator: ProcessId,
    pub init: Option<ProcessId>,
    pub cgroup_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub systemd_unit: Option<crate::cgroups::systemd::Unit>,
    #[serde(default)]
    pub resctrl: Option<crate::resctrl::Groups>,
    pub own_pid_namespace: bool,
    #[serde(default)]
    pub host_rootfs_bind: Option<HostBind>,
}

/// The bind of the rootfs onto itself that a container without a mount namespace of
/// its own gets in the host's, recorded before it is made: `delete` detaches the
/// topmost mount at `rootfs` only while it is not the one that was there before.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct HostBind {
    pub rootfs: PathBuf,
    pub mount_before: u64,
}

impl Remains {
    /// Whether any process of the container may still run.
    pub fn may_be_alive(&self) -> bool {
        self.creator.is_alive()
            || self.init.is_some_and(|i| i.is_alive())
            || !crate::cgroups::pids_of(&self.cgroup_dirs).is_empty()
    }
}

/// Why a container's state could not be used, with what is left of it.
pub enum Damage {
    /// state.json is missing (a create killed before writing it, or removed).
    Missing(Option<Box<Remains>>),
    /// state.json cannot be read or parsed: the cause, quoted.
    Unreadable(String, Option<Box<Remains>>),
}

fn owner_name(uid: u32) -> String {
    nix::unistd::User::from_uid(uid.into()).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string())
}

/// Checks an ID before it is used as a directory name: runc's character set, and
/// nothing that could walk out of `--root`.
pub fn validate_id(id: &str) -> Result<()> {
    let ok_chars = id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(format!(
            "invalid container ID: too long ({} bytes, at most {MAX_ID_LEN})",
            id.len()
        )));
    }
    if id.is_empty() || id == "." || id == ".." || !ok_chars {
        return Err(Error::invalid(format!(
            "invalid container ID {id:?}: use characters from [A-Za-z0-9_+.-], not \".\" or \"..\""
        )));
    }
    Ok(())
}

/// A container's state directory, locked for as long as this value lives.
pub struct StateDir {
    pub id: String,
    pub path: PathBuf,
    _lock: Flock<File>,
}

impl StateDir {
    /// Creates the directory for a new container; an existing one means a duplicate ID.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .ctx(|| format!("create state root {}", root.display()))?;
        let path = root.join(id);
        // The spare a `delete` left becomes this container's directory; without one,
        // a new one. 0711: an init running as another host user (a user namespace)
        // must reach the exec FIFO inside; nothing here can be listed by others.
        let spare = root.join(SPARE_DIR);
        let renamed = if spare_is_usable(&spare) {
            nix::fcntl::renameat2(None, &spare, None, &path, RenameFlags::RENAME_NOREPLACE)
        } else {
            Err(Errno::ENOENT)
        };
        let made = match renamed {
            Ok(()) => Ok(()),
            // ENOENT: no spare; EINVAL: a filesystem that cannot rename without replacing.
            Err(Errno::ENOENT | Errno::EINVAL) => fs::DirBuilder::new().mode(0o711).create(&path),
            Err(e) => Err(std::io::Error::from(e)),
        };
        match made {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::invalid(format!("container with ID {id} already exists")))
            }
            r => r.ctx(|| format!("create state directory {}", path.display()))?,
        }
        Self::lock(id, path)
    }

    /// Opens and locks an existing container's directory.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let path = root.join(id);
        if !path.is_dir() {
            return Err(Error::NotExist(id.to_string()));
        }
        Self::lock(id, path)
    }

    fn lock(id: &str, path: PathBuf) -> Result<Self> {
        // Never through a symlink: one planted as <root>/<id> would have the state
        // written, and `delete` remove files, wherever it points.
        let dir = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP | libc::ENOTDIR) => Error::invalid(format!(
                    "state directory {} is not a directory the runtime made (a symlink or a file): refused",
                    path.display()
                )),
                _ => Error::sys(
                    format!("open state directory {}", path.display()),
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                ),
            })?;
        // Checked before the lock: someone else's directory may hold someone else's lock.
        let locked = dir.metadata().ctx(|| format!("stat {}", path.display()))?;
        if locked.uid() != nix::unistd::geteuid().as_raw() {
            return Err(Error::invalid(format!(
                "state directory {} belongs to uid {}, not to this runtime's user: refused",
                path.display(),
                locked.uid()
            )));
        }
        let lock = Flock::lock(dir, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::sys(format!("lock {}", path.display()), e))?;
        // While we waited, a `delete` may have removed the directory (and a `create`
        // made a new one under the same name): the lock must be on the live one. (The
        // locked directory's device and inode cannot have changed meanwhile.)
        let current = fs::symlink_metadata(&path).ok();
        if current.is_none_or(|m| (m.dev(), m.ino()) != (locked.dev(), locked.ino())) {
            return Err(Error::NotExist(id.to_string()));
        }
        Ok(StateDir { id: id.to_string(), path, _lock: lock })
    }

    /// The state, with the cgroup directories the second record vouches for.
    pub fn load(&self) -> Result<ContainerState> {
        read_state(&self.path, &self.id)
    }

    /// For `delete`: the state, or what is wrong with it and what the second record
    /// still says.
    pub fn load_or_remains(&self) -> std::result::Result<ContainerState, Damage> {
        match self.load() {
            Ok(state) => Ok(state),
            Err(Error::NotExist(_)) => Err(Damage::Missing(read_remains(&self.path).map(Box::new))),
            Err(e) => Err(Damage::Unreadable(e.to_string(), read_remains(&self.path).map(Box::new))),
        }
    }

    /// Write-then-rename, so a reader sees the old state or the new one, never half.
    ///
    /// A state that replaces another is swapped in with RENAME_EXCHANGE and the old
    /// one unlinked, rather than renamed over it: ext4 (auto_da_alloc) allocates the
    /// blocks of a file renamed over another at once, and the later unlink must then
    /// free them, which on a `discard` mount is a synchronous TRIM (about 0.3 ms at
    /// each `delete` here). Swapped, the file stays in the page cache until writeback,
    /// so a short-lived container's state never reaches the disk.
    pub fn save(&self, state: &ContainerState) -> Result<()> {
        let remains = serde_json::to_vec(&state.remains()).expect("remains serialize");
        self.write_atomically(REMAINS_FILE, &remains)?;
        self.write_atomically(STATE_FILE, &serde_json::to_vec(state).expect("state serializes"))
    }

    fn write_atomically(&self, name: &str, data: &[u8]) -> Result<()> {
        let tmp = self.path.join(format!(".{name}.tmp"));
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .ctx(|| format!("write {}", tmp.display()))?;
        f.write_all(data).ctx(|| format!("write {}", tmp.display()))?;
        let dest = self.path.join(name);
        let into_place = || format!("rename {} into place", tmp.display());
        match nix::fcntl::renameat2(None, &tmp, None, &dest, RenameFlags::RENAME_EXCHANGE) {
            Ok(()) => fs::remove_file(&tmp).ctx(|| format!("remove the replaced state {}", tmp.display())),
            // ENOENT: the first state; EINVAL: a filesystem that cannot swap.
            Err(Errno::ENOENT | Errno::EINVAL) => fs::rename(&tmp, &dest).ctx(into_place),
            Err(e) => Err(Error::sys(into_place(), e)),
        }
    }

    /// The descriptor holding the lock. A flock belongs to the open file, which a
    /// forked init shares: init closes it at once, or a `create` killed before it
    /// unlocks would leave the lock held by init until `start`.
    pub fn lock_fd(&self) -> RawFd {
        self._lock.as_raw_fd()
    }

    /// Unlinks the files the runtime makes here, through the descriptor already held:
    /// a create that failed for want of descriptors (EMFILE) still cleans up. What
    /// else is there makes the directory fail to become the spare, and it is removed
    /// whole instead.
    fn remove_files(&self) -> std::io::Result<()> {
        let names = [STATE_FILE, REMAINS_FILE, EXEC_FIFO];
        let temporaries = names.map(|n| format!(".{n}.tmp"));
        use nix::unistd::UnlinkatFlags::{NoRemoveDir, RemoveDir};
        let files =
            names.iter().copied().chain(temporaries.iter().map(String::as_str)).chain([NOTIFY_SOCKET]);
        let all = files.map(|f| (f, NoRemoveDir)).chain([(NOTIFY_DIR, RemoveDir)]);
        for (name, kind) in all {
            match nix::unistd::unlinkat(Some(self.lock_fd()), name, kind) {
                Ok(()) | Err(Errno::ENOENT) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub fn exec_fifo(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Removes the container's files, then its directory, except that a root keeps
    /// one empty directory as its spare, which the next `create` renames into place.
    /// On ext4 a removed directory's block is freed when its last descriptor closes,
    /// and on a `discard` mount that is a synchronous TRIM (0.3 ms at the end of each
    /// `delete` and `run` on this project's test machines); a mkdir allocates one.
    /// The lock goes with the value.
    pub fn remove(self) -> Result<()> {
        if self.remove_files().is_ok() {
            let spare = self.path.with_file_name(SPARE_DIR);
            // EEXIST: the root has its spare already.
            if nix::fcntl::renameat2(None, &self.path, None, &spare, RenameFlags::RENAME_NOREPLACE).is_ok()
                || fs::remove_dir(&self.path).is_ok()
            {
                return Ok(());
            }
        }
        match fs::remove_dir_all(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r.ctx(|| format!("remove {}", self.path.display())),
        }
    }
}

fn read_state_file(dir: &Path, id: &str) -> Result<ContainerState> {
    let file = dir.join(STATE_FILE);
    let data = match crate::small_file::read(&file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Error::NotExist(id.to_string())),
        r => r.ctx(|| format!("read {}", file.display()))?,
    };
    serde_json::from_slice(&data)
        .map_err(|e| Error::invalid(format!("corrupt state file {}: {e}", file.display())))
}

/// state.json with the cgroup directories the second record vouches for: what `load`
/// and `peek` give every command.
fn read_state(dir: &Path, id: &str) -> Result<ContainerState> {
    let mut state = read_state_file(dir, id)?;
    state.cgroup_dirs = vouched_cgroup_dirs(dir, &state.cgroup_dirs);
    Ok(state)
}

/// The second record, if it is there and whole.
fn read_remains(dir: &Path) -> Option<Remains> {
    let data = crate::small_file::read(dir.join(REMAINS_FILE)).ok()?;
    let remains: Remains = serde_json::from_slice(&data).ok()?;
    let cgroup_dirs = crate::cgroups::container_dirs_only(&remains.cgroup_dirs);
    Some(Remains { cgroup_dirs, ..remains })
}

/// The container's cgroup directories: those of the second record, which nothing
/// but the runtime writes. State.json's are used only where that record is missing
/// or damaged (one damage at a time is recovered from), and those it names beyond
/// the record are refused with a warning. Either way only directories that could
/// be a container's.
fn vouched_cgroup_dirs(dir: &Path, recorded: &[PathBuf]) -> Vec<PathBuf> {
    let Some(remains) = read_remains(dir) else {
        return crate::cgroups::container_dirs_only(recorded);
    };
    for d in recorded.iter().filter(|d| !remains.cgroup_dirs.contains(d)) {
        crate::logger::warn(format!(
            "{}: cgroup {} is not one the runtime recorded for this container: left alone",
            dir.join(STATE_FILE).display(),
            d.display()
        ));
    }
    remains.cgroup_dirs
}

/// A container's state and status read without its lock, for `state` and `list`:
/// state.json is replaced atomically, so a whole state is always read, and these
/// commands answer at once even while a create runs (showing it as creating).
pub fn peek(root: &Path, id: &str) -> Result<(ContainerState, Status)> {
    validate_id(id)?;
    let dir = root.join(id);
    // Not through a symlink planted as <root>/<id> (see `StateDir::lock`).
    if !fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return Err(Error::NotExist(id.to_string()));
    }
    let state = read_state(&dir, id)?;
    let status = state.status(&dir);
    Ok((state, status))
}

/// Whether the root's spare is one `remove` left: a directory of this user's, not a
/// symlink. Anything else was planted: it is not used, and removed where it can be
/// (a symlink itself, never what it points to; another user's directory only if
/// empty).
fn spare_is_usable(spare: &Path) -> bool {
    let Ok(md) = fs::symlink_metadata(spare) else { return false };
    if md.is_dir() && md.uid() == nix::unistd::geteuid().as_raw() {
        return true;
    }
    crate::logger::warn(format!("{} is not a spare the runtime left: not used", spare.display()));
    let _ = if md.is_dir() { fs::remove_dir(spare) } else { fs::remove_file(spare) };
    false
}

/// IDs of every container under `root` (for `list`; no other command scans).
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.ctx(|| format!("read {}", root.display()))?,
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_could_escape_the_root_are_rejected() {
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "sp ace"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_id(&"a".repeat(MAX_ID_LEN + 1)).is_err());
        for good in ["a", "my-container_1.2+x", &"b".repeat(255)] {
            assert!(validate_id(good).is_ok(), "{good:?} rejected");
        }
    }

    #[test]
    fn own_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessId::of(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        let impostor = ProcessId { start_time: me.start_time + 1, ..me };
        assert!(!impostor.is_alive());
    }
}
