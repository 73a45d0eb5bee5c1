//! `linux.resources` translated into cgroup files, once for v1 and once for v2. The
//! translation is pure (no file is touched here), so both layouts are unit-tested on
//! any host; `Cgroup::apply` decides which hierarchy takes which setting. Device
//! rules are not here: they are a program (v2) or a rule list (v1), see `devices`.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};

/// What happens when a setting's file cannot be written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Need {
    /// The write must succeed.
    Required,
    /// The kernel may have dropped the file (kernel memory limits, CFQ's leaf
    /// weights): a missing or refused file is a warning, as runc treats it.
    BestEffort,
    /// This layout has no such knob at all: nothing is written, a warning says so.
    Unsupported(&'static str),
    /// The value cannot be expressed on this layout: `create` or `update` fails
    /// with this message, but only where this layout holds the controller (on a
    /// hybrid host, cpu may be v1's while the cgroup2 tree holds hugetlb).
    Refused(String),
}

/// One value for one cgroup file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// The config field it comes from, for messages: `memory.limit`.
    pub field: &'static str,
    /// The controller whose hierarchy holds the file.
    pub controller: String,
    /// `(file, value)` choices: the first file that exists is written (BFQ's weight
    /// files replace CFQ's), else the last one, whose error is then reported.
    pub writes: Vec<(String, String)>,
    pub need: Need,
}

impl Setting {
    fn new(field: &'static str, controller: &str, file: &str, value: impl ToString) -> Self {
        Setting {
            field,
            controller: controller.into(),
            writes: vec![(file.into(), value.to_string())],
            need: Need::Required,
        }
    }

    fn best_effort(mut self) -> Self {
        self.need = Need::BestEffort;
        self
    }

    fn or(mut self, file: &str, value: impl ToString) -> Self {
        self.writes.push((file.into(), value.to_string()));
        self
    }

    fn unsupported(field: &'static str, controller: &str, why: &'static str) -> Self {
        Setting { field, controller: controller.into(), writes: vec![], need: Need::Unsupported(why) }
    }

    fn refused(field: &'static str, controller: &str, why: String) -> Self {
        Setting { field, controller: controller.into(), writes: vec![], need: Need::Refused(why) }
    }
}

/// A value that is set, as runc reads the spec: its configuration keeps these fields as
/// plain numbers, so 0 is "not set" and leaves the file alone. Docker puts 0 in every
/// config and every update for the fields its user did not give (blockIO.weight,
/// cpu.shares, cpu.quota, memory.swap, ...); writing it fails (a weight of 0 is out of
/// range) or removes a limit. Fields runc keeps as pointers (swappiness, burst, idle)
/// take 0 as a value.
fn set<T: PartialEq + Default>(value: Option<T>) -> Option<T> {
    value.filter(|v| *v != T::default())
}

/// The settings for one layout, in the order they must be written.
pub fn settings(r: &LinuxResources, v2: bool) -> Result<Vec<Setting>> {
    let mut out = Vec::new();
    if let Some(m) = r.memory() {
        if v2 {
            memory_v2(m, &mut out)?
        } else {
            memory_v1(m, &mut out)?
        }
    }
    if let Some(c) = r.cpu() {
        cpu(c, v2, &mut out);
    }
    if let Some(p) = r.pids() {
        // 0 leaves the limit as it is (runc's update); negative is no limit.
        if p.limit() != 0 {
            out.push(Setting::new("pids.limit", "pids", "pids.max", max_or(p.limit())));
        }
    }
    if let Some(b) = r.block_io() {
        block_io(b, v2, &mut out);
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = hugepage_size(h.page_size())?;
        if v2 {
            out.push(Setting::new("hugepageLimits", "hugetlb", &format!("hugetlb.{size}.max"), h.limit()));
            // Reservations count pages promised at mmap time; limiting both stops a
            // container from reserving what it may not fault in (runc 1.2, crun).
            let rsvd =
                Setting::new("hugepageLimits", "hugetlb", &format!("hugetlb.{size}.rsvd.max"), h.limit());
            out.push(rsvd.best_effort());
        } else {
            let file = format!("hugetlb.{size}.limit_in_bytes");
            out.push(Setting::new("hugepageLimits", "hugetlb", &file, h.limit()));
        }
    }
    if let Some(n) = r.network() {
        let why = "cgroup v2 has no net_cls or net_prio controller (use a BPF program on the interface)";
        if let Some(class) = set(n.class_id()) {
            out.push(if v2 {
                Setting::unsupported("network.classID", "net_cls", why)
            } else {
                Setting::new("network.classID", "net_cls", "net_cls.classid", class)
            });
        }
        for p in n.priorities().iter().flatten() {
            out.push(if v2 {
                Setting::unsupported("network.priorities", "net_prio", why)
            } else {
                Setting::new(
                    "network.priorities",
                    "net_prio",
                    "net_prio.ifpriomap",
                    format!("{} {}", p.name(), p.priority()),
                )
            });
        }
    }
    let mut rdma: Vec<_> = r.rdma().iter().flatten().collect();
    rdma.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limit) in rdma {
        let num = |n: Option<u32>| n.map_or("max".to_string(), |n| n.to_string());
        let value = format!(
            "{device} hca_handle={} hca_object={}",
            num(limit.hca_handles()),
            num(limit.hca_objects())
        );
        out.push(Setting::new("rdma", "rdma", "rdma.max", value));
    }
    // Raw cgroup2 keys: a host without a cgroup2 tree that holds the controller is
    // told so by `Cgroup::apply`, like any setting no hierarchy can take.
    if let (Some(unified), true) = (r.unified(), v2) {
        let mut keys: Vec<_> = unified.iter().collect();
        keys.sort();
        for (key, value) in keys {
            out.push(unified_setting(key, value)?);
        }
    }
    if v2 {
        weight_left_out_when_idle(&mut out);
    }
    Ok(out)
}

