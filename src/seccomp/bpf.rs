//! A small assembler for classic BPF as seccomp runs it. Code refers to labels, not
//! offsets. A conditional jump is emitted as "skip the next instruction or not"
//! followed by an unconditional `ja`, whose 32-bit offset reaches anywhere, so a
//! program of any size assembles; conditional jumps in BPF only reach 255 ahead.

pub use seccompiler::{sock_filter, BpfProgram};

pub const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
pub const ALU_AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
pub const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
pub const JMP_JEQ_K: u16 = 0x15;
pub const JMP_JGT_K: u16 = 0x25;
pub const JMP_JGE_K: u16 = 0x35;
pub const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// The kernel's limit on one filter's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Label(usize);

/// A comparison of the accumulator with a constant.
#[derive(Clone, Copy, Debug)]
pub enum Cmp {
    Eq,
    Gt,
    Ge,
}

impl Cmp {
    fn code(self) -> u16 {
        match self {
            Cmp::Eq => JMP_JEQ_K,
            Cmp::Gt => JMP_JGT_K,
            Cmp::Ge => JMP_JGE_K,
        }
    }
}

enum Item {
    Insn(sock_filter),
    /// if ((A cmp k) == when) goto to
    JumpIf {
        cmp: Cmp,
        k: u32,
        when: bool,
        to: Label,
    },
    Goto(Label),
    Mark(Label),
}

#[derive(Default)]
pub struct Assembler {
    items: Vec<Item>,
    labels: usize,
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl Assembler {
    pub fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Places `label` at the next instruction.
    pub fn mark(&mut self, label: Label) {
        self.items.push(Item::Mark(label));
    }

    /// A = the 32-bit word at `offset` in seccomp_data.
    pub fn load(&mut self, offset: u32) {
        self.items.push(Item::Insn(insn(LD_W_ABS, 0, 0, offset)));
    }

    pub fn and(&mut self, k: u32) {
        self.items.push(Item::Insn(insn(ALU_AND_K, 0, 0, k)));
    }

    pub fn ret(&mut self, k: u32) {
        self.items.push(Item::Insn(insn(RET_K, 0, 0, k)));
    }

    pub fn jump_if(&mut self, cmp: Cmp, k: u32, to: Label) {
        self.items.push(Item::JumpIf { cmp, k, when: true, to });
    }

    pub fn jump_unless(&mut self, cmp: Cmp, k: u32, to: Label) {
        self.items.push(Item::JumpIf { cmp, k, when: false, to });
    }

    pub fn goto(&mut self, to: Label) {
        self.items.push(Item::Goto(to));
    }

    pub fn assemble(self) -> Result<BpfProgram, String> {
        // Pass 1: where each label lands.
        let mut at = vec![usize::MAX; self.labels];
        let mut pos = 0;
        for item in &self.items {
            match item {
                Item::Mark(l) => at[l.0] = pos,
                Item::JumpIf { .. } => pos += 2,
                _ => pos += 1,
            }
        }
        if pos > MAX_INSNS {
            return Err(format!("the filter needs {pos} instructions; the kernel takes at most {MAX_INSNS}"));
        }
        // Pass 2: emit, with `ja` offsets counted from the instruction after it.
        let mut out = Vec::with_capacity(pos);
        let ja = |from: usize, l: Label| -> Result<sock_filter, String> {
            let target = at[l.0];
            if target == usize::MAX || target <= from {
                return Err(format!("BPF label {l:?} is unplaced or behind its jump"));
            }
            Ok(insn(JMP_JA, 0, 0, (target - from - 1) as u32))
        };
        for item in self.items {
            match item {
                Item::Mark(_) => {}
                Item::Insn(i) => out.push(i),
                Item::Goto(l) => out.push(ja(out.len(), l)?),
                Item::JumpIf { cmp, k, when, to } => {
                    // Condition as wanted: fall into the `ja`; otherwise skip it.
                    let (jt, jf) = if when { (0, 1) } else { (1, 0) };
                    out.push(insn(cmp.code(), jt, jf, k));
                    out.push(ja(out.len(), to)?);
                }
            }
        }
        Ok(out)
    }
}

/// Runs a program on one seccomp_data, as the kernel would; for tests.
#[cfg(test)]
pub fn run(program: &[sock_filter], data: &[u8; 64]) -> u32 {
    let word = |off: u32| u32::from_ne_bytes(data[off as usize..off as usize + 4].try_into().unwrap());
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = &program[pc];
        pc += 1;
        match i.code {
            LD_W_ABS => a = word(i.k),
            ALU_AND_K => a &= i.k,
            JMP_JA => pc += i.k as usize,
            RET_K => return i.k,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K => {
                let taken = match i.code {
                    JMP_JEQ_K => a == i.k,
                    JMP_JGT_K => a > i.k,
                    _ => a >= i.k,
                };
                pc += if taken { i.jt } else { i.jf } as usize;
            }
            other => panic!("unexpected BPF opcode {other:#x}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_jumps_assemble_through_ja() {
        let mut asm = Assembler::default();
        let far = asm.label();
        asm.load(0);
        asm.jump_if(Cmp::Eq, 7, far);
        for _ in 0..1000 {
            asm.ret(1);
        }
        asm.mark(far);
        asm.ret(2);
        let prog = asm.assemble().unwrap();
        let mut data = [0u8; 64];
        data[0] = 7;
        assert_eq!(run(&prog, &data), 2);
        data[0] = 8;
        assert_eq!(run(&prog, &data), 1);
    }
}
