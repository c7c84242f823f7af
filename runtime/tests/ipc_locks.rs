//! `ipc::Mutex`, `ipc::Semaphore` and `ipc::Event` across processes
//! (forked children): mutual exclusion, an owner that dies holding the
//! lock, waits that leave the runtime's thread free, cancelled waits, a
//! semaphore's limit, and events that wake other processes.
//!
//! Orders are set by the primitives themselves (a child sets an `Event`
//! once it holds the lock, and waits for another before letting go): no
//! sleeps decide an order. Every wait has a bound.

mod fork_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fork_support::{fork, Ended, RawCounter};
use spindle_runtime::ipc::{Event, Mutex, Semaphore, Shared, TryLockError};
use spindle_runtime::time::timeout;
use spindle_runtime::{spawn, yield_now};
use support::{block_on_current_thread, bounded, stays_pending};

const LIMIT: Duration = Duration::from_secs(10);

/// A child that takes `lock`, says so on `held`, and lets go once
/// `release` is set (or after 10 s, so a failing test still ends).
fn holder(lock: &Mutex, held: &Event, release: &Event) -> fork_support::Child {
    fork(|| {
        let guard = match lock.blocking_lock() {
            Ok(g) => g,
            Err(_) => return 2,
        };
        held.set();
        let released = release.blocking_wait_timeout(LIMIT);
        drop(guard);
        if released {
            0
        } else {
            3
        }
    })
}

/// A lock that a child process holds (it has said so) until `release` is
/// set: the lock, the release event, and the child.
fn held_by_a_child() -> (Mutex, Event, fork_support::Child) {
    let (lock, held, release) = (
        Mutex::new().unwrap(),
        Event::new().unwrap(),
        Event::new().unwrap(),
    );
    let child = holder(&lock, &held, &release);
    assert!(held.blocking_wait_timeout(LIMIT));
    (lock, release, child)
}

fn runtime() -> spindle_runtime::Runtime {
    spindle_runtime::Runtime::new().unwrap()
}

#[test]
fn mutex_excludes_processes() {
    const PER_CHILD: u64 = 5_000;
    const CHILDREN: u64 = 4;
    bounded(60, || {
        let lock = Mutex::new().unwrap();
        let counter = Arc::new(RawCounter::new());
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                fork(|| {
                    for _ in 0..PER_CHILD {
                        let Ok(_g) = lock.blocking_lock() else {
                            return 2;
                        };
                        counter.increment();
                    }
                    0
                })
            })
            .collect();
        // The parent takes part with the async lock, from two tasks.
        runtime().block_on(async {
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, counter) = (lock.clone(), counter.clone());
                    spawn(async move {
                        for _ in 0..PER_CHILD {
                            let _g = lock.lock().await.expect("no owner died");
                            counter.increment();
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        for child in children {
            child.success();
        }
        assert_eq!(counter.get(), (CHILDREN + 2) * PER_CHILD);
        assert_eq!(lock.owner(), None);
    });
}

#[test]
fn try_lock_owner_and_debug() {
    let lock = Mutex::new().unwrap();
    assert_eq!(format!("{lock:?}"), "Mutex { owner: <free> }");
    let g = lock.try_lock().unwrap();
    assert_eq!(lock.owner(), Some(std::process::id()));
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));
    let clone = lock.clone();
    assert!(matches!(clone.try_lock(), Err(TryLockError::WouldBlock)));
    drop(g);
    assert!(clone.try_lock().is_ok());
}

/// The owner is SIGKILLed while a task already waits: the task gets the
/// lock as `OwnerDied` within a few checks, and the lock works after.
#[test]
fn owner_killed_while_a_task_waits() {
    bounded(30, || {
        let (lock, held) = (Mutex::new().unwrap(), Event::new().unwrap());
        let child = fork(|| {
            let Ok(_guard) = lock.blocking_lock() else {
                return 2;
            };
            held.set();
            loop {
                // SAFETY: pause is async-signal-safe; SIGKILL ends it.
                unsafe { libc::pause() };
            }
        });
        assert!(held.blocking_wait_timeout(LIMIT));
        assert_eq!(lock.owner(), Some(child.pid as u32));
        runtime().block_on(async {
            let waiter = {
                let lock = lock.clone();
                spawn(async move {
                    let died = lock.lock().await.map(drop).is_err();
                    (died, Instant::now())
                })
            };
            // The task is waiting (a few turns of the runtime to be sure).
            for _ in 0..3 {
                yield_now().await;
            }
            assert!(!waiter.is_finished());
            let killed = Instant::now();
            child.kill();
            let (died, at) = timeout(LIMIT, waiter).await.expect("bounded").unwrap();
            assert!(died, "the waiter must be told the owner died");
            let took = at - killed;
            assert!(took < Duration::from_secs(2), "noticed after {took:?}");
            // The guard was dropped in the task: the lock is free and healthy.
            assert!(lock.lock().await.is_ok());
        });
        assert_eq!(child.wait_for(LIMIT), Ended::Signaled(libc::SIGKILL));
    });
}

