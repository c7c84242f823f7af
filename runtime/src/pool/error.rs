//! [`PoolError`]: why a pool job produced no result.
//!
//! A thread-pool job can only fail by panicking. A process-pool job can also
//! lose its worker (the process crashed or was killed), be refused by the
//! worker (the function and the bytes it was sent do not match), or come
//! back as bytes that do not decode.

use std::any::Any;
use std::fmt;

use super::wire::DecodeError;

/// Why a job submitted to a [`ThreadPool`](super::ThreadPool) or a
/// [`ProcessPool`](super::ProcessPool) has no result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The job panicked; the panic message (or a placeholder when the
    /// payload was not a string). The pool keeps serving.
    Panicked(String),
    /// The worker process running the job ended before answering: it
    /// aborted, crashed, was killed or called `exit`. `signal` is the
    /// signal that ended it (`Some(9)` for `SIGKILL`, `Some(6)` for an
    /// abort), `exit_code` its exit status if it exited normally. Only the
    /// job that was running fails; the pool starts a replacement worker.
    WorkerDied {
        /// The signal that ended the worker, if a signal did.
        signal: Option<i32>,
        /// The worker's exit status, if it called `exit`.
        exit_code: Option<i32>,
    },
    /// The pool was shut down (or dropped with its runtime) before the job ran.
    ShutDown,
    /// The pool cannot run jobs at all, for the reason given: typically its
    /// replacement workers could not start or kept dying.
    Broken(String),
    /// The call was refused: by the pool before sending, because the
    /// function is not compiled into the program itself (it lives in a
    /// shared library, where no worker can find it); or by the worker,
    /// because the type check of the function failed or the argument did
    /// not decode. A bug (or a mismatched binary), not a crash.
    Rejected(String),
    /// The job's result came back but did not decode.
    Decode(DecodeError),
}

impl PoolError {
    /// True for [`WorkerDied`](PoolError::WorkerDied).
    pub fn is_worker_died(&self) -> bool {
        matches!(self, PoolError::WorkerDied { .. })
    }

    /// The panic message, for [`Panicked`](PoolError::Panicked).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            PoolError::Panicked(msg) => Some(msg),
            _ => None,
        }
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Panicked(msg) => write!(f, "the job panicked: {msg}"),
            PoolError::WorkerDied {
                signal: Some(sig), ..
            } => write!(
                f,
                "the worker process running the job was killed by signal {sig} ({})",
                signal_name(*sig)
            ),
            PoolError::WorkerDied {
                exit_code: Some(code),
                ..
            } => write!(
                f,
                "the worker process running the job exited with status {code}"
            ),
            PoolError::WorkerDied { .. } => {
                write!(f, "the worker process running the job disappeared")
            }
            PoolError::ShutDown => write!(f, "the pool was shut down before the job ran"),
            PoolError::Broken(why) => write!(f, "the pool is broken: {why}"),
            PoolError::Rejected(why) => write!(f, "the worker refused the job: {why}"),
            PoolError::Decode(e) => write!(f, "the job's result did not decode: {e}"),
        }
    }
}

impl std::error::Error for PoolError {}

impl From<PoolError> for std::io::Error {
    fn from(e: PoolError) -> std::io::Error {
        std::io::Error::other(e)
    }
}

/// The text of a panic payload: `panic!` produces a `&str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a non-string panic payload)".to_string()
    }
}

/// The usual name of a signal number, for messages.
pub(crate) fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => "signal",
    }
}
