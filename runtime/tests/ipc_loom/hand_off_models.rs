//! Models of the "pass on the wake" hand-off (`Word::wait` in `futex.rs`,
//! `protocol::HandOff`): a task waits on a lock's word by sleeping on a
//! blocking-pool thread; if the task's future is dropped after that thread
//! was woken, the wake it took must go to another waiter, passed on by
//! exactly one of the pool thread (when its sleep ends) and the future's
//! drop (`PassOnIfDropped`), and by neither if the task saw the result.
//!
//! The pool thread's job is `spawn_blocking`'s closure in `Word::wait`:
//! sleep, then `pool_thread_finished` and a wake if it says so. The task's
//! side is the future's: it has the result only once the job completed
//! (its `JoinHandle`, stood in for by a flag the pool thread sets last or
//! by joining the thread), and its drop before that calls `task_dropped`.

use std::sync::atomic::Ordering::{Acquire, Release, SeqCst};

use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::sync::Arc;
use loom::thread;

use crate::ipc::protocol::{mutex, HandOff};
use crate::mutex_models::{lock, unlock};
use crate::support::{model, Futex};

/// The pool thread's sleep ends (it was woken) and the task's future is
/// dropped, in either order and racing: exactly one of the two passes the
/// wake on.
#[test]
fn dropped_task_passes_on_once() {
    model(|| {
        let hand_off = Arc::new(HandOff::new());
        let passed = Arc::new(AtomicUsize::new(0));
        let pool = {
            let (hand_off, passed) = (hand_off.clone(), passed.clone());
            thread::spawn(move || {
                if hand_off.pool_thread_finished() {
                    passed.fetch_add(1, SeqCst);
                }
            })
        };
        if hand_off.task_dropped() {
            passed.fetch_add(1, SeqCst);
        }
        pool.join().unwrap();
        assert_eq!(passed.load(SeqCst), 1);
    });
}

/// The task polls its `JoinHandle` once: if the job is done it has the
/// result and looks at the word itself (nobody passes anything on);
/// otherwise its future is dropped there (one of the two passes on).
#[test]
fn result_seen_or_passed_on() {
    model(|| {
        let hand_off = Arc::new(HandOff::new());
        let passed = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let pool = {
            let (hand_off, passed, done) = (hand_off.clone(), passed.clone(), done.clone());
            thread::spawn(move || {
                if hand_off.pool_thread_finished() {
                    passed.fetch_add(1, SeqCst);
                }
                // The job's completion, which the JoinHandle sees.
                done.store(true, Release);
            })
        };
        let saw_result = done.load(Acquire);
        if !saw_result && hand_off.task_dropped() {
            passed.fetch_add(1, SeqCst);
        }
        pool.join().unwrap();
        let expected = if saw_result { 0 } else { 1 };
        assert_eq!(passed.load(SeqCst), expected);
    });
}

/// Process 1 holds the lock; a plain thread of process 3 comes to take
/// it (`blocking_lock`) and a task of process 2 looks at it (setting the
/// waiters bit) and hands its sleep to a pool thread; then process 1
/// releases, from its own thread. The calling thread is the task's.
///
/// The pool thread runs `Word::wait`'s job: sleep, and pass the wake on
/// if `pool_thread_finished` says so.
fn task_waits_on_a_held_lock(got: &Arc<AtomicUsize>) -> Scene {
    let futex = Arc::new(Futex::new(0));
    assert!(mutex::try_lock_free(&futex.word, 1));
    let waiter = {
        let (futex, got) = (futex.clone(), got.clone());
        thread::spawn(move || {
            lock(&futex, 3);
            got.fetch_add(1, SeqCst);
            unlock(&futex);
        })
    };
    // `Mutex::lock`'s first look (its fast path failed): the lock is held
    // until the releaser below runs, so the task must wait.
    let expected = mutex::attempt(&futex.word, 2, 0).expect("process 1 holds the lock");
    // `Word::wait`: the sleep goes to a pool thread.
    let hand_off = Arc::new(HandOff::new());
    let pool = {
        let (futex, hand_off) = (futex.clone(), hand_off.clone());
        thread::spawn(move || {
            futex.wait(expected);
            if hand_off.pool_thread_finished() {
                futex.wake(1);
            }
        })
    };
    let releaser = {
        let futex = futex.clone();
        thread::spawn(move || unlock(&futex))
    };
    Scene {
        futex,
        hand_off,
        pool,
        others: [waiter, releaser],
    }
}

/// What `task_waits_on_a_held_lock` set up.
struct Scene {
    futex: Arc<Futex>,
    /// The task's and its pool thread's.
    hand_off: Arc<HandOff>,
    pool: thread::JoinHandle<()>,
    /// The waiter of process 3 and process 1's releaser.
    others: [thread::JoinHandle<()>; 2],
}

/// The point of the hand-off, on a real `Mutex` word: a task waiting for
/// the lock has its `lock()` future dropped (a `timeout`, a `select!`) at
/// any point of its pool thread's sleep, while a plain thread of another
/// process waits too. The release wakes one sleeper, which may be the
/// pool thread: the wake must reach the other waiter all the same. (Sleeps
/// have no timeout here: a wake lost with the task would leave that waiter
/// asleep for good, and loom would report the deadlock.)
#[test]
fn wake_taken_by_dropped_task_reaches_other_waiter() {
    model(|| {
        let got = Arc::new(AtomicUsize::new(0));
        let Scene {
            futex,
            hand_off,
            pool,
            others,
        } = task_waits_on_a_held_lock(&got);
        // The future is dropped (`PassOnIfDropped`).
        if hand_off.task_dropped() {
            futex.wake(1);
        }
        pool.join().unwrap();
        for t in others {
            t.join().unwrap();
        }
        assert_eq!(got.load(SeqCst), 1);
        assert_eq!(futex.word.load(SeqCst), 0);
    });
}

/// The same, but the task keeps waiting: it gets its pool thread's result
/// (`job.await` returns: the thread is joined), passes nothing on, and
/// looks at the word itself, sleeping again as long as it must (each
/// further sleep is a pool thread whose result the task sees: a plain
/// sleep here). Both waiters get the lock.
#[test]
fn task_that_sees_the_result_takes_the_lock() {
    model(|| {
        let got = Arc::new(AtomicUsize::new(0));
        let Scene {
            futex,
            pool,
            others,
            ..
        } = task_waits_on_a_held_lock(&got);
        pool.join().unwrap();
        // `after_sleep`, and `lock()`'s loop from there.
        while let Some(expected) = mutex::attempt(&futex.word, 2, 0) {
            futex.wait(expected);
        }
        got.fetch_add(1, SeqCst);
        unlock(&futex);
        for t in others {
            t.join().unwrap();
        }
        assert_eq!(got.load(SeqCst), 2);
        assert_eq!(futex.word.load(SeqCst), 0);
    });
}
