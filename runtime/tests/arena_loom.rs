//! loom model checks of the task arena's remote-free stack
//! (`task/arena/remote.rs`): threads that free blocks into a segment they
//! do not own push onto its stack while the owner takes the whole stack,
//! possibly more than once, and a heap that ends pushes its free blocks
//! back as whole chains. Each model runs the real stack through every
//! interleaving of its threads (up to the preemption bound) and checks
//! that every pushed block comes out exactly once, with the size class it
//! was pushed with.
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-runtime --release --test arena_loom
//! ```
//!
//! As in `core_loom.rs`, the test crate compiles the real source file with
//! `#[path]`; being a `test` build with `--cfg loom`, it picks loom's
//! `AtomicUsize` through `task/loom.rs`. The blocks are `Box`ed
//! `FreeBlock`s standing in for freed task cells. loom sees the stack's
//! atomics, not the bytes of the blocks: what the models check is that no
//! block is lost or taken twice; that a block's link and class are
//! visible to the owner (the push's Release, the take's Acquire) is argued
//! in `remote.rs`. Without `--cfg loom` this file is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

#[path = "../src/task"]
mod task {
    pub(crate) mod loom;

    pub(crate) mod arena {
        pub(crate) mod remote;
    }
}

use loom::sync::Arc;
use loom::thread;
use task::arena::remote::{FreeBlock, RemoteFrees};

/// Checks `f` under every interleaving up to the preemption bound
/// (`LOOM_MAX_PREEMPTIONS`, 2 if unset).
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

/// A fresh block to free: its class is what the test checks on the way out.
fn block() -> usize {
    Box::into_raw(Box::new(FreeBlock {
        next: std::ptr::null_mut(),
        class: usize::MAX,
    })) as usize
}

/// Walks a taken list, freeing each block, and returns the (address,
/// class) pairs in it.
fn drain(mut list: *mut FreeBlock) -> Vec<(usize, usize)> {
    let mut got = Vec::new();
    while !list.is_null() {
        // SAFETY: each block was pushed whole, and the take made it ours.
        let taken = unsafe { Box::from_raw(list) };
        got.push((list as usize, taken.class));
        list = taken.next;
    }
    got
}

struct Stack(RemoteFrees);

// SAFETY: the model shares the stack the way segments share it.
unsafe impl Sync for Stack {}
unsafe impl Send for Stack {}

#[test]
fn two_remote_frees_and_an_owner_taking_twice_lose_nothing() {
    model(|| {
        let stack = Arc::new(Stack(RemoteFrees::new()));
        let pushers: Vec<_> = (0..2)
            .map(|class| {
                let stack = stack.clone();
                thread::spawn(move || {
                    let b = block();
                    // SAFETY: a fresh block, on no list, given up here.
                    unsafe { stack.0.push(b as *mut FreeBlock, class) };
                    (b, class)
                })
            })
            .collect();
        // The owner takes while the pushes may be under way, then again
        // once they are done: between the two takes, everything.
        let mut got = drain(stack.0.take_all());
        let mut pushed: Vec<_> = pushers.into_iter().map(|p| p.join().unwrap()).collect();
        got.extend(drain(stack.0.take_all()));
        got.sort_unstable();
        pushed.sort_unstable();
        assert_eq!(got, pushed);
    });
}

#[test]
fn a_push_racing_a_take_lands_in_one_take_or_the_next() {
    model(|| {
        let stack = Arc::new(Stack(RemoteFrees::new()));
        let first = block();
        // SAFETY: a fresh block, given up here.
        unsafe { stack.0.push(first as *mut FreeBlock, 3) };
        let pusher = {
            let stack = stack.clone();
            thread::spawn(move || {
                let b = block();
                // SAFETY: as above.
                unsafe { stack.0.push(b as *mut FreeBlock, 5) };
                b
            })
        };
        let early = drain(stack.0.take_all());
        let second = pusher.join().unwrap();
        let late = drain(stack.0.take_all());
        // `first` was pushed before the owner's take started: it is in it.
        assert!(early.contains(&(first, 3)));
        let mut all: Vec<_> = early.into_iter().chain(late).collect();
        all.sort_unstable();
        let mut want = vec![(first, 3), (second, 5)];
        want.sort_unstable();
        assert_eq!(all, want);
    });
}

#[test]
fn a_chain_pushed_whole_beside_a_single_push_comes_out_whole() {
    // What a heap does when its thread ends: its free blocks go back as
    // chains, one compare-and-swap each, while other threads still push.
    model(|| {
        let stack = Arc::new(Stack(RemoteFrees::new()));
        let chain = {
            let stack = stack.clone();
            thread::spawn(move || {
                let (a, b) = (block() as *mut FreeBlock, block() as *mut FreeBlock);
                // SAFETY: two fresh blocks, linked a -> b with their
                // classes written, given up here.
                unsafe {
                    (*a).class = 1;
                    (*a).next = b;
                    (*b).class = 2;
                    stack.0.push_chain(a, b);
                }
                vec![(a as usize, 1), (b as usize, 2)]
            })
        };
        let single = {
            let stack = stack.clone();
            thread::spawn(move || {
                let c = block();
                // SAFETY: a fresh block, given up here.
                unsafe { stack.0.push(c as *mut FreeBlock, 3) };
                (c, 3)
            })
        };
        let mut got = drain(stack.0.take_all());
        let mut pushed = chain.join().unwrap();
        pushed.push(single.join().unwrap());
        got.extend(drain(stack.0.take_all()));
        got.sort_unstable();
        pushed.sort_unstable();
        assert_eq!(got, pushed);
    });
}