/// The kernel takes no cpu.weight for an idle cgroup (EINVAL while cpu.idle is 1):
/// with both in the config the weight is left out with a warning, in runc's words
/// (runc leaves it out of systemd's properties and fails writing the file).
fn weight_left_out_when_idle(out: &mut [Setting]) {
    let writes = |s: &Setting, file: &str| {
        s.writes.iter().any(|(f, v)| f == file && (file != "cpu.idle" || v.trim() == "1"))
    };
    if !out.iter().any(|s| writes(s, "cpu.idle")) {
        return;
    }
    for s in out.iter_mut().filter(|s| writes(s, "cpu.weight")) {
        *s = Setting::unsupported(
            s.field,
            "cpu",
            "unable to apply both cpu.weight and cpu.idle: an idle cgroup takes no weight",
        );
    }
}

fn memory_v1(m: &LinuxMemory, out: &mut Vec<Setting>) -> Result<()> {
    let f = "memory";
    if let Some(limit) = set(m.limit()) {
        out.push(Setting::new("memory.limit", f, "memory.limit_in_bytes", limit));
    }
    if let Some(swap) = set(m.swap()) {
        // OCI's swap is memory plus swap, which is exactly v1's memsw.
        out.push(Setting::new("memory.swap", f, "memory.memsw.limit_in_bytes", swap));
    } else if set(m.limit()) == Some(-1) {
        // runc: lifting the memory limit with no swap given lifts memsw too, which
        // the kernel otherwise keeps below it (EINVAL). Best effort: memsw exists only
        // with swap accounting.
        out.push(Setting::new("memory.swap", f, "memory.memsw.limit_in_bytes", -1).best_effort());
    }
    if let Some(r) = set(m.reservation()) {
        out.push(Setting::new("memory.reservation", f, "memory.soft_limit_in_bytes", r));
    }
    // Kernel memory limits were dropped from the kernel (5.16+ refuses the write).
    if let Some(k) = set(m.kernel()) {
        out.push(Setting::new("memory.kernel", f, "memory.kmem.limit_in_bytes", k).best_effort());
    }
    if let Some(k) = set(m.kernel_tcp()) {
        out.push(Setting::new("memory.kernelTCP", f, "memory.kmem.tcp.limit_in_bytes", k));
    }
    if let Some(s) = m.swappiness() {
        out.push(Setting::new("memory.swappiness", f, "memory.swappiness", swappiness(s)?));
    }
    if let Some(true) = m.disable_oom_killer() {
        out.push(Setting::new("memory.disableOOMKiller", f, "memory.oom_control", 1));
    }
    // Hierarchical accounting is always on in current kernels; only "on" is accepted.
    if let Some(h) = m.use_hierarchy() {
        out.push(Setting::new("memory.useHierarchy", f, "memory.use_hierarchy", u8::from(h)).best_effort());
    }
    Ok(())
}

