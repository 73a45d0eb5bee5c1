//! The systemd cgroup driver (`--systemd-cgroup`), as runc's: the container's cgroup
//! is a transient scope unit that systemd makes, with init in it, `Delegate=yes`,
//! and the limits systemd has properties for, so that systemd (which owns the cgroup
//! tree where it is PID 1) neither moves the container's processes nor resets its
//! limits on a reload. The runtime still writes every limit to the scope's files
//! afterwards, as runc does: some have no systemd property, and the files are what
//! the kernel enforces.
//!
//! `linux.cgroupsPath` is then `slice:prefix:name` (`machine.slice:libpod:<id>`,
//! `kubepods-burstable-pod<uid>.slice:cri-containerd:<id>`): the unit is
//! `<prefix>-<name>.scope` in that slice, whose name nests (`a-b.slice` is in
//! `a.slice`); an empty path is `system.slice:anchor:<id>`.

mod annotations;

use super::devices::{self, Kind, Rule};
use super::resources::Setting;
use crate::dbus::{CallError, Connection, Value};
use crate::error::{quoted, Error, Result};
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

/// The container's scope unit, recorded in its state before it is made.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Unit {
    /// `libpod-<id>.scope`.
    pub name: String,
    /// `machine.slice`.
    pub slice: String,
    /// Rootless: the unit is the user's own systemd's (`systemd --user`), on the
    /// user's bus; else the system's.
    #[serde(default)]
    pub user: bool,
    /// Properties the config's `org.systemd.property.*` annotations add, after the
    /// runtime's own (so they win, as in runc). Only `create` needs them.
    #[serde(skip)]
    pub extra: Vec<(String, Value)>,
}

impl Unit {
    /// The unit a `cgroupsPath` names, and its cgroup's path below a hierarchy's root.
    pub fn from_cgroups_path(path: Option<&str>, id: &str, user: bool) -> Result<(Unit, PathBuf)> {
        let path = path.unwrap_or("");
        let (slice, prefix, name) = if path.is_empty() {
            ("", "anchor", id)
        } else {
            match path.split(':').collect::<Vec<_>>()[..] {
                [slice, prefix, name] => (slice, prefix, name),
                _ => {
                    return Err(Error::invalid(format!(
                        "linux.cgroupsPath {}: expected \"slice:prefix:name\" for systemd cgroups",
                        quoted(path)
                    )))
                }
            }
        };
        if name.is_empty() || name.contains('/') || name.ends_with(".slice") {
            return Err(Error::invalid(format!(
                "linux.cgroupsPath {}: the name part must be a plain name for a scope (a slice of the container's own is not supported)",
                quoted(path)
            )));
        }
        let slice = match (slice, user) {
            ("", false) => "system.slice",
            ("", true) => "user.slice",
            (slice, _) => slice,
        };
        let unit = if prefix.is_empty() { format!("{name}.scope") } else { format!("{prefix}-{name}.scope") };
        let dir = expand_slice(slice)?.join(&unit);
        Ok((Unit { name: unit, slice: slice.to_string(), user, extra: vec![] }, dir))
    }

    /// Reads the annotations' properties into `extra`; a bad one is an error now,
    /// before anything is made.
    pub fn add_annotations(
        &mut self,
        annotations: Option<&std::collections::HashMap<String, String>>,
    ) -> Result<()> {
        self.extra = annotations::properties(annotations)?;
        Ok(())
    }

