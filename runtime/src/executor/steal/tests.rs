//! Tests of [`StealQueue`] with real tasks: order, overflow, stealing, and
//! a stress test of one owner and two thieves on std threads. (The loom
//! models of the same hand-offs are in `tests/steal_loom.rs`.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;

use super::{StealQueue, CAPACITY};
use crate::executor::inject::Inject;
use crate::executor::local::RELEASED;
use crate::executor::{Config, Local, Shared};
use crate::task::raw::{self, TaskRef};
use crate::task::{Id, JoinHandle};

/// A runtime's shared half, for the tasks' headers to point at. The
/// `Local` stays alive beside it, so the poller stays open.
fn runtime() -> (Local, Arc<Shared>) {
    let local = Local::new(Config::default()).expect("a runtime opens");
    let shared = local.shared.clone();
    (local, shared)
}

/// A task that does nothing, never run: only its queue reference is kept
/// (the task-list reference and the `JoinHandle` are dropped at once), so
/// it is freed when that reference is dropped.
fn task(shared: &Arc<Shared>) -> TaskRef {
    let (notified, owned, join) = raw::allocate(async {}, shared.clone(), RELEASED);
    drop(owned);
    drop(JoinHandle::<()>::new(join));
    notified
}

fn tasks(shared: &Arc<Shared>, n: usize) -> (Vec<TaskRef>, Vec<Id>) {
    let tasks: Vec<TaskRef> = (0..n).map(|_| task(shared)).collect();
    let ids = tasks.iter().map(|t| t.header().id).collect();
    (tasks, ids)
}

fn ids(tasks: impl IntoIterator<Item = TaskRef>) -> Vec<Id> {
    tasks.into_iter().map(|t| t.header().id).collect()
}

fn pop_all(queue: &StealQueue) -> Vec<Id> {
    ids(std::iter::from_fn(|| queue.pop()))
}

#[test]
fn pop_is_fifo_and_len_counts() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    assert!(queue.is_empty());
    assert!(queue.pop().is_none());
    let (tasks, expected) = tasks(&shared, 10);
    for task in tasks {
        queue.push_back(task, &inject);
    }
    assert_eq!(queue.len(), 10);
    assert!(!queue.is_empty());
    assert_eq!(pop_all(&queue), expected);
    assert!(queue.is_empty());
    assert!(inject.is_empty());
}

#[test]
fn wraps_around_the_ring_many_times() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    // Keep the queue three quarters full while the indices go round the
    // ring twenty times: every pop must give the oldest task.
    let (first, mut expected) = tasks(&shared, CAPACITY * 3 / 4);
    for task in first {
        queue.push_back(task, &inject);
    }
    let mut popped = Vec::new();
    for _ in 0..CAPACITY * 20 {
        let next = task(&shared);
        expected.push(next.header().id);
        queue.push_back(next, &inject);
        popped.push(queue.pop().expect("the queue is not empty").header().id);
    }
    popped.extend(pop_all(&queue));
    assert_eq!(popped, expected);
    assert!(inject.is_empty(), "the queue never filled");
}

#[test]
fn overflow_moves_the_older_half_and_the_new_task_to_inject() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    let (all, expected) = tasks(&shared, CAPACITY + 1);
    for task in all {
        queue.push_back(task, &inject);
    }
    // The oldest half went, then the task that did not fit; the rest stay.
    assert_eq!(queue.len(), CAPACITY / 2);
    let moved = ids(inject.close());
    let mut want_moved = expected[..CAPACITY / 2].to_vec();
    want_moved.push(expected[CAPACITY]);
    assert_eq!(moved, want_moved);
    assert_eq!(pop_all(&queue), expected[CAPACITY / 2..CAPACITY]);
}

