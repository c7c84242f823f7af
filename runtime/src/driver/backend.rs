//! Which readiness backend a runtime runs on: [`open_poller`] opens the
//! poller, and [`BackendFallback`] says when it is not the one asked for.
//!
//! The choice, in order: the backend given to
//! [`Builder::poller`](crate::Builder::poller), else the `SPINDLE_POLLER`
//! environment variable, else epoll. A bad `SPINDLE_POLLER` value is an
//! error (`InvalidInput`), not a silent default.
//!
//! io_uring is the one backend a kernel may refuse (too old, or disabled by
//! `io_uring_disabled` or a seccomp filter in a container). Then the runtime
//! falls back to epoll, which every Linux has, and returns the refusal as a
//! [`BackendFallback`] instead of printing it: the library never writes to
//! stderr, and the program decides whether and how to say so (through
//! [`Runtime::backend_fallback`](crate::Runtime::backend_fallback)). Any
//! other backend that fails to open is an error.

use std::fmt;
use std::io;

use spindle_reactor::{Backend, Poller};

/// The runtime runs on another backend than the one asked for, because the
/// kernel refused that one. See
/// [`Runtime::backend_fallback`](crate::Runtime::backend_fallback).
///
/// Its `Display` is one line for a program to print:
/// `io_uring unavailable (Operation not permitted (os error 1)); fell back to epoll`.
#[derive(Debug)]
pub struct BackendFallback {
    requested: Backend,
    used: Backend,
    reason: io::Error,
}

impl BackendFallback {
    /// The backend that was asked for (by the builder or `SPINDLE_POLLER`).
    pub fn requested(&self) -> Backend {
        self.requested
    }

    /// The backend the runtime runs on instead.
    pub fn used(&self) -> Backend {
        self.used
    }

    /// Why the requested backend could not be opened.
    pub fn reason(&self) -> &io::Error {
        &self.reason
    }
}

impl fmt::Display for BackendFallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} unavailable ({}); fell back to {}",
            self.requested, self.reason, self.used
        )
    }
}

impl std::error::Error for BackendFallback {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.reason)
    }
}

/// Opens the poller: the builder's choice (`chosen`), else `SPINDLE_POLLER`,
/// else epoll. An io_uring the kernel refuses falls back to epoll, and the
/// refusal comes back beside the poller.
pub(crate) fn open_poller(
    chosen: Option<Backend>,
) -> io::Result<(Poller, Option<BackendFallback>)> {
    let requested = match chosen {
        Some(b) => b,
        None => Backend::from_env()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?
            .unwrap_or_default(),
    };
    open_requested(requested, Poller::with_backend)
}

/// The fallback rule of [`open_poller`], over any way of opening a poller
/// (the tests pass one that refuses io_uring, as some kernels do).
fn open_requested(
    requested: Backend,
    open: impl Fn(Backend) -> io::Result<Poller>,
) -> io::Result<(Poller, Option<BackendFallback>)> {
    match open(requested) {
        Ok(poller) => Ok((poller, None)),
        Err(reason) if requested == Backend::IoUring => {
            let used = Backend::Epoll;
            let poller = open(used)?;
            let fallback = BackendFallback {
                requested,
                used,
                reason,
            };
            Ok((poller, Some(fallback)))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Opens like a kernel with io_uring disabled.
    fn no_uring(backend: Backend) -> io::Result<Poller> {
        match backend {
            Backend::IoUring => Err(io::Error::from_raw_os_error(libc::EPERM)),
            other => Poller::with_backend(other),
        }
    }

    #[test]
    fn a_refused_io_uring_falls_back_to_epoll_and_says_why() {
        let (poller, fallback) = open_requested(Backend::IoUring, no_uring).unwrap();
        assert_eq!(poller.backend(), Backend::Epoll);
        let fallback = fallback.expect("the refusal is returned, not dropped");
        assert_eq!(fallback.requested(), Backend::IoUring);
        assert_eq!(fallback.used(), Backend::Epoll);
        assert_eq!(fallback.reason().raw_os_error(), Some(libc::EPERM));
        let line = fallback.to_string();
        assert!(
            line.starts_with("io_uring unavailable (") && line.ends_with("); fell back to epoll"),
            "{line}"
        );
    }

    #[test]
    fn a_backend_that_opens_has_no_fallback() {
        for backend in [Backend::Epoll, Backend::Poll, Backend::Select] {
            let (poller, fallback) = open_requested(backend, no_uring).unwrap();
            assert_eq!(poller.backend(), backend);
            assert!(fallback.is_none());
        }
    }

    #[test]
    fn only_io_uring_falls_back() {
        let refuse_all = |_| Err(io::Error::from_raw_os_error(libc::EMFILE));
        let err = open_requested(Backend::Poll, refuse_all).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
        // io_uring refused and epoll refused too: the epoll error, no poller.
        let err = open_requested(Backend::IoUring, refuse_all).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE));
    }
}
