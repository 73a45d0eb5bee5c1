//! Builds the exec stub (src/process/exec_stub.c), which the runtime embeds and runs
//! from a sealed memfd as the last step before the user's program (CVE-2019-5736; see
//! src/process/exec_stub.rs). It is C without libc, built with the system's gcc
//! (Debian: gcc, which `make deps` installs): a static ELF of about 1 KiB.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "src/process/exec_stub.c";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("exec-stub");
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let status = Command::new(&cc)
        .args([
            "-Os",
            "-static",
            "-nostdlib",
            "-ffreestanding",
            // Position-dependent: nothing to relocate at start.
            "-fno-pie",
            "-no-pie",
            "-fno-stack-protector",
            "-fno-asynchronous-unwind-tables",
            "-fcf-protection=none",
            // gcc could turn the byte loops into memcpy calls, which nothing provides.
            "-fno-tree-loop-distribute-patterns",
            "-Wall",
            "-Wextra",
            "-Werror",
            // One segment, no build ID, no padding to a page: the whole file is the
            // program, about 1 KiB to copy into the memfd.
            "-Wl,--build-id=none",
            "-Wl,-z,norelro",
            "-Wl,-z,noseparate-code",
            "-s",
            "-o",
        ])
        .arg(&out)
        .arg(source)
        .status()
        .unwrap_or_else(|e| panic!("building the exec stub needs a C compiler ({cc}; Debian: gcc): {e}"));
    assert!(status.success(), "{cc} failed to build {source}");
}
