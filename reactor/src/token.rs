//! [`Token`]: the caller's name for a registered file descriptor.

/// A number that identifies a registration; the poller hands it back with
/// each readiness event.
///
/// The poller never interprets it. A server may use an index into its table
/// of connections; spindle's runtime uses the address of the registration's
/// shared state. `Token(usize::MAX)` is reserved for the poller's own
/// notifier and cannot be registered.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Token(pub usize);

impl Token {
    /// The token the poller keeps for its own wake-up descriptor.
    pub(crate) const NOTIFY: Token = Token(usize::MAX);
}

impl From<usize> for Token {
    fn from(n: usize) -> Self {
        Token(n)
    }
}

impl From<Token> for usize {
    fn from(t: Token) -> Self {
        t.0
    }
}
