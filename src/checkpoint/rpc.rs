//! CRIU's RPC messages (criu's images/rpc.proto), written and read by hand: the
//! protobuf wire format for the handful of fields the runtime uses is a few dozen
//! lines, where a protobuf crate would bring a code generator into the build.
//!
//! Only the field numbers below are sent; CRIU ignores what it does not know, and
//! this reader skips what it does not ask for.

use crate::error::{Error, Result};

/// `criu_req_type`.
pub mod kind {
    pub const DUMP: u64 = 1;
    pub const RESTORE: u64 = 2;
    pub const PRE_DUMP: u64 = 4;
    pub const NOTIFY: u64 = 6;
}

/// Field numbers of `criu_opts`.
pub mod opt {
    pub const IMAGES_DIR_FD: u32 = 1;
    pub const PID: u32 = 2;
    pub const LEAVE_RUNNING: u32 = 3;
    pub const EXT_UNIX_SK: u32 = 4;
    pub const TCP_ESTABLISHED: u32 = 5;
    pub const EVASIVE_DEVICES: u32 = 6;
    pub const SHELL_JOB: u32 = 7;
    pub const FILE_LOCKS: u32 = 8;
    pub const LOG_LEVEL: u32 = 9;
    pub const LOG_FILE: u32 = 10;
    pub const PAGE_SERVER: u32 = 11;
    pub const NOTIFY_SCRIPTS: u32 = 12;
    pub const ROOT: u32 = 13;
    pub const PARENT_IMG: u32 = 14;
    pub const TRACK_MEM: u32 = 15;
    pub const AUTO_DEDUP: u32 = 16;
    pub const WORK_DIR_FD: u32 = 17;
    pub const LINK_REMAP: u32 = 18;
    pub const EXT_MNT: u32 = 23;
    pub const MANAGE_CGROUPS: u32 = 24;
    pub const CG_ROOT: u32 = 25;
    pub const RST_SIBLING: u32 = 26;
    pub const INHERIT_FD: u32 = 27;
    pub const MANAGE_CGROUPS_MODE: u32 = 34;
    pub const EXTERNAL: u32 = 37;
    pub const EMPTY_NS: u32 = 38;
    pub const JOIN_NS: u32 = 39;
    pub const FREEZE_CGROUP: u32 = 44;
    pub const TCP_SKIP_IN_FLIGHT: u32 = 46;
    pub const LAZY_PAGES: u32 = 48;
    pub const ORPHAN_PTS_MASTER: u32 = 50;
    pub const CONFIG_FILE: u32 = 51;
    pub const LSM_PROFILE: u32 = 53;
    pub const LSM_MOUNT_CONTEXT: u32 = 63;
}

/// One protobuf message being written.
#[derive(Default)]
pub struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire_type));
    }

    pub fn uint(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, 0);
        self.varint(v);
        self
    }

    /// protobuf's int32: a negative one is sign-extended to ten bytes.
    pub fn int(&mut self, field: u32, v: i32) -> &mut Self {
        self.uint(field, i64::from(v) as u64)
    }

    pub fn flag(&mut self, field: u32, v: bool) -> &mut Self {
        self.uint(field, u64::from(v))
    }

    pub fn string(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }

    pub fn message(&mut self, field: u32, m: &Message) -> &mut Self {
        self.bytes(field, &m.0)
    }

    fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    /// A two-string message (`ext_mount_map`, `cgroup_root`, `join_namespace`:
    /// fields 1 and 2).
    pub fn pair(first: &str, second: &str) -> Message {
        let mut m = Message::default();
        m.string(1, first).string(2, second);
        m
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A `criu_req` of `kind` with these options.
pub fn request(kind: u64, opts: &Message) -> Message {
    let mut m = Message::default();
    m.uint(1, kind).message(2, opts);
    m
}

/// The answer to a notification: go on.
pub fn notify_success() -> Message {
    let mut m = Message::default();
    m.uint(1, kind::NOTIFY).flag(3, true);
    m
}

/// One field as read: a varint's value, or a length-delimited field's bytes.
enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn fields(mut buf: &[u8]) -> Result<Vec<(u32, Value<'_>)>> {
    let bad = || Error::invalid("criu sent a malformed RPC message");
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf).ok_or_else(bad)?;
        let value = match key & 7 {
            0 => Value::Varint(varint(&mut buf).ok_or_else(bad)?),
            2 => {
                let len = varint(&mut buf).ok_or_else(bad)? as usize;
                let (bytes, rest) = buf.split_at_checked(len).ok_or_else(bad)?;
                buf = rest;
                Value::Bytes(bytes)
            }
            wire @ (1 | 5) => {
                let len = if wire == 1 { 8 } else { 4 };
                buf = buf.get(len..).ok_or_else(bad)?;
                Value::Fixed
            }
            _ => return Err(bad()),
        };
        out.push(((key >> 3) as u32, value));
    }
    Ok(out)
}