/// The owner exits (and is reaped) holding two locks: `try_lock` and
/// `blocking_lock` each take one over as `OwnerDied`.
#[test]
fn owner_exited_holding_the_lock() {
    bounded(30, || {
        let (a, b) = (Mutex::new().unwrap(), Mutex::new().unwrap());
        let child = fork(|| {
            let (Ok(ga), Ok(gb)) = (a.blocking_lock(), b.blocking_lock()) else {
                return 2;
            };
            // `_exit` with the guards alive: nothing releases the locks.
            std::mem::forget((ga, gb));
            0
        });
        let pid = child.pid as u32;
        child.success();
        assert_eq!(a.owner(), Some(pid));

        match a.try_lock() {
            Err(TryLockError::OwnerDied(e)) => {
                assert_eq!(
                    e.to_string(),
                    "the previous owner of the lock died while holding it"
                );
                let _guard = e.into_inner();
                assert_eq!(a.owner(), Some(std::process::id()));
            }
            other => panic!("expected OwnerDied, got {other:?}"),
        }
        assert!(a.try_lock().is_ok(), "healthy once the taker let go");

        let guard = b.blocking_lock().unwrap_err().into_inner();
        drop(guard);
        assert!(b.blocking_lock().is_ok());
    });
}

/// While a task waits for a lock another process holds, the runtime's only
/// thread keeps running other tasks.
#[test]
fn waiting_for_the_lock_does_not_block_the_runtime() {
    bounded(30, || {
        let (lock, release, child) = held_by_a_child();
        block_on_current_thread(async {
            let waiter = {
                let lock = lock.clone();
                spawn(async move { lock.lock().await.is_ok() })
            };
            let other = spawn(async {
                for _ in 0..100 {
                    yield_now().await;
                }
                spindle_runtime::time::sleep(Duration::from_millis(5)).await;
            });
            timeout(LIMIT, other).await.expect("bounded").unwrap();
            assert!(!waiter.is_finished(), "the holder has not let go yet");
            release.set();
            assert!(timeout(LIMIT, waiter).await.expect("bounded").unwrap());
        });
        child.success();
    });
}

/// `lock()` futures dropped while they wait take nothing: the lock is free
/// once the holder lets go, and a waiter that stayed gets it.
#[test]
fn cancelled_lock_leaves_the_lock_free() {
    bounded(30, || {
        let (lock, release, child) = held_by_a_child();
        runtime().block_on(async {
            // Dropped while its pool thread sleeps.
            assert!(timeout(Duration::from_millis(30), lock.lock())
                .await
                .is_err());
            // Dropped right after its first poll.
            assert!(stays_pending(lock.lock()).await);
            // One that stays.
            let stayer = {
                let lock = lock.clone();
                spawn(async move { lock.lock().await.map(drop).is_ok() })
            };
            yield_now().await;
            // More cancelled waiters beside it, each possibly taking a wake.
            for _ in 0..5 {
                assert!(timeout(Duration::from_millis(5), lock.lock())
                    .await
                    .is_err());
            }
            release.set();
            assert!(timeout(LIMIT, stayer).await.expect("bounded").unwrap());
        });
        child.success();
        assert_eq!(lock.owner(), None);
        // Free for another process too.
        fork(|| match lock.try_lock() {
            Ok(_) => 0,
            Err(_) => 1,
        })
        .success();
    });
}

