//! The OCI seccomp profile (`linux.seccomp`) compiled to a BPF program of our own.
//! seccompiler's filters have one action per filter and one architecture; OCI
//! profiles need an action per rule, errno values, and several architectures. The
//! program checks the architecture first, then finds the syscall number by binary
//! search over ranges of numbers that share an outcome, then checks the rule's
//! argument conditions, then returns its action.
//!
//! Semantics follow libseccomp, which runc and crun use: the conditions of one entry
//! must all hold; entries for the same syscall are tried in order, conditional ones
//! before the unconditional one; an entry whose action is the default action is
//! ignored; names the architecture does not know are skipped.
//!
//! Two rule behaviours follow runc rather than libseccomp itself (a third, flags
//! SPEC_ALLOW by default, is in `compile`):
//! - an entry with several conditions on the same argument gets each condition as
//!   a rule of its own (so they are or-ed: "arg0 == 100", "arg0 == 9001"), as
//!   libseccomp-golang's callers in runc add them;
//! - unless the default action lets syscalls through (allow, log, trace), numbers
//!   above the highest one the profile names return ENOSYS rather than the default,
//!   so that programs probing a syscall newer than the profile (clone3, openat2...)
//!   take their fallback path, as with runc's -ENOSYS stub.

pub mod bpf;

use crate::error::{Error, Result};
use bpf::{Assembler, BpfProgram, Cmp, Label};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompFilterFlag, LinuxSeccompOperator as Op,
};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const AUDIT_ARCH_I386: u32 = 0x4000_0003;
const AUDIT_ARCH_AARCH64: u32 = 0xC000_00B7;
/// x32 syscalls run under AUDIT_ARCH_X86_64 with this bit set in the number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// seccomp_data offsets: nr, arch, then args[6] as 64-bit values (little-endian).
const OFFSET_NR: u32 = 0;
const OFFSET_ARCH: u32 = 4;
const OFFSET_ARGS: u32 = 16;

const SECCOMP_FILTER_FLAG_LOG: u32 = 1 << 1;
const SECCOMP_FILTER_FLAG_SPEC_ALLOW: u32 = 1 << 2;
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;

/// A compiled profile, ready to load in init.
#[derive(Debug)]
pub struct Filter {
    pub program: BpfProgram,
    pub flags: u32,
    /// Where the notify fd goes (`listenerPath`), for a profile with SCMP_ACT_NOTIFY.
    pub listener: Option<Listener>,
}

#[derive(Debug)]
pub struct Listener {
    pub path: std::path::PathBuf,
    pub metadata: String,
}

/// Syscall names to numbers, hashed with FNV-1a: the keys are a fixed set of short
/// names from the syscalls crate, so a DoS-resistant hash buys nothing here.
type NameMap = HashMap<&'static str, u32, BuildHasherDefault<Fnv1a>>;

#[derive(Default)]
struct Fnv1a(u64);

impl Hasher for Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The syscall tables this runtime carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Table {
    X86_64,
    I386,
    Aarch64,
    /// The x32 ABI: x86_64's numbers with X32_SYSCALL_BIT set, except for the
    /// syscalls whose arguments differ, which x32 has at 512 and up.
    X32,
}

