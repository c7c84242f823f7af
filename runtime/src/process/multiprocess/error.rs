//! [`ProcessError`]: why [`Process::join`](super::Process::join) has no
//! result, which is the same as saying how the child ended.
//!
//! The child process either sends back its function's result (then `join`
//! returns it) or a report of why it could not (a panic, a call that could
//! not be made), or it ends without a word: its exit status then says
//! whether it exited with a code (`std::process::exit` in the function) or
//! was ended by a signal (`kill()`, `terminate()`, a crash, the OOM
//! killer).

use std::fmt;

use crate::pool::error::signal_name;
use crate::pool::DecodeError;

/// How a [`Process`](super::Process) ended without producing its result.
///
/// Python's `multiprocessing.Process.exitcode` is `-N` for a signal and
/// the exit status otherwise; here the cases are named:
/// [`Signaled`](ProcessError::Signaled) and [`Exited`](ProcessError::Exited).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProcessError {
    /// The function panicked; the panic message (or a placeholder when the
    /// payload was not a string). The child then exited with status 1.
    Panicked(String),
    /// The child exited with this status before sending a result: the
    /// function (or something it called) ended the process with
    /// `std::process::exit`, or the child could not start.
    Exited(i32),
    /// The child was ended by this signal before sending a result
    /// (9 after [`kill`](super::Process::kill), 15 after
    /// [`terminate`](super::Process::terminate), 11 or 6 for a crash).
    Signaled(i32),
    /// The child could not call the function: its type check failed or the
    /// argument did not decode (a bug or a mismatched binary, not a crash).
    Rejected(String),
    /// The result came back but did not decode.
    Decode(DecodeError),
    /// The parent could not follow the child: watching it or reading what
    /// it sent failed, or someone else reaped it (`SIGCHLD` ignored,
    /// `waitpid(-1)` elsewhere), so its end is unknown. The message says which.
    Io(String),
    /// [`join`](super::Process::join) already returned the result; it is
    /// not kept for a second call.
    AlreadyJoined,
}

impl ProcessError {
    /// The panic message, for [`Panicked`](ProcessError::Panicked).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            ProcessError::Panicked(msg) => Some(msg),
            _ => None,
        }
    }

    /// The exit status, for [`Exited`](ProcessError::Exited).
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            ProcessError::Exited(code) => Some(*code),
            _ => None,
        }
    }

    /// The signal, for [`Signaled`](ProcessError::Signaled).
    pub fn signal(&self) -> Option<i32> {
        match self {
            ProcessError::Signaled(sig) => Some(*sig),
            _ => None,
        }
    }
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Panicked(msg) => write!(f, "the process panicked: {msg}"),
            ProcessError::Exited(code) => write!(
                f,
                "the process exited with status {code} before returning a result"
            ),
            ProcessError::Signaled(sig) => write!(
                f,
                "the process was killed by signal {sig} ({})",
                signal_name(*sig)
            ),
            ProcessError::Rejected(why) => {
                write!(f, "the process could not call its function: {why}")
            }
            ProcessError::Decode(e) => write!(f, "the process's result did not decode: {e}"),
            ProcessError::Io(why) => write!(f, "the process could not be followed: {why}"),
            ProcessError::AlreadyJoined => {
                write!(f, "join already returned this process's result")
            }
        }
    }
}

impl std::error::Error for ProcessError {}

impl From<ProcessError> for std::io::Error {
    fn from(e: ProcessError) -> std::io::Error {
        std::io::Error::other(e)
    }
}
