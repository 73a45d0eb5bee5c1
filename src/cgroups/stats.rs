//! Usage counters for `events`, in the JSON shape runc prints (containerd's shim
//! decodes it into its metrics): cpu, memory, pids, blkio and hugetlb, read from
//! whichever hierarchy holds each controller.

use super::{Cgroup, Hierarchy};
use serde_json::{json, Map, Value};
use std::fs;
use std::path::Path;

/// The kernel's "max", as runc reports it.
const UNLIMITED: u64 = u64::MAX;

fn read(dir: &Path, file: &str) -> Option<String> {
    crate::small_file::read_to_string(dir.join(file)).ok()
}

fn number(dir: &Path, file: &str) -> u64 {
    read(dir, file).map_or(0, |s| parse_limit(s.trim()))
}

fn parse_limit(s: &str) -> u64 {
    if s == "max" {
        UNLIMITED
    } else {
        s.parse().unwrap_or(0)
    }
}

/// `key value` lines (memory.stat, cpu.stat, memory.events) as a map.
fn keyed(dir: &Path, file: &str) -> Map<String, Value> {
    read(dir, file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k.to_string(), json!(v.trim().parse::<u64>().ok()?))))
        .collect()
}

fn get(map: &Map<String, Value>, key: &str) -> u64 {
    map.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Cgroup {
    fn holding(&self, controller: &str) -> Option<(&Hierarchy, &Path)> {
        self.dirs.iter().find(|(h, _)| h.has(controller)).map(|(h, d)| (h, d.as_path()))
    }

    /// One `stats` event's data.
    pub fn stats(&self) -> Value {
        json!({
            "cpu": self.cpu_stats(),
            "memory": self.memory_stats(),
            "pids": self.holding("pids").map_or(json!({}), |(_, d)| json!({
                "current": number(d, "pids.current"),
                "limit": number(d, "pids.max"),
            })),
            "blkio": self.blkio_stats(),
            "hugetlb": self.hugetlb_stats(),
        })
    }

    /// OOM kills so far in the container's cgroup (v1 memory.oom_control, v2
    /// memory.events): `events` reports an `oom` event when it grows.
    pub fn oom_kills(&self) -> u64 {
        match self.holding("memory") {
            Some((h, d)) => {
                get(&keyed(d, if h.v2 { "memory.events" } else { "memory.oom_control" }), "oom_kill")
            }
            None => 0,
        }
    }

    fn cpu_stats(&self) -> Value {
        let mut usage = json!({});
        let mut throttling = json!({});
        if let Some((h, d)) = self.holding("cpu") {
            let stat = keyed(d, "cpu.stat");
            if h.v2 {
                // cgroup2 counts microseconds; runc reports nanoseconds.
                usage = json!({
                    "total": get(&stat, "usage_usec") * 1000,
                    "kernel": get(&stat, "system_usec") * 1000,
                    "user": get(&stat, "user_usec") * 1000,
                });
                throttling = json!({
                    "periods": get(&stat, "nr_periods"),
                    "throttledPeriods": get(&stat, "nr_throttled"),
                    "throttledTime": get(&stat, "throttled_usec") * 1000,
                });
            } else {
                throttling = json!({
                    "periods": get(&stat, "nr_periods"),
                    "throttledPeriods": get(&stat, "nr_throttled"),
                    "throttledTime": get(&stat, "throttled_time"),
                });
            }
        }
        if let Some((_, d)) = self.holding("cpuacct").filter(|(h, _)| !h.v2) {
            // cpuacct.stat counts clock ticks (USER_HZ, 100 on Linux).
            let ticks = keyed(d, "cpuacct.stat");
            let percpu: Vec<u64> = read(d, "cpuacct.usage_percpu")
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            usage = json!({
                "total": number(d, "cpuacct.usage"),
                "percpu": percpu,
                "kernel": get(&ticks, "system") * 10_000_000,
                "user": get(&ticks, "user") * 10_000_000,
            });
        }
        json!({"usage": usage, "throttling": throttling})
    }

    fn memory_stats(&self) -> Value {
        let Some((h, d)) = self.holding("memory") else { return json!({}) };
        let raw = keyed(d, "memory.stat");
        if h.v2 {
            let events = keyed(d, "memory.events");
            let entry = |usage: &str, limit: &str, failcnt: u64| json!({"usage": number(d, usage), "limit": number(d, limit), "max": number(d, usage), "failcnt": failcnt});
            return json!({
                "cache": get(&raw, "file"),
                "usage": entry("memory.current", "memory.max", get(&events, "max")),
                "swap": entry("memory.swap.current", "memory.swap.max", 0),
                "raw": raw,
            });
        }
        let entry = |prefix: &str| {
            json!({
                "usage": number(d, &format!("{prefix}.usage_in_bytes")),
                "max": number(d, &format!("{prefix}.max_usage_in_bytes")),
                "limit": number(d, &format!("{prefix}.limit_in_bytes")),
                "failcnt": number(d, &format!("{prefix}.failcnt")),
            })
        };
        json!({
            "cache": get(&raw, "cache"),
            "usage": entry("memory"),
            "swap": entry("memory.memsw"),
            "kernel": entry("memory.kmem"),
            "kernelTCP": entry("memory.kmem.tcp"),
            "raw": raw,
        })
    }

    fn blkio_stats(&self) -> Value {
        let entry = |dev: &str, op: &str, value: u64| {
            let (major, minor) = dev.split_once(':').unwrap_or(("0", "0"));
            json!({"major": major.parse::<u64>().unwrap_or(0), "minor": minor.parse::<u64>().unwrap_or(0), "op": op, "value": value})
        };
        let mut bytes = Vec::new();
        let mut ios = Vec::new();
        if let Some((h, d)) = self.holding("io").or_else(|| self.holding("blkio")) {
            if h.v2 {
                // io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0"
                for line in read(d, "io.stat").unwrap_or_default().lines() {
                    let mut fields = line.split_whitespace();
                    let dev = fields.next().unwrap_or_default();
                    for (key, value) in fields.filter_map(|f| f.split_once('=')) {
                        let value = value.parse().unwrap_or(0);
                        match key {
                            "rbytes" => bytes.push(entry(dev, "Read", value)),
                            "wbytes" => bytes.push(entry(dev, "Write", value)),
                            "rios" => ios.push(entry(dev, "Read", value)),
                            "wios" => ios.push(entry(dev, "Write", value)),
                            _ => {}
                        }
                    }
                }
            } else {
                // "8:0 Read 4096" lines, and a "Total" line without a device.
                let v1 = |file: &str| -> Vec<Value> {
                    read(d, file)
                        .unwrap_or_default()
                        .lines()
                        .filter_map(|l| {
                            let f: Vec<&str> = l.split_whitespace().collect();
                            (f.len() == 3).then(|| entry(f[0], f[1], f[2].parse().unwrap_or(0)))
                        })
                        .collect()
                };
                bytes = v1("blkio.throttle.io_service_bytes_recursive");
                ios = v1("blkio.throttle.io_serviced_recursive");
            }
        }
        json!({"ioServiceBytesRecursive": bytes, "ioServicedRecursive": ios})
    }

    fn hugetlb_stats(&self) -> Value {
        let Some((h, d)) = self.holding("hugetlb") else { return json!({}) };
        let mut out = Map::new();
        for size in page_sizes() {
            let stats = if h.v2 {
                json!({
                    "usage": number(d, &format!("hugetlb.{size}.current")),
                    "max": number(d, &format!("hugetlb.{size}.max")),
                    "failcnt": get(&keyed(d, &format!("hugetlb.{size}.events")), "max"),
                })
            } else {
                json!({
                    "usage": number(d, &format!("hugetlb.{size}.usage_in_bytes")),
                    "max": number(d, &format!("hugetlb.{size}.max_usage_in_bytes")),
                    "failcnt": number(d, &format!("hugetlb.{size}.failcnt")),
                })
            };
            out.insert(size, stats);
        }
        Value::Object(out)
    }
}

/// The huge page sizes this kernel has, named as hugetlb's files name them ("2MB").
fn page_sizes() -> Vec<String> {
    let mut sizes: Vec<String> = fs::read_dir("/sys/kernel/mm/hugepages")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let kb: u64 = name.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect();
    sizes.sort();
    sizes
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_sizes_are_named_as_hugetlb_files_name_them() {
        let sizes = super::page_sizes();
        if std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
            assert!(sizes.contains(&"2MB".to_string()), "{sizes:?}");
        }
        if std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-1048576kB").exists() {
            assert!(sizes.contains(&"1GB".to_string()), "{sizes:?}");
        }
        assert_eq!(super::parse_limit("max"), u64::MAX);
        assert_eq!(super::parse_limit("42"), 42);
    }
}
