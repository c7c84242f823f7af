//! The errors of [`Queue`](super::Queue)'s puts and gets: [`PutError`]
//! hands the value back whatever went wrong; [`GetError`] tells an empty
//! queue from a closed one from a failed system call.

use std::fmt;
use std::io;

/// Why a put failed; the value comes back in every case.
pub enum PutError<T> {
    /// The queue had no room (only from [`Queue::put_nowait`](super::Queue::put_nowait); the other
    /// forms wait for room).
    Full(T),
    /// The queue is closed ([`Queue::close`](super::Queue::close)).
    Closed(T),
    /// A system call failed, or the value could not be encoded.
    Io(io::Error, T),
}

impl<T> PutError<T> {
    /// The value that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::Closed(v) | PutError::Io(_, v) => v,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Io(e, _) => f.debug_tuple("Io").field(e).field(&"..").finish(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::Closed(_) => f.write_str("the queue is closed"),
            PutError::Io(e, _) => write!(f, "the value could not be put in the queue: {e}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Io(e, _) => Some(e),
            _ => None,
        }
    }
}

/// Why a get failed.
#[derive(Debug)]
pub enum GetError {
    /// The queue had no item (only from [`Queue::get_nowait`](super::Queue::get_nowait); the other
    /// forms wait for one).
    Empty,
    /// The queue is closed and every item in it has been taken.
    Closed,
    /// A system call failed, or an item did not decode (it is consumed).
    Io(io::Error),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::Closed => f.write_str("the queue is closed and empty"),
            GetError::Io(e) => write!(f, "could not get from the queue: {e}"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Io(e) => Some(e),
            _ => None,
        }
    }
}
