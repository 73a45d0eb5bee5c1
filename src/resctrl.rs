//! `linux.intelRdt`: the container's share of the L3 cache and memory bandwidth
//! (Intel RDT, AMD's PQoS), set through the kernel's resctrl filesystem. A group
//! (a directory of the filesystem) has a `schemata` file with the allocation and a
//! `tasks` file; the container's processes go into the group its `closID` names, or
//! into one named after the container, which the runtime then makes and removes.
//! `enableMonitoring` adds a monitoring group `mon_groups/<id>` below it, whose
//! counters (cache occupancy, bandwidth) are the container's alone.
//!
//! As the runtime-spec says: a schema given for a group that exists already must
//! match what the group has (the group is shared, and others rely on it); a
//! `closID` with no schema must name a group someone prepared; without a resctrl
//! filesystem mounted, a config asking for it is an error.

use crate::error::{quoted, Context, Error, Result};
use oci_spec::runtime::LinuxIntelRdt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// `RDTGROUP_SUPER_MAGIC`.
const RESCTRL_MAGIC: i64 = 0x0765_5821;
const DEFAULT_MOUNT: &str = "/sys/fs/resctrl";

/// The container's resctrl groups, recorded in its state before they are made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Groups {
    /// The control group the container's processes go into.
    pub group: PathBuf,
    /// Whether `group` is the container's own (no closID), to remove at delete.
    pub own_group: bool,
    /// `group/mon_groups/<id>` with `enableMonitoring`.
    pub monitor: Option<PathBuf>,
    /// The lines to write to `group/schemata` (none: the group's stay as they are).
    #[serde(skip)]
    pub schemata: Vec<String>,
}

/// The schemata lines the config asks for, in the spec's order: l3CacheSchema,
/// memBwSchema, then `schemata`.
fn schemata_lines(rdt: &LinuxIntelRdt) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let single = [("l3CacheSchema", rdt.l3_cache_schema()), ("memBwSchema", rdt.mem_bw_schema())];
    for (field, value) in single {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            lines.push((field, v.to_string()));
        }
    }
    lines.extend(rdt.schemata().iter().flatten().map(|line| ("schemata", line.clone())));
    for (field, line) in &lines {
        if line.contains('\n') {
            return Err(Error::invalid(format!(
                "linux.intelRdt.{field} {}: must not contain newlines",
                quoted(line)
            )));
        }
        if *field == "memBwSchema" && !line.starts_with("MB:") {
            return Err(Error::invalid(format!(
                "linux.intelRdt.memBwSchema {}: must start with \"MB:\"",
                quoted(line)
            )));
        }
    }
    Ok(lines.into_iter().map(|(_, l)| l).collect())
}

/// Works out the groups for a config (nothing is made yet), and checks everything
/// that can be checked before: the filesystem, the closID, the schemata, an
/// existing group's allocation.
pub fn plan(rdt: &LinuxIntelRdt, id: &str) -> Result<Groups> {
    let root = mount_point()?;
    plan_in(&root, rdt, id)
}

/// `plan` on a resctrl filesystem at `root`.
fn plan_in(root: &Path, rdt: &LinuxIntelRdt, id: &str) -> Result<Groups> {
    let schemata = schemata_lines(rdt)?;
    let clos = rdt.clos_id().as_deref().filter(|c| !c.is_empty());
    let group = match clos {
        None => root.join(id),
        Some("/") => root.to_path_buf(),
        Some(c)
            if c.contains('/')
                || c == "."
                || c == ".."
                || c == "info"
                || c == "mon_groups"
                || c == "mon_data" =>
        {
            return Err(Error::invalid(format!(
                "linux.intelRdt.closID {}: not a resctrl group name (\"/\" is the default group)",
                quoted(c)
            )))
        }
        Some(c) => root.join(c),
    };
    let exists = group.is_dir();
    match clos {
        // Named after the container: it must be ours, so that delete removes only
        // what this container made.
        None if exists => {
            return Err(Error::invalid(format!(
                "linux.intelRdt: resctrl group {} exists already; give a closID to share a group",
                group.display()
            )))
        }
        Some(c) if !exists && schemata.is_empty() => {
            return Err(Error::invalid(format!(
                "linux.intelRdt.closID {}: no such resctrl group in {}, and no schema to make it with",
                quoted(c),
                root.display()
            )))
        }
        Some(_) if exists && !schemata.is_empty() => check_matches(&group, &schemata)?,
        _ => {}
    }
    let monitor = match rdt.enable_monitoring() {
        Some(true) => Some(group.join("mon_groups").join(id)),
        _ => None,
    };
    // An existing group's allocation is left alone (it matched, or none was given).
    let schemata = if exists { vec![] } else { schemata };
    Ok(Groups { group, own_group: clos.is_none(), monitor, schemata })
}

