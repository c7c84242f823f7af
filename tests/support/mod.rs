//! Helpers shared by the facade's integration tests. Each test binary that
//! needs them says `mod support;` (a folder, so cargo does not build it as a
//! test of its own).
#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// Runs `f` on a thread of its own, failing the test if it takes more
/// than `secs` seconds (a hang becomes a failure, not a stuck CI).
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        let value = f();
        let _ = tx.send(());
        value
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for more than {secs} s"),
    }
}

/// `target/<profile>/examples/NAME`: an example binary, built by
/// `cargo build --examples` (the tests of examples say so when it is not).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --examples` first",
        bin.display()
    );
    bin
}
