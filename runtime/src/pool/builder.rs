//! [`ProcessPoolBuilder`] and [`StartMethod`]: configuring a
//! [`ProcessPool`] and starting its workers.
//!
//! `build` starts every worker (see `spawn.rs`), then waits for each one's
//! HELLO, blocking, so that workers that cannot start give an error right
//! here rather than a pool that never answers. Only then are the sockets
//! registered with the current runtime and one driver task per worker
//! spawned.

use std::io;
use std::time::Duration;

use super::driver::{self, Conn};
use super::frame::FrameBuf;
use super::process::{Inner, ProcessPool};
use super::spawn::{self, Launched, Starter, ENV};
use crate::executor::context;

/// How worker processes are started (Python's multiprocessing "start methods").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMethod {
    /// The default: run this program's executable again (`/proc/self/exe`)
    /// with the worker's socket descriptor named in an environment
    /// variable; the worker starts serving before `main` (see the
    /// [module docs](super)). Costs an `exec` and the program's startup
    /// per worker (a few milliseconds), and gives each worker a clean
    /// process: no threads, locks or runtime state copied from the parent.
    #[default]
    Spawn,
    /// Workers are forked by a *fork server*, Python's "forkserver": one
    /// extra process per pool, started like a spawned worker when the pool
    /// is built, that stays single-threaded and forks a worker on request.
    /// It enters its loop before `main`, from the same hook the loader
    /// runs when the program starts. Starting and replacing a worker costs
    /// a `fork` instead of an `exec` and the program's startup.
    ///
    /// The parent itself is never forked: the child of a multi-threaded
    /// process is a copy of all its memory with only one thread running,
    /// and a lock another thread held at that instant (std's panic-hook or
    /// stderr lock, a logger's) would stay locked in the worker for ever.
    /// Jobs therefore see the program as it starts (statics at their
    /// initial values, no panic hook set by `main`), not the parent's state.
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
                "this process was started as a pool worker but its entry (a hook that \
                 runs before main) did not run; refusing to start a nested pool",
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
        let starter = Starter::new(self.start, self.start_timeout)?;
        let mut started: Vec<Launched> = Vec::with_capacity(self.workers);
        for _ in 0..self.workers {
            match starter.launch() {
                Ok(worker) => started.push(worker),
                Err(e) => {
                    starter.discard(started);
                    return Err(e);
                }
            }
        }
        let mut bufs = Vec::with_capacity(self.workers);
        for worker in &mut started {
            let mut rbuf = FrameBuf::new();
            if let Err(e) = spawn::handshake(&starter, worker, &mut rbuf, self.start_timeout) {
                starter.discard(started);
                return Err(e);
            }
            bufs.push(rbuf);
        }
        let pids: Vec<u32> = started.iter().map(|w| w.pid).collect();
        let mut conns = Vec::with_capacity(self.workers);
        let mut rest = started.into_iter().zip(bufs);
        while let Some((worker, rbuf)) = rest.next() {
            match Conn::new(worker, rbuf, true) {
                Ok(conn) => conns.push(conn),
                Err((e, worker)) => {
                    let mut unused: Vec<Launched> = rest.map(|(w, _)| w).collect();
                    unused.push(worker);
                    starter.discard(unused);
                    conns.into_iter().for_each(|conn| conn.discard(&starter));
                    return Err(e);
                }
            }
        }
        let inner = Inner::new(&pids, starter, self.depth);
        for (idx, conn) in conns.into_iter().enumerate() {
            driver::spawn_driver(inner.clone(), idx, conn);
        }
        Ok(ProcessPool::from_inner(inner))
    }
}
