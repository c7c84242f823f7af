//! Multi-threaded stress: four runtimes on four OS threads (plus plain
//! threads using the blocking calls) hammer one primitive while randomly
//! cancelling waiters: after one poll (queued), or after a yield (possibly
//! already handed the lock or permits). Invariants are checked inside the
//! critical sections, and at the end nothing may be missing. Each test is
//! bounded by its iteration counts (well under 2 s in a debug build).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use spindle_runtime::sync::{Mutex, RwLock, Semaphore};
use spindle_runtime::{spawn, yield_now, Runtime};

const THREADS: usize = 4;
const TASKS: usize = 4;
const ITERS: usize = 3000;

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Polls `f` once, then (if it is still pending) lets other tasks run so it
/// may be handed what it waits for, then drops it unobserved.
async fn cancel_after_one_poll<F: Future>(f: F, yield_first: bool) -> Option<F::Output> {
    let mut f = pin!(f);
    let first = poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await;
    if let Poll::Ready(out) = first {
        return Some(out);
    }
    if yield_first {
        yield_now().await;
    }
    None
}

/// Runs `task(thread, task_index)` on `TASKS` tasks in each of `THREADS`
/// runtimes, each runtime on its own OS thread.
fn on_runtimes<F, Fut>(task: F)
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let task = Arc::new(task);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let task = task.clone();
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    let handles: Vec<_> = (0..TASKS).map(|i| spawn(task(t, i))).collect();
                    for h in handles {
                        h.await.unwrap();
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn mutex_with_cancellation() {
    let m = Arc::new(Mutex::new(0usize));
    let inside = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let plain = {
        let (m, inside) = (m.clone(), inside.clone());
        std::thread::spawn(move || {
            for _ in 0..300 {
                let mut g = m.blocking_lock();
                assert!(!inside.swap(true, SeqCst));
                *g += 1;
                inside.store(false, SeqCst);
            }
        })
    };
    let (m2, done2) = (m.clone(), done.clone());
    on_runtimes(move |t, i| {
        let (m, inside, done) = (m2.clone(), inside.clone(), done2.clone());
        async move {
            let mut rng = Rng((t * TASKS + i) as u64 + 1);
            for _ in 0..ITERS {
                let guard = match rng.below(4) {
                    0 => cancel_after_one_poll(m.lock(), false).await,
                    1 => cancel_after_one_poll(m.lock(), true).await,
                    _ => Some(m.lock().await),
                };
                if let Some(mut g) = guard {
                    assert!(!inside.swap(true, SeqCst), "two holders at once");
                    *g += 1;
                    if rng.below(8) == 0 {
                        yield_now().await;
                    }
                    inside.store(false, SeqCst);
                    done.fetch_add(1, SeqCst);
                }
            }
        }
    });
    plain.join().unwrap();
    assert_eq!(
        *m.try_lock().expect("no lock leaked"),
        done.load(SeqCst) + 300
    );
}

#[test]
fn semaphore_acquire_many_with_cancellation() {
    const PERMITS: usize = 5;
    let sem = Arc::new(Semaphore::new(PERMITS));
    let in_use = Arc::new(AtomicUsize::new(0));
    let sem2 = sem.clone();
    on_runtimes(move |t, i| {
        let (sem, in_use) = (sem2.clone(), in_use.clone());
        async move {
            let mut rng = Rng((t * TASKS + i) as u64 + 99);
            for _ in 0..ITERS {
                let k = 1 + rng.below(3) as u32;
                let permit = match rng.below(4) {
                    0 => cancel_after_one_poll(sem.acquire_many(k), false).await,
                    1 => cancel_after_one_poll(sem.acquire_many(k), true).await,
                    _ => Some(sem.acquire_many(k).await),
                };
                if let Some(p) = permit {
                    let p = p.unwrap();
                    let now = in_use.fetch_add(k as usize, SeqCst) + k as usize;
                    assert!(now <= PERMITS, "{now} permits out of {PERMITS}");
                    if rng.below(4) == 0 {
                        yield_now().await;
                    }
                    in_use.fetch_sub(k as usize, SeqCst);
                    drop(p);
                }
            }
        }
    });
    assert_eq!(sem.available_permits(), PERMITS, "permits lost");
}

#[test]
fn rwlock_with_cancellation() {
    let lock = Arc::new(RwLock::new((0usize, 0usize)));
    let writes = Arc::new(AtomicUsize::new(0));
    let (lock2, writes2) = (lock.clone(), writes.clone());
    on_runtimes(move |t, i| {
        let (lock, writes) = (lock2.clone(), writes2.clone());
        async move {
            let mut rng = Rng((t * TASKS + i) as u64 + 7);
            for _ in 0..ITERS / 2 {
                let yield_first = rng.below(2) == 0;
                if rng.below(3) == 0 {
                    let guard = if rng.below(2) == 0 {
                        cancel_after_one_poll(lock.write(), yield_first).await
                    } else {
                        Some(lock.write().await)
                    };
                    if let Some(mut w) = guard {
                        w.0 += 1;
                        yield_now().await;
                        w.1 += 1;
                        writes.fetch_add(1, SeqCst);
                    }
                } else {
                    let guard = if rng.below(2) == 0 {
                        cancel_after_one_poll(lock.read(), yield_first).await
                    } else {
                        Some(lock.read().await)
                    };
                    if let Some(r) = guard {
                        assert_eq!(r.0, r.1, "a reader saw a half-done write");
                    }
                }
            }
        }
    });
    let n = writes.load(SeqCst);
    assert_eq!(*lock.try_write().expect("no lock leaked"), (n, n));
}
