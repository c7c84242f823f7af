//! The IO driver: turns readiness events from the poller into task wake-ups.
//!
//! Opening the poller, and choosing its backend, is in `backend.rs`; the
//! per-descriptor state and the IO loops are in `registration.rs`, the
//! readiness word they share with `dispatch` in `readiness.rs`.
//!
//! Each registered file descriptor has a [`ScheduledIo`]: its readiness bits
//! and one waker slot per direction. The descriptor is added to epoll once,
//! edge-triggered, for both directions, with the address of its
//! `ScheduledIo` as the token. When `epoll_wait` reports it, [`dispatch`]
//! sets the readiness bits and wakes the reader and/or the writer:
//!
//! ```text
//!  epoll_wait -> Event{token} -> ScheduledIo{readiness |= READABLE}
//!            -> reader waker -> task SCHEDULED -> run queue -> poll_read
//! ```
//!
//! A `ScheduledIo` is freed when its [`Registration`] drops. On the runtime's
//! own thread that is immediate: events are dispatched in one go between
//! task polls, so no event for it can be waiting. From another thread the
//! free is deferred (see below).
//!
//! # Registrations dropped on another thread
//!
//! Such a drop deletes the descriptor from the poller and closes it at
//! once, but two things are left for the runtime's thread:
//!
//! * freeing the `ScheduledIo`: the runtime may be dispatching a batch of
//!   events that names it right now;
//! * on io_uring, submitting the cancellation of the descriptor's poll
//!   request, which holds the file open until then (only the waiting thread
//!   may enter the ring; the reactor queues the cancel and wakes a sleeping
//!   waiter to submit it). Any wait does it, a zero-timeout one included.
//!
//! The executor skips the poller in a zero-timeout turn when no descriptor
//! is registered, so a dropped registration keeps counting as registered
//! until it is freed, and it is freed only in the *second* turn after the
//! drop ([`IoShared::release_pending`] ages it one turn first). The first
//! turn that *starts* after the drop therefore still calls the poller,
//! which submits the cancel: a busy runtime whose last socket is dropped on
//! another thread still closes it within one turn.
//!
//! # When the runtime shuts down first
//!
//! A socket may outlive its runtime (moved out of `block_on`, or kept by
//! another runtime's task). No event will ever reach it again, so waiting
//! on it would hang forever. [`IoShared`] therefore keeps the set of live
//! registrations (`live`); at shutdown ([`IoShared::shutdown`]) each one is
//! deleted from the poller (which on io_uring lets go of the file), gets
//! the `SHUTDOWN` readiness bit, and has its wakers woken. Every IO
//! operation that finds the bit fails at once with a clear error instead of
//! waiting; a child's exit watcher moves its pidfd to the current runtime.
//!
//! The same lock decides where a dropped registration's `ScheduledIo`
//! goes: after shutdown nothing will ever dispatch events again, so it is
//! freed at once. (Queued for a turn that never comes, its stored wakers,
//! which can hold tasks that hold the runtime's shared half, would keep the
//! whole runtime alive in a reference cycle.)

mod backend;
mod io_loop;
mod readiness;
mod registration;

pub(crate) use backend::open_poller;
pub use backend::BackendFallback;
pub(crate) use readiness::{ERROR, READABLE, READ_CLOSED, WRITABLE, WRITE_CLOSED};
pub(crate) use registration::{
    registered_after_shutdown, Direction, ReadyEvent, Registration, ScheduledIo, WaitSlot, Waiter,
};

use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard};

use slab::Slab;
use spindle_reactor::{Event, Poller};

use spindle_sync::wake_list::WakeList;

/// The thread-safe part of the IO driver, kept in the runtime's `Shared`.
pub(crate) struct IoShared {
    pub(crate) poller: Poller,
    /// Live registrations, plus those dropped on another thread that are
    /// not freed yet (see the module docs).
    registrations: AtomicUsize,
    released: Mutex<Released>,
    /// `released` holds something.
    has_pending: AtomicBool,
    /// Every registration not yet dropped (see "When the runtime shuts
    /// down first").
    live: Mutex<Live>,
}

/// The live registrations, and whether the runtime has shut down.
#[derive(Default)]
struct Live {
    shut_down: bool,
    entries: Slab<LiveEntry>,
}

/// One live registration: its `ScheduledIo` and descriptor.
struct LiveEntry {
    io: NonNull<ScheduledIo>,
    fd: RawFd,
}

// SAFETY: the pointer is only dereferenced under the `live` lock, while the
// entry is in the set, and a `ScheduledIo` is freed only after its entry
// left the set (`deregister`). `ScheduledIo` itself is `Sync`.
unsafe impl Send for LiveEntry {}

