//! `linux.memoryPolicy`: the NUMA memory policy of the container's processes, set
//! with set_mempolicy(2) as the last thing before execve (init's program and every
//! `exec`), which both inherit. Checked when the config is read, so a policy the
//! kernel would refuse for its form fails `create` before anything exists.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType as Flag, MemoryPolicyModeType as Mode};

/// Node numbers a policy may name: the kernel's largest MAX_NUMNODES (NODES_SHIFT 10).
const MAX_NODES: usize = 1024;
const WORD_BITS: usize = u64::BITS as usize;

/// A policy ready for set_mempolicy: the mode with its flags, and the node mask.
#[derive(Debug, PartialEq)]
pub struct MemoryPolicy {
    mode_with_flags: i32,
    nodes: Vec<u64>,
}

impl MemoryPolicy {
    /// The policy a config asks for, or an error naming what is wrong with it.
    pub fn from_config(policy: &LinuxMemoryPolicy) -> Result<Self> {
        let nodes = match policy.nodes().as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(list) => parse_nodes(list)?,
        };
        let count = nodes.iter().map(|w| w.count_ones()).sum::<u32>();
        let mode = policy.mode();
        let (number, needs_nodes) = match mode {
            Mode::MpolDefault => (0, Some(false)),
            Mode::MpolPreferred => (1, None),
            Mode::MpolBind => (2, Some(true)),
            Mode::MpolInterleave => (3, Some(true)),
            Mode::MpolLocal => (4, Some(false)),
            Mode::MpolPreferredMany => (5, Some(true)),
            Mode::MpolWeightedInterleave => (6, Some(true)),
        };
        match needs_nodes {
            Some(false) if count > 0 => {
                return Err(invalid(format!("{mode} mode requires 0 nodes but got {count}")));
            }
            Some(true) if count == 0 => return Err(invalid(format!("{mode} mode requires nodes"))),
            _ => {}
        }
        let flags = policy.flags().as_deref().unwrap_or_default();
        if flags.contains(&Flag::MpolFStaticNodes) && flags.contains(&Flag::MpolFRelativeNodes) {
            return Err(invalid("MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other".into()));
        }
        let flag_bits = flags.iter().fold(0, |bits, flag| {
            bits | match flag {
                Flag::MpolFNumaBalancing => 1 << 13,
                Flag::MpolFRelativeNodes => 1 << 14,
                Flag::MpolFStaticNodes => 1 << 15,
            }
        });
        Ok(MemoryPolicy { mode_with_flags: number | flag_bits, nodes })
    }

    /// Sets it for this process (and so for what it execs).
    pub fn apply(&self) -> Result<()> {
        let mask = if self.nodes.is_empty() { std::ptr::null() } else { self.nodes.as_ptr() };
        // maxnode counts bits, and the kernel reads one fewer than it is given.
        let max_node = self.nodes.len() * WORD_BITS + 1;
        // SAFETY: the mask holds max_node - 1 bits (or is null with no nodes); the
        // kernel only reads it.
        let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, self.mode_with_flags, mask, max_node) };
        nix::errno::Errno::result(r).map(drop).ctx(|| "set_mempolicy (linux.memoryPolicy)")
    }
}

fn invalid(why: String) -> Error {
    Error::invalid(format!("linux.memoryPolicy: invalid memory policy: {why}"))
}

/// "0-3,7" as a node mask, as long as the highest node needs.
fn parse_nodes(list: &str) -> Result<Vec<u64>> {
    let bad = |part: &str| {
        Error::invalid(format!(
            "linux.memoryPolicy: invalid memory policy node {}",
            crate::error::quoted(part)
        ))
    };
    let mut mask = Vec::new();
    for part in list.split(',') {
        let node =
            |n: &str| n.trim().parse::<usize>().ok().filter(|n| *n < MAX_NODES).ok_or_else(|| bad(part));
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (node(a)?, node(b)?),
            None => (node(part)?, node(part)?),
        };
        if first > last {
            return Err(bad(part));
        }
        mask.resize(mask.len().max(last / WORD_BITS + 1), 0);
        for n in first..=last {
            mask[n / WORD_BITS] |= 1 << (n % WORD_BITS);
        }
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(v: serde_json::Value) -> Result<MemoryPolicy> {
        MemoryPolicy::from_config(&serde_json::from_value(v).unwrap())
    }

    #[test]
    fn node_lists_become_masks_and_bad_ones_are_refused() {
        assert_eq!(parse_nodes("0-3,7").unwrap(), vec![0b1000_1111]);
        assert_eq!(parse_nodes("64").unwrap(), vec![0, 1]);
        for bad in ["0-9876543210", "3-1", "x", "1024", "0,,1"] {
            assert!(parse_nodes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_and_flags_are_checked_against_the_nodes() {
        let bind =
            policy(serde_json::json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}));
        assert_eq!(bind.unwrap(), MemoryPolicy { mode_with_flags: 2 | 1 << 15, nodes: vec![1] });
        let default_with_nodes = policy(serde_json::json!({"mode": "MPOL_DEFAULT", "nodes": "0-7"}));
        assert!(default_with_nodes.unwrap_err().to_string().contains("requires 0 nodes but got 8"));
        assert!(policy(serde_json::json!({"mode": "MPOL_INTERLEAVE"})).is_err());
        assert!(
            policy(serde_json::json!({"mode": "MPOL_PREFERRED"})).is_ok(),
            "preferred without nodes is local"
        );
        let both = serde_json::json!({"mode": "MPOL_BIND", "nodes": "0",
                                      "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]});
        assert!(policy(both).is_err());
    }
}
