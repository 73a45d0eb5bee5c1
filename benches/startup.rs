//! Micro-benchmarks of the CPU work `create` does before any system call that
//! matters: parsing config.json and compiling its seccomp profile into BPF. The
//! input is the config podman generates for `podman run busybox`, with its default
//! seccomp profile (bundles/podman-default). Run with `cargo bench`.

use anchor_runtime::{config, seccomp};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

const PODMAN_CONFIG: &[u8] = include_bytes!("../bundles/podman-default/config.json");

fn parse_config(c: &mut Criterion) {
    c.bench_function("parse podman's config.json", |b| {
        b.iter(|| config::parse_spec(black_box(PODMAN_CONFIG)).expect("podman's config parses"))
    });
}

fn compile_seccomp(c: &mut Criterion) {
    let spec = config::parse_spec(PODMAN_CONFIG).expect("podman's config parses");
    let profile = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()).expect("it has a seccomp profile");
    c.bench_function("compile podman's default seccomp profile", |b| {
        b.iter(|| seccomp::compile(black_box(profile)).expect("the profile compiles"))
    });
}

criterion_group!(benches, parse_config, compile_seccomp);
criterion_main!(benches);
