//! The device cgroup: which device nodes the container may create (m), read (r) and
//! write (w). The rule list is the same on every layout: deny everything, then the
//! config's rules in order, then the devices every container gets (runc's list). v1
//! takes it as devices.allow/devices.deny lines; v2 has no files for it, so the list
//! is compiled into an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE, which the
//! kernel runs on every mknod and open of a device node.
//!
//! Meaning, per access bit: the last rule that names the device and that bit decides.
//! The program checks each requested bit that way, so a request for `rw` needs both.

use crate::error::{Context, Error, Result};
use oci_spec::runtime::LinuxDeviceCgroup;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    All,
    Char,
    Block,
}

/// One rule in checked form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    /// None: any number.
    pub major: Option<u32>,
    pub minor: Option<u32>,
    /// ACC_MKNOD | ACC_READ | ACC_WRITE bits.
    pub access: u32,
}

pub const ACC_MKNOD: u32 = 1;
pub const ACC_READ: u32 = 2;
pub const ACC_WRITE: u32 = 4;
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;

/// Devices every container may use (runc's list): mknod of any node, and the
/// standard character devices and ptys.
const DEFAULT_RULES: [(Kind, Option<u32>, Option<u32>, u32); 11] = {
    const RWM: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;
    [
        (Kind::Char, None, None, ACC_MKNOD),
        (Kind::Block, None, None, ACC_MKNOD),
        (Kind::Char, Some(1), Some(3), RWM), // null
        (Kind::Char, Some(1), Some(8), RWM), // random
        (Kind::Char, Some(1), Some(7), RWM), // full
        (Kind::Char, Some(5), Some(0), RWM), // tty
        (Kind::Char, Some(1), Some(5), RWM), // zero
        (Kind::Char, Some(1), Some(9), RWM), // urandom
        (Kind::Char, Some(5), Some(1), RWM), // console
        (Kind::Char, Some(136), None, RWM),  // pts
        (Kind::Char, Some(5), Some(2), RWM), // ptmx
    ]
};

/// The whole list for a container: deny all, the config's rules, the defaults.
pub fn effective_rules(config: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    let deny_all = Rule { allow: false, kind: Kind::All, major: None, minor: None, access: 7 };
    let mut rules = vec![deny_all];
    for r in config {
        rules.push(parse(r)?);
    }
    rules.extend(DEFAULT_RULES.iter().map(|&(kind, major, minor, access)| Rule {
        allow: true,
        kind,
        major,
        minor,
        access,
    }));
    Ok(rules)
}

fn parse(r: &LinuxDeviceCgroup) -> Result<Rule> {
    let bad = |why: String| Error::invalid(format!("linux.resources.devices rule {r}: {why}"));
    let kind = match r.typ().map(|t| t.as_str().to_string()).as_deref() {
        None | Some("a") => Kind::All,
        Some("c") => Kind::Char,
        Some("b") => Kind::Block,
        Some(t) => return Err(bad(format!("type {t:?} is not a, b or c"))),
    };
    let number = |n: Option<i64>, what: &str| match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n).map(Some).map_err(|_| bad(format!("{what} {n} is out of range"))),
    };
    // Letters other than r, w and m are ignored, as runc's Permissions.toSet does:
    // runc's own tests send "rwa".
    let mut access = 0;
    for c in r.access().as_deref().filter(|a| !a.is_empty()).unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            other => {
                crate::logger::debug(format!("device rule access {other:?} ignored: not r, w or m"));
                0
            }
        };
    }
    // A rule for every device has no numbers, whatever the config wrote.
    let (major, minor) = if kind == Kind::All {
        (None, None)
    } else {
        (number(r.major(), "major")?, number(r.minor(), "minor")?)
    };
    Ok(Rule { allow: r.allow(), kind, major, minor, access })
}

/// A rule as a devices.allow/devices.deny line reads: `a`, or `c 1:* rwm`.
impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::All => return f.write_str("a"),
            Kind::Char => 'c',
            Kind::Block => 'b',
        };
        let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
        write!(f, "{kind} {}:{} {}", num(self.major), num(self.minor), self.access_letters())
    }
}

