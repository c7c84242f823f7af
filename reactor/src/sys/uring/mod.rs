//! The io_uring backend: readiness from multishot poll requests, built on the
//! raw system calls and the rings they share with the kernel (`abi.rs`).
//!
//! # The rings
//!
//! `io_uring_setup` creates two ring buffers in memory mapped into both the
//! kernel and this process. We write requests (SQEs) into the submission
//! ring and move its tail; the kernel writes results (CQEs) into the
//! completion ring and moves that tail; `io_uring_enter` tells the kernel how
//! many new requests there are and, optionally, waits for completions.
//!
//! # Readiness through multishot poll
//!
//! Each registration is one `POLL_ADD` request with the multishot flag: it
//! stays armed and posts a completion every time the descriptor's readiness
//! changes (edge-triggered, like `EPOLLET`). `modify` replaces the request,
//! `delete` cancels it (see below). `add` and `modify` only queue requests
//! (into a side list if the ring is full); the next `wait` submits the whole
//! batch in the same `io_uring_enter` that waits for completions, so a loop
//! turn costs one system call however many registrations changed, and only
//! the waiting thread ever enters the ring. A request queued by another
//! thread while the waiter sleeps wakes it through the notifier (as a
//! `delete` does, below): a socket registered on a blocking-pool thread must
//! be armed now, not whenever something else happens to wake the loop.
//!
//! Every request carries a fresh 64-bit id, never reused. A completion whose
//! id is no longer in the table (its registration was deleted, and the
//! cancellation or a last event is still in flight) is dropped, so a stale
//! completion can never be mistaken for a newer registration.
//!
//! # Deleting: the poll request holds the file
//!
//! An armed poll request holds its own reference to the file. Closing the
//! descriptor does not close the file while the request lives: a socket's
//! peer sees no end of stream, a child reading a pipe never sees end of
//! input. So a deleted registration's request must be gone *before* the
//! caller's `close`, or very soon after, whatever the waiting thread is
//! doing: running tasks without a wait for a long time, or asleep in one.
//!
//! `delete` queues an `ASYNC_CANCEL` for the request. (`POLL_REMOVE` fails
//! with `EALREADY` while a wake-up of the request is being delivered, and
//! would have to be retried; a cancel marks the request so that whoever
//! owns it at that moment completes it.) The cancelled request lets go of
//! its file in the completion work that follows, which with
//! `DEFER_TASKRUN` runs only in an `io_uring_enter` with GETEVENTS on the
//! waiting thread. Then:
//!
//! * on the waiting thread (where a runtime drops most of its sockets),
//!   `delete` submits at once: one `io_uring_enter` that submits everything
//!   queued and runs that work, as `epoll_ctl(DEL)` costs one system call;
//! * from any other thread, which may not enter the ring, it wakes the
//!   waiter through the notifier if it is asleep. A waiter woken this way
//!   submits what was queued during its sleep before it returns. If the
//!   waiter is not asleep, its next wait (a zero-timeout one included)
//!   submits it; the owner must keep waiting while deletes are pending.
//!
//! Every `io_uring_enter` that submits also asks for GETEVENTS (with no
//! minimum), so completion work caused by the submission runs in the same
//! call.
//!
//! # Completion ring overflow
//!
//! If completions arrive faster than they are reaped, the completion ring
//! fills and the kernel keeps the rest in an overflow list, flagged by
//! `IORING_SQ_CQ_OVERFLOW` in the submission ring's flags word. They move
//! into the ring only during an `io_uring_enter` with GETEVENTS, so a wait
//! that sees the flag enters even when it has nothing to submit and must
//! not block. (A multishot request whose event did not fit is ended by the
//! kernel; its last completion is in that list, and `reap` arms a new
//! request when it finds it.)
//!
//! # Who turns a wake-up into a completion
//!
//! When a socket becomes readable, the kernel's wake-up runs on whichever
//! CPU delivered the data. io_uring does not post the completion there: it
//! queues *completion work* for the ring's thread. How that work reaches
//! our thread decides what a request costs:
//!
//! * plain rings interrupt the thread (an inter-processor interrupt) to
//!   run it at once: on a busy server that is one interrupt per event, and
//!   io_uring cost twice epoll's CPU per request;
//! * `COOP_TASKRUN` (Linux 5.19) runs it the next time the thread returns
//!   from any system call, so our `recv`/`send` calls pick it up;
//! * `DEFER_TASKRUN` (Linux 6.1) keeps it until the thread enters the ring
//!   to wait, and runs the whole batch there. Our loop enters once per turn
//!   anyway, so this is the cheapest: no interrupts, no work tacked on to
//!   other calls, and the sleeping thread is woken once per batch.
//!
//! We ask for the best the kernel has, in that order. `DEFER_TASKRUN`
//! requires `SINGLE_ISSUER`: one thread submits and waits. The ring is
//! created disabled and the first thread to `wait` enables it, becoming that
//! thread; `add`/`modify`/`delete` from other threads only write to the
//! shared ring memory, which is allowed. A later `wait` from another thread
//! fails with an error that says so (a spindle runtime never does that: it
//! waits on the thread that built it). The `TASKRUN_FLAG` word tells a
//! non-blocking `wait` when there is queued work worth a system call.

