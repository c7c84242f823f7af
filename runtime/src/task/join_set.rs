//! [`JoinSet`]: a collection of spawned tasks, awaited in the order they finish.
//!
//! # How `join_next` finds a finished task without looking at all of them
//!
//! Every task in the set has an entry in a slab (its `JoinHandle` and a
//! generation number). When the task is added, the set registers a
//! *completion waker* as the task's join waker: a small `Arc` that knows
//! the entry's slab index and generation and the set's shared ready list.
//! A task's join waker fires once, when it completes, so that is when the
//! completion waker runs: it pushes its key on the ready list and wakes
//! whoever awaits `join_next`.
//!
//! ```text
//!   task completes --> completion waker --> ready list (Mutex<Vec<key>>) --> wake set's waiter
//!   join_next: pop a key (refilling a local queue from the ready list in one lock)
//!              --> entry still there with that generation? take its output, free the entry
//! ```
//!
//! So `join_next` does work in proportion to the tasks that finished, never
//! to the tasks in the set: a million idle tasks cost nothing per wake-up.
//! The generation makes stale keys harmless: a key for an entry that was
//! detached, or whose slot was reused by a newer task, no longer matches
//! and is skipped (it can arrive twice when a task completes on another
//! thread while being added; the second copy is stale the same way).

use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use slab::Slab;

use super::{AbortHandle, AtomicWaker, Id, JoinError, JoinHandle};
use crate::Handle;

/// A set of tasks spawned together, joined in the order they finish
/// (tokio's `JoinSet`).
///
/// Dropping the set aborts every task still in it; [`detach_all`]
/// lets them run on instead.
///
/// ```no_run
/// # spindle_runtime::block_on(async {
/// let mut set = spindle_runtime::task::JoinSet::new();
/// for i in 0..10 {
///     set.spawn(async move { i * 2 });
/// }
/// let mut sum = 0;
/// while let Some(res) = set.join_next().await {
///     sum += res.unwrap();
/// }
/// assert_eq!(sum, 90);
/// # });
/// ```
///
/// [`detach_all`]: JoinSet::detach_all
pub struct JoinSet<T> {
    /// Every task not yet joined.
    tasks: Slab<Entry<T>>,
    /// Keys taken from the shared ready list, in completion order.
    ready: VecDeque<ReadyKey>,
    /// Where completion wakers put their keys.
    shared: Arc<ReadyList>,
    /// Generation of the next entry: never reused, so a stale key never
    /// matches a newer task in the same slot.
    next_generation: u64,
}

