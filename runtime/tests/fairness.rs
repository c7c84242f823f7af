//! Integration tests of fairness: busy tasks must not starve timers, IO,
//! tasks spawned or woken from other threads, or the future given to
//! `block_on`; the cooperative budget must make always-ready loops yield;
//! several runtimes on several threads run independently.

// Runtimes hand JoinHandles out of `block_on` on purpose, to await them
// after the runtime is gone or on another one.
#![allow(clippy::async_yields_async)]

use std::future::{poll_fn, Future};
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::time::{interval, sleep, sleep_until, timeout};
use spindle_runtime::{block_on, spawn, yield_now, Builder, JoinHandle, Runtime};

mod support;
use support::bounded;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const HANG: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Wraps a future and counts how many times it is polled.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

fn count_polls<F: Future>(f: F) -> (CountPolls<F>, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    (
        CountPolls {
            inner: Box::pin(f),
            polls: polls.clone(),
        },
        polls,
    )
}

/// Spawns `n` tasks that loop on `yield_now` forever, counting iterations.
fn spawn_spinners(n: usize) -> (Vec<JoinHandle<()>>, Arc<AtomicUsize>) {
    let spins = Arc::new(AtomicUsize::new(0));
    let hs = (0..n)
        .map(|_| {
            let spins = spins.clone();
            spawn(async move {
                loop {
                    spins.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            })
        })
        .collect();
    (hs, spins)
}

/// A one-shot channel usable from any thread (std only).
type Chan<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;

fn chan<T>() -> Chan<T> {
    Arc::new(Mutex::new((None, None)))
}

fn send<T>(c: &Chan<T>, v: T) {
    let w = {
        let mut g = c.lock().unwrap();
        g.0 = Some(v);
        g.1.take()
    };
    if let Some(w) = w {
        w.wake();
    }
}

async fn recv<T>(c: &Chan<T>) -> T {
    poll_fn(|cx| {
        let mut g = c.lock().unwrap();
        match g.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

// ---------------------------------------------------------------------------
// Busy tasks versus timers, IO, remote work and the main future
// ---------------------------------------------------------------------------

#[test]
fn yield_loop_does_not_starve_a_timer() {
    bounded(20, || {
        let rt = Runtime::new().unwrap();
        let spins = rt.block_on(async {
            let (_hs, spins) = spawn_spinners(1);
            let t = Instant::now();
            sleep(ms(10)).await;
            assert!(t.elapsed() >= ms(10));
            spins
        });
        assert!(spins.load(SeqCst) > 0, "the spinning task never ran");
        // Dropping the runtime drops the spinning task.
        drop(rt);
    });
}

#[test]
fn many_spinners_do_not_starve_timers_of_other_tasks() {
    bounded(20, || {
        block_on(async {
            let (_hs, _spins) = spawn_spinners(50);
            let sleepers: Vec<JoinHandle<Duration>> = (1..=20u64)
                .map(|i| {
                    spawn(async move {
                        let t = Instant::now();
                        sleep(ms(i)).await;
                        t.elapsed()
                    })
                })
                .collect();
            for (i, h) in sleepers.into_iter().enumerate() {
                let took = timeout(HANG, h).await.expect("sleeper starved").unwrap();
                assert!(took >= ms(i as u64 + 1));
            }
            let mut iv = interval(ms(2));
            for _ in 0..5 {
                timeout(HANG, iv.tick()).await.expect("interval starved");
            }
        })
    });
}

/// The main future loops on `yield_now` until a spawned task (which itself
/// waits on a timer) has run.
#[test]
fn main_future_yield_loop_does_not_starve_tasks_or_timers() {
    bounded(20, || {
        block_on(async {
            let done = Arc::new(AtomicBool::new(false));
            let d = done.clone();
            let _h = spawn(async move {
                sleep(ms(5)).await;
                d.store(true, SeqCst);
            });
            let start = Instant::now();
            while !done.load(SeqCst) {
                assert!(
                    start.elapsed() < Duration::from_secs(5),
                    "task never ran while the main future yielded"
                );
                yield_now().await;
            }
        })
    });
}

/// A task that only ever meets ready resources (a `Sleep` already elapsed)
/// never returns `Pending` by itself: the budget must make it yield.
#[test]
fn always_ready_sleep_loop_is_forced_to_yield() {
    bounded(20, || {
        block_on(async {
            let iterations = Arc::new(AtomicUsize::new(0));
            let it = iterations.clone();
            let (busy, polls) = count_polls(async move {
                let mut done = sleep_until(Instant::now().into());
                loop {
                    (&mut done).await;
                    it.fetch_add(1, SeqCst);
                }
            });
            let _h = spawn(busy);
            let t = Instant::now();
            timeout(HANG, sleep(ms(10)))
                .await
                .expect("the busy task starved the timer");
            assert!(t.elapsed() >= ms(10));
            let (n, p) = (iterations.load(SeqCst), polls.load(SeqCst));
            assert!(p >= 2, "the busy task was never made to yield");
            assert!(n > p, "the busy task made no progress per poll");
        })
    });
}

/// Awaiting many finished `JoinHandle`s in a row: each is ready, so the
/// budget makes the awaiting task yield now and then, letting others run.
/// One thread's promise: on several workers the other task may simply run
/// elsewhere, later than the collector finishes.
#[test]
fn finished_join_handles_spend_the_budget() {
    bounded(20, || {
        support::block_on_current_thread(async {
            let hs: Vec<JoinHandle<usize>> = (0..5_000).map(|i| spawn(async move { i })).collect();
            spawn(async {}).await.unwrap(); // every task above has finished
            let other_ran = Arc::new(AtomicUsize::new(0));
            let (collector, polls) = count_polls(async move {
                let mut sum = 0;
                for h in hs {
                    sum += h.await.unwrap();
                }
                sum
            });
            let collector = spawn(collector);
            let o = other_ran.clone();
            let _other = spawn(async move {
                loop {
                    o.fetch_add(1, SeqCst);
                    yield_now().await;
                }
            });
            let sum = timeout(HANG, collector).await.unwrap().unwrap();
            assert_eq!(sum, 4_999 * 5_000 / 2);
            assert!(
                polls.load(SeqCst) >= 2,
                "never yielded over 5000 ready handles"
            );
            assert!(other_ran.load(SeqCst) >= 1);
        })
    });
}

/// The budget is per poll of the runtime: once `block_on` has returned, a
/// ready `JoinHandle` polled outside any runtime on this thread is ready
/// ("Outside a runtime there is no budget and this is always ready").
#[test]
fn coop_budget_does_not_leak_out_of_block_on() {
    bounded(20, || {
        // "All finished" after one more spawn is one thread's order.
        let rt = support::current_thread();
        let mut last = rt.block_on(async {
            let mut hs: Vec<JoinHandle<usize>> =
                (0..1_000).map(|i| spawn(async move { i })).collect();
            let last = spawn(async { 7usize });
            spawn(async {}).await.unwrap(); // all finished
            let mut i = 0;
            let spent = poll_fn(|cx| {
                while i < hs.len() {
                    match Pin::new(&mut hs[i]).poll(cx) {
                        Poll::Ready(r) => {
                            r.unwrap();
                            i += 1;
                        }
                        // Out of budget: finish this poll of block_on right here.
                        Poll::Pending => return Poll::Ready(true),
                    }
                }
                Poll::Ready(false)
            })
            .await;
            assert!(spent, "1000 ready handles in one poll never hit the budget");
            last
        });
        assert!(last.is_finished());
        let mut cx = Context::from_waker(Waker::noop());
        let mut ready = false;
        for _ in 0..1_000 {
            if let Poll::Ready(v) = Pin::new(&mut last).poll(&mut cx) {
                assert_eq!(v.unwrap(), 7);
                ready = true;
                break;
            }
        }
        assert!(
            ready,
            "a finished JoinHandle stays Pending outside the runtime: the budget leaked"
        );
    });
}

/// IO readiness is still observed while a task spins: a ping-pong over a
/// unix socket pair with a plain thread at the other end.
#[test]
fn io_readiness_observed_while_a_task_spins() {
    bounded(30, || {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_read_timeout(Some(HANG)).unwrap();
        b.set_write_timeout(Some(HANG)).unwrap();
        let peer = thread::spawn(move || {
            for round in 0..20u8 {
                b.write_all(&[round]).unwrap();
                let mut echo = [0u8; 1];
                b.read_exact(&mut echo).unwrap();
                assert_eq!(echo[0], round.wrapping_mul(3));
            }
        });
        support::block_on_current_thread(async move {
            let (_hs, spins) = spawn_spinners(4);
            let mut a = spindle_runtime::net::UnixStream::from_std(a).unwrap();
            for round in 0..20u8 {
                let mut buf = [0u8; 1];
                timeout(HANG, a.read_exact(&mut buf))
                    .await
                    .expect("readiness never observed while tasks spin")
                    .unwrap();
                assert_eq!(buf[0], round);
                timeout(HANG, a.write_all(&[round.wrapping_mul(3)]))
                    .await
                    .unwrap()
                    .unwrap();
            }
            assert!(spins.load(SeqCst) > 0);
        });
        peer.join().unwrap();
    });
}

/// Tasks spawned from another thread run although local tasks are always ready.
#[test]
fn remote_spawns_run_while_local_tasks_spin() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        let handle = rt.handle();
        let result: Chan<Vec<JoinHandle<usize>>> = chan();
        let r = result.clone();
        let out = rt.block_on(async move {
            let (_hs, _spins) = spawn_spinners(20);
            let t = thread::spawn(move || {
                let hs = (0..100).map(|i| handle.spawn(async move { i })).collect();
                send(&r, hs);
            });
            let hs = timeout(HANG, recv(&result))
                .await
                .expect("main future not woken from the other thread");
            let mut sum = 0;
            for h in hs {
                sum += timeout(HANG, h)
                    .await
                    .expect("remote task starved")
                    .unwrap();
            }
            t.join().unwrap();
            sum
        });
        assert_eq!(out, 99 * 100 / 2);
    });
}

/// A task woken from another thread runs although local tasks are always ready.
#[test]
fn remote_wakes_are_served_while_local_tasks_spin() {
    bounded(30, || {
        block_on(async {
            let (_hs, _spins) = spawn_spinners(20);
            let c: Chan<u32> = chan();
            let c2 = c.clone();
            let waiter = spawn(async move { recv(&c2).await });
            spawn(async {}).await.unwrap(); // the waiter registered its waker
            let t = thread::spawn(move || send(&c, 5));
            let v = timeout(HANG, waiter)
                .await
                .expect("remotely woken task starved")
                .unwrap();
            assert_eq!(v, 5);
            t.join().unwrap();
        })
    });
}

/// Builder extremes still make progress with busy tasks around.
#[test]
fn builder_settings_keep_the_runtime_fair() {
    bounded(30, || {
        for (event, inject, events) in [(1, 1, 1), (0, 0, 0), (1000, 1000, 4096), (2, 7, 3)] {
            let rt = Builder::new()
                .event_interval(event)
                .inject_interval(inject)
                .max_io_events_per_tick(events)
                .build()
                .unwrap();
            let handle = rt.handle();
            rt.block_on(async move {
                let (_hs, _spins) = spawn_spinners(5);
                let t = Instant::now();
                timeout(HANG, sleep(ms(3)))
                    .await
                    .expect("timer starved with these settings");
                assert!(t.elapsed() >= ms(3));
                let c: Chan<JoinHandle<u8>> = chan();
                let c2 = c.clone();
                let th = thread::spawn(move || send(&c2, handle.spawn(async { 9 })));
                let h = timeout(HANG, recv(&c)).await.unwrap();
                assert_eq!(timeout(HANG, h).await.unwrap().unwrap(), 9);
                th.join().unwrap();
            });
        }
    });
}

/// Four runtimes on four threads, each with 1000 tasks that sleep.
#[test]
fn several_runtimes_on_several_threads() {
    bounded(60, || {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                thread::spawn(move || {
                    let rt = Runtime::new().unwrap();
                    rt.block_on(async move {
                        let hs: Vec<JoinHandle<u64>> = (0..1000u64)
                            .map(|i| {
                                spawn(async move {
                                    let d = ms((i * 7 + t) % 13);
                                    let start = Instant::now();
                                    sleep(d).await;
                                    assert!(start.elapsed() >= d);
                                    yield_now().await;
                                    i
                                })
                            })
                            .collect();
                        let mut sum = 0;
                        for h in hs {
                            sum += timeout(HANG, h).await.expect("task hung").unwrap();
                        }
                        sum
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), 999 * 1000 / 2);
        }
    });
}

// ---------------------------------------------------------------------------
// The budget by hand: consume_budget and unconstrained
// ---------------------------------------------------------------------------

#[test]
fn consume_budget_makes_a_computing_loop_give_other_tasks_a_turn() {
    // One thread: the loop runs first, and the other task runs only when
    // the loop yields, which consume_budget does once the budget is spent.
    let rt = support::current_thread();
    let saw_other = rt.block_on(async {
        let other_ran = Arc::new(AtomicBool::new(false));
        let o = other_ran.clone();
        let looping = spawn(async move {
            for _ in 0..10_000 {
                if o.load(SeqCst) {
                    return true;
                }
                spindle_runtime::task::consume_budget().await;
            }
            false
        });
        let other = spawn(async move { other_ran.store(true, SeqCst) });
        let saw = looping.await.unwrap();
        other.await.unwrap();
        saw
    });
    assert!(saw_other, "the loop never yielded");
}

#[test]
fn unconstrained_keeps_an_always_ready_loop_from_yielding() {
    // The same race with a channel that always has a value: its receives
    // spend the budget and yield, unless the loop runs unconstrained.
    let run = |lifted: bool| {
        let rt = support::current_thread();
        rt.block_on(async move {
            let (tx, mut rx) = spindle_runtime::channel::mpsc::unbounded();
            for i in 0..1000 {
                tx.send(i).unwrap();
            }
            let other_ran = Arc::new(AtomicBool::new(false));
            let o = other_ran.clone();
            let drain = async move {
                for _ in 0..1000 {
                    rx.recv().await.unwrap();
                }
                o.load(SeqCst)
            };
            let looping = if lifted {
                spawn(spindle_runtime::task::unconstrained(drain))
            } else {
                spawn(drain)
            };
            let other = spawn(async move { other_ran.store(true, SeqCst) });
            let saw = looping.await.unwrap();
            other.await.unwrap();
            saw
        })
    };
    assert!(
        run(false),
        "a constrained loop of 1000 receives never yielded"
    );
    assert!(!run(true), "an unconstrained loop yielded");
}
