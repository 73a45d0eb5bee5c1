//! anchor-runtime: an OCI container runtime with runc's command line. The binary
//! (`main.rs`) is a thin shell over this library; the library exists so that the
//! micro-benchmarks in `benches/` can call the same code the commands run.

pub mod capabilities;
pub mod cdi;
pub mod cgroups;
pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod config;
pub mod console;
pub mod container;
pub mod cpu_affinity;
pub mod dbus;
pub mod error;
pub mod fd_passing;
pub mod features;
pub mod hooks;
pub mod logger;
pub mod lsm;
pub mod memory_policy;
pub mod mountinfo;
pub mod namespaces;
pub mod net_devices;
pub mod notify_socket;
pub mod personality;
pub mod process;
pub mod procfs;
pub mod resctrl;
pub mod resolve;
pub mod rootfs;
pub mod seccomp;
pub mod small_file;
pub mod spec;
pub mod state;
