//! /proc/self/mountinfo, read into the fields the runtime uses: where the cgroup
//! hierarchies are, which mount holds the rootfs, and which proc and sysfs mounts
//! `--no-pivot` must hide.

use crate::error::{Context, Result};
use std::path::PathBuf;

/// One mount: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
pub struct MountLine {
    /// The path inside its filesystem that is mounted ("/" for a whole one).
    pub root: String,
    pub mount_point: PathBuf,
    /// Propagation tags ("shared:N", "master:N").
    pub optional: String,
    pub fs_type: String,
    /// The filesystem's own options (for cgroup v1, its controllers).
    pub super_options: String,
}

/// The mounts of this process's mount namespace, in the kernel's order.
pub fn read() -> Result<Vec<MountLine>> {
    let info =
        crate::small_file::read_to_string("/proc/self/mountinfo").ctx(|| "read /proc/self/mountinfo")?;
    Ok(info.lines().filter_map(parse).collect())
}

fn parse(line: &str) -> Option<MountLine> {
    let (left, right) = line.split_once(" - ")?;
    let fields: Vec<&str> = left.split(' ').collect();
    let mut right = right.split(' ');
    Some(MountLine {
        root: fields.get(3)?.to_string(),
        mount_point: PathBuf::from(fields.get(4)?),
        optional: fields.get(6..).map(|f| f.join(" ")).unwrap_or_default(),
        fs_type: right.next()?.to_string(),
        super_options: right.nth(1).unwrap_or_default().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_gives_its_fields() {
        let line = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - cgroup cgroup rw,cpu,cpuacct";
        let m = parse(line).unwrap();
        assert_eq!((m.root.as_str(), m.mount_point.to_str()), ("/mnt1", Some("/mnt2")));
        assert_eq!(m.optional, "master:1 shared:2");
        assert_eq!((m.fs_type.as_str(), m.super_options.as_str()), ("cgroup", "rw,cpu,cpuacct"));
    }
}
