//! Which CPUs the container's processes run on: `process.execCPUAffinity` for `exec`,
//! and runc's reset, which keeps a runtime started under `taskset` (or by a service
//! with CPUAffinity=) from passing its own restriction on to the container.

use crate::error::{Error, Result};
use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

/// A CPU list as the spec writes it ("0-3,7"); empty means not set.
pub fn parse(field: &str, list: &str) -> Result<Option<CpuSet>> {
    let bad = |why: &str| Error::invalid(format!("{field} {}: {why}", crate::error::quoted(list)));
    if list.trim().is_empty() {
        return Ok(None);
    }
    let mut set = CpuSet::new();
    for part in list.split(',').map(str::trim) {
        let number = |s: &str| s.parse::<usize>().map_err(|_| bad("use CPU numbers and ranges, as 0-3,7"));
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(bad("a range must go upwards"));
        }
        for cpu in first..=last {
            set.set(cpu).map_err(|_| {
                bad(&format!("CPU {cpu} is beyond the {} this runtime can name", CpuSet::count()))
            })?;
        }
    }
    Ok(Some(set))
}

/// The (initial, final) lists of a process, checked.
pub fn of(process: &Process) -> Result<(Option<CpuSet>, Option<CpuSet>)> {
    let Some(affinity) = process.exec_cpu_affinity() else { return Ok((None, None)) };
    let initial = affinity.initial().as_deref().map(|l| parse("process.execCPUAffinity.initial", l));
    let last = affinity.cpu_affinity_final().as_deref().map(|l| parse("process.execCPUAffinity.final", l));
    Ok((initial.transpose()?.flatten(), last.transpose()?.flatten()))
}

/// Every CPU: the kernel keeps of it what the process's cpuset allows, so after the
/// move into the container's cgroup this is that cgroup's cpuset (runc's reset; since
/// Linux 6.2 the cpuset no longer resets an affinity the process inherited).
pub fn reset(pid: i32) {
    let mut all = CpuSet::new();
    for cpu in 0..CpuSet::count() {
        let _ = all.set(cpu);
    }
    if let Err(e) = sched_setaffinity(Pid::from_raw(pid), &all) {
        crate::logger::warn(format!(
            "reset the CPU affinity of pid {pid}: {}; the container may keep the runtime's",
            crate::error::errno_text(e)
        ));
    }
}

/// `pid`'s CPUs once it is in the container's cgroup: `final` when the process asks
/// for one, the reset when it asks for nothing, and left as `initial` made it
/// otherwise (runc's rules).
pub fn settle(pid: i32, process: &Process) -> Result<()> {
    match of(process)? {
        (_, Some(last)) => sched_setaffinity(Pid::from_raw(pid), &last)
            .map_err(|e| Error::sys("set the final CPU affinity (process.execCPUAffinity.final)", e)),
        (None, None) => {
            reset(pid);
            Ok(())
        }
        (Some(_), None) => Ok(()),
    }
}

/// The runtime's own CPUs before it forks the process that enters the container,
/// which inherits them: `initial`, when given.
pub fn enter_initial(process: &Process) -> Result<()> {
    match of(process)?.0 {
        Some(initial) => sched_setaffinity(Pid::from_raw(0), &initial)
            .map_err(|e| Error::sys("set the initial CPU affinity (process.execCPUAffinity.initial)", e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_read_as_the_spec_writes_them() {
        let set = parse("f", "0-2, 5").unwrap().unwrap();
        let cpus: Vec<usize> = (0..8).filter(|c| set.is_set(*c).unwrap()).collect();
        assert_eq!(cpus, [0, 1, 2, 5]);
        assert!(parse("f", "").unwrap().is_none());
        for bad in ["3-1", "a", "1,,2", "99999"] {
            assert!(parse("f", bad).is_err(), "{bad}");
        }
    }
}
