//! loom model checks of the runtime's core hand-offs: the task state word,
//! `AtomicWaker`, the executor's park/unpark handshake, the multi-threaded
//! runtime's idle protocol (who sleeps, who searches, whom to wake) and the
//! IO driver's readiness word. Each model drives the real code through every
//! interleaving of a few threads (up to the preemption bound) and asserts
//! on the outcome.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-runtime --release --test core_loom
//! ```
//!
//! # How the core code sees loom
//!
//! loom is a dev-dependency, so the library itself never links it. This
//! test crate compiles the few source files it models directly: a `#[path]`
//! on an inline module points it at a source directory, and the files named
//! inside are the real ones. Being a `test` build with `--cfg loom`, they
//! pick loom's atomics (and `UnsafeCell`, which checks that no two threads
//! touch the cell without ordering between them) through their
//! `cfg(all(loom, test))` switches: `task/loom.rs`, and the import lines of
//! `executor/park.rs` and `driver/readiness.rs`. Those files have no other
//! crate-internal dependencies, so nothing needs stubbing.
//!
//! What the models stand in for (the parts of the runtime around the real
//! code) is small and said at each model: a counter of queue entries for
//! the run and injection queues, a counting waker, and a mutex-and-condvar
//! counter for the poller's eventfd. Without `--cfg loom` this file is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

#[path = "../src/task"]
mod task {
    pub(crate) mod atomic_waker;
    mod loom;
    pub(crate) mod state;

    pub(crate) use loom::UnsafeCell;
}

#[path = "../src/executor"]
mod executor {
    #[path = "multi_thread/idle.rs"]
    pub(crate) mod idle;
    pub(crate) mod park;
}

#[path = "../src/driver"]
mod driver {
    pub(crate) mod readiness;
}

#[path = "core_loom/idle_models.rs"]
mod idle_models;
#[path = "core_loom/park_models.rs"]
mod park_models;
#[path = "core_loom/support.rs"]
mod support;
#[path = "core_loom/waker_models.rs"]
mod waker_models;

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;

use driver::readiness::{Readiness, READABLE, READ_CLOSED, WRITABLE};
use support::{model, Tracked};
use task::state::{
    DropJoin, RefDec, SetJoinWaker, State, ToCancelled, ToComplete, ToCompleteReleasing, ToIdle,
    ToNotified, ToRunning, UnsetJoinWaker,
};
use task::UnsafeCell;

// ---------------------------------------------------------------------------
// The task state word
// ---------------------------------------------------------------------------

/// The parts of a task allocation the state word guards: the future, the
/// output, and counters of what happened to them. The cells are loom's, so
/// a touch of the future or output that is not ordered after the state
/// transition granting it fails the model.
struct ModelTask {
    state: State,
    future: UnsafeCell<Option<Tracked>>,
    output: UnsafeCell<Option<Tracked>>,
    future_drops: Arc<AtomicUsize>,
    output_drops: Arc<AtomicUsize>,
    /// Queue entries holding the task (the run queue and the injection
    /// queue together); each holds one reference.
    queued: AtomicUsize,
    /// Polls, and whether each saw the event a waker published.
    polls: AtomicUsize,
    last_poll_saw_event: AtomicBool,
    /// The event a waker publishes before it wakes the task.
    event: AtomicBool,
    /// How many times a reference drop reported "last one".
    freed: AtomicUsize,
    /// The `JoinHandle`'s waker slot (the header's `join_waker`), guarded
    /// by JOIN_WAKER: loom's cell fails the model on an unordered touch.
    join_waker: UnsafeCell<Option<std::task::Waker>>,
}

impl ModelTask {
    /// A freshly spawned task: scheduled (one queue entry), with a
    /// `JoinHandle` and a task-list reference.
    fn spawn() -> ModelTask {
        let future_drops = Arc::new(AtomicUsize::new(0));
        let output_drops = Arc::new(AtomicUsize::new(0));
        ModelTask {
            state: State::new(),
            future: UnsafeCell::new(Some(Tracked(future_drops.clone()))),
            output: UnsafeCell::new(None),
            future_drops,
            output_drops,
            queued: AtomicUsize::new(1),
            polls: AtomicUsize::new(0),
            last_poll_saw_event: AtomicBool::new(false),
            event: AtomicBool::new(false),
            freed: AtomicUsize::new(0),
            join_waker: UnsafeCell::new(None),
        }
    }

