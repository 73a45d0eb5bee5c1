//! Cgroups on every layout: pure v2, v1, and hybrid (v1 controllers plus a cgroup2
//! tree at /sys/fs/cgroup/unified). The container gets one directory per hierarchy
//! at `linux.cgroupsPath`, init joins it before it does any work, every field of
//! `linux.resources` is written to the hierarchy that holds its controller, and
//! `delete` removes it. `resources` translates the config, `devices` builds the
//! device rules (v1 lines or a v2 eBPF program), `stats` reads usage for `events`.

pub mod devices;
pub mod resources;
pub mod stats;
pub mod systemd;

use crate::error::{Context, Error, Result};
use oci_spec::runtime::LinuxResources;
use resources::{Need, Setting};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// Its controllers: the mount options for v1 (`cpu`, `name=systemd`), the root's
    /// cgroup.controllers for the cgroup2 tree.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    /// Name used for its directory under /sys/fs/cgroup in the container.
    pub fn name(&self) -> String {
        self.mount_point
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unified".into())
    }
}

/// The host's hierarchies, read from /proc/self/mountinfo.
pub fn hierarchies() -> Result<Vec<Hierarchy>> {
    let mut found = Vec::new();
    for m in crate::mountinfo::read()? {
        if !m.mount_point.starts_with(CGROUP_ROOT) {
            continue;
        }
        let mount_point = m.mount_point;
        match m.fs_type.as_str() {
            "cgroup2" => {
                let controllers = crate::small_file::read_to_string(mount_point.join("cgroup.controllers"))
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_string)
                    .collect();
                found.push(Hierarchy { mount_point, controllers, v2: true })
            }
            "cgroup" => {
                let controllers = m
                    .super_options
                    .split(',')
                    .filter(|o| {
                        !matches!(*o, "rw" | "ro")
                            && !o.starts_with("release_agent")
                            && *o != "clone_children"
                            && *o != "noprefix"
                            && *o != "xattr"
                    })
                    .map(str::to_string)
                    .collect();
                found.push(Hierarchy { mount_point, controllers, v2: false });
            }
            _ => {}
        }
    }
    if found.is_empty() {
        return Err(Error::invalid("no cgroup hierarchy is mounted under /sys/fs/cgroup"));
    }
    Ok(found)
}

/// The runtime's own cgroup in one hierarchy, from /proc/self/cgroup (`own`, read
/// once by the caller), for relative `cgroupsPath` values (runc interprets them
/// relative to its own cgroup).
fn own_cgroup(own: &str, h: &Hierarchy) -> PathBuf {
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
        let matches = if h.v2 {
            ctrls.is_empty()
        } else {
            let set: Vec<&str> = ctrls.split(',').collect();
            h.controllers.iter().all(|c| set.contains(&c.as_str()))
        };
        if matches {
            return PathBuf::from(path);
        }
    }
    PathBuf::from("/")
}

fn read_own_cgroups() -> String {
    crate::small_file::read_to_string("/proc/self/cgroup").unwrap_or_default()
}

/// `path` (absolute, as cgroup paths are written) below the directory `base`.
fn below(base: &Path, path: &Path) -> PathBuf {
    base.join(path.strip_prefix("/").unwrap_or(path))
}

/// Of `dirs`, those a container's cgroup could be: absolute, without `.` or `..`,
/// strictly below a mounted hierarchy, and neither the runtime's own cgroup there
/// nor above it. Only such directories may a recorded state name for `delete` to
/// kill in and remove.
pub fn container_dirs_only(dirs: &[PathBuf]) -> Vec<PathBuf> {
    use std::path::Component;
    let Ok(hierarchies) = hierarchies() else { return Vec::new() };
    let own = read_own_cgroups();
    let plausible = |dir: &PathBuf| {
        let normal = dir.is_absolute()
            && dir.components().all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let holder = hierarchies
            .iter()
            .filter(|h| dir.starts_with(&h.mount_point) && *dir != h.mount_point)
            .max_by_key(|h| h.mount_point.as_os_str().len());
        normal
            && holder.is_some_and(|h| {
                let ours = own_cgroup(&own, h);
                !below(&h.mount_point, &ours).starts_with(dir)
            })
    };
    dirs.iter().filter(|d| plausible(d)).cloned().collect()
}

/// runc's OwnerUID: a container with a cgroup namespace of its own and the cgroup
/// filesystem mounted writable at /sys/fs/cgroup gets its cgroup2 directory delegated
/// to the host UID its process runs as (the container's root in a user namespace), so
/// that it can manage the cgroups below. runc does it with the systemd driver on a
/// pure cgroup v2 host only, and so does this runtime.
pub fn delegation_owner(spec: &oci_spec::runtime::Spec) -> Option<u32> {
    use oci_spec::runtime::LinuxNamespaceType;
    let linux = spec.linux().as_ref()?;
    let namespaces = linux.namespaces().as_deref().unwrap_or(&[]);
    let own = |typ| namespaces.iter().any(|ns| ns.typ() == typ && ns.path().is_none());
    let writable_cgroupfs = spec.mounts().as_deref().unwrap_or(&[]).iter().any(|m| {
        let ro = m.options().as_deref().unwrap_or(&[]).iter().rev().find(|o| *o == "ro" || *o == "rw");
        m.source().as_deref() == Some(Path::new("cgroup"))
            && m.destination().components().eq(Path::new("/sys/fs/cgroup").components())
            && ro.map(String::as_str) != Some("ro")
    });
    if !own(LinuxNamespaceType::Cgroup) || !writable_cgroupfs {
        return None;
    }
    let uid = spec.process().as_ref().map_or(0, |p| p.user().uid());
    if !namespaces.iter().any(|ns| ns.typ() == LinuxNamespaceType::User) {
        return Some(uid);
    }
    // An unmapped UID: nothing to delegate to (the user namespace's checks refuse it).
    linux.uid_mappings().as_deref().unwrap_or(&[]).iter().find_map(|m| {
        let offset = uid.checked_sub(m.container_id()).filter(|o| *o < m.size())?;
        Some(m.host_id() + offset)
    })
}