fn memory_v2(m: &LinuxMemory, out: &mut Vec<Setting>) -> Result<()> {
    let f = "memory";
    if let Some(limit) = set(m.limit()) {
        out.push(Setting::new("memory.limit", f, "memory.max", max_or(limit)));
    }
    if let Some(swap) = set(m.swap()) {
        out.push(match v2_swap(swap, set(m.limit())) {
            Ok(value) => Setting::new("memory.swap", f, "memory.swap.max", value),
            Err(why) => Setting::refused("memory.swap", f, why),
        });
    } else if set(m.limit()) == Some(-1) {
        // runc: lifting the memory limit with no swap given lifts swap too, as on v1
        // (memsw). Best effort: memory.swap.max exists only with swap accounting.
        out.push(Setting::new("memory.swap", f, "memory.swap.max", "max").best_effort());
    }
    if let Some(r) = set(m.reservation()) {
        out.push(Setting::new("memory.reservation", f, "memory.low", max_or(r)));
    }
    let no_kmem = "cgroup v2 accounts kernel memory in memory.max and has no separate limit";
    if set(m.kernel()).is_some() {
        out.push(Setting::unsupported("memory.kernel", f, no_kmem));
    }
    if set(m.kernel_tcp()).is_some() {
        out.push(Setting::unsupported("memory.kernelTCP", f, no_kmem));
    }
    if let Some(s) = m.swappiness() {
        swappiness(s)?;
        out.push(Setting::unsupported("memory.swappiness", f, "cgroup v2 has no per-cgroup swappiness"));
    }
    if let Some(true) = m.disable_oom_killer() {
        out.push(Setting::unsupported(
            "memory.disableOOMKiller",
            f,
            "cgroup v2 cannot disable the OOM killer",
        ));
    }
    Ok(())
}

fn swappiness(s: u64) -> Result<u64> {
    if s > 100 {
        return Err(Error::invalid(format!("linux.resources.memory.swappiness {s} is not in 0..=100")));
    }
    Ok(s)
}

