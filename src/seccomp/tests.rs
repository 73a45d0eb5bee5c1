//! The generated programs run on sample seccomp_data in an in-process interpreter.

use super::*;
use serde_json::json;

fn profile(v: serde_json::Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

fn data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_ne_bytes());
    d[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    d
}

fn verdict(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    bpf::run(&f.program, &data(arch, nr, args))
}

fn x86_64(f: &Filter, name: &str, args: [u64; 6]) -> u32 {
    verdict(f, AUDIT_ARCH_X86_64, Table::X86_64.number(name).unwrap(), args)
}

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;

#[test]
fn listed_syscalls_get_their_action_and_others_the_default() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
            {"names": ["uname"], "action": "SCMP_ACT_TRAP"}
        ]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "read", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&f, "exit_group", [0; 6]), RET_ALLOW);
    assert_eq!(x86_64(&f, "mkdir", [0; 6]), RET_ERRNO | 38);
    assert_eq!(x86_64(&f, "kill", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(x86_64(&f, "getpid", [0; 6]), RET_LOG);
    assert_eq!(x86_64(&f, "uname", [0; 6]), RET_TRAP);
    assert_eq!(x86_64(&f, "close", [0; 6]), EPERM);
    // Above the highest number named (exit_group): ENOSYS, as runc's stub returns.
    assert_eq!(x86_64(&f, "openat", [0; 6]), RET_ENOSYS);
    assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, 100_000, [0; 6]), RET_ENOSYS);
}

#[test]
fn default_errno_ret_applies_to_the_default_action() {
    let f = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1234}))).unwrap();
    assert_eq!(x86_64(&f, "read", [0; 6]), RET_ERRNO | 1234);
}

#[test]
fn every_comparison_operator_checks_all_64_bits() {
    let rule = |op: &str, value: u64, two: u64| {
        compile(&profile(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                          "args": [{"index": 1, "value": value, "valueTwo": two, "op": op}]}]
        })))
        .unwrap()
    };
    let hi = 1u64 << 32;
    // (operator, value, valueTwo, [(argument, allowed)])
    type Case<'a> = (&'a str, u64, u64, &'a [(u64, bool)]);
    let cases: &[Case] = &[
        ("SCMP_CMP_EQ", hi + 5, 0, &[(hi + 5, true), (5, false), (hi + 6, false)]),
        ("SCMP_CMP_NE", hi + 5, 0, &[(hi + 5, false), (5, true), (hi + 6, true)]),
        ("SCMP_CMP_LT", hi + 5, 0, &[(hi + 4, true), (hi + 5, false), (4, true), (2 * hi, false)]),
        ("SCMP_CMP_LE", hi + 5, 0, &[(hi + 5, true), (hi + 6, false), (7, true), (2 * hi + 1, false)]),
        ("SCMP_CMP_GT", hi + 5, 0, &[(hi + 6, true), (hi + 5, false), (2 * hi, true), (9, false)]),
        ("SCMP_CMP_GE", hi + 5, 0, &[(hi + 5, true), (hi + 4, false), (2 * hi, true), (9, false)]),
        (
            "SCMP_CMP_MASKED_EQ",
            0xff | (0xf << 32),
            0x12 | (0x3 << 32),
            &[(0x1012 | (0x33 << 32), true), (0x13 | (0x3 << 32), false), (0x12, false)],
        ),
    ];
    for (op, value, two, probes) in cases {
        let f = rule(op, *value, *two);
        for (arg, allowed) in *probes {
            let got = x86_64(&f, "personality", [0, *arg, 0, 0, 0, 0]);
            assert_eq!(got == RET_ALLOW, *allowed, "{op} {value:#x} on {arg:#x}");
        }
    }
}

#[test]
fn conditions_of_one_entry_are_and_and_entries_are_or() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}]},
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97}
        ]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "socket", [1, 2, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&f, "socket", [1, 3, 0, 0, 0, 0]), RET_ERRNO | 97);
    assert_eq!(x86_64(&f, "socket", [10, 99, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&f, "socket", [2, 2, 0, 0, 0, 0]), RET_ERRNO | 97);
}

#[test]
fn an_entry_with_the_default_action_is_ignored_as_libseccomp_does() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 3, "op": "SCMP_CMP_EQ"}]},
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
        ]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "read", [3, 0, 0, 0, 0, 0]), RET_ALLOW);
}

