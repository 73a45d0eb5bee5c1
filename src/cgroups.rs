//! Basic cgroup placement on every layout: pure v2, v1, and hybrid (v1 controllers
//! plus a cgroup2 tree at /sys/fs/cgroup/unified). The container gets one directory
//! per hierarchy at `linux.cgroupsPath`, init joins it before it does any work, the
//! memory, pids and cpu limits are written, and `delete` removes it.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::LinuxResources;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// Controllers for v1 (`cpu`, `name=systemd`); empty for the cgroup2 tree.
    pub controllers: Vec<String>,
    pub v2: bool,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        if self.v2 {
            fs::read_to_string(self.mount_point.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|x| x == controller))
        } else {
            self.controllers.iter().any(|c| c == controller)
        }
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
    let info = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    let mut found = Vec::new();
    for line in info.lines() {
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = PathBuf::from(left.split(' ').nth(4).unwrap_or(""));
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let super_opts = r.nth(1).unwrap_or("");
        if !mount_point.starts_with(CGROUP_ROOT) {
            continue;
        }
        match fstype {
            "cgroup2" => found.push(Hierarchy { mount_point, controllers: vec![], v2: true }),
            "cgroup" => {
                let controllers = super_opts
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

/// The runtime's own cgroup in one hierarchy, from /proc/self/cgroup, for relative
/// `cgroupsPath` values (runc interprets them relative to its own cgroup).
fn own_cgroup(h: &Hierarchy) -> PathBuf {
    let data = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for line in data.lines() {
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

/// Whether writing resources also (re)writes the device rules.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Devices {
    Apply,
    Keep,
}

/// A container's cgroup: one directory per hierarchy.
#[derive(Clone, Debug)]
pub struct Cgroup {
    pub dirs: Vec<(Hierarchy, PathBuf)>,
}

impl Cgroup {
    /// Works out the directories (without creating anything), so they can be recorded
    /// in the state before they exist.
    pub fn plan(cgroups_path: Option<&Path>, id: &str) -> Result<Self> {
        let default = PathBuf::from("/anchor").join(id);
        let path = cgroups_path.unwrap_or(&default);
        if path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(Error::invalid(format!("linux.cgroupsPath {} must not contain ..", path.display())));
        }
        let dirs = hierarchies()?
            .into_iter()
            .map(|h| {
                let full = if path.is_absolute() { path.to_path_buf() } else { own_cgroup(&h).join(path) };
                let dir = h.mount_point.join(full.strip_prefix("/").unwrap_or(&full));
                (h, dir)
            })
            .collect();
        Ok(Cgroup { dirs })
    }

    /// A cgroup that already holds processes belongs to someone else: adopting it
    /// would have `delete` (or a failed create's cleanup) kill them. runc 1.2 refuses
    /// it too. Checked before the directories are recorded as the container's.
    pub fn check_unoccupied(&self) -> Result<()> {
        for (_, dir) in &self.dirs {
            let occupied = pids_recursive(dir);
            if !occupied.is_empty() {
                return Err(Error::invalid(format!(
                    "cgroup {} already holds processes {occupied:?}: refusing to share it",
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

    /// Creates the directories and writes the limits; `pid` joins afterwards, so it
    /// never runs unconstrained.
    pub fn create(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let pure_v2 = self.is_pure_v2();
        for (h, dir) in &self.dirs {
            // On a hybrid host the cgroup2 tree is only joined: enabling its controllers
            // would pin them to v2 and break v1 users of them (crun mounts hugetlb there).
            if pure_v2 {
                enable_controllers(&h.mount_point, dir)?;
            }
            fs::create_dir_all(dir).ctx(|| format!("create cgroup {}", dir.display()))?;
            if h.has("cpuset") && !h.v2 {
                inherit_cpuset(&h.mount_point, dir)?;
            }
        }
        if pure_v2 {
            crate::logger::warn(
                "cgroup v2: device rules are not enforced yet (the eBPF device filter is not written); \
                 the container's device access is limited only by its capabilities",
            );
        }
        let no_resources = LinuxResources::default();
        self.apply(resources.unwrap_or(&no_resources), Devices::Apply)
    }

    pub fn add(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.dirs {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// `update`: new limits for a live container. Device rules stay as create set
    /// them (runc's update does not touch them either).
    pub fn update(&self, r: &LinuxResources) -> Result<()> {
        self.apply(r, Devices::Keep)
    }

    /// The container's cgroup from the directories its state recorded.
    pub fn from_dirs(dirs: &[PathBuf]) -> Result<Self> {
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
        Ok(Cgroup { dirs })
    }

    fn apply(&self, r: &LinuxResources, devices: Devices) -> Result<()> {
        for (h, dir) in &self.dirs {
            if let Some(mem) = r.memory() {
                if let Some(limit) = mem.limit() {
                    if h.v2 && h.has("memory") {
                        write(dir, "memory.max", &v2_max(limit))?;
                    } else if h.has("memory") {
                        write(dir, "memory.limit_in_bytes", &limit.to_string())?;
                    }
                }
            }
            if let Some(pids) = r.pids() {
                if h.has("pids") {
                    write(dir, "pids.max", &v2_max(pids.limit()))?;
                }
            }
            if let Some(cpu) = r.cpu() {
                self.apply_cpu(h, dir, cpu)?;
            }
            // The device rules apply even when the config has none: the defaults
            // always hold. (cgroup v2 needs an eBPF program, not written yet.)
            if devices == Devices::Apply && h.has("devices") && !h.v2 {
                apply_v1_devices(dir, r.devices().as_deref().unwrap_or(&[]))?;
            }
        }
        Ok(())
    }

    fn apply_cpu(&self, h: &Hierarchy, dir: &Path, cpu: &oci_spec::runtime::LinuxCpu) -> Result<()> {
        if h.v2 {
            if let (Some(shares), true) = (cpu.shares(), h.has("cpu")) {
                write(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
            }
            if h.has("cpu") && (cpu.quota().is_some() || cpu.period().is_some()) {
                let quota = cpu.quota().filter(|q| *q > 0).map_or("max".into(), |q| q.to_string());
                write(dir, "cpu.max", &format!("{quota} {}", cpu.period().unwrap_or(100_000)))?;
            }
        } else if h.has("cpu") {
            if let Some(shares) = cpu.shares() {
                write(dir, "cpu.shares", &shares.to_string())?;
            }
            if let Some(period) = cpu.period() {
                write(dir, "cpu.cfs_period_us", &period.to_string())?;
            }
            if let Some(quota) = cpu.quota() {
                write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
            }
        }
        if h.has("cpuset") {
            if let Some(cpus) = cpu.cpus() {
                write(dir, "cpuset.cpus", cpus)?;
            }
            if let Some(mems) = cpu.mems() {
                write(dir, "cpuset.mems", mems)?;
            }
        }
        Ok(())
    }
}

/// Removes a cgroup directory that may still hold processes or child cgroups (a
/// container running systemd or its own containers makes some): children first, the
/// processes killed, the removal retried until the kernel has released them.
pub fn remove_dir(dir: &Path) -> Result<()> {
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

    pub fn is_frozen(&self) -> bool {
        let read = |d: &Path, f: &str| fs::read_to_string(d.join(f)).unwrap_or_default().trim().to_string();
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
                Freezer::V1(d) => {
                    fs::read_to_string(d.join("freezer.state")).is_ok_and(|s| s.trim() == value)
                }
                Freezer::V2(d) => fs::read_to_string(d.join("cgroup.events"))
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
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).ctx(|| format!("write {value:?} to {}", path.display()))
}

fn v2_max(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), the conversion runc and crun use.
fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}

/// On v2, a controller is only usable in a child when every ancestor enables it in
/// `cgroup.subtree_control`.
fn enable_controllers(root: &Path, dir: &Path) -> Result<()> {
    let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let enable: String = available.split_whitespace().map(|c| format!("+{c} ")).collect();
    if enable.is_empty() {
        return Ok(());
    }
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    for comp in rel.parent().into_iter().flat_map(|p| p.components()) {
        fs::create_dir_all(&cur).ctx(|| format!("create cgroup {}", cur.display()))?;
        let _ = fs::write(cur.join("cgroup.subtree_control"), enable.trim());
        cur.push(comp);
    }
    fs::create_dir_all(&cur).ctx(|| format!("create cgroup {}", cur.display()))?;
    write(&cur, "cgroup.subtree_control", enable.trim()).or_else(|e| {
        // The root may refuse controllers the kernel lists but cannot delegate; the
        // limits that need them report their own errors.
        crate::logger::debug(format!("enable controllers in {}: {e}", cur.display()));
        Ok(())
    })
}

/// A v1 cpuset cgroup starts with empty cpus and mems, and a task cannot join it
/// until they are set: copy them down from the nearest ancestor that has them.
fn inherit_cpuset(root: &Path, dir: &Path) -> Result<()> {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let mut cur = root.to_path_buf();
    for comp in rel.components() {
        let parent = cur.clone();
        cur.push(comp);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let mine = fs::read_to_string(cur.join(file)).unwrap_or_default();
            if mine.trim().is_empty() {
                let theirs = fs::read_to_string(parent.join(file))
                    .ctx(|| format!("read {}", parent.join(file).display()))?;
                write(&cur, file, theirs.trim())?;
            }
        }
    }
    Ok(())
}

/// Devices every container may use, whatever the config says (runc's list): mknod of
/// any node, and the standard character devices and ptys.
const DEFAULT_DEVICE_RULES: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
];

fn apply_v1_devices(dir: &Path, rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Result<()> {
    write(dir, "devices.deny", "a")?;
    for rule in rules {
        let typ = rule.typ().map_or("a".to_string(), |t| t.as_str().to_string());
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        let line = if typ == "a" {
            "a".to_string()
        } else {
            format!(
                "{typ} {}:{} {}",
                num(rule.major()),
                num(rule.minor()),
                rule.access().as_deref().unwrap_or("rwm")
            )
        };
        write(dir, if rule.allow() { "devices.allow" } else { "devices.deny" }, &line)?;
    }
    for rule in DEFAULT_DEVICE_RULES {
        write(dir, "devices.allow", rule)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_convert_to_weight_at_the_ends_and_the_default() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 39);
    }

    #[test]
    fn this_host_has_hierarchies_and_a_plan_stays_under_them() {
        let cg = Cgroup::plan(Some(Path::new("/anchor-unit/x")), "x").unwrap();
        for (h, dir) in &cg.dirs {
            assert!(dir.starts_with(&h.mount_point));
            assert!(dir.ends_with("anchor-unit/x"));
        }
        assert!(Cgroup::plan(Some(Path::new("/a/../../etc")), "x").is_err());
    }
}
