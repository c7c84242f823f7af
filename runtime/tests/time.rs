//! Integration tests of timers: `sleep`, `sleep_until`, `Sleep::reset`,
//! `timeout`, `interval` (and its `Stream` impl), and timers dropped on
//! other threads.
//!
//! Timing assertions are lower bounds only (a timer must never fire early);
//! upper bounds exist only as hang detectors.

// Runtimes hand JoinHandles out of `block_on` on purpose, to await them
// after the runtime is gone or on another one.
#![allow(clippy::async_yields_async)]

use spindle_runtime::time::Instant;
use std::future::{pending, poll_fn, ready, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use futures_core::Stream;
use spindle_runtime::time::{
    interval, interval_at, sleep, sleep_until, timeout, timeout_at, Elapsed, MissedTickBehavior,
    Sleep,
};
use spindle_runtime::{block_on, spawn, yield_now, JoinHandle, Runtime};

mod support;
use support::{bounded, panic_message};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const HANG: Duration = Duration::from_secs(10);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Deterministic pseudo-random numbers (64-bit LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Polls `f` exactly once (inside the current task) and reports the result.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

// ---------------------------------------------------------------------------
// sleep
// ---------------------------------------------------------------------------

#[test]
fn sleep_never_completes_early() {
    bounded(30, || {
        block_on(async {
            for d in [0, 1, 2, 3, 5, 8, 13, 25, 64, 65, 70] {
                let t = Instant::now();
                sleep(ms(d)).await;
                assert!(t.elapsed() >= ms(d), "sleep({d} ms) ended early");
                let t = Instant::now();
                let deadline = t + ms(d);
                sleep_until(deadline).await;
                assert!(
                    Instant::now() >= deadline,
                    "sleep_until(+{d} ms) ended early"
                );
            }
            // Many at once, each checking its own bound.
            let mut rng = Lcg(7);
            let hs: Vec<JoinHandle<()>> = (0..300)
                .map(|_| {
                    let d = ms(rng.next() % 40);
                    spawn(async move {
                        let t = Instant::now();
                        sleep(d).await;
                        assert!(t.elapsed() >= d, "sleep({d:?}) ended early");
                    })
                })
                .collect();
            for h in hs {
                timeout(HANG, h).await.unwrap().unwrap();
            }
        })
    });
}

/// 200 tasks sleep until deterministic pseudo-random deadlines 1..=50 ms
/// apart; they must wake in deadline order (ties within 1 ms allowed).
#[test]
fn sleeps_complete_in_deadline_order() {
    bounded(30, || {
        support::block_on_current_thread(async {
            let mut rng = Lcg(0x5eed);
            // Leave a margin so that every task registers before its deadline.
            let base = Instant::now() + ms(30);
            let log: Arc<Mutex<Vec<(Instant, bool)>>> = Arc::new(Mutex::new(Vec::new()));
            let hs: Vec<JoinHandle<()>> = (0..200)
                .map(|_| {
                    let deadline = base + ms(1 + rng.next() % 50);
                    let log = log.clone();
                    spawn(async move {
                        let registered = Instant::now() < deadline;
                        sleep_until(deadline).await;
                        assert!(Instant::now() >= deadline, "woke before its deadline");
                        log.lock().unwrap().push((deadline, registered));
                    })
                })
                .collect();
            for h in hs {
                timeout(HANG, h).await.unwrap().unwrap();
            }
            let log = log.lock().unwrap();
            assert_eq!(log.len(), 200);
            // Only sleeps that really waited in the wheel are ordered by it.
            let waited: Vec<Instant> = log.iter().filter(|e| e.1).map(|e| e.0).collect();
            let mut latest = waited[0];
            for (i, &d) in waited.iter().enumerate() {
                assert!(
                    d + ms(1) >= latest,
                    "wake #{i} has deadline {:?} but one {:?} later already woke",
                    d,
                    latest - d
                );
                latest = latest.max(d);
            }
        })
    });
}

/// Deadlines that sit on the wheel's upper levels (beyond 64 ms) cascade
/// down and still fire in order, never early.
#[test]
fn sleeps_across_wheel_levels_fire_in_order() {
    bounded(30, || {
        support::block_on_current_thread(async {
            let base = Instant::now() + ms(10);
            let offsets = [300u64, 63, 64, 65, 127, 128, 129, 200, 1, 250, 190, 66];
            let log = Arc::new(Mutex::new(Vec::new()));
            let hs: Vec<JoinHandle<()>> = offsets
                .iter()
                .map(|&o| {
                    let log = log.clone();
                    spawn(async move {
                        let deadline = base + ms(o);
                        sleep_until(deadline).await;
                        assert!(Instant::now() >= deadline);
                        log.lock().unwrap().push(o);
                    })
                })
                .collect();
            for h in hs {
                timeout(HANG, h).await.unwrap().unwrap();
            }
            let log = log.lock().unwrap().clone();
            let mut sorted = offsets.to_vec();
            sorted.sort();
            assert_eq!(log, sorted);
        })
    });
}

#[test]
fn sleep_until_in_the_past_is_ready_on_first_poll() {
    bounded(20, || {
        block_on(async {
            let past = Instant::now();
            spawn(async {}).await.unwrap();
            let mut s = sleep_until(past);
            assert!(s.is_elapsed());
            assert_eq!(s.deadline(), past);
            assert!(poll_once(&mut s).await.is_ready());
            // Polling a completed sleep again stays ready.
            assert!(poll_once(&mut s).await.is_ready());
            let mut z = sleep(Duration::ZERO);
            assert!(poll_once(&mut z).await.is_ready());
            if let Some(earlier) = past.checked_sub(ms(50)) {
                let mut e = sleep_until(earlier);
                assert!(poll_once(&mut e).await.is_ready());
            }
        })
    });
}

#[test]
fn sleep_reset_moves_the_deadline() {
    bounded(20, || {
        block_on(async {
            // Registered for an hour, then brought forward.
            let mut s = sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut s).await.is_pending());
            assert!(!s.is_elapsed());
            let t = Instant::now();
            s.reset(t + ms(10));
            assert_eq!(s.deadline(), t + ms(10));
            timeout(HANG, &mut s)
                .await
                .expect("reset sleep never fired");
            assert!(Instant::now() >= t + ms(10));
            assert!(s.is_elapsed());

            // Reset after completion: it can be awaited again.
            let t = Instant::now();
            s.reset(t + ms(5));
            assert!(!s.is_elapsed());
            assert!(poll_once(&mut s).await.is_pending());
            timeout(HANG, &mut s).await.unwrap();
            assert!(Instant::now() >= t + ms(5));

            // Pushed back while registered: it must not fire at the old deadline.
            let t = Instant::now();
            let mut s = sleep(ms(5));
            assert!(poll_once(&mut s).await.is_pending());
            s.reset(t + ms(40));
            timeout(HANG, &mut s).await.unwrap();
            assert!(Instant::now() >= t + ms(40), "fired at the old deadline");

            // Reset into the past: ready at once.
            let mut s = sleep(Duration::from_secs(3600));
            assert!(poll_once(&mut s).await.is_pending());
            s.reset(Instant::now());
            assert!(poll_once(&mut s).await.is_ready());
        })
    });
}

