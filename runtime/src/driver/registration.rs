//! [`Registration`]: one file descriptor known to the reactor, and
//! [`ScheduledIo`]: the readiness and wakers the reactor updates for it.
//!
//! # Readiness and the tick
//!
//! `ScheduledIo::readiness` packs the ready bits with a counter (the tick)
//! that the driver bumps on every event. An IO operation reads the bits,
//! tries the system call, and on `WouldBlock` clears the bits it saw, but
//! only if the tick is unchanged: if an event arrived in between, the newer
//! readiness must not be thrown away. That word and its operations are in
//! `readiness.rs`.
//!
//! # Re-arming on the level-triggered backends
//!
//! On poll and select the reactor disarms a direction when it reports it
//! (see `Poller::is_edge_triggered`). Whoever clears a direction's readiness
//! after `WouldBlock` therefore re-arms that direction, with
//! `Poller::rearm`, which only adds to the armed set and never takes a
//! direction out. Two tasks on two threads that clear and re-arm the two
//! directions of one socket at the same moment may reach the poller in
//! either order; each arms only its own direction, so neither can undo the
//! other. (Computing a whole armed set from a snapshot of the readiness
//! and replacing the poller's with `modify` could: the later call could
//! carry the older snapshot and switch off the direction just re-armed,
//! leaving its task waiting forever.)
//!
//! # Waiting
//!
//! Every wait goes through one method, `poll_ready_with`, which keeps the
//! waker either in the direction's one slot (`poll_*` methods) or in the
//! caller's own entry of a waiter list (futures of `&self` methods). The IO
//! operations built on it (`poll_io`, `try_io`, ...) are in `io_loop.rs`.
//!
//! # Waking without the lock
//!
//! `set_readiness` clones the wakers of the waiter list under its lock and
//! calls them after unlocking (in a `spindle_sync::wake_list::WakeList`), as
//! the rule of spindle-sync's `wait_list.rs` says: a
//! wake may run any code, a waker that drops another waiter of this very
//! registration (which takes the same lock) included.

use std::future::poll_fn;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};

use slab::Slab;

use spindle_reactor::{Event, Interest, Token};

use crate::coop;
use crate::executor::{context, Shared};
use crate::task::AtomicWaker;
use spindle_sync::wake_list::WakeList;

use super::readiness::{
    self, Readiness, ERROR, READABLE, READ_CLOSED, SHUTDOWN, WRITABLE, WRITE_CLOSED,
};

/// Which half of a descriptor an operation waits on.
///
/// `Read` and `Write` are what the IO operations use. `Both` and `Error`
/// serve `ready(Interest)` (on sockets and `io::AsyncFd`): `Both` is ready
/// when either half is, `Error` only when an error is pending (or the
/// runtime is gone). The read and write masks already include `ERROR`, so
/// these four cover every combination of `io::Interest`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
    Both,
    Error,
}

impl Direction {
    pub(crate) fn mask(self) -> usize {
        const READ: usize = READABLE | READ_CLOSED | ERROR | SHUTDOWN;
        const WRITE: usize = WRITABLE | WRITE_CLOSED | ERROR | SHUTDOWN;
        match self {
            Direction::Read => READ,
            Direction::Write => WRITE,
            Direction::Both => READ | WRITE,
            Direction::Error => ERROR | SHUTDOWN,
        }
    }
}

/// A snapshot of one direction's readiness, to clear exactly what was seen.
#[derive(Copy, Clone, Debug)]
pub(crate) struct ReadyEvent {
    seen: readiness::ReadyEvent,
    /// The direction it was taken for: the one re-armed when it is cleared.
    dir: Direction,
}

impl ReadyEvent {
    /// The registration's runtime has shut down.
    pub(super) fn is_shutdown(&self) -> bool {
        self.seen.ready() & SHUTDOWN != 0
    }

    /// The readiness bits seen (the constants of `driver::readiness`).
    pub(crate) fn ready_bits(&self) -> usize {
        self.seen.ready()
    }

    /// The same snapshot keeping only the bits in `bits`: clearing it then
    /// forgets just those (for `AsyncFdReadyGuard::clear_ready_matching`).
    pub(crate) fn retain(self, bits: usize) -> ReadyEvent {
        ReadyEvent {
            seen: self.seen.retain(bits),
            dir: self.dir,
        }
    }
}

/// The error of registering anything (a socket, a child process) with a
/// runtime that has shut down: this thread entered it through a `Handle`
/// that outlived it.
pub(crate) fn registered_after_shutdown() -> io::Error {
    io::Error::other(
        "the spindle runtime has shut down: nothing can be registered with it any more \
         (this thread entered it through a Handle that outlived it)",
    )
}

