//! Bookkeeping shared by the level-triggered backends, `poll(2)` and `select(2)`.
//!
//! Those system calls keep no state in the kernel: every call passes the
//! whole list of descriptors, and every call reports a descriptor for as
//! long as it *stays* ready. So the registrations live here, in a table,
//! and each wait builds its list from the table.
//!
//! To give the same contract as the edge-triggered backends (one event per
//! change, no busy loop on a socket that just stays writable) each direction
//! is **armed** until it is reported, then disarmed: it is left out of later
//! waits until the owner re-arms it with `modify`, which it does after it
//! has read or written until `WouldBlock`. `Poller::is_edge_triggered`
//! tells the owner whether it has to.
//!
//! The table is behind a mutex because registrations may change from other
//! threads; a change made while a wait is blocked also wakes the wait
//! (through the eventfd), so the new table takes effect at once.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use super::eventfd::EventFd;
use crate::{Event, Interest, Token};

/// One registration: its token, and which directions are armed.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) token: Token,
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// What the kernel said about one descriptor in one wait.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Seen {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) error: bool,
    pub(crate) hangup: bool,
}

#[derive(Debug)]
pub(crate) struct Registry {
    table: Mutex<HashMap<RawFd, Entry>>,
    waiting: AtomicBool,
    pub(crate) notify: EventFd,
}

impl Registry {
    pub(crate) fn new() -> io::Result<Registry> {
        Ok(Registry {
            table: Mutex::new(HashMap::new()),
            waiting: AtomicBool::new(false),
            notify: EventFd::new()?,
        })
    }

    fn table(&self) -> MutexGuard<'_, HashMap<RawFd, Entry>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes a blocked wait so it rebuilds its list from the table.
    fn changed(&self) {
        if self.waiting.load(SeqCst) {
            let _ = self.notify.notify();
        }
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table();
        if table.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        table.insert(fd, entry(token, interest));
        drop(table);
        self.changed();
        Ok(())
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table();
        let slot = table
            .get_mut(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        *slot = entry(token, interest);
        drop(table);
        self.changed();
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let removed = self.table().remove(&fd);
        match removed {
            Some(_) => Ok(()),
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    /// Calls `f` for each descriptor with at least one armed direction.
    pub(crate) fn for_each_armed(&self, mut f: impl FnMut(RawFd, Entry)) {
        for (&fd, &e) in self.table().iter() {
            if e.read || e.write {
                f(fd, e);
            }
        }
    }

    /// Marks the start and end of a blocking wait.
    pub(crate) fn set_waiting(&self, waiting: bool) {
        self.waiting.store(waiting, SeqCst);
    }

    /// Turns what the kernel saw into an event for the directions that are
    /// still armed, and disarms them. `None` if nothing armed was seen (the
    /// descriptor was deleted or re-armed differently meanwhile).
    pub(crate) fn report(&self, fd: RawFd, seen: Seen) -> Option<Event> {
        let mut table = self.table();
        let e = table.get_mut(&fd)?;
        let any = seen.error || seen.hangup;
        let readable = e.read && (seen.readable || any);
        let writable = e.write && (seen.writable || any);
        if !readable && !writable {
            return None;
        }
        e.read &= !readable;
        e.write &= !writable;
        Some(Event {
            token: e.token,
            readable,
            writable,
            error: seen.error,
            read_closed: seen.hangup,
            write_closed: seen.hangup || seen.error,
        })
    }
}

fn entry(token: Token, interest: Interest) -> Entry {
    Entry {
        token,
        read: interest.is_readable(),
        write: interest.is_writable(),
    }
}