/// A sleep polled by one task and then awaited by another wakes the new one.
#[test]
fn sleep_moved_to_another_task_wakes_the_new_task() {
    bounded(20, || {
        block_on(async {
            let t = Instant::now();
            let mut s = sleep(ms(15));
            assert!(poll_once(&mut s).await.is_pending());
            let h = spawn(async move {
                s.await;
                Instant::now()
            });
            let woke = timeout(HANG, h)
                .await
                .expect("timer woke the old waker only")
                .unwrap();
            assert!(woke >= t + ms(15));
        })
    });
}

/// A sleep registered with one runtime and awaited on another.
#[test]
fn sleep_moved_to_another_runtime() {
    bounded(20, || {
        let rt1 = Runtime::new().unwrap();
        let rt2 = Runtime::new().unwrap();
        let t = Instant::now();
        let mut s = sleep(ms(20));
        rt1.block_on(async {
            assert!(poll_once(&mut s).await.is_pending());
        });
        rt2.block_on(async { timeout(HANG, &mut s).await.expect("never fired on rt2") });
        assert!(Instant::now() >= t + ms(20));
        // rt1 still works after its entry was cancelled from elsewhere.
        rt1.block_on(sleep(ms(2)));
    });
}

/// A registered `Sleep`, moved to a plain thread and dropped there: no
/// crash, and the runtime keeps running its timers.
/// A waker that records that a timer fired, and hands the wake on to the
/// task waiting for that (see [`fired`](FiredFlag::fired)).
#[derive(Default)]
struct FiredFlag {
    fired: AtomicBool,
    waiter: Mutex<Option<Waker>>,
}

