//! A turn of the completion ring: submit what is queued, run the kernel's
//! completion work, hand each result to its slot and wake its task; and
//! the runtime's sleep in the ring while operations are in flight.
//!
//! # Sleeping
//!
//! With operations in flight, where should the runtime's thread sleep? On
//! an epoll runtime (the default), in the ring: `io_uring_enter` waits for
//! a completion, and a multishot poll request on the epoll instance itself
//! wakes it too when any readiness event (or the runtime's own wake-up
//! eventfd, which lives in epoll) is waiting; the turn then collects those
//! with a zero-timeout `epoll_wait`. The kernel wakes a thread waiting in
//! the ring directly when a completion is ready.
//!
//! On the other backends (poll, select, the io_uring readiness backend),
//! which have no descriptor to watch, the runtime sleeps in its poller as
//! usual and the ring signals an eventfd registered with it. That works,
//! but Linux may delay such a signal (it defers the eventfd write to an
//! RCU callback in some contexts, about 15 ms on the machine we measured),
//! which is why epoll runtimes do not rely on it.
//!
//! The thread sleeps *without* the driver's lock: another thread that
//! queues an operation meanwhile writes it into the submission ring under
//! the lock and wakes the sleeper through epoll (`Shared::unpark`). The
//! sleeping enter submits only the requests it counted before it let go of
//! the lock; the kernel reads no further, so a request being written
//! meanwhile waits for the next enter.
//!
//! Under valgrind (3.19), `io_uring_enter` runs holding valgrind's own lock
//! on the program's threads: while one thread sleeps in the ring, no other
//! thread of the program runs, and a sleep that waits for one of them
//! never ends. So when valgrind's preload library is in `LD_PRELOAD`, each
//! sleep in the ring lasts at most a few milliseconds (`valgrind_slice`).

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::task::Waker;
use std::time::Duration;

use spindle_reactor::uring::*;

use super::{valgrind_slice, Driver, Inner, Slot, CANCEL_TAG, EPOLL_TAG};
use crate::sys::fd as sys_fd;

