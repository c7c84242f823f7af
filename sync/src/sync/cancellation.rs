//! [`CancellationToken`]: a cancel signal that tasks wait for, organised as
//! a tree (cancelling a token cancels its children), as in
//! `tokio_util::sync::CancellationToken`.
//!
//! ```
//! use spindle_runtime::sync::CancellationToken;
//!
//! spindle_runtime::block_on(async {
//!     let token = CancellationToken::new();
//!     let child = token.child_token();
//!     let worker = spindle_runtime::spawn(async move {
//!         child.cancelled().await;
//!         "stopped"
//!     });
//!     token.cancel();
//!     assert_eq!(worker.await.unwrap(), "stopped");
//! });
//! ```
//!
//! # How it works
//!
//! Every token (and its clones) shares one `Node`: an atomic `cancelled`
//! flag, read without a lock by [`is_cancelled`](CancellationToken::is_cancelled)
//! and by the fast path of `cancelled()`, and behind a mutex the waiting
//! futures (a FIFO wait list) and the children. A child holds its parent
//! with a strong reference (its key in the parent's list beside it); the
//! parent holds its children weakly, so dropping every handle of a child
//! frees it, and its `Drop` takes its entry out of the parent's list.
//!
//! [`cancel`](CancellationToken::cancel) sets the flag and, under the
//! lock, takes the waiters and the children out; after unlocking it wakes
//! the waiters and cancels the children, one level at a time through an
//! explicit stack (a deep tree cannot overflow the thread's stack). A
//! child made from a parent already cancelled starts cancelled. A waiter
//! checks the flag again under the lock before queueing, so a cancel
//! cannot slip between its check and its queueing.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};

use crate::loom::atomic::{AtomicBool, Ordering::*};
use crate::loom::{lock, Mutex};
use crate::wait_list::{WaitList, WaiterId};
use crate::wake_list::WakeList;

/// A cancel signal shared by its clones; see the module docs. Cheap to
/// clone (an `Arc`).
#[derive(Clone)]
pub struct CancellationToken {
    node: Arc<Node>,
}

struct Node {
    cancelled: AtomicBool,
    inner: Mutex<Inner>,
    /// The parent, and this node's key in its `children`.
    parent: Option<(Arc<Node>, usize)>,
}

struct Inner {
    waiters: WaitList<()>,
    children: slab::Slab<Weak<Node>>,
}

impl Node {
    fn new(parent: Option<(Arc<Node>, usize)>, cancelled: bool) -> Node {
        Node {
            cancelled: AtomicBool::new(cancelled),
            inner: Mutex::new(Inner {
                waiters: WaitList::new(),
                children: slab::Slab::new(),
            }),
            parent,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some((parent, key)) = &self.parent {
            let mut inner = lock(&parent.inner);
            // A cancelled parent has already taken its children out (and
            // may have reused no key since: it makes no new ones).
            if !parent.cancelled.load(Relaxed) {
                inner.children.remove(*key);
            }
        }
    }
}

impl CancellationToken {
    /// A new token, not cancelled, with no parent.
    pub fn new() -> CancellationToken {
        CancellationToken {
            node: Arc::new(Node::new(None, false)),
        }
    }

    /// A token that is cancelled when this one is (and can also be
    /// cancelled on its own without affecting this one).
    pub fn child_token(&self) -> CancellationToken {
        let mut inner = lock(&self.node.inner);
        if self.node.cancelled.load(Relaxed) {
            drop(inner);
            return CancellationToken {
                node: Arc::new(Node::new(None, true)),
            };
        }
        let entry = inner.children.vacant_entry();
        let key = entry.key();
        let child = Arc::new(Node::new(Some((self.node.clone(), key)), false));
        entry.insert(Arc::downgrade(&child));
        CancellationToken { node: child }
    }