/// The error of an IO operation on a descriptor whose runtime has shut down.
pub(crate) fn runtime_gone() -> io::Error {
    io::Error::other(
        "the spindle runtime this IO object was registered with has shut down; \
         create IO objects inside the runtime that uses them",
    )
}

/// Readiness and waiters of one registered descriptor.
///
/// Two kinds of waiter. The `poll_*` methods (behind `AsyncRead`,
/// `AsyncWrite`, `poll_accept`) have nowhere to keep state between polls, so
/// each direction has one slot, `reader` / `writer`, lock-free: the last
/// poller of a direction is the one woken, as in tokio. The `&self` async
/// methods (`readable()`, `accept()`, `recv_from()`, ...) may be awaited by
/// any number of tasks at once; each of their futures owns an entry in
/// `waiters` and removes it when it completes or is dropped.
pub(crate) struct ScheduledIo {
    readiness: Readiness,
    reader: AtomicWaker,
    writer: AtomicWaker,
    waiters: Mutex<Slab<(Direction, Waker)>>,
    /// Entries in `waiters`, so the driver skips the lock when there are none.
    waiting: AtomicUsize,
}

impl ScheduledIo {
    /// The single waker slot of `dir`. `Both` and `Error` have no slot of
    /// their own: a `poll_*` wait on them registers in both (see
    /// `poll_ready_with`).
    fn waker(&self, dir: Direction) -> &AtomicWaker {
        match dir {
            Direction::Read => &self.reader,
            Direction::Write | Direction::Both | Direction::Error => &self.writer,
        }
    }

    /// Marks the descriptor's runtime as gone and collects every waker, to
    /// be woken once the caller has released its lock.
    pub(crate) fn shut_down(&self, wakers: &mut WakeList) {
        self.readiness.set(SHUTDOWN);
        wakers.push(self.reader.take());
        wakers.push(self.writer.take());
        let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for (_, (_, waker)) in waiters.iter() {
            wakers.push(Some(waker.clone()));
        }
    }

    /// Called by the driver for each event.
    pub(crate) fn set_readiness(&self, event: &Event) {
        let mut bits = 0;
        if event.is_readable() {
            bits |= READABLE;
        }
        if event.is_writable() {
            bits |= WRITABLE;
        }
        if event.is_read_closed() {
            bits |= READ_CLOSED;
        }
        if event.is_write_closed() {
            bits |= WRITE_CLOSED;
        }
        if event.is_error() {
            bits |= ERROR;
        }
        // SeqCst inside: pairs with the waiter's `waiting` increment and
        // re-check in `poll_ready_with`: one of the two sees the other.
        self.readiness.set(bits);
        if bits & Direction::Read.mask() != 0 {
            self.reader.wake_by_ref();
        }
        if bits & Direction::Write.mask() != 0 {
            self.writer.wake_by_ref();
        }
        if self.waiting.load(SeqCst) > 0 {
            let mut wakers = WakeList::new();
            let waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            for (_, (dir, waker)) in waiters.iter() {
                if bits & dir.mask() != 0 {
                    wakers.push(Some(waker.clone()));
                }
            }
            drop(waiters);
            // Outside the lock: see "Waking without the lock".
            wakers.wake_all();
        }
    }

    pub(super) fn snapshot(&self, dir: Direction) -> Option<ReadyEvent> {
        self.readiness
            .snapshot(dir.mask())
            .map(|seen| ReadyEvent { seen, dir })
    }
}

/// A file descriptor registered with the current runtime's reactor.
///
/// Drop it before closing the descriptor: dropping removes the descriptor
/// from epoll. IO types keep the registration as a field declared before the
/// owned descriptor, so field drop order does this for them.
pub(crate) struct Registration {
    shared: Arc<Shared>,
    io: NonNull<ScheduledIo>,
    fd: RawFd,
    interest: Interest,
    /// This registration's entry in the driver's live set.
    live_key: usize,
}

// SAFETY: `ScheduledIo` is all atomics; the pointer is owned by this
// registration and freed only in Drop.
unsafe impl Send for Registration {}
// SAFETY: as above; every method takes `&self` and uses atomics.
unsafe impl Sync for Registration {}

impl Registration {
    /// Registers `fd` with the reactor of the runtime running on this
    /// thread (on a multi-threaded runtime's `block_on` thread: a worker's;
    /// see `context::current_io_shared`).
    pub(crate) fn new(fd: RawFd, interest: Interest) -> io::Result<Registration> {
        let shared = context::current_io_shared().ok_or_else(|| {
            io::Error::other(
                "spindle IO objects must be created inside a runtime (in block_on, a task, \
                 a spawn_blocking closure or under Handle::enter)",
            )
        })?;
        Registration::with_shared(shared, fd, interest)
    }

