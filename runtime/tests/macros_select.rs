//! `select!`: tokio's grammar (patterns, `, if` conditions, `else`,
//! `biased;`, block and expression handlers), losers dropped before the
//! handler runs, a non-matching pattern disabling only its branch, random
//! fairness, control flow out of handlers, many branches, cancellation, and
//! a branch completed from another thread.

use std::future::{pending, poll_fn, ready, Future};
use std::pin::pin;
use std::sync::atomic::Ordering::SeqCst;
use std::task::Poll;
use std::thread;
use std::time::Duration;

use spindle_runtime::channel::oneshot;
use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::{block_on, select, yield_now};

mod support;
use support::{bounded, counter, OnDrop};

const HANG: Duration = Duration::from_secs(10);

#[test]
fn the_ready_branch_wins() {
    bounded(10, || {
        block_on(async {
            let v = select! {
                _ = pending::<()>() => 0,
                v = ready(5) => v,
                _ = sleep(Duration::from_secs(3600)) => 1,
            };
            assert_eq!(v, 5);
        })
    });
}

#[test]
fn losers_are_dropped_before_the_handler_runs() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
            let seen = select! {
                _ = async move { let _d = d1; pending::<()>().await } => usize::MAX,
                _ = async move { let _d = d2; pending::<()>().await } => usize::MAX,
                () = yield_now() => drops.load(SeqCst),
            };
            assert_eq!(seen, 2);
        })
    });
}

#[test]
fn a_handler_may_use_what_the_futures_borrowed() {
    bounded(10, || {
        block_on(async {
            let (tx, mut rx) = oneshot::channel::<u32>();
            tx.send(4).unwrap();
            let mut buf = Vec::new();
            select! {
                v = &mut rx => buf.push(v.unwrap()),
                _ = async { buf.len() } , if false => unreachable!(),
            }
            buf.push(1);
            assert_eq!(buf, [4, 1]);
        })
    });
}

#[test]
fn false_condition_disables_and_else_runs_when_all_are_disabled() {
    bounded(10, || {
        block_on(async {
            let polled = std::cell::Cell::new(false);
            let v = select! {
                _ = poll_fn(|_| { polled.set(true); Poll::Ready(()) }), if false => 1,
                _ = ready(()), if 1 + 1 == 3 => 2,
                else => 3,
            };
            assert_eq!(v, 3);
            assert!(!polled.get(), "a disabled branch was polled");
            let v = select! {
                _ = ready(()), if false => 1,
                _ = ready(()), if true => 2,
                else => 3,
            };
            assert_eq!(v, 2);
            let only_else: u8 = select! { else => 9 };
            assert_eq!(only_else, 9);
        })
    });
}

#[test]
#[should_panic(expected = "all branches are disabled and there is no else branch")]
fn no_branch_left_and_no_else_panics() {
    block_on(async {
        select! {
            _ = ready(()), if false => {}
        }
    })
}

#[test]
fn a_pattern_that_does_not_match_disables_only_its_branch() {
    bounded(10, || {
        block_on(async {
            let (tx, rx) = oneshot::channel::<u32>();
            let v = timeout(HANG, async {
                select! {
                    biased;
                    Some(x) = ready(None::<u32>) => x,
                    Ok(x) = rx => x + 100,
                    () = async { yield_now().await; tx.send(7).unwrap(); pending::<()>().await } => 0,
                }
            })
            .await
            .unwrap();
            assert_eq!(v, 107);
            // And with nothing left: the else branch.
            let v = select! {
                Some(x) = ready(None::<u32>) => x,
                Err(_) = ready(Ok::<u32, ()>(1)) => 0,
                else => 55,
            };
            assert_eq!(v, 55);
        })
    });
}

#[test]
fn biased_polls_in_order() {
    bounded(10, || {
        block_on(async {
            for _ in 0..100 {
                let v = select! {
                    biased;
                    v = ready(1) => v,
                    v = ready(2) => v,
                };
                assert_eq!(v, 1);
            }
        })
    });
}

