//! One turn of the reactor ([`Local::turn`]): wait on the poller (or just
//! look, with a zero timeout), dispatch the readiness events to the wakers
//! of the IO they name, and fire the timers that are due.
//!
//! ```text
//!   insert timers queued by other threads
//!   maybe spin briefly for a short blocking job's result
//!   maybe look again briefly for another process's answer (reply_spin.rs)
//!   before_park (if it may block) -> look at the queues once more
//!   uring turn: submit queued operations, complete finished ones
//!   poller.wait(timeout: next timer, or zero)
//!     (epoll with uring operations in flight: sleep in the ring instead,
//!      watching epoll through it; then epoll_wait(0) if epoll fired)
//!   after_park -> uring turn -> dispatch events -> (test clock: jump to the next timer) -> fire due timers
//!   free registrations dropped on other threads -> apply remote timer cancels
//! ```
//!
//! Why `before_park` must come before the last look at the queues is the
//! handshake explained in `park.rs`; why dropped registrations are freed
//! only here is explained in the module docs of `driver`.
//!
//! Time is the runtime's clock (`shared.clock`), not the system's: with
//! the test clock paused, a turn that may block but finds nothing to do
//! waits with a zero timeout and then *jumps* the clock to the next timer
//! instead of sleeping until it (auto-advance; `time/clock.rs`). Not while
//! a `spawn_blocking` job is in flight: that is work in progress.

use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use spindle_reactor::Events;

use crate::driver;

use super::{context, reply_spin, Local};