/// `criu_notify`: a step CRIU tells its caller about (runc's "action scripts").
#[derive(Debug, Default, PartialEq)]
pub struct Notify {
    pub script: String,
    pub pid: i32,
}

/// What the runtime reads of a `criu_resp`.
#[derive(Debug, Default, PartialEq)]
pub struct Response {
    pub kind: u64,
    pub success: bool,
    pub errno: Option<i32>,
    pub errmsg: Option<String>,
    pub notify: Option<Notify>,
    /// `restore.pid`: the restored tree's root, as the host sees it.
    pub restored_pid: Option<i32>,
}

impl Response {
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut r = Response::default();
        for (field, value) in fields(buf)? {
            match (field, value) {
                (1, Value::Varint(v)) => r.kind = v,
                (2, Value::Varint(v)) => r.success = v != 0,
                (4, Value::Bytes(b)) => {
                    for (f, v) in fields(b)? {
                        if let (1, Value::Varint(pid)) = (f, v) {
                            r.restored_pid = Some(pid as i32);
                        }
                    }
                }
                (5, Value::Bytes(b)) => {
                    let mut n = Notify::default();
                    for (f, v) in fields(b)? {
                        match (f, v) {
                            (1, Value::Bytes(s)) => n.script = text(s),
                            (2, Value::Varint(pid)) => n.pid = pid as i32,
                            _ => {}
                        }
                    }
                    r.notify = Some(n);
                }
                (7, Value::Varint(v)) => r.errno = Some(v as i32),
                (9, Value::Bytes(b)) => r.errmsg = Some(text(b)),
                _ => {}
            }
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_protobuf_does() {
        let mut opts = Message::default();
        opts.int(opt::IMAGES_DIR_FD, 5).flag(opt::SHELL_JOB, true).string(opt::LOG_FILE, "dump.log");
        opts.message(opt::EXT_MNT, &Message::pair("/a", "/b"));
        // Bytes as protoc writes this request (criu_req{type: DUMP, opts{...}}).
        let want = [
            0x08, 0x01, 0x12, 0x19, 0x08, 0x05, 0x38, 0x01, 0x52, 0x08, b'd', b'u', b'm', b'p', b'.', b'l',
            b'o', b'g', 0xba, 0x01, 0x08, 0x0a, 0x02, b'/', b'a', 0x12, 0x02, b'/', b'b',
        ];
        assert_eq!(request(kind::DUMP, &opts).as_bytes(), want);
        let mut negative = Message::default();
        negative.int(49, -1);
        assert_eq!(
            negative.as_bytes(),
            [0x88, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn responses_decode_notifications_errors_and_the_restored_pid() {
        // criu_resp{type: NOTIFY, success: true, notify{script: "post-restore", pid: 300}}
        let mut notify = Message::default();
        notify.string(1, "post-restore").uint(2, 300);
        let mut m = Message::default();
        m.uint(1, kind::NOTIFY).flag(2, true).message(5, &notify);
        let r = Response::parse(m.as_bytes()).unwrap();
        assert_eq!(r.notify, Some(Notify { script: "post-restore".into(), pid: 300 }));
        let mut restore = Message::default();
        restore.uint(1, 4242);
        let mut m = Message::default();
        // An unknown fixed32 field (wire type 5) is skipped.
        m.uint(1, kind::RESTORE).flag(2, true).message(4, &restore);
        m.0.extend_from_slice(&[0xf5, 0x01, 1, 2, 3, 4]);
        assert_eq!(Response::parse(m.as_bytes()).unwrap().restored_pid, Some(4242));
        let mut m = Message::default();
        m.uint(1, kind::DUMP).flag(2, false).int(7, 13).string(9, "no");
        let r = Response::parse(m.as_bytes()).unwrap();
        assert_eq!((r.success, r.errno, r.errmsg.as_deref()), (false, Some(13), Some("no")));
        assert!(Response::parse(&[0x0a, 0x05, 1]).is_err(), "a length past the end");
    }
}
