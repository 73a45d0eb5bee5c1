//! `org.systemd.property.NAME` annotations: extra properties for the container's
//! scope, as runc takes them (`"org.systemd.property.TimeoutStopUSec": "uint64 123"`,
//! `"org.systemd.property.CollectMode": "'inactive-or-failed'"`). The value is in
//! GVariant's text format, as `busctl` and godbus's ParseVariant read it: here the
//! basic types, with or without a type word (`uint64 5`, `@t 5`; a bare integer is
//! an int32, a bare decimal a double) and arrays of them. A name ending in a
//! lowercase letter and `Sec` is systemd's documented spelling of a `USec`
//! property: it is renamed and its number of seconds made microseconds (runc too).

use crate::dbus::Value;
use crate::error::{quoted, Error, Result};
use std::collections::HashMap;

const PREFIX: &str = "org.systemd.property.";

/// The properties the annotations ask for, sorted by name (annotations are a map:
/// no order of their own). Checked before anything is made.
pub fn properties(annotations: Option<&HashMap<String, String>>) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for (key, text) in annotations.into_iter().flatten() {
        let Some(name) = key.strip_prefix(PREFIX) else { continue };
        let bad = |why: &str| Error::invalid(format!("annotation {} = {}: {why}", quoted(key), quoted(text)));
        if name.len() < 3 || !name.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(bad("a systemd property name is three or more ASCII letters"));
        }
        let value = Parser { text, pos: 0 }.whole().map_err(|why| bad(&why))?;
        match name.strip_suffix("Sec").filter(|stem| stem.ends_with(|c: char| c.is_ascii_lowercase())) {
            Some(stem) => {
                let micros = microseconds(&value).ok_or_else(|| bad("not a number of seconds"))?;
                out.push((format!("{stem}USec"), Value::U64(micros)));
            }
            None => out.push((name.to_string(), value)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn microseconds(value: &Value) -> Option<u64> {
    const M: u64 = 1_000_000;
    let whole = |n: i64| u64::try_from(n).ok().map(|n| n.saturating_mul(M));
    match *value {
        Value::Byte(n) => Some(u64::from(n) * M),
        Value::I16(n) => whole(n.into()),
        Value::U16(n) => Some(u64::from(n) * M),
        Value::I32(n) => whole(n.into()),
        Value::U32(n) => Some(u64::from(n) * M),
        Value::I64(n) => whole(n),
        Value::U64(n) => Some(n.saturating_mul(M)),
        Value::F64(n) if n >= 0.0 && n.is_finite() => Some((n * M as f64) as u64),
        _ => None,
    }
}

struct Parser<'t> {
    text: &'t str,
    pos: usize,
}

/// Type words and the signature each stands for.
const TYPE_WORDS: [(&str, &str); 12] = [
    ("boolean", "b"),
    ("byte", "y"),
    ("int16", "n"),
    ("uint16", "q"),
    ("int32", "i"),
    ("uint32", "u"),
    ("int64", "x"),
    ("uint64", "t"),
    ("double", "d"),
    ("string", "s"),
    ("objectpath", "o"),
    ("signature", "g"),
];

/// Array element signatures as the `Value::Array` they make.
const ELEMENTS: [&str; 12] = ["b", "y", "n", "q", "i", "u", "x", "t", "d", "s", "o", "g"];

impl Parser<'_> {
    /// One value and nothing after it.
    fn whole(mut self) -> std::result::Result<Value, String> {
        let value = self.value(None)?;
        self.skip_space();
        match self.rest() {
            "" => Ok(value),
            rest => Err(format!("unexpected {} after the value", quoted(rest))),
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn skip_space(&mut self) {
        self.pos = self.text.len() - self.rest().trim_start().len();
    }

    /// A value of signature `want` (one basic type or an array of them), or of the
    /// type its own text gives when `want` is None.
    fn value(&mut self, want: Option<&str>) -> std::result::Result<Value, String> {
        self.skip_space();
        if let Some(typed) = self.rest().strip_prefix('@') {
            let sig: String = typed.chars().take_while(|c| !c.is_whitespace() && *c != '[').collect();
            self.pos += 1 + sig.len();
            return self.value(Some(self.known(&sig)?));
        }
        for (word, sig) in TYPE_WORDS {
            let after = self.rest().strip_prefix(word);
            if after.is_some_and(|a| a.starts_with(char::is_whitespace)) {
                self.pos += word.len();
                return self.value(Some(sig));
            }
        }
        match self.rest().chars().next() {
            Some('[') => self.array(want),
            Some(q @ ('\'' | '"')) => {
                let s = self.string(q)?;
                match want.unwrap_or("s") {
                    "s" => Ok(Value::Str(s)),
                    "o" => Ok(Value::ObjectPath(s)),
                    "g" => Ok(Value::Signature(s)),
                    other => Err(format!("a string where the type is {}", quoted(other))),
                }
            }
            Some(_) => {
                let token: String = self
                    .rest()
                    .chars()
                    .take_while(|c| !matches!(c, ',' | ']') && !c.is_whitespace())
                    .collect();
                self.pos += token.len();
                scalar(&token, want)
            }
            None => Err("no value".into()),
        }
    }

    /// A signature given with `@`, as one of the types this reads.
    fn known(&self, sig: &str) -> std::result::Result<&'static str, String> {
        let element = sig.strip_prefix('a').unwrap_or(sig);
        let basic = ELEMENTS.iter().find(|e| **e == element).ok_or_else(|| {
            format!("type {} is not one this runtime reads (basic types and arrays of them)", quoted(sig))
        })?;
        Ok(if sig.starts_with('a') { array_sig(basic) } else { basic })
    }

    fn array(&mut self, want: Option<&str>) -> std::result::Result<Value, String> {
        let mut element = match want {
            Some(sig) => Some(
                sig.strip_prefix('a').ok_or_else(|| format!("an array where the type is {}", quoted(sig)))?,
            ),
            None => None,
        };
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            if let Some(rest) = self.rest().strip_prefix(']') {
                self.pos = self.text.len() - rest.len();
                break;
            }
            if !items.is_empty() {
                let rest = self.rest().strip_prefix(',').ok_or("expected , or ] in the array")?;
                self.pos = self.text.len() - rest.len();
            }
            let item = self.value(element)?;
            let sig = item.signature();
            let basic = ELEMENTS.iter().find(|e| **e == sig).ok_or("arrays of arrays are not read")?;
            element = Some(basic);
            items.push(item);
        }
        let element = element.ok_or("an empty array needs its type: @as []")?;
        let element = ELEMENTS.iter().find(|e| **e == element).expect("an element type from ELEMENTS");
        Ok(Value::Array(element, items))
    }

    /// A quoted string; the backslash escapes GVariant's printer writes.
    fn string(&mut self, quote: char) -> std::result::Result<String, String> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        while let Some((i, c)) = chars.next() {
            match c {
                c if c == quote => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some(e @ ('\\' | '\'' | '"')) => out.push(e),
                    Some(e) => return Err(format!("unknown escape \\{e} in a string")),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err("a string without its closing quote".into())
    }
}

/// `a` + an element signature, as a static string.
fn array_sig(element: &str) -> &'static str {
    match element {
        "b" => "ab",
        "y" => "ay",
        "n" => "an",
        "q" => "aq",
        "i" => "ai",
        "u" => "au",
        "x" => "ax",
        "t" => "at",
        "d" => "ad",
        "s" => "as",
        "o" => "ao",
        _ => "ag",
    }
}

