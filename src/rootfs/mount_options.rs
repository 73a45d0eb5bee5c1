//! runtime-spec mount options turned into what mount(2) and mount_setattr(2) take.
//! Options that are not flags are passed through to the filesystem as data, as runc
//! does (`size=65536k`, `mode=755`, ...).

use nix::mount::MsFlags;

/// Attributes for mount_setattr(2), used for the recursive `r*` options.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x0020_0000;

/// Every option name this module understands (for `features`); anything else is
/// passed to the filesystem as data.
pub const OPTION_NAMES: [&str; 60] = [
    "ro",
    "rw",
    "nosuid",
    "suid",
    "nodev",
    "dev",
    "noexec",
    "exec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "lazytime",
    "nolazytime",
    "iversion",
    "noiversion",
    "silent",
    "loud",
    "nosymfollow",
    "symfollow",
    "bind",
    "rbind",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnodiratime",
    "rdiratime",
    "rnosymfollow",
    "rsymfollow",
    "rrelatime",
    "rnorelatime",
    "ratime",
    "rnoatime",
    "rstrictatime",
    "rnostrictatime",
    "defaults",
    "tmpcopyup",
];

#[derive(Debug, PartialEq)]
pub struct MountOptions {
    /// Flags for mount(2).
    pub flags: MsFlags,
    /// Flags the options clear by name (`rw`, `suid`, `dev`, `exec`, ...): on a bind
    /// mount from a more privileged namespace, a locked flag cleared by name is an
    /// error, one merely not named is kept.
    pub cleared: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// mount_setattr(2) attributes to set and clear on the whole tree.
    pub rec_set: u64,
    pub rec_clear: u64,
    /// `tmpcopyup` (runc's extension): fill the new tmpfs with what the path held.
    pub tmpcopyup: bool,
    /// Everything else, for the filesystem.
    pub data: Vec<String>,
}

impl MountOptions {
    pub fn parse(options: &[String]) -> Self {
        let mut o = MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            rec_set: 0,
            rec_clear: 0,
            tmpcopyup: false,
            data: Vec::new(),
        };
        for opt in options {
            if let Some((set, flag)) = flag_option(opt) {
                if set {
                    o.flags.insert(flag);
                    o.cleared.remove(flag);
                } else {
                    o.flags.remove(flag);
                    o.cleared.insert(flag);
                }
            } else if let Some(p) = propagation_option(opt) {
                o.propagation.push(p);
            } else if let Some((set, attr)) = recursive_option(opt) {
                if set && attr & MOUNT_ATTR_ATIME_MASK != 0 {
                    // mount_setattr takes an atime mode only with the whole field cleared.
                    o.rec_clear |= MOUNT_ATTR_ATIME_MASK;
                    o.rec_set = (o.rec_set & !MOUNT_ATTR_ATIME_MASK) | attr;
                } else if set {
                    o.rec_set |= attr;
                    o.rec_clear &= !attr;
                } else {
                    o.rec_clear |= attr;
                    o.rec_set &= !attr;
                }
            } else if opt == "tmpcopyup" {
                o.tmpcopyup = true;
            } else if opt != "defaults" {
                o.data.push(opt.clone());
            }
        }
        o
    }

    /// Whether anything is left to do once the mount exists: a propagation change or
    /// recursive attributes (which act on the new mount, so it must be reopened).
    pub fn has_after_mount_steps(&self) -> bool {
        !self.propagation.is_empty() || self.rec_set != 0 || self.rec_clear != 0
    }

    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// (true = set, false = clear) for the plain mount(2) flags.
/// The options that set these flags, as mount(8) spells them (`ro,nosuid`), for messages.
pub fn option_names(flags: MsFlags) -> String {
    let names = ["ro", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "relatime", "strictatime"];
    let set: Vec<&str> =
        names.into_iter().filter(|n| flag_option(n).is_some_and(|(on, f)| on && flags.contains(f))).collect();
    set.join(",")
}

fn flag_option(opt: &str) -> Option<(bool, MsFlags)> {
    let nosymfollow = MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW);
    Some(match opt {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "atime" => (false, MsFlags::MS_NOATIME),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "lazytime" => (true, MsFlags::MS_LAZYTIME),
        "nolazytime" => (false, MsFlags::MS_LAZYTIME),
        "iversion" => (true, MsFlags::MS_I_VERSION),
        "noiversion" => (false, MsFlags::MS_I_VERSION),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        "nosymfollow" => (true, nosymfollow),
        "symfollow" => (false, nosymfollow),
        "bind" => (true, MsFlags::MS_BIND),
        "rbind" => (true, MsFlags::MS_BIND | MsFlags::MS_REC),
        _ => return None,
    })
}

fn propagation_option(opt: &str) -> Option<MsFlags> {
    let rec = MsFlags::MS_REC;
    Some(match opt {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | rec,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | rec,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | rec,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | rec,
        _ => return None,
    })
}

/// The recursive options of runtime-spec 1.1 (`rro`, `rnosuid`, ...), for mount_setattr.
fn recursive_option(opt: &str) -> Option<(bool, u64)> {
    Some(match opt {
        "rro" => (true, MOUNT_ATTR_RDONLY),
        "rrw" => (false, MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, MOUNT_ATTR_NOSUID),
        "rsuid" => (false, MOUNT_ATTR_NOSUID),
        "rnodev" => (true, MOUNT_ATTR_NODEV),
        "rdev" => (false, MOUNT_ATTR_NODEV),
        "rnoexec" => (true, MOUNT_ATTR_NOEXEC),
        "rexec" => (false, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rnosymfollow" => (true, MOUNT_ATTR_NOSYMFOLLOW),
        "rsymfollow" => (false, MOUNT_ATTR_NOSYMFOLLOW),
        // The atime modes are one field (relatime is its zero value).
        "rrelatime" | "rnorelatime" | "ratime" => (false, MOUNT_ATTR_ATIME_MASK),
        "rnoatime" => (true, MOUNT_ATTR_NOATIME),
        "rstrictatime" => (true, MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (false, MOUNT_ATTR_ATIME_MASK),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(opts: &[&str]) -> MountOptions {
        MountOptions::parse(&opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_propagation_and_data_are_separated() {
        let o = parse(&["nosuid", "noexec", "rbind", "rslave", "mode=755", "size=65536k", "ro"]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data().as_deref(), Some("mode=755,size=65536k"));
        assert!(o.is_bind());
    }

    #[test]
    fn every_listed_option_name_is_understood() {
        for name in OPTION_NAMES {
            assert!(parse(&[name]).data.is_empty(), "{name} would be passed as filesystem data");
        }
    }

    #[test]
    fn later_options_override_earlier_ones() {
        assert!(!parse(&["ro", "rw"]).flags.contains(MsFlags::MS_RDONLY));
        let o = parse(&["rro", "rrw", "rnosuid"]);
        assert_eq!((o.rec_set, o.rec_clear), (MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY));
        let o = parse(&["rnoatime"]);
        assert_eq!((o.rec_set, o.rec_clear), (MOUNT_ATTR_NOATIME, MOUNT_ATTR_ATIME_MASK));
        let o = parse(&["rnoatime", "rstrictatime"]);
        assert_eq!((o.rec_set, o.rec_clear), (MOUNT_ATTR_STRICTATIME, MOUNT_ATTR_ATIME_MASK));
    }
}
