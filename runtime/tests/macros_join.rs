//! `join!` and `try_join!`: outputs, concurrency inside one task, many
//! futures, early return on error, and cancellation dropping every future.

use std::future::{pending, poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::Poll;
use std::time::Duration;

use spindle_runtime::channel::oneshot;
use spindle_runtime::time::timeout;
use spindle_runtime::{block_on, join, try_join, yield_now};

mod support;
use support::{bounded, counter, OnDrop};

const HANG: Duration = Duration::from_secs(10);

#[test]
fn join_returns_every_output_in_order() {
    bounded(10, || {
        block_on(async {
            let (a, b, c) = join!(async { 1 }, async { "b" }, async {
                yield_now().await;
                3.5
            });
            assert_eq!((a, b, c), (1, "b", 3.5));
            let (one,) = join!(async { 1 },);
            assert_eq!(one, 1);
            let () = join!();
        })
    });
}

#[test]
fn join_runs_its_futures_concurrently() {
    bounded(10, || {
        block_on(async {
            // Each waits for the other: run one after the other, this hangs.
            let (tx1, rx1) = oneshot::channel::<u32>();
            let (tx2, rx2) = oneshot::channel::<u32>();
            let a = async move {
                tx1.send(1).unwrap();
                rx2.await.unwrap()
            };
            let b = async move {
                let v = rx1.await.unwrap();
                tx2.send(v + 1).unwrap();
                v
            };
            let (x, y) = timeout(HANG, async { join!(a, b) }).await.unwrap();
            assert_eq!((x, y), (2, 1));
        })
    });
}

#[test]
fn join_of_ten_futures() {
    bounded(10, || {
        block_on(async {
            let t = join!(
                async { 0 },
                async { 1 },
                async { 2 },
                async { 3 },
                async { 4 },
                async { 5 },
                async { 6 },
                async { 7 },
                async { 8 },
                async { 9 },
            );
            assert_eq!(t, (0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
        })
    });
}

#[test]
fn dropping_a_join_mid_await_drops_every_future() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
            let done = OnDrop(drops.clone());
            {
                let mut j = pin!(async move {
                    join!(
                        async move {
                            let _d = done;
                        },
                        async move {
                            let _d = d1;
                            pending::<()>().await
                        },
                        async move {
                            let _d = d2;
                            pending::<()>().await
                        },
                    )
                });
                poll_fn(|cx| {
                    assert!(j.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                // The first finished (its output kept), the others wait.
                assert_eq!(drops.load(SeqCst), 1);
            }
            assert_eq!(drops.load(SeqCst), 3);
        })
    });
}

#[test]
fn try_join_gives_all_values_or_the_first_error() {
    bounded(10, || {
        block_on(async {
            let ok: Result<(u8, &str), String> = try_join!(async { Ok(1) }, async { Ok("x") });
            assert_eq!(ok, Ok((1, "x")));

            let drops = counter();
            let d = OnDrop(drops.clone());
            let err: Result<(u8, ()), &str> = timeout(HANG, async {
                try_join!(
                    async move {
                        let _d = d;
                        pending::<Result<u8, &str>>().await
                    },
                    async {
                        yield_now().await;
                        Err("failed")
                    },
                )
            })
            .await
            .unwrap();
            assert_eq!(err, Err("failed"));
            // The pending future was dropped when the error came back.
            assert_eq!(drops.load(SeqCst), 1);
        })
    });
}

#[test]
fn try_join_works_with_question_mark() {
    async fn both() -> std::io::Result<u32> {
        let (a, b) = try_join!(async { Ok::<_, std::io::Error>(1) }, async {
            Ok::<_, std::io::Error>(2)
        })?;
        Ok(a + b)
    }
    bounded(10, || {
        block_on(async { assert_eq!(both().await.unwrap(), 3) })
    });
}