/// The x32-only entries of the kernel's arch/x86/entry/syscalls/syscall_64.tbl
/// (the syscalls crate has no x32 table). Their x86_64 numbers are 64-bit-only.
const X32_OWN_NUMBERS: [(&str, u32); 36] = [
    ("rt_sigaction", 512),
    ("rt_sigreturn", 513),
    ("ioctl", 514),
    ("readv", 515),
    ("writev", 516),
    ("recvfrom", 517),
    ("sendmsg", 518),
    ("recvmsg", 519),
    ("execve", 520),
    ("ptrace", 521),
    ("rt_sigpending", 522),
    ("rt_sigtimedwait", 523),
    ("rt_sigqueueinfo", 524),
    ("sigaltstack", 525),
    ("timer_create", 526),
    ("mq_notify", 527),
    ("kexec_load", 528),
    ("waitid", 529),
    ("set_robust_list", 530),
    ("get_robust_list", 531),
    ("vmsplice", 532),
    ("move_pages", 533),
    ("preadv", 534),
    ("pwritev", 535),
    ("rt_tgsigqueueinfo", 536),
    ("recvmmsg", 537),
    ("sendmmsg", 538),
    ("process_vm_readv", 539),
    ("process_vm_writev", 540),
    ("setsockopt", 541),
    ("getsockopt", 542),
    ("io_setup", 543),
    ("io_submit", 544),
    ("execveat", 545),
    ("preadv2", 546),
    ("pwritev2", 547),
];

impl Table {
    /// The number of syscall `name` in this table. The syscalls crate's own lookup is
    /// a `match` over some 450 names, and a profile names hundreds of syscalls per
    /// table: a hash map, built once per table, costs a tenth of that.
    fn number(self, name: &str) -> Option<u32> {
        static TABLES: [OnceLock<NameMap>; 4] = [const { OnceLock::new() }; 4];
        let map = TABLES[self as usize].get_or_init(|| match self {
            Table::X86_64 => syscalls::x86_64::Sysno::iter().map(|s| (s.name(), s.id() as u32)).collect(),
            Table::I386 => syscalls::x86::Sysno::iter().map(|s| (s.name(), s.id() as u32)).collect(),
            Table::Aarch64 => syscalls::aarch64::Sysno::iter().map(|s| (s.name(), s.id() as u32)).collect(),
            Table::X32 => syscalls::x86_64::Sysno::iter()
                .map(|s| (s.name(), s.id() as u32))
                .chain(X32_OWN_NUMBERS)
                .map(|(name, nr)| (name, nr | X32_SYSCALL_BIT))
                .collect(),
        });
        map.get(name).copied()
    }

    fn audit_arch(self) -> u32 {
        match self {
            Table::X86_64 | Table::X32 => AUDIT_ARCH_X86_64,
            Table::I386 => AUDIT_ARCH_I386,
            Table::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    fn native() -> Self {
        if cfg!(target_arch = "aarch64") {
            Table::Aarch64
        } else {
            Table::X86_64
        }
    }
}

/// One argument condition, with 64-bit operands.
#[derive(Clone, Debug, PartialEq)]
struct Cond {
    index: u32,
    op: Op,
    value: u64,
    value_two: u64,
}

/// A conditional rule entry: conditions that must all hold, and the action.
type Entry = (Vec<Cond>, u32);

/// One table's rules: the outcome per syscall number the profile names, and the
/// number above which every syscall returns ENOSYS (none for a permissive default).
struct TableRules {
    rules: BTreeMap<u32, Outcome>,
    enosys_above: Option<u32>,
}

const RET_ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

/// What one syscall number leads to.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Ret(u32),
    /// Conditional entries (conditions, action) in order, then the fallback action.
    Rules(Vec<Entry>, u32),
}

pub fn compile(profile: &LinuxSeccomp) -> Result<Filter> {
    if profile.default_action() == Action::ScmpActNotify {
        // libseccomp refuses it too: every syscall of the runtime's own last steps
        // would wait on the listener.
        return Err(Error::invalid("linux.seccomp.defaultAction cannot be SCMP_ACT_NOTIFY"));
    }
    let default = action_value(profile.default_action(), profile.default_errno_ret(), None)?;
    let listener = listener(profile)?;
    let mut flags = if listener.is_some() { SECCOMP_FILTER_FLAG_NEW_LISTENER } else { 0 };
    if profile.flags().is_none() {
        // runc's default when a profile names no flags (an empty list is no
        // default): the container keeps speculative store bypass, which kernels
        // mitigating it for every seccomp process would otherwise take away.
        flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    }
    for flag in profile.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Only init would be synchronised: it has no other threads.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 0,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv if listener.is_some() => {
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(Error::invalid(
                    "linux.seccomp: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV needs a listenerPath",
                ))
            }
        };
    }
    let native = Table::native();
    let mut tables = vec![native];
    let mut x32 = false;
    for arch in profile.architectures().iter().flatten() {
        let table = match arch {
            Arch::ScmpArchNative => Some(native),
            Arch::ScmpArchX86_64 if native == Table::X86_64 => Some(Table::X86_64),
            Arch::ScmpArchX86 if native == Table::X86_64 => Some(Table::I386),
            Arch::ScmpArchX32 if native == Table::X86_64 => {
                x32 = true;
                None
            }
            Arch::ScmpArchAarch64 if native == Table::Aarch64 => Some(Table::Aarch64),
            // Architectures this machine cannot run get no table: their syscalls meet
            // the bad-architecture action, as everything unlisted does.
            other => {
                crate::logger::debug(format!(
                    "seccomp: architecture {other:?} cannot run here; no rules for it"
                ));
                None
            }
        };
        if let Some(t) = table.filter(|t| !tables.contains(t)) {
            tables.push(t);
        }
    }
    let mut per_table: Vec<(Table, TableRules)> = Vec::new();
    for table in tables {
        per_table.push((table, outcomes(profile, table, default)?));
    }
    let x32 = if x32 { Some(outcomes(profile, Table::X32, default)?) } else { None };
    let program = generate(&per_table, default, x32.as_ref())?;
    crate::logger::debug(format!("seccomp filter flags: {flags}"));
    Ok(Filter { program, flags, listener })
}

