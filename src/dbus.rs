//! A small, blocking D-Bus client: what the systemd cgroup driver needs and no more.
//!
//! The runtime forks init from a single-threaded process and relies on it (a fork
//! copies only the calling thread; a lock another thread held stays locked in the
//! child). zbus runs an executor thread of its own, and the `dbus` crate links
//! libdbus, a C library with its own locking. The protocol itself is small: a SASL
//! `EXTERNAL` handshake, then messages in the wire format of the D-Bus specification,
//! of which the driver sends method calls with a few types (strings, booleans,
//! integers, arrays, structs, variants) and reads method returns, errors and one
//! signal. So this module speaks it directly, on a blocking Unix socket with a
//! timeout, in the calling thread.

use crate::error::{Error, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long a call (or the wait for a signal) may take before the runtime gives up
/// with an error instead of hanging: systemd's own default job timeout is longer, but
/// a scope starts in milliseconds.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// A value to send. Only what the driver's calls need.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    ObjectPath(String),
    Signature(String),
    /// An array of one element type, given by its signature (the array may be empty).
    Array(&'static str, Vec<Value>),
    Bytes(Vec<u8>),
    Struct(Vec<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I16(_) => "n".into(),
            Value::U16(_) => "q".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::F64(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::ObjectPath(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Array(element, _) => format!("a{element}"),
            Value::Bytes(_) => "ay".into(),
            Value::Struct(fields) => format!("({})", fields.iter().map(Value::signature).collect::<String>()),
            Value::Variant(_) => "v".into(),
        }
    }
}

/// Marshalling in little-endian byte order; offsets count from the message's start,
/// which is what alignment is relative to.
#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A fixed-size number, aligned to its size.
    fn fixed(&mut self, align: usize, bytes: &[u8]) {
        self.pad(align);
        self.buf.extend_from_slice(bytes);
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::U32(n) => self.u32(*n),
            Value::I32(n) => self.u32(*n as u32),
            Value::I16(n) => self.fixed(2, &n.to_le_bytes()),
            Value::U16(n) => self.fixed(2, &n.to_le_bytes()),
            Value::I64(n) => self.fixed(8, &n.to_le_bytes()),
            Value::U64(n) => self.fixed(8, &n.to_le_bytes()),
            Value::F64(n) => self.fixed(8, &n.to_le_bytes()),
            Value::Str(s) | Value::ObjectPath(s) => self.string(s),
            Value::Signature(s) => self.signature(s),
            Value::Bytes(bytes) => {
                self.u32(bytes.len() as u32);
                self.buf.extend_from_slice(bytes);
            }
            Value::Array(element, items) => {
                self.pad(4);
                let length_at = self.buf.len();
                self.buf.extend_from_slice(&[0; 4]);
                // The padding to the first element is not part of the length.
                self.pad(alignment(element.as_bytes()[0]));
                let start = self.buf.len();
                for item in items {
                    self.value(item);
                }
                let length = (self.buf.len() - start) as u32;
                self.buf[length_at..length_at + 4].copy_from_slice(&length.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for field in fields {
                    self.value(field);
                }
            }
            Value::Variant(inner) => {
                self.signature(&inner.signature());
                self.value(inner);
            }
        }
    }
}

/// The alignment of a type by its signature's first character.
fn alignment(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// Reading a received message: the header fields and simple bodies.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let bytes = self.buf.get(self.pos..self.pos + n).ok_or_else(|| malformed("truncated"))?;
        self.pos += n;
        Ok(bytes)
    }

    fn align(&mut self, align: usize) -> Result<()> {
        let to = self.pos.div_ceil(align) * align;
        self.take(to - self.pos).map(drop)
    }

    fn u32(&mut self) -> Result<u32> {
        self.align(4)?;
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn string(&mut self) -> Result<String> {
        let len = self.u32()? as usize;
        let s = String::from_utf8_lossy(self.take(len)?).into_owned();
        self.take(1)?;
        Ok(s)
    }

    fn signature(&mut self) -> Result<String> {
        let len = self.take(1)?[0] as usize;
        let s = String::from_utf8_lossy(self.take(len)?).into_owned();
        self.take(1)?;
        Ok(s)
    }

    /// Reads one complete type from the start of `sig`, returning a string form of
    /// basic values (what the driver compares) and the rest of the signature.
    fn value<'s>(&mut self, sig: &'s str) -> Result<(Option<String>, &'s str)> {
        let code = *sig.as_bytes().first().ok_or_else(|| malformed("empty signature"))?;
        let rest = &sig[1..];
        let text = match code {
            b'y' => Some(self.take(1)?[0].to_string()),
            b'b' | b'u' | b'h' => Some(self.u32()?.to_string()),
            b'n' | b'q' => {
                self.align(2)?;
                self.take(2).map(|_| None)?
            }
            b'i' => Some((self.u32()? as i32).to_string()),
            b'x' | b't' | b'd' => {
                self.align(8)?;
                Some(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")).to_string())
            }
            b's' | b'o' => Some(self.string()?),
            b'g' => Some(self.signature()?),
            b'v' => {
                let inner = self.signature()?;
                let (value, _) = self.value(&inner)?;
                value
            }
            b'a' => {
                let len = self.u32()? as usize;
                let element = complete_type(rest)?;
                self.align(alignment(element.as_bytes()[0]))?;
                self.take(len)?;
                return Ok((None, &rest[element.len()..]));
            }
            b'(' | b'{' => {
                self.align(8)?;
                let inner = complete_type(sig)?;
                let mut fields = &inner[1..inner.len() - 1];
                while !fields.is_empty() {
                    fields = self.value(fields)?.1;
                }
                return Ok((None, &sig[inner.len()..]));
            }
            other => return Err(malformed(&format!("type code {:?}", other as char))),
        };
        Ok((text, rest))
    }
}

/// The first complete type of a signature: `s`, `a(sv)`, `(ua{sv})`.
fn complete_type(sig: &str) -> Result<&str> {
    let bytes = sig.as_bytes();
    let mut depth = 0usize;
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'a' => continue,
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth = depth.checked_sub(1).ok_or_else(|| malformed("signature"))?,
            _ => {}
        }
        if depth == 0 {
            return Ok(&sig[..=i]);
        }
    }
    Err(malformed("signature"))
}

