//! [`Ready`]: the readiness a descriptor was seen to have, as returned by
//! `ready(interest)` on sockets and by [`AsyncFd`](super::AsyncFd) guards.
//!
//! It is tokio's type. The bits are those the reactor reported since the
//! last time an operation proved them gone (a `WouldBlock`), limited to the
//! asked-for [`Interest`](super::Interest). Readiness is a hint: a readable
//! descriptor may still answer `WouldBlock` (another task got the data
//! first), which is why the IO is always tried and the hint cleared when it
//! fails.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Sub};

use crate::driver::{ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};

/// A set of readiness kinds: readable, writable, read closed, write closed,
/// error.
///
/// ```
/// use spindle_runtime::io::Ready;
///
/// let ready = Ready::READABLE | Ready::READ_CLOSED;
/// assert!(ready.is_readable() && ready.is_read_closed());
/// assert!(!ready.is_writable());
/// // A closed read side counts as readable: the read returns end of stream.
/// assert!(Ready::READ_CLOSED.is_readable());
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ready(usize);

impl Ready {
    /// Nothing ready.
    pub const EMPTY: Ready = Ready(0);
    /// Data can be read (or a connection accepted).
    pub const READABLE: Ready = Ready(READABLE);
    /// Data can be written.
    pub const WRITABLE: Ready = Ready(WRITABLE);
    /// The peer shut down its sending half: reads reach end of stream.
    pub const READ_CLOSED: Ready = Ready(READ_CLOSED);
    /// The peer can no longer receive: writes fail.
    pub const WRITE_CLOSED: Ready = Ready(WRITE_CLOSED);
    /// An error is pending on the descriptor.
    pub const ERROR: Ready = Ready(ERROR);
    /// Every kind.
    pub const ALL: Ready = Ready(READABLE | WRITABLE | READ_CLOSED | WRITE_CLOSED | ERROR);

    /// The kinds of `bits` (driver readiness bits) that `Ready` names.
    pub(crate) fn from_bits(bits: usize) -> Ready {
        Ready(bits & Ready::ALL.0)
    }

    /// These kinds as driver readiness bits.
    pub(crate) fn bits(self) -> usize {
        self.0
    }

    /// Whether nothing is ready.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether a read would not wait: [`READABLE`](Ready::READABLE) or
    /// [`READ_CLOSED`](Ready::READ_CLOSED).
    pub fn is_readable(self) -> bool {
        self.0 & (READABLE | READ_CLOSED) != 0
    }

    /// Whether a write would not wait: [`WRITABLE`](Ready::WRITABLE) or
    /// [`WRITE_CLOSED`](Ready::WRITE_CLOSED).
    pub fn is_writable(self) -> bool {
        self.0 & (WRITABLE | WRITE_CLOSED) != 0
    }

    /// Whether the read side is closed.
    pub fn is_read_closed(self) -> bool {
        self.0 & READ_CLOSED != 0
    }

    /// Whether the write side is closed.
    pub fn is_write_closed(self) -> bool {
        self.0 & WRITE_CLOSED != 0
    }

    /// Whether an error is pending.
    pub fn is_error(self) -> bool {
        self.0 & ERROR != 0
    }
}

impl BitOr for Ready {
    type Output = Ready;

    fn bitor(self, other: Ready) -> Ready {
        Ready(self.0 | other.0)
    }
}

impl BitOrAssign for Ready {
    fn bitor_assign(&mut self, other: Ready) {
        self.0 |= other.0;
    }
}

impl BitAnd for Ready {
    type Output = Ready;

    fn bitand(self, other: Ready) -> Ready {
        Ready(self.0 & other.0)
    }
}

impl Sub for Ready {
    type Output = Ready;

    fn sub(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("is_readable", &self.is_readable())
            .field("is_writable", &self.is_writable())
            .field("is_read_closed", &self.is_read_closed())
            .field("is_write_closed", &self.is_write_closed())
            .field("is_error", &self.is_error())
            .finish()
    }
}