/// The listener of a profile that notifies: SCMP_ACT_NOTIFY needs a listenerPath (the
/// notifications would have nobody to answer them), and the path must be absolute
/// (it is reached from the runtime's cwd, not the container's).
fn listener(profile: &LinuxSeccomp) -> Result<Option<Listener>> {
    let notifying = || profile.syscalls().iter().flatten().filter(|s| s.action() == Action::ScmpActNotify);
    // The runtime writes to its sync socket and the exec FIFO after the filter is in:
    // a notified write would wait on a listener that is waiting on the runtime.
    // Refused in runc's words.
    if notifying().any(|s| s.names().iter().any(|n| n == "write")) {
        return Err(Error::invalid("linux.seccomp: SCMP_ACT_NOTIFY cannot be used for the write syscall"));
    }
    let notifies = notifying().next().is_some();
    match (profile.listener_path(), notifies) {
        (None, false) => Ok(None),
        (None, true) => Err(Error::invalid("linux.seccomp: SCMP_ACT_NOTIFY needs a listenerPath")),
        (Some(path), _) if !path.is_absolute() => Err(Error::invalid(format!(
            "linux.seccomp.listenerPath {} must be an absolute path",
            path.display()
        ))),
        (Some(path), _) => Ok(Some(Listener {
            path: path.clone(),
            metadata: profile.listener_metadata().clone().unwrap_or_default(),
        })),
    }
}