    /// Makes the scope with `pid` in it and the properties `settings` and the device
    /// rules translate to, and waits until systemd has started it.
    pub fn start(&self, pid: i32, id: &str, settings: &[Setting], devices: &[Rule]) -> Result<()> {
        let mut bus = connect(self.user)?;
        let mut properties = vec![
            property("Description", Value::Str(format!("anchor-runtime container {id}"))),
            property("Slice", Value::Str(self.slice.clone())),
            property("Delegate", Value::Bool(true)),
            property("PIDs", Value::Array("u", vec![Value::U32(pid as u32)])),
            // Accounting on, as runc: the same counters as the cgroupfs driver gives.
            property("MemoryAccounting", Value::Bool(true)),
            property("CPUAccounting", Value::Bool(true)),
            property("IOAccounting", Value::Bool(true)),
            property("TasksAccounting", Value::Bool(true)),
            // Not ordered after sysinit or stopped at shutdown before the engine.
            property("DefaultDependencies", Value::Bool(false)),
        ];
        properties.extend(properties_for(settings, || bus.version()));
        properties.extend(bus.device_properties(devices));
        properties.extend(self.extra.iter().map(|(name, value)| property(name, value.clone())));
        let mut retried = false;
        loop {
            let args = [
                Value::Str(self.name.clone()),
                Value::Str("replace".into()),
                Value::Array("(sv)", properties.clone()),
                Value::Array("(sa(sv))", vec![]),
            ];
            match bus.manager_call("StartTransientUnit", &args)? {
                Ok(job) => return bus.wait_job(&job, &format!("start unit {}", self.name)),
                // A failed unit of an earlier container with this name stays loaded
                // until it is reset (runc resets it and tries once more).
                Err(e) if e.name.ends_with(".UnitExists") && !retried => {
                    retried = true;
                    let _ = bus.manager_call("ResetFailedUnit", &[Value::Str(self.name.clone())])?;
                }
                Err(e) if e.name.ends_with(".UnitExists") => {
                    return Err(Error::invalid(format!(
                        "systemd cgroup driver: unit {} already exists: is another container using linux.cgroupsPath {}:…:…?",
                        self.name, self.slice
                    )))
                }
                Err(e) => return Err(refused(&format!("start unit {}", self.name), e)),
            }
        }
    }

    /// `update`: the new limits for the unit too, or systemd would put the old ones
    /// back at its next reload; the device rules when the update brings a list.
    pub fn set(&self, settings: &[Setting], devices: Option<&[Rule]>) -> Result<()> {
        // Connected only when there is something to tell systemd (or to ask it).
        let mut asked = None;
        let mut properties = properties_for(settings, || {
            let mut bus = connect(self.user).ok()?;
            let version = bus.version();
            asked = Some(bus);
            version
        });
        if properties.is_empty() && devices.is_none() {
            return Ok(());
        }
        let mut bus = match asked {
            Some(bus) => bus,
            None => connect(self.user)?,
        };
        if let Some(rules) = devices {
            properties.extend(bus.device_properties(rules));
        }
        let args = [Value::Str(self.name.clone()), Value::Bool(true), Value::Array("(sv)", properties)];
        bus.manager_call("SetUnitProperties", &args)?
            .map(drop)
            .map_err(|e| refused(&format!("set the properties of unit {}", self.name), e))
    }

    /// `delete`: stops the unit and waits until it is gone. A unit systemd already
    /// removed (its processes ended) is fine.
    pub fn stop(&self) -> Result<()> {
        let mut bus = match connect(self.user) {
            Ok(bus) => bus,
            // No bus, no systemd to have made the unit (a create that failed to
            // connect, cleaning up after itself).
            Err(Error::Sys { errno: libc::ENOENT | libc::ECONNREFUSED, step }) => {
                crate::logger::debug(format!("{step}: no unit to stop"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match bus.manager_call("StopUnit", &[Value::Str(self.name.clone()), Value::Str("replace".into())])? {
            Ok(job) => bus.wait_job(&job, &format!("stop unit {}", self.name))?,
            Err(e) if e.name.ends_with(".NoSuchUnit") => {}
            Err(e) => return Err(refused(&format!("stop unit {}", self.name), e)),
        }
        // A unit whose processes were killed ends "failed" and stays loaded until reset.
        let _ = bus.manager_call("ResetFailedUnit", &[Value::Str(self.name.clone())])?;
        Ok(())
    }
}

/// `a-b-c.slice` is `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub fn expand_slice(slice: &str) -> Result<PathBuf> {
    let invalid = || Error::invalid(format!("linux.cgroupsPath: invalid slice name {}", quoted(slice)));
    let stem =
        slice.strip_suffix(".slice").filter(|s| !s.is_empty() && !s.contains('/')).ok_or_else(invalid)?;
    let mut path = PathBuf::from("/");
    if stem == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(invalid());
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
        prefix.push('-');
    }
    Ok(path)
}

fn property(name: &str, value: Value) -> Value {
    Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(value))])
}

