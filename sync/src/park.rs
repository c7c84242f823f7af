//! [`block_on_thread`]: run one future to completion by parking the calling
//! OS thread, for the `blocking_*` methods that let plain threads use the
//! async primitives (a `std::thread` feeding an async consumer, say).
//!
//! The waker is an `Arc` holding the thread's handle and a `woken` flag.
//! `wake` sets the flag and unparks the thread; the loop polls, and if the
//! future is pending, parks until the flag is set. The flag (not the park
//! itself) is the truth: `std::thread::park` may return spuriously, and an
//! unpark that arrives before the park is kept by the thread's token, so a
//! wake between the poll and the park is never lost.
//!
//! This must not run on a runtime's thread: parking it would stop every task
//! of that runtime, including the one that would release what we wait for.
//! So it panics there instead of deadlocking; the runtime tells us where it
//! runs through [`coop::enter_runtime`](crate::coop::enter_runtime).

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use crate::coop;

struct ThreadWaker {
    thread: Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Release pairs with the Acquire swap in the loop: whatever the
        // waker's caller wrote before waking is visible to the next poll.
        if !self.woken.swap(true, Ordering::Release) {
            self.thread.unpark();
        }
    }
}

/// Runs `future` to completion on the current OS thread, parking it
/// whenever the future is pending.
///
/// # Panics
/// If called on a thread that is running a spindle runtime (inside
/// `block_on` or a task): blocking there would stall that runtime.
#[track_caller]
pub(crate) fn block_on_thread<F: Future>(future: F) -> F::Output {
    if coop::is_runtime_running() {
        panic!(
            "a blocking spindle::sync call (blocking_lock, blocking_recv, ...) was made \
             inside a spindle runtime, which would stall it; use the async method with .await"
        );
    }
    park_on(future)
}

/// `block_on_thread` without its check: runs `future` to completion on
/// this thread, parking it while the future is pending. A wake is kept in
/// a flag, not only in the thread's park token, which code inside the
/// future may take by parking the thread itself.
pub fn park_on<F: Future>(future: F) -> F::Output {
    let unparker = Arc::new(ThreadWaker {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unparker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        // No cooperative budget here: outside a runtime it is unconstrained
        // (block_on lifts it on exit), and this loop must not throttle.
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        while !unparker.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn ready_future() {
        assert_eq!(block_on_thread(async { 7 }), 7);
    }

    #[test]
    fn woken_from_another_thread() {
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Waker>();
        let setter = {
            let flag = flag.clone();
            thread::spawn(move || {
                let waker = rx.recv().unwrap();
                flag.store(true, Ordering::SeqCst);
                waker.wake();
            })
        };
        let mut sent = false;
        block_on_thread(std::future::poll_fn(|cx| {
            if flag.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            if !sent {
                tx.send(cx.waker().clone()).unwrap();
                sent = true;
            }
            Poll::Pending
        }));
        setter.join().unwrap();
    }

    #[test]
    #[should_panic(expected = "inside a spindle runtime")]
    fn panics_inside_runtime() {
        let _running = coop::enter_runtime();
        block_on_thread(async {});
    }
}
