//! [`Backend`]: which system call a [`Poller`](crate::Poller) waits with.

use std::fmt;
use std::str::FromStr;

/// The readiness mechanisms spindle can run on, oldest first.
///
/// They differ in what each wait costs, not in what a program sees: every
/// backend reports one event per change of readiness (see
/// [`Poller::is_edge_triggered`](crate::Poller::is_edge_triggered)).
///
/// | backend | state in the kernel | cost per wait | limit |
/// |---|---|---|---|
/// | `Select` | none: bit sets copied in and out | O(highest fd) | fds below 1024 |
/// | `Poll` | none: an array copied in and out | O(registered fds) | none |
/// | `Epoll` | interest list + ready list | O(ready fds) | none |
/// | `IoUring` | multishot poll requests, completions in a shared ring | O(ready fds), fewer syscalls | kernel 5.13+ |
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// `epoll(7)`, edge-triggered: the default.
    #[default]
    Epoll,
    /// `poll(2)`.
    Poll,
    /// `select(2)`: descriptors must be below `FD_SETSIZE` (1024).
    Select,
    /// `io_uring(7)` with multishot poll requests, built on the raw system calls.
    IoUring,
}

impl Backend {
    /// Every backend, in the order of the IO-model progression.
    pub const ALL: [Backend; 4] = [
        Backend::Select,
        Backend::Poll,
        Backend::Epoll,
        Backend::IoUring,
    ];

    /// The name used by `SPINDLE_POLLER` and in reports: `epoll`, `poll`,
    /// `select` or `io_uring`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Epoll => "epoll",
            Backend::Poll => "poll",
            Backend::Select => "select",
            Backend::IoUring => "io_uring",
        }
    }

    /// The backend named by the environment variable `SPINDLE_POLLER`, if set.
    ///
    /// An unknown name is an error, so a typo does not silently fall back.
    pub fn from_env() -> Result<Option<Backend>, UnknownBackend> {
        match std::env::var("SPINDLE_POLLER") {
            Ok(name) if !name.is_empty() => name.parse().map(Some),
            _ => Ok(None),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Backend {
    type Err = UnknownBackend;

    fn from_str(s: &str) -> Result<Backend, UnknownBackend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "epoll" => Ok(Backend::Epoll),
            "poll" => Ok(Backend::Poll),
            "select" => Ok(Backend::Select),
            "io_uring" | "iouring" | "uring" => Ok(Backend::IoUring),
            _ => Err(UnknownBackend(s.to_string())),
        }
    }
}

/// A backend name that is not one of `epoll`, `poll`, `select`, `io_uring`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBackend(pub String);

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown poller backend {:?}: expected epoll, poll, select or io_uring",
            self.0
        )
    }
}

impl std::error::Error for UnknownBackend {}
