//! Loading and checking a bundle's config.json. Everything that can be known to be
//! wrong before anything is created is rejected here, so a bad bundle leaves nothing
//! behind.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The runtime-spec version this runtime implements and reports.
pub const SPEC_VERSION: &str = "1.3.0";
/// Oldest spec version accepted in config.json.
pub const SPEC_VERSION_MIN: &str = "1.0.0";

/// A validated bundle: the parsed spec and the absolute paths it refers to.
pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub spec: Spec,
}

impl Bundle {
    /// Reads and checks the bundle's config.json and its rootfs.
    pub fn load(dir: &Path) -> Result<Self> {
        let bundle = Bundle::read(dir)?;
        bundle.validate()?;
        Ok(bundle)
    }

    /// Reads the bundle without the checks of `validate`, for a caller that edits the
    /// configuration first (CDI).
    pub fn read(dir: &Path) -> Result<Self> {
        let dir = std::fs::canonicalize(dir)
            .map_err(|e| Error::invalid(format!("bundle {}: {e}", dir.display())))?;
        let config = dir.join("config.json");
        let data = crate::small_file::read_regular(&config)
            .map_err(|e| Error::invalid(format!("read {}: {e}", config.display())))?;
        let mut spec =
            parse_spec(&data).map_err(|e| Error::invalid(format!("parse {}: {e}", config.display())))?;
        check_version(spec.version())?;
        drop_empty_namespace_paths(&mut spec);
        let root = spec.root().as_ref().ok_or_else(|| Error::invalid("config.json has no root"))?;
        let given = dir.join(root.path());
        let rootfs = std::fs::canonicalize(&given)
            .map_err(|e| Error::invalid(format!("rootfs {}: {e}", given.display())))?;
        if !rootfs.is_dir() {
            return Err(Error::invalid(format!("rootfs {} is not a directory", rootfs.display())));
        }
        anchor_mount_destinations(&mut spec, &[&given, &rootfs]);
        Ok(Bundle { dir, rootfs, spec })
    }

    pub fn validate(&self) -> Result<()> {
        let process =
            self.spec.process().as_ref().ok_or_else(|| Error::invalid("config.json has no process"))?;
        if process.args().as_ref().is_none_or(|a| a.is_empty()) {
            return Err(Error::invalid("process.args must name the program to run"));
        }
        if !process.cwd().is_absolute() {
            return Err(Error::invalid(format!(
                "process.cwd {} must be an absolute path",
                process.cwd().display()
            )));
        }
        let namespaces = self.namespace_types()?;
        // Without a mount namespace the container shares the runtime's, as the spec
        // says; masking or making read-only a path there would do it to the host
        // (runc refuses it too, with these words).
        let linux = self.spec.linux().as_ref();
        let restricts = |paths: Option<&Vec<String>>| paths.is_some_and(|p| !p.is_empty());
        if !namespaces.contains(&LinuxNamespaceType::Mount)
            && (restricts(linux.and_then(|l| l.masked_paths().as_ref()))
                || restricts(linux.and_then(|l| l.readonly_paths().as_ref())))
        {
            return Err(Error::invalid(
                "unable to restrict sys entries without a private MNT namespace: linux.maskedPaths and \
                 linux.readonlyPaths need a mount namespace",
            ));
        }
        let names = [("hostname", self.spec.hostname()), ("domainname", self.spec.domainname())];
        for (field, value) in names {
            if value.as_ref().is_some_and(|v| !v.is_empty()) && !namespaces.contains(&LinuxNamespaceType::Uts)
            {
                return Err(Error::invalid(format!(
                    "{field} is set but linux.namespaces has no UTS namespace: it would change the host's"
                )));
            }
        }
        for name in self.sysctls().keys() {
            check_sysctl(name, &namespaces)?;
        }
        crate::lsm::check_spec(&self.spec, process)?;
        crate::cpu_affinity::of(process)?;
        if let Some(policy) = linux.and_then(|l| l.memory_policy().as_ref()) {
            crate::memory_policy::MemoryPolicy::from_config(policy)?;
        }
        if let Some(personality) = linux.and_then(|l| l.personality().as_ref()) {
            crate::personality::value(personality)?;
        }
        crate::net_devices::check(&self.spec)?;
        Self::check_priorities(process)?;
        crate::rootfs::root_propagation(&self.spec)?;
        for mount in self.spec.mounts().iter().flatten() {
            check_proc_mount(mount, &self.dir)?;
        }
        self.check_hook_paths()
    }