/// systemd's properties for the limits it manages, from the cgroup file settings the
/// cgroupfs driver writes (one translation of the config, for both): v2 files on a
/// pure cgroup-v2 host, v1 files where systemd runs the legacy or hybrid layout.
/// `systemd_version` is asked only for what depends on it.
fn properties_for(settings: &[Setting], mut systemd_version: impl FnMut() -> Option<u32>) -> Vec<Value> {
    let number = |v: &str| if v == "max" || v == "-1" { Some(u64::MAX) } else { v.parse().ok() };
    let period_v1 = settings
        .iter()
        .find_map(|s| s.writes.iter().find(|(f, _)| f == "cpu.cfs_period_us"))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(100_000);
    let mut out = Vec::new();
    let mut push = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            out.push(property(name, value));
        }
    };
    for s in settings {
        // The last choice is the file every kernel has (io.weight, not BFQ's).
        let Some((file, value)) = s.writes.last() else { continue };
        let u64_of = |v: &str| number(v).map(Value::U64);
        match file.as_str() {
            "memory.max" => push("MemoryMax", u64_of(value)),
            "memory.min" => push("MemoryMin", u64_of(value)),
            "memory.low" => push("MemoryLow", u64_of(value)),
            "memory.high" => push("MemoryHigh", u64_of(value)),
            "memory.swap.max" => push("MemorySwapMax", u64_of(value)),
            "memory.limit_in_bytes" => push("MemoryLimit", u64_of(value)),
            "cpu.weight" => push("CPUWeight", u64_of(value)),
            // systemd 252 and later make a CPUWeight of 0 ("idle") cpu.idle 1, and any
            // other weight cpu.idle 0; before, systemd leaves cpu.idle alone.
            "cpu.idle" if value.trim() == "1" && systemd_version().is_some_and(|v| v >= 252) => {
                push("CPUWeight", Some(Value::U64(0)))
            }
            "cpu.shares" => push("CPUShares", u64_of(value)),
            "pids.max" => push("TasksMax", u64_of(value)),
            "io.weight" => push("IOWeight", u64_of(value)),
            "blkio.weight" => push("BlockIOWeight", u64_of(value)),
            "cpu.max" => {
                let mut parts = value.split_whitespace();
                let quota = parts.next().and_then(number);
                let period = parts.next().and_then(|p| p.parse::<u64>().ok()).unwrap_or(100_000);
                push("CPUQuotaPeriodUSec", Some(Value::U64(period)));
                push("CPUQuotaPerSecUSec", quota.map(|q| Value::U64(quota_per_second(q, period))));
            }
            "cpu.cfs_quota_us" => {
                let quota = value.parse::<i64>().ok().map(|q| u64::try_from(q).unwrap_or(u64::MAX));
                push("CPUQuotaPerSecUSec", quota.map(|q| Value::U64(quota_per_second(q, period_v1))));
            }
            "cpuset.cpus" => push("AllowedCPUs", bits(value).map(Value::Bytes)),
            "cpuset.mems" => push("AllowedMemoryNodes", bits(value).map(Value::Bytes)),
            _ => {}
        }
    }
    out
}

/// The resources with the CPU quota systemd keeps: rounded up to whole percents of a
/// CPU second (CPUQuotaPerSecUSec), so the files written after the unit agree with it,
/// as runc writes them (update.bats: 500000 per 900000 becomes 504000).
pub fn with_quota_systemd_keeps(r: &LinuxResources) -> LinuxResources {
    let mut r = r.clone();
    let Some(mut cpu) = r.cpu().clone() else { return r };
    let Some(quota) = cpu.quota().filter(|q| *q > 0) else { return r };
    let period = cpu.period().filter(|p| *p != 0).unwrap_or(100_000);
    let per_second = quota_per_second(quota as u64, period);
    let kept = per_second.saturating_mul(period) / 1_000_000;
    cpu.set_quota(Some(i64::try_from(kept).unwrap_or(i64::MAX)));
    r.set_cpu(Some(cpu));
    r
}

/// Microseconds of CPU time per second, rounded up to whole percents as systemd keeps
/// CPUQuota (runc rounds the same way).
fn quota_per_second(quota: u64, period: u64) -> u64 {
    if quota == u64::MAX || period == 0 {
        return u64::MAX;
    }
    let per_second = quota.saturating_mul(1_000_000) / period;
    per_second.div_ceil(10_000) * 10_000
}

