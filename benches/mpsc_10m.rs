//! The two headline cases of the sync/channel issue, timed directly (no
//! criterion): spindle vs tokio's current-thread runtime.
//!
//! ```text
//! cargo bench -p spindle-benches --bench mpsc_10m
//! ```
//!
//! * **mpsc**: one task sends 10,000,000 `u64` to another through a bounded
//!   channel of capacity 1024. Figure: time per message.
//! * **mutex**: 64 tasks each lock a mutex, `yield_now` while holding it
//!   (so the other 63 queue behind it), and unlock; 1,000,000 locks in all.
//!   Figure: time per lock.
//!
//! * **mutex, self-waking yield** (for information, no target): the mutex
//!   case again, but both runtimes yield through the same tiny future that
//!   wakes itself and returns `Pending` once. tokio's `yield_now` defers
//!   its wake-up until the scheduler has polled its IO driver; in the mutex
//!   pattern (every other task is waiting for the lock) that is one
//!   `epoll_wait` system call per lock, which spindle's `yield_now` (a push
//!   onto the run queue) does not make. This case takes that difference
//!   out and compares the lock hand-over itself.
//!
//! Each case runs 3 times per runtime, alternating spindle and tokio, each
//! run on a fresh runtime; the medians and their ratio are printed. The
//! issue's targets: mpsc spindle/tokio <= 0.7, mutex <= 0.8.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clap::Parser;

const MESSAGES: u64 = 10_000_000;
const CAP: usize = 1024;
const LOCK_TASKS: usize = 64;
const LOCKS: usize = 1_000_000;
const RUNS: usize = 3;

fn spindle_mpsc() -> Duration {
    let rt = spindle::Runtime::new().expect("spindle runtime");
    rt.block_on(async {
        let start = Instant::now();
        let (tx, mut rx) = spindle::channel::mpsc::channel::<u64>(CAP);
        spindle::spawn(async move {
            for i in 0..MESSAGES {
                tx.send(i).await.unwrap();
            }
        });
        let mut sum = 0u64;
        while let Some(i) = rx.recv().await {
            sum = sum.wrapping_add(i);
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, MESSAGES * (MESSAGES - 1) / 2);
        elapsed
    })
}

fn tokio_mpsc() -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let start = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(CAP);
        tokio::spawn(async move {
            for i in 0..MESSAGES {
                tx.send(i).await.unwrap();
            }
        });
        let mut sum = 0u64;
        while let Some(i) = rx.recv().await {
            sum = sum.wrapping_add(i);
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, MESSAGES * (MESSAGES - 1) / 2);
        elapsed
    })
}

/// Returns `Pending` once after waking its own task: a yield that goes
/// straight through the waker on both runtimes.
struct SelfWakingYield(bool);

