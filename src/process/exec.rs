//! The last steps before the user's program runs: limits, personality, NUMA memory
//! policy, the AppArmor profile and SELinux label for the exec, the switch to the
//! container's user with its capabilities, and the exec, through the sealed exec stub
//! (see `exec_stub`). The program is looked up while
//! create still runs, so a missing binary fails `create`, as with runc.

use super::exec_stub::ExecStub;
use crate::capabilities::{keep_across_setuid, CapabilityPlan};
use crate::error::{Context, Error, Result};
use crate::rootfs::safe_path::{open_in_root, open_root};
use nix::errno::Errno;
use oci_spec::runtime::{Process, Spec};
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The user's program, resolved and ready to exec.
pub struct Program<'a> {
    process: &'a Process,
    personality: Option<u64>,
    memory_policy: Option<crate::memory_policy::MemoryPolicy>,
    lsm_labels: crate::lsm::ExecLabels,
    caps: CapabilityPlan,
    path: CString,
    /// What the stub reports a failed execve as (see `sync::stub_failure_prefix`).
    failure_prefix: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    preserve_fds: u32,
    /// The config restricts the cgroup's CPUs (for the scheduler's error).
    cpus_limited: bool,
    seccomp: Option<&'a crate::seccomp::Filter>,
    /// Made now, before any seccomp filter could refuse memfd_create.
    stub: ExecStub,
}

