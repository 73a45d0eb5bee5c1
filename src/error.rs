//! One error type for the whole runtime. Every failure names the step that failed and
//! its cause, so that `anchor-runtime` prints one line a platform engineer can act on
//! (`mount proc on /proc: EPERM`) and containerd can show it from the JSON log.

use nix::errno::Errno;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, Serialize, Deserialize, Clone, PartialEq)]
pub enum Error {
    /// A system call failed while doing `step`.
    #[error("{step}: {}", Errno::from_raw(*errno).desc_with_name())]
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
}

impl Error {
    pub fn sys(step: impl Into<String>, errno: Errno) -> Self {
        Error::Sys { step: step.into(), errno: errno as i32 }
    }

    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
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

/// "EPERM: Operation not permitted", the form runc users know.
trait DescWithName {
    fn desc_with_name(self) -> String;
}

impl DescWithName for Errno {
    fn desc_with_name(self) -> String {
        format!("{self:?}: {}", self.desc())
    }
}
