//! [`Interest`]: which readiness a `ready(interest)` wait (on a socket or an
//! [`AsyncFd`](super::AsyncFd)) is waiting for.
//!
//! It is tokio's type: combine with `|`, test with `is_*`. An interest
//! names *kinds of event*; the answer, what was actually seen, is a
//! [`Ready`](super::Ready). Readable interest is satisfied by data, end of
//! stream (the peer closed its side) or a pending error; writable by room
//! to write, the peer being unable to receive, or a pending error; error
//! interest only by a pending error. Priority (out-of-band) readiness is
//! not offered: the reactor does not watch `EPOLLPRI`.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

use spindle_reactor::Interest as ReactorInterest;

use crate::driver::Direction;

const READ: u8 = 0b001;
const WRITE: u8 = 0b010;
const ERROR: u8 = 0b100;

/// The readiness to wait for: readable, writable, error, or a union of them.
///
/// ```
/// use spindle_runtime::io::Interest;
///
/// let both = Interest::READABLE | Interest::WRITABLE;
/// assert!(both.is_readable() && both.is_writable() && !both.is_error());
/// assert_eq!(both.remove(Interest::WRITABLE), Some(Interest::READABLE));
/// assert_eq!(Interest::ERROR.remove(Interest::ERROR), None);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Interest(u8);

impl Interest {
    /// Data can be read, the peer closed its side, or an error is pending.
    pub const READABLE: Interest = Interest(READ);
    /// Data can be written, the peer can no longer receive, or an error is
    /// pending.
    pub const WRITABLE: Interest = Interest(WRITE);
    /// An error is pending on the descriptor (and nothing else).
    pub const ERROR: Interest = Interest(ERROR);

    /// Whether this includes [`READABLE`](Interest::READABLE).
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// Whether this includes [`WRITABLE`](Interest::WRITABLE).
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// Whether this includes [`ERROR`](Interest::ERROR).
    pub const fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }

    /// The union of `self` and `other` (what `|` does, usable in `const`).
    #[must_use]
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }

    /// `self` without `other`; `None` if nothing is left, since an empty
    /// interest would wait forever.
    #[must_use]
    pub fn remove(self, other: Interest) -> Option<Interest> {
        let left = self.0 & !other.0;
        (left != 0).then_some(Interest(left))
    }

    /// The driver direction that waits for this interest. The read and
    /// write directions include errors, so `READABLE | ERROR` is `Read`.
    pub(crate) fn direction(self) -> Direction {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => Direction::Both,
            (true, false) => Direction::Read,
            (false, true) => Direction::Write,
            (false, false) => Direction::Error,
        }
    }

    /// What to register with the reactor for this interest. The reactor
    /// reports errors whatever it watches, so error-only interest registers
    /// for readable: the least it can ask for.
    pub(crate) fn to_reactor(self) -> ReactorInterest {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => ReactorInterest::BOTH,
            (false, true) => ReactorInterest::WRITABLE,
            _ => ReactorInterest::READABLE,
        }
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        self.add(other)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        *self = self.add(other);
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [(READ, "READABLE"), (WRITE, "WRITABLE"), (ERROR, "ERROR")];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit != 0 {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}