impl<'a> Program<'a> {
    pub fn prepare(
        spec: &'a Spec,
        preserve_fds: u32,
        seccomp: Option<&'a crate::seccomp::Filter>,
    ) -> Result<Self> {
        let process = spec.process().as_ref().ok_or_else(|| Error::invalid("config.json has no process"))?;
        let env = prepare_env(process.env().as_deref().unwrap_or(&[]), || home_of(process.user().uid()))?;
        let args = process.args().as_deref().unwrap_or(&[]);
        let path = lookup(&args[0], &env, process.cwd())?;
        let cstr =
            |s: &str| CString::new(s).map_err(|_| Error::invalid(format!("{s:?} contains a NUL byte")));
        let personality = match spec.linux().as_ref().and_then(|l| l.personality().as_ref()) {
            Some(p) => Some(crate::personality::value(p)?),
            None => None,
        };
        let path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::invalid("program path has a NUL byte"))?;
        Ok(Program {
            process,
            personality,
            memory_policy: match spec.linux().as_ref().and_then(|l| l.memory_policy().as_ref()) {
                Some(policy) => Some(crate::memory_policy::MemoryPolicy::from_config(policy)?),
                None => None,
            },
            lsm_labels: crate::lsm::ExecLabels::of(process),
            caps: CapabilityPlan::new(process.capabilities().as_ref())?,
            failure_prefix: super::sync::stub_failure_prefix(&exec_step(&path)),
            path,
            args: args.iter().map(|a| cstr(a)).collect::<Result<_>>()?,
            env: env.iter().map(|e| cstr(e)).collect::<Result<_>>()?,
            preserve_fds,
            cpus_limited: spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref())
                .and_then(|r| r.cpu().as_ref())
                .and_then(|c| c.cpus().as_deref())
                .is_some_and(|cpus| !cpus.is_empty()),
            seccomp,
            stub: ExecStub::new()?,
        })
    }

    /// The program's environment as prepared (HOME added where runc adds it).
    pub fn environment(&self) -> Vec<String> {
        self.env.iter().map(|e| e.to_string_lossy().into_owned()).collect()
    }

    /// A filter with a listener goes in now, at the end of create (or of `exec`'s
    /// setup), not right before execve: its notify fd must reach the listener while
    /// the runtime is still there to pass it on. The runtime's remaining syscalls
    /// (waiting for `start`, the user switch, execve) then meet the filter too, as
    /// with runc. Returns the notify fd for the caller to send to the parent.
    pub fn load_seccomp_with_listener(&mut self) -> Result<Option<std::os::fd::OwnedFd>> {
        match self.seccomp.take_if(|f| f.listener.is_some()) {
            Some(filter) => crate::seccomp::load(filter),
            None => Ok(None),
        }
    }

    /// Runs the last steps and execs the program. `report` is where the stub tells a
    /// failed execve (see `ExecStub::exec`); a successful exec closes it.
    /// `just_before_exec` runs after every step, as the program's user under its
    /// filter: runc runs the startContainer hooks there.
    pub fn exec(
        self,
        report: Option<RawFd>,
        just_before_exec: impl FnOnce() -> Result<()>,
    ) -> Result<Infallible> {
        let p = self.process;
        if let Some(persona) = self.personality {
            // SAFETY: personality takes a plain integer.
            let r = unsafe { libc::personality(persona as libc::c_ulong) };
            nix::errno::Errno::result(r).ctx(|| "set personality")?;
        }
        // Before any filter: Docker's profile allows set_mempolicy only with CAP_SYS_NICE.
        if let Some(policy) = &self.memory_policy {
            policy.apply()?;
        }
        super::scheduling::apply(p, self.cpus_limited)?;
        // Only stdio and the fds `--preserve-fds` passes reach the program: every other
        // descriptor (sync socket, state directory, host files) is closed at exec
        // (CVE-2024-21626). Done before any filter, like everything that needs no
        // privilege: a profile from before close_range (2020) must not stop it.
        // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on fds.
        let r =
            unsafe { libc::close_range(3 + self.preserve_fds, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as i32) };
        nix::errno::Errno::result(r).ctx(|| "mark descriptors close-on-exec")?;
        // The cwd is resolved inside the container's root, refusing magic links: a cwd
        // that a symlink swap turned into /proc/self/fd/N must not lead out
        // (CVE-2024-21626). As runc does, it is entered while the runtime still has its
        // privileges (the user may not search a parent, or the rootfs itself), and only
        // where that is refused, again as the user after the switch (a volume chowned to
        // the container's user that root in a user namespace may not search).
        let step = || format!("chdir to cwd {}", p.cwd().display());
        let root = open_root(Path::new("/"))?;
        let resolve_cwd = || open_in_root(&root, p.cwd(), libc::O_PATH | libc::O_DIRECTORY, 0);
        let enter = |cwd: std::os::fd::OwnedFd| nix::unistd::fchdir(cwd.as_raw_fd()).ctx(step);
        let cwd_after_switch = match resolve_cwd() {
            Ok(cwd) => enter(cwd).map(|()| false)?,
            Err(Errno::EACCES | Errno::EPERM) => true,
            Err(e) => return Err(Error::sys(step(), e)),
        };
        // While still root and before any filter (see `lsm`); they take hold at the exec.
        self.lsm_labels.set_for_exec()?;
        // The filter goes in as late as it can: after everything that needs syscalls
        // it may forbid. Without no_new_privs, loading it needs CAP_SYS_ADMIN, which
        // the capability switch may drop: then it goes in just before that switch, and
        // only what runc itself does after it follows (the user switch, capset).
        let no_new_privs = p.no_new_privileges().unwrap_or(false);
        if let (Some(filter), false) = (self.seccomp, no_new_privs) {
            crate::seccomp::load(filter)?;
        }
        self.caps.drop_bounding()?;
        switch_user(p)?;
        self.caps.apply()?;
        if no_new_privs {
            nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)")?;
        }
        if let Some(mask) = p.user().umask() {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
        }
        if cwd_after_switch {
            enter(resolve_cwd().ctx(step)?)?;
        }
        if let (Some(filter), true) = (self.seccomp, no_new_privs) {
            crate::seccomp::load(filter)?;
        }
        just_before_exec()?;
        let err = self.stub.exec(report, &self.failure_prefix, &self.path, &self.args, &self.env);
        Err(Error::sys(exec_step(&self.path), err))
    }
}

/// runc's words for a failed execve ("exec /app: exec format error", "exec /run.sh:
/// no such file or directory"), which platform engineers know and search for: the
/// path as it is, not quoted (control characters are escaped when it is printed).
fn exec_step(path: &CString) -> String {
    format!("exec {}", path.to_string_lossy())
}

fn switch_user(p: &Process) -> Result<()> {
    let user = p.user();
    keep_across_setuid(true)?;
    let gids: Vec<nix::unistd::Gid> = user.additional_gids().iter().flatten().map(|g| (*g).into()).collect();
    let groups_allowed =
        crate::small_file::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny");
    if groups_allowed {
        nix::unistd::setgroups(&gids).ctx(|| format!("set additional groups {gids:?}"))?;
    } else if !gids.is_empty() {
        return Err(Error::invalid(
            "user.additionalGids cannot be set: setgroups is denied in this user namespace",
        ));
    }
    let (uid, gid) = (user.uid().into(), user.gid().into());
    nix::unistd::setresgid(gid, gid, gid).ctx(|| format!("set gid {}", user.gid()))?;
    nix::unistd::setresuid(uid, uid, uid).ctx(|| format!("set uid {}", user.uid()))?;
    // The new credentials reset dumpability to fs.suid_dumpable; the stub's exec is
    // still to come.
    super::become_undumpable()?;
    keep_across_setuid(false)
}

