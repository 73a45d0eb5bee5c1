//! The device program is checked twice: an interpreter of the few eBPF instructions
//! it uses runs it against the reference meaning (`decides`) for every case of a
//! table, and the kernel runs it for real on a cgroup of this host's cgroup2 tree.

use super::*;
use oci_spec::runtime::LinuxDeviceCgroup;

/// Runs the program on one request, as the kernel would.
fn run(prog: &[Insn], kind: Kind, major: u32, minor: u32, access: u32) -> u64 {
    let typ = match kind {
        Kind::Block => DEV_BLOCK,
        Kind::Char => DEV_CHAR,
        Kind::All => unreachable!("requests name a block or a char device"),
    };
    let ctx = [access << 16 | typ, major, minor];
    let mut reg = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = prog[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as i64 as u64;
        let mut next = pc + 1;
        let jump = |taken: bool| if taken { (pc as i64 + 1 + i64::from(i.off)) as usize } else { pc + 1 };
        match i.code {
            LDX_W => {
                assert_eq!(src, 1, "loads come from the context");
                reg[dst] = u64::from(ctx[i.off as usize / 4]);
            }
            MOV_REG => reg[dst] = reg[src],
            MOV_IMM => reg[dst] = imm,
            AND_IMM => reg[dst] &= imm,
            RSH_IMM => reg[dst] >>= imm,
            JA => next = jump(true),
            JNE_IMM => next = jump(reg[dst] != imm),
            JSET_IMM => next = jump(reg[dst] & imm != 0),
            EXIT => return reg[0],
            c => panic!("opcode {c:#x} is not one the compiler emits"),
        }
        pc = next;
    }
    panic!("the program did not exit");
}

fn rules(json: &str) -> Vec<Rule> {
    let config: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
    effective_rules(&config).unwrap()
}

/// Rule lists of the shapes bundles carry: the default, a GPU's (nvidia 195, a
/// dynamic uvm major, wildcard minors, rw without m), denies after allows, allow all.
const LISTS: &[&str] = &[
    "[]",
    r#"[{"allow": false, "access": "rwm"}]"#,
    r#"[{"allow": true, "type": "c", "major": 195, "access": "rw"},
        {"allow": true, "type": "c", "major": 511, "minor": 0, "access": "rwm"},
        {"allow": false, "type": "c", "major": 195, "minor": 255, "access": "w"}]"#,
    r#"[{"allow": true, "type": "b", "major": 7, "access": "r"},
        {"allow": true, "type": "a", "access": "m"},
        {"allow": false, "type": "c", "major": 1, "minor": 11}]"#,
    r#"[{"allow": true, "access": "rwm"}, {"allow": false, "type": "b", "access": "w"}]"#,
];

#[test]
fn the_program_decides_like_the_rule_list_in_every_case() {
    let numbers = [0, 1, 3, 5, 7, 11, 136, 195, 255, 511];
    for list in LISTS {
        let rules = rules(list);
        let prog = compile(&rules);
        for kind in [Kind::Char, Kind::Block] {
            for &major in &numbers {
                for &minor in &numbers {
                    for access in 1..=7 {
                        let want = decides(&rules, kind, major, minor, access);
                        let got = run(&prog, kind, major, minor, access) == 1;
                        assert_eq!(got, want, "{list}: {kind:?} {major}:{minor} access {access}");
                    }
                }
            }
        }
    }
}

#[test]
fn gpu_rules_allow_what_they_name_and_nothing_else() {
    let r = rules(LISTS[2]);
    assert!(decides(&r, Kind::Char, 195, 0, ACC_READ | ACC_WRITE));
    assert!(decides(&r, Kind::Char, 195, 0, ACC_MKNOD), "mknod of any node is a default");
    assert!(!decides(&r, Kind::Char, 195, 255, ACC_WRITE), "the later deny wins");
    assert!(decides(&r, Kind::Char, 195, 255, ACC_READ), "the deny names w only");
    assert!(!decides(&r, Kind::Char, 196, 0, ACC_READ));
    assert!(decides(&r, Kind::Char, 1, 3, ACC_READ | ACC_WRITE), "the null device is a default");
    assert!(!decides(&r, Kind::Block, 8, 0, ACC_READ));
}