    /// Puts one queue entry (with the reference it holds) in the queue. A
    /// task is never in a queue twice.
    fn enqueue(&self) {
        let before = self.queued.fetch_add(1, SeqCst);
        assert_eq!(before, 0, "a task was queued twice");
    }

    fn drop_refs(&self, n: usize) {
        if self.state.ref_dec_by(n) == RefDec::Dealloc {
            self.freed.fetch_add(1, SeqCst);
        }
    }

    /// A waker on another thread: publish the event, then wake (`Waker::wake`
    /// of a task: `transition_to_notified`, and a queue push if it says so).
    ///
    /// The event is written and read with read-modify-writes, as by every
    /// event source in the runtime (a lock, a channel's state word, an
    /// `AtomicWaker` registered before the re-check). That matters: a wake
    /// that finds the task already SCHEDULED writes nothing to the state
    /// word, so the state word alone does not order a plain event store
    /// before the coming poll's plain load.
    fn wake(&self) {
        self.event.swap(true, SeqCst);
        if self.state.transition_to_notified() == ToNotified::Enqueue {
            self.enqueue();
        }
    }

    /// `JoinHandle::abort`.
    fn abort(&self) {
        if self.state.transition_to_cancelled() == ToCancelled::Enqueue {
            self.enqueue();
        }
    }

    /// `JoinHandle`'s drop: give up the join interest, drop the output if
    /// the task already completed, drop the handle's reference (the same
    /// steps as `Drop for JoinHandle`).
    fn drop_join_handle(&self) {
        let snapshot = self.state.join_snapshot();
        let slot_is_ours = if snapshot.complete || !snapshot.join_waker {
            !snapshot.join_waker
        } else {
            self.state.unset_join_waker() == UnsetJoinWaker::Unset
        };
        if slot_is_ours {
            self.join_waker.with_mut(|w| drop(unsafe { (*w).take() }));
        }
        if snapshot.complete {
            self.output.with_mut(|out| drop(unsafe { (*out).take() }));
            if self.state.release_completed_join() == RefDec::Dealloc {
                self.freed.fetch_add(1, SeqCst);
            }
            return;
        }
        match self.state.drop_join_handle() {
            DropJoin::Released => {}
            DropJoin::Dealloc => {
                self.freed.fetch_add(1, SeqCst);
            }
            DropJoin::DropOutputThenRef => {
                self.output.with_mut(|out| drop(unsafe { (*out).take() }));
                self.drop_refs(1);
            }
        }
    }

