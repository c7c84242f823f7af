//! Cancellation safety: send / recv / reserve / put / get / join / closed
//! futures dropped at any await point lose nothing, and whatever was handed
//! to them (a slot, an item, a wake-up) passes on to the next waiter.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use spindle_runtime::channel::{mpsc, oneshot, Queue};
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, spawn, yield_now};

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn counting_waker() -> (Waker, Arc<CountingWaker>) {
    let c = Arc::new(CountingWaker(AtomicUsize::new(0)));
    (Waker::from(c.clone()), c)
}

fn poll_with<F: Future>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

#[derive(Debug)]
struct Tracked(u32, Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.1.fetch_add(1, SeqCst);
    }
}

/// Polls `fut` up to `polls` times with the task's own waker, yielding in
/// between, and drops it if it is still pending.
async fn poll_then_drop<F: Future>(fut: F, polls: u32) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(v);
        }
        yield_now().await;
    }
    None
}

/// A tiny deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn a_dropped_send_that_was_given_a_slot_passes_it_on() {
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(0).unwrap();
    let (wa, a) = counting_waker();
    let (wb, b) = counting_waker();
    let mut first = Box::pin(tx.send(1));
    let mut second = pin!(tx.send(2));
    assert!(poll_with(first.as_mut(), &wa).is_pending());
    assert!(poll_with(second.as_mut(), &wb).is_pending());
    assert_eq!(rx.try_recv(), Ok(0)); // the slot goes to `first`
    assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (1, 0));
    drop(first); // ...which gives up: the slot moves on to `second`
    assert_eq!(b.0.load(SeqCst), 1);
    assert_eq!(poll_with(second.as_mut(), &wb), Poll::Ready(Ok(())));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Empty));
    assert_eq!(tx.capacity(), 1);
}

#[test]
fn a_dropped_send_drops_its_value_once_and_leaks_no_slot() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::channel(1);
    tx.try_send(Tracked(0, drops.clone())).unwrap();
    {
        let mut send = pin!(tx.send(Tracked(1, drops.clone())));
        assert!(poll_with(send.as_mut(), Waker::noop()).is_pending());
    }
    assert_eq!(
        drops.load(SeqCst),
        1,
        "the unsent value went with its future"
    );
    assert_eq!(rx.try_recv().unwrap().0, 0);
    assert_eq!(tx.capacity(), 1);
    // A dropped `reserve` and a dropped `Permit` return their slot too.
    let permit = block_on(tx.reserve()).unwrap();
    {
        let mut reserve = pin!(tx.reserve());
        assert!(poll_with(reserve.as_mut(), Waker::noop()).is_pending());
    }
    drop(permit);
    assert_eq!(tx.capacity(), 1);
}

#[test]
fn a_dropped_recv_leaves_the_value() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel(1);
        assert!(timeout(Duration::ZERO, rx.recv()).await.is_err());
        tx.send(5).await.unwrap();
        assert_eq!(rx.recv().await, Some(5));
    });
}

#[test]
fn dropped_closed_and_join_waiters_are_forgotten() {
    block_on(async {
        let (tx, mut rx) = mpsc::channel::<u8>(1);
        assert!(timeout(Duration::ZERO, tx.closed()).await.is_err());
        rx.close();
        tx.closed().await;

        let (mut otx, orx) = oneshot::channel::<u8>();
        assert!(timeout(Duration::ZERO, otx.closed()).await.is_err());
        drop(orx);
        otx.closed().await;

        let q = Queue::new(0);
        q.put(1).await.unwrap();
        assert!(timeout(Duration::ZERO, q.join()).await.is_err());
        q.get().await.unwrap();
        q.task_done();
        q.join().await;
    });
}

#[test]
fn a_dropped_oneshot_receiver_hands_the_value_back() {
    block_on(async {
        let (tx, rx) = oneshot::channel();
        assert!(timeout(Duration::ZERO, rx).await.is_err());
        assert_eq!(tx.send(1), Err(1));
    });
}

#[test]
fn a_dropped_get_that_was_given_an_item_passes_it_on() {
    let q = Queue::new(0);
    let (wa, a) = counting_waker();
    let (wb, b) = counting_waker();
    let mut first = Box::pin(q.get());
    let mut second = pin!(q.get());
    assert!(poll_with(first.as_mut(), &wa).is_pending());
    assert!(poll_with(second.as_mut(), &wb).is_pending());
    q.put_nowait("item").unwrap();
    assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (1, 0));
    drop(first);
    assert_eq!(b.0.load(SeqCst), 1, "the wake-up passed on");
    assert_eq!(poll_with(second.as_mut(), &wb), Poll::Ready(Ok("item")));
    assert!(q.is_empty());
}