pub(crate) mod abi;
mod id_hash;
pub(crate) mod ring;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use self::abi::*;
use self::id_hash::BuildIdHasher;
use self::ring::{CqRing, Ring, SqQueue};
use super::event_from_poll_bits;
use super::eventfd::EventFd;
use crate::{Events, Interest, Token};

const ENTRIES: u32 = 1024;
/// The request id of the notifier's poll request.
const NOTIFY_ID: u64 = u64::MAX;
/// Set in the `user_data` of an `ASYNC_CANCEL`; the rest is the id it
/// cancels. Registration ids count up from 0 and never reach this bit.
const CANCEL_TAG: u64 = 1 << 62;
/// The set-ups to try, best first (see the module docs); a kernel that does
/// not know a flag refuses with `EINVAL` and we try the next.
const SETUPS: [u32; 3] = [
    IORING_SETUP_SINGLE_ISSUER
        | IORING_SETUP_DEFER_TASKRUN
        | IORING_SETUP_R_DISABLED
        | IORING_SETUP_TASKRUN_FLAG
        | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    0,
];

/// The submission side: only touched under `Poller::sq`.
struct Submission {
    queue: SqQueue,
    /// Created with R_DISABLED and not yet enabled by a first `wait`.
    disabled: bool,
    /// The thread that waits (`pthread_self` of the first `wait`), the only
    /// one that enters the ring; `None` before the first wait.
    waiter: Option<libc::pthread_t>,
    /// Registrations: request id -> (fd, token, poll mask), and fd -> id.
    by_id: HashMap<u64, (RawFd, Token, u32), BuildIdHasher>,
    by_fd: HashMap<RawFd, u64>,
    next_id: u64,
}

pub(crate) struct Poller {
    ring: OwnedFd,
    sq: Mutex<Submission>,
    /// Drained by one thread at a time.
    cq: Mutex<CqRing>,
    notify: EventFd,
    /// A `wait` is (about to be) asleep in the kernel: a `delete` from
    /// another thread must wake it. Set before the wait reads what to
    /// submit, so a request queued after that read always sees it.
    waiting: AtomicBool,
}

impl std::fmt::Debug for Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoUringPoller")
            .field("fd", &self.ring.as_raw_fd())
            .finish()
    }
}

/// This thread, as `Submission::waiter` names threads.
fn this_thread() -> libc::pthread_t {
    // SAFETY: pthread_self has no preconditions and cannot fail.
    unsafe { libc::pthread_self() }
}

impl Poller {
    pub(crate) fn new() -> io::Result<Poller> {
        Poller::with_entries(ENTRIES)
    }

    /// A poller whose submission ring holds `entries` requests (the kernel
    /// rounds up to a power of two) and completion ring twice that: small
    /// rings let tests fill them.
    pub(crate) fn with_entries(entries: u32) -> io::Result<Poller> {
        let needed = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS;
        let Ring {
            fd: ring,
            flags,
            sq: sq_ring,
            cq,
            ..
        } = Ring::new(entries, &SETUPS, needed)?;
        let mut sq = Submission {
            queue: SqQueue::new(sq_ring),
            disabled: flags & IORING_SETUP_R_DISABLED != 0,
            waiter: None,
            by_id: HashMap::default(),
            by_fd: HashMap::new(),
            next_id: 0,
        };
        let notify = EventFd::new()?;
        sq.push(poll_add(notify.fd(), libc::POLLIN as u32, NOTIFY_ID));
        Ok(Poller {
            ring,
            sq: Mutex::new(sq),
            cq: Mutex::new(cq),
            notify,
            waiting: AtomicBool::new(false),
        })
    }