impl Rule {
    /// `rwm`, or the part of it the rule has.
    pub fn access_letters(&self) -> String {
        [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')]
            .iter()
            .filter(|(b, _)| self.access & b != 0)
            .map(|(_, c)| *c)
            .collect()
    }
}

/// v1: the list as written to devices.allow and devices.deny.
pub fn apply_v1(dir: &Path, rules: &[Rule]) -> Result<()> {
    for r in rules {
        let line = r.to_string();
        let file = if r.allow { "devices.allow" } else { "devices.deny" };
        let path = dir.join(file);
        std::fs::write(&path, &line).ctx(|| format!("write {line:?} to {}", path.display()))?;
    }
    Ok(())
}

/// Whether the list lets every bit of `access` through for this device: per bit,
/// the last rule naming the device and that bit decides (the module's header).
pub fn decides(rules: &[Rule], kind: Kind, major: u32, minor: u32, access: u32) -> bool {
    [ACC_MKNOD, ACC_READ, ACC_WRITE].into_iter().filter(|bit| access & bit != 0).all(|bit| {
        rules
            .iter()
            .rev()
            .find(|r| {
                r.access & bit != 0
                    && (r.kind == Kind::All || r.kind == kind)
                    && r.major.is_none_or(|m| m == major)
                    && r.minor.is_none_or(|m| m == minor)
            })
            .is_some_and(|r| r.allow)
    })
}

/// The rule list said as an allow-list, which is all systemd's `DevicePolicy=strict`
/// with `DeviceAllow=` entries can say.
#[derive(Debug, PartialEq)]
pub struct AllowList {
    /// Allow rules for char or block devices, none covered by another.
    pub entries: Vec<Rule>,
    /// False where the list allows more than the entries say: a device allowed by a
    /// wide rule with an exception cut out of it (`c 195:* rw`, then `c 195:255 w`
    /// denied; or allow all but a few), which an allow-list without denies cannot
    /// say. The entries are then the part it can say.
    pub exact: bool,
}

impl AllowList {
    /// Every access to every device.
    pub fn is_everything(&self) -> bool {
        [Kind::Char, Kind::Block].iter().all(|&kind| {
            self.entries
                .iter()
                .any(|e| e.kind == kind && e.major.is_none() && e.minor.is_none() && e.access == 7)
        })
    }
}

/// The widest allow rules on the list's own number patterns that allow nothing the
/// list denies. The meaning only changes at numbers the rules name, so one device
/// per pattern of named numbers (and one number named by none) checks every case.
pub fn allow_list(rules: &[Rule]) -> AllowList {
    let named = |number: fn(&Rule) -> Option<u32>| {
        let mut set: Vec<u32> = rules.iter().filter_map(number).collect();
        set.sort_unstable();
        set.dedup();
        let unnamed = (0..=set.len() as u32).find(|n| !set.contains(n)).unwrap_or(u32::MAX);
        set.push(unnamed);
        set
    };
    let (majors, minors) = (named(|r| r.major), named(|r| r.minor));
    let kinds = [Kind::Char, Kind::Block];
    let mut devices = Vec::new();
    for kind in kinds {
        for &major in &majors {
            devices.extend(minors.iter().map(|&minor| (kind, major, minor)));
        }
    }
    let one = |(kind, major, minor): (Kind, u32, u32)| Rule {
        allow: true,
        kind,
        major: Some(major),
        minor: Some(minor),
        access: 0,
    };
    let mut patterns: Vec<Rule> = Vec::new();
    let every = kinds.iter().map(|&kind| Rule { allow: true, kind, major: None, minor: None, access: 0 });
    for p in every.chain(rules.iter().filter(|r| r.kind != Kind::All).map(|r| Rule {
        allow: true,
        access: 0,
        ..*r
    })) {
        if !patterns.iter().any(|q| (q.kind, q.major, q.minor) == (p.kind, p.major, p.minor)) {
            patterns.push(p);
        }
    }
    for p in &mut patterns {
        for bit in [ACC_READ, ACC_WRITE, ACC_MKNOD] {
            let mut in_pattern = devices.iter().filter(|&&d| covers(p, &one(d)));
            if in_pattern.all(|&(k, ma, mi)| decides(rules, k, ma, mi, bit)) {
                p.access |= bit;
            }
        }
    }
    // A bit a wider pattern already allows is not repeated on a narrower one.
    let mut entries: Vec<Rule> = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        let wider = patterns.iter().enumerate().filter(|&(j, w)| j != i && covers(w, p));
        let access = wider.fold(p.access, |access, (_, w)| access & !w.access);
        if access != 0 {
            entries.push(Rule { access, ..*p });
        }
    }
    let exact = devices.iter().all(|&(k, ma, mi)| {
        [ACC_READ, ACC_WRITE, ACC_MKNOD].into_iter().all(|bit| {
            !decides(rules, k, ma, mi, bit)
                || entries.iter().any(|e| e.access & bit != 0 && covers(e, &one((k, ma, mi))))
        })
    });
    AllowList { entries, exact }
}

/// Every device `inner` names, `outer` names too (same kind).
fn covers(outer: &Rule, inner: &Rule) -> bool {
    let number = |o: Option<u32>, i: Option<u32>| o.is_none() || o == i;
    outer.kind == inner.kind && number(outer.major, inner.major) && number(outer.minor, inner.minor)
}

/// One eBPF instruction, as `struct bpf_insn` lays it out.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// The few opcodes the program uses (linux/bpf_common.h, linux/bpf.h).
pub const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
pub const MOV_REG: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
pub const MOV_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
pub const AND_IMM: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
pub const RSH_IMM: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
pub const JA: u8 = 0x05; // BPF_JMP | BPF_JA
pub const JNE_IMM: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
pub const JSET_IMM: u8 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
pub const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

// Registers: r1 holds the context on entry; the program keeps the request in r2..r5.
const R0: u8 = 0;
const R1: u8 = 1;
const TYPE: u8 = 2;
const ACCESS: u8 = 3;
const MAJOR: u8 = 4;
const MINOR: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: dst | (src << 4), off, imm }
}

