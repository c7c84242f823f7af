//! The errors of the [`mpsc`](super) channels. Every error of a send
//! carries the value that could not be sent, so nothing is lost silently.

use std::fmt;
use std::io;

/// The receiver was closed or dropped; the value that could not be sent is
/// inside (`.0`, or [`into_inner`](SendError::into_inner)).
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("channel closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// For `?` in a function returning `io::Result`: kind
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe), as for a write into a pipe
/// whose reader is gone. The value is kept: `err.into_inner()` downcast to
/// `SendError<T>` gives it back.
impl<T: Send + Sync + 'static> From<SendError<T>> for io::Error {
    fn from(e: SendError<T>) -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, e)
    }
}

/// Why [`Sender::try_send`](super::Sender::try_send) did not send; the
/// value is inside either way.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full (or other senders are already waiting for room).
    Full(T),
    /// The receiver was closed or dropped.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> From<SendError<T>> for TrySendError<T> {
    fn from(e: SendError<T>) -> Self {
        TrySendError::Closed(e.0)
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("channel full"),
            TrySendError::Closed(_) => f.write_str("channel closed"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}

/// For `?` in a function returning `io::Result`: `Full` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Closed` becomes
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe). The value is kept inside, as
/// for [`SendError`].
impl<T: Send + Sync + 'static> From<TrySendError<T>> for io::Error {
    fn from(e: TrySendError<T>) -> io::Error {
        let kind = match e {
            TrySendError::Full(_) => io::ErrorKind::WouldBlock,
            TrySendError::Closed(_) => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing buffered right now, but more may come.
    Empty,
    /// Nothing buffered and nothing more can come: every sender is gone,
    /// or the receiver was closed.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("channel empty"),
            TryRecvError::Disconnected => f.write_str("channel disconnected"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// For `?` in a function returning `io::Result`: `Empty` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Disconnected` becomes
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) (nothing more will come).
impl From<TryRecvError> for io::Error {
    fn from(e: TryRecvError) -> io::Error {
        let kind = match e {
            TryRecvError::Empty => io::ErrorKind::WouldBlock,
            TryRecvError::Disconnected => io::ErrorKind::UnexpectedEof,
        };
        io::Error::new(kind, e)
    }
}
