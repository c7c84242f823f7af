//! loom model checks of the oneshot channel and the mpsc core (plus one of
//! the Queue's hand-over), exploring every interleaving of a few threads.
//!
//! Run with:
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-sync --release --test channel_loom
//! ```
//!
//! # How the channel code sees loom
//!
//! loom is a dev-dependency, so the library itself never links it. This
//! test crate instead compiles the crate's sources directly
//! (`loom_build/mod.rs`). Being a `test` build with `--cfg loom`, it makes
//! the crate's `loom.rs` shim pick loom's `Arc`, `Mutex`, atomics and
//! `UnsafeCell`. The waiting here is done by this file's `block_on`, which
//! parks loom threads. Without `--cfg loom` this file is empty.

#![cfg(loom)]
#![allow(dead_code, unused_imports)]

mod loom_build;
use loom_build::*;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Context, Poll, Wake, Waker};

use ::loom::sync::atomic::{AtomicBool, AtomicUsize};
use ::loom::sync::Arc;
use ::loom::thread;

use crate::channel::{mpsc, oneshot, Queue};

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

/// Counts drops, to check every value is dropped exactly once.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[test]
fn oneshot_send_races_recv() {
    model(|| {
        let (tx, rx) = oneshot::channel();
        let t = thread::spawn(move || tx.send(1).unwrap());
        assert_eq!(block_on(rx), Ok(1));
        t.join().unwrap();
    });
}

#[test]
fn oneshot_recv_replaces_its_waker_during_send() {
    model(|| {
        let (tx, mut rx) = oneshot::channel();
        // A first poll stores one waker; block_on then swaps in another
        // while the send runs.
        assert!(poll_once(pin!(&mut rx)).is_pending());
        let t = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(block_on(rx), Ok(7));
        t.join().unwrap();
    });
}

#[test]
fn oneshot_sender_drop_races_recv() {
    model(|| {
        let (tx, rx) = oneshot::channel::<u8>();
        let t = thread::spawn(move || drop(tx));
        assert!(block_on(rx).is_err());
        t.join().unwrap();
    });
}

#[test]
fn oneshot_close_races_send_and_nothing_is_lost() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = oneshot::channel();
        let d = drops.clone();
        let t = thread::spawn(move || tx.send(Tracked(d)).is_ok());
        rx.close();
        let received = rx.try_recv().is_ok(); // dropped right here if Ok
        let sent = t.join().unwrap();
        assert_eq!(sent, received);
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn oneshot_closed_wakes_on_receiver_drop() {
    model(|| {
        let (mut tx, rx) = oneshot::channel::<u8>();
        let t = thread::spawn(move || drop(rx));
        block_on(tx.closed());
        assert!(tx.is_closed());
        t.join().unwrap();
    });
}

#[test]
fn mpsc_full_sender_is_woken_by_a_pop() {
    // Capacity 1, two values: the second send must wait for the receiver's
    // pop; the pop's `fetch_add` races the sender queueing itself.
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let t = thread::spawn(move || {
            block_on(tx.send(1)).unwrap();
            block_on(tx.send(2)).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
        t.join().unwrap();
    });
}

#[test]
fn mpsc_two_senders_one_slot() {
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let tx2 = tx.clone();
        let a = thread::spawn(move || block_on(tx.send(1)).unwrap());
        let b = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        let x = block_on(rx.recv()).unwrap();
        let y = block_on(rx.recv()).unwrap();
        assert_eq!(x + y, 3);
        assert_eq!(block_on(rx.recv()), None);
        a.join().unwrap();
        b.join().unwrap();
    });
}

#[test]
fn mpsc_dropped_waiting_send_passes_its_slot_on() {
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let t = thread::spawn(move || {
            // Queue, maybe get the slot, then give up.
            let mut send = pin!(tx2.send(1));
            let _ = poll_once(send.as_mut());
        });
        assert_eq!(rx.try_recv(), Ok(0));
        t.join().unwrap();
        // Whatever happened, the slot is free again (or value 1 got in).
        match rx.try_recv() {
            Ok(1) => {}
            Err(mpsc::TryRecvError::Empty) => {}
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(tx.capacity(), 1);
        tx.try_send(2).unwrap();
    });
}

#[test]
fn mpsc_close_races_send_and_nothing_is_lost() {
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let t = thread::spawn(move || block_on(tx.send(5)).is_ok());
        rx.close();
        let received = block_on(rx.recv()).is_some();
        assert_eq!(block_on(rx.recv()), None);
        assert_eq!(t.join().unwrap(), received);
    });
}

#[test]
fn mpsc_dropped_permit_passes_its_slot_to_a_waiting_sender() {
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        let permit = block_on(tx.reserve()).unwrap();
        let tx2 = tx.clone();
        let t = thread::spawn(move || block_on(tx2.send(2)).unwrap());
        drop(permit);
        assert_eq!(block_on(rx.recv()), Some(2));
        t.join().unwrap();
    });
}

#[test]
fn mpsc_close_wakes_a_blocked_sender_with_its_value() {
    model(|| {
        let (tx, mut rx) = mpsc::channel(1);
        tx.try_send(1).unwrap();
        let t = thread::spawn(move || block_on(tx.send(2)));
        rx.close();
        let second = t.join().unwrap();
        assert_eq!(block_on(rx.recv()), Some(1));
        match second {
            // Sent before the close: it must still be received.
            Ok(()) => assert_eq!(block_on(rx.recv()), Some(2)),
            Err(e) => assert_eq!(e.0, 2),
        }
        assert_eq!(block_on(rx.recv()), None);
    });
}

#[test]
fn mpsc_receiver_drop_races_sends_and_drops_each_value_once() {
    model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel(1);
        let d = drops.clone();
        let t = thread::spawn(move || {
            for _ in 0..2 {
                // Ok: buffered, then dropped with the receiver; Err: dropped here.
                let _ = block_on(tx.send(Tracked(d.clone())));
            }
        });
        drop(rx);
        t.join().unwrap();
        assert_eq!(drops.load(SeqCst), 2);
    });
}

#[test]
fn mpsc_unbounded_last_sender_drop_ends_the_stream() {
    model(|| {
        let (tx, mut rx) = mpsc::unbounded();
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx.send(2).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Some(1));
        assert_eq!(block_on(rx.recv()), Some(2));
        assert_eq!(block_on(rx.recv()), None);
        t.join().unwrap();
    });
}

#[test]
fn queue_put_hands_the_item_to_a_waiting_getter() {
    model(|| {
        let q = Queue::new(1);
        let q2 = q.clone();
        let t = thread::spawn(move || block_on(q2.get()).unwrap());
        q.put_nowait(3).unwrap_or_else(|_| unreachable!());
        assert_eq!(t.join().unwrap(), 3);
        assert!(q.is_empty());
    });
}

#[test]
fn queue_close_races_a_waiting_getter() {
    model(|| {
        let q = Queue::<u8>::new(0);
        let q2 = q.clone();
        let t = thread::spawn(move || block_on(q2.get()));
        let put = q.put_nowait(1).is_ok();
        q.close();
        match t.join().unwrap() {
            Ok(v) => assert!(put && v == 1),
            Err(_) => assert!(!put || q.get_nowait() == Ok(1)),
        }
    });
}
