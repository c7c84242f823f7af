//! [`Barrier`]: `n` tasks wait until all `n` have arrived, then all go on;
//! reusable, generation after generation (Python's `threading.Barrier` /
//! `asyncio.Barrier`, without the timeout and `abort()`).
//!
//! One `Mutex` guards the count of arrivals in the current generation and a
//! [`WaitList`] of the tasks that arrived. The first poll of a `wait` counts
//! its arrival. Arrivals `1..n` queue up; the `n`-th is the *leader*: it
//! resets the count to zero (opening the next generation), unlinks every
//! queued waiter, wakes them and returns at once. A woken waiter sees that
//! it was unlinked and returns as a follower. Exactly one `wait` per
//! generation reports [`is_leader`](BarrierWaitResult::is_leader).
//!
//! Because the count is reset under the same lock that releases the
//! waiters, a task that calls `wait` again right away counts towards the
//! *next* generation; it cannot be mistaken for a late member of the last.
//!
//! # Cancellation
//!
//! A `wait` dropped while still queued withdraws its arrival (the count goes
//! back down), so the generation still needs `n` live tasks and nobody is
//! released early. One dropped after its generation was released has
//! nothing to give back.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::loom::{lock, Mutex};
use crate::park::block_on_thread;
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

struct State {
    arrived: usize,
    waiters: WaitList<()>,
}

/// Lets `n` tasks wait for each other, then all continue; reusable.
///
/// ```
/// use std::sync::Arc;
/// use spindle_runtime::sync::Barrier;
///
/// spindle_runtime::block_on(async {
///     let barrier = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             spindle_runtime::spawn(async move { barrier.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += t.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    state: Mutex<State>,
}

impl Barrier {
    /// A barrier that releases its waiters when `n` of them have arrived.
    /// `n == 0` behaves like `n == 1`: every `wait` returns at once, leader.
    pub fn new(n: usize) -> Barrier {
        Barrier {
            parties: n.max(1),
            state: Mutex::new(State {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// How many tasks each generation needs.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Arrives at the barrier and waits for the rest of this generation.
    /// Cancel safe: a dropped wait withdraws its arrival.
    pub async fn wait(&self) -> BarrierWaitResult {
        BarrierWait {
            barrier: self,
            waiter: None,
        }
        .await
    }

    /// [`wait`](Self::wait) by parking this OS thread, for plain threads
    /// (Python's `threading.Barrier.wait()`). Threads and tasks may meet at
    /// the same barrier.
    ///
    /// # Panics
    /// If called inside a spindle runtime (use `wait().await` there).
    #[track_caller]
    pub fn blocking_wait(&self) -> BarrierWaitResult {
        block_on_thread(self.wait())
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("arrived", &lock(&self.state).arrived)
            .finish()
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// True for exactly one waiter per generation: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

struct BarrierWait<'a> {
    barrier: &'a Barrier,
    waiter: Option<WaiterId>,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        let mut state = lock(&this.barrier.state);
        if let Some(id) = this.waiter {
            if state.waiters.is_linked(id) {
                state.waiters.register(id, cx.waker());
                return Poll::Pending;
            }
            state.waiters.remove(id);
            this.waiter = None;
            return Poll::Ready(BarrierWaitResult { leader: false });
        }
        state.arrived += 1;
        if state.arrived < this.barrier.parties {
            this.waiter = Some(state.waiters.push_back((), cx.waker()));
            return Poll::Pending;
        }
        state.arrived = 0;
        let mut wakers = WakeList::new();
        state.waiters.drain(&mut wakers, |_| {});
        drop(state);
        wakers.wake_all();
        Poll::Ready(BarrierWaitResult { leader: true })
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        let Some(id) = self.waiter.take() else {
            return;
        };
        let mut state = lock(&self.barrier.state);
        let (_, still_queued) = state.waiters.remove(id);
        if still_queued {
            state.arrived -= 1;
        }
    }
}