fn malformed(what: &str) -> Error {
    Error::invalid(format!("D-Bus: malformed message from the bus ({what})"))
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

/// A received message, with the header fields the driver reads.
#[derive(Debug, Default)]
pub struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub error_name: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    /// The body's basic values in order (nested arrays and structs are skipped).
    pub body: Vec<String>,
}

/// A call failed with a D-Bus error (`org.freedesktop.systemd1.NoSuchUnit`, ...).
#[derive(Debug)]
pub struct CallError {
    pub name: String,
    pub message: String,
}

/// One connection to a bus.
pub struct Connection {
    stream: UnixStream,
    serial: u32,
    /// Signals read while waiting for a reply, kept for `wait_signal`.
    pending: Vec<Message>,
    address: String,
}

impl Connection {
    /// Connects to the bus at a `unix:path=...` address (or a plain socket path),
    /// authenticates as this process's user, and says Hello.
    pub fn connect(address: &str) -> Result<Self> {
        let path = socket_path(address);
        // The errno stays: a caller tells "no bus here" (ENOENT, ECONNREFUSED) apart.
        let fail = |what: &str, e: std::io::Error| {
            Error::sys(
                format!("cannot connect to {path}: {what}"),
                nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            )
        };
        let stream = UnixStream::connect(&path).map_err(|e| fail("connect", e))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(|e| fail("set a timeout", e))?;
        let mut conn = Connection { stream, serial: 0, pending: Vec::new(), address: path.clone() };
        conn.authenticate().map_err(|e| Error::invalid(format!("cannot connect to {path}: {e}")))?;
        conn.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", &[])?
            .map_err(|e| Error::invalid(format!("cannot connect to {path}: Hello: {}", e.message)))?;
        Ok(conn)
    }