#[test]
fn access_letters_beyond_rwm_are_ignored_as_runc_does() {
    let config: Vec<LinuxDeviceCgroup> =
        serde_json::from_str(r#"[{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwa"}]"#)
            .unwrap();
    let rules = effective_rules(&config).unwrap();
    let rule = rules.iter().find(|r| (r.major, r.minor) == (Some(1), Some(11))).unwrap();
    assert_eq!(rule.access, ACC_READ | ACC_WRITE);
}

#[test]
fn bad_rules_are_refused_by_name() {
    for (json, word) in [
        (r#"[{"allow": true, "type": "p"}]"#, "type"),
        (r#"[{"allow": true, "type": "c", "major": 99999999999}]"#, "major"),
    ] {
        let config: Vec<LinuxDeviceCgroup> = serde_json::from_str(json).unwrap();
        let e = effective_rules(&config).unwrap_err().to_string();
        assert!(e.contains(word), "{json}: {e}");
    }
}

#[test]
fn v1_lines_spell_the_same_rules() {
    let dir = std::env::temp_dir().join(format!("anchor-devices-v1-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = rules(r#"[{"allow": true, "type": "c", "major": 195, "access": "rw"}]"#);
    // Written to plain files here: the real devices.allow takes one line per write.
    apply_v1(&dir, &r[..2]).unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("devices.deny")).unwrap(), "a");
    assert_eq!(std::fs::read_to_string(dir.join("devices.allow")).unwrap(), "c 195:* rw");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_allow_list_allows_what_the_rule_list_does_and_says_when_it_cannot_all() {
    let numbers = [0, 1, 3, 5, 7, 10, 11, 136, 195, 200, 255, 511, 4242];
    let deny_all = Rule { allow: false, kind: Kind::All, major: None, minor: None, access: 7 };
    let extra = [
        // A partial rule for every device is one for each kind; a deny takes bits
        // from the narrower allows it covers.
        r#"[{"allow": true, "type": "a", "access": "r"}, {"allow": false, "type": "c", "major": 1, "access": "r"}]"#,
        r#"[{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
            {"allow": false, "type": "c", "major": 10, "access": "w"}]"#,
    ];
    let mut inexact = Vec::new();
    for list in LISTS.iter().chain(&extra) {
        let rules = rules(list);
        let allowed = allow_list(&rules);
        assert!(allowed.entries.iter().all(|e| e.allow && e.kind != Kind::All), "{list}: {allowed:?}");
        let as_list: Vec<Rule> = std::iter::once(deny_all).chain(allowed.entries.iter().copied()).collect();
        for kind in [Kind::Char, Kind::Block] {
            for &major in &numbers {
                for &minor in &numbers {
                    for access in [ACC_READ, ACC_WRITE, ACC_MKNOD] {
                        let want = decides(&rules, kind, major, minor, access);
                        let got = decides(&as_list, kind, major, minor, access);
                        let case = format!("{list}: {kind:?} {major}:{minor} access {access}");
                        assert!(want || !got, "never more than the list: {case}");
                        assert!(got == want || !allowed.exact, "exact means the same: {case}");
                    }
                }
            }
        }
        if !allowed.exact {
            inexact.push(*list);
        }
    }
    // The GPU list cuts a hole in a wider allow, the first extra one in reading every
    // char device; allow all but block writes (LISTS[4]) is an allow-list after all.
    assert_eq!(inexact, [LISTS[2], extra[0]]);
    let all_but = allow_list(&rules(LISTS[4])).entries.iter().map(Rule::to_string).collect::<Vec<_>>();
    assert_eq!(all_but, ["c *:* rwm", "b *:* rm"]);
    let gpu = allow_list(&rules(LISTS[2])).entries.iter().map(Rule::to_string).collect::<Vec<_>>();
    assert!(gpu.contains(&"c 195:* r".to_string()) && gpu.contains(&"c 1:3 rw".to_string()), "{gpu:?}");
    assert!(allow_list(&rules(r#"[{"allow": true, "access": "rwm"}]"#)).is_everything());
    assert!(!allow_list(&rules("[]")).is_everything());
}

/// A cgroup2 directory this test may use: the host's v2 root, or the hybrid tree.
fn cgroup2_root() -> Option<&'static Path> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].into_iter().map(Path::new).find(|p| {
        nix::sys::statfs::statfs(*p)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
    })
}

#[test]
fn the_kernel_enforces_the_program_on_a_cgroup2_cgroup() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the unit tests run as root (make test): this one loads a BPF program"
    );
    let root = cgroup2_root().expect("a cgroup2 tree (pure v2, or the hybrid host's unified tree)");
    let dir = root.join(format!("anchor-unit-devices-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    // kmsg (1:11) is in no default rule: allowed for reading only.
    let r = rules(r#"[{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]"#);
    let procs =
        std::ffi::CString::new(dir.join("cgroup.procs").into_os_string().into_encoded_bytes()).unwrap();
    let probe = |path: &std::ffi::CStr, flags: i32| -> bool {
        // SAFETY: the child only makes raw system calls on memory prepared before the
        // fork and leaves with _exit, so the test harness's threads cannot matter.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                let joined = fd >= 0 && libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                let opened = libc::open(path.as_ptr(), flags) >= 0;
                libc::_exit(if !joined {
                    2
                } else if opened {
                    0
                } else {
                    1
                });
            }
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            let code = libc::WEXITSTATUS(status);
            assert_ne!(code, 2, "the child could not join the test cgroup");
            code == 0
        }
    };
    // Without the program, root may write to kmsg.
    assert!(probe(c"/dev/kmsg", libc::O_WRONLY), "kmsg is writable before the filter");
    let prog = load(&compile(&r)).unwrap();
    attach_v2(&dir, &prog).unwrap();
    // Attaching again replaces the program instead of stacking a second one.
    attach_v2(&dir, &load(&compile(&r)).unwrap()).unwrap();
    assert_eq!(attached(&std::fs::File::open(&dir).unwrap()).unwrap().len(), 1);
    let results = [
        probe(c"/dev/null", libc::O_RDWR),
        probe(c"/dev/kmsg", libc::O_RDONLY),
        probe(c"/dev/kmsg", libc::O_WRONLY),
        probe(c"/dev/kmsg", libc::O_RDWR),
    ];
    let _ = std::fs::remove_dir(&dir);
    assert_eq!(results, [true, true, false, false], "null rw, kmsg r, kmsg w, kmsg rw");
}