    fn sq(&self) -> MutexGuard<'_, Submission> {
        self.sq.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if token == Token::NOTIFY {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Token(usize::MAX) is reserved for the poller's notifier",
            ));
        }
        let mut sq = self.sq();
        if sq.by_fd.contains_key(&fd) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let id = sq.next_id;
        sq.next_id += 1;
        let bits = mask(interest);
        sq.push(poll_add(fd, bits, id));
        sq.by_id.insert(id, (fd, token, bits));
        sq.by_fd.insert(fd, id);
        self.wake_waiter_for(sq)
    }

    pub(crate) fn modify(&self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        // The descriptor stays open, so the cancel need not hurry: the next
        // wait submits it together with the new request (which `add` makes
        // sure happens soon, from whatever thread this is).
        self.sq().cancel(fd)?;
        self.add(fd, token, interest)
    }

    pub(crate) fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut sq = self.sq();
        sq.cancel(fd)?;
        if sq.waiter.is_some_and(|w| w == this_thread()) {
            // The waiting thread: submit now. Should the kernel refuse, the
            // cancel stays queued and the next wait submits it, so the
            // deletion itself has happened either way.
            let _ = self.flush(&mut sq);
            return Ok(());
        }
        self.wake_waiter_for(sq)
    }

    /// After a request was queued: if this is not the waiting thread and
    /// the waiter is asleep, wakes it, so that it submits the request now.
    /// (Left queued, a new registration would not be armed, nor a deleted
    /// one's file let go, until something else woke the waiter: perhaps
    /// never.) The waiting thread itself needs nothing: its next wait
    /// submits.
    fn wake_waiter_for(&self, sq: MutexGuard<'_, Submission>) -> io::Result<()> {
        let waiter = sq.waiter;
        drop(sq);
        if waiter.is_some_and(|w| w == this_thread()) {
            return Ok(());
        }
        // SeqCst pairs with the store in `wait`: either the waiter's read of
        // the queue sees the request, or this load sees the waiter marked
        // and wakes it.
        if self.waiting.load(Ordering::SeqCst) {
            self.notify.notify()?;
        }
        Ok(())
    }

    pub(crate) fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.list.clear();
        let block = timeout != Some(Duration::ZERO);
        if block {
            self.waiting.store(true, Ordering::SeqCst);
        }
        let res = self.submit_and_wait(block, timeout);
        if block {
            self.waiting.store(false, Ordering::SeqCst);
            if res.is_ok() {
                // Cancels queued by other threads while we slept (they woke
                // us for this): submit them now, not at the next wait.
                self.flush(&mut self.sq())?;
            }
        }
        res?;
        self.reap(events);
        Ok(())
    }

    /// Submits what is queued and, if `block` and nothing is ready, sleeps
    /// until a completion arrives or `timeout` passes.
    fn submit_and_wait(&self, block: bool, timeout: Option<Duration>) -> io::Result<()> {
        // Usually one round; more only if requests overflowed the ring.
        loop {
            let (submit, flags, more) = {
                let mut sq = self.sq();
                if sq.disabled {
                    enable_rings(&self.ring)?;
                    sq.disabled = false;
                }
                if sq.waiter.is_none() {
                    sq.waiter = Some(this_thread());
                }
                sq.refill();
                let flags = sq.queue.ring().flags();
                (sq.unsubmitted(), flags, sq.queue.has_backlog())
            };
            let taskrun = flags & IORING_SQ_TASKRUN != 0;
            let cq_overflow = flags & IORING_SQ_CQ_OVERFLOW != 0;
            // Sleep only if there is nothing to reap and nothing left over.
            let sleep = block && !more && !cq_overflow && !self.has_completions();
            if submit > 0 || sleep || taskrun || cq_overflow {
                // GETEVENTS also when not sleeping: it runs pending
                // completion work, the work the submission itself causes,
                // and moves overflowed completions into the ring.
                let taken = enter(
                    &self.ring,
                    submit,
                    sleep as u32,
                    IORING_ENTER_GETEVENTS,
                    timeout.filter(|_| sleep),
                )?;
                if more && taken == 0 {
                    return Ok(()); // the kernel wants completions reaped first
                }
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// Submits everything queued, without waiting, and runs the completion
    /// work that follows (where a cancelled request lets go of its file).
    /// Only on the waiting thread, with the submission lock held.
    fn flush(&self, sq: &mut Submission) -> io::Result<()> {
        loop {
            sq.refill();
            let submit = sq.unsubmitted();
            if submit == 0 {
                return Ok(());
            }
            let taken = enter(&self.ring, submit, 0, IORING_ENTER_GETEVENTS, None)?;
            if taken == 0 || !sq.queue.has_backlog() {
                return Ok(());
            }
        }
    }

    /// Turns the completions in the ring into events (up to the capacity of
    /// `events`) and re-arms multishot requests the kernel ended.
    fn reap(&self, events: &mut Events) {
        let mut cq = self.cq.lock().unwrap_or_else(|e| e.into_inner());
        if !cq.has_entries() {
            return;
        }
        // One lock for the whole batch of completions; requests that must be
        // made again are queued for the next wait as we go.
        let mut sq = self.sq();
        cq.drain(|cqe| {
            if events.list.len() >= events.capacity {
                return false;
            }
            let ended = cqe.flags & IORING_CQE_F_MORE == 0;
            match cqe.user_data {
                NOTIFY_ID => {
                    self.notify.drain();
                    if ended {
                        sq.push(poll_add(self.notify.fd(), libc::POLLIN as u32, NOTIFY_ID));
                    }
                }
                data if data & CANCEL_TAG != 0 => {
                    // 0, or ENOENT if the request had already ended. A poll
                    // request is always cancelled (see "Deleting"), but
                    // should a kernel ever answer EALREADY, the request
                    // would stay armed and keep the file open: ask again.
                    if cqe.res == -libc::EALREADY {
                        sq.push(cancel(data & !CANCEL_TAG));
                    }
                }
                id => {
                    let Some(&(fd, token, bits)) = sq.by_id.get(&id) else {
                        return true; // deleted: a stale completion
                    };
                    if cqe.res < 0 {
                        // The request failed (say EBADF: the descriptor was
                        // closed before the request was submitted). Report
                        // an error so the owner's next call finds out why.
                        events
                            .list
                            .push(event_from_poll_bits(token, libc::POLLERR as u32));
                        return true;
                    }
                    events
                        .list
                        .push(event_from_poll_bits(token, cqe.res as u32));
                    if ended {
                        // The kernel ended the multishot request (say the
                        // completion ring overflowed): arm a new one.
                        sq.push(poll_add(fd, bits, id));
                    }
                }
            }
            true
        });
    }

    /// Whether completions are waiting to be reaped.
    fn has_completions(&self) -> bool {
        self.cq
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .has_entries()
    }

    pub(crate) fn notify(&self) -> io::Result<()> {
        self.notify.notify()
    }

    /// Waits for a notify only (see `Poller::wait_for_notify`).
    pub(crate) fn wait_for_notify(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.notify.wait(timeout)
    }
}

impl Submission {
    /// Forgets the registration of `fd` and queues the cancellation of its
    /// request.
    fn cancel(&mut self, fd: RawFd) -> io::Result<()> {
        let id = self
            .by_fd
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.by_id.remove(&id);
        self.push(cancel(id));
        Ok(())
    }

    /// Requests in the ring the kernel has not taken yet.
    fn unsubmitted(&self) -> u32 {
        self.queue.ring().unsubmitted()
    }

    /// Queues one request for the next `wait` to submit. Only poll requests
    /// and cancels pass through here, and they name no memory of ours (the
    /// descriptor and ids are numbers).
    fn push(&mut self, sqe: Sqe) {
        // SAFETY: see above: no pointers for the kernel to follow.
        unsafe { self.queue.push(sqe) }
    }

    /// Moves waiting requests into the ring as far as there is room.
    fn refill(&mut self) {
        self.queue.refill();
    }
}

fn poll_add(fd: RawFd, events: u32, id: u64) -> Sqe {
    Sqe {
        opcode: IORING_OP_POLL_ADD,
        fd,
        len: IORING_POLL_ADD_MULTI,
        op_flags: events,
        user_data: id,
        ..Sqe::default()
    }
}

fn cancel(id: u64) -> Sqe {
    Sqe {
        opcode: IORING_OP_ASYNC_CANCEL,
        fd: -1,
        addr: id,
        user_data: id | CANCEL_TAG,
        ..Sqe::default()
    }
}

fn mask(interest: Interest) -> u32 {
    let mut m = libc::POLLRDHUP as u32;
    if interest.is_readable() {
        m |= libc::POLLIN as u32;
    }
    if interest.is_writable() {
        m |= libc::POLLOUT as u32;
    }
    m
}
