//! `linux.personality`: the execution domain (LINUX or LINUX32) and the flags the
//! kernel knows (linux/personality.h), as one personality(2) value. The spec names no
//! flags yet; the kernel's own names are taken, and any other is refused at `create`.

use crate::error::{Error, Result};
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

const PER_LINUX: u64 = 0x0000;
const PER_LINUX32: u64 = 0x0008;

const FLAGS: [(&str, u64); 11] = [
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

/// The personality(2) value the config asks for.
pub fn value(personality: &LinuxPersonality) -> Result<u64> {
    let domain = match personality.domain() {
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
    };
    personality.flags().iter().flatten().try_fold(domain, |value, name| {
        match FLAGS.iter().find(|(known, _)| known == name) {
            Some((_, bit)) => Ok(value | bit),
            None => Err(Error::invalid(format!(
                "linux.personality.flags: unknown flag {} (the kernel's are {})",
                crate::error::quoted(name),
                FLAGS.map(|(known, _)| known).join(", ")
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn domain_and_flags_make_one_value_and_unknown_flags_are_refused() {
        let read = |v| super::value(&serde_json::from_value(v).unwrap());
        let linux32 = serde_json::json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE", "UNAME26"]});
        assert_eq!(read(linux32).unwrap(), 0x0008 | 0x0040000 | 0x0020000);
        assert_eq!(read(serde_json::json!({"domain": "LINUX"})).unwrap(), 0);
        let unknown = read(serde_json::json!({"domain": "LINUX", "flags": ["NO_SUCH"]})).unwrap_err();
        assert!(unknown.to_string().contains("unknown flag \"NO_SUCH\""), "{unknown}");
    }
}
