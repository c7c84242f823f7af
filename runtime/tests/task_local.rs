//! `task_local!`: scope / with / try_with / get / sync_scope, one value per
//! task even when tasks interleave on one thread, nesting, values seen by
//! destructors of a cancelled future, and scoped futures run on a runtime
//! from another thread.

// A scope returns the JoinHandle of a task spawned inside it, on purpose.
#![allow(clippy::async_yields_async)]

use std::cell::Cell;
use std::future::{pending, poll_fn, Future};
use std::pin::pin;
use std::sync::mpsc;
use std::task::Poll;
use std::thread;

use spindle_runtime::task::JoinSet;
use spindle_runtime::{block_on, spawn, task_local, yield_now, Runtime};

mod support;
use support::bounded;

task_local! {
    static NUMBER: u32;
    /// A documented key with a non-Copy type.
    pub static NAME: String;
}

#[test]
fn scope_sets_the_value_only_inside() {
    bounded(10, || {
        block_on(async {
            assert!(NUMBER.try_with(|_| ()).is_err());
            let out = NUMBER
                .scope(5, async {
                    yield_now().await;
                    NUMBER.get() + NUMBER.with(|n| *n)
                })
                .await;
            assert_eq!(out, 10);
            assert!(NUMBER.try_with(|_| ()).is_err());
            NAME.scope("ann".to_string(), async {
                assert_eq!(NAME.get(), "ann");
                assert_eq!(NAME.try_with(|n| n.len()), Ok(3));
            })
            .await;
        })
    });
}

#[test]
fn interleaved_tasks_see_their_own_values() {
    bounded(10, || {
        block_on(async {
            let mut set = JoinSet::new();
            for i in 0..50u32 {
                set.spawn(NUMBER.scope(i, async move {
                    let mut seen = Vec::new();
                    for _ in 0..5 {
                        seen.push(NUMBER.get());
                        // Other tasks, with other values, run here.
                        yield_now().await;
                    }
                    (i, seen)
                }));
            }
            // block_on's own future is outside every scope.
            assert!(NUMBER.try_with(|_| ()).is_err());
            while let Some(res) = set.join_next().await {
                let (i, seen) = res.unwrap();
                assert_eq!(seen, vec![i; 5]);
            }
        })
    });
}

#[test]
fn scopes_nest_and_restore() {
    bounded(10, || {
        block_on(async {
            NUMBER
                .scope(1, async {
                    assert_eq!(NUMBER.get(), 1);
                    NUMBER
                        .scope(2, async {
                            yield_now().await;
                            assert_eq!(NUMBER.get(), 2);
                        })
                        .await;
                    assert_eq!(NUMBER.get(), 1);
                })
                .await;
            let r = NUMBER.sync_scope(3, || {
                NUMBER.sync_scope(4, || assert_eq!(NUMBER.get(), 4));
                NUMBER.get()
            });
            assert_eq!(r, 3);
        })
    });
}

#[test]
fn a_panic_inside_the_scope_restores_the_slot() {
    let r = std::panic::catch_unwind(|| NUMBER.sync_scope(9, || panic!("inside")));
    assert!(r.is_err());
    assert!(NUMBER.try_with(|_| ()).is_err());
}

#[test]
#[should_panic(expected = "task-local value not set")]
fn with_outside_a_scope_panics() {
    NUMBER.with(|_| ());
}

#[test]
fn a_cancelled_scoped_future_sees_its_value_while_dropping() {
    struct Report(mpsc::Sender<Option<u32>>);
    impl Drop for Report {
        fn drop(&mut self) {
            let _ = self.0.send(NUMBER.try_with(|n| *n).ok());
        }
    }
    bounded(10, || {
        block_on(async {
            let (tx, rx) = mpsc::channel();
            {
                let report = Report(tx);
                let mut fut = pin!(NUMBER.scope(77, async move {
                    let _r = report;
                    pending::<()>().await
                }));
                poll_fn(|cx| {
                    assert!(fut.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
            }
            assert_eq!(rx.recv().unwrap(), Some(77));
            assert!(NUMBER.try_with(|_| ()).is_err());
        })
    });
}

#[test]
fn value_is_dropped_with_the_future_and_take_value_works() {
    bounded(10, || {
        block_on(async {
            let mut fut = pin!(NAME.scope("x".to_string(), async { NAME.try_with(|n| n.clone()) }));
            assert_eq!(fut.as_mut().take_value(), Some("x".to_string()));
            assert!(fut.await.is_err());
        })
    });
}

#[test]
fn scoped_tasks_spawned_from_another_thread() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let t = thread::spawn(move || {
            (0..10u32)
                .map(|i| handle.spawn(NUMBER.scope(i, async move { NUMBER.get() * 2 })))
                .collect::<Vec<_>>()
        });
        let handles = t.join().unwrap();
        rt.block_on(async {
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), i as u32 * 2);
            }
            // And a task spawned inside a scope does not inherit it.
            let inner = NUMBER
                .scope(1, async {
                    spawn(async { NUMBER.try_with(|n| *n).is_err() })
                })
                .await;
            assert!(inner.await.unwrap());
        });
    });
}

#[test]
fn keys_are_independent_of_thread_locals() {
    thread_local!(static PLAIN: Cell<u32> = const { Cell::new(0) });
    NUMBER.sync_scope(1, || {
        PLAIN.with(|p| p.set(2));
        assert_eq!(NUMBER.get(), 1);
    });
}
