//! tokio's spelling of [`Signal::new`](super::Signal::new):
//! `signal(SignalKind::terminate())`, so that a tokio program's shutdown
//! code ports unchanged.
//!
//! ```no_run
//! use spindle_runtime::signal::unix::{signal, SignalKind};
//!
//! # spindle_runtime::block_on(async {
//! let mut term = signal(SignalKind::terminate())?;
//! let mut hup = signal(SignalKind::hangup())?;
//! spindle_runtime::select! {
//!     _ = term.recv() => println!("SIGTERM: shutting down"),
//!     _ = hup.recv() => println!("SIGHUP: reloading"),
//! }
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```

use std::io;

use super::Signal;

/// A signal number, named the way tokio names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by its number (`libc::SIGWINCH`, say).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGCHLD`: a child process changed state.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGHUP`: the terminal hung up; by custom, "reload your settings".
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGINT`: Ctrl-C at the terminal.
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGIO`: a descriptor set up for it became ready.
    pub const fn io() -> SignalKind {
        SignalKind(libc::SIGIO)
    }

    /// `SIGPIPE`: a write to a pipe or socket nobody reads any more.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGQUIT`: Ctrl-\ at the terminal.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGTERM`: please stop (what `kill` and service managers send).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGUSR1`: meaning up to you.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`: meaning up to you.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`: the terminal's window changed size.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

impl From<SignalKind> for i32 {
    fn from(kind: SignalKind) -> i32 {
        kind.0
    }
}

/// Listens for `kind`: [`Signal::new`] with tokio's name and argument.
///
/// # Errors
/// As [`Signal::new`]: a signal that cannot be caught or is kept by the C
/// library, outside a runtime, or out of file descriptors.
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    Signal::new(kind.0)
}
