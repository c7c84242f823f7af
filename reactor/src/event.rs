//! [`Event`] and [`Events`]: what [`Poller::wait`](crate::Poller::wait) reports.

use crate::Token;

/// One readiness report: which registration, and what it is ready for.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub(crate) token: Token,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) error: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
}

impl Event {
    /// Builds an event; backends and tests use this.
    pub fn new(token: Token, readable: bool, writable: bool) -> Event {
        Event {
            token,
            readable,
            writable,
            error: false,
            read_closed: false,
            write_closed: false,
        }
    }

    /// The token the descriptor was registered under.
    pub fn token(&self) -> Token {
        self.token
    }

    /// A read would not block (data, a pending connection, end of stream or an error).
    pub fn is_readable(&self) -> bool {
        self.readable
    }

    /// A write would not block (buffer space, a finished connect, or an error).
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// The descriptor has a pending error (`EPOLLERR`); the next read or write reports it.
    pub fn is_error(&self) -> bool {
        self.error
    }

    /// The peer will send nothing more (`EPOLLRDHUP` or `EPOLLHUP`).
    pub fn is_read_closed(&self) -> bool {
        self.read_closed
    }

    /// Nothing more can be written (`EPOLLHUP`, or an error).
    pub fn is_write_closed(&self) -> bool {
        self.write_closed
    }
}

/// A reusable buffer of events filled by [`Poller::wait`](crate::Poller::wait).
///
/// Its capacity bounds how many events one `wait` returns; the rest stay
/// with the kernel for the next call.
pub struct Events {
    pub(crate) list: Vec<Event>,
    pub(crate) capacity: usize,
}

impl Events {
    /// A buffer that receives up to `capacity` events per wait (at least 1).
    pub fn with_capacity(capacity: usize) -> Events {
        let capacity = capacity.max(1);
        Events {
            list: Vec::with_capacity(capacity),
            capacity,
        }
    }

    /// How many events the buffer can take in one wait.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The events of the last wait.
    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.list.iter()
    }

    /// Number of events from the last wait.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if the last wait returned no events (timeout or notification).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Forgets the events of the last wait.
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

impl<'a> IntoIterator for &'a Events {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}