/// A CPU or node list (`0-3,7`) as the byte mask systemd's AllowedCPUs takes.
fn bits(list: &str) -> Option<Vec<u8>> {
    let mut mask = Vec::new();
    for range in list.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (start, end) = match range.split_once('-') {
            Some((a, b)) => (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?),
            None => (range.parse().ok()?, range.parse().ok()?),
        };
        if end < start || end > 8192 {
            return None;
        }
        for cpu in start..=end {
            if mask.len() <= cpu / 8 {
                mask.resize(cpu / 8 + 1, 0);
            }
            mask[cpu / 8] |= 1 << (cpu % 8);
        }
    }
    Some(mask)
}

/// A `DeviceAllow=` path for an allow rule: `/dev/char/1:3`, `char-136` (every
/// minor; before systemd 240 the major's name in /proc/devices, `char-pts`), or
/// `char-*`. None where systemd has no form for it (`c *:3`).
fn device_allow_path(rule: &Rule, numbered_groups: bool) -> Option<String> {
    let (dir, prefix) = match rule.kind {
        Kind::Char => ("char", "char-"),
        Kind::Block => ("block", "block-"),
        Kind::All => return None,
    };
    match (rule.major, rule.minor) {
        (Some(major), Some(minor)) => Some(format!("/dev/{dir}/{major}:{minor}")),
        (Some(major), None) if numbered_groups => Some(format!("{prefix}{major}")),
        (Some(major), None) => device_group(rule.kind, major).map(|name| format!("{prefix}{name}")),
        (None, None) => Some(format!("{prefix}*")),
        (None, Some(_)) => None,
    }
}

/// The name /proc/devices gives a major (`136 pts` under "Character devices:").
fn device_group(kind: Kind, major: u32) -> Option<String> {
    let text = crate::small_file::read_to_string("/proc/devices").ok()?;
    let heading = if kind == Kind::Char { "Character devices:" } else { "Block devices:" };
    let section = text.split(heading).nth(1)?.split("\n\n").next()?;
    section.lines().find_map(|line| {
        let (number, name) = line.trim().split_once(' ')?;
        (number.parse() == Ok(major)).then(|| name.trim().to_string())
    })
}

struct Bus(Connection);

/// The cgroup of the user's systemd (`/user.slice/user-1000.slice/user@1000.service`):
/// its units' cgroups are below it, in the subtree delegated to the user.
pub fn user_manager_cgroup() -> Result<PathBuf> {
    let cgroup = connect(true)?
        .manager_property("ControlGroup")?
        .map_err(|e| refused("read the user manager's ControlGroup", e))?;
    let cgroup = Some(cgroup)
        .filter(|c| c.starts_with('/'))
        .ok_or_else(|| Error::invalid("systemd cgroup driver: the user's systemd reports no ControlGroup"))?;
    Ok(PathBuf::from(cgroup))
}

