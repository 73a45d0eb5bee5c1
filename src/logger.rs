//! Logging as runc does it: messages go to `--log` (stderr when absent) as text or as
//! JSON lines `{"level","msg","time"}`; containerd's shim reads the last `error` line
//! from that file to explain a failure. Errors are also always printed on stderr.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Level {
    Debug,
    Warn,
    Error,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Warn => "warning",
            Level::Error => "error",
        }
    }
}

struct Logger {
    file: Option<File>,
    json: bool,
    min_level: Level,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Sets up logging once, from the global flags. A log file that cannot be opened (a
/// directory, a missing parent) fails the command, as with runc: its caller reads
/// errors from that file and would otherwise find none.
pub fn init(path: Option<&std::path::Path>, json: bool, debug: bool) -> Result<(), String> {
    let file = match path {
        Some(p) => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("open log file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let min_level = if debug { Level::Debug } else { Level::Warn };
    let _ = LOGGER.set(Logger { file, json, min_level });
    Ok(())
}

pub fn debug_enabled() -> bool {
    LOGGER.get().is_some_and(|l| l.min_level == Level::Debug)
}

pub fn log(level: Level, msg: &str) {
    let Some(logger) = LOGGER.get() else {
        eprintln!("{msg}");
        return;
    };
    if level < logger.min_level {
        return;
    }
    let line = if logger.json {
        let record = serde_json::json!({"level": level.name(), "msg": msg, "time": rfc3339_now()});
        format!("{record}\n")
    } else {
        // Quoted as logrus (Go's %q) quotes: quotes, backslashes and control characters
        // escaped; an apostrophe or a printable non-ASCII letter kept as it is.
        format!("time=\"{}\" level={} msg={msg:?}\n", rfc3339_now(), level.name())
    };
    match &logger.file {
        Some(f) => {
            let _ = (&*f).write_all(line.as_bytes());
        }
        None if level == Level::Error => {} // printed plainly on stderr by `error`
        None => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

pub fn debug(msg: impl AsRef<str>) {
    if debug_enabled() {
        log(Level::Debug, msg.as_ref());
    }
}

pub fn warn(msg: impl AsRef<str>) {
    log(Level::Warn, msg.as_ref());
}

/// Reports a failure: on stderr always, and in the log file when there is one.
pub fn error(msg: impl AsRef<str>) {
    let msg = &crate::error::one_line(msg.as_ref());
    eprintln!("anchor-runtime: {msg}");
    log(Level::Error, msg);
}

/// UTC time as RFC 3339 with nanoseconds, computed without a date crate.
pub fn rfc3339_now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    rfc3339(now.as_secs() as i64, now.subsec_nanos())
}

pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", rem / 3600, (rem % 3600) / 60, rem % 60)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_700_000_000, 5), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }
}
