//! The `poll(2)` backend: level-triggered, rebuilt each wait from a table.
//!
//! Each wait copies the armed registrations into an array of `pollfd`, hands
//! the whole array to the kernel, and scans it afterwards: O(n) per wait in
//! the number of registrations, ready or not. Unlike `select(2)` there is no
//! limit on descriptor numbers. See `level.rs` for how one event per change
//! is obtained from a level-triggered call.

use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::Duration;

use super::level::{Registry, Seen};
use super::{syscall, timeout_ms};
use crate::{Events, Interest, Token};

#[derive(Debug)]
pub(crate) struct Poller {
    registry: Registry,
    /// The array handed to the kernel; only the waiting thread uses it.
    fds: Mutex<Vec<libc::pollfd>>,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Ok(Poller {
            registry: Registry::new()?,
            fds: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.add(fd, token, interest)
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.registry.modify(fd, token, interest)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.registry.delete(fd)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let mut fds = self.fds.lock().unwrap_or_else(|e| e.into_inner());
        fds.clear();
        fds.push(pollfd(self.registry.notify.fd(), libc::POLLIN));
        self.registry.for_each_armed(|fd, e| {
            let mut flags = 0;
            if e.read {
                flags |= libc::POLLIN | libc::POLLRDHUP;
            }
            if e.write {
                flags |= libc::POLLOUT;
            }
            fds.push(pollfd(fd, flags));
        });
        self.registry.set_waiting(true);
        // SAFETY: `fds` is a live, exclusively borrowed array of `len` pollfds.
        let res = syscall!(poll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            timeout_ms(timeout)
        ));
        self.registry.set_waiting(false);
        match res {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        if fds[0].revents != 0 {
            self.registry.notify.drain();
        }
        for p in fds[1..].iter().filter(|p| p.revents != 0) {
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
            if let Some(ev) = self.registry.report(p.fd, seen) {
                events.list.push(ev);
            }
        }
        Ok(())
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.registry.notify.notify()
    }
}

fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}
