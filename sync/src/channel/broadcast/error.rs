//! The errors of the [`broadcast`](super) channel, named as in tokio.

use std::fmt;

/// [`Sender::send`](super::Sender::send) found no receiver; the value is
/// handed back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broadcast channel has no receivers")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::recv`](super::Receiver::recv) returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvError {
    /// Every sender is gone and every value sent has been received.
    Closed,
    /// The receiver fell behind: this many values were overwritten before
    /// it read them. It now continues from the oldest value still held.
    Lagged(u64),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Closed => f.write_str("broadcast channel closed"),
            RecvError::Lagged(n) => write!(f, "broadcast receiver lagged behind by {n} values"),
        }
    }
}

impl std::error::Error for RecvError {}

/// Why [`Receiver::try_recv`](super::Receiver::try_recv) returned no value.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing new has been sent yet.
    Empty,
    /// Every sender is gone and every value sent has been received.
    Closed,
    /// The receiver fell behind by this many values (see [`RecvError::Lagged`]).
    Lagged(u64),
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("broadcast channel empty"),
            TryRecvError::Closed => f.write_str("broadcast channel closed"),
            TryRecvError::Lagged(n) => write!(f, "broadcast receiver lagged behind by {n} values"),
        }
    }
}

impl std::error::Error for TryRecvError {}

/// `BrokenPipe`, with the error (and so the value) inside: nothing is lost.
impl<T: Send + Sync + 'static> From<SendError<T>> for std::io::Error {
    fn from(e: SendError<T>) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, e)
    }
}

impl<T> SendError<T> {
    /// The value that was not sent.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// `WouldBlock` for `Empty`, `UnexpectedEof` for `Closed`, `Other` for
/// `Lagged`.
impl From<TryRecvError> for std::io::Error {
    fn from(e: TryRecvError) -> std::io::Error {
        let kind = match e {
            TryRecvError::Empty => std::io::ErrorKind::WouldBlock,
            TryRecvError::Closed => std::io::ErrorKind::UnexpectedEof,
            TryRecvError::Lagged(_) => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// `UnexpectedEof` for `Closed`, `Other` for `Lagged`.
impl From<RecvError> for std::io::Error {
    fn from(e: RecvError) -> std::io::Error {
        let kind = match e {
            RecvError::Closed => std::io::ErrorKind::UnexpectedEof,
            RecvError::Lagged(_) => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}