    pub(crate) fn with_shared(
        shared: Arc<Shared>,
        fd: RawFd,
        interest: Interest,
    ) -> io::Result<Registration> {
        let io = Box::new(ScheduledIo {
            readiness: Readiness::new(),
            reader: AtomicWaker::new(),
            writer: AtomicWaker::new(),
            waiters: Mutex::new(Slab::new()),
            waiting: AtomicUsize::new(0),
        });
        let io = NonNull::from(Box::leak(io));
        let token = Token(io.as_ptr() as usize);
        let live_key = match shared.io.register(io, fd) {
            Ok(key) => key,
            Err(e) => {
                // SAFETY: never shared with anyone; we still own it.
                drop(unsafe { Box::from_raw(io.as_ptr()) });
                return Err(e);
            }
        };
        shared.io.registrations.fetch_add(1, SeqCst);
        if let Err(e) = shared.io.poller.add(fd, token, interest) {
            // Not through Drop: its `delete` would remove whatever else is
            // registered under `fd` (the usual cause of this error, EEXIST).
            // SAFETY: never shared with the kernel; we still own it.
            let io = unsafe { Box::from_raw(io.as_ptr()) };
            shared.io.deregister(live_key, io, true);
            return Err(e);
        }
        Ok(Registration {
            shared,
            io,
            fd,
            interest,
            live_key,
        })
    }

    /// True if this registration is with the runtime `shared` (for a
    /// descriptor that keeps one registration per runtime using it).
    #[cfg(feature = "process-pool")]
    pub(crate) fn is_with(&self, shared: &Arc<Shared>) -> bool {
        Arc::ptr_eq(&self.shared, shared)
    }

    /// True once the runtime this registration is with has shut down: no
    /// readiness will ever reach it again.
    #[cfg(feature = "process-pool")]
    pub(crate) fn runtime_is_gone(&self) -> bool {
        self.io()
            .snapshot(Direction::Error)
            .is_some_and(|ev| ev.is_shutdown())
    }

    pub(super) fn io(&self) -> &ScheduledIo {
        // SAFETY: owned by this registration until Drop.
        unsafe { self.io.as_ref() }
    }

    // -----------------------------------------------------------------
    // Waiting for readiness
    // -----------------------------------------------------------------

