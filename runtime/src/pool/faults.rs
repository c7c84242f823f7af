//! What the pool does when a worker process ends: whom to blame, what to
//! send again, whether to start a replacement.
//!
//! The driver calls [`Inner::worker_exited`] once the dead worker is
//! reaped, with its exit status and the id the worker left in its shared
//! `RunSlot`:
//!
//! * the slot names a task the worker still held: the worker died *while
//!   running it* (abort, segfault, `kill -9`, `exit` in the task). That task
//!   fails with [`PoolError::WorkerDied`] carrying the signal or exit code;
//! * every other task it held goes back to the *front* of the queue, in
//!   order: either it had not started, or it finished but its answer was
//!   still in the worker's output buffer. (So a task may run twice if its
//!   worker is killed just after it; a task is never reported twice.)
//! * a replacement is started unless the pool is shutting down with
//!   nothing left to do. A replacement that *cannot start* three times in
//!   a row marks the pool broken: every queued and future task fails with
//!   [`PoolError::Broken`] instead of the pool restarting workers forever.
//!
//! # What "cannot start" means
//!
//! A worker that ends before its HELLO either could not start (the
//! executable does not hold the worker's entry, fails in its startup,
//! crashes) or was killed from outside while starting (`kill -9`, Ctrl-C to the process
//! group, the OOM killer). Only the first is a reason to give up: an
//! outside kill says nothing about the next worker, and a pool must
//! recover once the kills stop. The exit status tells them apart:
//!
//! * an exit status (`exit(1)`, or a startup that returned from `main`),
//!   an unknown status, or a *crash signal* the process raised itself
//!   (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`, `SIGABRT`, `SIGSYS`,
//!   `SIGTRAP`) counts as a failed start;
//! * any other signal came from outside: the worker is replaced, and the
//!   count of failed starts neither grows nor resets.
//!
//! A worker that completed its handshake resets the count.

use std::io;
use std::task::Waker;

use super::driver::complete;
use super::exit::Exit;
use super::process::{fail_all, Inner, Task};
use super::PoolError;

/// Signals a process raises itself when it cannot go on (see the module docs).
const CRASH_SIGNALS: [i32; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGSYS,
    libc::SIGTRAP,
];

/// Whether a worker that ended before its handshake failed to start (as
/// opposed to being killed from outside).
fn failed_to_start(exit: Exit) -> bool {
    exit.signal.is_none_or(|sig| CRASH_SIGNALS.contains(&sig))
}

impl Inner {
    /// Worker `idx` has exited and been reaped. Fails the task it was
    /// running, requeues the rest; returns whether to start a replacement.
    pub(super) fn worker_exited(
        &self,
        idx: usize,
        exit: Exit,
        running: u64,
        greeted: bool,
        error: Option<io::Error>,
    ) -> bool {
        let mut guard = self.lock();
        let state = &mut *guard;
        let closing = state.closing;
        let w = &mut state.workers[idx];
        w.pid = None;
        w.accepting = false;
        w.written = 0;
        w.offset = 0;
        w.waker = None;
        let mut lost = std::mem::take(&mut w.inflight);
        let culprit = lost.iter().position(|t| running != 0 && t.id == running);
        let culprit = culprit.and_then(|i| lost.remove(i));
        // A replacement that cannot start points at a systematic problem;
        // three in a row and the pool gives up instead of looping. One
        // killed from outside before its HELLO is simply replaced.
        if greeted {
            w.failed_starts = 0;
        } else if failed_to_start(exit) {
            w.failed_starts += 1;
        }
        if w.failed_starts >= 3 && state.broken.is_none() {
            let why = error.map_or(String::new(), |e| format!(", {e}"));
            state.broken = Some(format!(
                "worker {idx} failed to start 3 times in a row (last: {exit:?}{why})"
            ));
        }
        while let Some(task) = lost.pop_back() {
            state.queue.push_front(task);
        }
        let respawn = state.broken.is_none() && (!closing || !state.queue.is_empty());
        let wakers = if respawn {
            self.dispatch(state)
        } else {
            Vec::new()
        };
        drop(guard);
        if let Some(task) = culprit {
            let died = PoolError::WorkerDied {
                signal: exit.signal,
                exit_code: exit.code,
            };
            complete(task.done, Err(died));
        }
        wakers.into_iter().for_each(Waker::wake);
        if !respawn {
            self.retire(idx, Vec::new(), None);
        }
        respawn
    }

    /// A replacement worker is up in slot `idx`: give it work.
    pub(super) fn worker_started(&self, idx: usize, pid: u32) {
        let mut state = self.lock();
        state.workers[idx].pid = Some(pid);
        state.workers[idx].accepting = true;
        let wakers = self.dispatch(&mut state);
        drop(state);
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Slot `idx` will have no process again. `lost` are its tasks that
    /// cannot run any more; when the pool is broken or this was the last
    /// slot, queued tasks fail too.
    pub(super) fn retire(&self, idx: usize, lost: Vec<Task>, why: Option<String>) {
        let mut state = self.lock();
        let w = &mut state.workers[idx];
        w.pid = None;
        w.accepting = false;
        w.waker = None;
        if state.broken.is_none() && state.live == 1 {
            state.broken = why;
        }
        let (wakers, mut orphans) = state.slot_retired();
        let error = match state.broken.clone() {
            Some(why) => {
                orphans.extend(state.queue.drain(..));
                PoolError::Broken(why)
            }
            None => PoolError::ShutDown,
        };
        drop(state);
        fail_all(lost, &PoolError::ShutDown);
        fail_all(orphans, &error);
        wakers.into_iter().for_each(Waker::wake);
    }
}
