//! Drop-in compatibility: a bundle made by `runc spec` runs the same under
//! runc and under anchor-runtime, as seen by the program inside.

use spec_tests::*;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The reference runtime; `make deps` installs it (Debian package runc).
fn runc_path() -> PathBuf {
    let path = std::env::var_os("RUNC").map_or_else(|| PathBuf::from("/usr/sbin/runc"), PathBuf::from);
    // A parity test that skips when the reference is missing proves nothing:
    // fail loudly instead.
    assert!(
        path.is_file(),
        "runc not found at {}: install runc (`apt-get install runc`, or `make deps`) or point RUNC at it",
        path.display()
    );
    path
}

/// A container run by runc under the bundle's state root; `delete --force`d
/// on drop whatever the test's outcome (runc's state is not anchor's, so the
/// bundle's own cleanup cannot do it).
struct RuncContainer<'a> {
    b: &'a Bundle,
    id: String,
}

impl RuncContainer<'_> {
    fn runc(&self, args: &[&str]) -> Output {
        let root = self.b.state_root();
        let mut full = vec!["--root", root.to_str().expect("UTF-8 path")];
        full.extend_from_slice(args);
        self.b.spawn_program(&runc_path(), &full).wait()
    }
}

impl Drop for RuncContainer<'_> {
    fn drop(&mut self) {
        self.runc(&["delete", "--force", &self.id]);
    }
}

/// A unique runc container ID. Deliberately unrelated to the bundles' IDs:
/// leftover checks match any name that embeds an ID.
fn runc_id() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("parity-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

/// A bundle whose config.json is exactly what `runc spec` writes, with a
/// non-terminal process running `args`.
fn runc_spec_bundle(args: &[&str]) -> Bundle {
    let b = Bundle::new();
    // The harness's rootfs has no sort applet; the programs below use it.
    std::os::unix::fs::symlink("busybox", b.rootfs().join("bin/sort")).expect("sort applet");
    let spec = b.spawn_program(&runc_path(), &["spec"]).wait();
    assert!(spec.success(), "{spec:#?}");
    let path = b.path().join("config.json");
    let mut config: Value =
        serde_json::from_str(&fs::read_to_string(&path).expect("runc spec wrote config.json"))
            .expect("runc spec writes JSON");
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!(args);
    write_file(&path, &serde_json::to_string_pretty(&config).unwrap());
    b
}

#[test]
fn runc_spec_bundle_runs_identically_under_runc_and_anchor() {
    // (program, the exit code runc gives it): the expectation keeps the
    // comparison honest, as two runtimes failing alike would also "match".
    let programs: &[(&[&str], i32)] = &[
        (&["sh", "-c", "echo out; echo err >&2; exit 3"], 3),
        (&["/probe", "exit", "0"], 0),
        (&["sh", "-c", "hostname; id -u; cat /proc/self/cgroup | wc -l >/dev/null; ls /dev | sort"], 0),
    ];
    for &(args, code) in programs {
        // One bundle per runtime, each with its own --root (the bundle's
        // state root), so leftovers are checked per runtime.
        let rb = runc_spec_bundle(args);
        let rc = RuncContainer { b: &rb, id: runc_id() };
        let by_runc = rc.runc(&["run", "--bundle", &rb.path_str(), &rc.id]);
        assert_eq!(by_runc.code, Some(code), "the reference run went wrong: {by_runc:#?}");

        let ab = runc_spec_bundle(args);
        // Registered, so the bundle deletes it if an assertion fails first.
        let id = ab.new_id();
        let by_anchor = ab.runtime(&["run", "--bundle", &ab.path_str(), &id]);
        assert!(!by_anchor.timed_out, "{by_anchor:#?}");

        // A runtime's own warnings go to stderr; only the program's stdout
        // and its exit status must match.
        assert_eq!(by_anchor.stdout, by_runc.stdout, "stdout differs for {args:?}: {by_anchor:#?}");
        assert_eq!(by_anchor.code, by_runc.code, "exit code differs for {args:?}: {by_anchor:#?}");

        assert_no_leftovers(&ab, &id);
        assert_no_leftovers(&rb, &rc.id);
    }
}