#[test]
fn other_architectures_use_their_own_numbers_or_are_killed() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "read", "execveat"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    let i386_mkdir = Table::I386.number("mkdir").unwrap();
    assert_ne!(i386_mkdir, Table::X86_64.number("mkdir").unwrap());
    assert_eq!(verdict(&f, AUDIT_ARCH_I386, i386_mkdir, [0; 6]), RET_ALLOW);
    // x86_64's mkdir number is another syscall on i386.
    assert_eq!(verdict(&f, AUDIT_ARCH_I386, Table::X86_64.number("mkdir").unwrap(), [0; 6]), EPERM);
    let x32_read = X32_SYSCALL_BIT | Table::X86_64.number("read").unwrap();
    assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, x32_read, [0; 6]), RET_ALLOW);
    assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 520, [0; 6]), EPERM);
    assert_eq!(verdict(&f, AUDIT_ARCH_AARCH64, 34, [0; 6]), RET_KILL_PROCESS);

    let native_only = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]
    })))
    .unwrap();
    assert_eq!(verdict(&native_only, AUDIT_ARCH_I386, i386_mkdir, [0; 6]), RET_KILL_PROCESS);
    assert_eq!(verdict(&native_only, AUDIT_ARCH_X86_64, x32_read, [0; 6]), RET_KILL_PROCESS);
}

#[test]
fn x32_rules_use_x32_numbers_including_its_own_from_512() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["execve", "rt_sigaction", "read", "preadv2"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    let x32 = |nr: u32| verdict(&f, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | nr, [0; 6]);
    assert_eq!(x32(520), RET_ALLOW, "x32's execve");
    assert_eq!(x32(512), RET_ALLOW, "x32's rt_sigaction");
    assert_eq!(x32(Table::X86_64.number("read").unwrap()), RET_ALLOW, "read is common to both");
    // x86_64's own execve and rt_sigaction numbers are not x32 syscalls.
    assert_eq!(x32(Table::X86_64.number("execve").unwrap()), EPERM);
    assert_eq!(x32(Table::X86_64.number("rt_sigaction").unwrap()), EPERM);
    assert_eq!(x32(521), EPERM, "x32's ptrace is not allowed");
    assert_eq!(x86_64(&f, "execve", [0; 6]), RET_ALLOW);
    assert_eq!(
        verdict(&f, AUDIT_ARCH_X86_64, 520, [0; 6]),
        RET_ENOSYS,
        "520 is above x86_64's highest named"
    );
    assert_eq!(x32(600), RET_ENOSYS, "600 is above x32's highest named");
}

#[test]
fn unknown_names_are_skipped_and_unsupported_constructs_refused() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["no_such_syscall", "read"], "action": "SCMP_ACT_ALLOW"}]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "read", [0; 6]), RET_ALLOW);
    for bad in [
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/l.sock"}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "listenerPath": "run/l.sock",
               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}),
        json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
               "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
    ] {
        assert!(compile(&profile(bad.clone())).is_err(), "{bad} compiled");
    }
}

#[test]
fn binary_search_agrees_with_a_linear_reading_of_the_rules() {
    // Every third syscall allowed, every fifth failing with its own errno: many ranges.
    let names: Vec<String> = syscalls::x86_64::Sysno::iter().map(|s| s.name().to_string()).collect();
    let allow: Vec<&String> = names.iter().step_by(3).collect();
    let deny: Vec<&String> = names.iter().skip(1).step_by(5).collect();
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "syscalls": [{"names": allow, "action": "SCMP_ACT_ALLOW"},
                     {"names": deny, "action": "SCMP_ACT_ERRNO", "errnoRet": 5}]
    })))
    .unwrap();
    let highest = allow.iter().chain(&deny).map(|n| Table::X86_64.number(n).unwrap()).max().unwrap();
    for nr in 0..600u32 {
        let name = syscalls::x86_64::Sysno::new(nr as usize).map(|s| s.name().to_string());
        let want = match name {
            Some(n) if allow.contains(&&n) => RET_ALLOW,
            Some(n) if deny.contains(&&n) => RET_ERRNO | 5,
            _ if nr > highest => RET_ENOSYS,
            _ => RET_KILL_PROCESS,
        };
        assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, nr, [0; 6]), want, "syscall {nr}");
    }
}

#[test]
fn notify_rules_return_user_notif_and_ask_for_a_listener() {
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/listener.sock",
        "listenerMetadata": "meta",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "mkdir", [0; 6]), RET_USER_NOTIF);
    assert_eq!(x86_64(&f, "read", [0; 6]), RET_ALLOW);
    assert_eq!(f.flags, SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
    let listener = f.listener.expect("a listener");
    assert_eq!((listener.path.to_str(), listener.metadata.as_str()), (Some("/run/listener.sock"), "meta"));
}