#[test]
fn semaphore_limits_concurrency_across_processes() {
    const PERMITS: u32 = 2;
    const ROUNDS: u32 = 2_000;
    bounded(60, || {
        let sem = Semaphore::new(PERMITS).unwrap();
        // (inside now, most ever inside, entries)
        let stats = Shared::new((0u32, 0u32, 0u32)).unwrap();
        let children: Vec<_> = (0..4)
            .map(|_| {
                fork(|| {
                    for _ in 0..ROUNDS {
                        let permit = sem.blocking_acquire();
                        stats.update(|(now, most, n)| (now + 1, most.max(now + 1), n + 1));
                        for _ in 0..50 {
                            std::hint::spin_loop();
                        }
                        stats.update(|(now, most, n)| (now - 1, most, n));
                        drop(permit);
                    }
                    0
                })
            })
            .collect();
        for child in children {
            child.success();
        }
        let (now, most, entries) = stats.get();
        assert_eq!((now, entries), (0, 4 * ROUNDS));
        assert!(most <= PERMITS, "{most} inside at once");
        assert_eq!(sem.available_permits(), PERMITS);
    });
}

#[test]
fn semaphore_async_acquire_waits_and_cancels_cleanly() {
    bounded(30, || {
        let (sem, held, release) = (
            Semaphore::new(1).unwrap(),
            Event::new().unwrap(),
            Event::new().unwrap(),
        );
        let child = fork(|| {
            let permit = sem.blocking_acquire();
            held.set();
            let released = release.blocking_wait_timeout(LIMIT);
            drop(permit);
            if released {
                0
            } else {
                3
            }
        });
        assert!(held.blocking_wait_timeout(LIMIT));
        assert!(sem.try_acquire().is_none());
        block_on_current_thread(async {
            assert!(timeout(Duration::from_millis(20), sem.acquire())
                .await
                .is_err());
            let waiter = {
                let sem = sem.clone();
                spawn(async move {
                    let _permit = sem.acquire().await;
                })
            };
            let other = spawn(async {
                for _ in 0..100 {
                    yield_now().await;
                }
            });
            timeout(LIMIT, other).await.expect("bounded").unwrap();
            assert!(!waiter.is_finished());
            release.set();
            timeout(LIMIT, waiter).await.expect("bounded").unwrap();
        });
        child.success();
        assert_eq!(sem.available_permits(), 1, "no permit lost or made up");
    });
}

#[test]
fn semaphore_permit_forgotten_in_one_process_released_in_another() {
    bounded(30, || {
        let sem = Semaphore::new(1).unwrap();
        fork(|| {
            sem.blocking_acquire().forget();
            0
        })
        .success();
        assert_eq!(sem.available_permits(), 0);
        assert!(sem.try_acquire().is_none());
        sem.release();
        assert_eq!(format!("{sem:?}"), "Semaphore { available_permits: 1 }");
        assert!(sem.try_acquire().is_some());
        let err = Semaphore::new(Semaphore::MAX_PERMITS + 1).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn event_wakes_waiters_in_other_processes() {
    bounded(30, || {
        let (go, woke) = (Event::new().unwrap(), Shared::new(0u32).unwrap());
        let waiting = Shared::new(0u32).unwrap();
        let children: Vec<_> = (0..3)
            .map(|_| {
                fork(|| {
                    waiting.update(|n| n + 1);
                    if !go.blocking_wait_timeout(LIMIT) {
                        return 1;
                    }
                    woke.update(|n| n + 1);
                    0
                })
            })
            .collect();
        // Let them get to their wait (the test holds either way: a child
        // that arrives late finds the flag set).
        let start = Instant::now();
        while waiting.get() < 3 && start.elapsed() < LIMIT {
            std::thread::yield_now();
        }
        assert!(!go.is_set());
        go.set();
        for child in children {
            child.success();
        }
        assert_eq!(woke.get(), 3);
    });
}

#[test]
fn event_async_wait_is_woken_by_another_process() {
    bounded(30, || {
        let (go, done) = (Event::new().unwrap(), Event::new().unwrap());
        let child = fork(|| {
            if !go.blocking_wait_timeout(LIMIT) {
                return 1;
            }
            done.set();
            0
        });
        runtime().block_on(async {
            // Cancelled wait first: costs nothing.
            assert!(timeout(Duration::from_millis(20), done.wait())
                .await
                .is_err());
            let waiter = {
                let done = done.clone();
                spawn(async move { done.wait().await })
            };
            go.set();
            timeout(LIMIT, waiter).await.expect("bounded").unwrap();
        });
        child.success();
        assert!(done.is_set());
        done.clear();
        assert!(!done.is_set());
        assert!(!done.blocking_wait_timeout(Duration::from_millis(1)));
        assert_eq!(format!("{done:?}"), "Event { is_set: false }");
    });
}