#[test]
fn a_batch_from_inject_fills_the_free_slots_and_leaves_the_rest_in_order() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    // The queue has 4 free slots; inject holds 10 tasks.
    let (held, held_ids) = tasks(&shared, CAPACITY - 4);
    for task in held {
        queue.push_back(task, &inject);
    }
    let (queued, expected) = tasks(&shared, 10);
    assert!(inject.push_batch(queued));
    // Ask for the first task and 6 more: only 4 fit, so the fifth taken is
    // given back to the front of inject and the batch ends there.
    let first = inject.pop_batch(6, |task| queue.push_if_room(task));
    assert_eq!(first.map(|t| t.header().id), Some(expected[0]));
    assert_eq!(inject.len(), 5);
    assert_eq!(queue.len(), CAPACITY);
    let mut want = held_ids;
    want.extend_from_slice(&expected[1..5]);
    assert_eq!(pop_all(&queue), want);
    assert_eq!(ids(inject.close()), expected[5..]);
    // An empty queue gives nothing and calls nobody.
    let empty = Inject::new();
    assert!(empty
        .pop_batch(8, |_| panic!("nothing to hand over"))
        .is_none());
}

#[test]
fn overflow_many_times_keeps_every_task_exactly_once() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    let (all, expected) = tasks(&shared, CAPACITY * 10 + 7);
    let mut seen = Vec::new();
    for (i, task) in all.into_iter().enumerate() {
        queue.push_back(task, &inject);
        // Pop now and then, so the overflows happen at every ring offset.
        if i % 5 == 0 {
            seen.extend(queue.pop().map(|t| t.header().id));
        }
    }
    assert!(!inject.is_empty(), "the queue overflowed");
    seen.extend(ids(inject.close()));
    seen.extend(pop_all(&queue));
    assert_exactly_once(&expected, seen);
}

/// Dropped-future counter: the future of a task is dropped when its last
/// reference goes, since the task is never run.
struct DropCount(Arc<AtomicUsize>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn overflow_into_a_closed_inject_releases_the_tasks() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    drop(inject.close());
    let queue = StealQueue::new();
    let drops = Arc::new(AtomicUsize::new(0));
    for _ in 0..=CAPACITY {
        let guard = DropCount(drops.clone());
        let (notified, owned, join) = raw::allocate(
            async move {
                let _guard = guard;
            },
            shared.clone(),
            RELEASED,
        );
        drop(owned);
        drop(JoinHandle::<()>::new(join));
        queue.push_back(notified, &inject);
    }
    // The overflowing push found the runtime shut down: the half it moved
    // and the new task were released, not leaked.
    assert_eq!(drops.load(SeqCst), CAPACITY / 2 + 1);
    assert_eq!(queue.len(), CAPACITY / 2);
    drop(pop_all(&queue));
    assert_eq!(drops.load(SeqCst), CAPACITY + 1);
}

/// Every id in `expected` appears exactly once in `seen`, and nothing else.
fn assert_exactly_once(expected: &[Id], seen: Vec<Id>) {
    let mut counts: HashMap<Id, usize> = HashMap::new();
    for id in seen {
        *counts.entry(id).or_default() += 1;
    }
    for id in expected {
        assert_eq!(
            counts.remove(id),
            Some(1),
            "task {id:?} not seen exactly once"
        );
    }
    assert!(counts.is_empty(), "tasks that were never pushed came out");
}

#[test]
fn steal_takes_half_rounded_up_and_returns_one() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let victim = StealQueue::new();
    let thief = StealQueue::new();
    let (all, expected) = tasks(&shared, 9);
    for task in all {
        victim.push_back(task, &inject);
    }
    let stealer = victim.stealer();
    assert_eq!(stealer.len(), 9);
    // Five of nine go: four into the thief's queue, the fifth to run now.
    let run_now = stealer.steal_into(&thief).expect("there was work");
    assert_eq!(run_now.header().id, expected[4]);
    assert_eq!(thief.len(), 4);
    assert_eq!(victim.len(), 4);
    assert_eq!(pop_all(&thief), expected[..4]);
    assert_eq!(pop_all(&victim), expected[5..]);
}

#[test]
fn steal_of_a_single_task_returns_it() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let victim = StealQueue::new();
    let thief = StealQueue::new();
    let only = task(&shared);
    let id = only.header().id;
    victim.push_back(only, &inject);
    let stolen = victim.stealer().steal_into(&thief).expect("one task");
    assert_eq!(stolen.header().id, id);
    assert!(victim.is_empty() && thief.is_empty());
}

