//! The cross-thread wake-up every backend shares: an eventfd.
//!
//! [`notify`](EventFd::notify) adds one to the counter, which makes the
//! descriptor readable and so ends a wait in any of the backends;
//! [`drain`](EventFd::drain) reads the counter back to zero.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::cvt;

#[derive(Debug)]
pub(crate) struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; it only creates a descriptor.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: eventfd just returned this descriptor and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(EventFd { fd })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: the pointer is to a live u64 and the length is its size.
        let res = cvt(unsafe {
            libc::write(
                self.fd.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        });
        match res {
            // EAGAIN means the counter is saturated: a wake-up is already pending.
            Err(e) if e.kind() != io::ErrorKind::WouldBlock => Err(e),
            _ => Ok(()),
        }
    }

    /// Waits until the counter is non-zero or `timeout` passes (`None`: no
    /// limit), then reads it back to zero. An interrupted wait (a signal)
    /// returns early, as every backend's wait does.
    pub(crate) fn wait(&self, timeout: Option<std::time::Duration>) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: the pointer is to one live pollfd, and the count says one.
        match cvt(unsafe { libc::poll(&mut pfd, 1, super::timeout_ms(timeout)) }) {
            Err(e) if e.kind() != io::ErrorKind::Interrupted => return Err(e),
            _ => {}
        }
        self.drain();
        Ok(())
    }

    pub(crate) fn drain(&self) {
        let mut buf: u64 = 0;
        // SAFETY: the pointer is to a live u64 and the length is its size. A
        // failure (EAGAIN: already drained) needs no handling.
        let _ = cvt(unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                &mut buf as *mut u64 as *mut libc::c_void,
                8,
            )
        });
    }
}
