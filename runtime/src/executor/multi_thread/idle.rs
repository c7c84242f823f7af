//! [`Idle`]: which workers are asleep, how many are looking for work, and
//! whom to wake when new work appears.
//!
//! # The counters
//!
//! One atomic word packs two counts:
//!
//! ```text
//!   bits  0..16   searching: workers awake with nothing of their own,
//!                 stealing from the others and looking at the injection queue
//!   bits 16..32   unparked:  workers not asleep (running tasks or searching)
//! ```
//!
//! and a mutex-guarded list names the sleepers.
//!
//! # The rules
//!
//! * **Wake one, and only if nobody is searching.** New work (a spawn, a
//!   task pushed out of a worker's LIFO slot, a task from another thread)
//!   calls [`Idle::worker_to_notify`]. If some worker is searching already,
//!   it will find the work: nobody is woken. Otherwise one sleeper is taken
//!   off the list and *counted as searching before it is even awake*, so a
//!   burst of new tasks wakes one worker, not one per task (no thundering
//!   herd).
//! * **At most half the workers search.** Stealing is contended work; a
//!   worker that would make searchers more than half ([`transition_to_searching`](Idle::transition_to_searching)
//!   returning false) goes to sleep instead.
//! * **The last searcher to stop hands on.** A searcher that finds a task
//!   stops searching; if it was the last one and some queue still holds a
//!   task, it wakes another sleeper (`Worker::found_work`). A searcher that
//!   finds nothing and goes to sleep, if it was the last one, looks at every
//!   queue once more *after* counting itself asleep: work published before
//!   that is seen by this look, and work published after it sees the count
//!   and wakes a sleeper. (The same publish-then-check handshake as the
//!   executor's `Parker`, with the sleepers' lock as the order.)
//!
//! `tests/core_loom/idle_models.rs` checks the last rule under loom: new
//! work published while every worker goes to sleep always wakes one.
//!
//! A worker woken by its own reactor (IO, a timer) rather than by a notify
//! is still on the list; it takes itself off ([`unpark_worker`](Idle::unpark_worker))
//! and does not count as searching.

use std::sync::atomic::Ordering::SeqCst;

#[cfg(all(loom, test))]
use loom::sync::{atomic::AtomicUsize, Mutex, MutexGuard};
#[cfg(not(all(loom, test)))]
use std::sync::{atomic::AtomicUsize, Mutex, MutexGuard};

const UNPARKED_SHIFT: usize = 16;
const SEARCHING_MASK: usize = (1 << UNPARKED_SHIFT) - 1;
const ONE_SEARCHING: usize = 1;
const ONE_UNPARKED: usize = 1 << UNPARKED_SHIFT;

/// Sleepers and searchers among a runtime's workers.
pub(crate) struct Idle {
    state: AtomicUsize,
    sleepers: Mutex<Vec<usize>>,
    workers: usize,
}

fn searching(state: usize) -> usize {
    state & SEARCHING_MASK
}

fn unparked(state: usize) -> usize {
    state >> UNPARKED_SHIFT
}