    /// Cancels this token and every token descended from it, waking every
    /// task waiting in `cancelled()`. Cancelling again does nothing.
    pub fn cancel(&self) {
        let mut stack = vec![self.node.clone()];
        while let Some(node) = stack.pop() {
            let mut wakers = WakeList::new();
            let children = {
                let mut inner = lock(&node.inner);
                if node.cancelled.swap(true, Release) {
                    continue;
                }
                inner.waiters.drain(&mut wakers, |_| {});
                std::mem::take(&mut inner.children)
            };
            wakers.wake_all();
            stack.extend(
                children
                    .into_iter()
                    .filter_map(|(_, child)| child.upgrade()),
            );
        }
    }

    /// True once this token (or an ancestor) was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.node.cancelled.load(Acquire)
    }

    /// Waits until the token is cancelled. Cancellation safe: dropping the
    /// future just takes it out of the queue.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        WaitForCancellationFuture {
            node: &self.node,
            id: None,
        }
    }

    /// [`cancelled`](Self::cancelled), as a future that owns a clone of the
    /// token (to move into a task, or store).
    pub fn cancelled_owned(self) -> WaitForCancellationFutureOwned {
        WaitForCancellationFutureOwned {
            node: self.node,
            id: None,
        }
    }

    /// A guard that cancels the token when dropped, unless
    /// [`disarm`](DropGuard::disarm)ed.
    pub fn drop_guard(self) -> DropGuard {
        DropGuard { token: Some(self) }
    }
}

impl Default for CancellationToken {
    fn default() -> Self {
        CancellationToken::new()
    }
}

/// Polls the wait of `node`'s cancellation, queueing `id` in its list.
fn poll_cancelled(node: &Node, id: &mut Option<WaiterId>, cx: &Context<'_>) -> Poll<()> {
    if node.cancelled.load(Acquire) {
        if let Some(id) = id.take() {
            lock(&node.inner).waiters.remove(id);
        }
        return Poll::Ready(());
    }
    let mut inner = lock(&node.inner);
    // `cancel` sets the flag under this lock: looked at again here, it
    // cannot be set after our look and before we are queued.
    if node.cancelled.load(Acquire) {
        if let Some(id) = id.take() {
            inner.waiters.remove(id);
        }
        return Poll::Ready(());
    }
    match *id {
        Some(i) => inner.waiters.register(i, cx.waker()),
        None => *id = Some(inner.waiters.push_back((), cx.waker())),
    }
    Poll::Pending
}

fn cancel_wait(node: &Node, id: &mut Option<WaiterId>) {
    if let Some(id) = id.take() {
        lock(&node.inner).waiters.remove(id);
    }
}

/// The future of [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFuture<'a> {
    node: &'a Node,
    id: Option<WaiterId>,
}

impl Future for WaitForCancellationFuture<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_cancelled(this.node, &mut this.id, cx)
    }
}

impl Drop for WaitForCancellationFuture<'_> {
    fn drop(&mut self) {
        cancel_wait(self.node, &mut self.id);
    }
}

/// The future of [`CancellationToken::cancelled_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct WaitForCancellationFutureOwned {
    node: Arc<Node>,
    id: Option<WaiterId>,
}

impl Future for WaitForCancellationFutureOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        poll_cancelled(&this.node, &mut this.id, cx)
    }
}

impl Drop for WaitForCancellationFutureOwned {
    fn drop(&mut self) {
        cancel_wait(&self.node, &mut self.id);
    }
}

/// Cancels its token when dropped; see [`CancellationToken::drop_guard`].
#[must_use = "the token is cancelled as soon as the guard is dropped"]
pub struct DropGuard {
    token: Option<CancellationToken>,
}

impl DropGuard {
    /// Gives the token back without cancelling it.
    pub fn disarm(mut self) -> CancellationToken {
        self.token.take().expect("only taken here and in drop")
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if let Some(token) = self.token.take() {
            token.cancel();
        }
    }
}

impl fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancellationToken")
            .field("is_cancelled", &self.is_cancelled())
            .finish()
    }
}

impl fmt::Debug for WaitForCancellationFuture<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFuture")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for WaitForCancellationFutureOwned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCancellationFutureOwned")
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for DropGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DropGuard")
            .field("token", &self.token)
            .finish()
    }
}
