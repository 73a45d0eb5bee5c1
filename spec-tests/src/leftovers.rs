//! Checks that a container left nothing behind on the host.

use crate::{process_alive, Bundle, TIMEOUT};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The one empty directory the runtime keeps under a state root, which the next
/// `create` renames into place (saves a synchronous TRIM per `delete` on ext4 with
/// `discard`). Anything else under a root is a container's state.
pub const SPARE_STATE_DIR: &str = ".spare~";

/// What a state root holds besides its spare, and the spare's own entries (which
/// must be none), as names.
pub fn state_entries(root: &Path) -> Vec<String> {
    let names = |dir: &Path| -> Vec<String> {
        fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    let spare = names(&root.join(SPARE_STATE_DIR)).into_iter().map(|n| format!("{SPARE_STATE_DIR}/{n}"));
    names(root).into_iter().filter(|n| n != SPARE_STATE_DIR).chain(spare).collect()
}

/// One line of /proc/self/mountinfo (the fields the harness needs).
#[derive(Debug, Clone)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
    /// The superblock's options (a v1 cgroup mount lists its controllers here).
    pub super_options: String,
}

/// The test process's (i.e. the host's) mount table.
pub fn mountinfo() -> Vec<MountEntry> {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let mut post = post.split(' ');
            Some(MountEntry {
                mount_point: PathBuf::from(unescape(pre.split(' ').nth(4)?)),
                fs_type: post.next()?.to_string(),
                source: unescape(post.next()?),
                super_options: post.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        match rest.get(i + 1..i + 4).and_then(|o| u8::from_str_radix(o, 8).ok()) {
            Some(c) => {
                out.push(c as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out + rest
}

/// True when a path component names the container: exactly `id`, or `id`
/// embedded in a decorated name (e.g. a systemd `…-<id>.scope`) but not a
/// longer ID that merely starts with it (`…-5` vs `…-50`).
fn names_container(component: &str, id: &str) -> bool {
    component
        .match_indices(id)
        .any(|(i, _)| !component[i + id.len()..].chars().next().is_some_and(|c| c.is_ascii_alphanumeric()))
}

fn cgroup_dirs_named(dir: &Path, id: &str, depth: usize, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if names_container(&e.file_name().to_string_lossy(), id) {
            found.push(format!("cgroup directory {}", e.path().display()));
        } else if depth > 0 {
            cgroup_dirs_named(&e.path(), id, depth - 1, found);
        }
    }
}

fn find_leftovers(b: &Bundle, id: &str) -> Vec<String> {
    let mut found = Vec::new();

    let state = b.state_root().join(id);
    if state.exists() {
        found.push(format!("state entry {}", state.display()));
    }
    let spare = b.state_root().join(SPARE_STATE_DIR);
    found.extend(
        state_entries(&b.state_root())
            .into_iter()
            .filter(|n| n.starts_with(SPARE_STATE_DIR))
            .map(|n| format!("{} in the state root's spare directory {}", n, spare.display())),
    );

    // Every v1 controller hierarchy and the unified (v2) one.
    let mounts = mountinfo();
    for m in mounts.iter().filter(|m| m.fs_type == "cgroup" || m.fs_type == "cgroup2") {
        cgroup_dirs_named(&m.mount_point, id, 6, &mut found);
    }

    let bundle = b.path();
    for m in mounts.iter().filter(|m| m.mount_point.starts_with(&bundle)) {
        found.push(format!("mount {} ({} from {})", m.mount_point.display(), m.fs_type, m.source));
    }

    let rootfs = b.rootfs();
    let me = std::process::id().to_string();
    for pid in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = pid.file_name().to_string_lossy().into_owned();
        // Zombies hold nothing but a PID; an orphaned container init waits
        // for the host's PID 1 to reap it, which can take a while.
        if !pid.bytes().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        if !process_alive(pid.parse().unwrap_or(0)) {
            continue;
        }
        for link in ["root", "cwd"] {
            if let Ok(target) = fs::read_link(format!("/proc/{pid}/{link}")) {
                if target.starts_with(&rootfs) {
                    found.push(format!("process {pid} with {link} {}", target.display()));
                }
            }
        }
        // A pivoted container process shows "/" as its root, so also look
        // for processes still inside the container's cgroup.
        let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        if cgroups.lines().any(|l| l.split(['/', ':']).any(|c| names_container(c, id))) {
            found.push(format!("process {pid} in cgroup of {id}"));
        }
    }
    found
}

/// Asserts the container `id` created from `b` left nothing behind: no state
/// entry under the `--root`, no cgroup directory in any hierarchy, no mount
/// under the bundle, no process rooted in (or working in) the rootfs or still
/// in the container's cgroup. Retries briefly because killed processes and
/// cgroup removal settle asynchronously.
#[track_caller]
pub fn assert_no_leftovers(b: &Bundle, id: &str) {
    let deadline = Instant::now() + TIMEOUT / 4;
    loop {
        let found = find_leftovers(b, id);
        if found.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("container {id} left things behind:\n  {}", found.join("\n  "));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_container_matches_whole_ids_only() {
        assert!(names_container("t-1-5", "t-1-5"));
        assert!(names_container("anchor-t-1-5.scope", "t-1-5"));
        assert!(!names_container("t-1-50", "t-1-5"));
        assert!(!names_container("other", "t-1-5"));
    }

    #[test]
    fn unescape_decodes_octal() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
        assert_eq!(unescape(r"/a\b"), r"/a\b");
    }
}
