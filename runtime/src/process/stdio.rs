//! [`ChildStdin`], [`ChildStdout`], [`ChildStderr`]: our ends of the pipes
//! to a child's standard streams, as async byte streams.
//!
//! `std::process::Command` creates the pipes (close-on-exec, blocking). We
//! take our ends from the std child, switch them to non-blocking (the flag
//! lives on *our* end's open file description; the child's end is a
//! separate one and stays blocking, as programs expect) and register them
//! with the reactor: `ChildStdin` waits for writable, the others for
//! readable, through the same [`Registration`] machinery as sockets.
//!
//! A pipe's end of stream is the closing of its last write end. So a child
//! reading its stdin (`cat`, `sort`, `wc`) only finishes once `ChildStdin`
//! is shut down or dropped.

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use spindle_reactor::Interest;

use crate::driver::{Direction, Registration};
use crate::io::{AsyncRead, AsyncWrite};
use crate::sys::fd as sys_fd;

/// One registered, non-blocking pipe end.
struct Pipe {
    // Declared before `fd`: the registration must go first (see Registration).
    registration: Registration,
    fd: OwnedFd,
}

impl Pipe {
    fn new(fd: OwnedFd, interest: Interest) -> io::Result<Pipe> {
        sys_fd::set_nonblocking(fd.as_fd(), true)?;
        let registration = Registration::new(fd.as_raw_fd(), interest)?;
        Ok(Pipe { registration, fd })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd.as_fd();
        self.registration
            .poll_stream_io(cx, Direction::Read, buf.len(), || sys_fd::read(fd, buf))
    }

    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let fd = self.fd.as_fd();
        self.registration
            .poll_stream_io(cx, Direction::Write, buf.len(), || sys_fd::write(fd, buf))
    }

    fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let fd = self.fd.as_fd();
        let len = bufs.iter().map(|b| b.len()).sum();
        self.registration
            .poll_stream_io(cx, Direction::Write, len, || sys_fd::writev(fd, bufs))
    }

    /// Leaves the reactor and returns the descriptor in blocking mode, ready
    /// to be handed to another process.
    fn into_blocking_fd(self) -> io::Result<OwnedFd> {
        let Pipe { registration, fd } = self;
        drop(registration);
        sys_fd::set_nonblocking(fd.as_fd(), false)?;
        Ok(fd)
    }
}

/// The writing end of a child's standard input.
///
/// [`shutdown`](crate::io::AsyncWriteExt::shutdown) closes it, which is
/// how the child sees end of input; dropping it does the same.
///
/// If the child has exited (or closed its stdin), writing fails with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe), provided `SIGPIPE` is
/// ignored, as it is in every Rust program by default. See the
/// [module docs](super) for the details.
pub struct ChildStdin {
    pipe: Option<Pipe>,
}

/// The reading end of a child's standard output.
pub struct ChildStdout {
    pipe: Pipe,
}

/// The reading end of a child's standard error.
pub struct ChildStderr {
    pipe: Pipe,
}

impl ChildStdin {
    /// Wraps std's handle (from a child spawned with `std::process`): sets
    /// it non-blocking and registers it with the current runtime.
    pub fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            pipe: Some(Pipe::new(stdin.into(), Interest::WRITABLE)?),
        })
    }

    /// Takes the descriptor out of the runtime, back in blocking mode: to
    /// pass it to another child as its stdout, for instance.
    ///
    /// # Errors
    /// If it was already shut down, or `fcntl` fails.
    pub fn into_owned_fd(mut self) -> io::Result<OwnedFd> {
        self.pipe.take().ok_or_else(shut_down)?.into_blocking_fd()
    }

    fn pipe(&self) -> io::Result<&Pipe> {
        self.pipe.as_ref().ok_or_else(shut_down)
    }
}

fn shut_down() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was shut down")
}

impl AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.pipe() {
            Ok(pipe) => pipe.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.pipe() {
            Ok(pipe) => pipe.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Nothing is buffered in user space: always ready.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Closes the pipe (the child reads end of input). Idempotent.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().pipe = None;
        Poll::Ready(Ok(()))
    }
}

/// `ChildStdout` and `ChildStderr` are the same thing on different streams.
macro_rules! reader {
    ($name:ident, $std:ty) => {
        impl $name {
            /// Wraps std's handle (from a child spawned with
            /// `std::process`): sets it non-blocking and registers it with
            /// the current runtime.
            pub fn from_std(std: $std) -> io::Result<$name> {
                Ok($name {
                    pipe: Pipe::new(std.into(), Interest::READABLE)?,
                })
            }

            /// Takes the descriptor out of the runtime, back in blocking
            /// mode: to pass it to another child as its stdin, for instance
            /// (or use `Stdio::try_from`).
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.pipe.into_blocking_fd()
            }
        }

        impl AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.pipe.poll_read(cx, buf)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.pipe.fd.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.pipe.fd.as_raw_fd()
            }
        }

        /// Hands the pipe to another child, e.g. as its stdin in a
        /// pipeline: the descriptor leaves the runtime and becomes blocking
        /// again (programs do not expect a non-blocking stdin).
        impl TryFrom<$name> for Stdio {
            type Error = io::Error;

            fn try_from(value: $name) -> io::Result<Stdio> {
                value.into_owned_fd().map(Stdio::from)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.pipe.fd.as_raw_fd())
                    .finish()
            }
        }
    };
}

reader!(ChildStdout, std::process::ChildStdout);
reader!(ChildStderr, std::process::ChildStderr);

/// Hands the pipe to another child (see [`ChildStdout`]'s impl).
impl TryFrom<ChildStdin> for Stdio {
    type Error = io::Error;

    fn try_from(value: ChildStdin) -> io::Result<Stdio> {
        value.into_owned_fd().map(Stdio::from)
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.pipe.as_ref().map(|p| p.fd.as_raw_fd()))
            .finish()
    }
}
