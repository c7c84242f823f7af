//! A worker's part of the runtime's shutdown *before* the stop gate: drop
//! every future this thread may reach, so that nothing waits at the gate
//! for a task whose drop would release it (see "Shutdown" in `mod.rs` and
//! docs/architecture.md §13).
//!
//! ```text
//! first thread to look    abort the Send tasks of every worker's list:
//! (worker or stand-in)      idle -> run here (the run drops the future)
//!                           queued / in a poll elsewhere -> flag only
//! each worker's own       the same for its own pinned tasks
//! thread
//! each worker             drain: pop what it may take (LIFO, queue,
//! (and stand-in)            pinned and own inject for the owner, group
//!                           inject), flag it, run it (drops the future)
//! ```
//!
//! After the gate, `Local::shutdown` (executor/shutdown.rs) drops what is
//! left in each worker's list, as on the current-thread runtime. A worker
//! whose thread died (a user's waker panicked in its reactor) never gets
//! there: once it is joined, [`release_dead_worker`] does what can still be
//! done for it from the joining thread.

use std::sync::atomic::Ordering::SeqCst;

use crate::task::raw::TaskRef;
use crate::task::ToCancelled;

use super::super::{cancel_and_complete, Local, RELEASED};
use super::worker::Role;
use super::WorkerRemote;

/// For a worker whose thread died outside any task and has been joined:
/// drops the futures of its `Send` tasks (nobody polls any more: every
/// worker is joined), and tells its remote timers and its IO driver that
/// the runtime is gone, so that sleeps and sockets fail instead of waiting
/// for a loop that is gone. Its pinned tasks may be dropped on its own
/// thread only: they leak, futures and all.
pub(super) fn release_dead_worker(remote: &WorkerRemote) {
    if let Some(list) = remote.shared.mt.get().and_then(|link| link.owned.as_ref()) {
        loop {
            let tasks = list.close_and_drain();
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                if task.header().vtable.pinned {
                    // The list's reference stays with the leaked future.
                    std::mem::forget(task);
                    continue;
                }
                // SAFETY: the task is off its list, so no other thread
                // reads this index (as in `Local::shutdown`).
                unsafe { *task.header().owned_index.get() = RELEASED };
                // Not being polled: every worker thread has been joined.
                cancel_and_complete(&task);
            }
        }
    }
    // Timers that threads which only entered the runtime queued for its
    // wheel (those in the wheel learnt it when the wheel was dropped, as
    // the thread unwound).
    remote.shared.orphan_remote_timers();
    remote.shared.io.shutdown();
}

impl Local {
    /// At shutdown, before the stop gate: aborts the tasks this thread may
    /// drop, as `JoinHandle::abort` would, and drops at once those that
    /// were idle. The owner thread of each worker does its own pinned
    /// tasks (they may be dropped nowhere else); the first thread to get
    /// here (a worker or a stand-in) does every worker's `Send` tasks. A
    /// task that is queued, or inside a poll on another thread (a
    /// `block_in_place`, say), only gets the flag: whoever runs it next
    /// drops it instead of polling it.
    ///
    /// So every future that is not inside a poll is dropped before the
    /// workers wait for each other at the gate (but the pinned tasks of a
    /// worker whose own thread is blocked, and the `block_on` thread's):
    /// a `block_in_place` closure waiting for something a task's drop
    /// releases (a channel's last sender) is released, and its worker can
    /// reach the gate. What is left each home drops after the gate, in
    /// `Local::shutdown`, as before.
    pub(super) fn abort_tasks(&self, role: Role) {
        let worker = self.worker();
        let group = &*worker.group;
        if let Role::Owner = role {
            if !worker.pinned_aborted.replace(true) {
                self.abort_and_run(&group.workers[worker.index], true);
            }
        }
        if !group.aborted.swap(true, SeqCst) {
            for remote in &*group.workers {
                self.abort_and_run(remote, false);
            }
        }
    }

    /// Aborts the tasks of `remote`'s list that are `pinned` (or not), and
    /// runs here the idle ones, which drops their futures. Running them
    /// here, rather than queueing them, keeps thousands of aborted tasks
    /// from overflowing this worker's queue.
    fn abort_and_run(&self, remote: &WorkerRemote, pinned: bool) {
        let Some(list) = remote.shared.mt.get().and_then(|link| link.owned.as_ref()) else {
            return;
        };
        let mut tasks: Vec<TaskRef> = Vec::new();
        for shard in list.each_shard() {
            tasks.extend(
                shard
                    .tasks
                    .iter()
                    // SAFETY: the shard holds a reference to each of its
                    // tasks, so the header is alive while we hold its lock.
                    .filter(|ptr| unsafe { ptr.as_ref() }.vtable.pinned == pinned)
                    .map(|ptr| {
                        // SAFETY: as above; we take a reference of our own,
                        // so the task outlives the lock.
                        unsafe { ptr.as_ref() }.state.ref_inc();
                        // SAFETY: the reference just taken goes to the TaskRef.
                        unsafe { TaskRef::from_raw(ptr) }
                    }),
            );
        }
        // Each lock is released first: running a task completes it, which
        // takes it off its shard.
        for task in tasks {
            if task.header().state.transition_to_cancelled() == ToCancelled::Enqueue {
                // The task was idle: the transition set SCHEDULED and took a
                // reference for the queue entry it would be run from. We
                // are that entry: `run` sees CANCELLED and drops the
                // future instead of polling it, on this thread, which may
                // drop it (a `Send` task, or a pinned one of this worker).
                // SAFETY: that reference is handed to the TaskRef.
                self.run(unsafe { TaskRef::from_raw(task.as_ptr()) });
            }
        }
    }

    /// Drops the tasks queued where this thread may take them: its LIFO
    /// slot and queue, its pinned run queue and own injection queue (the
    /// owner only: pinned tasks stay on their thread), and the group's
    /// injection queue. Each one's queue entry is ours, so aborting it only
    /// sets the flag, and `run` then drops the future instead of polling
    /// it. Bounded: no future is polled, so nothing new is woken but by a
    /// future's `Drop`.
    pub(super) fn drain_queued(&self, role: Role) {
        let worker = self.worker();
        let group = &*worker.group;
        loop {
            let task = worker
                .lifo
                .take()
                .or_else(|| worker.queue.pop())
                .or_else(|| match role {
                    Role::Owner => self
                        .run_queue
                        .borrow_mut()
                        .pop_front()
                        .or_else(|| self.shared.inject.pop()),
                    Role::StandIn(_) => None,
                })
                .or_else(|| group.inject.pop());
            let Some(task) = task else { return };
            // Our entry keeps SCHEDULED set: the abort only sets the flag.
            let aborted = task.header().state.transition_to_cancelled();
            debug_assert!(aborted != ToCancelled::Enqueue);
            self.run(task);
        }
    }
}