    /// `JoinHandle::poll`: if the task has not completed, store `waker`
    /// and record it (JOIN_WAKER). True if the output may be read now.
    fn poll_join_handle(&self, waker: &std::task::Waker) -> bool {
        let snapshot = self.state.join_snapshot();
        if snapshot.complete {
            return true;
        }
        if snapshot.join_waker {
            let same = self
                .join_waker
                .with(|w| unsafe { (*w).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                return false;
            }
            if self.state.unset_join_waker() == UnsetJoinWaker::Complete {
                return true;
            }
        }
        self.join_waker
            .with_mut(|w| unsafe { *w = Some(waker.clone()) });
        self.state.set_join_waker() == SetJoinWaker::Complete
    }

    /// `Header::wake_join_handle`: after a completion that saw JOIN_WAKER.
    fn wake_join_handle(&self) {
        self.join_waker.with(|w| {
            if let Some(w) = unsafe { &*w } {
                w.wake_by_ref();
            }
        });
        self.state.unset_join_waker_after_complete();
    }

    /// Reads the output after `poll_join_handle` said so.
    fn take_output(&self) -> bool {
        self.output
            .with_mut(|out| unsafe { (*out).take() })
            .is_some()
    }

    /// The future finished (returned Ready, or was cancelled): store the
    /// output and publish it, as `Local::complete` (`complete_releasing`):
    /// the run-queue entry's reference and the task-list reference go in the
    /// completing transition itself when the handle is not waiting.
    fn complete(&self) {
        self.output
            .with_mut(|out| unsafe { *out = Some(Tracked(self.output_drops.clone())) });
        match self.state.transition_to_complete_releasing(2) {
            ToCompleteReleasing::Released => return,
            // No JoinHandle: the output is the executor's to drop.
            ToCompleteReleasing::DropOutput => {
                self.output.with_mut(|out| drop(unsafe { (*out).take() }))
            }
            ToCompleteReleasing::NotifyJoinHandle => self.wake_join_handle(),
        }
        self.drop_refs(2);
    }

    /// The same through `publish_completion` (shutdown and the blocking
    /// pool): COMPLETE first, the references after.
    fn complete_then_release(&self) {
        self.output
            .with_mut(|out| unsafe { *out = Some(Tracked(self.output_drops.clone())) });
        match self.state.transition_to_complete() {
            ToComplete::DropOutput => self.output.with_mut(|out| drop(unsafe { (*out).take() })),
            ToComplete::NotifyJoinHandle => self.wake_join_handle(),
            ToComplete::KeepOutput => {}
        }
        self.drop_refs(2);
    }

    /// `Local::run` on one queue entry. `ready` says whether this poll
    /// completes the future.
    fn run_one(&self, ready: bool) {
        let before = self.queued.fetch_sub(1, SeqCst);
        assert!(before > 0, "ran a task that was not queued");
        match self.state.transition_to_running() {
            ToRunning::Done => return self.drop_refs(1),
            ToRunning::Cancel => return self.cancel(),
            ToRunning::Poll => {}
        }
        self.future.with(|f| {
            assert!(
                unsafe { (*f).is_some() },
                "polled after the future was dropped"
            )
        });
        self.polls.fetch_add(1, SeqCst);
        self.last_poll_saw_event
            .store(self.event.fetch_or(false, SeqCst), SeqCst);
        if ready {
            self.future.with_mut(|f| drop(unsafe { (*f).take() }));
            return self.complete();
        }
        match self.state.transition_to_idle() {
            ToIdle::Idle => self.drop_refs(1),
            // The entry (and its reference) goes back in the queue.
            ToIdle::Requeue => self.enqueue(),
            ToIdle::Cancel => self.cancel(),
        }
    }

    /// Drops the future of a cancelled task and completes it.
    fn cancel(&self) {
        self.future.with_mut(|f| {
            let future = unsafe { (*f).take() };
            assert!(future.is_some(), "a future was cancelled twice");
        });
        self.complete();
    }

    /// Runs queue entries until there are none (after the racing threads
    /// are joined).
    fn drain(&self) {
        while self.queued.load(SeqCst) > 0 {
            self.run_one(false);
        }
    }
}

#[test]
fn join_handle_drop_races_completion() {
    // The executor completes the task while the JoinHandle is dropped on
    // another thread: the output is dropped exactly once, by whichever side
    // comes second (the JoinHandle if the task was complete when it gave up
    // interest, else the executor), and the allocation is freed once.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let handle = {
            let task = task.clone();
            thread::spawn(move || task.drop_join_handle())
        };
        task.run_one(true);
        handle.join().unwrap();
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.future_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn join_handle_wait_races_completion() {
    // A JoinHandle polled on another thread (store the waker, then set
    // JOIN_WAKER) while the executor completes the task (which reads
    // JOIN_WAKER in the CAS that sets COMPLETE, and wakes only if set).
    // Whatever the order the handle gets the output: at its poll, or after
    // exactly one wake of the waker it stored; never neither (a lost
    // wake-up), and the output is read once, after it was written.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let woken = support::CountingWaker::new();
        let handle = {
            let task = task.clone();
            let waker = woken.waker();
            thread::spawn(move || {
                let ready = task.poll_join_handle(&waker);
                if ready {
                    assert!(task.take_output(), "complete, but no output");
                }
                ready
            })
        };
        task.run_one(true);
        let ready_at_poll = handle.join().unwrap();
        if ready_at_poll {
            assert_eq!(woken.wakes(), 0, "woken although it took the output");
        } else {
            assert_eq!(woken.wakes(), 1, "completion lost the wake-up");
            assert!(task.poll_join_handle(&woken.waker()));
            assert!(task.take_output());
        }
        task.drop_join_handle();
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn join_handle_changing_its_waker_races_completion() {
    // The handle waited once (its first waker is stored, JOIN_WAKER set)
    // and is polled again with another waker while the task completes. The
    // handle must take the slot back (clear the bit) before writing it,
    // which fails once COMPLETE is set: loom's cell catches a write that
    // races completion's read. The handle ends with the output: at the
    // second poll, or after a wake of the second waker; if completion
    // came first it may have woken the first one instead, and then the
    // second poll saw COMPLETE.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let first = support::CountingWaker::new();
        let second = support::CountingWaker::new();
        assert!(!task.poll_join_handle(&first.waker()));
        let handle = {
            let task = task.clone();
            let waker = second.waker();
            thread::spawn(move || {
                let ready = task.poll_join_handle(&waker);
                if ready {
                    assert!(task.take_output(), "complete, but no output");
                }
                ready
            })
        };
        task.run_one(true);
        let ready = handle.join().unwrap();
        if !ready {
            assert_eq!(second.wakes(), 1, "the second waker was never woken");
            assert_eq!(first.wakes(), 0);
            assert!(task.poll_join_handle(&second.waker()));
            assert!(task.take_output());
        }
        task.drop_join_handle();
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn join_handle_drop_races_completion_through_publish_completion() {
    // As `join_handle_drop_races_completion`, for the path that sets
    // COMPLETE before dropping the executor's references.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let handle = {
            let task = task.clone();
            thread::spawn(move || task.drop_join_handle())
        };
        let _ = task.queued.fetch_sub(1, SeqCst);
        assert_eq!(task.state.transition_to_running(), ToRunning::Poll);
        task.future.with_mut(|f| drop(unsafe { (*f).take() }));
        task.complete_then_release();
        handle.join().unwrap();
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.future_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn wake_during_poll_is_never_lost() {
    // A waker publishes an event and wakes the task while the executor may
    // be polling it. The last poll must see the event (else the wake-up was
    // lost), the task is never queued twice (checked in `enqueue`), and a
    // wake that lands while RUNNING causes exactly one more poll.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        // A waker cloned during an earlier poll, holding its own reference
        // (`Waker::clone` takes one while the executor holds another).
        task.state.ref_inc();
        let waker = {
            let task = task.clone();
            thread::spawn(move || {
                task.wake();
                task.drop_refs(1);
            })
        };
        task.run_one(false);
        waker.join().unwrap();
        task.drain();
        assert!(task.last_poll_saw_event.load(SeqCst), "wake-up lost");
        let polls = task.polls.load(SeqCst);
        assert!((1..=2).contains(&polls), "{polls} polls");
        // The handle and the task list still hold the task.
        assert_eq!(task.freed.load(SeqCst), 0);
        task.drop_join_handle();
        task.drop_refs(1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn abort_races_poll_and_wake() {
    // abort() (then the JoinHandle's drop) on one thread, a wake on
    // another, while the executor polls the task. Whatever the order: the
    // future is dropped exactly once and never polled after that (asserted
    // in `run_one`), the cancelled output is dropped exactly once, the task
    // ends COMPLETE, and the allocation is freed exactly once.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let aborter = {
            let task = task.clone();
            thread::spawn(move || {
                task.abort();
                task.drop_join_handle();
            })
        };
        task.state.ref_inc();
        let waker = {
            let task = task.clone();
            thread::spawn(move || {
                task.wake();
                task.drop_refs(1);
            })
        };
        task.run_one(false);
        aborter.join().unwrap();
        waker.join().unwrap();
        task.drain();
        assert!(task.state.is_complete());
        assert_eq!(task.future_drops.load(SeqCst), 1);
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
        assert!(task.polls.load(SeqCst) <= 2);
    });
}

#[test]
fn shutdown_abort_races_a_wake_and_a_drain() {
    // A multi-threaded runtime's drop (`multi_thread/abort.rs`): the first
    // worker to see it aborts an idle task and, when the abort made a queue
    // entry, runs that entry at once; meanwhile a wake from another thread
    // queues the task on a worker whose drain flags the entry it popped and
    // runs it. Whatever the order: the future is dropped exactly once and
    // never polled again, nothing stays queued, the cancelled output is
    // dropped once and the allocation freed once.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        task.run_one(false); // polled once: idle, no queue entry
        task.state.ref_inc(); // the waker's reference
        let aborter = {
            let task = task.clone();
            thread::spawn(move || {
                if task.state.transition_to_cancelled() == ToCancelled::Enqueue {
                    task.enqueue();
                    task.run_one(false);
                }
            })
        };
        let drainer = {
            let task = task.clone();
            thread::spawn(move || {
                task.event.swap(true, SeqCst);
                if task.state.transition_to_notified() == ToNotified::Enqueue {
                    task.enqueue();
                    // The drain holds the entry: the abort only flags it.
                    let flagged = task.state.transition_to_cancelled();
                    assert!(flagged != ToCancelled::Enqueue);
                    task.run_one(false);
                }
                task.drop_refs(1);
            })
        };
        aborter.join().unwrap();
        drainer.join().unwrap();
        assert_eq!(task.queued.load(SeqCst), 0, "an entry was left queued");
        assert!(task.state.is_complete());
        assert_eq!(task.polls.load(SeqCst), 1, "polled after the abort");
        assert_eq!(task.future_drops.load(SeqCst), 1);
        task.drop_join_handle();
        assert_eq!(task.output_drops.load(SeqCst), 1);
        assert_eq!(task.freed.load(SeqCst), 1);
    });
}

