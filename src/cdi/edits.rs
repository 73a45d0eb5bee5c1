//! Applying CDI `containerEdits` to the OCI configuration: env, device nodes (each
//! also allowed in the device cgroup), mounts, hooks and additional GIDs. A spec
//! file's own edits come once, before the first of its devices that was requested.

use super::spec_file::{ContainerEdits, DeviceNode};
use super::Resolved;
use crate::error::{Error, Result};
use oci_spec::runtime::{Hook, Hooks, Linux, LinuxDevice, LinuxDeviceCgroup, LinuxResources, Mount, Spec};
use serde_json::json;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The edits of every resolved device, in order, with the name that brought each.
pub fn apply(spec: &mut Spec, resolved: &[Resolved]) -> Result<()> {
    let mut edits: Vec<(&str, &ContainerEdits)> = Vec::new();
    let mut files_seen: Vec<&Path> = Vec::new();
    for r in resolved {
        if !files_seen.contains(&r.file) {
            files_seen.push(r.file);
            edits.push((r.name, &r.spec.container_edits));
        }
        edits.push((r.name, &r.spec.devices[r.device].container_edits));
    }
    check_device_paths(&edits)?;
    for (name, e) in edits {
        let at = |what: String| Error::invalid(format!("CDI device {name}: {what}"));
        if e.intel_rdt.is_some() || !e.net_devices.is_empty() {
            let what = if e.intel_rdt.is_some() { "intelRdt" } else { "netDevices" };
            return Err(at(format!("{what} edits are not supported yet")));
        }
        add_env(spec, &e.env);
        for node in &e.device_nodes {
            add_device_node(spec, node).map_err(at)?;
        }
        for m in &e.mounts {
            let mount: Mount = serde_json::from_value(json!({
                "destination": m.container_path, "source": m.host_path, "type": m.typ, "options": m.options,
            }))
            .map_err(|e| at(format!("mount {}: {e}", m.container_path)))?;
            // A CDI mount replaces the config's mount on the same path.
            let mounts = spec.mounts_mut().get_or_insert_with(Vec::new);
            mounts.retain(|old| old.destination() != mount.destination());
            mounts.push(mount);
        }
        for h in &e.hooks {
            let hook: Hook = serde_json::from_value(json!({
                "path": h.path, "args": h.args, "env": h.env, "timeout": h.timeout,
            }))
            .map_err(|e| at(format!("hook {}: {e}", h.path)))?;
            hook_list(spec, &h.hook_name).map_err(at)?.push(hook);
        }
        add_gids(spec, &e.additional_gids);
    }
    Ok(())
}

/// Two devices may not put different nodes on one container path.
fn check_device_paths(edits: &[(&str, &ContainerEdits)]) -> Result<()> {
    let nodes: Vec<(&str, &DeviceNode)> =
        edits.iter().flat_map(|(name, e)| e.device_nodes.iter().map(move |n| (*name, n))).collect();
    for (i, (name_a, a)) in nodes.iter().enumerate() {
        for (name_b, b) in &nodes[i + 1..] {
            let same_node =
                a.host_path == b.host_path && a.typ == b.typ && a.major == b.major && a.minor == b.minor;
            if a.path == b.path && !same_node {
                return Err(Error::invalid(format!(
                    "CDI devices {name_a} and {name_b} both claim {} with different device nodes",
                    a.path
                )));
            }
        }
    }
    Ok(())
}

fn add_env(spec: &mut Spec, env: &[String]) {
    if env.is_empty() {
        return;
    }
    if let Some(process) = spec.process_mut() {
        let list = process.env_mut().get_or_insert_with(Vec::new);
        // A variable the config already sets takes the CDI value (getenv would
        // otherwise find the config's first), as the CDI reference does.
        for var in env {
            let key = var.split_once('=').map_or(var.as_str(), |(k, _)| k);
            list.retain(|old| old.split_once('=').map_or(old.as_str(), |(k, _)| k) != key);
            list.push(var.clone());
        }
    }
}