/// The system bus, or the user's (`DBUS_SESSION_BUS_ADDRESS`, else the `bus` socket
/// in `XDG_RUNTIME_DIR` or /run/user/UID, where systemd's user instance puts it).
fn bus_address(user: bool) -> String {
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    if !user {
        return env("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|| SYSTEM_BUS.to_string());
    }
    env("DBUS_SESSION_BUS_ADDRESS").unwrap_or_else(|| {
        let runtime_dir =
            env("XDG_RUNTIME_DIR").unwrap_or_else(|| format!("/run/user/{}", nix::unistd::geteuid()));
        format!("unix:path={runtime_dir}/bus")
    })
}

fn connect(user: bool) -> Result<Bus> {
    let mut conn = Connection::connect(&bus_address(user)).map_err(driver_error)?;
    // The job's end comes as a JobRemoved signal.
    let rule = format!(
        "type='signal',sender='{SYSTEMD}',path='{MANAGER_PATH}',interface='{MANAGER}',member='JobRemoved'"
    );
    let added = conn.call(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        "org.freedesktop.DBus",
        "AddMatch",
        &[Value::Str(rule)],
    );
    let added = added.map_err(driver_error)?;
    added.map_err(|e| refused("subscribe to job signals", e))?;
    // No Manager.Subscribe: systemd sends a job's JobRemoved to the client that asked
    // for the job anyway, and a subscriber would get every unit change on the host too.
    Ok(Bus(conn))
}

impl Bus {
    /// A Manager method; `Ok(Ok(first value of the reply))`, or the D-Bus error.
    fn manager_call(
        &mut self,
        member: &str,
        args: &[Value],
    ) -> Result<std::result::Result<String, CallError>> {
        let reply = self.0.call(SYSTEMD, MANAGER_PATH, MANAGER, member, args).map_err(driver_error)?;
        // Step marks: with --debug the log's timestamps show the round trips.
        crate::logger::debug(format!("systemd: {member} answered"));
        Ok(reply.map(|m| m.body.first().cloned().unwrap_or_default()))
    }

    /// `DevicePolicy=` and `DeviceAllow=` for the device rules, as runc passes them: on
    /// a v1 or hybrid host systemd writes a unit's device list to its cgroup whenever
    /// it re-applies the unit (daemon-reload), and without them it would write
    /// "allow all" over the container's rules. Our own rules are applied after these
    /// (the v2 program replaces systemd's), so systemd's list only has to match them.
    fn device_properties(&mut self, rules: &[Rule]) -> Vec<Value> {
        let list = devices::allow_list(rules);
        // An empty DeviceAllow= first clears the list a running unit has (update).
        let clear = property("DeviceAllow", Value::Array("(ss)", vec![]));
        if list.is_everything() {
            return vec![clear, property("DevicePolicy", Value::Str("auto".into()))];
        }
        if !list.exact {
            crate::logger::warn(
                "systemd cgroup driver: the device rules make an exception inside a wider rule, which DeviceAllow= cannot say; systemd gets only what it can say, and after it re-applies the unit (daemon-reload) the container keeps only that",
            );
        }
        let numbered_groups = self.version().is_none_or(|v| v >= 240);
        let mut allow = Vec::new();
        for rule in &list.entries {
            match device_allow_path(rule, numbered_groups) {
                Some(path) => allow.push(Value::Struct(vec![Value::Str(path), Value::Str(rule.access_letters())])),
                None => crate::logger::warn(format!(
                    "systemd cgroup driver: device rule \"{rule}\" has no DeviceAllow= form; it holds only until systemd re-applies the unit"
                )),
            }
        }
        vec![
            clear,
            property("DevicePolicy", Value::Str("strict".into())),
            property("DeviceAllow", Value::Array("(ss)", allow)),
        ]
    }

    /// A property of the Manager (`Version`, `ControlGroup`): `Ok(Ok(value))`, or the
    /// D-Bus error.
    fn manager_property(&mut self, name: &str) -> Result<std::result::Result<String, CallError>> {
        let args = [Value::Str(MANAGER.into()), Value::Str(name.into())];
        let reply = self.0.call(SYSTEMD, MANAGER_PATH, "org.freedesktop.DBus.Properties", "Get", &args);
        Ok(reply.map_err(driver_error)?.map(|m| m.body.into_iter().next().unwrap_or_default()))
    }

    /// systemd's major version (`252` of "252.39-1~deb12u1"), if it says.
    fn version(&mut self) -> Option<u32> {
        let version = self.manager_property("Version").ok()?.ok()?;
        let digits: String = version.chars().take_while(char::is_ascii_digit).collect();
        crate::logger::debug(format!("systemd: version {version:?}"));
        digits.parse().ok()
    }

    /// Waits for the job's JobRemoved signal and checks its result.
    fn wait_job(&mut self, job: &str, what: &str) -> Result<()> {
        let removed = self
            .0
            .wait_signal(MANAGER, "JobRemoved", |body| body.get(1).map(String::as_str) == Some(job))
            .map_err(|e| Error::invalid(format!("systemd cgroup driver: {what}: {e}")))?;
        crate::logger::debug(format!("systemd: {what}: job removed"));
        match removed.body.get(3).map(String::as_str) {
            Some("done") => Ok(()),
            result => Err(Error::invalid(format!(
                "systemd cgroup driver: {what}: the job ended {}",
                quoted(result.unwrap_or("without a result"))
            ))),
        }
    }
}

/// The driver's errors say whose they are.
fn driver_error(e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::invalid(format!("systemd cgroup driver: {m}")),
        Error::Sys { step, errno } => Error::Sys { step: format!("systemd cgroup driver: {step}"), errno },
        e => e,
    }
}

