//! The crate's sources, compiled into a loom test crate.
//!
//! `tests/sync_loom.rs` and `tests/channel_loom.rs` each declare this module
//! and glob-import it at their root. The crate's sources name their parts
//! from the crate root (`crate::loom`, `crate::coop`, `crate::wait_list`,
//! ...), and in a test crate that root is the test's: the glob import puts
//! those names there. Being a `test` build under `--cfg loom`, the sources'
//! `loom.rs` shim hands them loom's types, so loom explores every
//! interleaving of their atomics and locks.
//!
//! It also holds the models' one executor, [`block_on`], which parks the
//! loom thread while the future is pending.
//!
//! At a test's root, `loom` then names the crate's shim module; the loom
//! crate itself is reached as `::loom`.

#[path = "../../src/lib.rs"]
#[allow(missing_docs, clippy::all)]
mod spindle_sync;

pub(crate) use spindle_sync::{channel, coop, loom, park, sync, wait_list, wake_list};

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Wake, Waker};

use ::loom::sync::atomic::AtomicBool;
use ::loom::thread;

/// Runs `f` on the current loom thread, parking it while pending.
pub(crate) fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark {
        thread: thread::Thread,
        woken: AtomicBool,
    }
    impl Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            // An RMW, not a store: loom 0.7 may let a later `swap` read past
            // a plain store that races an earlier RMW (it does not order the
            // store after it), which looks like a lost wake-up.
            if !self.woken.swap(true, SeqCst) {
                self.thread.unpark();
            }
        }
    }
    let unpark = std::sync::Arc::new(Unpark {
        thread: thread::current(),
        woken: AtomicBool::new(false),
    });
    let waker = Waker::from(unpark.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        while !unpark.woken.swap(false, SeqCst) {
            thread::park();
        }
    }
}
