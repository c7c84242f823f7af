//! Helpers of the fs and net tests: a unique temp directory removed on
//! drop, and a gate that holds the blocking pool's only thread so a test can
//! see an operation waiting for the pool (and what does not need it).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use spindle_runtime::{Builder, Runtime};

/// A fresh directory under the system temp dir, removed (with its
/// contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("spindle-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A runtime whose blocking pool has exactly one thread.
pub fn one_pool_thread() -> Runtime {
    Builder::new().max_blocking_threads(1).build().unwrap()
}

/// Holds the pool's thread (of a [`one_pool_thread`] runtime) until
/// [`release`](PoolGate::release) or drop: every job started meanwhile
/// waits behind it.
pub struct PoolGate {
    release: Option<mpsc::Sender<()>>,
}

impl PoolGate {
    /// Must run inside the runtime; returns once the pool thread is held.
    pub fn hold() -> PoolGate {
        let (release, wait) = mpsc::channel::<()>();
        let (held_tx, held) = mpsc::channel::<()>();
        drop(spindle_runtime::spawn_blocking(move || {
            held_tx.send(()).unwrap();
            let _ = wait.recv();
        }));
        held.recv_timeout(Duration::from_secs(20))
            .expect("the pool thread never started the gate job");
        PoolGate {
            release: Some(release),
        }
    }

    pub fn release(&mut self) {
        self.release.take();
    }
}

impl Drop for PoolGate {
    fn drop(&mut self) {
        self.release();
    }
}