    /// SASL EXTERNAL: the bus checks the uid against the socket's peer credentials.
    fn authenticate(&mut self) -> Result<()> {
        let uid: String = nix::unistd::geteuid().to_string().bytes().map(|b| format!("{b:02x}")).collect();
        let io = |e: std::io::Error| Error::invalid(format!("authentication: {e}"));
        self.stream.write_all(format!("\0AUTH EXTERNAL {uid}\r\n").as_bytes()).map_err(io)?;
        let line = self.read_line().map_err(io)?;
        if !line.starts_with("OK ") {
            return Err(Error::invalid(format!("authentication refused: {}", crate::error::quoted(&line))));
        }
        self.stream.write_all(b"BEGIN\r\n").map_err(io)
    }

    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") && line.len() < 512 {
            self.stream.read_exact(&mut byte)?;
            line.push(byte[0]);
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_string())
    }

    /// Calls a method and waits for its return or error. Signals that arrive
    /// meanwhile are kept for `wait_signal`.
    pub fn call(
        &mut self,
        destination: &str,
        path: &str,
        interface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<std::result::Result<Message, CallError>> {
        self.serial += 1;
        let serial = self.serial;
        let message = encode_call(serial, destination, path, interface, member, args);
        let step = format!("D-Bus {interface}.{member} on {}", self.address);
        self.stream.write_all(&message).map_err(|e| io_error(&step, e))?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let received = self.receive(deadline).map_err(|e| prefixed(&step, e))?;
            match received.kind {
                METHOD_RETURN if received.reply_serial == Some(serial) => return Ok(Ok(received)),
                ERROR if received.reply_serial == Some(serial) => {
                    return Ok(Err(CallError {
                        name: received.error_name.unwrap_or_default(),
                        message: received.body.first().cloned().unwrap_or_default(),
                    }))
                }
                SIGNAL => self.pending.push(received),
                _ => {}
            }
        }
    }

    /// Waits for a signal `member` of `interface` whose body `matches`.
    pub fn wait_signal(
        &mut self,
        interface: &str,
        member: &str,
        matches: impl Fn(&[String]) -> bool,
    ) -> Result<Message> {
        let wanted = |m: &Message| {
            m.interface.as_deref() == Some(interface)
                && m.member.as_deref() == Some(member)
                && matches(&m.body)
        };
        if let Some(i) = self.pending.iter().position(wanted) {
            return Ok(self.pending.remove(i));
        }
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let received = self.receive(deadline).map_err(|e| prefixed(&format!("wait for {member}"), e))?;
            if received.kind == SIGNAL && wanted(&received) {
                return Ok(received);
            }
        }
    }

    fn receive(&mut self, deadline: Instant) -> Result<Message> {
        if Instant::now() > deadline {
            return Err(Error::invalid("no answer from the bus in time"));
        }
        let mut fixed = [0u8; 16];
        self.stream.read_exact(&mut fixed).map_err(|e| io_error("read", e))?;
        if fixed[0] != b'l' {
            return Err(malformed("big-endian messages are not read"));
        }
        let body_len = u32::from_le_bytes(fixed[4..8].try_into().expect("4 bytes")) as usize;
        let fields_len = u32::from_le_bytes(fixed[12..16].try_into().expect("4 bytes")) as usize;
        if body_len > 64 << 20 || fields_len > 64 << 20 {
            return Err(malformed("too large"));
        }
        let header_end = (16 + fields_len).div_ceil(8) * 8;
        let mut whole = fixed.to_vec();
        whole.resize(header_end + body_len, 0);
        self.stream.read_exact(&mut whole[16..]).map_err(|e| io_error("read", e))?;
        decode(&whole, fields_len, header_end)
    }
}

fn io_error(step: &str, e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            Error::invalid(format!("{step}: no answer from the bus in {}s", REPLY_TIMEOUT.as_secs()))
        }
        _ => Error::sys(step, nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

fn prefixed(step: &str, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::invalid(format!("{step}: {m}")),
        e => e,
    }
}

/// `unix:path=/run/dbus/system_bus_socket,guid=...` or a plain path.
fn socket_path(address: &str) -> String {
    let first = address.split(';').next().unwrap_or(address);
    match first.strip_prefix("unix:") {
        Some(params) => params.split(',').find_map(|p| p.strip_prefix("path=")).unwrap_or(params).to_string(),
        None => first.to_string(),
    }
}

fn encode_call(
    serial: u32,
    destination: &str,
    path: &str,
    interface: &str,
    member: &str,
    args: &[Value],
) -> Vec<u8> {
    let mut body = Writer::default();
    for arg in args {
        body.value(arg);
    }
    let signature: String = args.iter().map(Value::signature).collect();
    let field = |code: u8, v: Value| Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))]);
    let mut fields = vec![
        field(1, Value::ObjectPath(path.into())),
        field(2, Value::Str(interface.into())),
        field(3, Value::Str(member.into())),
        field(6, Value::Str(destination.into())),
    ];
    if !signature.is_empty() {
        fields.push(field(8, Value::Signature(signature)));
    }
    let mut m = Writer::default();
    m.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    m.buf.extend_from_slice(&(body.buf.len() as u32).to_le_bytes());
    m.buf.extend_from_slice(&serial.to_le_bytes());
    m.value(&Value::Array("(yv)", fields));
    m.pad(8);
    m.buf.extend_from_slice(&body.buf);
    m.buf
}

