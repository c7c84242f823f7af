//! `sync::Barrier`: one leader per generation, reuse over generations, and
//! a cancelled wait that withdraws its arrival.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Poll, Waker};

use spindle_runtime::sync::Barrier;
use spindle_runtime::{block_on, spawn, Runtime};

mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn last_arrival_leads_and_releases_the_rest() {
    let b = Barrier::new(3);
    assert_eq!(b.parties(), 3);
    let ((c1, w1), (c2, w2)) = (counter(), counter());
    let mut f1 = Box::pin(b.wait());
    let mut f2 = Box::pin(b.wait());
    assert!(poll(f1.as_mut(), &w1).is_pending());
    assert!(poll(f2.as_mut(), &w2).is_pending());
    assert_eq!(format!("{b:?}"), "Barrier { parties: 3, arrived: 2 }");
    let Poll::Ready(r3) = poll(Box::pin(b.wait()).as_mut(), Waker::noop()) else {
        panic!("third arrival passes")
    };
    assert!(r3.is_leader());
    assert_eq!((wakes(&c1), wakes(&c2)), (1, 1));
    let Poll::Ready(r1) = poll(f1.as_mut(), &w1) else {
        panic!()
    };
    let Poll::Ready(r2) = poll(f2.as_mut(), &w2) else {
        panic!()
    };
    assert!(!r1.is_leader() && !r2.is_leader());
    // The next generation starts empty.
    assert!(poll(Box::pin(b.wait()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn cancelled_wait_withdraws_its_arrival() {
    let b = Barrier::new(2);
    let mut gone = Box::pin(b.wait());
    assert!(poll(gone.as_mut(), Waker::noop()).is_pending());
    drop(gone);
    let (c, w) = counter();
    let mut f = Box::pin(b.wait());
    assert!(
        poll(f.as_mut(), &w).is_pending(),
        "one live arrival is not two"
    );
    let Poll::Ready(r) = poll(Box::pin(b.wait()).as_mut(), Waker::noop()) else {
        panic!("second live arrival passes")
    };
    assert!(r.is_leader());
    assert_eq!(wakes(&c), 1);
    drop(f); // released, never polled: nothing to withdraw
    assert!(poll(Box::pin(b.wait()).as_mut(), Waker::noop()).is_pending());
}

#[test]
fn zero_or_one_party_never_waits() {
    for n in [0, 1] {
        let b = Barrier::new(n);
        for _ in 0..3 {
            let Poll::Ready(r) = poll(Box::pin(b.wait()).as_mut(), Waker::noop()) else {
                panic!("a barrier of {n} never waits")
            };
            assert!(r.is_leader());
        }
    }
}

#[test]
fn many_generations_across_runtimes() {
    // 4 runtimes x 2 tasks meet 200 times: exactly one leader each time,
    // and nobody runs ahead into the next generation early.
    const GENS: usize = 200;
    let barrier = Arc::new(Barrier::new(8));
    let leaders = Arc::new(AtomicUsize::new(0));
    let round = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (barrier, leaders, round) = (barrier.clone(), leaders.clone(), round.clone());
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    let tasks: Vec<_> = (0..2)
                        .map(|_| {
                            let (barrier, leaders, round) =
                                (barrier.clone(), leaders.clone(), round.clone());
                            spawn(async move {
                                for g in 0..GENS {
                                    // Everyone sees the round of this generation...
                                    assert_eq!(round.load(SeqCst), g);
                                    if barrier.wait().await.is_leader() {
                                        leaders.fetch_add(1, SeqCst);
                                        round.fetch_add(1, SeqCst);
                                    }
                                    // ...and the leader's bump happens before
                                    // anyone passes the second barrier.
                                    barrier.wait().await;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(leaders.load(SeqCst), GENS);
    assert_eq!(round.load(SeqCst), GENS);
}

#[test]
fn tasks_on_one_runtime() {
    block_on(async {
        let b = Arc::new(Barrier::new(5));
        for _ in 0..3 {
            let tasks: Vec<_> = (0..5)
                .map(|_| {
                    let b = b.clone();
                    spawn(async move { b.wait().await.is_leader() })
                })
                .collect();
            let mut leaders = 0;
            for t in tasks {
                leaders += t.await.unwrap() as usize;
            }
            assert_eq!(leaders, 1);
        }
    });
}
