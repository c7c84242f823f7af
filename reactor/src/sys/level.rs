//! Bookkeeping shared by the level-triggered backends, `poll(2)` and `select(2)`.
//!
//! Those system calls keep no state in the kernel: every call passes the
//! whole list of descriptors, and every call reports a descriptor for as
//! long as it *stays* ready. So the registrations live here, in a table,
//! and each wait builds its list from the table.
//!
//! # Armed directions
//!
//! To give the same contract as the edge-triggered backends (one event per
//! change, no busy loop on a socket that just stays writable) each direction
//! is **armed** until it is reported, then disarmed: it is left out of later
//! waits until the owner arms it again, which it does after it has read or
//! written until `WouldBlock`. `Poller::is_edge_triggered` tells the owner
//! whether it has to. Two operations arm:
//!
//! * `modify` *replaces* the armed set with the interest it is given (the
//!   `selectors`-style "watch exactly this");
//! * `rearm` only *adds* directions, it never disarms one. Only a report
//!   disarms. That makes re-arms from several threads commute: whatever
//!   order two owners' re-arms of the same registration reach the table in,
//!   both directions end up armed. (With `modify`, an owner re-arming from a
//!   stale view could switch off the direction the other had just armed.)
//!   Arming a direction that is in fact still ready costs at most one
//!   extra event, never a lost one.
//!
//! # Changes while a wait is blocked
//!
//! The table is behind a mutex because registrations may change from other
//! threads. A wait first marks itself as waiting, *then* copies the table
//! into the list it hands to the kernel. Every change (add, modify, rearm,
//! delete) updates the table and then, if a wait is marked, wakes it through
//! the eventfd so it rebuilds its list. A change either lands in the table
//! before the copy (and is in the list) or sees the mark (and wakes the
//! wait): both orders are covered because the mark comes first. Marking
//! after the copy would leave a window in which a change is in neither.
//!
//! Waking on `delete` matters for more than a fresh list: while `poll` or
//! `select` sleeps, the kernel holds a reference to every file in the list,
//! so a socket deleted and closed on another thread stays open (its peer
//! sees no end of stream) until the wait returns.
//!
//! # Stale results
//!
//! Between building the list and reading the kernel's answer, a descriptor
//! can be deleted, closed, and its number reused by a new registration.
//! Each registration gets a generation number, the list remembers which one
//! it was built from, and a result is applied only if the table still holds
//! that same registration.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use super::eventfd::EventFd;
use crate::{Event, Interest, Token};

/// One registration: its token, which directions are armed, and the
/// generation that tells it apart from an earlier registration of the same
/// descriptor number.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) token: Token,
    pub(crate) read: bool,
    pub(crate) write: bool,
    pub(crate) generation: u64,
}

/// What the kernel said about one descriptor in one wait.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Seen {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) error: bool,
    pub(crate) hangup: bool,
}

#[derive(Debug, Default)]
struct Table {
    entries: HashMap<RawFd, Entry>,
    next_generation: u64,
}

pub(crate) struct Registry {
    table: Mutex<Table>,
    waiting: AtomicBool,
    pub(crate) notify: EventFd,
    /// Test hook: runs once, after a wait has built its list and before
    /// the system call.
    #[cfg(test)]
    pub(crate) after_build: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("table", &self.table)
            .field("waiting", &self.waiting)
            .finish()
    }
}

impl Registry {
    pub(crate) fn new() -> io::Result<Registry> {
        Ok(Registry {
            table: Mutex::new(Table::default()),
            waiting: AtomicBool::new(false),
            notify: EventFd::new()?,
            #[cfg(test)]
            after_build: Mutex::new(None),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes a marked wait so it rebuilds its list from the table. Called
    /// after every change, once the table lock is released.
    fn changed(&self) {
        if self.waiting.load(SeqCst) {
            let _ = self.notify.notify();
        }
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table();
        if table.entries.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let generation = table.next_generation;
        table.next_generation += 1;
        table.entries.insert(
            fd,
            Entry {
                token,
                read: interest.is_readable(),
                write: interest.is_writable(),
                generation,
            },
        );
        drop(table);
        self.changed();
        Ok(())
    }

    /// Replaces the token and the armed directions.
    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table();
        let slot = table
            .entries
            .get_mut(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        slot.token = token;
        slot.read = interest.is_readable();
        slot.write = interest.is_writable();
        drop(table);
        self.changed();
        Ok(())
    }

    /// Arms the directions in `interest` in addition to those already
    /// armed; never disarms. `ENOENT` if `fd` is not registered under `token`.
    pub(crate) fn rearm(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut table = self.table();
        let slot = table
            .entries
            .get_mut(&fd)
            .filter(|e| e.token == token)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        let read = interest.is_readable() && !slot.read;
        let write = interest.is_writable() && !slot.write;
        slot.read |= read;
        slot.write |= write;
        drop(table);
        if read || write {
            self.changed();
        }
        Ok(())
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let removed = self.table().entries.remove(&fd);
        match removed {
            Some(_) => {
                // The wait may hold the file open (see the module docs).
                self.changed();
                Ok(())
            }
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        }
    }

    /// Marks a wait as started: from now on every change wakes it. Call
    /// before [`for_each_armed`](Self::for_each_armed) builds the list.
    pub(crate) fn begin_wait(&self) {
        self.waiting.store(true, SeqCst);
    }

    /// Marks the wait as over, once the system call has returned.
    pub(crate) fn end_wait(&self) {
        self.waiting.store(false, SeqCst);
    }

    /// Calls `f` for each descriptor with at least one armed direction.
    pub(crate) fn for_each_armed(&self, mut f: impl FnMut(RawFd, Entry)) {
        for (&fd, &e) in self.table().entries.iter() {
            if e.read || e.write {
                f(fd, e);
            }
        }
    }

    /// Called by a wait between building its list and the system call; in
    /// tests it runs (once) the `after_build` hook, otherwise it does nothing.
    pub(crate) fn list_built(&self) {
        #[cfg(test)]
        {
            let hook = self
                .after_build
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(hook) = hook {
                hook();
            }
        }
    }

    /// Turns what the kernel saw into an event for the directions that are
    /// still armed, and disarms them. `None` if nothing armed was seen, or
    /// if the registration the list was built from (`generation`) has been
    /// deleted or replaced meanwhile.
    pub(crate) fn report(&self, fd: RawFd, generation: u64, seen: Seen) -> Option<Event> {
        let mut table = self.table();
        let e = table
            .entries
            .get_mut(&fd)
            .filter(|e| e.generation == generation)?;
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