#[test]
fn refcount_reaches_zero_exactly_once_after_every_use() {
    // Three holders drop their references concurrently (one clones and
    // drops a waker first). Exactly one sees the count reach zero, and its
    // "free" (a write to the cell) is ordered after every other holder's
    // last read of the task, or loom reports the race.
    model(|| {
        let task = Arc::new(ModelTask::spawn());
        let last_user = |task: &ModelTask, n: usize| {
            task.future.with(|f| assert!(unsafe { (*f).is_some() }));
            if task.state.ref_dec_by(n) == RefDec::Dealloc {
                task.freed.fetch_add(1, SeqCst);
                task.future.with_mut(|f| drop(unsafe { (*f).take() }));
            }
        };
        let a = {
            let task = task.clone();
            thread::spawn(move || {
                task.state.ref_inc();
                last_user(&task, 1);
                last_user(&task, 1);
            })
        };
        let b = {
            let task = task.clone();
            thread::spawn(move || last_user(&task, 1))
        };
        last_user(&task, 1);
        a.join().unwrap();
        b.join().unwrap();
        assert_eq!(task.freed.load(SeqCst), 1);
        assert_eq!(task.future_drops.load(SeqCst), 1);
    });
}

// ---------------------------------------------------------------------------
// The driver's readiness word
// ---------------------------------------------------------------------------

