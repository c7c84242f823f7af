//! The errors of [`Queue`](super::Queue). Every failed put carries its
//! value back.

use std::fmt;
use std::io;

/// The queue was closed: returned by [`Queue::put`](super::Queue::put)
/// (with the value inside) and by [`Queue::get`](super::Queue::get) once
/// a closed queue is drained (with `()` inside).
#[derive(PartialEq, Eq, Clone, Copy, Default)]
pub struct QueueClosed<T = ()>(pub T);

impl<T> QueueClosed<T> {
    /// The value that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueClosed(..)")
    }
}

impl<T> fmt::Display for QueueClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue closed")
    }
}

impl<T> std::error::Error for QueueClosed<T> {}

/// So that `q.put(v).await?` and `q.get().await?` work in a function
/// returning `io::Result`: kind [`BrokenPipe`](io::ErrorKind::BrokenPipe)
/// for both (the queue was closed). A put's value is kept: `err.into_inner()`
/// downcast to `QueueClosed<T>` gives it back.
impl<T: Send + Sync + 'static> From<QueueClosed<T>> for io::Error {
    fn from(e: QueueClosed<T>) -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, e)
    }
}

/// Why [`Queue::put_nowait`](super::Queue::put_nowait) did not put; the
/// value is inside either way.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum PutError<T> {
    /// The queue is full (or waiting putters hold the free slots).
    Full(T),
    /// The queue was closed.
    Closed(T),
}

impl<T> PutError<T> {
    /// The value that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue full"),
            PutError::Closed(_) => f.write_str("queue closed"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

/// For `?` in a function returning `io::Result`: `Full` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Closed` becomes
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe), as [`QueueClosed`] does. The
/// value is kept inside.
impl<T: Send + Sync + 'static> From<PutError<T>> for io::Error {
    fn from(e: PutError<T>) -> io::Error {
        let kind = match e {
            PutError::Full(_) => io::ErrorKind::WouldBlock,
            PutError::Closed(_) => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

/// Why [`Queue::get_nowait`](super::Queue::get_nowait) returned nothing.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum GetError {
    /// Nothing available right now (or waiting getters are owed it).
    Empty,
    /// The queue was closed and everything left has been taken.
    Closed,
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("queue empty"),
            GetError::Closed => f.write_str("queue closed"),
        }
    }
}

impl std::error::Error for GetError {}

/// For `?` in a function returning `io::Result`: `Empty` becomes
/// [`WouldBlock`](io::ErrorKind::WouldBlock), `Closed` becomes
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe), as [`QueueClosed`] does.
impl From<GetError> for io::Error {
    fn from(e: GetError) -> io::Error {
        let kind = match e {
            GetError::Empty => io::ErrorKind::WouldBlock,
            GetError::Closed => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, e)
    }
}

/// [`Queue::try_task_done`](super::Queue::try_task_done) was called more
/// times than items were put (Python raises `ValueError` here).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called more times than there were items put")
    }
}

impl std::error::Error for TaskDoneError {}

/// For `?` in a function returning `io::Result`: kind
/// [`InvalidInput`](io::ErrorKind::InvalidInput) (Python raises
/// `ValueError`), this error inside.
impl From<TaskDoneError> for io::Error {
    fn from(e: TaskDoneError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
