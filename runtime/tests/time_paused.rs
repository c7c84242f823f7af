//! Integration tests of the test clock: `time::pause`, `resume`, `advance`,
//! auto-advance, `Builder::start_paused`, and `time::Instant` following the
//! runtime's clock; plus the `interval` resets and the `FusedFuture` /
//! `FusedStream` impls, which the paused clock makes exact.
//!
//! With the clock paused every assertion about time is an equality: the
//! clock moves only when told to or when the runtime is idle, and whole
//! milliseconds land exactly on the timer wheel's ticks.

use std::future::{pending, poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::thread;

use futures_core::future::FusedFuture;
use futures_core::stream::FusedStream;
use spindle_runtime::time::{
    self, advance, interval, interval_at, pause, resume, sleep, sleep_until, timeout, timeout_at,
    Duration, Instant, MissedTickBehavior,
};
use spindle_runtime::{spawn, spawn_blocking, yield_now, Runtime};

mod support;
// The test clock needs a current-thread runtime (time::pause panics on a
// multi-threaded one): every runtime here is one, whatever SPINDLE_FLAVOR says.
use support::{block_on_current_thread as block_on, bounded, current_thread, panic_message};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const HOUR: Duration = Duration::from_secs(3600);

/// Polls `f` once, in the current task.
async fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    poll_fn(|cx| Poll::Ready(Pin::new(&mut *f).poll(cx))).await
}

#[test]
fn an_hour_long_timeout_takes_no_real_time() {
    bounded(10, || {
        let real = std::time::Instant::now();
        block_on(async {
            pause();
            let start = Instant::now();
            assert!(timeout(HOUR, pending::<()>()).await.is_err());
            assert_eq!(Instant::now() - start, HOUR);
            // A day of sleeping, too.
            sleep(Duration::from_secs(86_400)).await;
            assert_eq!(Instant::now() - start, HOUR + Duration::from_secs(86_400));
        });
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "waited on the real clock"
        );
    });
}

#[test]
fn paused_clock_stands_still_while_tasks_run() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            for _ in 0..100 {
                yield_now().await;
            }
            spawn(async {}).await.unwrap();
            assert_eq!(Instant::now(), start);
        })
    });
}

/// Auto-advance jumps from timer to timer, in deadline order, and each
/// wakes at exactly its deadline.
#[test]
fn auto_advance_fires_timers_in_deadline_order_exactly() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            let log = Arc::new(Mutex::new(Vec::new()));
            let deadlines = [700u64, 3, 50_000, 64, 1, 4096, 65, 2_000_000, 20];
            let mut tasks = Vec::new();
            for d in deadlines {
                let log = log.clone();
                tasks.push(spawn(async move {
                    sleep(ms(d)).await;
                    log.lock().unwrap().push((d, Instant::now() - start));
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let mut sorted = deadlines.to_vec();
            sorted.sort();
            let expected: Vec<_> = sorted.iter().map(|&d| (d, ms(d))).collect();
            assert_eq!(*log.lock().unwrap(), expected);
        })
    });
}

#[test]
fn advance_moves_the_clock_and_wakes_the_timers_it_passes() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            let fired = Arc::new(AtomicBool::new(false));
            let flag = fired.clone();
            let sleeper = spawn(async move {
                sleep(ms(100)).await;
                flag.store(true, SeqCst);
            });
            yield_now().await; // the sleeper registers its timer
            advance(ms(60)).await;
            assert_eq!(Instant::now() - start, ms(60));
            for _ in 0..10 {
                yield_now().await;
            }
            assert!(!fired.load(SeqCst), "fired 40 ms early");

            advance(ms(40)).await;
            assert_eq!(Instant::now() - start, ms(100));
            // Woken by the advance: it runs at the next chance, without the
            // clock moving again.
            sleeper.await.unwrap();
            assert!(fired.load(SeqCst));
            assert_eq!(Instant::now() - start, ms(100));

            // Less than a millisecond, and zero, are fine too.
            advance(Duration::from_micros(250)).await;
            advance(Duration::ZERO).await;
            assert_eq!(Instant::now() - start, ms(100) + Duration::from_micros(250));
        })
    });
}

#[test]
fn misuse_panics_with_a_clear_message() {
    fn message(r: std::thread::Result<()>) -> String {
        panic_message(&*r.expect_err("should have panicked"))
    }
    let m = message(panic::catch_unwind(pause));
    assert!(m.contains("outside a spindle runtime"), "{m}");
    let m = message(panic::catch_unwind(resume));
    assert!(m.contains("outside a spindle runtime"), "{m}");

    bounded(10, || {
        let rt = current_thread();
        let m = message(panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(advance(ms(1)))
        })));
        assert!(m.contains("not paused"), "{m}");
        let m = message(panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async { resume() })
        })));
        assert!(m.contains("not paused"), "{m}");
        let m = message(panic::catch_unwind(AssertUnwindSafe(|| {
            rt.block_on(async {
                pause();
                pause();
            })
        })));
        assert!(m.contains("already paused"), "{m}");
        // The runtime is still usable, its clock still paused.
        rt.block_on(async {
            let t = Instant::now();
            sleep(HOUR).await;
            assert_eq!(t.elapsed(), HOUR);
        });
    });
}