/// The environment as runc hands it over: the last of each repeated name, in the
/// order given, and HOME from the image's /etc/passwd (`home`) when it is missing or
/// empty. An entry without `=` or with an empty name is refused, as runc does.
fn prepare_env(env: &[String], home: impl FnOnce() -> String) -> Result<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(env.len() + 1);
    let mut home_set = false;
    for kv in env.iter().rev() {
        let key = match kv.split_once('=') {
            None => {
                return Err(Error::invalid(format!(
                    "invalid environment variable {}: missing '='",
                    crate::error::quoted(kv)
                )))
            }
            Some(("", _)) => {
                return Err(Error::invalid("invalid environment variable: name cannot be empty"))
            }
            Some((key, _)) => key,
        };
        if !seen.insert(key) {
            continue;
        }
        if key == "HOME" {
            if kv.len() == "HOME=".len() {
                continue;
            }
            home_set = true;
        }
        out.push(kv.clone());
    }
    out.reverse();
    if !home_set {
        out.push(format!("HOME={}", home()));
    }
    Ok(out)
}

/// The user's home directory from the container's /etc/passwd ("/" when it has
/// none), for a process started without HOME, as runc does. Only a regular file is
/// read: the image could make it a FIFO and hang create.
fn home_of(uid: u32) -> String {
    let passwd = crate::small_file::read_regular("/etc/passwd").unwrap_or_default();
    let passwd = String::from_utf8_lossy(&passwd);
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse() == Ok(uid))
        .map_or_else(|| "/".to_string(), |f| f[5].to_string())
}

/// Why execve(2) would refuse `path`, checked beforehand.
fn runnable(path: &Path) -> std::result::Result<(), Errno> {
    let md = std::fs::metadata(path).map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    if md.is_file() && md.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// PATH lookup as execvp does it, with the container's own PATH; a relative name
/// (or PATH entry) is taken from the process's cwd. Done during create, so a missing
/// program fails `create`, as with runc.
fn lookup(arg0: &str, env: &[String], cwd: &Path) -> Result<PathBuf> {
    let found =
        if arg0.contains('/') {
            let path = cwd.join(arg0);
            // The errno's own words: podman maps "no such file or directory" to exit 127
            // and "permission denied" to 126, as for runc's messages.
            runnable(&path)
                .map_err(|e| Error::invalid(format!("exec: {arg0:?}: {}", crate::error::errno_text(e))))?;
            path
        } else {
            let path_var = env.iter().rev().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
            path_var.split(':').map(|dir| cwd.join(dir).join(arg0)).find(|p| runnable(p).is_ok()).ok_or_else(
                || Error::invalid(format!("exec: {arg0:?}: executable file not found in $PATH")),
            )?
        };
    // /proc/self/exe is the runtime binary here. The exec stub is what keeps the
    // container from it (the program would get only the sealed stub); this says so
    // clearly, at create, for the one path that names it.
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    if id(&found).is_some() && id(&found) == id(Path::new("/proc/self/exe")) {
        return Err(Error::invalid(format!("exec: {arg0:?} is the runtime's own binary: refused")));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(list: &[&str]) -> Result<Vec<String>> {
        prepare_env(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>(), || "/root".into())
    }

    #[test]
    fn the_environment_is_prepared_as_runc_does() {
        assert_eq!(env(&["HOME=/override"]).unwrap(), ["HOME=/override"]);
        assert_eq!(env(&["HOME="]).unwrap(), ["HOME=/root"]);
        assert_eq!(env(&["HOME=/override", "HOME="]).unwrap(), ["HOME=/root"]);
        assert_eq!(env(&["ONE=two", "ONE=", "PATH=/bin"]).unwrap(), ["ONE=", "PATH=/bin", "HOME=/root"]);
        assert_eq!(env(&["A=1", "B=2", "A=3"]).unwrap(), ["B=2", "A=3", "HOME=/root"]);
        assert!(env(&["NOEQUALS"]).is_err());
        assert!(env(&["=x"]).is_err());
    }
}
