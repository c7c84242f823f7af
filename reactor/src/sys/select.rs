//! The `select(2)` backend: the oldest readiness call, with its limits.
//!
//! Each wait fills two bit sets (read, write) from the table of armed
//! registrations, passes them and the highest descriptor number plus one to
//! the kernel, which overwrites them with what is ready; then every bit up
//! to that number is tested. Cost is O(highest descriptor) per wait, and a
//! descriptor at or above `FD_SETSIZE` (1024) cannot be put in a set at all,
//! so registering one fails with an error that says so. See `level.rs` for
//! how one event per change is obtained from a level-triggered call.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::level::{Registry, Seen};
use super::syscall;
use crate::{Events, Interest, Token};

#[derive(Debug)]
pub(crate) struct Poller {
    registry: Registry,
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

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.registry.delete(fd)
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let mut reads = FdSet::new();
        let mut writes = FdSet::new();
        let notify = self.registry.notify.fd();
        reads.insert(notify);
        let mut max = notify;
        let mut watched = Vec::new();
        self.registry.for_each_armed(|fd, e| {
            if e.read {
                reads.insert(fd);
            }
            if e.write {
                writes.insert(fd);
            }
            max = max.max(fd);
            watched.push(fd);
        });
        let mut tv = timeout.map(|d| libc::timeval {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            // Round up to whole microseconds so a short timeout is not zero.
            tv_usec: d.subsec_nanos().div_ceil(1000) as libc::suseconds_t,
        });
        let tv_ptr = tv
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timeval);
        self.registry.set_waiting(true);
        // SAFETY: both sets are live, exclusively borrowed fd_sets holding
        // only descriptors below FD_SETSIZE; `tv_ptr` is null or a live timeval.
        let res = syscall!(select(
            max + 1,
            &mut reads.0,
            &mut writes.0,
            std::ptr::null_mut(),
            tv_ptr
        ));
        self.registry.set_waiting(false);
        match res {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        if reads.contains(notify) {
            self.registry.notify.drain();
        }
        for fd in watched {
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
            if let Some(ev) = self.registry.report(fd, seen) {
                events.list.push(ev);
            }
        }
        Ok(())
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.registry.notify.notify()
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
