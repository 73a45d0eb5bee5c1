//! Harness for the anchor-runtime conformance suite.
//!
//! Every test builds a [`Bundle`] (a throw-away directory with a busybox +
//! `/probe` rootfs and a `config.json` equal to `runc spec` with
//! `terminal: false`), drives the runtime binary through its runc-compatible
//! CLI and asserts on exit codes, stderr, the state JSON and on what `/probe`
//! reports from inside the container.
//!
//! Binaries:
//! * runtime: `$ANCHOR_RUNTIME`, default `<workspace>/target/x86_64-unknown-linux-gnu/release/anchor-runtime` (`$CARGO_TARGET_DIR` in place of `target` when set)
//!   (the static build `make build` makes)
//! * probe: `$PROBE`, default `probe` beside it
//! * busybox: `/bin/busybox`
//!
//! Build and run (as root; `--test-threads=2` keeps a 2-core machine usable):
//!
//! ```text
//! RUSTFLAGS="-C target-feature=+crt-static" \
//!     cargo build --release -p probe --target x86_64-unknown-linux-gnu
//! ANCHOR_RUNTIME=/usr/sbin/runc cargo test -p spec-tests -- --test-threads=2
//! ```
//!
//! Layout of one test directory (`/tmp/anchor-spec-tests/<test>-<pid>-<n>/`):
//! `bundle/` (config.json + rootfs/), `state/` (the `--root`), `host/`
//! (fixtures that live outside the bundle, e.g. bind-mount sources) and
//! `out/` (captured stdout/stderr of every runtime invocation).

use std::cell::{Cell, RefCell};
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value};

mod leftovers;
pub mod rootless;
pub use leftovers::{assert_no_leftovers, mountinfo, state_entries, MountEntry, SPARE_STATE_DIR};

/// A runtime invocation that takes longer than this is killed and fails the
/// test instead of hanging CI.
pub const TIMEOUT: Duration = Duration::from_secs(20);

const TEST_ROOT: &str = "/tmp/anchor-spec-tests";

/// Busybox applets linked into `/bin` of every rootfs.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "sleep", "id", "hostname", "ps", "mount", "umount", "uname",
    "env", "kill", "mkdir", "touch", "test", "grep", "readlink", "printf", "pwd", "stat", "wc", "rm",
];

/// `runc spec` (runc 1.1.5) with `terminal: false` and `args: ["/probe"]`.
const DEFAULT_CONFIG: &str = include_str!("default-config.json");

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("spec-tests lives inside the workspace")
        .to_path_buf()
}

/// Where `make build` and `make probe` put the static binaries: cargo's target
/// directory (CARGO_TARGET_DIR, as cargo and the Makefile follow it) for the target.
fn static_release_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| PathBuf::from("target"), PathBuf::from);
    workspace_dir().join(target).join("x86_64-unknown-linux-gnu/release")
}

fn binary_from_env(var: &str, default: PathBuf, hint: &str) -> PathBuf {
    let path = std::env::var_os(var).map_or(default, PathBuf::from);
    assert!(path.is_file(), "{var}: {} does not exist; {hint}", path.display());
    path
}

/// The runtime under test.
pub fn runtime_path() -> PathBuf {
    binary_from_env(
        "ANCHOR_RUNTIME",
        static_release_dir().join("anchor-runtime"),
        "build it with `make build` or point ANCHOR_RUNTIME at a runtime (e.g. /usr/sbin/runc)",
    )
}

/// The static probe binary copied into every rootfs.
pub fn probe_path() -> PathBuf {
    binary_from_env(
        "PROBE",
        static_release_dir().join("probe"),
        "build it with `RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --release -p probe --target x86_64-unknown-linux-gnu`",
    )
}

pub fn busybox_path() -> PathBuf {
    binary_from_env("BUSYBOX", PathBuf::from("/bin/busybox"), "install busybox-static")
}

