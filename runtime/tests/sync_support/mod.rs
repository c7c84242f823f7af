//! Helpers shared by the `sync_*` tests: a waker that counts its wakes, and
//! a one-shot poll, to drive futures by hand. Included with `mod sync_support;`.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Counts how often its waker was woken.
#[derive(Default)]
pub struct Count(pub AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A counting waker, and the counter behind it.
pub fn counter() -> (Arc<Count>, Waker) {
    let c = Arc::new(Count::default());
    (c.clone(), Waker::from(c))
}

/// Wakes so far.
pub fn wakes(c: &Count) -> usize {
    c.0.load(SeqCst)
}

/// Polls `f` once with `w`.
pub fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}
