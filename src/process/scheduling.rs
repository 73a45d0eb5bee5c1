//! `process.scheduler` (sched_setattr(2)) and `process.ioPriority` (ioprio_set(2)),
//! applied to the process right before it becomes the user's program, while it still
//! holds the capabilities that real-time classes need. Both are inherited by exec.

use crate::error::{Error, Result};
use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler};

/// `cpus_limited`: the config restricts the cgroup's CPUs (cpuset), which a deadline
/// scheduler cannot be admitted under; the kernel then says only EPERM.
pub fn apply(process: &Process, cpus_limited: bool) -> Result<()> {
    if let Some(scheduler) = process.scheduler() {
        set_scheduler(scheduler).map_err(|e| match e {
            // runc's words, which tools match.
            Error::Sys { errno: libc::EPERM, .. } if cpus_limited => Error::invalid(format!(
                "process scheduler can't be used together with AllowedCPUs (linux.resources.cpu.cpus): {e}"
            )),
            e => e,
        })?;
    }
    if let Some(io) = process.io_priority() {
        set_io_priority(io.class(), io.priority())?;
    }
    Ok(())
}

/// The kernel's struct sched_attr, first version (SCHED_ATTR_SIZE_VER0, 48 bytes).
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

fn set_scheduler(s: &Scheduler) -> Result<()> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    // include/uapi/linux/sched.h
    let flags = s.flags().iter().flatten().fold(0u64, |bits, flag| {
        bits | match flag {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        }
    });
    let priority = s.priority().unwrap_or(0);
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: priority as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    };
    // SAFETY: attr is a valid sched_attr of the size it declares; pid 0 is this thread.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0u32) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| Error::sys(format!("set scheduler {:?} (priority {priority})", s.policy()), e))
}

/// `priority` is 0 to 7 (checked with the config).
fn set_io_priority(class: IOPriorityClass, priority: i64) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: u32 = 13;
    let class_bits: u32 = match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let value = (class_bits << IOPRIO_CLASS_SHIFT) | priority as u32;
    // SAFETY: ioprio_set takes plain integers; who 0 is this process.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    nix::errno::Errno::result(r)
        .map(drop)
        .map_err(|e| Error::sys(format!("set I/O priority {class} {priority}"), e))
}