#[test]
fn a_dropped_put_that_was_given_a_slot_passes_it_on() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::new(1);
    q.put_nowait(Tracked(0, drops.clone())).unwrap();
    let (wa, a) = counting_waker();
    let (wb, b) = counting_waker();
    let mut first = Box::pin(q.put(Tracked(1, drops.clone())));
    let mut second = pin!(q.put(Tracked(2, drops.clone())));
    assert!(poll_with(first.as_mut(), &wa).is_pending());
    assert!(poll_with(second.as_mut(), &wb).is_pending());
    assert_eq!(q.get_nowait().unwrap().0, 0);
    assert_eq!((a.0.load(SeqCst), b.0.load(SeqCst)), (1, 0));
    drop(first);
    assert_eq!(
        drops.load(SeqCst),
        2,
        "item 0 received, item 1 dropped with its put"
    );
    assert_eq!(b.0.load(SeqCst), 1);
    assert!(poll_with(second.as_mut(), &wb).is_ready());
    assert_eq!(q.get_nowait().unwrap().0, 2);
    assert_eq!(q.unfinished_tasks(), 2, "only completed puts count");
}

/// Producers retry each value until a send completes, abandoning attempts
/// after 1-3 polls; the consumer abandons receives the same way. Every
/// value must arrive exactly once, in per-producer order.
#[test]
fn mpsc_random_cancellation_loses_and_duplicates_nothing() {
    const PRODUCERS: u64 = 4;
    const PER: u64 = 2_000;
    block_on(async {
        let (tx, mut rx) = mpsc::channel::<u64>(3);
        for p in 0..PRODUCERS {
            let tx = tx.clone();
            spawn(async move {
                let mut rng = Rng(p + 11);
                for i in 0..PER {
                    let v = p * PER + i;
                    loop {
                        let polls = rng.below(3) as u32 + 1;
                        let done = if rng.below(2) == 0 {
                            poll_then_drop(tx.send(v), polls).await.map(|r| r.unwrap())
                        } else {
                            match poll_then_drop(tx.reserve(), polls)
                                .await
                                .map(Result::unwrap)
                            {
                                Some(permit) if rng.below(4) == 0 => drop(permit), // give it back
                                Some(permit) => break permit.send(v).unwrap(),
                                None => {}
                            }
                            None
                        };
                        if done.is_some() {
                            break;
                        }
                    }
                }
            });
        }
        drop(tx);
        let mut rng = Rng(99);
        let mut next = [0u64; PRODUCERS as usize];
        let mut received = 0;
        loop {
            let polls = rng.below(3) as u32 + 1;
            match poll_then_drop(rx.recv(), polls).await {
                None => continue,
                Some(None) => break,
                Some(Some(v)) => {
                    let (p, i) = ((v / PER) as usize, v % PER);
                    assert_eq!(i, next[p], "producer {p}: lost or duplicated value");
                    next[p] += 1;
                    received += 1;
                }
            }
        }
        assert_eq!(received, PRODUCERS * PER);
    });
}

/// The same for the MPMC queue: random cancellation of puts and gets on
/// both sides; every item is taken exactly once and `join` completes.
#[test]
fn queue_random_cancellation_loses_and_duplicates_nothing() {
    const PRODUCERS: u64 = 3;
    const CONSUMERS: u64 = 3;
    const PER: u64 = 1_500;
    block_on(async {
        let q = Queue::new(2);
        let seen = Arc::new(std::sync::Mutex::new(vec![0u8; (PRODUCERS * PER) as usize]));
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = q.clone();
                spawn(async move {
                    let mut rng = Rng(p + 5);
                    for i in 0..PER {
                        let v = p * PER + i;
                        while poll_then_drop(q.put(v), rng.below(3) as u32 + 1)
                            .await
                            .is_none()
                        {}
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let (q, seen) = (q.clone(), seen.clone());
                spawn(async move {
                    let mut rng = Rng(c + 50);
                    loop {
                        match poll_then_drop(q.get(), rng.below(3) as u32 + 1).await {
                            None => continue,
                            Some(Err(_closed)) => break,
                            Some(Ok(v)) => {
                                seen.lock().unwrap()[v as usize] += 1;
                                q.task_done();
                            }
                        }
                    }
                })
            })
            .collect();
        for p in producers {
            p.await.unwrap();
        }
        q.join().await;
        q.close();
        for c in consumers {
            c.await.unwrap();
        }
        assert!(seen.lock().unwrap().iter().all(|n| *n == 1));
    });
}