/// The mount point of the resctrl filesystem: /sys/fs/resctrl, or wherever
/// mountinfo shows one.
fn mount_point() -> Result<PathBuf> {
    if on_resctrl(Path::new(DEFAULT_MOUNT)) {
        return Ok(PathBuf::from(DEFAULT_MOUNT));
    }
    crate::mountinfo::read()?
        .into_iter()
        .find(|m| m.fs_type == "resctrl")
        .map(|m| m.mount_point)
        .ok_or_else(|| {
            Error::invalid(
                "linux.intelRdt: no resctrl filesystem is mounted (mount -t resctrl resctrl /sys/fs/resctrl; it needs a CPU with RDT or PQoS and a kernel with CONFIG_X86_CPU_RESCTRL)",
            )
        })
}

fn on_resctrl(dir: &Path) -> bool {
    nix::sys::statfs::statfs(dir).is_ok_and(|s| s.filesystem_type().0 == RESCTRL_MAGIC)
}

/// A group that exists must already have the asked allocation, per resource and
/// cache id (`L3:0=7f0;1=1f`): the kernel prints every id, in its own number form.
fn check_matches(group: &Path, asked: &[String]) -> Result<()> {
    let file = group.join("schemata");
    let have = crate::small_file::read_to_string(&file).ctx(|| format!("read {}", file.display()))?;
    let have = parse_schemata(&have);
    for (resource, id, value) in asked.iter().flat_map(|l| parse_schemata(l)) {
        let found = have.iter().find(|(r, i, _)| *r == resource && *i == id).map(|(_, _, v)| v.clone());
        if found.as_deref().map(|v| same_value(&resource, v, &value)) != Some(true) {
            return Err(Error::invalid(format!(
                "linux.intelRdt: resctrl group {} has {resource}:{id}={}, not {value} as the config asks",
                group.display(),
                found.as_deref().unwrap_or("nothing")
            )));
        }
    }
    Ok(())
}

/// `(resource, cache id, value)` for each entry of schemata lines.
fn parse_schemata(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((resource, entries)) = line.trim().split_once(':') else { continue };
        for entry in entries.split(';') {
            if let Some((id, value)) = entry.trim().split_once('=') {
                out.push((resource.trim().to_string(), id.trim().to_string(), value.trim().to_string()));
            }
        }
    }
    out
}

