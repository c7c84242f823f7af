//! Task ids (`task::id`, `try_id`, `JoinHandle::id`), `AbortHandle`,
//! `JoinHandle::is_finished` and `FusedFuture` on `JoinHandle`.

use std::collections::HashSet;
use std::future::{pending, poll_fn};
use std::sync::mpsc;
use std::task::Poll;
use std::thread;

use futures_core::FusedFuture;
use spindle_runtime::task::{self, AbortHandle, Id};
use spindle_runtime::{block_on, spawn, spawn_blocking, spawn_local, yield_now, Runtime};

mod support;
use support::{bounded, counter, OnDrop};

#[test]
fn id_inside_a_task_matches_its_handle() {
    bounded(10, || {
        block_on(async {
            let handle = spawn(async { task::id() });
            let expected = handle.id();
            assert_eq!(handle.await.unwrap(), expected);
            let local = spawn_local(async { task::try_id() });
            let expected = local.id();
            assert_eq!(local.await.unwrap(), Some(expected));
        })
    });
}

#[test]
fn ids_are_unique() {
    bounded(10, || {
        block_on(async {
            let handles: Vec<_> = (0..1000).map(|_| spawn(async { task::id() })).collect();
            let mut seen = HashSet::new();
            for h in handles {
                assert!(seen.insert(h.await.unwrap()));
            }
            assert_eq!(seen.len(), 1000);
        })
    });
}

#[test]
fn no_id_outside_a_task() {
    assert_eq!(task::try_id(), None);
    bounded(10, || {
        block_on(async {
            // block_on's own future is not a task.
            assert_eq!(task::try_id(), None);
            // After a task ran, the id is not left behind.
            spawn(async {}).await.unwrap();
            assert_eq!(task::try_id(), None);
        })
    });
}

#[test]
#[should_panic(expected = "outside of a task")]
fn id_panics_outside_a_task() {
    let _: Id = task::id();
}

#[test]
fn blocking_job_has_an_id() {
    bounded(10, || {
        block_on(async {
            let h = spawn_blocking(task::try_id);
            let id = h.id();
            assert_eq!(h.await.unwrap(), Some(id));
        })
    });
}

#[test]
fn id_is_set_while_an_aborted_future_drops() {
    struct ReportId(Option<mpsc::Sender<Option<Id>>>);
    impl Drop for ReportId {
        fn drop(&mut self) {
            let _ = self.0.take().unwrap().send(task::try_id());
        }
    }
    bounded(10, || {
        block_on(async {
            let (tx, rx) = mpsc::channel();
            let guard = ReportId(Some(tx));
            let h = spawn(async move {
                let _guard = guard;
                pending::<()>().await
            });
            yield_now().await;
            let id = h.id();
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled());
            assert_eq!(rx.recv().unwrap(), Some(id));
        })
    });
}

#[test]
fn abort_handle_cancels_after_join_handle_is_gone() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let guard = OnDrop(drops.clone());
            let h = spawn(async move {
                let _g = guard;
                pending::<()>().await
            });
            let abort: AbortHandle = h.abort_handle();
            assert_eq!(abort.id(), h.id());
            let clone = abort.clone();
            drop(h);
            yield_now().await;
            assert!(!abort.is_finished());
            clone.abort();
            while !abort.is_finished() {
                yield_now().await;
            }
            assert_eq!(drops.load(std::sync::atomic::Ordering::SeqCst), 1);
        })
    });
}

#[test]
fn abort_handle_from_another_thread() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let h = spawn(pending::<()>());
            let abort = h.abort_handle();
            let t = thread::spawn(move || abort.abort());
            let res = h.await;
            t.join().unwrap();
            assert!(res.unwrap_err().is_cancelled());
        })
    });
}

#[test]
fn abort_of_a_finished_task_keeps_its_output() {
    bounded(10, || {
        block_on(async {
            let h = spawn(async { 7 });
            let abort = h.abort_handle();
            while !h.is_finished() {
                yield_now().await;
            }
            abort.abort();
            assert_eq!(h.await.unwrap(), 7);
        })
    });
}

#[test]
fn join_handle_is_terminated_after_its_output() {
    bounded(10, || {
        block_on(async {
            let mut h = spawn(async { 1 });
            assert!(!h.is_terminated());
            let out = poll_fn(|cx| match std::pin::Pin::new(&mut h).poll(cx) {
                Poll::Ready(v) => Poll::Ready(v),
                Poll::Pending => Poll::Pending,
            })
            .await;
            assert_eq!(out.unwrap(), 1);
            assert!(h.is_terminated());
        })
    });
}

use std::future::Future;