#[test]
fn resume_runs_on_from_where_the_clock_stood() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            advance(HOUR).await;
            resume();
            let real = std::time::Instant::now();
            sleep(ms(5)).await; // on the real clock again
            assert!(real.elapsed() >= ms(5), "a resumed clock still jumped");
            assert!(Instant::now() - start >= HOUR + ms(5));
            // It can be paused again.
            pause();
            let t = Instant::now();
            sleep(HOUR).await;
            assert_eq!(Instant::now() - t, HOUR);
        })
    });
}

#[test]
fn start_paused_builds_a_runtime_with_the_clock_paused() {
    bounded(10, || {
        let rt = Runtime::builder().start_paused(true).build().unwrap();
        let real = std::time::Instant::now();
        rt.block_on(async {
            let start = Instant::now();
            yield_now().await;
            assert_eq!(Instant::now(), start);
            sleep(Duration::from_secs(7 * 86_400)).await;
            assert_eq!(start.elapsed(), Duration::from_secs(7 * 86_400));
            resume(); // it is paused: resuming is allowed
        });
        assert!(real.elapsed() < Duration::from_secs(5));
    });
}

/// A `spawn_blocking` job in flight is work in progress: the clock does not
/// jump past a timeout around it.
#[test]
fn no_auto_advance_while_a_blocking_job_runs() {
    bounded(10, || {
        block_on(async {
            pause();
            let job = spawn_blocking(|| {
                thread::sleep(ms(20)); // the work under test
                7
            });
            let start = Instant::now();
            let out = timeout(HOUR, job)
                .await
                .expect("the clock jumped past a running job");
            assert_eq!(out.unwrap(), 7);
            assert!(Instant::now() - start < HOUR);
        })
    });
}

/// Threads that entered the runtime (a blocking job) read its clock.
#[test]
fn instant_now_follows_the_paused_clock_on_entered_threads() {
    bounded(10, || {
        block_on(async {
            pause();
            advance(HOUR).await;
            let here = Instant::now();
            let there = spawn_blocking(Instant::now).await.unwrap();
            assert_eq!(there, here);
            // And a sleep polled there counts on the same clock: it ends
            // when the runtime's clock jumps, which the main task asks for.
            let waker_side = spawn_blocking(|| {
                let handle = spindle_runtime::Handle::current();
                let _g = handle.enter();
                Instant::now()
            })
            .await
            .unwrap();
            assert_eq!(waker_side, here);
        })
    });
}

/// Each runtime has its own clock: pausing one leaves another alone.
#[test]
fn the_clock_is_per_runtime() {
    bounded(10, || {
        block_on(async {
            pause();
            advance(HOUR).await;
            let other = thread::spawn(|| block_on(async { Instant::now() }))
                .join()
                .unwrap();
            let real = std::time::Instant::now();
            assert!(other.into_std() <= real);
            assert!(Instant::now().into_std() > real + Duration::from_secs(3000));
        });
        // Outside any runtime, Instant::now is the system clock.
        let a = std::time::Instant::now();
        let b = Instant::now().into_std();
        assert!(b >= a && b - a < Duration::from_secs(5));
    });
}

/// A timer dropped mid-wait leaves the wheel: the clock never jumps to it.
#[test]
fn a_dropped_timer_is_not_jumped_to() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            let mut long = Box::pin(sleep(HOUR));
            assert!(poll_once(&mut long).await.is_pending());
            let mut t = Box::pin(timeout(HOUR, pending::<()>()));
            assert!(poll_once(&mut t).await.is_pending());
            drop(long);
            drop(t);
            sleep(ms(3)).await;
            assert_eq!(Instant::now() - start, ms(3));
        })
    });
}

#[test]
fn sleep_until_and_timeout_at_take_the_runtime_instant() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            sleep_until(start + ms(250)).await;
            assert_eq!(Instant::now(), start + ms(250));
            let r = timeout_at(start + ms(500), sleep(HOUR)).await;
            assert!(r.is_err());
            assert_eq!(Instant::now(), start + ms(500));
            // A std Instant converts.
            let std_deadline: std::time::Instant = (start + ms(600)).into();
            sleep_until(std_deadline.into()).await;
            assert_eq!(Instant::now(), start + ms(600));
        })
    });
}

#[test]
fn sleep_is_a_fused_future() {
    bounded(10, || {
        block_on(async {
            pause();
            let mut s = pin!(sleep(ms(10)));
            assert!(!s.is_terminated());
            assert!(poll_once(&mut s).await.is_pending());
            assert!(!s.is_terminated());
            s.as_mut().await;
            assert!(s.is_terminated());
            s.as_mut().reset(Instant::now() + ms(10));
            assert!(!s.is_terminated(), "reset makes it pending again");
            let before = Instant::now();
            s.as_mut().await;
            assert!(s.is_terminated());
            assert_eq!(Instant::now() - before, ms(10));
        })
    });
}