/// Cache masks are hex (`00ff` is `ff`); bandwidths decimal.
fn same_value(resource: &str, a: &str, b: &str) -> bool {
    let radix = if resource.starts_with("MB") { 10 } else { 16 };
    match (u64::from_str_radix(a, radix), u64::from_str_radix(b, radix)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

impl Groups {
    /// Makes what the container owns, writes the allocation and puts `pid` (init)
    /// in. Any failure says what the kernel said (resctrl's `info/last_cmd_status`).
    pub fn apply(&self, pid: i32) -> Result<()> {
        if self.own_group || !self.group.exists() {
            std::fs::create_dir(&self.group)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists if !self.own_group => Ok(()),
                    _ => Err(e),
                })
                .map_err(|e| {
                    self.kernel_error(format!("create resctrl group {}", self.group.display()), e)
                })?;
        }
        if !self.schemata.is_empty() {
            let file = self.group.join("schemata");
            let text = self.schemata.join("\n") + "\n";
            std::fs::write(&file, text)
                .map_err(|e| self.kernel_error(format!("write {}", file.display()), e))?;
        }
        if let Some(monitor) = &self.monitor {
            std::fs::create_dir(monitor).map_err(|e| {
                self.kernel_error(format!("create resctrl monitoring group {}", monitor.display()), e)
            })?;
        }
        self.join(pid)
    }

    /// Puts a process of the container (init, an exec'd one) in its groups.
    pub fn join(&self, pid: i32) -> Result<()> {
        for dir in std::iter::once(&self.group).chain(&self.monitor) {
            let tasks = dir.join("tasks");
            std::fs::write(&tasks, pid.to_string())
                .map_err(|e| self.kernel_error(format!("add pid {pid} to {}", tasks.display()), e))?;
        }
        Ok(())
    }

    /// `delete`: the monitoring group, and the group when it is the container's own.
    /// Only directories named after the container: a state edited to name another
    /// group removes nothing.
    pub fn remove(&self, id: &str) -> Result<()> {
        let ours = |dir: &Path| dir.file_name().is_some_and(|n| n == id) && on_resctrl(dir);
        let mut dirs: Vec<&PathBuf> = self.monitor.iter().collect();
        if self.own_group {
            dirs.push(&self.group);
        }
        for dir in dirs.into_iter().filter(|d| ours(d)) {
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).ctx(|| format!("remove resctrl group {}", dir.display()))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The failed step with the kernel's errno and, where resctrl keeps one, its
    /// own explanation (`info/last_cmd_status`, e.g. "Mask out of range").
    fn kernel_error(&self, step: String, e: std::io::Error) -> Error {
        let root = self.group.ancestors().find(|p| p.join("info").is_dir());
        let status = root
            .and_then(|r| crate::small_file::read_to_string(r.join("info/last_cmd_status")).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "ok");
        let step = match status {
            Some(status) => format!("{step} (resctrl: {status})"),
            None => step,
        };
        Err::<(), _>(e).ctx(|| step).unwrap_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory standing in for a resctrl mount (this host has none): the
    /// kernel's own checks (masks, ids) are not exercised here.
    struct FakeRoot(PathBuf);

    impl FakeRoot {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("anchor-resctrl-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("info")).unwrap();
            FakeRoot(dir)
        }

        fn group(&self, name: &str, schemata: &str) {
            std::fs::create_dir_all(self.0.join(name).join("mon_groups")).unwrap();
            std::fs::write(self.0.join(name).join("schemata"), schemata).unwrap();
        }
    }

    impl Drop for FakeRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn rdt(json: &str) -> LinuxIntelRdt {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_group_of_the_containers_own_gets_the_schemata_in_the_specs_order() {
        let root = FakeRoot::new("own");
        let config = rdt(r#"{"l3CacheSchema": "L3:0=f0", "memBwSchema": "MB:0=50",
            "schemata": ["L2:0=3"]}"#);
        let groups = plan_in(&root.0, &config, "c1").unwrap();
        assert_eq!(groups.group, root.0.join("c1"));
        assert!(groups.own_group);
        assert_eq!(groups.monitor, None);
        assert_eq!(groups.schemata, ["L3:0=f0", "MB:0=50", "L2:0=3"]);
        groups.apply(42).unwrap_or_else(|e| panic!("{e}"));
        let read = |p: &str| std::fs::read_to_string(root.0.join(p)).unwrap();
        assert_eq!(read("c1/schemata"), "L3:0=f0\nMB:0=50\nL2:0=3\n");
        assert_eq!(read("c1/tasks"), "42");
        // Monitoring: a group of the container's own below the control group (made
        // by the kernel with mon_groups in it; the stand-in's is made by hand).
        root.group("gold", "L3:0=ff\n");
        let groups = plan_in(&root.0, &rdt(r#"{"closID": "gold", "enableMonitoring": true}"#), "c2").unwrap();
        assert_eq!(groups.monitor, Some(root.0.join("gold/mon_groups/c2")));
        groups.apply(43).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read("gold/tasks"), "43");
        assert_eq!(read("gold/mon_groups/c2/tasks"), "43");
        assert_eq!(read("gold/schemata"), "L3:0=ff\n", "a shared group's allocation is left alone");
        // Planned again with the group there: it is not this container's to take.
        let e = plan_in(&root.0, &config, "c1").unwrap_err().to_string();
        assert!(e.contains("exists already"), "{e}");
    }

    #[test]
    fn a_shared_group_must_exist_or_be_made_and_match_what_is_asked() {
        let root = FakeRoot::new("shared");
        root.group("gold", "    L3:0=00f0;1=ff\n    MB:0=050;1=100\n");
        // Same allocation in the kernel's spelling (leading zeros, every cache id).
        let groups = plan_in(
            &root.0,
            &rdt(r#"{"closID": "gold", "l3CacheSchema": "L3:0=f0", "memBwSchema": "MB:0=50"}"#),
            "c",
        )
        .unwrap();
        assert_eq!((groups.group.clone(), groups.own_group), (root.0.join("gold"), false));
        assert!(groups.schemata.is_empty(), "a group that exists keeps its schemata file");
        let e = plan_in(&root.0, &rdt(r#"{"closID": "gold", "schemata": ["L3:1=f"]}"#), "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("has L3:1=ff, not f"), "{e}");
        // No schema: the group must have been prepared.
        plan_in(&root.0, &rdt(r#"{"closID": "gold"}"#), "c").unwrap();
        let e = plan_in(&root.0, &rdt(r#"{"closID": "silver"}"#), "c").unwrap_err().to_string();
        assert!(e.contains("no such resctrl group") && e.contains("\"silver\""), "{e}");
        // With one, it is made, and left at delete.
        let groups =
            plan_in(&root.0, &rdt(r#"{"closID": "silver", "l3CacheSchema": "L3:0=3"}"#), "c").unwrap();
        assert_eq!(groups.schemata, ["L3:0=3"]);
        assert!(!groups.own_group);
        assert_eq!(plan_in(&root.0, &rdt(r#"{"closID": "/"}"#), "c").unwrap().group, root.0);
    }

    #[test]
    fn bad_fields_are_refused_by_name() {
        let root = FakeRoot::new("bad");
        for (json, words) in [
            (r#"{"closID": "a/b"}"#, "not a resctrl group name"),
            (r#"{"closID": "info"}"#, "not a resctrl group name"),
            (r#"{"memBwSchema": "L3:0=f"}"#, "must start with \"MB:\""),
            (r#"{"schemata": ["L3:0=f\nMB:0=1"]}"#, "must not contain newlines"),
        ] {
            let e = plan_in(&root.0, &rdt(json), "c").unwrap_err().to_string();
            assert!(e.contains(words), "{json}: {e}");
        }
    }

    #[test]
    fn delete_removes_only_groups_on_a_resctrl_filesystem_named_after_the_container() {
        let root = FakeRoot::new("remove");
        root.group("c", "");
        let groups = Groups { group: root.0.join("c"), own_group: true, monitor: None, schemata: vec![] };
        groups.remove("c").unwrap();
        assert!(root.0.join("c").is_dir(), "a directory that is not on resctrl stays");
    }

    #[test]
    fn the_group_is_on_the_mounted_resctrl_or_the_error_says_how_to_get_one() {
        match plan(&rdt("{}"), "anchor-unit-test") {
            Ok(groups) => assert!(on_resctrl(groups.group.parent().unwrap()), "{groups:?}"),
            Err(e) => assert!(e.to_string().contains("no resctrl filesystem is mounted"), "{e}"),
        }
        assert_eq!(
            crate::mountinfo::read().unwrap().iter().any(|m| m.fs_type == "resctrl"),
            plan(&rdt("{}"), "x").is_ok()
        );
    }
}
