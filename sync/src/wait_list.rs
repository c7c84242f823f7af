//! [`WaitList`]: the FIFO queue of parked futures behind every primitive in
//! `sync` and the channels. Their wakers are woken after unlocking through a
//! [`WakeList`] (`wake_list.rs`).
//!
//! # What it is
//!
//! A `WaitList<T>` is a plain data structure, not a lock: a slab of waiter
//! nodes threaded into a doubly linked FIFO list. The owning primitive keeps
//! it inside its own `Mutex`, next to the state it guards (a permit count, a
//! flag, a buffer), so that "look at the state, then queue up" is one
//! critical section and no wake-up can slip in between.
//!
//! Each node holds the waiter's `Waker` and a value `T` that the primitive
//! defines: how many permits the waiter wants and has been assigned, whether
//! it has been notified, and so on. A node is named by a [`WaiterId`] (its
//! slab key), which the waiting future keeps.
//!
//! # A node's life
//!
//! ```text
//!   push_back ──> LINKED (in the queue) ──pop_front / drain──> UNLINKED ──remove──> freed
//!       │                                                        ^
//!       └──────────────── remove (the future was dropped) ───────┴──> freed
//! ```
//!
//! * The **waiting future** calls [`push_back`](WaitList::push_back) when it
//!   has to wait, and [`remove`](WaitList::remove) exactly once: when it
//!   completes (to read what it was given) or in its `Drop` (to give back
//!   what it was given). `remove` works whether or not the node is still
//!   linked, and says which it was.
//! * The **waking side** (an unlock, a release, a notify) calls
//!   [`pop_front`](WaitList::pop_front) or [`drain`](WaitList::drain). That
//!   unlinks the node but leaves it in the slab with its value, so the
//!   future can still see, on its next poll or in its `Drop`, that it was
//!   handed something. It records the grant in the value and collects the
//!   waker into a [`WakeList`].
//!
//! Only the future frees its node. That is what makes cancellation safe:
//! whatever was handed to a waiter sits in its node until the waiter either
//! takes it (poll) or hands it back (drop), both under the owner's lock.
//!
//! # Rules for the owner
//!
//! * Every method is called with the owner's lock held; a `WaitList` is
//!   never shared without one.
//! * Never call a `Waker` under the lock: a wake may run arbitrary code
//!   (another runtime's queue push, a thread unpark, or a waker that takes
//!   this same lock). Collect into a `WakeList`, drop the guard, then call
//!   [`WakeList::wake_all`].
//! * A future that queued a node must `remove` it in its `Drop` if it has
//!   not already done so, and must pass on anything found in it.
//!
//! ```ignore
//! let mut wakers = WakeList::new();
//! {
//!     let mut state = lock(&self.state);
//!     if let Some((value, waker)) = state.waiters.pop_front() {
//!         value.notified = true;
//!         wakers.push(waker);
//!     }
//! } // lock released here
//! wakers.wake_all();
//! ```

use std::task::Waker;

use slab::Slab;

use crate::wake_list::WakeList;

/// "No node" in the links.
const NIL: usize = usize::MAX;

/// Names one waiter in a [`WaitList`]; held by the waiting future.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaiterId(usize);

struct Node<T> {
    waker: Option<Waker>,
    value: T,
    prev: usize,
    next: usize,
    linked: bool,
}

/// A FIFO queue of waiters, each with a `Waker` and a value `T`. See the
/// module docs for the protocol.
pub(crate) struct WaitList<T> {
    nodes: Slab<Node<T>>,
    head: usize,
    tail: usize,
    linked: usize,
}