/// A boolean or a number, of type `want` or the default GVariant gives it.
fn scalar(token: &str, want: Option<&str>) -> std::result::Result<Value, String> {
    let bad = || format!("{} is not a value of type {}", quoted(token), quoted(want.unwrap_or("any")));
    if let Some(b) = match token {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    } {
        return match want.unwrap_or("b") {
            "b" => Ok(Value::Bool(b)),
            _ => Err(bad()),
        };
    }
    let decimal = token.contains(['.', 'e', 'E']) && !token.starts_with("0x");
    let want = want.unwrap_or(if decimal { "d" } else { "i" });
    if want == "d" {
        return token.parse().map(Value::F64).map_err(|_| bad());
    }
    let integer: i128 = match token.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16),
        None => token.parse(),
    }
    .map_err(|_| bad())?;
    let fit = |r: std::result::Result<Value, _>| r.map_err(|_| bad());
    match want {
        "y" => fit(u8::try_from(integer).map(Value::Byte)),
        "n" => fit(i16::try_from(integer).map(Value::I16)),
        "q" => fit(u16::try_from(integer).map(Value::U16)),
        "i" => fit(i32::try_from(integer).map(Value::I32)),
        "u" => fit(u32::try_from(integer).map(Value::U32)),
        "x" => fit(i64::try_from(integer).map(Value::I64)),
        "t" => fit(u64::try_from(integer).map(Value::U64)),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(key: &str, value: &str) -> Result<Vec<(String, Value)>> {
        properties(Some(&HashMap::from([(key.to_string(), value.to_string())])))
    }

    #[test]
    fn values_read_as_runc_reads_them() {
        // runc's own table (libcontainer/specconv TestInitSystemdProps).
        let p = "org.systemd.property.";
        let cases: &[(&str, &str, &str, Value)] = &[
            ("TimeoutStopUSec", "uint64 123456789", "TimeoutStopUSec", Value::U64(123456789)),
            ("TimeoutStopSec", "456", "TimeoutStopUSec", Value::U64(456000000)),
            ("TimeoutStopSec", "byte 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "int16 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "uint16 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "int32 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "uint32 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "int64 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "uint64 234", "TimeoutStopUSec", Value::U64(234000000)),
            ("TimeoutStopSec", "234.789", "TimeoutStopUSec", Value::U64(234789000)),
            ("FOOSec", "123", "FOOSec", Value::I32(123)),
            ("CollectMode", "'inactive-or-failed'", "CollectMode", Value::Str("inactive-or-failed".into())),
            ("Delegate", "true", "Delegate", Value::Bool(true)),
            ("MemoryMax", "@t 1073741824", "MemoryMax", Value::U64(1 << 30)),
            (
                "DelegateControllers",
                "['cpu', \"memory\"]",
                "DelegateControllers",
                Value::Array("s", vec![Value::Str("cpu".into()), Value::Str("memory".into())]),
            ),
            ("DelegateControllers", "@as []", "DelegateControllers", Value::Array("s", vec![])),
        ];
        for (name, text, want_name, want) in cases {
            let got = one(&format!("{p}{name}"), text).unwrap();
            assert_eq!(got, vec![(want_name.to_string(), want.clone())], "{name} = {text}");
        }
        assert!(one("some.other.annotation", "0").unwrap().is_empty());
    }

    #[test]
    fn bad_names_and_values_are_refused_naming_the_annotation() {
        let p = "org.systemd.property.";
        for (name, text, word) in [
            ("TimeoutStopSec", "false", "not a number of seconds"),
            ("TimeoutStopSec", "'covfefe'", "not a number of seconds"),
            ("TimeoutStopSec", "-5", "not a number of seconds"),
            ("Ab", "1", "three or more ASCII letters"),
            ("Memory_Max", "1", "three or more ASCII letters"),
            ("CollectMode", "'unterminated", "closing quote"),
            ("MemoryMax", "uint64 -1", "is not a value of type"),
            ("MemoryMax", "12 34", "after the value"),
            ("DelegateControllers", "[]", "@as []"),
            ("DelegateControllers", "['a', 1]", "is not a value of type"),
            ("Environment", "@a{sv} {}", "basic types"),
        ] {
            let e = one(&format!("{p}{name}"), text).unwrap_err().to_string();
            assert!(e.contains(word) && e.contains(&format!("{p}{name}")), "{name} = {text}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }
}