struct Entry<T> {
    handle: JoinHandle<T>,
    generation: u64,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct ReadyKey {
    index: usize,
    generation: u64,
}

/// The part the completion wakers share with the set.
struct ReadyList {
    keys: Mutex<Vec<ReadyKey>>,
    /// The task awaiting `join_next`.
    waiter: AtomicWaker,
}

/// A task's join waker while it is in a set.
struct CompletionWaker {
    list: Arc<ReadyList>,
    key: ReadyKey,
}

impl Wake for CompletionWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.list
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.key);
        self.list.waiter.wake_by_ref();
    }
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: Slab::new(),
            ready: VecDeque::new(),
            shared: Arc::new(ReadyList {
                keys: Mutex::new(Vec::new()),
                waiter: AtomicWaker::new(),
            }),
            next_generation: 0,
        }
    }

    /// The number of tasks in the set: running, or finished and not yet joined.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a task the caller spawned, so its completion reaches this set.
    fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = self.tasks.vacant_entry();
        let key = ReadyKey {
            index: slot.key(),
            generation,
        };
        let waker = Waker::from(Arc::new(CompletionWaker {
            list: self.shared.clone(),
            key,
        }));
        let abort = handle.abort_handle();
        let done = handle.register_completion_waker(&waker);
        slot.insert(Entry { handle, generation });
        if done {
            // Finished before the waker was in place: no wake will name it.
            self.ready.push_back(key);
        }
        abort
    }

    /// Spawns `task` on the current runtime into the set.
    ///
    /// # Panics
    /// Outside a runtime, as [`spawn`](crate::spawn).
    #[track_caller]
    pub fn spawn<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.insert(crate::spawn(task))
    }

    /// Spawns `task` on the runtime of `handle` into the set.
    pub fn spawn_on<F>(&mut self, task: F, handle: &Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.insert(handle.spawn(task))
    }

    /// Spawns a future that need not be `Send` into the set, on the
    /// current runtime's thread.
    ///
    /// # Panics
    /// Where [`spawn_local`](crate::spawn_local) does: outside a runtime,
    /// or on a `block_in_place` stand-in.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, task: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        self.insert(crate::spawn_local(task))
    }

    /// Runs the blocking closure `f` on the blocking pool, as a task of the set.
    ///
    /// # Panics
    /// Outside a runtime, as [`spawn_blocking`](crate::spawn_blocking).
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.insert(crate::spawn_blocking(f))
    }

    /// Waits for one of the tasks to finish and returns its output, or
    /// `None` if the set is empty.
    ///
    /// Cancel safe: if the future is dropped before it returns, no task
    /// output is lost; the next call returns it.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// [`join_next`](Self::join_next), with the id of the task that finished.
    pub async fn join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        poll_fn(|cx| self.poll_join_next_with_id(cx)).await
    }

    /// The output of a task that has finished already, without waiting;
    /// `None` if none has (or the set is empty).
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        self.try_join_next_with_id()
            .map(|res| res.map(|(_, output)| output))
    }

    /// [`try_join_next`](Self::try_join_next), with the id of the task.
    pub fn try_join_next_with_id(&mut self) -> Option<Result<(Id, T), JoinError>> {
        loop {
            if self.ready.is_empty() && !self.refill() {
                return None;
            }
            if let Some(output) = self.take_next_ready() {
                return Some(output);
            }
        }
    }

    /// Polls for the next finished task: `Ready(None)` when the set is empty.
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        self.poll_join_next_with_id(cx)
            .map(|res| res.map(|res| res.map(|(_, output)| output)))
    }

    /// Polls for the next finished task and its id.
    pub fn poll_join_next_with_id(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<(Id, T), JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        loop {
            if self.ready.is_empty() && !self.refill() {
                // Register first, then look again: a completion between the
                // look above and the registration is not missed.
                self.shared.waiter.register(cx.waker());
                if !self.refill() {
                    return Poll::Pending;
                }
            }
            // A result is work done: spend cooperative budget on it, as a
            // JoinHandle does, so a set of always-ready tasks cannot hog
            // the thread.
            std::task::ready!(crate::coop::poll_proceed(cx));
            if let Some(output) = self.take_next_ready() {
                return Poll::Ready(Some(output));
            }
        }
    }

    /// Moves the keys the completion wakers pushed into the local queue;
    /// false if there were none.
    fn refill(&mut self) -> bool {
        let mut keys = self.shared.keys.lock().unwrap_or_else(|e| e.into_inner());
        if keys.is_empty() {
            return false;
        }
        self.ready.extend(keys.drain(..));
        true
    }

    /// Takes the output of the first ready key's task; `None` if that key
    /// was stale (the queue moves on either way).
    fn take_next_ready(&mut self) -> Option<Result<(Id, T), JoinError>> {
        let key = self.ready.pop_front()?;
        let entry = self.tasks.get_mut(key.index)?;
        if entry.generation != key.generation {
            return None;
        }
        let id = entry.handle.id();
        let output = entry.handle.try_take_output()?;
        self.tasks.remove(key.index);
        Some(output.map(|value| (id, value)))
    }

    /// Aborts every task in the set. They stay in it: `join_next` returns
    /// each one's result (a cancelled `JoinError`, or its output if it had
    /// already finished).
    pub fn abort_all(&mut self) {
        for (_, entry) in self.tasks.iter() {
            entry.handle.abort();
        }
    }

    /// Aborts every task and waits until all of them have stopped, dropping
    /// their results. The set is empty afterwards.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Removes every task from the set without aborting them: they run on,
    /// detached, and their outputs are dropped when they finish.
    pub fn detach_all(&mut self) {
        self.tasks.clear();
        self.ready.clear();
        self.shared
            .keys
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Waits for every task and returns their outputs, in the order they
    /// finished.
    ///
    /// # Panics
    /// If a task panicked (the panic is resumed here) or was cancelled; the
    /// tasks still running are aborted, as the set is dropped.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut outputs = Vec::with_capacity(self.len());
        while let Some(result) = self.join_next().await {
            match result {
                Ok(value) => outputs.push(value),
                Err(e) if e.is_panic() => panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("a task of JoinSet::join_all failed: {e}"),
            }
        }
        outputs
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
        // The handles go with the slab; the set's waiter must not outlive it
        // in a task that completes later.
        drop(self.shared.waiter.take());
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> Self {
        JoinSet::new()
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

/// Collects futures into a set by spawning each one (tokio's
/// `FromIterator for JoinSet`).
impl<T, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        let mut set = JoinSet::new();
        set.extend(iter);
        set
    }
}

/// Spawns each future into the set.
impl<T, F> Extend<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    fn extend<I: IntoIterator<Item = F>>(&mut self, iter: I) {
        for future in iter {
            self.spawn(future);
        }
    }
}