#[test]
fn interval_ticks_exactly_and_is_a_fused_stream() {
    bounded(10, || {
        block_on(async {
            pause();
            let start = Instant::now();
            let mut iv = interval(ms(10));
            assert!(!iv.is_terminated());
            for k in 0..5u32 {
                assert_eq!(iv.tick().await, start + ms(10) * k);
                assert_eq!(Instant::now(), start + ms(10) * k);
            }
            let mut iv = interval_at(start + HOUR, ms(250));
            assert_eq!(iv.tick().await, start + HOUR);
            assert_eq!(iv.tick().await, start + HOUR + ms(250));
        })
    });
}

#[test]
fn interval_resets() {
    bounded(10, || {
        block_on(async {
            pause();
            let mut iv = interval(ms(10));
            let t0 = iv.tick().await;

            advance(ms(3)).await;
            iv.reset(); // one period from now
            assert_eq!(iv.tick().await, t0 + ms(13));

            iv.reset_immediately();
            assert_eq!(iv.tick().await, t0 + ms(13));
            assert_eq!(iv.tick().await, t0 + ms(23));

            iv.reset_after(ms(4));
            assert_eq!(iv.tick().await, t0 + ms(27));

            iv.reset_at(t0 + HOUR);
            assert_eq!(iv.tick().await, t0 + HOUR);
            assert_eq!(iv.tick().await, t0 + HOUR + ms(10));
            assert_eq!(iv.period(), ms(10));
        })
    });
}

/// Missed ticks, made by advancing the paused clock past several periods:
/// every behaviour gives exact instants.
#[test]
fn interval_missed_tick_behaviors_on_the_paused_clock() {
    bounded(10, || {
        block_on(async {
            pause();
            let p = ms(10);

            let mut iv = interval(p);
            let t0 = iv.tick().await;
            advance(ms(35)).await;
            for k in 1..=3u32 {
                assert_eq!(iv.tick().await, t0 + p * k, "burst tick {k}");
                assert_eq!(Instant::now(), t0 + ms(35), "a burst tick waited");
            }
            assert_eq!(iv.tick().await, t0 + ms(40));
            assert_eq!(Instant::now(), t0 + ms(40));

            let mut iv = interval(p);
            iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let t0 = iv.tick().await;
            advance(ms(35)).await;
            assert_eq!(iv.tick().await, t0 + p); // the late one
            assert_eq!(iv.tick().await, t0 + ms(40)); // back on the grid
            assert_eq!(Instant::now(), t0 + ms(40));

            let mut iv = interval(p);
            iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let t0 = iv.tick().await;
            advance(ms(35)).await;
            assert_eq!(iv.tick().await, t0 + p);
            assert_eq!(iv.tick().await, t0 + ms(45)); // a period after now
            assert_eq!(Instant::now(), t0 + ms(45));
        })
    });
}

#[test]
fn instant_arithmetic_saturates_and_converts() {
    let a = Instant::now();
    let b = a + ms(5);
    assert_eq!(b - a, ms(5));
    assert_eq!(a - b, Duration::ZERO);
    assert_eq!(a.duration_since(b), Duration::ZERO);
    assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    assert_eq!(a.checked_duration_since(b), None);
    assert_eq!(b.checked_duration_since(a), Some(ms(5)));
    assert_eq!(a.checked_add(ms(5)), Some(b));
    assert_eq!(b.checked_sub(ms(5)), Some(a));
    assert_eq!(a.checked_add(Duration::MAX), None);
    let mut c = a;
    c += ms(2);
    c -= ms(1);
    assert_eq!(c, a + ms(1));
    assert_eq!(b - ms(5), a);
    let s: std::time::Instant = b.into();
    assert_eq!(Instant::from(s), b);
    assert_eq!(Instant::from_std(s).into_std(), s);
    assert_eq!(format!("{b:?}"), format!("{s:?}"));
}

/// `time::Instant` is Send and Sync and usable from several threads, each
/// reading its own runtime's clock.
#[test]
fn instants_cross_threads() {
    bounded(10, || {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                thread::spawn(move || {
                    Runtime::builder()
                        .start_paused(true)
                        .build()
                        .unwrap()
                        .block_on(async move {
                            let start = Instant::now();
                            time::sleep(HOUR * i).await;
                            start.elapsed()
                        })
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), HOUR * i as u32);
        }
    });
}

/// The attribute macro, used through the runtime crate alone.
#[spindle_runtime::test(crate = "spindle_runtime", start_paused = true)]
async fn the_test_attribute_names_the_runtime_crate() {
    let start = Instant::now();
    sleep(HOUR).await;
    assert_eq!(start.elapsed(), HOUR);
}