/// `ScheduledIo`s of registrations dropped on other threads, on their way
/// to being freed. Boxed on purpose: the address is the poller token and
/// must not move.
#[derive(Default)]
#[allow(clippy::vec_box)]
struct Released {
    /// Dropped since the last turn.
    fresh: Vec<Box<ScheduledIo>>,
    /// Dropped before the last turn: every wait from the next turn on
    /// started after their drop.
    aged: Vec<Box<ScheduledIo>>,
}

impl IoShared {
    pub(crate) fn new(poller: Poller) -> IoShared {
        IoShared {
            poller,
            registrations: AtomicUsize::new(0),
            released: Mutex::new(Released::default()),
            has_pending: AtomicBool::new(false),
            live: Mutex::new(Live::default()),
        }
    }

    fn live(&self) -> MutexGuard<'_, Live> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the runtime has shut down: nothing may be registered any
    /// more.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.live().shut_down
    }

    /// Adds a registration to the live set; fails once the runtime has
    /// shut down.
    fn register(&self, io: NonNull<ScheduledIo>, fd: RawFd) -> io::Result<usize> {
        let mut live = self.live();
        if live.shut_down {
            return Err(registration::registered_after_shutdown());
        }
        Ok(live.entries.insert(LiveEntry { io, fd }))
    }

    /// Takes a dropped registration out of the live set and frees its
    /// `ScheduledIo`: at once on the runtime's own thread or after
    /// shutdown, else through `released`.
    fn deregister(&self, key: usize, io: Box<ScheduledIo>, on_owner_thread: bool) {
        let mut live = self.live();
        live.entries.remove(key);
        if live.shut_down || on_owner_thread {
            drop(live);
            self.registrations.fetch_sub(1, SeqCst);
            drop(io);
        } else {
            // Under the `live` lock, so `shutdown` (which sets `shut_down`
            // under it before freeing `released`) cannot miss it.
            self.defer_release(io);
        }
    }

    /// The runtime is shutting down: every live registration leaves the
    /// poller, is marked `SHUTDOWN` and has its waiters woken, and every
    /// `ScheduledIo` still waiting in `released` is freed.
    pub(crate) fn shutdown(&self) {
        let mut wakers = WakeList::new();
        let mut live = self.live();
        live.shut_down = true;
        for (_, entry) in live.entries.iter() {
            // SAFETY: the entry is in the set, so its `Registration` has not
            // finished dropping (it leaves the set in `deregister`, after its
            // own `delete`), and the IO type that owns the descriptor closes
            // it only after the registration is dropped: it is still open.
            let fd = unsafe { BorrowedFd::borrow_raw(entry.fd) };
            // Only fails if the kernel already forgot the descriptor.
            let _ = self.poller.delete(fd);
            // SAFETY: the entry is in the set, so its ScheduledIo is alive
            // (see `LiveEntry`).
            unsafe { entry.io.as_ref() }.shut_down(&mut wakers);
        }
        drop(live);
        wakers.wake_all();
        let released =
            std::mem::take(&mut *self.released.lock().unwrap_or_else(|e| e.into_inner()));
        self.has_pending.store(false, SeqCst);
        self.registrations
            .fetch_sub(released.fresh.len() + released.aged.len(), SeqCst);
        drop(released);
    }

    /// Whether a wait could have something to do: a registered descriptor,
    /// or a dropped one whose removal may still need the poller.
    pub(crate) fn has_registrations(&self) -> bool {
        self.registrations.load(SeqCst) != 0
    }

    /// Called once per turn, after the events are dispatched: frees the
    /// `ScheduledIo`s dropped off-thread before the previous turn, and ages
    /// those dropped since.
    pub(crate) fn release_pending(&self) {
        if !self.has_pending.load(SeqCst) {
            return;
        }
        let mut released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = std::mem::take(&mut released.fresh);
        let free = std::mem::replace(&mut released.aged, fresh);
        self.has_pending.store(!released.aged.is_empty(), SeqCst);
        drop(released);
        self.registrations.fetch_sub(free.len(), SeqCst);
        drop(free);
    }

    fn defer_release(&self, io: Box<ScheduledIo>) {
        let mut released = self.released.lock().unwrap_or_else(|e| e.into_inner());
        released.fresh.push(io);
        self.has_pending.store(true, SeqCst);
    }
}

/// Applies one readiness event to its `ScheduledIo` and wakes its waiters.
///
/// # Safety
/// The event's token must be the address of a live `ScheduledIo`.
pub(crate) unsafe fn dispatch(event: &Event) {
    // SAFETY: the caller guarantees the token is a live ScheduledIo's address.
    let io = unsafe { &*(event.token().0 as *const ScheduledIo) };
    io.set_readiness(event);
}