impl Driver {
    /// One step of the runtime's turn: submit what is queued, run the
    /// kernel's pending completion work, and wake the tasks whose
    /// operations completed. Only on the ring's own thread. Returns true if
    /// it woke a task (the runtime must then not sleep).
    pub(crate) fn turn(&self) -> bool {
        // First clear the eventfd if the poller reported it (a read only
        // then), so that any signal from here on is a new event. The
        // level-triggered backends stop watching a descriptor once they
        // reported it, until its owner saw `WouldBlock`: this re-arms it.
        self.drain_eventfd();
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            return false;
        }
        if crate::executor::context::is_stand_in() {
            // A `block_in_place` stand-in runs this loop for a while, but
            // only the ring's own thread may enter it (a single-issuer ring
            // refuses others; on any ring, requests die with the thread
            // that submitted them). The operations wait for the worker's
            // thread, as the io_uring backend's events do.
            return false;
        }
        let mut inner = self.lock();
        let res = self.enter(&mut inner, 0, None);
        if let Err(e) = res {
            panic!("spindle::uring: io_uring_enter failed: {e}");
        }
        self.complete(inner)
    }

    /// Moves the completions into their slots, then, with the lock
    /// released, frees what abandoned operations left and wakes the tasks.
    /// Returns whether it woke a task.
    pub(super) fn complete(&self, mut inner: MutexGuard<'_, Inner>) -> bool {
        let mut wakers = std::mem::take(&mut inner.wake_buf);
        let mut freed = Vec::new();
        self.reap(&mut inner, &mut wakers, &mut freed);
        drop(inner);
        drop(freed);
        let woke = !wakers.is_empty();
        for waker in wakers.drain(..) {
            waker.wake();
        }
        self.lock().wake_buf = wakers;
        woke
    }

    /// Whether the runtime's next sleep should be in the ring (see
    /// "Sleeping"): its poller is epoll, operations are in flight, and
    /// this is the ring's own thread.
    pub(crate) fn waits_in_ring(&self) -> bool {
        self.epoll.is_some()
            && self.in_flight.load(Ordering::SeqCst) > 0
            && !crate::executor::context::is_stand_in()
    }

    /// Sleeps in the ring until a completion arrives, the runtime's epoll
    /// instance has events (a socket of `spindle::net`, the runtime's own
    /// wake-up eventfd), or `timeout` passes; then hands back what
    /// completed, as [`turn`](Self::turn) does. Returns whether epoll has
    /// events to collect.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> bool {
        let Some(epoll) = self.epoll else {
            return false;
        };
        let mut inner = self.lock();
        if !inner.epoll_armed {
            // SAFETY: a poll request names no memory (the fd is a number).
            unsafe {
                inner.push(Sqe {
                    opcode: IORING_OP_POLL_ADD,
                    fd: epoll,
                    len: IORING_POLL_ADD_MULTI,
                    op_flags: libc::POLLIN as u32,
                    user_data: EPOLL_TAG,
                    ..Sqe::default()
                })
            };
            inner.epoll_armed = true;
        }
        if let Err(e) = self.enable(&mut inner) {
            panic!("{e}");
        }
        inner.sq.refill();
        let mut timeout = timeout;
        if inner.sq.has_backlog() {
            // More is queued than the ring holds: hand the kernel what it
            // will take first. What is still left (the kernel wants its
            // completions reaped) must not wait through a sleep: look
            // again at once.
            if let Err(e) = self.enter(&mut inner, 0, None) {
                panic!("spindle::uring: io_uring_enter failed: {e}");
            }
            if inner.sq.has_backlog() {
                timeout = Some(Duration::ZERO);
            }
        }
        let submit = inner.sq.ring().unsubmitted();
        // Sleep without the lock: another thread that queues an operation
        // meanwhile must be able to write it into the ring and wake us
        // (through epoll: `Shared::unpark`). The kernel takes only the
        // `submit` requests counted here, all written before; what others
        // write during the sleep goes with the next enter.
        drop(inner);
        let timeout = valgrind_slice(timeout);
        if let Err(e) = enter(&self.ring, submit, 1, IORING_ENTER_GETEVENTS, timeout) {
            panic!("spindle::uring: io_uring_enter failed: {e}");
        }
        self.complete(self.lock());
        // Kept set until a wait takes it: a turn that reaped the poll's
        // completion may not have looked at epoll after it.
        std::mem::take(&mut self.lock().epoll_fired)
    }

    /// Clears the eventfd's count and readiness, so a level-triggered
    /// poller (poll, select) does not keep reporting it.
    fn drain_eventfd(&self) {
        let Some(eventfd) = &self.eventfd else {
            return;
        };
        if let Some(reg) = &*self.registration.lock().unwrap_or_else(|e| e.into_inner()) {
            let _ = reg.try_io(crate::driver::Direction::Read, || {
                let mut count = [0u8; 8];
                sys_fd::read(eventfd.as_fd(), &mut count)?;
                // Report WouldBlock so the readiness is cleared: the next
                // signal is a new edge.
                Err::<(), _>(io::ErrorKind::WouldBlock.into())
            });
        }
    }

    /// Submits what is queued (enabling the ring on first use) and runs
    /// the completion work; with `wait`, sleeps for up to `timeout` until
    /// at least that many completions are posted.
    pub(super) fn enter(
        &self,
        inner: &mut Inner,
        wait: u32,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        self.enable(inner)?;
        loop {
            inner.sq.refill();
            let submit = inner.sq.ring().unsubmitted();
            let flags = inner.sq.ring().flags();
            let work = flags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW) != 0;
            if submit == 0 && !work && wait == 0 {
                return Ok(());
            }
            let taken = enter(&self.ring, submit, wait, IORING_ENTER_GETEVENTS, timeout)?;
            // Requests left over (ring was full): go again once the kernel
            // took some; if it took none it wants completions reaped first.
            if !inner.sq.has_backlog() || taken == 0 || wait > 0 {
                return Ok(());
            }
        }
    }

    /// Moves completions into their slots; collects the wakers to wake.
    /// Resources of abandoned operations the kernel is done with go to
    /// `freed`, to be dropped after the lock is released (a buffer's `Drop`
    /// is the user's code).
    pub(super) fn reap(&self, inner: &mut Inner, wakers: &mut Vec<Waker>, freed: &mut Vec<Slot>) {
        let in_flight = &self.in_flight;
        let Inner {
            cq,
            ops,
            epoll_armed,
            epoll_fired,
            ..
        } = inner;
        cq.drain(|cqe| {
            if cqe.user_data & CANCEL_TAG != 0 {
                return true; // the cancel's own answer: nothing to do
            }
            if cqe.user_data == EPOLL_TAG {
                *epoll_fired = true;
                if cqe.flags & IORING_CQE_F_MORE == 0 {
                    *epoll_armed = false; // ended: armed again by the next wait
                }
                return true;
            }
            let key = cqe.user_data as usize;
            match ops.get_mut(key) {
                Some(slot @ Slot::Waiting(_)) => {
                    let done = Slot::Done {
                        res: cqe.res,
                        flags: cqe.flags,
                    };
                    if let Slot::Waiting(Some(waker)) = std::mem::replace(slot, done) {
                        wakers.push(waker);
                    }
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                }
                Some(Slot::Multi {
                    waker,
                    queue,
                    ended,
                }) => {
                    queue.push_back((cqe.res, cqe.flags));
                    if cqe.flags & IORING_CQE_F_MORE == 0 {
                        *ended = true;
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    }
                    if let Some(waker) = waker.take() {
                        wakers.push(waker);
                    }
                }
                Some(Slot::Abandoned {
                    resources,
                    on_completion,
                }) => {
                    if let Some(hook) = on_completion {
                        hook(&mut **resources, cqe.res, cqe.flags);
                    }
                    if cqe.flags & IORING_CQE_F_MORE == 0 {
                        // The kernel is done with the resources: free them.
                        freed.push(ops.remove(key));
                        in_flight.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                _ => {}
            }
            true
        });
    }
}