#[test]
fn unbiased_select_lets_every_branch_win() {
    bounded(10, || {
        block_on(async {
            let mut wins = [0u32; 4];
            for _ in 0..2000 {
                let i = select! {
                    _ = ready(()) => 0,
                    _ = ready(()) => 1,
                    _ = ready(()) => 2,
                    _ = ready(()) => 3,
                };
                wins[i] += 1;
            }
            // Each wins about 500 times; fewer than 300 is vanishingly unlikely.
            assert!(wins.iter().all(|&w| w > 300), "{wins:?}");
        })
    });
}

#[test]
fn handlers_can_break_continue_and_return() {
    async fn first_even(values: Vec<u32>) -> Option<u32> {
        let mut iter = values.into_iter();
        loop {
            select! {
                v = ready(iter.next()) => match v {
                    None => return None,
                    Some(v) if v % 2 == 1 => continue,
                    Some(v) => break Some(v),
                },
            }
        }
    }
    async fn with_question_mark(fail: bool) -> Result<u32, String> {
        let v = select! {
            r = ready(if fail { Err("bad".to_string()) } else { Ok(3) }) => r?,
        };
        Ok(v * 2)
    }
    bounded(10, || {
        block_on(async {
            assert_eq!(first_even(vec![1, 3, 4, 5]).await, Some(4));
            assert_eq!(first_even(vec![1, 3]).await, None);
            assert_eq!(with_question_mark(false).await, Ok(6));
            assert_eq!(with_question_mark(true).await, Err("bad".into()));
        })
    });
}

#[test]
fn block_handlers_need_no_comma_and_mut_bindings_work() {
    bounded(10, || {
        block_on(async {
            let v = select! {
                mut v = ready(1) => { v += 1; v }
                _ = pending::<()>() => { 0 }
            };
            assert_eq!(v, 2);
            let v = select! {
                Some(mut n) = ready(Some(10u32)) => { n += 1; n }
                else => 0
            };
            assert_eq!(v, 11);
        })
    });
}

#[test]
fn ten_branches() {
    bounded(10, || {
        block_on(async {
            let v = select! {
                biased;
                _ = pending::<()>() => 0,
                _ = pending::<()>() => 1,
                _ = pending::<()>() => 2,
                _ = pending::<()>() => 3,
                _ = pending::<()>() => 4,
                _ = pending::<()>() => 5,
                _ = pending::<()>() => 6,
                _ = pending::<()>() => 7,
                _ = pending::<()>() => 8,
                v = async { yield_now().await; 9 } => v,
            };
            assert_eq!(v, 9);
        })
    });
}

#[test]
fn nested_select() {
    bounded(10, || {
        block_on(async {
            let v = select! {
                v = async {
                    select! {
                        _ = pending::<()>() => 0,
                        v = ready(3) => v,
                    }
                } => select! {
                    w = ready(v * 2) => w,
                },
                _ = pending::<()>() => 0,
            };
            assert_eq!(v, 6);
        })
    });
}

#[test]
fn dropping_select_mid_await_drops_every_branch() {
    bounded(10, || {
        block_on(async {
            let drops = counter();
            let (d1, d2) = (OnDrop(drops.clone()), OnDrop(drops.clone()));
            {
                let mut s = pin!(async move {
                    select! {
                        _ = async move { let _d = d1; pending::<()>().await } => {},
                        _ = async move { let _d = d2; pending::<()>().await } => {},
                    }
                });
                poll_fn(|cx| {
                    assert!(s.as_mut().poll(cx).is_pending());
                    Poll::Ready(())
                })
                .await;
                assert_eq!(drops.load(SeqCst), 0);
            }
            assert_eq!(drops.load(SeqCst), 2);
        })
    });
}

#[test]
fn a_branch_completed_from_another_thread() {
    bounded(10, || {
        block_on(async {
            let (tx, rx) = oneshot::channel::<u32>();
            let t = thread::spawn(move || tx.send(42).unwrap());
            let v = select! {
                v = rx => v.unwrap(),
                _ = sleep(HANG) => panic!("the wake from the other thread was lost"),
            };
            t.join().unwrap();
            assert_eq!(v, 42);
        })
    });
}