fn add_gids(spec: &mut Spec, gids: &[u32]) {
    let Some(process) = spec.process_mut() else { return };
    let list = process.user_mut().additional_gids_mut().get_or_insert_with(Vec::new);
    // The CDI spec: a GID of 0 is ignored.
    for gid in gids.iter().filter(|g| **g != 0) {
        if !list.contains(gid) {
            list.push(*gid);
        }
    }
}

/// The node as linux.devices holds it, with what the spec file leaves out (type,
/// numbers, mode) read from the host's node, and a device cgroup rule allowing it.
fn add_device_node(spec: &mut Spec, node: &DeviceNode) -> std::result::Result<(), String> {
    let host = node.host_path.as_deref().unwrap_or(&node.path);
    // As the CDI reference does: the host's node is looked at only when the spec
    // leaves its type or numbers out (a fifo has no numbers).
    let complete = node.typ.as_deref() == Some("p")
        || (node.typ.is_some() && node.major.is_some() && node.minor.is_some());
    let host_node = if complete {
        None
    } else {
        Some(std::fs::metadata(host).map_err(|e| format!("device node {host}: {e}"))?)
    };
    let from_host_type = host_node.as_ref().map(|md| {
        let ft = md.file_type();
        if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else if ft.is_fifo() {
            "p"
        } else {
            ""
        }
    });
    let typ = node.typ.as_deref().or(from_host_type).unwrap_or("");
    if !matches!(typ, "c" | "b" | "u" | "p") {
        return Err(format!("device node {host} is not a character, block or fifo device"));
    }
    let rdev = host_node.as_ref().map_or(0, |md| md.rdev());
    let major = node.major.unwrap_or(libc::major(rdev) as i64);
    let minor = node.minor.unwrap_or(libc::minor(rdev) as i64);
    let file_mode = node.file_mode.or(host_node.as_ref().map(|md| md.mode() & 0o777));
    let device: LinuxDevice = serde_json::from_value(json!({
        "path": node.path, "type": typ, "major": major, "minor": minor,
        "fileMode": file_mode, "uid": node.uid, "gid": node.gid,
    }))
    .map_err(|e| format!("device node {}: {e}", node.path))?;
    let linux = spec.linux_mut().get_or_insert_with(Linux::default);
    let devices = linux.devices_mut().get_or_insert_with(Vec::new);
    devices.retain(|d| d.path() != device.path());
    devices.push(device);
    if typ != "p" {
        let access = node.permissions.as_deref().filter(|p| !p.is_empty()).unwrap_or("rwm");
        if !access.chars().all(|c| "rwm".contains(c)) {
            return Err(format!(
                "device node {}: permissions {access:?} are not a combination of r, w, m",
                node.path
            ));
        }
        let rule: LinuxDeviceCgroup = serde_json::from_value(json!({
            "allow": true, "type": if typ == "u" { "c" } else { typ }, "major": major, "minor": minor, "access": access,
        }))
        .map_err(|e| format!("device node {}: {e}", node.path))?;
        let resources = linux.resources_mut().get_or_insert_with(LinuxResources::default);
        resources.devices_mut().get_or_insert_with(Vec::new).push(rule);
    }
    Ok(())
}

fn hook_list<'s>(spec: &'s mut Spec, name: &str) -> std::result::Result<&'s mut Vec<Hook>, String> {
    let hooks = spec.hooks_mut().get_or_insert_with(Hooks::default);
    let list = match name {
        "prestart" => hooks.prestart_mut(),
        "createRuntime" => hooks.create_runtime_mut(),
        "createContainer" => hooks.create_container_mut(),
        "startContainer" => hooks.start_container_mut(),
        "poststart" => hooks.poststart_mut(),
        "poststop" => hooks.poststop_mut(),
        other => return Err(format!("hookName {other:?} is not an OCI hook")),
    };
    Ok(list.get_or_insert_with(Vec::new))
}
