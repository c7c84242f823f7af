//! loom model checks of the broadcast and watch channels and the
//! cancellation token: their wake-up protocols (a waiter registers under
//! the lock the waking side takes after publishing) and their close paths,
//! across every interleaving of two or three threads.
//!
//! Run with:
//!
//! ```text
//! LOOM_MAX_PREEMPTIONS=2 RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p spindle-sync --release --test broadcast_watch_loom
//! ```
//!
//! The crate's sources are compiled into this test crate as in
//! `channel_loom.rs` (see `loom_build/mod.rs`). Without `--cfg loom` this
//! file is empty.

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

use crate::channel::{broadcast, watch};
use crate::sync::CancellationToken;

fn poll_once<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = ::loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

#[test]
fn broadcast_send_races_recv() {
    model(|| {
        let (tx, mut rx) = broadcast::channel(2);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
        });
        assert_eq!(block_on(rx.recv()), Ok(1));
        t.join().unwrap();
    });
}

#[test]
fn broadcast_two_receivers_both_get_it_and_it_is_dropped_once_read() {
    model(|| {
        let (tx, mut rx1) = broadcast::channel(2);
        let mut rx2 = tx.subscribe();
        let value = std::sync::Arc::new(());
        let v = value.clone();
        let t = thread::spawn(move || {
            let got = block_on(rx2.recv()).unwrap();
            drop(got);
        });
        tx.send(v).unwrap();
        drop(block_on(rx1.recv()).unwrap());
        t.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&value),
            1,
            "read by both: dropped"
        );
    });
}

#[test]
fn broadcast_sender_drop_races_recv() {
    model(|| {
        let (tx, mut rx) = broadcast::channel::<u8>(2);
        let t = thread::spawn(move || drop(tx));
        assert_eq!(
            block_on(rx.recv()),
            Err(broadcast::error::RecvError::Closed)
        );
        t.join().unwrap();
    });
}

#[test]
fn broadcast_receiver_drop_races_send_and_the_value_is_released() {
    model(|| {
        let (tx, rx) = broadcast::channel(2);
        let value = std::sync::Arc::new(());
        let v = value.clone();
        let t = thread::spawn(move || drop(rx));
        let _ = tx.send(v);
        t.join().unwrap();
        assert_eq!(
            std::sync::Arc::strong_count(&value),
            1,
            "sent to a receiver that left, or refused: either way released"
        );
    });
}

#[test]
fn watch_send_races_changed() {
    model(|| {
        let (tx, mut rx) = watch::channel(0);
        let t = thread::spawn(move || {
            tx.send(1).unwrap();
            tx
        });
        assert_eq!(block_on(rx.changed()), Ok(()));
        assert_eq!(*rx.borrow_and_update(), 1);
        drop(t.join().unwrap());
    });
}

#[test]
fn watch_sender_drop_races_changed() {
    model(|| {
        let (tx, mut rx) = watch::channel(0);
        let t = thread::spawn(move || drop(tx));
        assert!(block_on(rx.changed()).is_err());
        t.join().unwrap();
    });
}

#[test]
fn watch_closed_races_the_last_receiver_drop() {
    model(|| {
        let (tx, rx) = watch::channel(0);
        let rx2 = rx.clone();
        let t = thread::spawn(move || drop(rx));
        drop(rx2);
        block_on(tx.closed());
        t.join().unwrap();
    });
}

#[test]
fn cancel_races_a_child_waiting() {
    model(|| {
        let root = CancellationToken::new();
        let child = root.child_token();
        let t = thread::spawn(move || root.cancel());
        block_on(child.cancelled());
        assert!(child.is_cancelled());
        t.join().unwrap();
    });
}

#[test]
fn child_creation_races_cancel() {
    model(|| {
        let root = CancellationToken::new();
        let r = root.clone();
        let t = thread::spawn(move || r.cancel());
        let child = root.child_token();
        t.join().unwrap();
        assert!(
            child.is_cancelled(),
            "made before or after the cancel, it is cancelled"
        );
    });
}
