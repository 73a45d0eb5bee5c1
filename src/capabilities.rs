//! The five capability sets of `process.capabilities`, applied around the switch to
//! the container's user: the bounding set is cut while we still hold CAP_SETPCAP,
//! the permitted set survives setuid through PR_SET_KEEPCAPS, and the others are set
//! once the user is final.

use crate::error::{Context, Error, Result};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use std::str::FromStr;

/// Removes the capability names this runtime does not know from a process object's
/// sets (`process` in config.json, or exec's process.json) and warns about them. The
/// runtime-spec asks for a warning, not a failure, for a capability that cannot be
/// granted, and runc ignores unknown names the same way. Returns whether any was
/// removed.
pub fn drop_unknown(process: &mut serde_json::Value) -> bool {
    let Some(sets) = process.get_mut("capabilities").and_then(|c| c.as_object_mut()) else {
        return false;
    };
    let mut dropped = Vec::new();
    for (set, names) in sets.iter_mut() {
        let Some(names) = names.as_array_mut() else { continue };
        names.retain(|name| {
            let known = serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                let text = name.as_str().map_or_else(|| name.to_string(), str::to_owned);
                dropped.push(format!("process.capabilities.{set} {}", crate::error::quoted(&text)));
            }
            known
        });
    }
    if !dropped.is_empty() {
        crate::logger::warn(format!("ignoring unknown capabilities: {}", dropped.join(", ")));
    }
    !dropped.is_empty()
}

/// The capabilities of one set, as the `caps` crate names them. Names this kernel
/// does not know (newer than it) are dropped with a warning, as runc does.
fn to_caps(set: &Option<Capabilities>, supported: &CapsHashSet) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for cap in set.iter().flatten() {
        let name = cap.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        let parsed =
            Capability::from_str(&name).map_err(|_| Error::invalid(format!("unknown capability {name}")))?;
        if supported.contains(&parsed) {
            out.insert(parsed);
        } else {
            crate::logger::warn(format!("capability {name} is not supported by this kernel; ignored"));
        }
    }
    Ok(out)
}

/// The sets the container's process gets (all empty when the config has none).
pub struct CapabilityPlan {
    /// What this kernel knows, asked once (a prctl per capability) for the names and
    /// the drops. Not from /proc/sys/kernel/cap_last_cap: in init that may be the
    /// image's own file, and a capability missing here is never dropped.
    supported: CapsHashSet,
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
}

impl CapabilityPlan {
    pub fn new(config: Option<&LinuxCapabilities>) -> Result<Self> {
        let supported = caps::runtime::thread_all_supported();
        let none = None;
        let get = |f: fn(&LinuxCapabilities) -> &Option<Capabilities>| config.map(f).unwrap_or(&none);
        Ok(CapabilityPlan {
            bounding: to_caps(get(LinuxCapabilities::bounding), &supported)?,
            effective: to_caps(get(LinuxCapabilities::effective), &supported)?,
            permitted: to_caps(get(LinuxCapabilities::permitted), &supported)?,
            inheritable: to_caps(get(LinuxCapabilities::inheritable), &supported)?,
            ambient: to_caps(get(LinuxCapabilities::ambient), &supported)?,
            supported,
        })
    }

    /// Before the user switch: shrink the bounding set (needs CAP_SETPCAP, which the
    /// later steps may drop).
    pub fn drop_bounding(&self) -> Result<()> {
        for &cap in &self.supported {
            if !self.bounding.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| Error::invalid(format!("drop {cap} from the bounding set: {e}")))?;
            }
        }
        Ok(())
    }

    /// After the user switch: inheritable first, while the permitted set still holds
    /// everything (the kernel only lets a process add to its inheritable set what it
    /// has permitted, and the config may ask for inheritable capabilities outside its
    /// permitted set, as runc's single capset allows); then effective (it must stay
    /// within the permitted set as that shrinks), permitted and ambient.
    pub fn apply(&self) -> Result<()> {
        let set = |which: CapSet, value: &CapsHashSet| {
            caps::set(None, which, value)
                .map_err(|e| Error::invalid(format!("set {which:?} capabilities: {e}")))
        };
        set(CapSet::Inheritable, &self.inheritable)?;
        set(CapSet::Effective, &self.effective)?;
        set(CapSet::Permitted, &self.permitted)?;
        // Raising ambient needs each capability permitted and inheritable; `runc spec`
        // lists ambient capabilities without inheritable ones, so, as with runc, one
        // that cannot be raised is skipped with runc's warning, not a failure.
        caps::clear(None, CapSet::Ambient)
            .map_err(|e| Error::invalid(format!("clear ambient capabilities: {e}")))?;
        for cap in &self.ambient {
            if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
                crate::logger::warn(format!("can't raise ambient capability {cap}: {e}"));
            }
        }
        Ok(())
    }
}

/// Keeps the permitted set across setuid from root to another user.
pub fn keep_across_setuid(keep: bool) -> Result<()> {
    nix::sys::prctl::set_keepcaps(keep).ctx(|| "prctl(PR_SET_KEEPCAPS)")
}