fn refused(what: &str, e: CallError) -> Error {
    Error::invalid(format!("systemd cgroup driver: {what}: {} ({})", e.message, e.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_by_their_dashes_as_systemd_names_them() {
        assert_eq!(expand_slice("system.slice").unwrap(), PathBuf::from("/system.slice"));
        assert_eq!(
            expand_slice("kubepods-burstable-pod12.slice").unwrap(),
            PathBuf::from("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice")
        );
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::from("/"));
        for bad in ["a--b.slice", "-a.slice", "a-.slice", ".slice", "a.scope", "a/b.slice"] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroups_paths_name_a_scope_in_a_slice() {
        let (unit, dir) = Unit::from_cgroups_path(Some("machine.slice:libpod:abc"), "abc", false).unwrap();
        assert_eq!((unit.name.as_str(), unit.slice.as_str()), ("libpod-abc.scope", "machine.slice"));
        assert_eq!(dir, PathBuf::from("/machine.slice/libpod-abc.scope"));
        let (unit, dir) = Unit::from_cgroups_path(None, "c1", false).unwrap();
        assert_eq!(unit.name, "anchor-c1.scope");
        assert_eq!(dir, PathBuf::from("/system.slice/anchor-c1.scope"));
        let (unit, _) = Unit::from_cgroups_path(Some(":cri-containerd:x"), "x", false).unwrap();
        assert_eq!(unit.slice, "system.slice");
        let (unit, _) = Unit::from_cgroups_path(None, "x", true).unwrap();
        assert_eq!((unit.slice.as_str(), unit.user), ("user.slice", true));
        for bad in ["/a/b", "a:b", "a.slice:b:c:d", "a.slice:p:", "a.slice:p:x.slice"] {
            let e = Unit::from_cgroups_path(Some(bad), "x", false).unwrap_err().to_string();
            assert!(e.contains("linux.cgroupsPath"), "{bad}: {e}");
        }
    }

    #[test]
    fn quotas_round_up_to_whole_percents() {
        assert_eq!(quota_per_second(50_000, 100_000), 500_000);
        assert_eq!(quota_per_second(12_345, 100_000), 130_000);
        assert_eq!(quota_per_second(u64::MAX, 100_000), u64::MAX);
    }

    #[test]
    fn a_quota_is_rounded_to_what_systemd_keeps() {
        let quota = |q: i64, p: u64| {
            let r: LinuxResources =
                serde_json::from_str(&format!(r#"{{"cpu": {{"quota": {q}, "period": {p}}}}}"#)).unwrap();
            with_quota_systemd_keeps(&r).cpu().as_ref().unwrap().quota()
        };
        assert_eq!(quota(500_000, 900_000), Some(504_000), "runc's update.bats");
        assert_eq!(quota(500_000, 1_000_000), Some(500_000), "whole percents stay");
        assert_eq!(quota(-1, 100_000), Some(-1), "unlimited stays");
    }

    #[test]
    fn device_rules_become_device_allow_paths() {
        let rule = |kind, major, minor| Rule { allow: true, kind, major, minor, access: 7 };
        let path = |r: Rule, numbered| device_allow_path(&r, numbered);
        assert_eq!(path(rule(Kind::Char, Some(1), Some(3)), true).as_deref(), Some("/dev/char/1:3"));
        assert_eq!(path(rule(Kind::Block, Some(8), Some(0)), false).as_deref(), Some("/dev/block/8:0"));
        assert_eq!(path(rule(Kind::Char, Some(136), None), true).as_deref(), Some("char-136"));
        assert_eq!(
            path(rule(Kind::Char, Some(1), None), false).as_deref(),
            Some("char-mem"),
            "/proc/devices"
        );
        assert_eq!(path(rule(Kind::Block, None, None), true).as_deref(), Some("block-*"));
        assert_eq!(path(rule(Kind::Char, None, Some(3)), true), None, "systemd has no *:n");
    }

    #[test]
    fn cpu_lists_become_byte_masks() {
        assert_eq!(bits("0-3,9"), Some(vec![0x0f, 0x02]));
        assert_eq!(bits("1"), Some(vec![0x02]));
        assert_eq!(bits("3-1"), None);
    }
}
