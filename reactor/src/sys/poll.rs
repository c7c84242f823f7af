//! The `poll(2)` backend: level-triggered, rebuilt each wait from a table.
//!
//! Each wait copies the armed registrations into an array of `pollfd`, hands
//! the whole array to the kernel, and scans it afterwards: O(n) per wait in
//! the number of registrations, ready or not. Unlike `select(2)` there is no
//! limit on descriptor numbers. See `level.rs` for how one event per change
//! is obtained from a level-triggered call, and how changes made while a
//! wait is blocked reach it.
//!
//! A descriptor closed while still registered is not an error for the call:
//! the kernel answers `POLLNVAL` for it, which is reported as an error event
//! (and, like any report, disarms it, so it is not reported again and again).

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::Duration;

use super::level::{Registry, Seen};
use super::{cvt, timeout_ms};
use crate::{Events, Interest, Token};

#[derive(Debug)]
pub(crate) struct Poller {
    pub(super) registry: Registry,
    /// The array handed to the kernel; only the waiting thread uses it.
    list: Mutex<List>,
}

/// One wait's `pollfd` array, and for each entry after the notifier the
/// generation of the registration it was built from.
#[derive(Debug, Default)]
struct List {
    fds: Vec<libc::pollfd>,
    generations: Vec<u64>,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Ok(Poller {
            registry: Registry::new()?,
            list: Mutex::new(List::default()),
        })
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.add(fd, token, interest)
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.modify(fd, token, interest)
    }

    pub(crate) fn rearm(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.rearm(fd, token, interest)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.registry.delete(fd)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        let List { fds, generations } = &mut *list;
        fds.clear();
        generations.clear();
        fds.push(pollfd(self.registry.notify.fd(), libc::POLLIN));
        // Marked before the list is built: see "Changes while a wait is
        // blocked" in level.rs.
        self.registry.begin_wait();
        self.registry.for_each_armed(|fd, e| {
            let mut flags = 0;
            if e.read {
                flags |= libc::POLLIN | libc::POLLRDHUP;
            }
            if e.write {
                flags |= libc::POLLOUT;
            }
            fds.push(pollfd(fd, flags));
            generations.push(e.generation);
        });
        self.registry.list_built();
        // SAFETY: `fds` is a live, exclusively borrowed array of `len` pollfds.
        let res = cvt(unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ms(timeout),
            )
        });
        self.registry.end_wait();
        match res {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        if fds[0].revents != 0 {
            self.registry.notify.drain();
        }
        let built = fds[1..].iter().zip(generations.iter());
        for (p, &generation) in built.filter(|(p, _)| p.revents != 0) {
            if events.list.len() == events.capacity {
                // Still armed: the next wait reports the rest.
                break;
            }
            let r = p.revents;
            let seen = Seen {
                readable: r & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0,
                writable: r & libc::POLLOUT != 0,
                error: r & (libc::POLLERR | libc::POLLNVAL) != 0,
                hangup: r & (libc::POLLHUP | libc::POLLRDHUP) != 0,
            };
            if let Some(ev) = self.registry.report(p.fd, generation, seen) {
                events.list.push(ev);
            }
        }
        Ok(())
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.registry.notify.notify()
    }

    /// Waits for a notify only (see `Poller::wait_for_notify`).
    pub(crate) fn wait_for_notify(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.registry.notify.wait(timeout)
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
