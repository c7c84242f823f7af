//! [`Interest`]: which kinds of readiness a registration wants to hear about.

use std::fmt;
use std::ops::BitOr;

/// The readiness a registration asks for: readable, writable, or both.
///
/// Combine with `|`: `Interest::READABLE | Interest::WRITABLE`.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Interest(u8);

const READ: u8 = 0b01;
const WRITE: u8 = 0b10;

impl Interest {
    /// Interest in the descriptor becoming readable (data, a connection to
    /// accept, or the peer closing).
    pub const READABLE: Interest = Interest(READ);
    /// Interest in the descriptor becoming writable (room in the send buffer,
    /// or a non-blocking connect completing).
    pub const WRITABLE: Interest = Interest(WRITE);
    /// Both readable and writable.
    pub const BOTH: Interest = Interest(READ | WRITE);

    /// True if this includes readable.
    pub const fn is_readable(self) -> bool {
        self.0 & READ != 0
    }

    /// True if this includes writable.
    pub const fn is_writable(self) -> bool {
        self.0 & WRITE != 0
    }

    /// The union of two interests.
    pub const fn add(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOr for Interest {
    type Output = Interest;
    fn bitor(self, rhs: Interest) -> Interest {
        self.add(rhs)
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(none)"),
        }
    }
}
