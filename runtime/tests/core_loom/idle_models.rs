//! Models of the multi-threaded runtime's idle protocol
//! (`executor/multi_thread/idle.rs`): no work is left behind while every
//! worker goes to sleep.
//!
//! The workers below are `worker_loop`, `search` and `park` reduced to what
//! the protocol touches, calling the real `Idle`:
//!
//! * "work" is one atomic counter standing for every queue a searcher looks
//!   at (the workers' steal queues and the group's injection queue);
//! * a worker with nothing to run looks at the work, maybe becomes a
//!   searcher and looks again, then parks: `transition_to_parked`, and if
//!   it was the last searcher, one more look (notifying if it sees work);
//! * a notify is a flag per worker (`Group::notify_parked` sets the chosen
//!   worker's `main_woken` and writes its eventfd; a worker that wakes
//!   finds the work).
//!
//! The last model is of the hand-on rule in `Worker::found_work`: the
//! last searcher to find work wakes a sleeper only if more work waits, and
//! work published meanwhile must be seen by that look or wake by itself.
//!
//! The property: once every thread is done, if work was published then some
//! worker took it before sleeping, or some worker was notified. A work item
//! with every worker asleep and none notified would be a lost wake-up.

use std::sync::atomic::Ordering::{self, Acquire, Release, SeqCst};

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;

use crate::executor::idle::Idle;
use crate::support::model;

struct World {
    idle: Idle,
    work: AtomicUsize,
    taken: AtomicBool,
    woken: [AtomicBool; 2],
}

impl World {
    fn new() -> Arc<World> {
        Arc::new(World {
            idle: Idle::new(2),
            work: AtomicUsize::new(0),
            taken: AtomicBool::new(false),
            woken: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    fn notify(&self) {
        if let Some(w) = self.idle.worker_to_notify() {
            self.woken[w].store(true, SeqCst);
        }
    }

    /// A worker that has run out of tasks: look, search (if allowed), look
    /// again, park. `look` is the ordering of its looks at the work.
    fn go_idle(&self, worker: usize, look: Ordering) {
        if self.work.load(look) > 0 {
            self.taken.store(true, SeqCst);
            return;
        }
        let searching = self.idle.transition_to_searching();
        if searching && self.work.load(look) > 0 {
            self.taken.store(true, SeqCst);
            // The model publishes one item, and this worker took it: the
            // last searcher hands on only if work remains (`found_work`).
            let _last = self.idle.transition_from_searching();
            return;
        }
        let last = self.idle.transition_to_parked(worker, searching);
        if last && self.work.load(look) > 0 {
            self.notify();
        }
    }

    fn check(&self) {
        if self.work.load(SeqCst) > 0 {
            assert!(
                self.taken.load(SeqCst) || self.woken[0].load(SeqCst) || self.woken[1].load(SeqCst),
                "work was published, every worker slept, and none was woken"
            );
        }
    }
}

#[test]
fn work_from_outside_while_both_workers_go_idle_wakes_one() {
    model(|| {
        let world = World::new();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let world = world.clone();
                thread::spawn(move || world.go_idle(w, SeqCst))
            })
            .collect();
        // Another thread: push to the injection queue, then notify.
        // A queue push: a (release) store of the tail, not a read-modify-write.
        world.work.store(1, SeqCst);
        world.notify();
        for w in workers {
            w.join().unwrap();
        }
        world.check();
    });
}

#[test]
fn the_last_searcher_going_to_sleep_sees_work_or_is_seen() {
    model(|| {
        let world = World::new();
        // Worker 1 is asleep already; worker 0 runs out of tasks while
        // another thread publishes work.
        assert!(!world.idle.transition_to_parked(1, false));
        let searcher = {
            let world = world.clone();
            thread::spawn(move || world.go_idle(0, SeqCst))
        };
        // A queue push: a (release) store of the tail, not a read-modify-write.
        world.work.store(1, SeqCst);
        world.notify();
        searcher.join().unwrap();
        world.check();
    });
}

#[test]
fn the_last_searcher_to_find_work_sees_more_work_or_its_pusher_wakes() {
    model(|| {
        let world = World::new();
        // Worker 1 sleeps; worker 0 searches and finds one task, while
        // another thread publishes a second.
        assert!(!world.idle.transition_to_parked(1, false));
        assert!(world.idle.transition_to_searching());
        let second = Arc::new(AtomicBool::new(false));
        let searcher = {
            let (world, second) = (world.clone(), second.clone());
            thread::spawn(move || {
                // It took the first task; its queue look for more is the
                // flag (`has_stealable_work`).
                if world.idle.transition_from_searching() && second.load(SeqCst) {
                    world.notify();
                }
            })
        };
        // A queue push: a (release) store of the tail, then the pusher's
        // own notify (`Worker::push_back`, `Group::schedule`).
        second.store(true, SeqCst);
        world.notify();
        searcher.join().unwrap();
        // Worker 0 runs the first task: the second needs worker 1 awake.
        assert!(
            world.woken[1].load(SeqCst),
            "a second task waits while worker 1 sleeps and nobody woke it"
        );
        assert!(
            !world.woken[0].load(SeqCst),
            "worker 0 is awake: not a sleeper"
        );
    });
}

/// The publish as the queues really make it: a Release store of the tail,
/// which the searchers' looks read with Acquire loads, and a pusher that
/// notifies only when `should_notify` says nobody searches and somebody
/// sleeps (`Worker::push_back`). No fence: the SeqCst read-modify-writes of
/// the idle word, the pusher's and the parking searcher's, order the two
/// sides on their own.
#[test]
fn a_release_publish_that_asks_should_notify_is_seen_or_wakes() {
    model(|| {
        let world = World::new();
        let workers: Vec<_> = (0..2)
            .map(|w| {
                let world = world.clone();
                thread::spawn(move || world.go_idle(w, Acquire))
            })
            .collect();
        world.work.store(1, Release);
        if world.idle.should_notify() {
            world.notify();
        }
        for w in workers {
            w.join().unwrap();
        }
        world.check();
    });
}