impl Wake for FiredFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.fired.store(true, SeqCst);
        if let Some(waiter) = self.waiter.lock().unwrap().take() {
            waiter.wake();
        }
    }
}

impl FiredFlag {
    /// Completes once the flag's waker has been woken.
    async fn fired(&self) {
        poll_fn(|cx| {
            // Leave our waker before looking, so a wake in between is seen.
            *self.waiter.lock().unwrap() = Some(cx.waker().clone());
            if self.fired.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// A `sleep(d)` that is registered in the current runtime's wheel with
/// `waker`. Registering takes a first poll that finds the deadline still
/// ahead; if the thread lost the CPU for `d` between making the sleep and
/// polling it (under load, or valgrind), that poll is already `Ready` and
/// registers nothing, so try again with a fresh sleep.
fn registered_sleep(d: Duration, waker: &Waker) -> Sleep {
    loop {
        let mut s = sleep(d);
        if Pin::new(&mut s)
            .poll(&mut Context::from_waker(waker))
            .is_pending()
        {
            return s;
        }
    }
}

/// The waker of the task that awaits this.
async fn current_waker() -> Waker {
    poll_fn(|cx| Poll::Ready(cx.waker().clone())).await
}

/// Sleeps registered here and dropped on another thread leave the wheel
/// (through the runtime's remote-cancel queue) without upsetting it: both
/// a timer still linked in the wheel and one that already fired but was
/// never awaited. No step depends on how fast this thread runs: each sleep
/// is known to be registered before it is dropped, and "already fired" is
/// waited for through the timer's own waker.
#[test]
fn sleep_dropped_on_another_thread() {
    bounded(30, || {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            for round in 0..50u64 {
                let flag = Arc::new(FiredFlag::default());
                let short = registered_sleep(ms(round % 3 + 1), &Waker::from(flag.clone()));
                let mut long = sleep(Duration::from_secs(3600));
                assert!(poll_once(&mut long).await.is_pending());
                if round % 2 == 0 {
                    // The wheel has fired `short`: its entry is marked fired,
                    // waiting for a poll that never comes.
                    timeout(HANG, flag.fired())
                        .await
                        .expect("a registered sleep never fired");
                }
                // (Odd rounds drop `short` while it may or may not have
                // fired: the runtime must cope with either.)
                thread::spawn(move || {
                    drop(short);
                    drop(long);
                })
                .join()
                .unwrap();
                let t = Instant::now();
                timeout(HANG, sleep(ms(1)))
                    .await
                    .expect("timers stopped after a remote drop");
                assert!(t.elapsed() >= ms(1));
            }
            // Many at once, dropped by another thread while timers run here.
            let waker = current_waker().await;
            let sleeps: Vec<Sleep> = (0..1000)
                .map(|i| registered_sleep(ms(1 + i % 20), &waker))
                .collect();
            let t = thread::spawn(move || {
                for s in sleeps {
                    drop(s);
                }
            });
            let hs: Vec<_> = (0..100u64)
                .map(|i| spawn(async move { sleep(ms(i % 10)).await }))
                .collect();
            for h in hs {
                timeout(HANG, h).await.unwrap().unwrap();
            }
            t.join().unwrap();
            timeout(HANG, sleep(ms(25))).await.unwrap();
        });
        // And in the next block_on too.
        rt.block_on(async {
            let t = Instant::now();
            timeout(HANG, sleep(ms(3))).await.unwrap();
            assert!(t.elapsed() >= ms(3));
        });
    });
}

#[test]
fn hundred_thousand_concurrent_sleeps_all_complete() {
    bounded(60, || {
        block_on(async {
            const N: usize = 100_000;
            let done = Arc::new(AtomicUsize::new(0));
            let t = Instant::now();
            let hs: Vec<JoinHandle<()>> = (0..N)
                .map(|i| {
                    let done = done.clone();
                    spawn(async move {
                        sleep(ms(1 + (i % 10) as u64)).await;
                        done.fetch_add(1, SeqCst);
                    })
                })
                .collect();
            for h in hs {
                timeout(Duration::from_secs(50), h)
                    .await
                    .expect("a sleep never completed")
                    .unwrap();
            }
            assert_eq!(done.load(SeqCst), N);
            assert!(t.elapsed() >= ms(10));
        })
    });
}

#[test]
fn far_future_sleeps_do_not_overflow_or_fire() {
    bounded(20, || {
        block_on(async {
            let far = spawn(async {
                sleep(Duration::MAX).await;
            });
            let years = spawn(async {
                sleep(Duration::from_secs(3 * 365 * 86_400)).await;
            });
            let days = spawn(async {
                sleep(Duration::from_secs(20 * 86_400)).await;
            });
            assert!(timeout(ms(5), sleep(Duration::MAX)).await.is_err());
            for d in [1u64, 2, 7, 64, 70] {
                let t = Instant::now();
                sleep(ms(d)).await;
                assert!(t.elapsed() >= ms(d));
            }
            assert!(!far.is_finished(), "a Duration::MAX sleep fired");
            assert!(!years.is_finished(), "a 3-year sleep fired");
            assert!(!days.is_finished(), "a 20-day sleep fired");
            far.abort();
            years.abort();
            days.abort();
        })
    });
}

#[test]
fn sleep_polled_outside_a_runtime_panics_helpfully() {
    let mut s = sleep(ms(1));
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = Pin::new(&mut s).poll(&mut cx);
    }));
    let p = r.unwrap_err();
    let msg = panic_message(&*p);
    assert!(msg.contains("runtime"), "unhelpful message: {msg}");
}