/// Each rule's syscalls, numbered for one table, grouped into outcomes.
fn outcomes(profile: &LinuxSeccomp, table: Table, default: u32) -> Result<TableRules> {
    // Per number: conditional entries in order, and the first unconditional action.
    let mut rules: BTreeMap<u32, (Vec<Entry>, Option<u32>)> = BTreeMap::new();
    // Names this table lacks are skipped, as libseccomp-based runtimes do.
    let mut unknown = Vec::new();
    // The highest number named, by any entry (one with the default action too).
    let mut highest = 0;
    for entry in profile.syscalls().iter().flatten() {
        let action = action_value(entry.action(), entry.errno_ret(), profile.default_errno_ret())?;
        let conds = entry
            .args()
            .iter()
            .flatten()
            .map(|a| {
                if a.index() > 5 {
                    return Err(Error::invalid(format!(
                        "linux.seccomp: argument index {} is out of range (0 to 5)",
                        a.index()
                    )));
                }
                Ok(Cond {
                    index: a.index() as u32,
                    op: a.op(),
                    value: a.value(),
                    value_two: a.value_two().unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let entries = split_repeated_arguments(conds);
        for name in entry.names() {
            let Some(nr) = table.number(name) else {
                unknown.push(name.as_str());
                continue;
            };
            highest = highest.max(nr);
            if action == default {
                continue;
            }
            let slot = rules.entry(nr).or_default();
            if entries.is_empty() {
                slot.1.get_or_insert(action);
            } else {
                slot.0.extend(entries.iter().map(|conds| (conds.clone(), action)));
            }
        }
    }
    if !unknown.is_empty() {
        crate::logger::debug(format!("seccomp: not on {table:?}, skipped: {}", unknown.join(" ")));
    }
    let permissive =
        matches!(profile.default_action(), Action::ScmpActAllow | Action::ScmpActLog | Action::ScmpActTrace);
    let rules = rules
        .into_iter()
        .map(|(nr, (conditional, plain))| {
            let fallback = plain.unwrap_or(default);
            let outcome = if conditional.is_empty() {
                Outcome::Ret(fallback)
            } else {
                Outcome::Rules(conditional, fallback)
            };
            (nr, outcome)
        })
        .collect();
    Ok(TableRules { rules, enosys_above: (!permissive && highest != 0).then_some(highest) })
}

/// An entry's conditions as the rules they make: one rule holding them all, or, when
/// two of them test the same argument, one rule each (runc's reading; the and of two
/// equalities on one argument could never hold).
fn split_repeated_arguments(conds: Vec<Cond>) -> Vec<Vec<Cond>> {
    let repeated = conds.iter().enumerate().any(|(i, c)| conds[..i].iter().any(|d| d.index == c.index));
    match (conds.is_empty(), repeated) {
        (true, _) => Vec::new(),
        (false, false) => vec![conds],
        (false, true) => conds.into_iter().map(|c| vec![c]).collect(),
    }
}

/// The value a filter returns for an action.
fn action_value(action: Action, errno: Option<u32>, default_errno: Option<u32>) -> Result<u32> {
    let errno = errno.or(default_errno).unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match action {
        Action::ScmpActKill | Action::ScmpActKillThread => RET_KILL_THREAD,
        Action::ScmpActKillProcess => RET_KILL_PROCESS,
        Action::ScmpActTrap => RET_TRAP,
        Action::ScmpActErrno => RET_ERRNO | errno,
        Action::ScmpActTrace => RET_TRACE | errno,
        Action::ScmpActLog => RET_LOG,
        Action::ScmpActAllow => RET_ALLOW,
        Action::ScmpActNotify => RET_USER_NOTIF,
    })
}

/// The filter: dispatch on the architecture, then on the syscall number. x32 shares
/// x86_64's audit architecture, so x86_64's block sends numbers with the x32 bit to
/// x32's rules when the profile lists x32, and kills them when it does not.
fn generate(per_table: &[(Table, TableRules)], default: u32, x32: Option<&TableRules>) -> Result<BpfProgram> {
    let mut asm = Assembler::default();
    let blocks: Vec<Label> = per_table.iter().map(|_| asm.label()).collect();
    asm.load(OFFSET_ARCH);
    for ((table, _), block) in per_table.iter().zip(&blocks) {
        asm.jump_if(Cmp::Eq, table.audit_arch(), *block);
    }
    asm.ret(RET_KILL_PROCESS);
    for ((table, rules), block) in per_table.iter().zip(&blocks) {
        asm.mark(*block);
        asm.load(OFFSET_NR);
        if *table != Table::X86_64 {
            emit_numbers(&mut asm, rules, default);
            continue;
        }
        // BPF only jumps forward: x32's block comes after x86_64's.
        let x32_block = asm.label();
        asm.jump_if(Cmp::Ge, X32_SYSCALL_BIT, x32_block);
        emit_numbers(&mut asm, rules, default);
        asm.mark(x32_block);
        match x32 {
            Some(x32_rules) => emit_numbers(&mut asm, x32_rules, default),
            None => asm.ret(RET_KILL_PROCESS),
        }
    }
    asm.assemble().map_err(|e| Error::invalid(format!("linux.seccomp: {e}")))
}

/// The search on the syscall number (in A) and, after it, the argument checks of
/// the syscalls that have conditional rules.
fn emit_numbers(asm: &mut Assembler, rules: &TableRules, default: u32) {
    let ranges = ranges(rules, default);
    let mut chains = Vec::new();
    search(asm, &ranges, &mut chains);
    for (label, conditional, fallback) in chains {
        asm.mark(label);
        emit_rules(asm, &conditional, fallback);
    }
}

/// The whole number space cut into ranges [start, next start) with one outcome each,
/// neighbours with the same plain return merged.
fn ranges(table: &TableRules, default: u32) -> Vec<(u32, Outcome)> {
    let rules = &table.rules;
    let mut out: Vec<(u32, Outcome)> = vec![(0, Outcome::Ret(default))];
    for (&nr, outcome) in rules {
        if out.last().is_some_and(|(start, _)| *start == nr) {
            out.pop();
        }
        if out.last().map(|(_, o)| o) != Some(outcome) {
            out.push((nr, outcome.clone()));
        }
        if nr < u32::MAX && !rules.contains_key(&(nr + 1)) && *outcome != Outcome::Ret(default) {
            out.push((nr + 1, Outcome::Ret(default)));
        }
    }
    if let Some(above) = table.enosys_above.and_then(|highest| highest.checked_add(1)) {
        if out.last().is_some_and(|(start, _)| *start == above) {
            out.pop();
        }
        if out.last().map(|(_, o)| o) != Some(&Outcome::Ret(RET_ENOSYS)) {
            out.push((above, Outcome::Ret(RET_ENOSYS)));
        }
    }
    out
}

type Chain = (Label, Vec<Entry>, u32);

/// Binary search over the ranges on A (the syscall number).
fn search(asm: &mut Assembler, ranges: &[(u32, Outcome)], chains: &mut Vec<Chain>) {
    if ranges.len() == 1 {
        match &ranges[0].1 {
            Outcome::Ret(k) => asm.ret(*k),
            Outcome::Rules(conditional, fallback) => {
                let label = asm.label();
                asm.goto(label);
                chains.push((label, conditional.clone(), *fallback));
            }
        }
        return;
    }
    let mid = ranges.len() / 2;
    let upper = asm.label();
    asm.jump_if(Cmp::Ge, ranges[mid].0, upper);
    search(asm, &ranges[..mid], chains);
    asm.mark(upper);
    search(asm, &ranges[mid..], chains);
}

/// The conditional entries of one syscall, in order, then its fallback.
fn emit_rules(asm: &mut Assembler, conditional: &[Entry], fallback: u32) {
    for (conds, action) in conditional {
        let next = asm.label();
        for cond in conds {
            emit_cond(asm, cond, next);
        }
        asm.ret(*action);
        asm.mark(next);
    }
    asm.ret(fallback);
}

/// Jumps to `fail` unless the 64-bit argument satisfies the condition, comparing the
/// high word first.
fn emit_cond(asm: &mut Assembler, c: &Cond, fail: Label) {
    let lo = OFFSET_ARGS + 8 * c.index;
    let hi = lo + 4;
    let split = |v: u64| ((v >> 32) as u32, v as u32);
    let ok = asm.label();
    match c.op {
        Op::ScmpCmpEq | Op::ScmpCmpNe | Op::ScmpCmpMaskedEq => {
            let (mask, want) =
                if c.op == Op::ScmpCmpMaskedEq { (c.value, c.value_two) } else { (u64::MAX, c.value) };
            let ((mh, ml), (wh, wl)) = (split(mask), split(want));
            let eq = c.op != Op::ScmpCmpNe;
            // For NE, a differing high word already satisfies the condition.
            let differs = if eq { fail } else { ok };
            asm.load(hi);
            if mh != u32::MAX {
                asm.and(mh);
            }
            asm.jump_unless(Cmp::Eq, wh, differs);
            asm.load(lo);
            if ml != u32::MAX {
                asm.and(ml);
            }
            if eq {
                asm.jump_unless(Cmp::Eq, wl, fail);
            } else {
                asm.jump_if(Cmp::Eq, wl, fail);
            }
        }
        Op::ScmpCmpGt | Op::ScmpCmpGe => {
            let (vh, vl) = split(c.value);
            asm.load(hi);
            asm.jump_if(Cmp::Gt, vh, ok);
            asm.jump_unless(Cmp::Eq, vh, fail);
            asm.load(lo);
            let cmp = if c.op == Op::ScmpCmpGt { Cmp::Gt } else { Cmp::Ge };
            asm.jump_unless(cmp, vl, fail);
        }
        Op::ScmpCmpLt | Op::ScmpCmpLe => {
            let (vh, vl) = split(c.value);
            asm.load(hi);
            asm.jump_unless(Cmp::Ge, vh, ok);
            asm.jump_unless(Cmp::Eq, vh, fail);
            asm.load(lo);
            // LT fails when lo >= value; LE fails when lo > value.
            let cmp = if c.op == Op::ScmpCmpLt { Cmp::Ge } else { Cmp::Gt };
            asm.jump_if(cmp, vl, fail);
        }
    }
    asm.mark(ok);
}

/// Loads the filter into this process (and, through exec, the container's program).
/// With a listener, the kernel returns the notify fd that answers its notifications.
pub fn load(filter: &Filter) -> Result<Option<OwnedFd>> {
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    let prog = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at the program, which outlives the call; the kernel copies it.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, filter.flags, &prog) };
    let r = nix::errno::Errno::result(r).map_err(|e| Error::sys("load the seccomp filter", e))?;
    // SAFETY: with NEW_LISTENER the result is a new fd that nothing else owns.
    Ok((filter.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0)
        .then(|| unsafe { OwnedFd::from_raw_fd(r as RawFd) }))
}

/// Hands the notify fd that init (or an exec'd process) sent to the profile's
/// listener, as the runtime spec describes: one connection to listenerPath, one
/// message holding the container process state with the fd as SCM_RIGHTS, closed.
pub fn pass_to_listener(
    filter: Option<&Filter>,
    notify_fd: Option<OwnedFd>,
    pid: i32,
    mut state: serde_json::Value,
) -> Result<()> {
    let listener = filter.and_then(|f| f.listener.as_ref()).ok_or_else(|| {
        Error::invalid("sync protocol: a seccomp notify fd, but the profile has no listener")
    })?;
    let notify_fd = notify_fd.ok_or_else(|| Error::invalid("sync protocol: no seccomp notify fd came"))?;
    state["pid"] = pid.into();
    let process_state = serde_json::json!({
        "ociVersion": crate::config::SPEC_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": listener.metadata,
        "state": state,
    });
    let path = listener.path.display();
    let socket = std::os::unix::net::UnixStream::connect(&listener.path)
        // runc's first words, which tools match.
        .map_err(|e| {
            Error::invalid(format!("failed to connect with seccomp agent (the seccomp listener {path}): {e}"))
        })?;
    let what = format!("the seccomp notify fd to {path}");
    crate::fd_passing::send_fd(
        socket.as_raw_fd(),
        process_state.to_string().as_bytes(),
        notify_fd.as_raw_fd(),
        &what,
    )
}

#[cfg(test)]
mod tests;
