//! Models of the executor's park/unpark handshake (`executor/park.rs`).
//!
//! The loop below is `Local::block_on` and `Local::turn` reduced to what
//! the handshake touches, calling the real `Parker`:
//!
//! * the injection queue is its atomic length (`Inject::len`: pushes
//!   `fetch_add` it, the loop reads it with a `SeqCst` load);
//! * the poller's eventfd is a counter under a loom mutex, with a condvar
//!   to block on: `Shared::unpark` adds one when the `Parker` says so, and
//!   every wait of the loop reads it back to zero, as the backends drain
//!   the eventfd whenever a wait reports it;
//! * a blocking turn is `before_park`, a last look at the queue, a wait
//!   (blocking only if the queue is still empty), `after_park`;
//! * a busy turn (`turn(false)`, every `event_interval` polls) is a
//!   zero-timeout wait: it drains the eventfd but touches no flag.
//!
//! A lost wake-up leaves the loop blocked on the condvar with every other
//! thread finished: loom reports that as a deadlock and the model fails.

use std::sync::atomic::Ordering::SeqCst;

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;

use crate::executor::park::Parker;
use crate::support::model;

/// The poller's eventfd: a counter that wakes a blocked waiter.
struct EventFd {
    count: Mutex<usize>,
    readable: Condvar,
}

impl EventFd {
    fn notify(&self) {
        *self.count.lock().unwrap() += 1;
        self.readable.notify_one();
    }

    /// One wait in the poller. A blocking one returns when the eventfd is
    /// readable (the only event source in these models, besides `io_event`);
    /// either kind drains it.
    fn wait(&self, block: bool) {
        let mut count = self.count.lock().unwrap();
        while block && *count == 0 {
            count = self.readable.wait(count).unwrap();
        }
        *count = 0;
    }
}

/// The parts of `Shared` the handshake involves.
struct Runtime {
    /// The injection queue's length.
    queued: AtomicUsize,
    /// `Shared::main_woken`.
    main_woken: AtomicBool,
    parker: Parker,
    eventfd: EventFd,
}

impl Runtime {
    fn new() -> Arc<Runtime> {
        Arc::new(Runtime {
            queued: AtomicUsize::new(0),
            main_woken: AtomicBool::new(false),
            parker: Parker::new(),
            eventfd: EventFd {
                count: Mutex::new(0),
                readable: Condvar::new(),
            },
        })
    }

    /// `Shared::unpark`.
    fn unpark(&self) {
        if self.parker.unpark() {
            self.eventfd.notify();
        }
    }

    /// `Shared::schedule_remote`: push, then unpark.
    fn schedule_remote(&self) {
        self.queued.fetch_add(1, SeqCst);
        self.unpark();
    }

    /// `Shared::wake_main`: set the flag, then unpark.
    fn wake_main(&self) {
        // The real code stores; a swap here because loom 0.7 may let a later
        // RMW (the loop's `swap(false)`) read past a plain store that races
        // an earlier RMW, which would look like a lost wake-up. Under the
        // C++ model the store and the swap are the same here.
        self.main_woken.swap(true, SeqCst);
        self.unpark();
    }

    /// Something to do, as `block_on` and `turn` check it.
    fn has_work(&self) -> bool {
        self.queued.load(SeqCst) > 0 || self.main_woken.load(SeqCst)
    }

    /// Takes one unit of work, if there is one.
    fn take_work(&self) -> bool {
        if self.main_woken.swap(false, SeqCst) {
            return true;
        }
        let mut n = self.queued.load(SeqCst);
        while n > 0 {
            match self.queued.compare_exchange(n, n - 1, SeqCst, SeqCst) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
        false
    }

    /// `turn(true)`: the handshake around a blocking wait.
    fn blocking_turn(&self) {
        self.parker.before_park();
        let block = !self.has_work();
        self.eventfd.wait(block);
        self.parker.after_park();
    }

    /// The executor loop, until it has done `units` units of work. With
    /// `busy_turns`, every unit is followed by a zero-timeout turn (as with
    /// `event_interval` 1; with the default 61 the same turn just comes
    /// later).
    fn run(&self, units: usize, busy_turns: bool) {
        let mut done = 0;
        while done < units {
            if self.take_work() {
                done += 1;
                if busy_turns {
                    self.eventfd.wait(false);
                }
            } else {
                self.blocking_turn();
            }
        }
    }
}

#[test]
fn unpark_races_park() {
    // One thread pushes a task, another wakes the main future, while the
    // loop goes to sleep: both must reach it.
    model(|| {
        let rt = Runtime::new();
        let pusher = {
            let rt = rt.clone();
            thread::spawn(move || rt.schedule_remote())
        };
        let main_waker = {
            let rt = rt.clone();
            thread::spawn(move || rt.wake_main())
        };
        rt.run(2, false);
        pusher.join().unwrap();
        main_waker.join().unwrap();
    });
}

#[test]
fn unpark_twice_across_two_sleeps() {
    // One thread hands over two tasks, one after the other, while the loop
    // sleeps, wakes, and sleeps again (with busy turns in between).
    model(|| {
        let rt = Runtime::new();
        let pusher = {
            let rt = rt.clone();
            thread::spawn(move || {
                rt.schedule_remote();
                rt.schedule_remote();
            })
        };
        rt.run(2, true);
        pusher.join().unwrap();
    });
}

#[test]
fn late_notified_flag_does_not_silence_the_next_sleep() {
    // The loop sleeps with nothing queued; an IO event wakes it while a
    // waker that already saw `parked` is between its load of `parked` and
    // its swap of `notified`. The swap then lands after `after_park`
    // cleared the flag, and that waker's eventfd write is drained by the
    // busy turn that follows its task. A second waker, arriving once the
    // loop sleeps again, must still write the eventfd.
    //
    // Before `before_park` reset `notified`, the stale flag made the second
    // waker skip its write and the loop slept forever (loom: deadlock).
    model(|| {
        let rt = Runtime::new();
        let first = {
            let rt = rt.clone();
            thread::spawn(move || rt.schedule_remote())
        };
        let io_event = {
            let rt = rt.clone();
            thread::spawn(move || rt.eventfd.notify())
        };
        let second = {
            let rt = rt.clone();
            thread::spawn(move || rt.schedule_remote())
        };
        rt.run(2, true);
        first.join().unwrap();
        io_event.join().unwrap();
        second.join().unwrap();
    });
}