impl Local {
    /// One turn of the reactor: wait for IO (or not), fire due timers.
    pub(super) fn turn(&self, may_block: bool) {
        let shared = &*self.shared;
        self.insert_remote_timers();
        let now = shared.clock.now();
        let mut timeout = if may_block {
            self.timers.borrow().next_timeout(now)
        } else {
            Some(Duration::ZERO)
        };
        // Test clock: rather than wait for the next timer, look for IO and
        // jump to the timer if nothing turns up (decided after the events).
        let mut jump_to = None;
        if let Some(wait) = timeout.filter(|w| may_block && !w.is_zero()) {
            if shared.clock.is_paused() && !shared.blocking.has_jobs_in_flight() {
                jump_to = Some(now + wait);
                timeout = Some(Duration::ZERO);
            }
        }
        // Not on a worker: the pool is the whole runtime's, so a job in
        // flight is as likely another worker's, and a worker's results come
        // back through the group's injection queue, not this one.
        if may_block && self.worker.is_none() && shared.blocking.expects_result_soon() {
            // A short blocking job is running: its result will arrive through
            // the injection queue in a moment. Watching for it briefly (not
            // yet marked parked, so the pool thread need not write the
            // eventfd) beats a sleep in the poller and a wake-up.
            let until = Instant::now() + crate::blocking::SPIN;
            while shared.inject.is_empty()
                && !shared.main_woken.load(SeqCst)
                && Instant::now() < until
            {
                std::hint::spin_loop();
            }
            shared
                .blocking
                .spin_result(!shared.inject.is_empty() || shared.main_woken.load(SeqCst));
        }
        let uring = shared.uring.get();
        // A task awaits another process's answer: look for it a moment
        // before sleeping (reply_spin.rs). A request counts for this turn
        // only. Not past a timer, not with the test clock paused, not on a
        // worker, not on a runtime that uses spindle::uring (its queued
        // operations are submitted only further down).
        let requested = self.reply_spin.take();
        let spin = requested
            && may_block
            && jump_to.is_none()
            && self.worker.is_none()
            && uring.is_none()
            && timeout.is_none_or(|t| t > reply_spin::SPIN);
        let spun = spin
            && self.reply_spin.spin(|| {
                self.wait_on_poller(&mut self.events.borrow_mut(), Some(Duration::ZERO));
                !self.events.borrow().is_empty()
                    || !shared.inject.is_empty()
                    || shared.main_woken.load(SeqCst)
                    || shared.has_timer_inserts.load(SeqCst)
            });
        if spun {
            // The last look's events are this turn's; no sleep.
            timeout = Some(Duration::ZERO);
        } else if spin {
            // The spin took time (one yield may have lasted a time slice):
            // the next timer is nearer now.
            timeout = self.timers.borrow().next_timeout(shared.clock.now());
        }
        let may_block = may_block && !spun;
        if may_block {
            shared.parker.before_park();
            // A `block_in_place` stand-in leaves this thread's own injection
            // queue (pinned tasks woken from elsewhere) to the worker's own
            // thread: what waits there is no reason for it not to sleep.
            let inject_waits = !shared.inject.is_empty() && !context::is_stand_in();
            if inject_waits
                || shared.main_woken.load(SeqCst)
                || shared.has_timer_inserts.load(SeqCst)
            {
                timeout = Some(Duration::ZERO);
            }
        }
        // spindle::uring: submit the operations queued since the last turn,
        // and hand back those completed; a task woken here must run first.
        // (Not when the thread is about to sleep in the ring: that wait's
        // own `io_uring_enter` submits too, and returns at once if
        // anything completes.)
        let ring_wait = timeout != Some(Duration::ZERO) && uring.is_some_and(|r| r.waits_in_ring());
        if !ring_wait && uring.is_some_and(|ring| ring.turn()) {
            timeout = Some(Duration::ZERO);
        }
        let mut events = self.events.borrow_mut();
        // Completion IO in flight on an epoll runtime: sleep in the ring,
        // which watches epoll too, and collect epoll's events only if it
        // has some (uring/driver.rs, "Sleeping"). A full buffer last time
        // may have left events behind without a new wake-up: look anyway.
        let poll_epoll = if ring_wait {
            let left_behind = events.len() >= events.capacity();
            let fired = uring.is_some_and(|r| r.wait(timeout));
            timeout = Some(Duration::ZERO);
            fired || left_behind
        } else {
            // With no descriptor registered there is nothing a zero wait
            // could report, so skip the system call.
            timeout != Some(Duration::ZERO) || shared.io.has_registrations()
        };
        if spun {
            // `events` holds what the spin's last look found.
        } else if poll_epoll {
            self.wait_on_poller(&mut events, timeout);
        } else {
            events.clear();
        }
        if may_block {
            // Awake again before the events wake anything: a wake from here
            // on needs no eventfd write (the loop looks at its queues before
            // it sleeps again).
            shared.parker.after_park();
        }
        if let Some(ring) = uring.filter(|_| !ring_wait) {
            // Completions that arrived during the wait (their eventfd woke it).
            ring.turn();
        }
        for event in events.iter() {
            // SAFETY: every token we register is a live ScheduledIo; a
            // ScheduledIo is only freed off the event path (see driver).
            unsafe { driver::dispatch(event) };
        }
        drop(events);
        if let Some(deadline) = jump_to {
            // Nothing woken by IO or other threads meanwhile: the runtime is
            // idle, and the next thing to happen is that timer.
            let idle = self.run_queue.borrow().is_empty()
                && shared.inject.is_empty()
                && !shared.main_woken.load(SeqCst)
                && !shared.has_timer_inserts.load(SeqCst);
            if idle {
                shared.clock.advance_to(deadline);
            }
        }
        self.fire_timers();
        // Not on an io_uring stand-in: registrations dropped meanwhile wait
        // for the ring's own thread, whose next wait submits their deletes.
        if !context::is_ring_stand_in(shared) {
            shared.io.release_pending();
        }
        if shared.has_timer_cancels.swap(false, SeqCst) {
            let keys = std::mem::take(
                &mut *shared
                    .timer_cancels
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            let mut timers = self.timers.borrow_mut();
            for key in keys {
                timers.remove(key);
            }
        }
    }

    /// One wait on the poller (for at most `timeout`; `None`: no limit).
    ///
    /// A `block_in_place` stand-in on an io_uring poller may not wait on
    /// the ring (one thread takes its waits, the worker's own): it sleeps
    /// until a notify or its deadline instead, and the worker's sockets'
    /// events wait for the worker's thread to come back.
    fn wait_on_poller(&self, events: &mut Events, timeout: Option<Duration>) {
        let io = &self.shared.io;
        if context::is_ring_stand_in(&self.shared) {
            events.clear();
            if timeout == Some(Duration::ZERO) {
                return;
            }
            if let Err(e) = io.poller.wait_for_notify(timeout) {
                panic!("spindle: a block_in_place stand-in's sleep failed: {e}");
            }
            return;
        }
        if let Err(e) = io.poller.wait(events, timeout) {
            panic!(
                "spindle: waiting on the {} poller failed: {e}",
                io.poller.backend()
            );
        }
    }

    /// Puts the timers queued by other threads into the wheel.
    fn insert_remote_timers(&self) {
        if !self.shared.has_timer_inserts.swap(false, SeqCst) {
            return;
        }
        let queued = match &mut *self
            .shared
            .timer_inserts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            Some(list) => std::mem::take(list),
            None => return,
        };
        let now = self.shared.clock.now();
        for timer in queued {
            if timer.deadline <= now {
                timer.fire();
                continue;
            }
            let Some(waker) = timer.wheel_waker() else {
                continue; // its Sleep let go already
            };
            let mut timers = self.timers.borrow_mut();
            let key = timers.insert(timer.deadline, &waker);
            let fired = timers.poll(key, &waker);
            if fired || !timer.set_key(key) {
                timers.remove(key);
            }
            drop(timers);
            if fired {
                timer.fire();
            }
        }
    }

    /// Wakes every timer that is due, reusing one buffer of wakers.
    fn fire_timers(&self) {
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        let now = self.shared.clock.now();
        self.timers.borrow_mut().advance(now, &mut fired);
        for waker in fired.drain(..) {
            waker.wake();
        }
        *self.fired.borrow_mut() = fired;
    }
}
