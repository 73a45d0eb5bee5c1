//! AppArmor profiles and SELinux labels: the confinement a Linux Security Module adds
//! to the container's processes, applied as runc applies it.
//!
//! Both take hold at the program's execve. The runtime writes the profile or the label
//! to its own `attr/.../exec` in procfs as one of its last steps, through the verified
//! procfs handle (`procfs::Procfs`): a mount or a symlink the container put on the way
//! would otherwise take the write elsewhere and leave the program unconfined. The
//! SELinux label also goes to `attr/keycreate` before the session keyring is made, so
//! the keyring carries the container's label; and `linux.mountLabel` is the context of
//! the filesystems the runtime mounts for the container (see `with_mount_label`).
//!
//! Where an LSM is not enabled its settings mean nothing: they are ignored, with a
//! debug line, as runc ignores them. Where it is, `create` and `exec` refuse a profile
//! that is not loaded or a label the policy does not know, before anything runs.

use crate::error::{quoted, Context, Error, Result};
use crate::procfs::Procfs;
use oci_spec::runtime::{Process, Spec};
use std::path::Path;
use std::sync::OnceLock;

/// AppArmor is enabled: its securityfs directory is there and the module says so
/// (runc's test).
pub fn apparmor_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        Path::new("/sys/kernel/security/apparmor").is_dir()
            && crate::small_file::read_to_string("/sys/module/apparmor/parameters/enabled")
                .is_ok_and(|v| v.starts_with('Y'))
    })
}

/// SELinux is enabled: selinuxfs is mounted and this process has a context of the
/// loaded policy ("kernel" until a policy is loaded), go-selinux's test.
pub fn selinux_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        Path::new("/sys/fs/selinux/enforce").exists()
            && crate::small_file::read_to_string("/proc/self/attr/current")
                .is_ok_and(|c| c.trim_end_matches(['\0', '\n']) != "kernel")
    })
}

/// The profile and label a process is to run with, kept only where their LSM is
/// enabled.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ExecLabels {
    apparmor_profile: Option<String>,
    selinux_label: Option<String>,
}

impl ExecLabels {
    pub fn of(process: &Process) -> Self {
        let set = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        ExecLabels {
            apparmor_profile: set(process.apparmor_profile()).filter(|_| apparmor_enabled()),
            selinux_label: set(process.selinux_label()).filter(|_| selinux_enabled()),
        }
    }

    /// The label the session keyring is made with: the process's own (runc's
    /// SetKeyLabel). Before the keyring is joined.
    pub fn set_keyring_label(&self) -> Result<()> {
        if let Some(label) = &self.selinux_label {
            // The thread group leader's: keyrings belong to the process.
            Procfs::open()?.write("self/attr/keycreate", label)?;
        }
        Ok(())
    }

    /// The profile and label the next execve switches to. One of the last steps
    /// before the exec, while the runtime is still root: once it is undumpable and
    /// another user, its procfs files are no longer its own to write.
    pub fn set_for_exec(&self) -> Result<()> {
        if self.apparmor_profile.is_none() && self.selinux_label.is_none() {
            return Ok(());
        }
        let proc = Procfs::open()?;
        if let Some(profile) = &self.apparmor_profile {
            // Kernels since 5.8 keep each LSM's attributes apart; older ones share
            // attr/exec. A profile that is not loaded is ENOENT.
            let attr = if proc.exists("thread-self/attr/apparmor") {
                "thread-self/attr/apparmor/exec"
            } else {
                "thread-self/attr/exec"
            };
            proc.write(attr, &format!("exec {profile}")).map_err(|e| match e {
                Error::Sys { errno: libc::ENOENT, .. } => not_loaded(profile),
                e => e,
            })?;
        }
        if let Some(label) = &self.selinux_label {
            proc.write("thread-self/attr/exec", label)?;
        }
        Ok(())
    }
}

/// `linux.mountLabel` where SELinux is enabled.
pub fn mount_label(spec: &Spec) -> Option<&str> {
    spec.linux().as_ref()?.mount_label().as_deref().filter(|l| !l.is_empty() && selinux_enabled())
}