/// Name of the running test: libtest names each test thread after its test.
fn test_name() -> String {
    let name =
        std::thread::current().name().unwrap_or("test").rsplit("::").next().unwrap_or("test").to_string();
    // IDs name state and cgroup directories: stay well below NAME_MAX (255).
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(48).collect()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_name() -> String {
    format!("{}-{}-{}", test_name(), std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// Polls `cond` every 20 ms until it holds; panics with `what` after `TIMEOUT`.
#[track_caller]
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Result of one finished runtime invocation.
#[derive(Debug)]
pub struct Output {
    pub cmd: String,
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts exit status 0.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.success(), "expected success: {self:#?}");
        self
    }

    /// Asserts a clean failure: it finished in time, exited non-zero and said
    /// why on stderr.
    #[track_caller]
    pub fn fails(&self) -> &Self {
        assert!(!self.timed_out, "runtime hung: {self:#?}");
        assert!(matches!(self.code, Some(c) if c != 0), "expected a non-zero exit: {self:#?}");
        assert!(!self.stderr.trim().is_empty(), "expected an error message on stderr: {self:#?}");
        self
    }

    /// Like [`Output::fails`], and stderr mentions at least one of `words`
    /// (case-insensitive), so the user can tell what went wrong.
    #[track_caller]
    pub fn fails_mentioning(&self, words: &[&str]) -> &Self {
        self.fails();
        // Shown with --nocapture or on failure: what the user would read.
        eprintln!("{} => {}", self.cmd, self.stderr.trim());
        let err = self.stderr.to_lowercase();
        assert!(
            words.iter().any(|w| err.contains(&w.to_lowercase())),
            "stderr should mention one of {words:?}: {self:#?}"
        );
        self
    }

    /// stdout parsed as one JSON value.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }
}

/// A runtime invocation still in progress (e.g. a foreground `run`). Its
/// stdout/stderr go to files, not pipes: a container inherits the runtime's
/// stdio, so reading a pipe to EOF would block until the container exits.
pub struct Running {
    child: Option<Child>,
    cmd: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.as_ref().expect("not waited yet").id() as i32
    }

    /// Sends `sig` to the runtime process itself.
    pub fn signal(&self, sig: i32) {
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill runtime");
    }

    /// Waits for the exit (killing it after [`TIMEOUT`]).
    pub fn wait(mut self) -> Output {
        let mut child = self.child.take().expect("waited once");
        let deadline = Instant::now() + TIMEOUT;
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                break (status, false);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break (child.wait().expect("wait"), true);
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let read = |p: &Path| fs::read_to_string(p).unwrap_or_default();
        Output {
            cmd: self.cmd.clone(),
            code: status.code(),
            timed_out,
            stdout: read(&self.stdout),
            stderr: read(&self.stderr),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A helper process on the host (e.g. `unshare ... sleep`), killed on drop.
pub struct HostProcess(Child);

impl HostProcess {
    pub fn spawn(program: &str, args: &[&str]) -> Self {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        HostProcess(child)
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `readlink /proc/<pid>/ns/<kind>` (`pid` "self" for the test process).
pub fn ns_of(pid: &str, kind: &str) -> String {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap_or_else(|e| panic!("readlink /proc/{pid}/ns/{kind}: {e}"))
        .to_string_lossy()
        .into_owned()
}

/// True while `pid` exists and is not a zombie.
pub fn process_alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, r)| !r.starts_with('Z')))
        .unwrap_or(false)
}

/// A test bundle plus the guard for everything created from it: dropping it
/// runs `delete --force` for every container ID it handed out, detaches any
/// mount left under the test directory and removes the directory (set
/// `ANCHOR_SPEC_KEEP=1` to keep it for inspection).
pub struct Bundle {
    /// `config.json` as JSON; written to disk on every create/run.
    pub config: Value,
    /// Global flags for every invocation, after `--root` (e.g. `--cdi-spec-dirs`).
    pub global_flags: Vec<String>,
    /// The runtime binary the test drives ([`runtime_path`] unless the test runs a
    /// copy of its own). Cleanup always uses [`runtime_path`].
    pub runtime: PathBuf,
    dir: PathBuf,
    ids: RefCell<Vec<String>>,
    outputs: Cell<usize>,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    pub fn new() -> Self {
        let dir = Path::new(TEST_ROOT).join(unique_name());
        let b = Bundle {
            config: serde_json::from_str(DEFAULT_CONFIG).expect("default config is JSON"),
            global_flags: Vec::new(),
            runtime: runtime_path(),
            dir,
            ids: RefCell::new(Vec::new()),
            outputs: Cell::new(0),
        };
        for d in ["bundle", "state", "host", "out"] {
            fs::create_dir_all(b.dir.join(d)).expect("create test dir");
        }
        b.populate_rootfs();
        b
    }

    fn populate_rootfs(&self) {
        let root = self.rootfs();
        for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
            fs::create_dir_all(root.join(d)).expect("mkdir rootfs");
        }
        // Everything world-readable so user-namespaced containers can use it.
        for d in [self.dir.as_path(), &self.path(), &root] {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
        fs::copy(busybox_path(), root.join("bin/busybox")).expect("copy busybox");
        fs::copy(probe_path(), root.join("probe")).expect("copy probe");
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).expect("applet symlink");
        }
        self.write_rootfs_file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        );
        self.write_rootfs_file("etc/group", "root:x:0:\ntty:x:5:\nnobody:x:65534:\n");
    }

    /// The test directory holding bundle/, state/, host/ and out/.
    pub fn test_dir(&self) -> &Path {
        &self.dir
    }

    /// The bundle directory (holds config.json and rootfs/).
    pub fn path(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    pub fn path_str(&self) -> String {
        self.path().to_string_lossy().into_owned()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path().join("rootfs")
    }

    /// The `--root` state directory used for every invocation.
    pub fn state_root(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Writes `content` to `rel` inside the rootfs (creating parents).
    pub fn write_rootfs_file(&self, rel: &str, content: &str) -> PathBuf {
        write_file(&self.rootfs().join(rel), content)
    }

    /// A fresh directory on the host, outside the bundle (bind-mount sources,
    /// hook markers, escape targets).
    pub fn host_dir(&self, name: &str) -> PathBuf {
        let p = self.dir.join("host").join(name);
        fs::create_dir_all(&p).expect("create host dir");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Sets `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.config["process"]["args"] = json!(args);
        self
    }

    /// Sets `process.args` to `/probe` followed by `args`.
    pub fn probe(&mut self, args: &[&str]) -> &mut Self {
        let mut full = vec!["/probe"];
        full.extend_from_slice(args);
        self.args(&full)
    }

    /// Sets the process to a shell script (busybox sh).
    pub fn shell(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }

    pub fn add_mount(&mut self, mount: Value) -> &mut Self {
        push(&mut self.config["mounts"], mount);
        self
    }

    /// Bind-mounts `host` at `dest` with the given options (after "bind").
    pub fn bind(&mut self, host: &Path, dest: &str, options: &[&str]) -> &mut Self {
        let mut opts = vec!["bind"];
        opts.extend_from_slice(options);
        self.add_mount(json!({
            "destination": dest, "type": "bind", "source": host, "options": opts
        }))
    }

    /// A writable host directory bind-mounted at `/shared`: the way
    /// containers and hooks hand files back to the test.
    pub fn share(&mut self) -> PathBuf {
        let host = self.host_dir("shared");
        fs::set_permissions(&host, fs::Permissions::from_mode(0o777)).unwrap();
        self.bind(&host, "/shared", &["rw"]);
        host
    }

    /// A new user namespace whose IDs 0..size map to host IDs from `host_id` on.
    pub fn user_namespace(&mut self, host_id: u32, size: u32) -> &mut Self {
        self.set_namespace("user", None);
        let mapping = json!([{"containerID": 0, "hostID": host_id, "size": size}]);
        self.config["linux"]["uidMappings"] = mapping.clone();
        self.config["linux"]["gidMappings"] = mapping;
        self
    }

    fn namespaces(&mut self) -> &mut Vec<Value> {
        self.config["linux"]["namespaces"].as_array_mut().expect("linux.namespaces is an array")
    }

    /// Adds (or replaces) a `linux.namespaces` entry.
    pub fn set_namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        self.remove_namespace(kind);
        let mut ns = json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = json!(p);
        }
        self.namespaces().push(ns);
        self
    }

    pub fn remove_namespace(&mut self, kind: &str) -> &mut Self {
        self.namespaces().retain(|n| n["type"] != kind);
        self
    }

    /// Adds a hook running `/bin/sh -c script` to `hooks.<kind>`: the host's
    /// sh, except for startContainer whose path resolves in the container
    /// (the rootfs's busybox).
    pub fn hook(&mut self, kind: &str, script: &str) -> &mut Self {
        self.add_hook(kind, json!({"path": "/bin/sh", "args": ["sh", "-c", script]}))
    }

    pub fn add_hook(&mut self, kind: &str, hook: Value) -> &mut Self {
        push(&mut self.config["hooks"][kind], hook);
        self
    }

    /// A new unique container ID, registered for cleanup.
    /// Runs the runtime under test through a shell wrapper from now on:
    /// `#!/bin/sh` then `{launch} RUNTIME "$@"`, where `launch` ends in `exec` or
    /// a launcher (`exec taskset -c 0`), as a caller with its own habits would.
    pub fn run_runtime_via(&mut self, launch: &str) {
        let wrapper = self.test_dir().join("runtime-wrapper");
        let script = format!("#!/bin/sh\n{launch} {} \"$@\"\n", self.runtime.display());
        fs::write(&wrapper, script).expect("write the runtime wrapper");
        fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        self.runtime = wrapper;
    }

    pub fn new_id(&self) -> String {
        let id = unique_name();
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Registers an ID chosen by the test (e.g. an invalid one) for cleanup.
    pub fn track_id(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// Writes config.json with `linux.cgroupsPath` = `/anchor-spec-tests/<id>`
    /// so that the container's cgroups can be found (and checked gone).
    pub fn write_config(&self, id: &str) {
        let mut config = self.config.clone();
        // A test that sets its own cgroupsPath keeps it.
        if config["linux"]["cgroupsPath"].is_null() {
            config["linux"]["cgroupsPath"] = json!(format!("/anchor-spec-tests/{id}"));
        }
        let text = serde_json::to_string_pretty(&config).expect("serialize config");
        write_file(&self.path().join("config.json"), &text);
    }

    fn out_files(&self) -> (PathBuf, PathBuf) {
        let n = self.outputs.get();
        self.outputs.set(n + 1);
        let out = self.dir.join("out");
        (out.join(format!("{n}.stdout")), out.join(format!("{n}.stderr")))
    }

    /// Starts `RUNTIME --root <state> args...` in the bundle directory.
    pub fn spawn_runtime(&self, args: &[&str]) -> Running {
        let root = self.state_root().to_string_lossy().into_owned();
        let mut global = vec!["--root", root.as_str()];
        global.extend(self.global_flags.iter().map(String::as_str));
        self.spawn_runtime_with(&global, args)
    }

    /// Starts `RUNTIME global... args...` without an implicit `--root`.
    pub fn spawn_runtime_with(&self, global: &[&str], args: &[&str]) -> Running {
        let all: Vec<&str> = global.iter().chain(args).copied().collect();
        self.spawn_program(&self.runtime, &all)
    }

    /// Starts `program args...` in the bundle directory, its stdout and stderr
    /// going to files of this bundle (so a container it starts can inherit them).
    pub fn spawn_program(&self, program: &Path, args: &[&str]) -> Running {
        self.spawn_program_reading(program, args, None)
    }

    /// `spawn_program`, its stdin read from `stdin` (else /dev/null).
    pub fn spawn_program_reading(&self, program: &Path, args: &[&str], stdin: Option<&Path>) -> Running {
        let (stdout, stderr) = self.out_files();
        let cmd = format!("{} {}", program.display(), args.join(" "));
        let input = match stdin {
            Some(path) => {
                Stdio::from(fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            }
            None => Stdio::null(),
        };
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(self.path())
            .stdin(input)
            .stdout(fs::File::create(&stdout).expect("stdout file"))
            .stderr(fs::File::create(&stderr).expect("stderr file"));
        // A test's throwaway copy of the runtime is busy while another test's child,
        // forked between the copy's write and its close, has not exec'd yet: wait.
        let deadline = Instant::now() + Duration::from_secs(2);
        let child = loop {
            match command.spawn() {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                r => break r.unwrap_or_else(|e| panic!("spawn {cmd}: {e}")),
            }
        };
        Running { child: Some(child), cmd, stdout, stderr }
    }

    /// Runs `RUNTIME --root <state> args...` to completion (with timeout).
    pub fn runtime(&self, args: &[&str]) -> Output {
        self.spawn_runtime(args).wait()
    }

    /// Writes the config for a new ID and runs `create`; the container's
    /// stdout/stderr end up in the create invocation's files.
    pub fn try_create(&self, extra: &[&str]) -> (Container<'_>, Output) {
        let id = self.new_id();
        self.write_config(&id);
        let path = self.path_str();
        let mut args = vec!["create", "--bundle", path.as_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let running = self.spawn_runtime(&args);
        let io = (running.stdout.clone(), running.stderr.clone());
        let out = running.wait();
        (Container { id, b: self, io }, out)
    }

    /// `create`, asserting success.
    #[track_caller]
    pub fn create(&self) -> Container<'_> {
        let (c, out) = self.try_create(&[]);
        out.ok();
        c
    }

    /// `create` + `start`, asserting both succeed.
    #[track_caller]
    pub fn start(&self) -> Container<'_> {
        let c = self.create();
        c.start().ok();
        c
    }

    /// Starts `run [extra...] <new id>` without waiting for it.
    pub fn spawn_run(&self, extra: &[&str]) -> (Container<'_>, Running) {
        let id = self.new_id();
        self.write_config(&id);
        let path = self.path_str();
        let mut args = vec!["run", "--bundle", path.as_str()];
        args.extend_from_slice(extra);
        args.push(&id);
        let running = self.spawn_runtime(&args);
        let io = (running.stdout.clone(), running.stderr.clone());
        (Container { id, b: self, io }, running)
    }

    /// A handle on a container of this bundle made by other means (a `run` with
    /// stdio of the test's own, a `restore`); `id` must come from [`Bundle::new_id`].
    pub fn container(&self, id: &str) -> Container<'_> {
        let io = self.out_files();
        Container { id: id.to_string(), b: self, io }
    }

    /// `run [extra...] <new id>` to completion.
    pub fn run(&self, extra: &[&str]) -> (Container<'_>, Output) {
        let (c, running) = self.spawn_run(extra);
        (c, running.wait())
    }

    /// Runs the configured process in the foreground and asserts it
    /// succeeded and left nothing behind.
    #[track_caller]
    pub fn run_ok(&self) -> Output {
        let (c, out) = self.run(&[]);
        out.ok();
        assert_no_leftovers(self, &c.id);
        out
    }

    /// [`Bundle::run_ok`], returning stdout as JSON (the probe's report).
    #[track_caller]
    pub fn run_json(&self) -> Value {
        self.run_ok().json()
    }

    /// Runs several probe invocations in one container (via sh) and returns
    /// their reports in order.
    #[track_caller]
    pub fn run_probes(&mut self, invocations: &[&[&str]]) -> Vec<Value> {
        let script: Vec<String> = invocations
            .iter()
            .map(|args| {
                let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
                format!("/probe {}", quoted.join(" "))
            })
            .collect();
        self.shell(&script.join(" && "));
        let out = self.run_ok();
        let reports: Vec<Value> =
            out.stdout.lines().map(|l| serde_json::from_str(l).expect("probe line is JSON")).collect();
        assert_eq!(reports.len(), invocations.len(), "{out:#?}");
        reports
    }

    /// [`Bundle::run_json`] with `/probe args...`.
    #[track_caller]
    pub fn run_probe(&mut self, args: &[&str]) -> Value {
        self.probe(args);
        self.run_json()
    }

    /// [`Bundle::run_json`] with `/probe` (info).
    #[track_caller]
    pub fn probe_info(&mut self) -> Value {
        self.run_probe(&[])
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // The runtime under test, not a copy the test may have damaged.
        self.runtime = runtime_path();
        for id in self.ids.borrow().iter() {
            self.runtime(&["delete", "--force", id]);
        }
        // Never recurse into a directory that still has something mounted
        // below it: a leaked bind mount of a host dir would get wiped.
        let under = |m: &MountEntry| m.mount_point.starts_with(&self.dir);
        for m in mountinfo().iter().rev().filter(|m| under(m)) {
            if let Ok(p) = std::ffi::CString::new(m.mount_point.as_os_str().as_encoded_bytes()) {
                unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let keep = std::env::var_os("ANCHOR_SPEC_KEEP").is_some();
        if !keep && !mountinfo().iter().any(under) {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// A container created from a [`Bundle`].
pub struct Container<'a> {
    pub id: String,
    b: &'a Bundle,
    /// stdout/stderr files of the create/run invocation, which the container
    /// process inherited.
    io: (PathBuf, PathBuf),
}

impl Container<'_> {
    /// Runs `RUNTIME --root <state> <cmd> [args...] <id>`.
    pub fn cmd(&self, cmd: &str, args: &[&str]) -> Output {
        let mut full = vec![cmd];
        full.extend_from_slice(args);
        full.push(&self.id);
        self.b.runtime(&full)
    }

    /// `cmd` with its stdin read from a file (`update --resources -`).
    pub fn cmd_reading(&self, cmd: &str, args: &[&str], stdin: &Path) -> Output {
        let root = self.b.state_root().to_string_lossy().into_owned();
        let mut full = vec!["--root", root.as_str(), cmd];
        full.extend_from_slice(args);
        full.push(&self.id);
        self.b.spawn_program_reading(&self.b.runtime, &full, Some(stdin)).wait()
    }

    /// `exec [flags...] ID command...`: runc's order, the ID between them.
    pub fn exec(&self, flags: &[&str], command: &[&str]) -> Output {
        let mut full = vec!["exec"];
        full.extend_from_slice(flags);
        full.push(&self.id);
        full.extend_from_slice(command);
        self.b.runtime(&full)
    }

    pub fn start(&self) -> Output {
        self.cmd("start", &[])
    }

    /// `kill <id> <signal>`.
    pub fn kill(&self, signal: &str) -> Output {
        self.kill_with(&[], Some(signal))
    }

    /// `kill [flags...] <id> [signal]` (the signal is positional, after the ID).
    pub fn kill_with(&self, flags: &[&str], signal: Option<&str>) -> Output {
        let mut args = vec!["kill"];
        args.extend_from_slice(flags);
        args.push(&self.id);
        args.extend(signal);
        self.b.runtime(&args)
    }

    pub fn delete(&self, args: &[&str]) -> Output {
        self.cmd("delete", args)
    }

    /// `state` output as JSON (asserting success).
    #[track_caller]
    pub fn state(&self) -> Value {
        self.cmd("state", &[]).ok().json()
    }

    #[track_caller]
    pub fn status(&self) -> String {
        self.state()["status"].as_str().expect("state.status is a string").to_string()
    }

    /// Host PID of the container's init (from `state`).
    #[track_caller]
    pub fn pid(&self) -> i32 {
        self.state()["pid"].as_i64().expect("state.pid is a number") as i32
    }

    #[track_caller]
    pub fn wait_status(&self, status: &str) {
        wait_until(&format!("{} to be {status}", self.id), || {
            self.cmd("state", &[]).stdout.contains(&format!("\"{status}\""))
        });
    }

    /// What the container process has written to stdout so far.
    pub fn stdout(&self) -> String {
        fs::read_to_string(&self.io.0).unwrap_or_default()
    }

    /// What the container (and the runtime) wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.io.1).unwrap_or_default()
    }

    /// Waits for `/probe wait-signal` to report that its signal mask is set.
    #[track_caller]
    pub fn wait_probe_ready(&self) {
        wait_until("probe to be ready for signals", || self.stderr().contains("\"ready\":true"));
    }

    /// errno of opening /dev/probe-dev (`probe_dev_node`) for r, w or rw in the
    /// running container, null where the open succeeded.
    #[track_caller]
    pub fn open_errno(&self, mode: &str) -> Value {
        let report = self.exec(&[], &["/probe", "open", "/dev/probe-dev", mode]).ok().json();
        report["errno"].clone()
    }

    /// The container's stdout parsed as JSON once it is complete (the
    /// container has stopped).
    #[track_caller]
    pub fn output_json(&self) -> Value {
        self.wait_status("stopped");
        let out = self.stdout();
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("container stdout is not JSON ({e}): {out:?}"))
    }
}

/// A `linux.devices` entry: a node of the mem driver (major 1) with a minor it does
/// not have. The device cgroup is checked before the driver, so opening it fails with
/// EPERM where the rules deny it and with ENXIO (no such minor) where they allow it,
/// on any kernel and without any capability.
pub fn probe_dev_node() -> Value {
    json!({"path": "/dev/probe-dev", "type": "c", "major": 1, "minor": 200})
}

pub fn write_file(path: &Path, content: &str) -> PathBuf {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent dir");
    }
    fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_path_buf()
}

/// Appends `item` to the array at `slot`, creating the array if needed.
fn push(slot: &mut Value, item: Value) {
    if !slot.is_array() {
        *slot = json!([]);
    }
    slot.as_array_mut().unwrap().push(item);
}

/// Finds the mount at `mount_point` in a probe report (the last one wins,
/// as it is the visible one).
#[track_caller]
pub fn probe_mount<'v>(info: &'v Value, mount_point: &str) -> &'v Value {
    info["mounts"]
        .as_array()
        .expect("probe mounts")
        .iter()
        .rev()
        .find(|m| m["mount_point"] == mount_point)
        .unwrap_or_else(|| panic!("no mount at {mount_point} in {:#}", info["mounts"]))
}

/// The comma-separated mount options of a probe mount entry.
pub fn mount_options(mount: &Value) -> Vec<String> {
    mount["options"].as_str().unwrap_or("").split(',').map(str::to_string).collect()
}

/// Capability bit mask as /proc/self/status prints it.
pub fn cap_mask(bits: &[u32]) -> String {
    format!("{:016x}", bits.iter().fold(0u64, |m, b| m | 1 << b))
}

/// A mount made on the host for the duration of a test (e.g. a submount
/// inside a bind-mount source); detached on drop.
pub struct HostMount(pub PathBuf);

fn host_mount(source: &str, target: &Path, fs_type: &str, flags: libc::c_ulong) {
    host_mount_with(source, target, fs_type, flags, "")
}

fn host_mount_with(source: &str, target: &Path, fs_type: &str, flags: libc::c_ulong, data: &str) {
    let c = |s: &str| std::ffi::CString::new(s).unwrap();
    let data = c(data);
    let rc = unsafe {
        libc::mount(
            c(source).as_ptr(),
            c(&target.to_string_lossy()).as_ptr(),
            c(fs_type).as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount {source} at {}: {}", target.display(), std::io::Error::last_os_error());
}

impl HostMount {
    /// A tmpfs whose mountinfo source is `source`.
    pub fn tmpfs(at: &Path, source: &str) -> Self {
        fs::create_dir_all(at).expect("mount point");
        host_mount(source, at, "tmpfs", 0);
        HostMount(at.to_path_buf())
    }

    /// A tmpfs with mount options (`size=1m,nr_inodes=4`).
    pub fn tmpfs_with(at: &Path, options: &str) -> Self {
        fs::create_dir_all(at).expect("mount point");
        host_mount_with("tmpfs", at, "tmpfs", 0, options);
        HostMount(at.to_path_buf())
    }

    /// New options for the tmpfs this guard holds (`nr_inodes=64`).
    pub fn remount(&self, options: &str) {
        host_mount_with("tmpfs", &self.0, "tmpfs", libc::MS_REMOUNT, options);
    }

    /// Makes this mount (not its filesystem) read-only and noexec, as an admin's
    /// `mount -o remount,bind,ro,noexec` does.
    pub fn make_read_only_noexec(&self) {
        host_mount("none", &self.0, "", libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOEXEC);
    }

    /// Bind-mounts `dir` onto itself with shared propagation, like `/` on a
    /// systemd host, so that host mount events below it reach containers.
    pub fn shared_bind(dir: &Path) -> Self {
        let d = dir.to_string_lossy();
        host_mount(&d, dir, "", libc::MS_BIND | libc::MS_REC);
        let guard = HostMount(dir.to_path_buf());
        host_mount("none", dir, "", libc::MS_SHARED);
        guard
    }
}

impl Drop for HostMount {
    fn drop(&mut self) {
        let p = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

/// The host's cgroups are one cgroup2 tree (no v1 hierarchy).
pub fn cgroup_v2_only() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// Whether a cgroup hierarchy mounted under /sys/fs/cgroup holds `controller`:
/// a v1 mount naming it, or a cgroup2 tree whose root lists it (what the runtime
/// reads too). A hybrid host's cgroup2 tree loses a controller to any v1
/// hierarchy that binds it, even one mounted where this namespace cannot see it.
pub fn host_has_controller(controller: &str) -> bool {
    mountinfo().iter().filter(|m| m.mount_point.starts_with("/sys/fs/cgroup")).any(|m| {
        match m.fs_type.as_str() {
            "cgroup" => m.super_options.split(',').any(|o| o == controller),
            "cgroup2" => fs::read_to_string(m.mount_point.join("cgroup.controllers"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == controller)),
            _ => false,
        }
    })
}

/// The directory of the container `id`'s cgroup (at the harness's
/// `/anchor-spec-tests/<id>`) in the hierarchy that holds `controller`: the
/// v1 hierarchy named after it, else the cgroup2 tree (the whole of
/// /sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one).
pub fn cgroup_dir(controller: &str, id: &str) -> PathBuf {
    let rel = Path::new("anchor-spec-tests").join(id);
    if cgroup_v2_only() {
        return Path::new("/sys/fs/cgroup").join(rel);
    }
    let v1 = Path::new("/sys/fs/cgroup").join(controller);
    if v1.is_dir() && !v1.join("cgroup.controllers").exists() {
        return v1.join(rel);
    }
    Path::new("/sys/fs/cgroup/unified").join(rel)
}

/// A file of the container's cgroup, trimmed; panics naming the path.
#[track_caller]
pub fn read_cgroup(controller: &str, id: &str, file: &str) -> String {
    let path = cgroup_dir(controller, id).join(file);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).trim().to_string()
}

/// One message received on a unix socket, and the fd that came with it (SCM_RIGHTS),
/// as the runtime sends a pty master or a seccomp notify fd.
#[track_caller]
pub fn receive_with_fd(socket: std::os::fd::RawFd) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut data = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec { iov_base: data.as_mut_ptr().cast(), iov_len: data.len() };
    let mut control = [0u8; 64];
    // SAFETY: msghdr points at buffers that outlive the call; the fd comes from the kernel.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        let n = libc::recvmsg(socket, &mut msg, 0);
        assert!(n > 0, "recvmsg from the runtime failed");
        data.truncate(n as usize);
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null() && (*cmsg).cmsg_type == libc::SCM_RIGHTS, "no fd came with the message");
        (data, std::os::fd::OwnedFd::from_raw_fd(*(libc::CMSG_DATA(cmsg) as *const i32)))
    }
}

/// systemd's side of NOTIFY_SOCKET: a datagram socket with a short path (107 bytes at most).
pub struct NotifyListener {
    socket: std::os::unix::net::UnixDatagram,
    pub path: PathBuf,
}

impl NotifyListener {
    pub fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = PathBuf::from(format!(
            "/tmp/anchor-notify-{}-{}.sock",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the listener");
        socket.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        NotifyListener { socket, path }
    }

    /// Every datagram up to BARRIER=1. Its pipe end is dropped unread, which closes
    /// it: systemd's acknowledgement.
    pub fn until_barrier(&self) -> Vec<String> {
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.last().map(String::as_str) != Some("BARRIER=1") {
            let n = self.socket.recv(&mut buf).unwrap_or_else(|e| panic!("no BARRIER=1 after {got:?}: {e}"));
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        got
    }

    pub fn nothing_yet(&self) -> bool {
        self.socket.set_nonblocking(true).unwrap();
        let empty = self.socket.recv(&mut [0u8; 64]).is_err();
        self.socket.set_nonblocking(false).unwrap();
        empty
    }
}

impl Drop for NotifyListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Default for NotifyListener {
    fn default() -> Self {
        Self::new()
    }
}