// ---------------------------------------------------------------------------
// timeout
// ---------------------------------------------------------------------------

#[test]
fn timeout_ok_and_err() {
    bounded(20, || {
        block_on(async {
            assert_eq!(timeout(HANG, async { 5 }).await, Ok(5));
            assert_eq!(
                timeout(HANG, async {
                    sleep(ms(3)).await;
                    6
                })
                .await,
                Ok(6)
            );
            let t = Instant::now();
            let r = timeout(ms(10), pending::<()>()).await;
            assert!(r.is_err());
            assert!(t.elapsed() >= ms(10), "timeout fired early");

            // The inner future is dropped when the deadline passes.
            struct Flag(Arc<AtomicUsize>);
            impl Drop for Flag {
                fn drop(&mut self) {
                    self.0.fetch_add(1, SeqCst);
                }
            }
            let drops = Arc::new(AtomicUsize::new(0));
            let f = Flag(drops.clone());
            let r = timeout(ms(2), async move {
                let _f = f;
                pending::<()>().await
            })
            .await;
            assert!(r.is_err());
            assert_eq!(drops.load(SeqCst), 1);

            // timeout_at, get_ref, into_inner.
            let t = Instant::now();
            assert!(timeout_at(t + ms(3), pending::<()>()).await.is_err());
            assert!(Instant::now() >= t + ms(3));
            let to = timeout(ms(1), ready(9));
            let _inner: &std::future::Ready<i32> = to.get_ref();
            assert_eq!(to.into_inner().await, 9);

            // Elapsed's Display and io::Error conversion.
            let e: Elapsed = timeout(Duration::ZERO, pending::<()>()).await.unwrap_err();
            assert!(e.to_string().contains("elapsed"), "{e}");
            let io: std::io::Error = e.into();
            assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        })
    });
}