/// Refuses, before anything runs, what would only fail at the exec: a profile that is
/// not loaded, a label that is not a context of the loaded policy. What an LSM that
/// is not enabled would apply is logged as ignored.
pub fn check_process(process: &Process) -> Result<()> {
    // The LSM is looked up only for a setting that is there: most configs have none.
    if let Some(profile) = non_empty(process.apparmor_profile().as_ref()) {
        match apparmor_enabled() {
            true => check_profile_loaded(profile)?,
            false => ignored("process.apparmorProfile", profile, "AppArmor"),
        }
    }
    if let Some(label) = non_empty(process.selinux_label().as_ref()) {
        match selinux_enabled() {
            true => check_context("process.selinuxLabel", label)?,
            false => ignored("process.selinuxLabel", label, "SELinux"),
        }
    }
    Ok(())
}

/// `check_process`, and the mount label.
pub fn check_spec(spec: &Spec, process: &Process) -> Result<()> {
    check_process(process)?;
    if let Some(label) = non_empty(spec.linux().as_ref().and_then(|l| l.mount_label().as_ref())) {
        match selinux_enabled() {
            true => check_context("linux.mountLabel", label)?,
            false => ignored("linux.mountLabel", label, "SELinux"),
        }
    }
    Ok(())
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

/// As runc: a setting for an LSM that is not enabled means nothing.
fn ignored(field: &str, value: &str, lsm: &str) {
    crate::logger::debug(format!("{field} {} ignored: {lsm} is not enabled", quoted(value)));
}

/// Mount data with the mount label as the context of every file of the mount, as
/// runc formats it (quoted: an MCS range has commas).
pub fn with_mount_label(data: Option<String>, label: Option<&str>) -> Option<String> {
    match (data, label) {
        (data, None) => data,
        (None, Some(label)) => Some(format!("context=\"{label}\"")),
        (Some(data), Some(label)) => Some(format!("{data},context=\"{label}\"")),
    }
}

/// Labels the file at `path` (the root of a mount that takes no context option,
/// mqueue, as runc labels it).
pub fn set_file_label(path: &Path, label: &str) -> nix::Result<()> {
    let path =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| nix::errno::Errno::EINVAL)?;
    let name = c"security.selinux";
    // SAFETY: both strings are NUL-terminated and the value is a valid slice.
    let r = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), label.as_ptr().cast(), label.len(), 0) };
    nix::errno::Errno::result(r).map(drop)
}

/// AppArmor lists the loaded profiles in securityfs, one "name (mode)" per line.
/// `unconfined` is never listed; a stacked or namespaced name (`a//&b`, `:ns:p`) is
/// left to the kernel to judge at the exec.
fn check_profile_loaded(profile: &str) -> Result<()> {
    if profile == "unconfined" || profile.contains("//") || profile.starts_with(':') {
        return Ok(());
    }
    let Ok(list) = crate::small_file::read_to_string("/sys/kernel/security/apparmor/profiles") else {
        return Ok(());
    };
    let loaded = list.lines().any(|line| line.rsplit_once(" (").is_some_and(|(name, _)| name == profile));
    if loaded {
        Ok(())
    } else {
        Err(not_loaded(profile))
    }
}

fn not_loaded(profile: &str) -> Error {
    Error::invalid(format!("process.apparmorProfile: apparmor profile {} is not loaded", quoted(profile)))
}

/// Asks the kernel whether `label` is a context of the loaded policy: selinuxfs'
/// `context` file takes a context and refuses one the policy does not allow.
fn check_context(field: &str, label: &str) -> Result<()> {
    use std::io::Write;
    let refused = |e: std::io::Error| {
        Error::invalid(format!(
            "{field}: {} is not a valid SELinux context here: {}",
            quoted(label),
            crate::error::errno_text(nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
        ))
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/sys/fs/selinux/context")
        .ctx(|| "open /sys/fs/selinux/context")?;
    file.write_all(label.as_bytes()).map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_label_is_added_quoted_after_the_options() {
        let label = Some("system_u:object_r:tmp_t:s0:c1,c2");
        assert_eq!(
            with_mount_label(Some("mode=755".into()), label).as_deref(),
            Some("mode=755,context=\"system_u:object_r:tmp_t:s0:c1,c2\"")
        );
        assert_eq!(
            with_mount_label(None, label).as_deref(),
            Some("context=\"system_u:object_r:tmp_t:s0:c1,c2\"")
        );
        assert_eq!(with_mount_label(Some("size=1k".into()), None).as_deref(), Some("size=1k"));
    }
}