/// A container's cgroup: one directory per hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub dirs: Vec<(Hierarchy, PathBuf)>,
    /// With the systemd driver: the scope unit systemd makes the directories for.
    pub systemd: Option<systemd::Unit>,
    /// The host UID the cgroup2 directory is delegated to (see `delegation_owner`).
    pub owner: Option<u32>,
}

impl Cgroup {
    /// Works out the directories (without creating anything), so they can be recorded
    /// in the state before they exist.
    /// `systemd_driver`: `Some(rootless)` with `--systemd-cgroup` (rootless: the
    /// user's own systemd, below whose cgroup the path then is).
    pub fn plan(cgroups_path: Option<&Path>, id: &str, systemd_driver: Option<bool>) -> Result<Self> {
        if let Some(rootless) = systemd_driver {
            let text = cgroups_path.map(|p| p.to_string_lossy());
            let (unit, path) = systemd::Unit::from_cgroups_path(text.as_deref(), id, rootless)?;
            let hierarchies = hierarchies()?;
            let path = if rootless {
                // runc too: only cgroup v2 can be delegated to a user.
                if !matches!(hierarchies.as_slice(), [h] if h.v2) {
                    return Err(Error::invalid(
                        "--systemd-cgroup for a rootless container needs a pure cgroup v2 host: the user's systemd cannot delegate v1 hierarchies",
                    ));
                }
                below(&systemd::user_manager_cgroup()?, &path)
            } else {
                path
            };
            let dirs = hierarchies
                .into_iter()
                .map(|h| {
                    let dir = below(&h.mount_point, &path);
                    (h, dir)
                })
                .collect();
            return Ok(Cgroup { dirs, systemd: Some(unit), owner: None });
        }
        let default = PathBuf::from("/anchor").join(id);
        let path = cgroups_path.unwrap_or(&default);
        refuse_systemd_form(path)?;
        if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(Error::invalid(format!("linux.cgroupsPath {} must not contain ..", path.display())));
        }
        let own = if path.is_absolute() { String::new() } else { read_own_cgroups() };
        let dirs = hierarchies()?
            .into_iter()
            .map(|h| {
                let full =
                    if path.is_absolute() { path.to_path_buf() } else { own_cgroup(&own, &h).join(path) };
                let dir = below(&h.mount_point, &full);
                (h, dir)
            })
            .collect();
        Ok(Cgroup { dirs, systemd: None, owner: None })
    }

    /// Rootless: only the hierarchies where the caller may make the container's
    /// directory (a cgroup delegated to it). Elsewhere the container gets no cgroup,
    /// which is refused when the config sets resources: they would go unenforced.
    pub fn delegated_only(self, resources: Option<&oci_spec::runtime::LinuxResources>) -> Result<Self> {
        let writable = |dir: &Path| {
            let existing = dir.ancestors().find(|a| a.exists());
            existing.is_some_and(|a| nix::unistd::access(a, nix::unistd::AccessFlags::W_OK).is_ok())
        };
        let (kept, skipped): (Vec<_>, Vec<_>) = self.dirs.into_iter().partition(|(_, dir)| writable(dir));
        if let Some((_, dir)) = skipped.first() {
            if resources.is_some() {
                return Err(Error::invalid(format!(
                    "rootless: linux.resources needs cgroups delegated to uid {}, and {} is not writable",
                    nix::unistd::geteuid(),
                    dir.display()
                )));
            }
            crate::logger::debug(format!(
                "rootless: no cgroup in the {} hierarchies not delegated to us",
                skipped.len()
            ));
        }
        Ok(Cgroup { dirs: kept, ..self })
    }

    /// A cgroup that already holds processes belongs to someone else: adopting it
    /// would have `delete` (or a failed create's cleanup) kill them. runc 1.2 refuses
    /// it too. A frozen one would stop init before it could report anything, and
    /// `create` would wait for it forever. Checked before the directories are
    /// recorded as the container's.
    pub fn check_adoptable(&self) -> Result<()> {
        for (_, dir) in self.dirs.iter().filter(|(_, d)| d.exists()) {
            if Freezer::find(std::slice::from_ref(dir)).is_some_and(|f| f.is_frozen()) {
                // Both errors start with runc's words, which tools match.
                return Err(Error::invalid(format!(
                    "container's cgroup unexpectedly frozen: {} is frozen, and a container started in it could not run; thaw it or use another cgroupsPath",
                    dir.display()
                )));
            }
            let occupied = pids_recursive(dir);
            if !occupied.is_empty() {
                return Err(Error::invalid(format!(
                    "container's cgroup is not empty: {} already holds processes {occupied:?}; use another cgroupsPath",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// One cgroup2 hierarchy and nothing else.
    pub fn is_pure_v2(&self) -> bool {
        matches!(self.dirs.as_slice(), [(h, _)] if h.v2)
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    /// Creates the directory in the cgroup2 hierarchy, if there is one, with the
    /// controllers enabled above it: what clone3 needs to start init inside it.
    pub fn create_v2(&self, resources: Option<&LinuxResources>) -> Result<()> {
        if self.systemd.is_some() {
            // systemd makes it, with init in it (`set_up_for_init`).
            return Ok(());
        }
        self.enable_v2_controllers(resources)?;
        for (_, dir) in self.dirs.iter().filter(|(h, _)| h.v2) {
            fs::create_dir_all(dir).ctx(|| format!("create cgroup {}", dir.display()))?;
        }
        Ok(())
    }

    /// The controllers enabled in the cgroup2 directories' parents. A pure v2 host
    /// gets every controller, so a later `update` can set anything; that includes
    /// those systemd leaves off in its slices (hugetlb, rdma, misc), as runc enables
    /// them. A hybrid host's cgroup2 tree gets only what this config limits there: a
    /// controller enabled in v2 can no longer be mounted as v1, which other runtimes
    /// on the host may do (crun with hugetlb).
    fn enable_v2_controllers(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let no_resources = LinuxResources::default();
        let r = resources.unwrap_or(&no_resources);
        let pure_v2 = self.is_pure_v2();
        for (h, dir) in self.dirs.iter().filter(|(h, _)| h.v2) {
            let wanted: Vec<String> = if pure_v2 {
                h.controllers.clone()
            } else {
                resources::settings(r, true)?.into_iter().map(|s| s.controller).filter(|c| h.has(c)).collect()
            };
            enable_controllers(&h.mount_point, dir, &wanted)?;
        }
        Ok(())
    }

    /// After `create_v2`, for init (`pid`): with the systemd driver, systemd makes the
    /// scope with init in it and the limits it keeps as properties; then the v1
    /// directories systemd does not manage are made and every limit is written. Init
    /// waits for this before it does anything of the container's (and joins its v1
    /// cgroups only then), so the container never runs unconstrained.
    pub fn set_up_for_init(&self, pid: i32, id: &str, resources: Option<&LinuxResources>) -> Result<()> {
        let none = LinuxResources::default();
        let resources = resources.unwrap_or(&none);
        let rounded;
        let resources = if self.systemd.is_some() {
            rounded = systemd::with_quota_systemd_keeps(resources);
            &rounded
        } else {
            resources
        };
        let rules = devices::effective_rules(resources.devices().as_deref().unwrap_or(&[]))?;
        if let Some(unit) = &self.systemd {
            unit.start(pid, id, &resources::settings(resources, self.is_pure_v2())?, &rules)?;
            if let Some(uid) = self.owner.filter(|_| self.is_pure_v2()) {
                self.delegate(uid)?;
            }
            self.enable_v2_controllers(Some(resources))?;
        }
        for (h, dir) in self.dirs.iter().filter(|(h, _)| !h.v2) {
            fs::create_dir_all(dir).ctx(|| format!("create cgroup {}", dir.display()))?;
            if h.has("cpuset") {
                inherit_cpuset(&h.mount_point, dir)?;
            }
        }
        self.apply(resources)?;
        self.apply_devices(&rules)
    }

    /// Hands the cgroup2 directory to `uid`, as systemd delegates a subtree: the
    /// directory and the files the kernel names for a delegate (cgroup.procs,
    /// cgroup.subtree_control, ...) become its, so the container's root can make
    /// cgroups of its own below and move its processes into them.
    fn delegate(&self, uid: u32) -> Result<()> {
        const DELEGATE_LIST: &str = "/sys/kernel/cgroup/delegate";
        // Linux < 4.15 has no list: the files cgroups(7) names.
        let listed = crate::small_file::read_to_string(DELEGATE_LIST).unwrap_or_default();
        let mut files: Vec<&str> = listed.lines().map(str::trim).filter(|f| !f.is_empty()).collect();
        if files.is_empty() {
            files = vec!["cgroup.procs", "cgroup.subtree_control", "cgroup.threads"];
        }
        let owner = Some(nix::unistd::Uid::from_raw(uid));
        for (_, dir) in self.dirs.iter().filter(|(h, _)| h.v2) {
            let chown = |path: &Path| {
                nix::unistd::chown(path, owner, None)
                    .map_err(|e| Error::sys(format!("delegate cgroup {} to uid {uid}", path.display()), e))
            };
            chown(dir)?;
            for file in &files {
                match chown(&dir.join(file)) {
                    // A controller's file that is not enabled here.
                    Err(Error::Sys { errno: libc::ENOENT, .. }) => {}
                    r => r?,
                }
            }
        }
        Ok(())
    }

    /// The container's directory in the cgroup2 hierarchy (all of a pure v2 host, the
    /// unified tree of a hybrid one), opened for clone3's CLONE_INTO_CGROUP.
    pub fn v2_dir(&self) -> Result<Option<std::os::fd::OwnedFd>> {
        if self.systemd.is_some() {
            return Ok(None);
        }
        match self.dirs.iter().find(|(h, _)| h.v2) {
            Some((_, dir)) => {
                let file = fs::File::open(dir).ctx(|| format!("open cgroup {}", dir.display()))?;
                Ok(Some(file.into()))
            }
            None => Ok(None),
        }
    }

    /// Puts process `pid` in the container's cgroup of each hierarchy `which` picks.
    pub fn add(&self, pid: i32, which: impl Fn(&Hierarchy) -> bool) -> Result<()> {
        for (_, dir) in self.dirs.iter().filter(|(h, _)| which(h)) {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// In a single-threaded process (init): moves its one thread into the container's
    /// cgroup of every v1 hierarchy. A thread moving itself (`0` into `tasks`) is
    /// spared the global lock that moving a whole process takes (cgroup.procs), whose
    /// RCU grace period cost 1 to 17 ms per create here; for a process with one thread
    /// the result is the same.
    pub fn join_v1_self(&self) -> Result<()> {
        for (_, dir) in self.dirs.iter().filter(|(h, _)| !h.v2) {
            write(dir, "tasks", "0")?;
        }
        Ok(())
    }

    /// `update`: new limits for a live container. Device rules stay as create set
    /// them unless the update brings its own list, which then replaces them whole.
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        let mut r = self.keeping_cpu_max(r);
        if self.systemd.is_some() {
            r = systemd::with_quota_systemd_keeps(&r);
        }
        let r = &r;
        if let Some(m) = r.memory().as_ref().filter(|m| m.check_before_update() == Some(true)) {
            self.check_usage_below(m.limit(), m.swap())?;
        }
        // A list replaces the rules whole; none keeps them.
        let rules = match r.devices().as_deref() {
            Some(list) if !list.is_empty() => Some(devices::effective_rules(list)?),
            _ => None,
        };
        let Some(unit) = &self.systemd else {
            self.apply(r)?;
            return rules.map_or(Ok(()), |rules| self.apply_devices(&rules));
        };
        let settings = resources::settings(r, self.is_pure_v2())?;
        // On v1 systemd rewrites a unit's device list as "deny all" and then each
        // allow line: frozen meanwhile, the container never sees the gap (runc too).
        // Our rules go last: systemd's list can only say part of some rule lists.
        let freezer =
            Freezer::find(&self.paths()).filter(|f| rules.is_some() && !self.is_pure_v2() && !f.is_frozen());
        if let Some(f) = &freezer {
            // A freeze that does not complete (a task stuck in the kernel) is undone:
            // the container must not stay half frozen because of an update.
            if let Err(e) = f.set(true) {
                let _ = f.set(false);
                return Err(e);
            }
        }
        // As runc (and as at create): systemd's properties first, then the files, so
        // the container gets the config's values where systemd writes its own (a CPU
        // quota rounded to whole percents, cpu.max's period under an unlimited quota).
        let result =
            unit.set(&settings, rules.as_deref()).and_then(|()| self.apply(r)).and_then(|()| match &rules {
                Some(rules) => self.apply_devices(rules),
                None => Ok(()),
            });
        if let Some(f) = &freezer {
            f.set(false)?;
        }
        result
    }

    /// cgroup v2 keeps the CPU quota and its period in one file (cpu.max), written
    /// whole: an `update` of only one of them keeps the other as it is, where runc
    /// keeps it from the container's config (update.bats "update cgroup cpu limits").
    fn keeping_cpu_max(&self, r: &LinuxResources) -> LinuxResources {
        let mut r = r.clone();
        let Some(mut cpu) = r.cpu().clone() else { return r };
        let given = |v: Option<i64>| v.filter(|v| *v != 0);
        let (quota, period) = (given(cpu.quota()), cpu.period().filter(|p| *p != 0));
        if quota.is_some() == period.is_some() {
            return r;
        }
        let Some((_, dir)) = self.dirs.iter().find(|(h, _)| h.v2 && h.has("cpu")) else { return r };
        let Ok(current) = read_value(dir, "cpu.max") else { return r };
        let mut fields = current.split_whitespace();
        let (current_quota, current_period) = (fields.next(), fields.next().and_then(|p| p.parse().ok()));
        if quota.is_none() {
            cpu.set_quota(current_quota.and_then(|q| q.parse().ok()));
        } else {
            cpu.set_period(current_period);
        }
        r.set_cpu(Some(cpu));
        r
    }

    /// memory.checkBeforeUpdate: a limit (memory, or memory plus swap) at or below
    /// what the container already uses is refused instead of sending it straight into
    /// the OOM killer. runc's checks, in its order and words.
    fn check_usage_below(&self, limit: Option<i64>, swap: Option<i64>) -> Result<()> {
        let positive = |v: Option<i64>| v.filter(|v| *v > 0);
        if positive(limit).is_none() && positive(swap).is_none() {
            return Ok(());
        }
        for (h, dir) in self.dirs.iter().filter(|(h, _)| h.has("memory")) {
            let file = if h.v2 { "memory.current" } else { "memory.usage_in_bytes" };
            let usage: i64 = read_value(dir, file)?.parse().unwrap_or(0);
            for (value, what) in [(swap, "memory+swap limit"), (limit, "memory limit")] {
                if let Some(value) = positive(value).filter(|v| *v <= usage) {
                    return Err(Error::invalid(format!(
                        "memory.checkBeforeUpdate: rejecting {what} {value} <= usage {usage} ({})",
                        dir.join(file).display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The directories an `exec --cgroup [CONTROLLER[,CONTROLLER...]:]PATH` process
    /// joins (runc's flag): PATH below the container's directory, for the hierarchies
    /// of the controllers named, or for all without a controller; the container's own
    /// directories elsewhere. PATH must stay below the container's cgroup.
    pub fn exec_dirs(&self, requests: &[String]) -> Result<Vec<PathBuf>> {
        let mut all: Option<PathBuf> = None;
        let mut by_controller: Vec<(String, PathBuf)> = Vec::new();
        for request in requests {
            let (controllers, path) = match request.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, request.as_str()),
            };
            let sub = Path::new(path.trim_start_matches('/'));
            if sub.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                // runc's words, path unquoted as runc's tests match them.
                return Err(Error::invalid(format!("exec --cgroup: {path} is not a sub cgroup path")));
            }
            match controllers {
                None => all = Some(sub.to_path_buf()),
                Some(list) => {
                    for c in list.split(',') {
                        if !self.dirs.iter().any(|(h, _)| h.has(c)) {
                            return Err(Error::invalid(format!(
                                "exec --cgroup: unknown controller {}",
                                crate::error::quoted(c)
                            )));
                        }
                        by_controller.push((c.to_string(), sub.to_path_buf()));
                    }
                }
            }
        }
        Ok(self
            .dirs
            .iter()
            .map(|(h, dir)| {
                let named = by_controller.iter().find(|(c, _)| h.has(c)).map(|(_, sub)| sub);
                match named.or(all.as_ref()) {
                    Some(sub) => dir.join(sub),
                    None => dir.clone(),
                }
            })
            .collect())
    }

    /// The container's cgroup from the directories its state recorded.
    pub fn from_dirs(dirs: &[PathBuf], systemd: Option<systemd::Unit>) -> Result<Self> {
        let hierarchies = hierarchies()?;
        let dirs = dirs
            .iter()
            .filter_map(|d| {
                let h = hierarchies
                    .iter()
                    .filter(|h| d.starts_with(&h.mount_point))
                    .max_by_key(|h| h.mount_point.as_os_str().len())?;
                Some((h.clone(), d.clone()))
            })
            .collect();
        Ok(Cgroup { dirs, systemd, owner: None })
    }

    /// Writes the resources: every setting goes to the hierarchy that holds its
    /// controller (on a hybrid host some are v1's, some the cgroup2 tree's). Nothing
    /// is written before every field has found a hierarchy, and when the kernel
    /// refuses a value the files already written get their old values back.
    fn apply(&self, r: &LinuxResources) -> Result<()> {
        let has_v1 = self.dirs.iter().any(|(h, _)| !h.v2);
        let has_v2 = self.dirs.iter().any(|(h, _)| h.v2);
        let v1 = if has_v1 { resources::settings(r, false)? } else { vec![] };
        let v2 = if has_v2 { resources::settings(r, true)? } else { vec![] };
        let mut plan: Vec<(&Path, &Setting)> = Vec::new();
        let mut placed = BTreeSet::new();
        // A knob v2 lacks is only warned about on a pure v2 host, where nothing could
        // take it (net_cls is no v2 controller at all); a v1 or hybrid host that does
        // not mount its controller gets the error below.
        let takes = |h: &Hierarchy, s: &Setting| {
            h.has(&s.controller) || (h.v2 && !has_v1 && matches!(s.need, Need::Unsupported(_)))
        };
        for (h, dir) in &self.dirs {
            for s in if h.v2 { &v2 } else { &v1 }.iter().filter(|s| takes(h, s)) {
                placed.insert(s.field);
                match &s.need {
                    Need::Unsupported(why) => {
                        crate::logger::warn(format!("linux.resources.{} ignored: {why}", s.field))
                    }
                    Need::Refused(why) => return Err(Error::invalid(why.clone())),
                    Need::Required | Need::BestEffort => plan.push((dir.as_path(), s)),
                }
            }
        }
        if let Some(s) = v1.iter().chain(&v2).find(|s| !placed.contains(s.field)) {
            // runc's first words, which tools match ("invalid configuration").
            let version = if v1.contains(s) { "" } else { " of cgroup v2" };
            return Err(Error::invalid(format!(
                "invalid configuration: linux.resources.{} needs the {} controller{version}, which no cgroup hierarchy on this host provides",
                s.field, s.controller
            )));
        }
        let mut written = Written::default();
        if let Err(e) = written.write_all(&plan) {
            written.restore();
            return Err(e);
        }
        Ok(())
    }

    /// The device rules: an eBPF program on a pure v2 host, v1's devices files else.
    fn apply_devices(&self, rules: &[devices::Rule]) -> Result<()> {
        for (h, dir) in &self.dirs {
            if h.v2 && self.is_pure_v2() {
                match devices::load(&devices::compile(rules)) {
                    Ok(prog) => devices::attach_v2(dir, &prog)?,
                    // As runc: an unprivileged (rootless) runtime cannot load the
                    // program, in a cgroup delegated to it by systemd or otherwise;
                    // its container, in a user namespace, cannot make device nodes.
                    Err(Error::Sys { errno: libc::EPERM, .. }) if !nix::unistd::geteuid().is_root() => {
                        crate::logger::debug("rootless: no device filter (loading it needs privileges)")
                    }
                    Err(e) => return Err(e),
                }
            } else if h.has("devices") {
                devices::apply_v1(dir, rules)?;
            }
        }
        Ok(())
    }
}

/// The files `apply` wrote so far, with what they held before.
#[derive(Default)]
struct Written(Vec<(PathBuf, String)>);

impl Written {
    fn write_all(&mut self, plan: &[(&Path, &Setting)]) -> Result<()> {
        // Some limits bound others (memory below memory+swap, the real-time runtime
        // below its period), so a value can be refused until a later one is written:
        // such a refusal is retried once at the end.
        let mut retry = Vec::new();
        for &(dir, s) in plan {
            match self.write(dir, s) {
                Err(Error::Sys { errno, .. }) if errno == libc::EINVAL && s.need == Need::Required => {
                    retry.push((dir, s))
                }
                r => r?,
            }
        }
        for (dir, s) in retry {
            self.write(dir, s)?;
        }
        Ok(())
    }

    fn write(&mut self, dir: &Path, s: &Setting) -> Result<()> {
        let Some((file, value)) = s.writes.iter().find(|(f, _)| dir.join(f).exists()) else {
            // cgroupfs makes no files on demand: the kernel lacks the knob (blkio
            // weights without the BFQ I/O scheduler, say). runc fails then too.
            let files: Vec<&str> = s.writes.iter().map(|(f, _)| f.as_str()).collect();
            let missing = format!(
                "linux.resources.{}: this kernel provides no {} in {}",
                s.field,
                files.join(" or "),
                dir.display()
            );
            if s.need == Need::BestEffort {
                crate::logger::warn(format!("{missing} (ignored)"));
                return Ok(());
            }
            return Err(Error::invalid(missing));
        };
        let path = dir.join(file);
        let old = crate::small_file::read_to_string(&path).ok();
        match write(dir, file, value) {
            Ok(()) => {
                // Only files that hold one value can be put back as they were; keyed
                // files (per-device throttles) keep the entry the config added.
                if let Some(old) =
                    old.map(|o| o.trim().to_string()).filter(|o| !o.contains('\n') && !o.contains(':'))
                {
                    self.0.push((path, old));
                }
                Ok(())
            }
            Err(Error::Sys { errno, .. })
                if s.need == Need::BestEffort && [libc::EOPNOTSUPP, libc::EINVAL].contains(&errno) =>
            {
                crate::logger::warn(format!(
                    "linux.resources.{}: this kernel does not support {} (ignored)",
                    s.field,
                    path.display()
                ));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Puts back, last first, what the files held before.
    fn restore(&mut self) {
        for (path, old) in self.0.drain(..).rev() {
            if let Err(e) = fs::write(&path, &old) {
                crate::logger::warn(format!("restore {old:?} to {}: {e}", path.display()));
            }
        }
    }
}

/// `slice:prefix:name` is the systemd driver's form; taken as a path it would make
/// a directory with colons in its name, so without `--systemd-cgroup` it is refused.
fn refuse_systemd_form(path: &Path) -> Result<()> {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() == 3 && !text.starts_with('/') && (parts[0].is_empty() || parts[0].ends_with(".slice")) {
        return Err(Error::invalid(format!(
            "linux.cgroupsPath {text:?} is in the systemd driver's slice:prefix:name form: pass \
             --systemd-cgroup for it, or use a cgroupfs path such as /anchor/<id>"
        )));
    }
    Ok(())
}

/// Removes a cgroup directory that may still hold processes or child cgroups (a
/// container running systemd or its own containers makes some): children first, the
/// processes killed, the removal retried until the kernel has released them.
pub fn remove_dir(dir: &Path) -> Result<()> {
    // Mostly the container's processes are gone with its PID namespace and there
    // are no children: one rmdir does it.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    // cgroup v2 (5.14+) kills the whole subtree in one write, processes that are
    // forking included; the loop below still catches what it does not.
    if dir.join("cgroup.kill").exists() {
        let _ = fs::write(dir.join("cgroup.kill"), "1");
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for child in entries.filter_map(|e| e.ok()).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            remove_dir(&child.path())?;
        }
    }
    for attempt in 0..200 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 199 => {
                for pid in read_pids(dir) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => {
                let left = read_pids(dir);
                return Err(Error::invalid(format!(
                    "remove cgroup {}: {e}; processes still inside: {left:?}",
                    dir.display()
                )));
            }
        }
    }
    unreachable!("the loop returns on its last attempt")
}

/// SIGKILLs every process in the container's cgroups, children included, as runc
/// does for a container without a PID namespace of its own: in one write where
/// cgroup v2 has cgroup.kill (5.14+), else frozen first so that none can fork
/// meanwhile, then thawed so the signals take effect.
pub fn kill_all(dirs: &[PathBuf]) {
    if let Some(v2) = dirs.iter().find(|d| d.join("cgroup.kill").exists()) {
        if fs::write(v2.join("cgroup.kill"), "1").is_ok() {
            return;
        }
    }
    let freezer = Freezer::find(dirs);
    if let Some(f) = &freezer {
        let _ = f.set(true);
    }
    for pid in pids_of(dirs) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    if let Some(f) = &freezer {
        let _ = f.set(false);
    }
}

/// Every process of a container, from its cgroup directories: every v1 hierarchy
/// (and the cgroup2 tree) holds all of them, so the first one is enough.
pub fn pids_of(dirs: &[PathBuf]) -> Vec<i32> {
    dirs.first().map(|d| pids_recursive(d)).unwrap_or_default()
}

/// Every process in a cgroup and its descendants, once each.
pub fn pids_recursive(dir: &Path) -> Vec<i32> {
    let mut pids = read_pids(dir);
    if let Ok(entries) = fs::read_dir(dir) {
        for child in entries.filter_map(|e| e.ok()).filter(|e| e.file_type().is_ok_and(|t| t.is_dir())) {
            pids.extend(pids_recursive(&child.path()));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// A container's freezer: v1's freezer.state where that controller is mounted,
/// else cgroup2's cgroup.freeze.
pub enum Freezer {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freezer {
    pub fn find(dirs: &[PathBuf]) -> Option<Self> {
        let v1 = dirs.iter().find(|d| d.join("freezer.state").exists()).cloned().map(Freezer::V1);
        v1.or_else(|| dirs.iter().find(|d| d.join("cgroup.freeze").exists()).cloned().map(Freezer::V2))
    }

    /// The cgroup directory the freezer acts on.
    pub fn dir(&self) -> &Path {
        match self {
            Freezer::V1(d) | Freezer::V2(d) => d,
        }
    }

    pub fn is_frozen(&self) -> bool {
        let read = |d: &Path, f: &str| read_value(d, f).unwrap_or_default();
        match self {
            Freezer::V1(d) => read(d, "freezer.state") == "FROZEN",
            Freezer::V2(d) => read(d, "cgroup.freeze") == "1",
        }
    }

    /// Freezes or thaws, and waits until the kernel reports it done.
    pub fn set(&self, frozen: bool) -> Result<()> {
        let (dir, file, value) = match self {
            Freezer::V1(d) => (d, "freezer.state", if frozen { "FROZEN" } else { "THAWED" }),
            Freezer::V2(d) => (d, "cgroup.freeze", if frozen { "1" } else { "0" }),
        };
        write(dir, file, value)?;
        for _ in 0..1000 {
            let done = match self {
                Freezer::V1(d) => crate::small_file::read_to_string(d.join("freezer.state"))
                    .is_ok_and(|s| s.trim() == value),
                Freezer::V2(d) => crate::small_file::read_to_string(d.join("cgroup.events"))
                    .is_ok_and(|s| s.lines().any(|l| l == format!("frozen {value}"))),
            };
            if done {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Err(Error::invalid(format!("{} did not reach {value}", dir.join(file).display())))
    }
}

/// PIDs listed in a cgroup directory's cgroup.procs.
pub fn read_pids(dir: &Path) -> Vec<i32> {
    crate::small_file::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// `exec`: the new process (`pid`) into the container's cgroup `dir`. Where the kernel
/// refuses a cgroup2 directory with EBUSY (the container enabled a domain controller
/// in it, so it may hold no process itself), the process joins the cgroup below it
/// that the container moved its init into, as runc does, if `init` is given.
pub fn join_for_exec(dir: &Path, pid: i32, init: Option<i32>) -> Result<()> {
    // runc's words, which its tests match.
    let step = |procs: &Path| format!("adding pid {pid} to cgroups: write {}", procs.display());
    let procs = dir.join("cgroup.procs");
    match fs::write(&procs, pid.to_string()) {
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            match init.and_then(|init| init_cgroup2_dir(dir, init)) {
                Some(init_dir) => {
                    let theirs = init_dir.join("cgroup.procs");
                    fs::write(&theirs, pid.to_string()).ctx(|| step(&theirs))
                }
                None => Err(e).ctx(|| step(&procs)),
            }
        }
        r => r.ctx(|| step(&procs)),
    }
}

/// The cgroup2 directory init is in, if it lies below `dir`.
fn init_cgroup2_dir(dir: &Path, init: i32) -> Option<PathBuf> {
    let text = crate::small_file::read_to_string(format!("/proc/{init}/cgroup")).ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    let tree = hierarchies().ok()?.into_iter().find(|h| h.v2 && dir.starts_with(&h.mount_point))?;
    let init_dir = below(&tree.mount_point, Path::new(path));
    (init_dir != dir && init_dir.starts_with(dir)).then_some(init_dir)
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    let step = || format!("write {value:?} to {}", path.display());
    let mut f = fs::OpenOptions::new().write(true).open(&path).ctx(step)?;
    // A keyed file (io.max) takes one entry per write: a value of several lines (a
    // `unified` one) goes line by line, as runc writes it.
    for line in value.split_inclusive('\n') {
        std::io::Write::write_all(&mut f, line.as_bytes()).ctx(step)?;
    }
    Ok(())
}

/// A cgroup file's content, trimmed.
pub fn read_value(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    crate::small_file::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .ctx(|| format!("read {}", path.display()))
}

/// On v2, a controller is only usable in a child when every ancestor enables it in
/// `cgroup.subtree_control`.
fn enable_controllers(root: &Path, dir: &Path, controllers: &[String]) -> Result<()> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    let ancestors =
        std::iter::once(None).chain(rel.parent().into_iter().flat_map(|p| p.components()).map(Some));
    for comp in ancestors {
        if let Some(comp) = comp {
            cur.push(comp);
            fs::create_dir_all(&cur).ctx(|| format!("create cgroup {}", cur.display()))?;
        }
        let enabled = read_value(&cur, "cgroup.subtree_control").unwrap_or_default();
        for c in controllers.iter().filter(|c| !enabled.split_whitespace().any(|e| e == c.as_str())) {
            // One at a time: a controller the kernel lists but cannot delegate here
            // must not keep the others off. A limit that needs it reports its own error.
            if let Err(e) = write(&cur, "cgroup.subtree_control", &format!("+{c}")) {
                crate::logger::debug(format!("enable {c} in {}: {e}", cur.display()));
            }
        }
    }
    Ok(())
}

/// A v1 cpuset cgroup starts with empty cpus and mems, and a task cannot join it
/// until they are set: copy them down from the nearest ancestor that has them.
fn inherit_cpuset(root: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        // Up from the container's directory to the first level that has a value,
        // then that value down into each empty level on the way.
        let mut empty = Vec::new();
        let mut levels = dir.ancestors().take_while(|d| d.starts_with(root));
        let value = loop {
            let Some(level) = levels.next() else {
                return Err(Error::invalid(format!("no cgroup above {} has {file} set", dir.display())));
            };
            match read_value(level, file)? {
                v if v.is_empty() => empty.push(level),
                v => break v,
            }
        };
        for level in empty.iter().rev() {
            write(level, file, &value)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// runc's spec: a user namespace mapping 0 to 100000, a cgroup namespace, and
    /// /sys/fs/cgroup with `options`.
    fn delegation_spec(options: &str) -> oci_spec::runtime::Spec {
        let json = format!(
            r#"{{"ociVersion": "1.2.0", "root": {{"path": "rootfs"}},
                "process": {{"cwd": "/", "args": ["sh"], "user": {{"uid": 0, "gid": 0}}}},
                "mounts": [{{"destination": "/sys/fs/cgroup/", "type": "cgroup", "source": "cgroup", "options": [{options}]}}],
                "linux": {{"namespaces": [{{"type": "user"}}, {{"type": "cgroup"}}],
                           "uidMappings": [{{"containerID": 0, "hostID": 100000, "size": 65536}}],
                           "gidMappings": [{{"containerID": 0, "hostID": 100000, "size": 65536}}]}}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_cgroup_is_delegated_only_with_a_cgroup_namespace_and_a_writable_cgroupfs() {
        assert_eq!(delegation_owner(&delegation_spec(r#""nosuid", "rw""#)), Some(100000));
        assert_eq!(
            delegation_owner(&delegation_spec(r#""ro", "rw""#)),
            Some(100000),
            "the last of ro/rw counts"
        );
        assert_eq!(delegation_owner(&delegation_spec(r#""nosuid", "ro""#)), None);
        assert_eq!(delegation_owner(&delegation_spec(r#""rw", "ro""#)), None);
        let mut spec = delegation_spec(r#""rw""#);
        let mut process = spec.process().clone().unwrap();
        let mut user = process.user().clone();
        user.set_uid(1000);
        process.set_user(user);
        spec.set_process(Some(process));
        assert_eq!(delegation_owner(&spec), Some(101000), "the process's UID, mapped");
        // A joined cgroup namespace, or none, is not the container's own.
        let mut joined = delegation_spec(r#""rw""#);
        let mut linux = joined.linux().clone().unwrap();
        let namespaces: Vec<_> = linux.namespaces().clone().unwrap().into_iter().take(1).collect();
        linux.set_namespaces(Some(namespaces));
        joined.set_linux(Some(linux));
        assert_eq!(delegation_owner(&joined), None);
    }

    #[test]
    fn systemd_paths_are_refused_and_plain_ones_are_not() {
        assert!(refuse_systemd_form(Path::new("system.slice:docker:abc"))
            .unwrap_err()
            .to_string()
            .contains("systemd"));
        assert!(refuse_systemd_form(Path::new(":anchor:abc")).is_err());
        assert!(refuse_systemd_form(Path::new("/a:b:c")).is_ok());
        assert!(refuse_systemd_form(Path::new("pods/abc")).is_ok());
    }

    #[test]
    fn this_host_has_hierarchies_and_a_plan_stays_under_them() {
        let cg = Cgroup::plan(Some(Path::new("/anchor-unit/x")), "x", None).unwrap();
        for (h, dir) in &cg.dirs {
            assert!(dir.starts_with(&h.mount_point));
            assert!(dir.ends_with("anchor-unit/x"));
        }
        assert!(Cgroup::plan(Some(Path::new("/a/../../etc")), "x", None).is_err());
    }
}