#[test]
fn steal_from_an_empty_queue_gives_none() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let victim = StealQueue::new();
    let thief = StealQueue::new();
    assert!(victim.stealer().steal_into(&thief).is_none());
    // Also once tasks have come and gone.
    victim.push_back(task(&shared), &inject);
    drop(victim.pop());
    assert!(victim.stealer().steal_into(&thief).is_none());
    assert!(thief.is_empty());
}

#[test]
fn a_thief_more_than_half_full_does_not_steal() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let victim = StealQueue::new();
    let thief = StealQueue::new();
    for task in tasks(&shared, 4).0 {
        victim.push_back(task, &inject);
    }
    for task in tasks(&shared, CAPACITY / 2 + 1).0 {
        thief.push_back(task, &inject);
    }
    assert!(victim.stealer().steal_into(&thief).is_none());
    assert_eq!(victim.len(), 4);
    drop(thief.pop());
    // At exactly half full there is room for half a full queue again.
    assert!(victim.stealer().steal_into(&thief).is_some());
    drop(pop_all(&victim));
    drop(pop_all(&thief));
}

#[test]
fn a_dropped_queue_releases_its_tasks() {
    let (_rt, shared) = runtime();
    let inject = Inject::new();
    let queue = StealQueue::new();
    let stealer = queue.stealer();
    queue.push_back(task(&shared), &inject);
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(queue)));
    // Debug builds call a non-empty queue a bug; both drain it.
    assert_eq!(dropped.is_err(), cfg!(debug_assertions));
    assert!(stealer.is_empty());
}

/// One owner pushing and popping, two thieves stealing from it, on real
/// threads: every task comes out exactly once, none is lost to overflow.
/// So that the thieves really race the owner (on a busy machine they may
/// start late), the owner waits every `PACE` pushes until the thieves have
/// made as many steals as the pushes so far divided by `PACE`, under a
/// watchdog.
#[test]
fn stress_one_owner_two_thieves_every_task_exactly_once() {
    const TASKS: usize = 60_000;
    const PACE: usize = 500;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let steals = Arc::new(AtomicUsize::new(0));
    let (_rt, shared) = runtime();
    let inject = Arc::new(Inject::new());
    let owner = StealQueue::new();
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let thieves: Vec<_> = (0..2)
        .map(|_| {
            let stealer = owner.stealer();
            let (done, start, inject) = (done.clone(), start.clone(), inject.clone());
            let total_steals = steals.clone();
            thread::spawn(move || {
                let mine = StealQueue::new();
                let mut seen = Vec::new();
                let mut steals = 0usize;
                start.wait();
                // Bounded: the owner sets `done` after a finite amount of
                // work, and each round here is finite.
                while !done.load(SeqCst) {
                    if let Some(task) = stealer.steal_into(&mine) {
                        steals += 1;
                        total_steals.fetch_add(1, SeqCst);
                        // Through the thief's own queue, to mix its pushes
                        // and pops in with the steals.
                        mine.push_back(task, &inject);
                    }
                    seen.extend(pop_all(&mine));
                }
                (seen, steals)
            })
        })
        .collect();
    let mut created = Vec::with_capacity(TASKS);
    let mut seen = Vec::new();
    start.wait();
    for i in 0..TASKS {
        if i % PACE == 0 {
            while steals.load(SeqCst) < i / PACE {
                assert!(std::time::Instant::now() < deadline, "the thieves stalled");
                thread::yield_now();
            }
        }
        let next = task(&shared);
        created.push(next.header().id);
        owner.push_back(next, &inject);
        // Pop less often than pushing, so the queue fills and overflows.
        if i % 3 == 0 {
            seen.extend(owner.pop().map(|t| t.header().id));
        }
    }
    seen.extend(pop_all(&owner));
    done.store(true, SeqCst);
    let mut counted = 0;
    for thief in thieves {
        let (stolen, n) = thief.join().expect("a thief panicked");
        seen.extend(stolen);
        counted += n;
    }
    seen.extend(ids(inject.close()));
    assert_exactly_once(&created, seen);
    assert!(counted >= TASKS / PACE - 1, "only {counted} steals");
    eprintln!("stress: {counted} steals");
}