impl Future for SelfWakingYield {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How the mutex tasks yield while holding the lock.
#[derive(Clone, Copy)]
enum Yield {
    /// The runtime's own `yield_now`.
    Runtime,
    /// [`SelfWakingYield`] on both runtimes.
    SelfWaking,
}

fn spindle_mutex() -> Duration {
    spindle_mutex_with(Yield::Runtime)
}

fn tokio_mutex() -> Duration {
    tokio_mutex_with(Yield::Runtime)
}

fn spindle_mutex_self_waking() -> Duration {
    spindle_mutex_with(Yield::SelfWaking)
}

fn tokio_mutex_self_waking() -> Duration {
    tokio_mutex_with(Yield::SelfWaking)
}

fn spindle_mutex_with(how: Yield) -> Duration {
    let rt = spindle::Runtime::new().expect("spindle runtime");
    rt.block_on(async {
        let start = Instant::now();
        let m = Arc::new(spindle::sync::Mutex::new(0usize));
        let handles: Vec<_> = (0..LOCK_TASKS)
            .map(|_| {
                let m = m.clone();
                spindle::spawn(async move {
                    for _ in 0..LOCKS / LOCK_TASKS {
                        let mut g = m.lock().await;
                        *g += 1;
                        match how {
                            Yield::Runtime => spindle::yield_now().await,
                            Yield::SelfWaking => SelfWakingYield(false).await,
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(*m.lock().await, LOCKS / LOCK_TASKS * LOCK_TASKS);
        elapsed
    })
}

fn tokio_mutex_with(how: Yield) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let start = Instant::now();
        let m = Arc::new(tokio::sync::Mutex::new(0usize));
        let handles: Vec<_> = (0..LOCK_TASKS)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move {
                    for _ in 0..LOCKS / LOCK_TASKS {
                        let mut g = m.lock().await;
                        *g += 1;
                        match how {
                            Yield::Runtime => tokio::task::yield_now().await,
                            Yield::SelfWaking => SelfWakingYield(false).await,
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(*m.lock().await, LOCKS / LOCK_TASKS * LOCK_TASKS);
        elapsed
    })
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ns_per(d: Duration, n: usize) -> f64 {
    d.as_nanos() as f64 / n as f64
}

/// Runs both sides `RUNS` times, alternating, and prints the figures.
/// Returns the ratio spindle/tokio of the medians.
fn case(
    name: &str,
    unit: &str,
    n: usize,
    spindle: fn() -> Duration,
    tokio: fn() -> Duration,
) -> f64 {
    let mut s = Vec::new();
    let mut t = Vec::new();
    for run in 1..=RUNS {
        let ds = spindle();
        let dt = tokio();
        println!(
            "{name} run {run}: spindle {:8.2} ms ({:6.2} ns/{unit})   tokio {:8.2} ms ({:6.2} ns/{unit})",
            ds.as_secs_f64() * 1e3,
            ns_per(ds, n),
            dt.as_secs_f64() * 1e3,
            ns_per(dt, n)
        );
        s.push(ds);
        t.push(dt);
    }
    let (ms, mt) = (median(s), median(t));
    let ratio = ms.as_secs_f64() / mt.as_secs_f64();
    println!(
        "{name} median: spindle {:.2} ns/{unit}, tokio {:.2} ns/{unit}, ratio spindle/tokio {:.3}",
        ns_per(ms, n),
        ns_per(mt, n),
        ratio
    );
    ratio
}

/// Ten million messages through a bounded mpsc channel, and a million
/// contended mutex locks, on spindle and on tokio, runs alternating.
#[derive(Parser, Debug)]
#[command(
    name = "mpsc_10m",
    bin_name = "cargo bench -p spindle-benches --bench mpsc_10m --"
)]
struct Args {
    /// Run the measurements (`cargo bench` passes it). Without it, as under
    /// `cargo test --benches`, the program only says it skipped them.
    #[arg(long)]
    bench: bool,
    /// Ignored: `cargo bench -- FILTER` passes its filter to every bench,
    /// and the filters are meant for the criterion benches.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
}

fn main() {
    if !Args::parse().bench {
        println!("mpsc_10m: skipped (run with `cargo bench -p spindle-benches --bench mpsc_10m`)");
        return;
    }
    println!(
        "bounded mpsc, {MESSAGES} messages, one task -> another, capacity {CAP}; \
         {RUNS} runs each, alternating"
    );
    let mpsc = case(
        "mpsc_10m",
        "msg",
        MESSAGES as usize,
        spindle_mpsc,
        tokio_mpsc,
    );
    println!();
    println!(
        "mutex, {LOCK_TASKS} tasks x {} locks (lock, yield_now holding it, unlock); \
         {RUNS} runs each, alternating",
        LOCKS / LOCK_TASKS
    );
    let mutex = case(
        "mutex_1m",
        "lock",
        LOCKS / LOCK_TASKS * LOCK_TASKS,
        spindle_mutex,
        tokio_mutex,
    );
    println!();
    println!(
        "for information: the mutex case with a self-waking yield on both runtimes \
         (no driver poll per tokio yield_now)"
    );
    case(
        "mutex_1m_selfwake",
        "lock",
        LOCKS / LOCK_TASKS * LOCK_TASKS,
        spindle_mutex_self_waking,
        tokio_mutex_self_waking,
    );
    println!();
    let verdict = |r: f64, target: f64| if r <= target { "MET" } else { "NOT met" };
    println!(
        "target mpsc  spindle/tokio <= 0.70: {:.3} -> {}",
        mpsc,
        verdict(mpsc, 0.7)
    );
    println!(
        "target mutex spindle/tokio <= 0.80: {:.3} -> {}",
        mutex,
        verdict(mutex, 0.8)
    );
}
