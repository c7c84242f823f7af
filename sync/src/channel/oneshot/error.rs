//! The errors of the [`oneshot`](super) channel.

use std::fmt;
use std::io;

/// The sender was dropped without sending a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot sender dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}

/// So that `rx.await?` works in a function returning `io::Result`: kind
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) (the answer will never
/// come), this error inside.
impl From<RecvError> for io::Error {
    fn from(e: RecvError) -> io::Error {
        io::Error::new(io::ErrorKind::UnexpectedEof, e)
    }
}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryRecvError {
    /// No value yet; the sender is still alive.
    Empty,
    /// No value will come: the sender was dropped without sending, the
    /// receiver was closed before a value arrived, or the value was
    /// already taken.
    Closed,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("oneshot channel empty"),
            TryRecvError::Closed => f.write_str("oneshot channel closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// For `?` in a function returning `io::Result`: `Empty` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Closed` becomes
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof), as [`RecvError`] does.
impl From<TryRecvError> for io::Error {
    fn from(e: TryRecvError) -> io::Error {
        let kind = match e {
            TryRecvError::Empty => io::ErrorKind::WouldBlock,
            TryRecvError::Closed => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, e)
    }
}