#[test]
fn timeout_with_always_ready_inner_returns_ok() {
    bounded(20, || {
        support::block_on_current_thread(async {
            assert_eq!(timeout(Duration::ZERO, ready(1)).await, Ok(1));
            assert_eq!(timeout(Duration::ZERO, async { 2 }).await, Ok(2));
            let past = Instant::now();
            spawn(async {}).await.unwrap();
            assert_eq!(timeout_at(past, ready(3)).await, Ok(3));
            // A finished task's handle is always ready too.
            let h = spawn(async { 4 });
            spawn(async {}).await.unwrap();
            assert_eq!(timeout(Duration::ZERO, h).await.unwrap().unwrap(), 4);
        })
    });
}

/// The deadline of a timeout fires even if the inner future never waits
/// (it only yields, or burns its cooperative budget on ready operations).
#[test]
fn timeout_fires_around_a_busy_inner_future() {
    bounded(20, || {
        block_on(async {
            let t = Instant::now();
            let r = timeout(ms(10), async {
                loop {
                    yield_now().await;
                }
            })
            .await;
            assert!(r.is_err());
            assert!(t.elapsed() >= ms(10));

            let t = Instant::now();
            let r = timeout(ms(10), async {
                let mut done = sleep_until(Instant::now());
                loop {
                    (&mut done).await; // always ready: spends budget
                }
            })
            .await;
            assert!(r.is_err());
            assert!(t.elapsed() >= ms(10));
        })
    });
}

// ---------------------------------------------------------------------------
// interval
// ---------------------------------------------------------------------------

#[test]
fn interval_ticks_on_schedule() {
    bounded(20, || {
        block_on(async {
            let period = ms(5);
            let before = Instant::now();
            let mut iv = interval(period);
            assert_eq!(iv.period(), period);
            assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Burst);
            let t0 = iv.tick().await;
            assert!(
                t0 >= before && t0 <= Instant::now(),
                "first tick not immediate"
            );
            let mut count = 1;
            for k in 1..=6u32 {
                let t = timeout(HANG, iv.tick()).await.unwrap();
                count += 1;
                assert_eq!(t, t0 + period * k);
                assert!(Instant::now() >= t, "tick {k} came early");
            }
            assert_eq!(count, 7);

            // interval_at: first tick at `start`, not before.
            let start = Instant::now() + ms(8);
            let mut iv = interval_at(start, ms(3));
            assert_eq!(iv.tick().await, start);
            assert!(Instant::now() >= start);
            assert_eq!(iv.tick().await, start + ms(3));
            assert!(Instant::now() >= start + ms(3));

            // reset: the next tick is one period from now.
            let before = Instant::now();
            iv.reset();
            let t = iv.tick().await;
            assert!(t >= before + ms(3));
            assert!(Instant::now() >= t);
        })
    });
}

