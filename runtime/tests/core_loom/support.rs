//! What the core models share: the model runner, a value that counts its
//! drops, and a waker that counts its wakes.

use std::sync::atomic::Ordering::SeqCst;
use std::task::{Wake, Waker};

use loom::sync::atomic::AtomicUsize;
use loom::sync::Arc;

/// Checks `f` under every interleaving up to the preemption bound
/// (`LOOM_MAX_PREEMPTIONS`, 2 if unset: bounded, so the suite stays fast).
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// Counts drops, to check a value is dropped exactly once.
pub(crate) struct Tracked(pub(crate) Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A waker that counts how often it was woken. Each `CountingWaker` is a
/// distinct waker (`will_wake` is false between two of them).
pub(crate) struct CountingWaker {
    wakes: AtomicUsize,
}

impl CountingWaker {
    pub(crate) fn new() -> std::sync::Arc<CountingWaker> {
        std::sync::Arc::new(CountingWaker {
            wakes: AtomicUsize::new(0),
        })
    }

    pub(crate) fn waker(self: &std::sync::Arc<Self>) -> Waker {
        Waker::from(self.clone())
    }

    pub(crate) fn wakes(&self) -> usize {
        self.wakes.load(SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.wakes.fetch_add(1, SeqCst);
    }
}
