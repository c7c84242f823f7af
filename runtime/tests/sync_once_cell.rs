//! OnceCell: one initialiser at a time, the value shared, set, errors,
//! cancellation and panics of an initialiser, statics, threads.

mod support;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;

use spindle_runtime::sync::{OnceCell, SetError};
use spindle_runtime::{block_on, spawn};
use support::bounded;

static GLOBAL: OnceCell<u32> = OnceCell::new();
static GLOBAL_TOKIO_NAME: OnceCell<u32> = OnceCell::const_new();

#[test]
fn a_static_cell_initialises_once() {
    block_on(async {
        assert_eq!(*GLOBAL.get_or_init(|| async { 1 }).await, 1);
        assert_eq!(*GLOBAL.get_or_init(|| async { 2 }).await, 1);
        assert_eq!(GLOBAL.get(), Some(&1));
        assert!(GLOBAL_TOKIO_NAME.get().is_none());
    });
}

#[test]
fn concurrent_callers_share_one_initialiser() {
    bounded(10, || {
        block_on(async {
            let cell = Arc::new(OnceCell::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    spawn(async move {
                        *cell
                            .get_or_init(|| async move {
                                runs.fetch_add(1, SeqCst);
                                spindle_runtime::yield_now().await;
                                i
                            })
                            .await
                    })
                })
                .collect();
            let mut seen = Vec::new();
            for t in tasks {
                seen.push(t.await.unwrap());
            }
            assert_eq!(runs.load(SeqCst), 1);
            assert!(seen.iter().all(|v| *v == seen[0]));
        })
    });
}

#[test]
fn set_get_and_their_errors() {
    let cell = OnceCell::new();
    assert!(!cell.initialized());
    assert_eq!(cell.set(5), Ok(()));
    assert!(cell.initialized());
    let err = cell.set(6).unwrap_err();
    assert!(err.is_already_init_err());
    assert_eq!(err, SetError::AlreadyInitializedError(6));
    assert_eq!(cell.into_inner(), Some(5));
    let mut cell = OnceCell::new_with(Some(String::from("x")));
    cell.get_mut().unwrap().push('y');
    assert_eq!(cell.take().as_deref(), Some("xy"));
    assert_eq!(
        cell.set("z".into()),
        Ok(()),
        "a taken cell can be set again"
    );
}

#[test]
fn set_while_an_initialiser_runs_says_so() {
    let cell = OnceCell::<u8>::new();
    let mut init = pin!(cell.get_or_init(std::future::pending));
    assert!(init
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending());
    assert_eq!(cell.set(1), Err(SetError::InitializingError(1)));
}

#[test]
fn a_cancelled_initialiser_lets_the_next_one_run() {
    let cell = OnceCell::new();
    {
        let mut first = pin!(cell.get_or_init(std::future::pending::<u8>));
        assert!(first
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending());
    }
    let mut second = pin!(cell.get_or_init(|| async { 7 }));
    assert_eq!(
        second
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(&7)
    );
}

#[test]
fn a_failing_or_panicking_initialiser_leaves_the_cell_empty() {
    bounded(10, || {
        block_on(async {
            let cell = Arc::new(OnceCell::new());
            let r: Result<&u8, &str> = cell.get_or_try_init(|| async { Err("no") }).await;
            assert_eq!(r, Err("no"));
            assert!(!cell.initialized());
            let c = cell.clone();
            let panicked = spawn(async move {
                c.get_or_init(|| async { panic!("init failed") }).await;
            })
            .await;
            assert!(panicked.is_err());
            assert_eq!(
                cell.get_or_try_init(|| async { Ok::<_, ()>(3) }).await,
                Ok(&3)
            );
        })
    });
}

#[test]
fn threads_racing_to_initialise_agree() {
    bounded(30, || {
        let cell = Arc::new(OnceCell::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let (cell, runs) = (cell.clone(), runs.clone());
                thread::spawn(move || {
                    *support::foreign_block_on(cell.get_or_init(|| async move {
                        runs.fetch_add(1, SeqCst);
                        i
                    }))
                })
            })
            .collect();
        let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(runs.load(SeqCst), 1);
        assert!(got.iter().all(|v| *v == got[0]));
    });
}

#[test]
fn cell_is_send_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync + std::fmt::Debug>() {}
    assert_send_sync::<OnceCell<u32>>();
}
