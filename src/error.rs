//! One error type for the whole runtime. Every failure names the step that failed and
//! its cause, so that `anchor-runtime` prints one line a platform engineer can act on
//! (`mount proc on /proc: operation not permitted (EPERM)`) and containerd can show it
//! from the JSON log.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, Serialize, Deserialize, Clone, PartialEq)]
pub enum Error {
    /// A system call failed while doing `step`.
    #[error("{step}: {}", errno_text(Errno::from_raw(*errno)))]
    Sys { step: String, errno: i32 },
    /// The request or the bundle is invalid; nothing was created.
    #[error("{0}")]
    Invalid(String),
    /// The container is not in a state that allows the command.
    #[error("{0}")]
    WrongState(String),
    /// The container does not exist.
    #[error("container {0} does not exist")]
    NotExist(String),
    /// The other side of the sync socket is gone: its own error says why, so init
    /// that gets this exits without a word.
    #[error("the other end of the sync socket exited unexpectedly")]
    PeerGone,
}

/// Longest message an error carries: what is longer is a value echoed whole (a
/// 100,000-character hostname), cut in its middle so the step before it and the
/// cause after it both stay.
pub const MAX_MESSAGE: usize = 4096;

impl Error {
    pub fn sys(step: impl Into<String>, errno: Errno) -> Self {
        Error::Sys { step: step.into(), errno: errno as i32 }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }

    /// The same error with its text cut to `MAX_MESSAGE` and on one line, so that it
    /// fits a sync message and a log line.
    pub fn shortened(self) -> Self {
        match self {
            Error::Sys { step, errno } => Error::Sys { step: one_line(&step), errno },
            Error::Invalid(m) => Error::Invalid(one_line(&m)),
            Error::WrongState(m) => Error::WrongState(one_line(&m)),
            Error::NotExist(id) => Error::NotExist(one_line(&id)),
            Error::PeerGone => Error::PeerGone,
        }
    }
}

/// A value from the config for an error message, as runc and crun quote fields:
/// quoted and escaped, and cut after 64 characters with its full length said, so a
/// 100,000-character hostname does not drown the cause.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    if value.chars().count() <= SHOWN {
        return format!("{value:?}");
    }
    let start: String = value.chars().take(SHOWN).collect();
    format!("{:?}… ({} bytes)", start, value.len())
}

/// `text` on one line (control characters escaped) and at most `MAX_MESSAGE` bytes:
/// a longer one keeps its start and its end, with the count of what was cut between.
pub fn one_line(text: &str) -> String {
    let escaped: String = text
        .chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] })
        .collect();
    if escaped.len() <= MAX_MESSAGE {
        return escaped;
    }
    let head_end = floor_char_boundary(&escaped, MAX_MESSAGE / 2);
    let tail_start = floor_char_boundary(&escaped, escaped.len() - MAX_MESSAGE / 4);
    let cut = tail_start - head_end;
    format!("{}…[{cut} bytes cut]…{}", &escaped[..head_end], &escaped[tail_start..])
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches the name of the step to a failing system call or I/O operation.
pub trait Context<T> {
    fn ctx<S: Into<String>>(self, step: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn ctx<S: Into<String>>(self, step: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::sys(step(), e))
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, step: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| match e.raw_os_error() {
            Some(code) => Error::sys(step(), Errno::from_raw(code)),
            None => Error::Invalid(format!("{}: {e}", step().into())),
        })
    }
}

/// "no such file or directory (ENOENT)": the text as Go (and so runc) writes it, in
/// lower case and right after the step's colon, then the errno's name. Clients match
/// that text: Docker's CLI exits 127 for a program that is missing only when it
/// reads "no such file or directory", 126 for "permission denied"; runc's own tests
/// look for "cgroup.procs: no such file".
pub fn errno_text(errno: Errno) -> String {
    format!("{} ({errno:?})", errno.desc().to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_value_is_cut_in_the_middle_and_newlines_are_escaped() {
        let long = format!("sethostname \"{}\": EINVAL", "h".repeat(100_000));
        let short = one_line(&long);
        assert!(short.len() < MAX_MESSAGE + 64, "{}", short.len());
        assert!(short.starts_with("sethostname \"hhh") && short.ends_with("hhh\": EINVAL"));
        assert!(short.contains("bytes cut]"));
        assert_eq!(one_line("a\nb\rc"), "a\\nb\\rc");
        assert!(one_line("é".repeat(5000).as_str()).chars().filter(|c| *c == 'é').count() > 100);
    }

    #[test]
    fn a_quoted_value_is_cut_after_64_characters_with_its_length() {
        assert_eq!(quoted("web-1"), "\"web-1\"");
        assert_eq!(quoted(&"h".repeat(100_000)), format!("\"{}\"… (100000 bytes)", "h".repeat(64)));
        assert_eq!(quoted("a\nb"), "\"a\\nb\"");
    }
}
