//! Running the runtime as an unprivileged user (made by the test), on the config
//! `spec --rootless` writes: what rootless.rs and systemd.rs share.

use crate::{runtime_path, Bundle, Output, Value};
use serde_json::json;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER: &str = "anchor-rootless";

/// Held while the user is made and while /etc/subuid or /etc/subgid is read and
/// rewritten: useradd writes those files too, and the tests run in parallel.
static ACCOUNT_FILES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The test user's uid and gid, creating the user the first time.
pub fn rootless_user() -> (u32, u32) {
    let _held = ACCOUNT_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let id = |flag: &str| {
        let out = Command::new("id").args([flag, USER]).output().expect("run id");
        String::from_utf8_lossy(&out.stdout).trim().parse::<u32>().ok()
    };
    if id("-u").is_none() {
        let _ = Command::new("useradd").args(["-M", "-U", "-s", "/bin/false", USER]).status();
    }
    (id("-u").expect("the rootless test user exists"), id("-g").expect("it has a group"))
}

/// The user's first subordinate range in /etc/subuid or /etc/subgid, added if none.
pub fn subordinate_range(file: &str) -> (u32, u32) {
    let _held = ACCOUNT_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let find = || {
        fs::read_to_string(file).unwrap_or_default().lines().find_map(|l| {
            let mut f = l.split(':');
            if f.next() != Some(USER) {
                return None;
            }
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
    };
    find().unwrap_or_else(|| {
        let mut text = fs::read_to_string(file).unwrap_or_default();
        text.push_str(&format!("{USER}:300000:65536\n"));
        fs::write(file, text).unwrap();
        find().expect("the range just added")
    })
}

/// A directory the user owns, mode 0700 (what XDG_RUNTIME_DIR is).
pub fn user_dir(b: &Bundle, name: &str, (uid, gid): (u32, u32)) -> PathBuf {
    let dir = b.test_dir().join(name);
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// A copy of the runtime in the test's directory: the build tree may sit below a
/// directory the user cannot enter (CI clones into a private one).
pub fn runtime_for_user(b: &Bundle) -> PathBuf {
    // The test's directories must be open to the user whatever the umask was.
    for dir in [b.test_dir(), b.test_dir().parent().unwrap()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let copy = b.test_dir().join("anchor-runtime");
    if !copy.exists() {
        fs::copy(runtime_path(), &copy).unwrap();
    }
    copy
}

/// `anchor-runtime ARGS` as the user, with XDG_RUNTIME_DIR set and no --root.
pub fn as_user(b: &Bundle, (uid, gid): (u32, u32), cwd: &Path, xdg: &Path, args: &[&str]) -> Output {
    let (uid, gid) = (uid.to_string(), gid.to_string());
    let env_xdg = format!("XDG_RUNTIME_DIR={}", xdg.display());
    let runtime = runtime_for_user(b);
    let cd_and_run = format!("cd {} && exec \"$@\"", cwd.display());
    let mut full = vec!["--reuid", &uid, "--regid", &gid, "--clear-groups", "--", "env", &env_xdg];
    full.extend(["sh", "-c", &cd_and_run, "sh", runtime.to_str().unwrap()]);
    full.extend_from_slice(args);
    b.spawn_program(Path::new("/usr/bin/setpriv"), &full).wait()
}

/// Reads the bundle's config.json, lets `edit` change it, writes it back.
pub fn edit_config(bundle: &Path, edit: impl FnOnce(&mut Value)) {
    let path = bundle.join("config.json");
    let mut config: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut config);
    fs::write(&path, config.to_string()).unwrap();
}

/// A bundle from the user's own `spec --rootless`, running the probe with `args`.
pub fn rootless_bundle(b: &Bundle, user: (u32, u32), xdg: &Path, args: &[&str]) -> PathBuf {
    let dir = user_dir(b, "rootless-bundle", user);
    as_user(b, user, &dir, xdg, &["spec", "--rootless"]).ok();
    edit_config(&dir, |config| {
        config["root"]["path"] = json!(b.rootfs());
        config["process"]["args"] =
            json!(std::iter::once("/probe").chain(args.iter().copied()).collect::<Vec<_>>());
        config["process"]["terminal"] = json!(false);
    });
    dir
}

/// A test user, its XDG_RUNTIME_DIR, and a bundle from its own `spec --rootless`.
pub struct Rootless {
    pub b: Bundle,
    pub user: (u32, u32),
    pub xdg: PathBuf,
    pub bundle: PathBuf,
}

impl Rootless {
    /// The bundle runs the probe with `args`.
    pub fn new(args: &[&str]) -> Self {
        Self::with_runtime_dir(args, None)
    }

    /// With `xdg` as the user's XDG_RUNTIME_DIR (where its systemd keeps its bus)
    /// instead of a directory of the test's own.
    pub fn with_runtime_dir(args: &[&str], xdg: Option<PathBuf>) -> Self {
        let b = Bundle::new();
        let user = rootless_user();
        let xdg = xdg.unwrap_or_else(|| user_dir(&b, "xdg", user));
        let bundle = rootless_bundle(&b, user, &xdg, args);
        Rootless { b, user, xdg, bundle }
    }

    /// `anchor-runtime ARGS` as the user, in the bundle's directory.
    pub fn runtime(&self, args: &[&str]) -> Output {
        as_user(&self.b, self.user, &self.bundle, &self.xdg, args)
    }

    /// `run [EXTRA] --bundle BUNDLE ID` as the user.
    pub fn run(&self, extra: &[&str], id: &str) -> Output {
        let bundle = self.bundle.to_str().unwrap();
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend(["--bundle", bundle, id]);
        self.runtime(&args)
    }
}
