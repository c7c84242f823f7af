//! CancellationToken: cancel, waiting, the token tree, guards,
//! cancellation of the wait itself, and threads.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use spindle_runtime::sync::CancellationToken;
use spindle_runtime::{block_on, spawn};
use support::bounded;

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn cancel_wakes_every_waiter_and_is_idempotent() {
    bounded(10, || {
        block_on(async {
            let token = CancellationToken::new();
            assert!(!token.is_cancelled());
            let waiters: Vec<_> = (0..3)
                .map(|_| {
                    let t = token.clone();
                    spawn(async move { t.cancelled().await })
                })
                .collect();
            spindle_runtime::yield_now().await;
            token.cancel();
            token.cancel();
            for w in waiters {
                w.await.unwrap();
            }
            assert!(token.is_cancelled());
            // Already cancelled: returns at once.
            token.cancelled().await;
            token.clone().cancelled_owned().await;
        })
    });
}

#[test]
fn children_follow_their_parent_but_not_the_other_way() {
    let root = CancellationToken::new();
    let child = root.child_token();
    let grandchild = child.child_token();
    let sibling = root.child_token();
    sibling.cancel();
    assert!(!root.is_cancelled() && !child.is_cancelled());
    root.cancel();
    assert!(child.is_cancelled() && grandchild.is_cancelled());
    let late = root.child_token();
    assert!(
        late.is_cancelled(),
        "a child of a cancelled token starts cancelled"
    );
}

#[test]
fn a_grandchild_follows_even_if_the_middle_handles_are_dropped() {
    let root = CancellationToken::new();
    let grandchild = root.child_token().child_token();
    root.cancel();
    assert!(grandchild.is_cancelled());
}

#[test]
fn dropped_children_do_not_pile_up_in_the_parent() {
    let root = CancellationToken::new();
    for _ in 0..10_000 {
        let child = root.child_token();
        drop(child);
    }
    // Each dropped child removed its entry; no way to count from outside,
    // but cancelling must still reach a live child made afterwards.
    let live = root.child_token();
    root.cancel();
    assert!(live.is_cancelled());
}

#[test]
fn drop_guard_cancels_unless_disarmed() {
    let token = CancellationToken::new();
    let guard = token.clone().drop_guard();
    let back = guard.disarm();
    assert!(!back.is_cancelled());
    {
        let _guard = token.clone().drop_guard();
    }
    assert!(token.is_cancelled());
}

#[test]
fn a_dropped_wait_leaves_no_waker_behind() {
    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let token = CancellationToken::new();
    let counter = Arc::new(Count(Default::default()));
    let waker = Waker::from(counter.clone());
    {
        let mut fut = pin!(token.cancelled());
        assert!(fut
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
        let mut owned = pin!(token.clone().cancelled_owned());
        assert!(owned
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending());
    }
    drop(waker);
    assert_eq!(
        Arc::strong_count(&counter),
        1,
        "both waits took their waker out"
    );
    token.cancel();
    assert_eq!(counter.0.load(std::sync::atomic::Ordering::SeqCst), 0);
    let mut fut = pin!(token.cancelled());
    assert_eq!(poll_once(fut.as_mut()), Poll::Ready(()));
}

#[test]
fn cancel_from_another_thread_reaches_waiters_on_many_threads() {
    bounded(30, || {
        for _ in 0..50 {
            let root = CancellationToken::new();
            let waiters: Vec<_> = (0..4)
                .map(|i| {
                    let t = if i % 2 == 0 {
                        root.clone()
                    } else {
                        root.child_token()
                    };
                    thread::spawn(move || support::foreign_block_on(t.cancelled_owned()))
                })
                .collect();
            let canceller = thread::spawn(move || root.cancel());
            canceller.join().unwrap();
            for w in waiters {
                w.join().unwrap();
            }
        }
    });
}

#[test]
fn token_is_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<CancellationToken>();
    assert_send_sync::<spindle_runtime::sync::DropGuard>();
}
