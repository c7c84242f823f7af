//! The epoll backend: an epoll instance plus an eventfd for cross-thread wake-ups.
//!
//! Registrations are edge-triggered (`EPOLLET`) and ask for `EPOLLRDHUP`, so a
//! peer's half-close is reported as readiness. The eventfd is registered
//! level-triggered under [`Token::NOTIFY`]; `wait` drains it and does not
//! report it, so a notification shows up as an early return with no events.
//!
//! The kernel writes `epoll_event`s, not [`Event`](crate::Event)s, so `wait`
//! needs a buffer of the kernel's type too. The poller keeps one (`scratch`)
//! and reuses it, so a wait allocates nothing; it is private to this backend,
//! not part of the public `Events`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;
use std::time::Duration;

use super::eventfd::EventFd;
use super::{cvt, event_from_poll_bits, timeout_ms};
use crate::{Events, Interest, Token};

/// An epoll instance and its notifier.
#[derive(Debug)]
pub(crate) struct Poller {
    epoll: OwnedFd,
    notify: EventFd,
    /// What the kernel writes into during `wait`, kept between waits so a
    /// wait allocates nothing. A mutex because `wait` takes `&self`; it is
    /// only ever contended if two threads wait at once, and then the second
    /// uses a buffer of its own rather than queue behind the first.
    scratch: Mutex<Vec<libc::epoll_event>>,
}

impl Poller {
    /// Creates the epoll instance and the eventfd, both close-on-exec.
    pub(crate) fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes no pointers; it only creates a descriptor.
        let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: epoll_create1 just returned this descriptor and nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let poller = Poller {
            epoll,
            notify: EventFd::new()?,
            scratch: Mutex::new(Vec::new()),
        };
        poller.ctl(
            libc::EPOLL_CTL_ADD,
            poller.notify.fd(),
            Some(Token::NOTIFY),
            libc::EPOLLIN as u32,
        )?;
        Ok(poller)
    }

    /// Starts watching `fd` for `interest`, edge-triggered.
    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, Some(token), flags(interest))
    }

    /// Changes the token or interest of a watched `fd`.
    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, Some(token), flags(interest))
    }

    /// Stops watching `fd`. No event for it is returned after this.
    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, None, 0)
    }

    /// Blocks until an event, a notification, or the timeout; fills `events`.
    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let mut own = Vec::new();
        let mut shared = self.scratch.try_lock().ok();
        let raw = match shared.as_deref_mut() {
            Some(raw) => raw,
            None => &mut own,
        };
        raw.clear();
        raw.reserve(events.capacity);
        // SAFETY: `raw` has room for at least `events.capacity` epoll_events
        // (reserved above), and the kernel writes at most `maxevents`, which
        // is that many.
        let res = cvt(unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                raw.as_mut_ptr(),
                raw.capacity().min(events.capacity) as libc::c_int,
                timeout_ms(timeout),
            )
        });
        let n = match res {
            Ok(n) => n as usize,
            // A signal interrupted the wait: report no events, the caller loops.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(e),
        };
        // SAFETY: epoll_wait initialised the first `n` entries (n <= capacity).
        unsafe { raw.set_len(n) };
        for ev in raw.iter() {
            let bits = ev.events;
            let token = Token(ev.u64 as usize);
            if token == Token::NOTIFY {
                self.notify.drain();
                continue;
            }
            events.list.push(event_from_poll_bits(token, bits));
        }
        Ok(())
    }

    /// The epoll descriptor.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.epoll.as_fd()
    }

    /// Wakes a thread blocked in [`wait`](Self::wait), from any thread.
    pub(crate) fn notify(&self) -> io::Result<()> {
        self.notify.notify()
    }

    /// Waits for a notify only (see `Poller::wait_for_notify`).
    pub(crate) fn wait_for_notify(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.notify.wait(timeout)
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, token: Option<Token>, events: u32) -> io::Result<()> {
        if token == Some(Token::NOTIFY) && fd != self.notify.fd() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Token(usize::MAX) is reserved for the poller's notifier",
            ));
        }
        let mut ev = libc::epoll_event {
            events,
            u64: token.map_or(0, |t| t.0 as u64),
        };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call
        // (EPOLL_CTL_DEL ignores it); the kernel validates `fd`.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) })?;
        Ok(())
    }
}

fn flags(interest: Interest) -> u32 {
    let mut flags = libc::EPOLLET | libc::EPOLLRDHUP;
    if interest.is_readable() {
        flags |= libc::EPOLLIN;
    }
    if interest.is_writable() {
        flags |= libc::EPOLLOUT;
    }
    flags as u32
}
