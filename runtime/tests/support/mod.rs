//! Helpers shared by the runtime's integration tests. Each test binary that
//! needs them says `mod support;` (a folder, so cargo does not build it as a
//! test of its own); not every binary uses every helper.
#![allow(dead_code)]

use std::panic;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Runs `f` on its own thread and fails the test if it does not finish
/// within `secs` seconds (the stuck thread is leaked; the process ends anyway).
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let v = f();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().unwrap(),
        Err(RecvTimeoutError::Disconnected) => match t.join() {
            Ok(v) => v,
            Err(p) => panic::resume_unwind(p),
        },
        Err(RecvTimeoutError::Timeout) => panic!("test hung for more than {secs} s"),
    }
}

/// Counts drops.
pub struct OnDrop(pub Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// A fresh drop counter.
pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

/// A minimal executor of its own, for driving one future on a thread that is
/// not running spindle (as tokio's tests use `futures::executor::block_on`):
/// polls, then parks the thread until the waker has been called.
pub fn foreign_block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unparker {
        thread: thread::Thread,
        woken: std::sync::atomic::AtomicBool,
    }
    impl std::task::Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, SeqCst);
            self.thread.unpark();
        }
    }
    let unparker = Arc::new(Unparker {
        thread: thread::current(),
        woken: std::sync::atomic::AtomicBool::new(false),
    });
    let waker = std::task::Waker::from(unparker.clone());
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // A flag, not just the park token: code inside the future (a
        // channel, say) may consume the token itself.
        while !unparker.woken.swap(false, SeqCst) {
            thread::park();
        }
    }
}

/// Runs the future that `f` makes on a fresh runtime, under a 10 s watchdog
/// (and an 8 s timeout inside the runtime, so a hang reports where it was).
pub fn run<F: std::future::Future + Send + 'static>(
    f: impl FnOnce() -> F + Send + 'static,
) -> F::Output
where
    F::Output: Send,
{
    bounded(10, move || {
        spindle_runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                spindle_runtime::time::timeout(Duration::from_secs(8), f())
                    .await
                    .expect("test timed out")
            })
    })
}

/// Whether `fut` is still pending after one poll and a few yields (so the
/// reactor has had turns to report anything already there).
pub async fn stays_pending<F: std::future::Future>(fut: F) -> bool {
    let mut fut = std::pin::pin!(fut);
    for _ in 0..3 {
        let pending =
            std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending()))
                .await;
        if !pending {
            return false;
        }
        spindle_runtime::yield_now().await;
    }
    true
}

/// A multi-threaded runtime of `workers` workers, whatever
/// `SPINDLE_FLAVOR` says.
pub fn multi_thread(workers: usize) -> spindle_runtime::Runtime {
    spindle_runtime::Runtime::builder()
        .multi_thread()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// A current-thread runtime, whatever `SPINDLE_FLAVOR` says: for tests of
/// what only a single thread can promise (the order tasks interleave in, the
/// test clock, nothing running between two `block_on`s). CI runs the suite
/// on both flavors; these tests keep their meaning on the multi-threaded run.
pub fn current_thread() -> spindle_runtime::Runtime {
    spindle_runtime::Runtime::builder()
        .current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// [`current_thread`]'s `block_on`: the runtime is dropped after.
pub fn block_on_current_thread<F: std::future::Future>(f: F) -> F::Output {
    current_thread().block_on(f)
}

/// Runs `f` on a fresh current-thread runtime on its own thread, under a
/// `secs` watchdog (`f` may borrow: the thread is scoped). A scope cannot
/// be left while its thread runs, so a hang aborts the whole test binary,
/// after saying so (a panic would wait for the hung thread forever).
pub fn bounded_local<F>(secs: u64, f: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        let handle = scope.spawn(move || {
            let out = block_on_current_thread(f);
            let _ = tx.send(());
            out
        });
        match rx.recv_timeout(Duration::from_secs(secs)) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
                Ok(v) => v,
                Err(p) => panic::resume_unwind(p),
            },
            Err(RecvTimeoutError::Timeout) => {
                eprintln!("test hung for more than {secs} s: aborting the test binary");
                std::process::abort()
            }
        }
    })
}

/// Polls `fut` for a while (a poll, then a few yields, each of which turns
/// the reactor on a [`run_turning`] runtime): its output if it completed,
/// `None` if it still waits (it is then dropped: cancelled).
pub async fn poll_a_while<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    for _ in 0..4 {
        let poll = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(output) = poll {
            return Some(output);
        }
        spindle_runtime::task::yield_now().await;
    }
    None
}

/// Runs `f`'s future on a current-thread runtime that turns its reactor
/// at every yield, so that [`poll_a_while`] sees what the kernel has.
pub fn run_turning<F: std::future::Future>(f: impl FnOnce() -> F + Send + 'static) -> F::Output
where
    F::Output: Send + 'static,
{
    bounded(10, || {
        spindle_runtime::Runtime::builder()
            .current_thread()
            .event_interval(1)
            .build()
            .unwrap()
            .block_on(f())
    })
}

/// Opens a socket and checks it did not get descriptor number `old`: the
/// lowest free number is handed out, so had `old` been closed, the new
/// socket would have it. For a socket dropped with an io_uring request that
/// names it still queued: its descriptor must stay open until the kernel
/// is done. `what` says who would have closed it too early.
pub fn assert_descriptor_still_taken(old: std::os::fd::RawFd, what: &str) {
    use std::os::fd::AsRawFd;
    let other = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    assert_ne!(other.as_raw_fd(), old, "{what}");
}

/// A caught panic's message (`&str` or `String` payloads; empty otherwise).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}