impl Idle {
    /// `workers` workers, all awake and none searching.
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers < SEARCHING_MASK, "too many worker threads");
        Idle {
            state: AtomicUsize::new(workers << UNPARKED_SHIFT),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            workers,
        }
    }

    fn sleepers(&self) -> MutexGuard<'_, Vec<usize>> {
        self.sleepers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether new work should wake a worker: nobody searches and somebody
    /// sleeps. The hot path of every spawn asks this.
    ///
    /// A read-modify-write that adds nothing, not a load: the work was
    /// published just before (a release store of a queue's tail), and a
    /// parking searcher changes this word with an RMW of its own before its
    /// last look at the queues. Two RMWs on one word are ordered: if ours
    /// comes second it sees the searcher gone and we notify; if the
    /// searcher's comes second it reads our write, which releases the work
    /// to it, and its last look finds the work. A plain load would let the
    /// store of the work wait behind it (x86's store buffer does exactly
    /// that), and both sides could miss each other: a lost wake-up.
    pub(crate) fn should_notify(&self) -> bool {
        let state = self.state.fetch_add(0, SeqCst);
        searching(state) == 0 && unparked(state) < self.workers
    }

    /// The sleeper to wake for new work, if one should be woken. It is
    /// counted awake and searching from here on.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        if !self.should_notify() {
            return None;
        }
        let mut sleepers = self.sleepers();
        // Again under the lock: another notifier may have woken one meanwhile.
        if !self.should_notify() {
            return None;
        }
        let worker = sleepers.pop()?;
        self.state.fetch_add(ONE_SEARCHING | ONE_UNPARKED, SeqCst);
        Some(worker)
    }

    /// A worker with nothing to run wants to search. False if half the
    /// workers search already: it should sleep instead.
    pub(crate) fn transition_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.workers {
            return false;
        }
        self.state.fetch_add(ONE_SEARCHING, SeqCst);
        true
    }

    /// A searcher found work. True if it was the last searcher: it must
    /// then wake another worker to keep looking.
    pub(crate) fn transition_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(ONE_SEARCHING, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// `worker` goes to sleep (searching or not). True if it was the last
    /// searcher: it must look at every queue once more before it sleeps.
    pub(crate) fn transition_to_parked(&self, worker: usize, is_searching: bool) -> bool {
        let mut sleepers = self.sleepers();
        let dec = ONE_UNPARKED + if is_searching { ONE_SEARCHING } else { 0 };
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(worker);
        is_searching && searching(prev) == 1
    }

    /// `worker` woke up. If it is still on the list, nobody notified it (its
    /// reactor woke it): it takes itself off and counts as awake, not
    /// searching; returns false. True if a notifier took it off (it is
    /// counted searching already).
    pub(crate) fn unpark_worker(&self, worker: usize) -> bool {
        let mut sleepers = self.sleepers();
        match sleepers.iter().position(|&w| w == worker) {
            Some(i) => {
                sleepers.swap_remove(i);
                self.state.fetch_add(ONE_UNPARKED, SeqCst);
                false
            }
            None => true,
        }
    }

    /// How many workers are asleep right now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn num_sleeping(&self) -> usize {
        self.workers - unparked(self.state.load(SeqCst))
    }

    /// How many workers are searching right now.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn num_searching(&self) -> usize {
        searching(self.state.load(SeqCst))
    }
}

impl std::fmt::Debug for Idle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.load(SeqCst);
        f.debug_struct("Idle")
            .field("searching", &searching(state))
            .field("unparked", &unparked(state))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Idle;

    #[test]
    fn one_notify_per_idle_period_while_a_searcher_is_out() {
        let idle = Idle::new(4);
        // Three workers go to sleep; one runs.
        for w in 1..4 {
            assert!(!idle.transition_to_parked(w, false));
        }
        assert_eq!(idle.num_sleeping(), 3);
        // New work wakes one sleeper, counted searching at once...
        let first = idle.worker_to_notify().expect("a sleeper to wake");
        assert_eq!(idle.num_searching(), 1);
        // ...so more work wakes nobody until it stops searching.
        assert_eq!(idle.worker_to_notify(), None);
        assert!(idle.unpark_worker(first), "it was notified");
        assert!(idle.transition_from_searching(), "the last searcher");
        assert!(idle.worker_to_notify().is_some());
    }

    #[test]
    fn at_most_half_the_workers_search() {
        let idle = Idle::new(4);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_searching());
        assert!(!idle.transition_to_searching());
        assert!(!idle.transition_from_searching());
        assert!(idle.transition_from_searching());
    }

    #[test]
    fn a_worker_woken_by_its_reactor_takes_itself_off_the_list() {
        let idle = Idle::new(2);
        assert!(!idle.transition_to_parked(1, false));
        assert!(!idle.unpark_worker(1), "nobody notified it");
        assert_eq!(idle.num_sleeping(), 0);
        assert_eq!(idle.num_searching(), 0);
        // Nobody asleep: new work wakes nobody.
        assert_eq!(idle.worker_to_notify(), None);
    }

    #[test]
    fn the_last_searcher_to_park_is_told_to_look_again() {
        let idle = Idle::new(2);
        assert!(idle.transition_to_searching());
        assert!(idle.transition_to_parked(0, true));
        assert!(!idle.transition_to_parked(1, false));
    }
}