#[test]
fn clear_keeps_readiness_that_arrived_after_the_snapshot() {
    // An IO operation snapshots READABLE, gets WouldBlock and clears what it
    // saw, while the driver reports a new readable edge. If the snapshot was
    // taken before the new edge, the readiness must survive the clear (the
    // failed call may not have seen the new data); if after, the clear wins.
    model(|| {
        let readiness = Arc::new(Readiness::new());
        readiness.set(READABLE);
        let first = readiness.snapshot(READABLE).unwrap();
        let driver = {
            let readiness = readiness.clone();
            thread::spawn(move || readiness.set(READABLE | WRITABLE))
        };
        let seen = readiness.snapshot(READABLE).unwrap();
        let cleared = readiness.clear(seen);
        driver.join().unwrap();
        let now = readiness.snapshot(READABLE);
        if seen == first {
            // The snapshot missed the new edge (the clear itself may have
            // come before or after it).
            assert!(now.is_some(), "readiness that arrived later was erased");
        } else {
            // The snapshot saw the new edge; nothing came after it.
            assert!(cleared.is_some() && now.is_none());
        }
        // The other direction is never touched by a read's clear.
        assert!(readiness.snapshot(WRITABLE).is_some());
    });
}

#[test]
fn clears_race_a_closed_edge() {
    // Two operations clear the same snapshot while the driver reports a
    // read-closed edge. The edge arrived after the snapshot, so neither
    // clear may erase it: READABLE from it survives, and READ_CLOSED is
    // final (a clear never removes it, even one that wins).
    model(|| {
        let readiness = Arc::new(Readiness::new());
        readiness.set(READABLE);
        let seen = readiness.snapshot(READABLE).unwrap();
        let driver = {
            let readiness = readiness.clone();
            thread::spawn(move || readiness.set(READABLE | READ_CLOSED))
        };
        let other = {
            let readiness = readiness.clone();
            thread::spawn(move || readiness.clear(seen))
        };
        let mine = readiness.clear(seen);
        driver.join().unwrap();
        let theirs = other.join().unwrap();
        // A clear that won left nothing readable behind it.
        for left in [mine, theirs].into_iter().flatten() {
            assert_eq!(left & (READABLE | READ_CLOSED), 0);
        }
        assert!(readiness.snapshot(READ_CLOSED).is_some());
        assert!(readiness.snapshot(READABLE).is_some());
    });
}