#[test]
fn interval_is_a_stream() {
    bounded(20, || {
        block_on(async {
            let period = ms(4);
            let mut iv = interval(period);
            let first = poll_fn(|cx| Pin::new(&mut iv).poll_next(cx)).await;
            let t0 = first.expect("an interval never ends");
            for k in 1..=4u32 {
                let next = timeout(HANG, poll_fn(|cx| Pin::new(&mut iv).poll_next(cx)))
                    .await
                    .unwrap()
                    .expect("an interval never ends");
                assert_eq!(next, t0 + period * k);
                assert!(Instant::now() >= next);
            }
            assert_eq!(iv.size_hint().1, None);
        })
    });
}

/// A period too long to add to an `Instant` (up to `Duration::MAX`) puts
/// the next tick in the far future instead of overflowing: the first tick
/// completes at once, the next one stays pending, and `reset` works too.
#[test]
fn interval_with_an_unrepresentable_period_saturates() {
    bounded(20, || {
        block_on(async {
            for missed in [
                MissedTickBehavior::Burst,
                MissedTickBehavior::Delay,
                MissedTickBehavior::Skip,
            ] {
                for period in [Duration::MAX, Duration::from_secs(u64::MAX / 2)] {
                    let start = Instant::now();
                    let mut iv = interval(period);
                    iv.set_missed_tick_behavior(missed);
                    assert!(iv.tick().await >= start);
                    assert!(
                        timeout(ms(3), iv.tick()).await.is_err(),
                        "{missed:?}: a second tick {period:?} later fired"
                    );
                    iv.reset();
                    assert!(timeout(ms(2), iv.tick()).await.is_err());
                    assert_eq!(iv.period(), period);
                }
            }
            // Three years: within what an `Instant` holds but beyond the
            // timer wheel's reach.
            let mut iv = interval_at(Instant::now(), Duration::from_secs(3 * 365 * 86_400));
            iv.tick().await;
            assert!(timeout(ms(3), iv.tick()).await.is_err());
        })
    });
}

#[test]
fn interval_zero_period_panics() {
    let r = panic::catch_unwind(|| interval(Duration::ZERO));
    assert!(r.is_err());
    let r = panic::catch_unwind(|| interval_at(Instant::now(), Duration::ZERO));
    assert!(r.is_err());
}

/// Ticks missed while the task was blocked (a std sleep inside the task:
/// the thing under test) are handled according to `MissedTickBehavior`.
#[test]
fn interval_missed_tick_behaviors() {
    bounded(20, || {
        block_on(async {
            let p = ms(10);

            // Burst: every missed tick fires, on its original schedule.
            let mut iv = interval(p);
            let t0 = iv.tick().await;
            thread::sleep(ms(35));
            for k in 1..=4u32 {
                let t = iv.tick().await;
                assert_eq!(t, t0 + p * k);
                assert!(Instant::now() >= t);
            }

            // Skip: the late tick fires, then the schedule resumes on the
            // original grid after now.
            let mut iv = interval(p);
            iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
            assert_eq!(iv.missed_tick_behavior(), MissedTickBehavior::Skip);
            let t0 = iv.tick().await;
            thread::sleep(ms(35));
            let late = iv.tick().await;
            assert_eq!(late, t0 + p);
            let resumed_after = Instant::now();
            let t = iv.tick().await;
            assert!(Instant::now() >= t);
            let offset = t.duration_since(t0);
            assert_eq!(offset.as_nanos() % p.as_nanos(), 0, "left the grid");
            assert!(t > t0 + ms(30), "missed ticks were not skipped");
            assert!(
                t + p > resumed_after,
                "skipped to a tick that was already due"
            );

            // Delay: the next tick is one period after the late one fired.
            let mut iv = interval(p);
            iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let t0 = iv.tick().await;
            thread::sleep(ms(35));
            let before_late = Instant::now();
            let late = iv.tick().await;
            assert_eq!(late, t0 + p);
            let t = iv.tick().await;
            assert!(t >= before_late + p, "delay did not restart the period");
            assert!(Instant::now() >= t);
        })
    });
}