    /// The spec requires hooks to name their program by absolute path. runc runs a
    /// relative one from its own working directory (and a bare name from PATH): the
    /// caller's, which a hook must never depend on. Refused, naming the hook.
    fn check_hook_paths(&self) -> Result<()> {
        let Some(hooks) = self.spec.hooks() else { return Ok(()) };
        let kinds = [
            ("prestart", hooks.prestart()),
            ("createRuntime", hooks.create_runtime()),
            ("createContainer", hooks.create_container()),
            ("startContainer", hooks.start_container()),
            ("poststart", hooks.poststart()),
            ("poststop", hooks.poststop()),
        ];
        for (kind, list) in kinds {
            for (i, hook) in list.iter().flatten().enumerate() {
                if !hook.path().is_absolute() {
                    return Err(Error::invalid(format!(
                        "hooks.{kind}[{i}].path {:?} must be an absolute path",
                        hook.path()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Values the kernel would only refuse at `start`, refused by `create` instead.
    fn check_priorities(process: &oci_spec::runtime::Process) -> Result<()> {
        if let Some(io) = process.io_priority().as_ref().filter(|io| !(0..=7).contains(&io.priority())) {
            return Err(Error::invalid(format!(
                "process.ioPriority.priority {} is outside 0 to 7",
                io.priority()
            )));
        }
        let sched_priority = process.scheduler().as_ref().and_then(|s| *s.priority()).unwrap_or(0);
        if sched_priority < 0 {
            return Err(Error::invalid(format!("process.scheduler.priority {sched_priority} is negative")));
        }
        Ok(())
    }

    /// Namespace types the container gets (new or joined); duplicates are an error.
    pub fn namespace_types(&self) -> Result<HashSet<LinuxNamespaceType>> {
        let mut seen = HashSet::new();
        for ns in self.spec.linux().as_ref().and_then(|l| l.namespaces().as_ref()).into_iter().flatten() {
            if !seen.insert(ns.typ()) {
                return Err(Error::invalid(format!("namespace {} is listed twice", ns.typ())));
            }
        }
        Ok(seen)
    }

    /// The host uid and gid that the container's root maps to (the caller's own when
    /// the container has no user namespace mappings).
    pub fn container_root_on_host(&self) -> (u32, u32) {
        let linux = self.spec.linux().as_ref();
        let host_of = |maps: Option<&Vec<oci_spec::runtime::LinuxIdMapping>>, own: u32| {
            maps.into_iter().flatten().find(|m| m.container_id() == 0).map_or(own, |m| m.host_id())
        };
        (
            host_of(linux.and_then(|l| l.uid_mappings().as_ref()), nix::unistd::geteuid().as_raw()),
            host_of(linux.and_then(|l| l.gid_mappings().as_ref()), nix::unistd::getegid().as_raw()),
        )
    }

    pub fn sysctls(&self) -> std::collections::HashMap<String, String> {
        self.spec.linux().as_ref().and_then(|l| l.sysctl().clone()).unwrap_or_default()
    }
}

/// config.json's text as oci-spec's `Spec`. What oci-spec cannot read but runc takes
/// is mended first (`mend_process`, `mend_hugepage_limits`); that costs a second
/// parse only for a config that needs it.
pub fn parse_spec(data: &[u8]) -> std::result::Result<Spec, String> {
    let first = serde_json::from_slice::<Spec>(data);
    if first.as_ref().is_ok_and(|spec| !lacks_hugepage_size(spec)) {
        return first.map_err(|e| e.to_string());
    }
    let mut config: serde_json::Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let mended = config.get_mut("process").is_some_and(mend_process) | mend_hugepage_limits(&mut config);
    if !mended {
        return first.map_err(|e| e.to_string());
    }
    serde_json::from_value(config).map_err(|e| e.to_string())
}

/// A hugepage limit that oci-spec read without a page size: its key may be spelt
/// in another case, which runc (Go's JSON) still takes.
fn lacks_hugepage_size(spec: &Spec) -> bool {
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    let limits = resources.and_then(|r| r.hugepage_limits().as_ref());
    limits.into_iter().flatten().any(|limit| limit.page_size().is_empty())
}

/// Renames the keys of `linux.resources.hugepageLimits` entries to the spec's case:
/// Go's JSON matches field names ignoring case, and runc's tests write `pagesize`.
fn mend_hugepage_limits(config: &mut serde_json::Value) -> bool {
    let mut renamed = false;
    let limits = config.pointer_mut("/linux/resources/hugepageLimits").and_then(|l| l.as_array_mut());
    for limit in limits.into_iter().flatten().filter_map(|l| l.as_object_mut()) {
        for field in ["pageSize", "limit"] {
            let other_case = limit.keys().find(|k| *k != field && k.eq_ignore_ascii_case(field)).cloned();
            if let Some(value) = other_case.and_then(|k| limit.remove(&k)) {
                limit.entry(field).or_insert(value);
                renamed = true;
            }
        }
    }
    renamed
}

/// Mends a process object (config.json's, or exec's process.json) where oci-spec
/// cannot read what the spec and runc take; returns whether anything changed.
/// - capability names this runtime does not know: dropped with a warning;
/// - two scheduler flags oci-spec 0.10 spells otherwise than the spec does.
pub fn mend_process(process: &mut serde_json::Value) -> bool {
    let mut renamed = false;
    let flags = process.pointer_mut("/scheduler/flags").and_then(|f| f.as_array_mut());
    for flag in flags.into_iter().flatten() {
        let oci_spec_name = match flag.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *flag = oci_spec_name.into();
        renamed = true;
    }
    crate::capabilities::drop_unknown(process) | renamed
}

/// Every mount destination as a path in the container, in one form for the later
/// steps. The spec wants absolute destinations; runc also takes
/// - a relative one as relative to the rootfs, with a warning;
/// - one that starts with the rootfs's path on the host as that path in the
///   container (its mounts.bats builds a tree of mounts so).
fn anchor_mount_destinations(spec: &mut Spec, rootfs_paths: &[&Path]) {
    for mount in spec.mounts_mut().iter_mut().flatten() {
        let dest = mount.destination();
        if !dest.is_absolute() {
            let text = dest.display().to_string();
            crate::logger::warn(format!(
                "mount destination {} is not absolute; taken as relative to the rootfs",
                crate::error::quoted(&text)
            ));
            mount.set_destination(Path::new("/").join(text));
        } else if let Some(inside) = rootfs_paths.iter().find_map(|p| dest.strip_prefix(p).ok()) {
            mount.set_destination(Path::new("/").join(inside));
        }
    }
}

/// An empty namespace path is Go's zero value, and runc reads it as none: a new
/// namespace (its run.bats joins every namespace of another container but the mount
/// one that way). Made `None` here, so every later step sees one form.
fn drop_empty_namespace_paths(spec: &mut Spec) {
    let Some(linux) = spec.linux_mut() else { return };
    let Some(namespaces) = linux.namespaces_mut() else { return };
    for ns in namespaces.iter_mut().filter(|ns| ns.path().as_ref().is_some_and(|p| p.as_os_str().is_empty()))
    {
        ns.set_path(None);
    }
}

/// Accepts every released 1.x version up to the one implemented (pre-release tags
/// such as `1.0.2-dev`, which `runc spec` writes, count as their release).
fn check_version(version: &str) -> Result<()> {
    let parse = |v: &str| -> Option<(u64, u64, u64)> {
        let core = v.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        let v = (parts.next()??, parts.next()??, parts.next()??);
        parts.next().is_none().then_some(v)
    };
    let (min, max) = (parse(SPEC_VERSION_MIN).unwrap(), parse(SPEC_VERSION).unwrap());
    match parse(version) {
        Some(v) if v >= min && v <= max => Ok(()),
        Some(_) => Err(Error::invalid(format!(
            "unsupported ociVersion {version:?}: this runtime supports {SPEC_VERSION_MIN} to {SPEC_VERSION}"
        ))),
        None => Err(Error::invalid(format!("invalid ociVersion {version:?}"))),
    }
}

/// The destination as written; where it really lands is checked again when it is
/// mounted (`rootfs`), since a symlink in the image can lead it into /proc.
fn check_proc_mount(mount: &oci_spec::runtime::Mount, bundle: &Path) -> Result<()> {
    let dest = Path::new("/").join(crate::rootfs::safe_path::relative(mount.destination()));
    crate::procfs::check_mount_destination(&dest, &crate::rootfs::mount_kind(mount, bundle))
}

/// A sysctl may only be set when the container has its own copy of the namespace
/// that holds it; otherwise it would change the host.
fn check_sysctl(name: &str, namespaces: &HashSet<LinuxNamespaceType>) -> Result<()> {
    const IPC_SYSCTLS: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    let (needed, what) = if IPC_SYSCTLS.contains(&name)
        || name.starts_with("kernel.shm_rmid_forced")
        || name.starts_with("fs.mqueue.")
    {
        (LinuxNamespaceType::Ipc, "an IPC")
    } else if name.starts_with("net.") {
        (LinuxNamespaceType::Network, "a network")
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        (LinuxNamespaceType::Uts, "a UTS")
    } else {
        return Err(Error::invalid(format!(
            "sysctl {name} is not namespaced and would change the host: refused"
        )));
    };
    if namespaces.contains(&needed) {
        Ok(())
    } else {
        Err(Error::invalid(format!("sysctl {name} requires {what} namespace in linux.namespaces")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_1x_release_up_to_the_implemented_one_is_accepted() {
        for v in ["1.0.0", "1.0.1", "1.0.2", "1.0.2-dev", "1.1.0", "1.2.0", "1.2.1", "1.3.0"] {
            assert!(check_version(v).is_ok(), "{v} rejected");
        }
        for v in ["0.9.0", "1.4.0", "2.0.0", "", "1.0", "x.y.z"] {
            assert!(check_version(v).is_err(), "{v} accepted");
        }
    }

    #[test]
    fn sysctls_need_the_namespace_that_holds_them() {
        let net: HashSet<_> = [LinuxNamespaceType::Network].into();
        assert!(check_sysctl("net.ipv4.ip_forward", &net).is_ok());
        assert!(check_sysctl("net.ipv4.ip_forward", &HashSet::new()).is_err());
        assert!(check_sysctl("kernel.shmmax", &net).is_err());
        assert!(check_sysctl("vm.swappiness", &net).is_err());
    }

    #[test]
    fn a_hugepage_page_size_key_in_another_case_is_read_as_go_reads_it() {
        let config = br#"{"ociVersion": "1.0.2", "linux": {"resources": {"hugepageLimits": [
            {"pagesize": "2MB", "Limit": 4194304}, {"pageSize": "1GB", "limit": 0}]}}}"#;
        let spec = parse_spec(config).unwrap();
        let limits = spec.linux().as_ref().unwrap().resources().as_ref().unwrap().hugepage_limits().clone();
        let read: Vec<_> = limits.unwrap().iter().map(|l| (l.page_size().clone(), l.limit())).collect();
        assert_eq!(read, [("2MB".to_string(), 4194304), ("1GB".to_string(), 0)]);
    }
}