impl<T> WaitList<T> {
    /// An empty list; allocates nothing until the first waiter.
    pub(crate) const fn new() -> WaitList<T> {
        WaitList {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// True if no waiter is queued (unlinked nodes do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Number of queued (linked) waiters.
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Queues a waiter at the back and returns its id.
    pub(crate) fn push_back(&mut self, value: T, waker: &Waker) -> WaiterId {
        let key = self.nodes.insert(Node {
            waker: Some(waker.clone()),
            value,
            prev: self.tail,
            next: NIL,
            linked: true,
        });
        match self.tail {
            NIL => self.head = key,
            tail => self.nodes[tail].next = key,
        }
        self.tail = key;
        self.linked += 1;
        WaiterId(key)
    }

    /// The value of the first queued waiter, to update in place (for
    /// example to assign part of what it asked for).
    pub(crate) fn front_mut(&mut self) -> Option<&mut T> {
        match self.head {
            NIL => None,
            head => Some(&mut self.nodes[head].value),
        }
    }

    /// Unlinks the first queued waiter and returns its value (to record
    /// what it was given) and its waker (to wake after unlocking). The node
    /// stays allocated until its future calls [`remove`](Self::remove).
    pub(crate) fn pop_front(&mut self) -> Option<(&mut T, Option<Waker>)> {
        let head = self.head;
        if head == NIL {
            return None;
        }
        self.unlink(head);
        let node = &mut self.nodes[head];
        Some((&mut node.value, node.waker.take()))
    }

    /// Unlinks every queued waiter, front to back, calling `f` on each value
    /// and collecting the wakers into `wakers`.
    pub(crate) fn drain(&mut self, wakers: &mut WakeList, mut f: impl FnMut(&mut T)) {
        while let Some((value, waker)) = self.pop_front() {
            f(value);
            wakers.push(waker);
        }
    }

    /// True while the waiter is still queued (nobody has popped it).
    ///
    /// # Panics
    /// If `id` was already removed.
    pub(crate) fn is_linked(&self, id: WaiterId) -> bool {
        self.nodes[id.0].linked
    }

    /// The waiter's value.
    ///
    /// (No primitive in `sync` needs it; it is here for the channels.)
    ///
    /// # Panics
    /// If `id` was already removed.
    #[allow(dead_code)]
    pub(crate) fn value_mut(&mut self, id: WaiterId) -> &mut T {
        &mut self.nodes[id.0].value
    }

    /// Stores `waker` for a still-queued waiter, unless the stored one
    /// already wakes the same task (then nothing is cloned).
    pub(crate) fn register(&mut self, id: WaiterId, waker: &Waker) {
        let slot = &mut self.nodes[id.0].waker;
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// Frees the waiter's node, unlinking it first if it is still queued.
    /// Returns its value and whether it was still queued (`true`: nobody
    /// had popped it yet). Called exactly once per id, by its future.
    pub(crate) fn remove(&mut self, id: WaiterId) -> (T, bool) {
        let was_linked = self.nodes[id.0].linked;
        if was_linked {
            self.unlink(id.0);
        }
        (self.nodes.remove(id.0).value, was_linked)
    }

    fn unlink(&mut self, key: usize) {
        let node = &mut self.nodes[key];
        debug_assert!(node.linked);
        let (prev, next) = (node.prev, node.next);
        node.linked = false;
        node.prev = NIL;
        node.next = NIL;
        match prev {
            NIL => self.head = next,
            prev => self.nodes[prev].next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.nodes[next].prev = prev,
        }
        self.linked -= 1;
    }
}

impl<T> Default for WaitList<T> {
    fn default() -> WaitList<T> {
        WaitList::new()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_unlink_and_remove() {
        let w = Waker::noop();
        let mut list = WaitList::new();
        let a = list.push_back(1, w);
        let b = list.push_back(2, w);
        let c = list.push_back(3, w);
        assert_eq!(list.len(), 3);
        // Remove the middle one while queued.
        assert_eq!(list.remove(b), (2, true));
        let (v, waker) = list.pop_front().unwrap();
        assert_eq!(*v, 1);
        *v = 10;
        assert!(waker.is_some());
        assert!(!list.is_linked(a));
        assert_eq!(*list.front_mut().unwrap(), 3);
        assert_eq!(list.remove(a), (10, false));
        let mut wakers = WakeList::new();
        let mut seen = Vec::new();
        list.drain(&mut wakers, |v| seen.push(*v));
        assert_eq!(seen, [3]);
        assert!(list.is_empty());
        assert_eq!(list.remove(c), (3, false));
        wakers.wake_all();
    }
}