    /// Ready if `dir` is (believed) ready; otherwise stores the waker and
    /// returns `Pending` until the reactor reports readiness.
    ///
    /// Only a ready answer takes a unit of the task's cooperative budget.
    /// Fails if the runtime this descriptor is registered with has shut down.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_with(cx, dir, None)
    }

    /// Waits until `dir` is ready; any number of tasks may wait at once.
    /// Fails if the runtime this descriptor is registered with has shut down.
    pub(crate) async fn readiness(&self, dir: Direction) -> io::Result<ReadyEvent> {
        let mut slot = Waiter::new(self);
        poll_fn(|cx| self.poll_ready_with(cx, dir, Some(&mut slot.inner))).await
    }

    /// The one readiness wait behind every `poll_*`, `*_io` and
    /// `readiness` method. `waiter` says where the task's waker is kept
    /// while it waits (see [`ScheduledIo`]): `None`, the direction's single
    /// slot (the last poller is the one woken); `Some`, the caller's own
    /// entry in the waiter list (every waiter is woken), which it leaves
    /// once ready.
    ///
    /// Either way the waker is stored *before* readiness is looked at a
    /// second time, so an event between the two looks is not missed: it
    /// either shows in the second look or finds the waker. A ready answer
    /// fails if the runtime has shut down, and otherwise takes a unit of
    /// the cooperative budget (a `Pending` one does not: the task yields
    /// anyway).
    pub(super) fn poll_ready_with(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut waiter: Option<&mut WaitSlot>,
    ) -> Poll<io::Result<ReadyEvent>> {
        let io = self.io();
        let ev = match io.snapshot(dir) {
            Some(ev) => ev,
            None => {
                match waiter.as_deref_mut() {
                    // A wait on both halves (or on errors, which both
                    // halves report) takes both slots.
                    None if matches!(dir, Direction::Both | Direction::Error) => {
                        io.reader.register(cx.waker());
                        io.writer.register(cx.waker());
                    }
                    None => io.waker(dir).register(cx.waker()),
                    Some(slot) => self.join_waiters(cx, dir, slot),
                }
                // Re-check after announcing ourselves (see `set_readiness`).
                match io.snapshot(dir) {
                    Some(ev) => ev,
                    None => return Poll::Pending,
                }
            }
        };
        if let Some(slot) = waiter {
            self.leave(slot);
        }
        if ev.is_shutdown() {
            return Poll::Ready(Err(runtime_gone()));
        }
        ready!(coop::poll_proceed(cx));
        Poll::Ready(Ok(ev))
    }

    /// Puts the task's waker in `slot`'s entry of the waiter list, adding
    /// the entry on the first wait and refreshing its waker on later ones.
    fn join_waiters(&self, cx: &mut Context<'_>, dir: Direction, slot: &mut WaitSlot) {
        let io = self.io();
        let mut waiters = io.waiters.lock().unwrap_or_else(|e| e.into_inner());
        match slot.key {
            Some(key) => {
                let (_, w) = &mut waiters[key];
                if !w.will_wake(cx.waker()) {
                    *w = cx.waker().clone();
                }
            }
            None => {
                slot.key = Some(waiters.insert((dir, cx.waker().clone())));
                io.waiting.fetch_add(1, SeqCst);
            }
        }
    }

    /// Takes a waiter's entry out of the list.
    fn leave(&self, slot: &mut WaitSlot) {
        if let Some(key) = slot.key.take() {
            let io = self.io();
            io.waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(key);
            io.waiting.fetch_sub(1, SeqCst);
        }
    }

    /// Forgets the readiness in `event`, unless newer readiness has arrived.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        if self.io().readiness.clear(event.seen).is_some() {
            #[cfg(test)]
            tests::between_clear_and_rearm();
            self.rearm(event.dir);
        }
    }

    /// On the level-triggered backends (poll, select) a reported direction
    /// stays disarmed until we say it is worth watching again: now that its
    /// readiness is cleared. Only `dir` is armed, in addition to whatever is
    /// armed already (see "Re-arming on the level-triggered backends").
    /// Edge-triggered backends need nothing.
    fn rearm(&self, dir: Direction) {
        let poller = &self.shared.io.poller;
        if poller.is_edge_triggered() {
            return;
        }
        // `Both` re-arms both halves; `Error` too, since either half's
        // report carries the error on these backends.
        let read = matches!(dir, Direction::Read | Direction::Both | Direction::Error);
        let write = matches!(dir, Direction::Write | Direction::Both | Direction::Error);
        let armed = match (
            read && self.interest.is_readable(),
            write && self.interest.is_writable(),
        ) {
            (true, true) => Interest::BOTH,
            (true, false) => Interest::READABLE,
            (false, true) => Interest::WRITABLE,
            (false, false) => return,
        };
        let token = Token(self.io.as_ptr() as usize);
        // Fails only if the descriptor was already closed, and then no
        // event is owed for it.
        let _ = poller.rearm(self.borrow_fd(), token, armed);
    }

    /// The registered descriptor, borrowed for a poller call.
    fn borrow_fd(&self) -> BorrowedFd<'_> {
        // SAFETY: the IO type that created this registration owns the
        // descriptor and drops the registration before closing it (see the
        // type's docs), so the descriptor is open while `self` lives.
        unsafe { BorrowedFd::borrow_raw(self.fd) }
    }
}

/// A waiting future's entry in a registration's waiter list.
#[derive(Debug, Default)]
pub(crate) struct WaitSlot {
    key: Option<usize>,
}

/// A [`WaitSlot`] that leaves the list when dropped (a cancelled wait).
pub(crate) struct Waiter<'a> {
    registration: &'a Registration,
    pub(crate) inner: WaitSlot,
}

impl<'a> Waiter<'a> {
    /// An empty entry for a wait on `registration`.
    pub(crate) fn new(registration: &'a Registration) -> Waiter<'a> {
        Waiter {
            registration,
            inner: WaitSlot::default(),
        }
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        self.registration.leave(&mut self.inner);
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("fd", &self.fd)
            .finish()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The descriptor is still open (see the type's docs); an error here
        // only means the kernel already forgot it.
        let _ = self.shared.io.poller.delete(self.borrow_fd());
        // SAFETY: we own the allocation; nothing else frees it.
        let io = unsafe { Box::from_raw(self.io.as_ptr()) };
        // On the owner thread, events are dispatched in one batch between
        // task polls, so none can still name this ScheduledIo: it is freed
        // now. From another thread it is freed (and uncounted) by the
        // runtime's thread two turns on (see "Registrations dropped on
        // another thread" in driver/mod.rs), or now if the runtime is gone.
        // (A `block_in_place` stand-in on an io_uring poller does not count:
        // the ring's own thread, blocked, has yet to submit the delete.)
        let on_owner_thread = context::with_current(|local| {
            local.is_some_and(|l| Arc::ptr_eq(&l.shared, &self.shared))
        }) && !context::is_ring_stand_in(&self.shared);
        self.shared
            .io
            .deregister(self.live_key, io, on_owner_thread);
    }
}

#[cfg(test)]
#[path = "registration_tests.rs"]
mod tests;
