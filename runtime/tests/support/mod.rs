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
