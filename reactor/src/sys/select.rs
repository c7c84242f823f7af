//! The `select(2)` backend: the oldest readiness call, with its limits.
//!
//! Each wait fills two bit sets (read, write) from the table of armed
//! registrations, passes them and the highest descriptor number plus one to
//! the kernel, which overwrites them with what is ready; then every bit up
//! to that number is tested. Cost is O(highest descriptor) per wait, and a
//! descriptor at or above `FD_SETSIZE` (1024) cannot be put in a set at all,
//! so registering one fails with an error that says so. See `level.rs` for
//! how one event per change is obtained from a level-triggered call, and
//! how changes made while a wait is blocked reach it.
//!
//! # Closed descriptors
//!
//! Unlike `poll`, `select` fails the whole call with `EBADF` if any
//! descriptor in the sets is closed. That happens in two ways, and neither
//! may take the loop down:
//!
//! * a descriptor was deleted and closed on another thread after the sets
//!   were built: the table no longer holds it, so the wait builds the sets
//!   again and retries;
//! * a descriptor was closed while still registered (its owner forgot to
//!   delete it first): it is still in the table, so rebuilding would fail
//!   again. The wait finds it (`fcntl(F_GETFD)` fails with `EBADF`) and
//!   reports an error event for it, which also disarms it: the next wait
//!   leaves it out, and nothing is reported again until its owner re-arms it.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::cvt;
use super::level::{Registry, Seen};
use crate::{Events, Interest, Token};

#[derive(Debug)]
pub(crate) struct Poller {
    pub(super) registry: Registry,
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        let registry = Registry::new()?;
        check_limit(registry.notify.fd())?;
        Ok(Poller { registry })
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_limit(fd)?;
        self.registry.add(fd, token, interest)
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_limit(fd)?;
        self.registry.modify(fd, token, interest)
    }

    pub(crate) fn rearm(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        check_limit(fd)?;
        self.registry.rearm(fd, token, interest)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.registry.delete(fd)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let notify = self.registry.notify.fd();
        // (descriptor, generation) of every registration in the sets.
        let mut watched = Vec::new();
        loop {
            let mut reads = FdSet::new();
            let mut writes = FdSet::new();
            reads.insert(notify);
            let mut max = notify;
            watched.clear();
            // Marked before the sets are built: see "Changes while a wait is
            // blocked" in level.rs.
            self.registry.begin_wait();
            self.registry.for_each_armed(|fd, e| {
                if e.read {
                    reads.insert(fd);
                }
                if e.write {
                    writes.insert(fd);
                }
                max = max.max(fd);
                watched.push((fd, e.generation));
            });
            self.registry.list_built();
            let mut tv = timeout.map(|d| libc::timeval {
                tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
                // Round up to whole microseconds so a short timeout is not zero.
                tv_usec: d.subsec_nanos().div_ceil(1000) as libc::suseconds_t,
            });
            let tv_ptr = tv
                .as_mut()
                .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
            // SAFETY: both sets are live, exclusively borrowed fd_sets holding
            // only descriptors below FD_SETSIZE; `tv_ptr` is null or a live timeval.
            let res = cvt(unsafe {
                libc::select(
                    max + 1,
                    &mut reads.0,
                    &mut writes.0,
                    std::ptr::null_mut(),
                    tv_ptr,
                )
            });
            self.registry.end_wait();
            match res {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBADF) => {
                    // See "Closed descriptors" above.
                    if self.report_closed(&watched, events) {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            }
            if reads.contains(notify) {
                self.registry.notify.drain();
            }
            for &(fd, generation) in &watched {
                if events.list.len() == events.capacity {
                    break;
                }
                let seen = Seen {
                    readable: reads.contains(fd),
                    writable: writes.contains(fd),
                    ..Seen::default()
                };
                if !seen.readable && !seen.writable {
                    continue;
                }
                if let Some(ev) = self.registry.report(fd, generation, seen) {
                    events.list.push(ev);
                }
            }
            return Ok(());
        }
    }

    /// After `EBADF`: reports an error event for each watched descriptor
    /// that is closed but still registered (as it was when the sets were
    /// built). True if it reported any, or if `events` is full, so the wait
    /// returns them; false means the closed ones were all deleted
    /// meanwhile, and the wait should rebuild its sets and try again.
    fn report_closed(&self, watched: &[(RawFd, u64)], events: &mut Events) -> bool {
        for &(fd, generation) in watched {
            if events.list.len() == events.capacity {
                return true;
            }
            // SAFETY: F_GETFD only reads the descriptor's flags; any number is safe to ask about.
            let closed = unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1
                && io::Error::last_os_error().raw_os_error() == Some(libc::EBADF);
            if !closed {
                continue;
            }
            let seen = Seen {
                error: true,
                ..Seen::default()
            };
            if let Some(ev) = self.registry.report(fd, generation, seen) {
                events.list.push(ev);
            }
        }
        !events.list.is_empty()
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.registry.notify.notify()
    }

    /// Waits for a notify only (see `Poller::wait_for_notify`).
    pub(crate) fn wait_for_notify(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.registry.notify.wait(timeout)
    }
}

/// Refuses descriptors that do not fit in an `fd_set`.
fn check_limit(fd: RawFd) -> io::Result<()> {
    if fd < 0 || fd as usize >= libc::FD_SETSIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "file descriptor {fd} is at or above FD_SETSIZE ({}), the limit of select(2); \
                 use the poll or epoll backend for more connections",
                libc::FD_SETSIZE
            ),
        ));
    }
    Ok(())
}

/// A `libc::fd_set` with safe accessors for descriptors below FD_SETSIZE.
struct FdSet(libc::fd_set);

impl FdSet {
    fn new() -> FdSet {
        // SAFETY: fd_set is plain bits; all-zero is the empty set (what FD_ZERO writes).
        FdSet(unsafe { std::mem::zeroed() })
    }

    fn insert(&mut self, fd: RawFd) {
        debug_assert!((fd as usize) < libc::FD_SETSIZE);
        // SAFETY: fd is in 0..FD_SETSIZE (checked at registration), so the bit is inside the set.
        unsafe { libc::FD_SET(fd, &mut self.0) }
    }

    fn contains(&self, fd: RawFd) -> bool {
        // SAFETY: as for `insert`.
        unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}