/// OCI's swap is memory plus swap; memory.swap.max is the swap alone.
fn v2_swap(swap: i64, limit: Option<i64>) -> std::result::Result<String, String> {
    if swap < 0 {
        return Ok("max".into());
    }
    match limit {
        None | Some(0) => Err("linux.resources.memory.swap needs memory.limit on cgroup v2".into()),
        Some(l) if l < 0 => Err("linux.resources.memory.swap must be -1 when memory.limit is -1".into()),
        Some(l) if swap < l => Err(format!(
            "linux.resources.memory.swap {swap} is below memory.limit {l}: it counts memory plus swap"
        )),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn cpu(c: &LinuxCpu, v2: bool, out: &mut Vec<Setting>) {
    let f = "cpu";
    let (quota, period) = (set(c.quota()), set(c.period()));
    if v2 {
        if let Some(shares) = set(c.shares()) {
            out.push(Setting::new("cpu.shares", f, "cpu.weight", shares_to_weight(shares)));
        }
        if quota.is_some() || period.is_some() {
            // Named like v1's fields, so a hybrid host whose cpu is v1's takes them there.
            let field = if quota.is_some() { "cpu.quota" } else { "cpu.period" };
            let max = quota.filter(|q| *q > 0).map_or("max".into(), |q| q.to_string());
            out.push(Setting::new(field, f, "cpu.max", format!("{max} {}", period.unwrap_or(100_000))));
        }
        if let Some(burst) = c.burst() {
            out.push(Setting::new("cpu.burst", f, "cpu.max.burst", burst));
        }
        let why = || {
            "linux.resources.cpu.realtimeRuntime/realtimePeriod: cgroup v2 has no real-time CPU bandwidth"
                .to_string()
        };
        if set(c.realtime_period()).is_some() {
            out.push(Setting::refused("cpu.realtimePeriod", f, why()));
        }
        if set(c.realtime_runtime()).is_some() {
            out.push(Setting::refused("cpu.realtimeRuntime", f, why()));
        }
    } else {
        if let Some(shares) = set(c.shares()) {
            out.push(Setting::new("cpu.shares", f, "cpu.shares", shares));
        }
        if let Some(period) = period {
            out.push(Setting::new("cpu.period", f, "cpu.cfs_period_us", period));
        }
        if let Some(quota) = quota {
            out.push(Setting::new("cpu.quota", f, "cpu.cfs_quota_us", quota));
        }
        if let Some(burst) = c.burst() {
            out.push(Setting::new("cpu.burst", f, "cpu.cfs_burst_us", burst));
        }
        // The period bounds the runtime: written first, as the kernel checks.
        if let Some(p) = set(c.realtime_period()) {
            out.push(Setting::new("cpu.realtimePeriod", f, "cpu.rt_period_us", p));
        }
        if let Some(r) = set(c.realtime_runtime()) {
            out.push(Setting::new("cpu.realtimeRuntime", f, "cpu.rt_runtime_us", r));
        }
    }
    if let Some(idle) = c.idle() {
        out.push(Setting::new("cpu.idle", f, "cpu.idle", idle));
    }
    if let Some(cpus) = c.cpus().as_ref().filter(|c| !c.is_empty()) {
        out.push(Setting::new("cpu.cpus", "cpuset", "cpuset.cpus", cpus));
    }
    if let Some(mems) = c.mems().as_ref().filter(|m| !m.is_empty()) {
        out.push(Setting::new("cpu.mems", "cpuset", "cpuset.mems", mems));
    }
}

fn block_io(b: &LinuxBlockIo, v2: bool, out: &mut Vec<Setting>) {
    let f = if v2 { "io" } else { "blkio" };
    if let Some(w) = set(b.weight()) {
        out.push(if v2 {
            // BFQ takes blkio's 1..1000 scale as it is; io.weight is 1..10000.
            Setting::new("blockIO.weight", f, "io.bfq.weight", w).or("io.weight", blkio_weight_to_io(w))
        } else {
            Setting::new("blockIO.weight", f, "blkio.bfq.weight", w).or("blkio.weight", w)
        });
    }
    // Leaf weights were CFQ's, which the kernel removed in 5.0.
    let no_leaf = "cgroup v2 has no leaf weights";
    if let Some(w) = set(b.leaf_weight()) {
        out.push(if v2 {
            Setting::unsupported("blockIO.leafWeight", f, no_leaf)
        } else {
            Setting::new("blockIO.leafWeight", f, "blkio.leaf_weight", w).best_effort()
        });
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = set(d.leaf_weight()) {
            let value = format!("{}:{} {w}", d.major(), d.minor());
            out.push(if v2 {
                Setting::unsupported("blockIO.weightDevice.leafWeight", f, no_leaf)
            } else {
                Setting::new("blockIO.weightDevice.leafWeight", f, "blkio.leaf_weight_device", value)
                    .best_effort()
            });
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = set(d.weight()) {
            let dev = format!("{}:{}", d.major(), d.minor());
            out.push(if v2 {
                Setting::new("blockIO.weightDevice", f, "io.bfq.weight", format!("{dev} {w}"))
                    .or("io.weight", format!("{dev} {}", blkio_weight_to_io(w)))
            } else {
                Setting::new("blockIO.weightDevice", f, "blkio.bfq.weight_device", format!("{dev} {w}"))
                    .or("blkio.weight_device", format!("{dev} {w}"))
            });
        }
    }
    let throttles: [(&'static str, &Option<Vec<LinuxThrottleDevice>>, &str, &str); 4] = [
        (
            "blockIO.throttleReadBpsDevice",
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
            "rbps",
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
            "wbps",
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
            "riops",
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
            "wiops",
        ),
    ];
    for (field, devices, v1_file, v2_key) in throttles {
        for d in devices.iter().flatten() {
            let dev = format!("{}:{}", d.major(), d.minor());
            out.push(if v2 {
                // 0 means no limit in v1; io.max spells that "max".
                let rate = if d.rate() == 0 { "max".to_string() } else { d.rate().to_string() };
                Setting::new(field, f, "io.max", format!("{dev} {v2_key}={rate}"))
            } else {
                Setting::new(field, f, v1_file, format!("{dev} {}", d.rate()))
            });
        }
    }
}

/// `unified` keys are `<controller>.<file>` and must name a file of the container's
/// own cgroup: no path, and no `cgroup.` core file that moves processes.
fn unified_setting(key: &str, value: &str) -> Result<Setting> {
    let bad = |why: &str| Error::invalid(format!("linux.resources.unified key {key:?}: {why}"));
    if key.contains('/') || key.starts_with('.') {
        return Err(bad("must be a file name in the cgroup, not a path"));
    }
    let controller = key
        .split_once('.')
        .map(|(c, _)| c)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("not <controller>.<file>"))?;
    if matches!(
        key,
        "cgroup.procs" | "cgroup.threads" | "cgroup.subtree_control" | "cgroup.kill" | "cgroup.freeze"
    ) {
        return Err(bad("the runtime manages this file itself"));
    }
    // The controller decides which hierarchy takes it, and whether the host has it.
    Ok(Setting::new("unified", controller, key, value))
}

/// "2MB" or "1GB" as the kernel names hugetlb files; the spec's page sizes are
/// `<n><unit>B` with KB, MB or GB.
fn hugepage_size(s: &str) -> Result<&str> {
    let digits = s.trim_end_matches("KB").trim_end_matches("MB").trim_end_matches("GB");
    let ok = digits.len() + 2 == s.len() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(s)
    } else {
        Err(Error::invalid(format!("linux.resources.hugepageLimits pageSize {s:?}: use the form 2MB or 1GB")))
    }
}

fn max_or(limit: i64) -> String {
    if limit < 0 {
        "max".into()
    } else {
        limit.to_string()
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000) as runc converts it since 1.3 (the
/// opencontainers/cgroups module, and Kubernetes' KEP 2254): a quadratic in log2 of the
/// shares that maps the ends and the defaults onto each other (1024 to 100). The
/// linear formula before it made the default shares a weight of 39, below every
/// process outside a container.
pub fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 100,
        1..=2 => 1,
        262_144.. => 10_000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// blkio.weight (10..1000) to io.weight (1..10000), as runc converts it.
fn blkio_weight_to_io(w: u16) -> u64 {
    1 + (u64::from(w.clamp(10, 1000)) - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    fn files(v: &[Setting]) -> Vec<(String, String)> {
        v.iter().filter_map(|s| s.writes.first().cloned()).collect()
    }

    /// The zeros Docker (20.10) sends for every field its user left alone, as runc
    /// reads them: not set. Only the fields runc keeps as pointers take 0 as a value.
    const DOCKER_ZEROS: &str = r#"{
        "memory": {"limit": 0, "reservation": 0, "swap": 0, "kernel": 0, "kernelTCP": 0},
        "cpu": {"shares": 0, "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0,
                "cpus": "", "mems": ""},
        "pids": {"limit": 0},
        "blockIO": {"weight": 0, "leafWeight": 0,
                    "weightDevice": [{"major": 8, "minor": 0, "weight": 0, "leafWeight": 0}]},
        "network": {"classID": 0}
    }"#;

    #[test]
    fn the_zeros_docker_sends_for_unset_fields_write_nothing() {
        for v2 in [false, true] {
            let written = settings(&parse(DOCKER_ZEROS), v2).unwrap();
            assert!(written.is_empty(), "v2 {v2}: {written:?}");
        }
    }

    #[test]
    fn zero_is_a_value_where_runc_keeps_a_pointer() {
        let r = parse(r#"{"memory": {"swappiness": 0}, "cpu": {"idle": 0, "burst": 0}}"#);
        let v1 = files(&settings(&r, false).unwrap());
        for file in ["memory.swappiness", "cpu.idle", "cpu.cfs_burst_us"] {
            assert!(v1.contains(&(file.into(), "0".into())), "{file}: {v1:?}");
        }
    }

    #[test]
    fn a_quota_without_a_period_keeps_the_default_period_on_v2() {
        let r = parse(r#"{"cpu": {"quota": 50000, "period": 0}}"#);
        assert_eq!(files(&settings(&r, true).unwrap()), vec![("cpu.max".into(), "50000 100000".into())]);
    }

    #[test]
    fn an_idle_cgroup_gets_no_weight_on_v2() {
        for json in
            [r#"{"cpu": {"shares": 200, "idle": 1}}"#, r#"{"unified": {"cpu.idle": "1", "cpu.weight": "8"}}"#]
        {
            let v2 = settings(&parse(json), true).unwrap();
            assert_eq!(files(&v2), vec![("cpu.idle".into(), "1".into())], "{json}");
            assert!(v2
                .iter()
                .any(|s| matches!(s.need, Need::Unsupported(w) if w.contains("unable to apply both"))));
        }
        let r = parse(r#"{"cpu": {"shares": 200, "idle": 0}}"#);
        assert_eq!(files(&settings(&r, true).unwrap()).len(), 2, "idle 0 keeps the weight");
        assert_eq!(
            files(&settings(&parse(r#"{"cpu": {"shares": 200, "idle": 1}}"#), false).unwrap()).len(),
            2,
            "v1"
        );
    }

    #[test]
    fn shares_convert_to_weight_at_the_ends_and_the_default() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1024), 100);
        // runc 1.3.6's update.bats: 100 shares are a weight of 17.
        assert_eq!(shares_to_weight(100), 17);
        assert_eq!(shares_to_weight(3), 2);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(1000), 10_000);
    }

    #[test]
    fn memory_swap_is_memsw_on_v1_and_the_difference_on_v2() {
        let r = parse(r#"{"memory": {"limit": 100, "swap": 300, "reservation": 50}}"#);
        let v1 = files(&settings(&r, false).unwrap());
        assert!(v1.contains(&("memory.memsw.limit_in_bytes".into(), "300".into())));
        assert!(v1.contains(&("memory.soft_limit_in_bytes".into(), "50".into())));
        let v2 = files(&settings(&r, true).unwrap());
        assert_eq!(
            v2,
            vec![
                ("memory.max".into(), "100".into()),
                ("memory.swap.max".into(), "200".into()),
                ("memory.low".into(), "50".into())
            ]
        );
        let refused = |json: &str| {
            settings(&parse(json), true).unwrap().iter().any(|s| matches!(s.need, Need::Refused(_)))
        };
        assert!(refused(r#"{"memory": {"limit": 300, "swap": 100}}"#));
        assert!(refused(r#"{"memory": {"swap": 100}}"#));
    }

    #[test]
    fn throttles_become_io_max_keys_on_v2() {
        let r = parse(
            r#"{"blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
                          "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 0}]}}"#,
        );
        let v2 = settings(&r, true).unwrap();
        assert_eq!(
            v2[0].writes,
            vec![("io.bfq.weight".into(), "500".into()), ("io.weight".into(), "4950".into())]
        );
        assert_eq!(
            files(&v2[1..]),
            vec![("io.max".into(), "7:0 rbps=1048576".into()), ("io.max".into(), "7:0 wiops=max".into())]
        );
        let v1 = files(&settings(&r, false).unwrap());
        assert!(v1.contains(&("blkio.throttle.read_bps_device".into(), "7:0 1048576".into())));
    }

    #[test]
    fn hugepages_limit_the_reservation_too_on_v2() {
        let r = parse(r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}"#);
        let v2 = settings(&r, true).unwrap();
        assert_eq!(
            files(&v2),
            vec![
                ("hugetlb.2MB.max".into(), "4194304".into()),
                ("hugetlb.2MB.rsvd.max".into(), "4194304".into())
            ]
        );
        assert_eq!(v2[1].need, Need::BestEffort);
        assert!(settings(&parse(r#"{"hugepageLimits": [{"pageSize": "2M", "limit": 1}]}"#), true).is_err());
    }

    #[test]
    fn unified_keys_are_checked_and_only_v2_takes_them() {
        let r = parse(r#"{"unified": {"memory.high": "1000000", "pids.max": "9"}}"#);
        let v2 = settings(&r, true).unwrap();
        assert_eq!((v2[0].controller.as_str(), v2[1].controller.as_str()), ("memory", "pids"));
        assert!(settings(&r, false).unwrap().is_empty());
        for key in ["../memory.max", "cgroup.procs", "nodot"] {
            let r = parse(&format!(r#"{{"unified": {{"{key}": "1"}}}}"#));
            assert!(settings(&r, true).unwrap_err().to_string().contains(key), "{key}");
        }
    }

    #[test]
    fn v1_only_knobs_are_named_unsupported_on_v2_and_realtime_is_refused() {
        let r = parse(r#"{"memory": {"kernel": 1, "swappiness": 10}, "network": {"classID": 5}}"#);
        let v2 = settings(&r, true).unwrap();
        assert!(v2.iter().all(|s| matches!(s.need, Need::Unsupported(_))));
        assert!(settings(&parse(r#"{"memory": {"swappiness": 101}}"#), false).is_err());
        let rt = settings(&parse(r#"{"cpu": {"realtimeRuntime": 5}}"#), true).unwrap();
        assert!(matches!(rt[0].need, Need::Refused(_)));
        let v1 = files(
            &settings(&parse(r#"{"cpu": {"realtimeRuntime": 5, "realtimePeriod": 10}}"#), false).unwrap(),
        );
        assert_eq!(
            v1,
            vec![("cpu.rt_period_us".into(), "10".into()), ("cpu.rt_runtime_us".into(), "5".into())]
        );
    }
}
