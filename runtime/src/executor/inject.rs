//! The injection queue: how tasks reach a runtime from other threads.
//!
//! A waker fired on a plain thread, or `Handle::spawn` called from one, cannot
//! touch the runtime's local run queue. It pushes here instead, under a
//! mutex, and the executor drains the queue between tasks. An atomic length
//! lets the executor check for work without taking the lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;

use crate::task::raw::TaskRef;

pub(crate) struct Inject {
    inner: Mutex<Inner>,
    len: AtomicUsize,
}

struct Inner {
    tasks: VecDeque<TaskRef>,
    closed: bool,
}

impl Inject {
    pub(crate) fn new() -> Inject {
        Inject {
            inner: Mutex::new(Inner {
                tasks: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing that runs under this lock can panic, but stay usable if it did.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a task; gives it back if the runtime has shut down.
    pub(crate) fn push(&self, task: TaskRef) -> Result<(), TaskRef> {
        let mut inner = self.lock();
        if inner.closed {
            return Err(task);
        }
        inner.tasks.push_back(task);
        self.len.fetch_add(1, SeqCst);
        Ok(())
    }

    /// Queues several tasks under one hold of the lock: a worker whose own
    /// queue is full moves half of it here at once (`StealQueue::push_back`).
    /// The iterator runs under the lock, so it must be cheap and must not
    /// touch this queue. On a queue that has shut down, the tasks (already
    /// completed as cancelled through the task lists, like those refused by
    /// [`push`](Inject::push)) are dropped after the lock is released, and
    /// false comes back.
    pub(crate) fn push_batch(&self, tasks: impl IntoIterator<Item = TaskRef>) -> bool {
        let mut inner = self.lock();
        if inner.closed {
            drop(inner);
            // Outside the lock: the last reference to a task drops its
            // future, whose Drop may well wake something onto this queue.
            tasks.into_iter().for_each(drop);
            return false;
        }
        let before = inner.tasks.len();
        inner.tasks.extend(tasks);
        let added = inner.tasks.len() - before;
        self.len.fetch_add(added, SeqCst);
        true
    }

    pub(crate) fn pop(&self) -> Option<TaskRef> {
        if self.is_empty() {
            return None;
        }
        let mut inner = self.lock();
        let task = inner.tasks.pop_front();
        if task.is_some() {
            self.len.fetch_sub(1, SeqCst);
        }
        task
    }

    /// Takes the oldest task, and hands up to `more` of the tasks behind
    /// it to `keep`, under one hold of the lock: a worker that ran out of
    /// work takes its share of a long queue at once (into its own run
    /// queue) instead of a lock per task. `keep` runs under the lock, so it
    /// must be cheap and must not touch this queue; a task it gives back
    /// returns to the front, and the batch ends there.
    pub(crate) fn pop_batch(
        &self,
        more: usize,
        mut keep: impl FnMut(TaskRef) -> Result<(), TaskRef>,
    ) -> Option<TaskRef> {
        if self.is_empty() {
            return None;
        }
        let mut inner = self.lock();
        let first = inner.tasks.pop_front()?;
        let mut taken = 1;
        while taken <= more {
            let Some(task) = inner.tasks.pop_front() else {
                break;
            };
            if let Err(task) = keep(task) {
                inner.tasks.push_front(task);
                break;
            }
            taken += 1;
        }
        self.len.fetch_sub(taken, SeqCst);
        Some(first)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }

    /// How many tasks are queued (a snapshot, for metrics).
    pub(crate) fn len(&self) -> usize {
        self.len.load(SeqCst)
    }

    /// Refuses all further pushes and returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<TaskRef> {
        let mut inner = self.lock();
        inner.closed = true;
        self.len.store(0, SeqCst);
        std::mem::take(&mut inner.tasks)
    }
}