/// The kernel's check (kernel/seccomp.c, seccomp_is_const_allow) of whether a
/// filter allows syscall `nr` whatever its arguments: it follows the program with
/// only the number and the architecture known, and gives up at any other load or
/// at an instruction it does not emulate. Where it succeeds the kernel caches the
/// verdict and skips the filter for that syscall. Returns where it gave up.
fn kernel_const_allow(program: &[bpf::sock_filter], arch: u32, nr: u32) -> std::result::Result<bool, String> {
    const LD_W_ABS: u16 = 0x20;
    const RET_K: u16 = 0x06;
    const JA: u16 = 0x05;
    const ALU_AND_K: u16 = 0x54;
    let mut a: u32 = 0;
    let mut pc = 0usize;
    while pc < program.len() {
        let i = &program[pc];
        match i.code {
            LD_W_ABS => match i.k {
                0 => a = nr,
                4 => a = arch,
                k => return Err(format!("pc {pc}: load of offset {k}")),
            },
            RET_K => return Ok(i.k == RET_ALLOW),
            JA => pc += i.k as usize,
            0x15 | 0x35 | 0x25 | 0x45 => {
                let taken = match i.code {
                    0x15 => a == i.k,
                    0x35 => a >= i.k,
                    0x25 => a > i.k,
                    _ => a & i.k != 0,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            ALU_AND_K => a &= i.k,
            code => return Err(format!("pc {pc}: instruction {code:#x} not emulated")),
        }
        pc += 1;
    }
    Err("ran off the end".into())
}

#[test]
fn unconditionally_allowed_syscalls_are_cacheable_by_the_kernel() {
    let text = include_str!("../../spec-tests/fixtures/podman-default-seccomp.json");
    let f = compile(&serde_json::from_str(text).unwrap()).unwrap();
    for name in ["read", "write", "openat", "futex", "exit_group"] {
        let nr = Table::X86_64.number(name).unwrap();
        assert_eq!(kernel_const_allow(&f.program, AUDIT_ARCH_X86_64, nr), Ok(true), "{name}");
    }
}

#[test]
fn conditions_on_one_argument_are_separate_rules_as_runc_adds_them() {
    // runc's seccomp_syscall_test1: process_vm_readv allowed for pid 100 or 9001.
    let f = compile(&profile(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["process_vm_readv"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 100, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 9001, "op": "SCMP_CMP_EQ"}]}]
    })))
    .unwrap();
    assert_eq!(x86_64(&f, "process_vm_readv", [100, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&f, "process_vm_readv", [9001, 0, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(x86_64(&f, "process_vm_readv", [0, 0, 0, 0, 0, 0]), EPERM);
}

#[test]
fn syscalls_above_the_highest_named_get_enosys_unless_the_default_lets_them_through() {
    let rules = json!([{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                       {"names": ["openat"], "action": "SCMP_ACT_ERRNO"}]);
    let openat2 = Table::X86_64.number("openat2").unwrap();
    for (default, above) in [
        ("SCMP_ACT_ERRNO", RET_ENOSYS),
        ("SCMP_ACT_KILL_PROCESS", RET_ENOSYS),
        ("SCMP_ACT_ALLOW", RET_ALLOW),
        ("SCMP_ACT_LOG", RET_LOG),
    ] {
        let f = compile(&profile(json!({"defaultAction": default, "syscalls": rules}))).unwrap();
        // openat is named (with the default ERRNO action it adds nothing) and is the highest.
        assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, openat2, [0; 6]), above, "{default}");
        assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, 1000, [0; 6]), above, "{default}");
    }
    let nothing_named = compile(&profile(json!({"defaultAction": "SCMP_ACT_ERRNO"}))).unwrap();
    assert_eq!(verdict(&nothing_named, AUDIT_ARCH_X86_64, 1000, [0; 6]), EPERM);
}

#[test]
fn a_profile_without_flags_gets_spec_allow_as_from_runc_and_an_empty_list_gets_none() {
    let with = |flags: Option<serde_json::Value>| {
        let mut p = json!({"defaultAction": "SCMP_ACT_ALLOW"});
        if let Some(f) = flags {
            p["flags"] = f;
        }
        compile(&profile(p)).unwrap().flags
    };
    assert_eq!(with(None), SECCOMP_FILTER_FLAG_SPEC_ALLOW);
    assert_eq!(with(Some(json!([]))), 0);
    assert_eq!(with(Some(json!(["SECCOMP_FILTER_FLAG_LOG"]))), SECCOMP_FILTER_FLAG_LOG);
}
