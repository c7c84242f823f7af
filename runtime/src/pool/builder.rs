//! [`ProcessPoolBuilder`] and [`StartMethod`]: configuring a
//! [`ProcessPool`] and starting its workers.
//!
//! `build` starts every worker (see `spawn.rs`), then waits for each one's
//! HELLO, blocking, so that a program whose `main` forgot to call
//! [`worker_main`](super::worker_main) gets an error right here rather
//! than a pool that never answers. Only then are the sockets registered
//! with the current runtime and one driver task per worker spawned.

use std::io;
use std::time::Duration;

use super::driver::{self, Conn};
use super::frame::FrameBuf;
use super::process::{Inner, ProcessPool};
use super::spawn::{self, Launched, ENV};
use super::sys;
use crate::executor::context;

/// How worker processes are started (Python's multiprocessing "start methods").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// The default: run this program's executable again (`/proc/self/exe`)
    /// with the worker's socket descriptor named in an environment
    /// variable. Its `main` must call [`worker_main`](super::worker_main)
    /// first. Costs an `exec` and the program's startup per worker (a few
    /// milliseconds), and gives each worker a clean process: no threads,
    /// locks or runtime state copied from the parent.
    #[default]
    Spawn,
    /// `fork()` the parent; the child serves jobs on a fresh thread. Faster
    /// to start and no `worker_main` needed, but the child of a
    /// multi-threaded process is a copy of *all* its memory with only the
    /// forking thread running: a lock another thread held at that moment
    /// (in stdout, a logger, your own code) stays locked forever in the
    /// child. glibc's `malloc` guards itself; little else does. Use it only
    /// when no other thread can hold a lock the jobs need.
    Fork,
}

/// Configures a [`ProcessPool`].
#[derive(Debug, Clone)]
pub struct ProcessPoolBuilder {
    workers: usize,
    start: StartMethod,
    depth: usize,
    start_timeout: Duration,
}

impl ProcessPoolBuilder {
    pub(super) fn new() -> ProcessPoolBuilder {
        ProcessPoolBuilder {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            start: StartMethod::default(),
            depth: 256,
            start_timeout: Duration::from_secs(20),
        }
    }

    /// The number of worker processes (default: the available parallelism).
    pub fn workers(mut self, n: usize) -> ProcessPoolBuilder {
        self.workers = n;
        self
    }

    /// How workers are started (default [`StartMethod::Spawn`]).
    pub fn start_method(mut self, method: StartMethod) -> ProcessPoolBuilder {
        self.start = method;
        self
    }

    /// How many unanswered tasks one worker may hold (default 256). Deep
    /// pipelines make tiny tasks cheap (many per system call); a depth of
    /// 1 balances long tasks of unequal length best.
    pub fn pipeline_depth(mut self, depth: usize) -> ProcessPoolBuilder {
        self.depth = depth.max(1);
        self
    }

    /// How long [`build`](Self::build) waits for each worker to report
    /// (default 20 s).
    pub fn start_timeout(mut self, timeout: Duration) -> ProcessPoolBuilder {
        self.start_timeout = timeout;
        self
    }

    /// Starts the workers and waits (blocking) until each has reported.
    ///
    /// Must be called inside a runtime (in `block_on` or a task): the pool
    /// runs its IO as tasks of that runtime, and results are delivered
    /// while it runs.
    pub fn build(self) -> io::Result<ProcessPool> {
        if std::env::var_os(ENV).is_some() {
            return Err(io::Error::other(
                "this process is a pool worker whose main() did not call \
                 spindle::pool::worker_main() first; refusing to start a nested pool",
            ));
        }
        if self.workers == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a ProcessPool needs a worker",
            ));
        }
        if !context::is_inside() {
            return Err(io::Error::other(
                "a ProcessPool must be created inside a runtime (in block_on or a task)",
            ));
        }
        let mut started: Vec<Launched> = Vec::with_capacity(self.workers);
        for _ in 0..self.workers {
            match spawn::launch(self.start) {
                Ok(worker) => started.push(worker),
                Err(e) => {
                    spawn::discard(started);
                    return Err(e);
                }
            }
        }
        let mut bufs = Vec::with_capacity(self.workers);
        for worker in &mut started {
            let mut rbuf = FrameBuf::new();
            if let Err(e) = spawn::handshake(worker, &mut rbuf, self.start_timeout) {
                spawn::discard(started);
                return Err(e);
            }
            bufs.push(rbuf);
        }
        let pids: Vec<u32> = started.iter().map(|w| w.pid).collect();
        let conns: io::Result<Vec<Conn>> = started
            .into_iter()
            .zip(bufs)
            .map(|(worker, rbuf)| Conn::new(worker, rbuf, true))
            .collect();
        let conns = conns.inspect_err(|_| {
            pids.iter().for_each(|&pid| sys::kill(pid));
            pids.iter().for_each(|&pid| drop(sys::wait(pid)));
        })?;
        let inner = Inner::new(&pids, self.start, self.depth);
        for (idx, conn) in conns.into_iter().enumerate() {
            driver::spawn_driver(inner.clone(), idx, conn);
        }
        Ok(ProcessPool::from_inner(inner))
    }
}
