//! Blocks freed by threads other than their segment's owner: a stack that
//! any thread pushes onto and only the owner empties, all at once.
//!
//! ```text
//!  any thread: push(b)            owner: take_all()
//!    b.next = head                  list = swap(head, empty)
//!    CAS(head: next -> b)           walk list privately
//!  (push_chain(first..last): last.next = head; CAS(head: next -> first))
//! ```
//!
//! A push writes the block's link and size class, then publishes the
//! block with a compare-and-swap on the head (Release), retrying if
//! another push got in first. The owner never pops a single block: it
//! swaps the whole stack out for an empty one (Acquire), which makes every
//! pushed block's link and class visible, and walks what it got without
//! any further atomics. That is why the stack needs no ABA guard: the ABA
//! failure of a lock-free stack is a pop that reads `head.next`, loses the
//! CPU while the head block leaves and comes back, and then installs a
//! stale `next`. Nothing here reads a link of a block still on the stack.
//! A push may see its head leave and come back before its
//! compare-and-swap; that is harmless, because the push only uses the
//! head as its own block's link, and that block is on the stack again
//! when the swap succeeds.
//!
//! The model check is `runtime/tests/arena_loom.rs`.

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::task::loom::AtomicPtr;

/// A free block's first bytes, while it sits on a free list.
#[repr(C)]
pub(crate) struct FreeBlock {
    /// The next free block, or null.
    pub(crate) next: *mut FreeBlock,
    /// The block's size class, which the owner needs to file it: remote
    /// frees of every class share one stack per segment.
    pub(crate) class: usize,
}

/// The stack of a segment's remotely freed blocks (see the module docs).
pub(crate) struct RemoteFrees {
    /// The top block, or null.
    head: AtomicPtr<FreeBlock>,
}

impl RemoteFrees {
    /// An empty stack.
    pub(crate) fn new() -> RemoteFrees {
        RemoteFrees {
            head: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Pushes `block`, of size class `class`.
    ///
    /// # Safety
    /// `block` is a free block of at least 16 bytes, aligned for
    /// `FreeBlock`, that nobody else uses: it was just freed by its last
    /// user, and it is on no other list.
    pub(crate) unsafe fn push(&self, block: *mut FreeBlock, class: usize) {
        // SAFETY: the caller gave us the block; nothing else reaches it.
        unsafe {
            block.write(FreeBlock {
                next: std::ptr::null_mut(),
                class,
            });
            self.push_chain(block, block);
        }
    }

    /// Pushes a chain of blocks, `first` to `last` linked through `next`,
    /// each with its class already written, in one compare-and-swap.
    ///
    /// # Safety
    /// Every block of the chain is free, nobody else uses it, and it is on
    /// no other list; `last` is reached from `first` through `next`.
    pub(crate) unsafe fn push_chain(&self, first: *mut FreeBlock, last: *mut FreeBlock) {
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: the chain is ours (caller); until the CAS below
            // succeeds no other thread can reach it.
            unsafe { (*last).next = head };
            // Release: whoever takes the stack sees the chain's writes.
            match self
                .head
                .compare_exchange_weak(head, first, Release, Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Takes every block pushed so far, as a list linked through `next`
    /// (null if there were none). Only the segment's owner calls this.
    pub(crate) fn take_all(&self) -> *mut FreeBlock {
        if self.head.load(Relaxed).is_null() {
            return std::ptr::null_mut();
        }
        // Acquire: pairs with the Release of each push (a run of pushes is
        // one release sequence), so each block's link and class are
        // visible to the walk that follows.
        self.head.swap(std::ptr::null_mut(), Acquire)
    }
}