/// Compiles the list into the program: for each requested access bit, the rules
/// that name the bit are tried from last to first; the first that names the device
/// decides (deny: return 0; allow: go on to the next bit). No match denies.
pub fn compile(rules: &[Rule]) -> Vec<Insn> {
    // struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; },
    // access_type = access << 16 | type.
    let mut prog = vec![
        insn(LDX_W, TYPE, R1, 0, 0),
        insn(MOV_REG, ACCESS, TYPE, 0, 0),
        insn(AND_IMM, TYPE, 0, 0, 0xffff),
        insn(RSH_IMM, ACCESS, 0, 0, 16),
        insn(LDX_W, MAJOR, R1, 4, 0),
        insn(LDX_W, MINOR, R1, 8, 0),
    ];
    let deny = [insn(MOV_IMM, R0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)];
    for bit in [ACC_MKNOD, ACC_READ, ACC_WRITE] {
        let mut section = Vec::new();
        let mut decided = false;
        // Next bit when this one is not requested. Offsets are patched once the
        // section's length is known; i16::MIN marks "to the end of the section".
        section.push(insn(JSET_IMM, ACCESS, 0, 1, bit as i32));
        section.push(insn(JA, 0, 0, i16::MIN, 0));
        for r in rules.iter().rev().filter(|r| r.access & bit != 0) {
            let mut checks = Vec::new();
            match r.kind {
                Kind::All => {}
                Kind::Char => checks.push((TYPE, DEV_CHAR)),
                Kind::Block => checks.push((TYPE, DEV_BLOCK)),
            }
            checks.extend(r.major.map(|m| (MAJOR, m)));
            checks.extend(r.minor.map(|m| (MINOR, m)));
            let body: &[Insn] = if r.allow { &[insn(JA, 0, 0, i16::MIN, 0)] } else { &deny };
            let len = checks.len() + body.len();
            for (i, (reg, value)) in checks.into_iter().enumerate() {
                // Skip the rest of this rule: past the remaining checks and the body.
                section.push(insn(JNE_IMM, reg, 0, (len - i - 1) as i16, value as i32));
            }
            section.extend_from_slice(body);
            if r.kind == Kind::All {
                // It matches everything: earlier rules are never reached, and the
                // verifier refuses unreachable instructions.
                decided = true;
                break;
            }
        }
        if !decided {
            section.extend_from_slice(&deny);
        }
        let end = section.len();
        for (i, ins) in section.iter_mut().enumerate() {
            if ins.off == i16::MIN {
                ins.off = (end - i - 1) as i16;
            }
        }
        prog.extend(section);
    }
    prog.push(insn(MOV_IMM, R0, 0, 0, 1));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

// bpf(2) commands and constants.
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> nix::Result<libc::c_long> {
    // SAFETY: attr is a live, fully initialised bpf_attr prefix of the layout the
    // command expects, and its size is passed, so the kernel reads no further.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    nix::errno::Errno::result(r)
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

/// Loads the program into the kernel. The verifier's log is asked for only when a
/// load fails (a verbose log of a passing program costs time and buffer space).
pub fn load(prog: &[Insn]) -> Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..13].copy_from_slice(b"anchor_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: BPF_PROG_LOAD returned a new file descriptor that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let mut log = vec![0u8; 1 << 20];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr).map(|fd| {
                // SAFETY: as above; this second load only serves to fill the log.
                drop(unsafe { OwnedFd::from_raw_fd(fd as i32) })
            });
            let verifier = String::from_utf8_lossy(&log);
            let last = verifier.trim_end_matches('\0').trim().lines().last().unwrap_or("").to_string();
            Err(Error::sys(format!("load the eBPF device filter (BPF_PROG_LOAD; verifier: {last})"), e))
        }
    }
}

/// Attaches the program to the container's cgroup in place of the one there
/// before: the new one goes in first, so there is never a moment without a filter
/// (while both are attached a device needs both to allow it), then the old ones go.
pub fn attach_v2(dir: &Path, prog: &OwnedFd) -> Result<()> {
    let cgroup = std::fs::File::open(dir).ctx(|| format!("open {}", dir.display()))?;
    let old = attached(&cgroup)?;
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).ctx(|| format!("attach the eBPF device filter to {}", dir.display()))?;
    for id in old {
        let mut by_id = [id, 0, 0];
        let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut by_id).ctx(|| format!("find old device filter {id}"))?;
        // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new file descriptor that nothing else owns.
        let old_prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let mut detach = AttachAttr { attach_bpf_fd: old_prog.as_raw_fd() as u32, ..attr };
        detach.attach_flags = 0;
        bpf(BPF_PROG_DETACH, &mut detach).ctx(|| format!("detach old device filter {id}"))?;
    }
    Ok(())
}

/// IDs of the device programs attached to this cgroup itself (not its parents').
pub fn attached(cgroup: &std::fs::File) -> Result<Vec<u32>> {
    let mut ids = [0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr).ctx(|| "query the cgroup's device filters")?;
    Ok(ids[..attr.prog_cnt as usize].to_vec())
}

#[cfg(test)]
mod tests;