fn decode(whole: &[u8], fields_len: usize, header_end: usize) -> Result<Message> {
    let mut message = Message { kind: whole[1], ..Message::default() };
    let mut r = Reader { buf: &whole[..16 + fields_len], pos: 16 };
    let mut signature = String::new();
    while r.pos < 16 + fields_len {
        r.align(8)?;
        let code = r.take(1)?[0];
        let sig = r.signature()?;
        let (value, _) = r.value(&sig)?;
        let value = value.unwrap_or_default();
        match code {
            2 => message.interface = Some(value),
            3 => message.member = Some(value),
            4 => message.error_name = Some(value),
            5 => message.reply_serial = value.parse().ok(),
            8 => signature = value,
            _ => {}
        }
    }
    let mut r = Reader { buf: whole, pos: header_end };
    let mut rest = signature.as_str();
    while !rest.is_empty() {
        let (value, next) = r.value(rest)?;
        if let Some(v) = value {
            message.body.push(v);
        }
        rest = next;
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(message: &[u8]) -> Message {
        let fields_len = u32::from_le_bytes(message[12..16].try_into().unwrap()) as usize;
        let header_end = (16 + fields_len).div_ceil(8) * 8;
        let body_len = u32::from_le_bytes(message[4..8].try_into().unwrap()) as usize;
        assert_eq!(message.len(), header_end + body_len, "the body length covers the body exactly");
        decode(message, fields_len, header_end).unwrap()
    }

    #[test]
    fn a_call_with_nested_arrays_and_variants_reads_back() {
        let property =
            |name: &str, v: Value| Value::Struct(vec![Value::Str(name.into()), Value::Variant(Box::new(v))]);
        let args = [
            Value::Str("anchor-x.scope".into()),
            Value::Str("replace".into()),
            Value::Array(
                "(sv)",
                vec![
                    property("PIDs", Value::Array("u", vec![Value::U32(42)])),
                    property("MemoryMax", Value::U64(1 << 30)),
                    property("AllowedCPUs", Value::Bytes(vec![0x0f])),
                    property("Delegate", Value::Bool(true)),
                ],
            ),
            Value::Array("(sa(sv))", vec![]),
            Value::Str("after the arrays".into()),
        ];
        let signature: String = args.iter().map(Value::signature).collect();
        assert_eq!(signature, "ssa(sv)a(sa(sv))s");
        let m = round_trip(&encode_call(
            7,
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "I.face",
            "Start",
            &args,
        ));
        assert_eq!(m.kind, METHOD_CALL);
        assert_eq!((m.interface.as_deref(), m.member.as_deref()), (Some("I.face"), Some("Start")));
        // Arrays are skipped by length: the string after them lands where it should.
        assert_eq!(m.body, ["anchor-x.scope", "replace", "after the arrays"]);
    }

    #[test]
    fn a_signal_body_reads_as_its_values() {
        let args = [
            Value::U32(12),
            Value::ObjectPath("/org/freedesktop/systemd1/job/12".into()),
            Value::Str("anchor-x.scope".into()),
            Value::Str("done".into()),
        ];
        let mut message = encode_call(1, "d", "/p", "org.freedesktop.systemd1.Manager", "JobRemoved", &args);
        message[1] = SIGNAL;
        let m = round_trip(&message);
        assert_eq!(m.body, ["12", "/org/freedesktop/systemd1/job/12", "anchor-x.scope", "done"]);
    }

    #[test]
    fn bus_addresses_give_their_socket_path() {
        assert_eq!(socket_path("unix:path=/run/dbus/system_bus_socket"), "/run/dbus/system_bus_socket");
        assert_eq!(socket_path("unix:path=/run/user/0/bus,guid=abc;tcp:host=x"), "/run/user/0/bus");
        assert_eq!(socket_path("/tmp/sock"), "/tmp/sock");
    }
}
