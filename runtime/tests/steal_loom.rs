//! loom model checks of the work-stealing run queue (`executor/steal.rs`):
//! the owner pushing and popping while thieves steal half, and a full
//! queue overflowing into the injection queue while a steal is under way.
//! Each model runs the real queue through every interleaving of its
//! threads (up to the preemption bound) and checks that every task comes
//! out exactly once: popped by the owner, run or queued by a thief, or
//! found in the injection queue.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-runtime --release --test steal_loom
//! ```
//!
//! # How the queue sees loom
//!
//! As in `core_loom.rs`, this test crate compiles the real source files
//! with `#[path]`: `executor/steal.rs` and `executor/inject.rs`. Being a
//! `test` build with `--cfg loom`, `steal.rs` picks loom's `AtomicU32`,
//! `AtomicU64` and `UnsafeCell` (through `task/loom.rs`), and its ring
//! shrinks to four slots, so that filling, wrapping and overflowing take a
//! few steps. loom's cell checks that no slot is read and written by two
//! threads without ordering between them.
//!
//! What stands in for the runtime: a `TaskRef` that is just a number (the
//! queue only moves it around), so that "exactly once" is a count per
//! number. The injection queue is the real one; its mutex is the standard
//! library's, which loom does not model, but it is never held across a
//! loom operation (the batch moved under it only reads slots), so no loom
//! thread switch happens while it is held. Without `--cfg loom` this file
//! is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

#[path = "../src/task"]
mod task {
    pub(crate) mod loom;

    pub(crate) mod raw {
        /// The model's task: a number, moved around by the queue.
        #[derive(Debug)]
        pub(crate) struct TaskRef(pub(crate) usize);
    }
}

#[path = "../src/executor"]
mod executor {
    pub(crate) mod inject;
    pub(crate) mod steal;
}

use executor::inject::Inject;
use executor::steal::{StealQueue, Stealer, CAPACITY};
use loom::thread;
use std::sync::Arc;
use task::raw::TaskRef;

/// Checks `f` under every interleaving up to the preemption bound
/// (`LOOM_MAX_PREEMPTIONS`, 2 if unset).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn pop_all(queue: &StealQueue) -> Vec<usize> {
    std::iter::from_fn(|| queue.pop()).map(|t| t.0).collect()
}

/// A thief: steals once into a fresh queue of its own, and returns every
/// task it got (the one to run, then those queued).
fn steal_once(stealer: Stealer) -> Vec<usize> {
    let mine = StealQueue::new();
    let mut got: Vec<usize> = stealer.steal_into(&mine).map(|t| t.0).into_iter().collect();
    got.extend(pop_all(&mine));
    got
}

/// Every task `0..n` appears exactly once across `seen`.
fn assert_exactly_once(n: usize, seen: impl IntoIterator<Item = usize>) {
    let mut counts = vec![0usize; n];
    for id in seen {
        counts[id] += 1;
    }
    assert!(
        counts.iter().all(|&c| c == 1),
        "tasks seen (count per task): {counts:?}"
    );
}

fn drain(inject: &Inject) -> Vec<usize> {
    inject.close().into_iter().map(|t| t.0).collect()
}

#[test]
fn ring_is_small_under_loom() {
    assert_eq!(CAPACITY, 4);
}

/// The owner pushes (wrapping round the ring) and pops while one thief
/// steals: the last task left is contested by a pop and a steal.
#[test]
fn owner_push_pop_against_one_thief() {
    model(|| {
        let inject = Arc::new(Inject::new());
        let owner = StealQueue::new();
        // Start with indices part-way round the ring, so what follows wraps.
        for id in 0..3 {
            owner.push_back(TaskRef(100 + id), &inject);
        }
        drop(pop_all(&owner));
        owner.push_back(TaskRef(0), &inject);
        owner.push_back(TaskRef(1), &inject);
        let thief = {
            let stealer = owner.stealer();
            thread::spawn(move || steal_once(stealer))
        };
        let mut seen = Vec::new();
        seen.extend(owner.pop().map(|t| t.0));
        owner.push_back(TaskRef(2), &inject);
        seen.extend(pop_all(&owner));
        seen.extend(thief.join().unwrap());
        seen.extend(drain(&inject));
        assert_exactly_once(3, seen);
    });
}

/// Two thieves at one queue while its owner pops and pushes: at most one steal runs
/// at a time, the other gives up or steals what is left.
#[test]
fn two_thieves_against_the_owner() {
    model(|| {
        let inject = Arc::new(Inject::new());
        let owner = StealQueue::new();
        for id in 0..4 {
            owner.push_back(TaskRef(id), &inject);
        }
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let stealer = owner.stealer();
                thread::spawn(move || steal_once(stealer))
            })
            .collect();
        let mut seen = Vec::new();
        seen.extend(owner.pop().map(|t| t.0));
        owner.push_back(TaskRef(4), &inject);
        seen.extend(pop_all(&owner));
        for thief in thieves {
            seen.extend(thief.join().unwrap());
        }
        seen.extend(drain(&inject));
        assert_exactly_once(5, seen);
    });
}

/// The owner's queue is full and it pushes twice more while a thief
/// steals: depending on the interleaving the push finds room the thief
/// made, or overflows half the queue to the injection queue, or (a steal
/// being under way) sends just the new task there.
#[test]
fn overflow_during_a_steal() {
    model(|| {
        let inject = Arc::new(Inject::new());
        let owner = StealQueue::new();
        for id in 0..CAPACITY {
            owner.push_back(TaskRef(id), &inject);
        }
        let thief = {
            let stealer = owner.stealer();
            thread::spawn(move || steal_once(stealer))
        };
        owner.push_back(TaskRef(CAPACITY), &inject);
        owner.push_back(TaskRef(CAPACITY + 1), &inject);
        let mut seen = pop_all(&owner);
        seen.extend(thief.join().unwrap());
        seen.extend(drain(&inject));
        assert_exactly_once(CAPACITY + 2, seen);
    });
}

/// A thief that receives stolen tasks while being stolen from itself: the
/// middle queue is both a thief (of `first`) and a victim (of `last`).
#[test]
fn a_thief_is_stolen_from_while_it_steals() {
    model(|| {
        let inject = Arc::new(Inject::new());
        let first = StealQueue::new();
        for id in 0..4 {
            first.push_back(TaskRef(id), &inject);
        }
        let from_first = first.stealer();
        let middle = StealQueue::new();
        let from_middle = middle.stealer();
        let last = thread::spawn(move || steal_once(from_middle));
        let inject2 = inject.clone();
        let middle_thread = thread::spawn(move || {
            let mut got: Vec<usize> = from_first
                .steal_into(&middle)
                .map(|t| t.0)
                .into_iter()
                .collect();
            got.extend(pop_all(&middle));
            drop(inject2);
            got
        });
        let mut seen = pop_all(&first);
        seen.extend(middle_thread.join().unwrap());
        seen.extend(last.join().unwrap());
        seen.extend(drain(&inject));
        assert_exactly_once(4, seen);
    });
}
