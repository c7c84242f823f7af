//! `sync::Semaphore` and `sync::BoundedSemaphore`: permits, FIFO fairness
//! of `acquire_many`, closing, and cancellation at every point (including a
//! seeded random model run that drops waiters queued, partly assigned or
//! fully granted, and checks no permit is ever lost or overtaken).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Poll, Waker};

use spindle_runtime::sync::{
    AcquireError, BoundedSemaphore, Semaphore, SemaphorePermit, TryAcquireError,
};
use spindle_runtime::{block_on, spawn, yield_now};

mod sync_support;
use sync_support::{counter, poll, wakes, Count};

#[test]
fn permits_try_acquire_forget_add() {
    let sem = Semaphore::new(3);
    let a = sem.try_acquire().unwrap();
    let b = sem.try_acquire_many(2).unwrap();
    assert_eq!((a.num_permits(), b.num_permits()), (1, 2));
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    b.forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(4);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);
    assert_eq!(
        format!("{sem:?}"),
        "Semaphore { available_permits: 5, closed: false }"
    );
}

#[test]
fn large_request_at_head_blocks_smaller_ones_and_returns_partial_permits() {
    let sem = Semaphore::new(2);
    let p1 = sem.try_acquire().unwrap();
    let p2 = sem.try_acquire().unwrap();
    let ((cbig, wbig), (csmall, wsmall)) = (counter(), counter());
    let mut big = Box::pin(sem.acquire_many(2));
    let mut small = Box::pin(sem.acquire());
    assert!(poll(big.as_mut(), &wbig).is_pending());
    assert!(poll(small.as_mut(), &wsmall).is_pending());
    drop(p1); // set aside for `big`, which still needs one more
    assert_eq!((wakes(&cbig), wakes(&csmall)), (0, 0));
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert!(poll(small.as_mut(), &wsmall).is_pending());
    drop(big); // partly assigned, then cancelled: its permit goes to `small`
    assert_eq!(wakes(&csmall), 1);
    let Poll::Ready(Ok(s)) = poll(small.as_mut(), &wsmall) else {
        panic!("small was handed the returned permit")
    };
    assert_eq!(sem.available_permits(), 0);
    drop((s, p2));
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn granted_then_dropped_passes_permits_on() {
    let sem = Semaphore::new(3);
    let all = sem.try_acquire_many(3).unwrap();
    let cs: Vec<_> = (0..3).map(|_| counter()).collect();
    let mut a = Box::pin(sem.acquire_many(2));
    let mut b = Box::pin(sem.acquire_many(2));
    let mut c = Box::pin(sem.acquire());
    assert!(poll(a.as_mut(), &cs[0].1).is_pending());
    assert!(poll(b.as_mut(), &cs[1].1).is_pending());
    assert!(poll(c.as_mut(), &cs[2].1).is_pending());
    drop(all); // a gets 2 (granted), b gets 1 of 2
    assert_eq!(
        cs.iter().map(|(c, _)| wakes(c)).collect::<Vec<_>>(),
        [1, 0, 0]
    );
    drop(a); // granted, never polled: 1 completes b, 1 goes to c
    assert_eq!(
        cs.iter().map(|(c, _)| wakes(c)).collect::<Vec<_>>(),
        [1, 1, 1]
    );
    assert!(poll(b.as_mut(), &cs[1].1).is_ready());
    assert!(poll(c.as_mut(), &cs[2].1).is_ready());
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn close_fails_waiters_but_keeps_grants() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let ((ca, wa), (cb, wb)) = (counter(), counter());
    let mut a = Box::pin(sem.acquire());
    let mut b = Box::pin(sem.acquire_many(2));
    assert!(poll(a.as_mut(), &wa).is_pending());
    assert!(poll(b.as_mut(), &wb).is_pending());
    drop(held); // a is granted before the close
    assert!(!sem.is_closed());
    sem.close();
    assert!(sem.is_closed());
    assert_eq!((wakes(&ca), wakes(&cb)), (1, 1));
    let Poll::Ready(Ok(pa)) = poll(a.as_mut(), &wa) else {
        panic!("a was granted before the close")
    };
    assert!(matches!(
        poll(b.as_mut(), &wb),
        Poll::Ready(Err(AcquireError { .. }))
    ));
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    drop(pa);
    assert_eq!(sem.available_permits(), 1);
    let late = block_on(sem.acquire());
    assert_eq!(late.unwrap_err().to_string(), "semaphore closed");
}

#[test]
fn owned_permits_and_tasks() {
    block_on(async {
        let sem = Arc::new(Semaphore::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (sem, inside) = (sem.clone(), inside.clone());
                spawn(async move {
                    let _p = sem.acquire_owned().await.unwrap();
                    assert!(inside.fetch_add(1, SeqCst) < 2);
                    yield_now().await;
                    inside.fetch_sub(1, SeqCst);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let p = sem.clone().try_acquire_owned().unwrap();
        let q = sem.clone().acquire_many_owned(1).await.unwrap();
        assert_eq!(p.num_permits() + q.num_permits(), 2);
        q.forget();
        drop(p);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn plain_thread_blocks_until_a_task_adds_permits() {
    let sem = Arc::new(Semaphore::new(0));
    let t = {
        let sem = sem.clone();
        std::thread::spawn(move || sem.blocking_acquire().unwrap().forget())
    };
    block_on(async { sem.add_permits(1) });
    t.join().unwrap();
    assert_eq!(sem.available_permits(), 0);
}

#[test]
fn bounded_semaphore_refuses_to_exceed_its_bound() {
    block_on(async {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.bound(), 2);
        assert!(sem.release().is_err(), "already at the bound");
        assert_eq!(sem.available_permits(), 2);
        // Python style: acquire ... release by hand.
        sem.acquire().await.unwrap().forget();
        assert_eq!(sem.available_permits(), 1);
        sem.release().unwrap();
        assert!(sem.release().is_err());
        // A held permit still counts: releasing by hand while it is out is
        // refused, so its drop can never push the count past the bound.
        let held = sem.acquire_many(2).await.unwrap();
        assert!(sem.add_permits(1).is_err());
        drop(held);
        assert_eq!(sem.available_permits(), 2);
        // add_permits is all or nothing.
        sem.try_acquire().unwrap().forget();
        assert!(sem.add_permits(2).is_err());
        assert_eq!(sem.available_permits(), 1);
        sem.add_permits(1).unwrap();
        assert_eq!(sem.available_permits(), 2);
        let sem = Arc::new(sem);
        let p = sem.clone().acquire_owned().await.unwrap();
        assert_eq!(
            sem.try_acquire_many(2).unwrap_err(),
            TryAcquireError::NoPermits
        );
        drop(p);
        sem.close();
        assert!(sem.is_closed());
        assert!(sem.acquire().await.is_err());
    });
}

#[test]
fn bounded_release_wakes_a_waiter() {
    let sem = BoundedSemaphore::new(1);
    sem.try_acquire().unwrap().forget();
    let (c, w) = counter();
    let mut f = Box::pin(sem.acquire());
    assert!(poll(f.as_mut(), &w).is_pending());
    sem.release().unwrap();
    assert_eq!(wakes(&c), 1);
    let Poll::Ready(Ok(p)) = poll(f.as_mut(), &w) else {
        panic!("handed the released permit")
    };
    assert!(sem.release().is_err(), "the permit exists: it is held");
    drop(p);
    assert_eq!(sem.available_permits(), 1);
}

/// xorshift64*: a tiny deterministic generator for the model run.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

type AcquireFut<'a> = Pin<Box<dyn Future<Output = Result<SemaphorePermit<'a>, AcquireError>> + 'a>>;

struct Waiter<'a> {
    fut: AcquireFut<'a>,
    count: Arc<Count>,
    waker: Waker,
    wanted: usize,
}

fn model_run(seed: u64) {
    let mut rng = Rng(seed | 1);
    let total = 1 + rng.below(4);
    let sem = Semaphore::new(total);
    let mut waiters: Vec<Waiter<'_>> = Vec::new(); // in queue order
    let mut held: Vec<SemaphorePermit<'_>> = Vec::new();
    for _ in 0..300 {
        let woken = |w: &Waiter<'_>| wakes(&w.count) > 0;
        match rng.below(5) {
            0 => {
                let wanted = 1 + rng.below(total);
                let (count, waker) = counter();
                let mut fut: AcquireFut<'_> = Box::pin(sem.acquire_many(wanted as u32));
                match poll(fut.as_mut(), &waker) {
                    Poll::Ready(p) => {
                        assert!(waiters.iter().all(woken), "seed {seed}: barged ahead");
                        held.push(p.unwrap());
                    }
                    Poll::Pending => waiters.push(Waiter {
                        fut,
                        count,
                        waker,
                        wanted,
                    }),
                }
            }
            1 if !held.is_empty() => drop(held.swap_remove(rng.below(held.len()))),
            2 if !waiters.is_empty() => drop(waiters.remove(rng.below(waiters.len()))),
            3 if !waiters.is_empty() => {
                let i = rng.below(waiters.len());
                let w = &mut waiters[i];
                match poll(w.fut.as_mut(), &w.waker) {
                    Poll::Ready(p) => {
                        assert!(wakes(&w.count) == 1, "seed {seed}: ready without a wake");
                        held.push(p.unwrap());
                        waiters.remove(i);
                    }
                    Poll::Pending => {
                        assert_eq!(wakes(&w.count), 0, "seed {seed}: woken, not ready")
                    }
                }
            }
            4 => {
                if let Ok(p) = sem.try_acquire_many(1 + rng.below(total) as u32) {
                    assert!(waiters.iter().all(woken), "seed {seed}: try_acquire barged");
                    held.push(p);
                }
            }
            _ => {}
        }
        // FIFO: the granted waiters are a prefix of the queue.
        let granted = waiters.iter().take_while(|w| woken(w)).count();
        assert!(
            waiters[granted..].iter().all(|w| !woken(w)),
            "seed {seed}: overtaken"
        );
        let out: usize = held.iter().map(|p| p.num_permits()).sum::<usize>()
            + waiters[..granted].iter().map(|w| w.wanted).sum::<usize>()
            + sem.available_permits();
        if granted == waiters.len() {
            assert_eq!(out, total, "seed {seed}: permits lost");
        } else {
            assert!(out <= total, "seed {seed}: permits created");
        }
    }
    drop(waiters);
    drop(held);
    assert_eq!(sem.available_permits(), total, "seed {seed}");
}

#[test]
fn model_random_cancellation_never_loses_or_reorders_permits() {
    for seed in 0..300u64 {
        model_run(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(7));
    }
}

#[test]
fn forget_permits_takes_only_free_ones() {
    let sem = spindle_runtime::sync::Semaphore::new(5);
    let held = sem.try_acquire_many(2).unwrap();
    assert_eq!(sem.forget_permits(10), 3, "only the 3 free ones");
    assert_eq!(sem.available_permits(), 0);
    drop(held);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn permits_merge_and_split() {
    let sem = spindle_runtime::sync::Semaphore::new(5);
    let mut a = sem.try_acquire_many(2).unwrap();
    let b = sem.try_acquire().unwrap();
    a.merge(b);
    assert_eq!(a.num_permits(), 3);
    assert!(a.split(4).is_none());
    let c = a.split(1).unwrap();
    assert_eq!((a.num_permits(), c.num_permits()), (2, 1));
    assert_eq!(sem.available_permits(), 2);
    drop(c);
    assert_eq!(sem.available_permits(), 3);
    drop(a);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn owned_permits_merge_and_split() {
    let sem = std::sync::Arc::new(spindle_runtime::sync::Semaphore::new(4));
    let mut a = sem.clone().try_acquire_many_owned(3).unwrap();
    let b = sem.clone().try_acquire_owned().unwrap();
    assert!(sem.clone().try_acquire_owned().is_err());
    a.merge(b);
    let c = a.split(2).unwrap();
    assert_eq!((a.num_permits(), c.num_permits()), (2, 2));
    c.forget();
    drop(a);
    assert_eq!(sem.available_permits(), 2, "the forgotten 2 are gone");
}

#[test]
#[should_panic(expected = "different semaphores")]
fn merging_permits_of_two_semaphores_panics() {
    let (s1, s2) = (
        spindle_runtime::sync::Semaphore::new(1),
        spindle_runtime::sync::Semaphore::new(1),
    );
    let mut a = s1.try_acquire().unwrap();
    a.merge(s2.try_acquire().unwrap());
}

#[test]
fn a_const_semaphore_works_as_a_static() {
    static LIMIT: spindle_runtime::sync::Semaphore = spindle_runtime::sync::Semaphore::const_new(2);
    let p = LIMIT.try_acquire_many(2).unwrap();
    assert!(LIMIT.try_acquire().is_err());
    drop(p);
    assert_eq!(LIMIT.available_permits(), 2);
}
