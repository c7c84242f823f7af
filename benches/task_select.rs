//! JoinSet and select!, timed directly (no criterion):
//! spindle vs tokio's current-thread runtime, in the same run.
//!
//! ```text
//! cargo bench -p spindle-benches --bench task_select
//! ```
//!
//! * **JoinSet**: spawn 1,000,000 tasks (each returns its number) into a
//!   `JoinSet`, then `join_next` every one. Figure: total time.
//!   Target: spindle/tokio <= 0.6.
//! * **select!**: 10,000,000 `select!`s over 4 branches, each a small
//!   future that is ready or pending (one of the four ready, in turn).
//!   Figure: total time. Target: spindle/tokio <= 1.0.
//!
//! Each case runs 3 times per runtime, alternating, each on a fresh
//! runtime; the medians and their ratio are printed.

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const TASKS: u64 = 1_000_000;
const SELECTS: u64 = 10_000_000;
const RUNS: usize = 3;

/// Ready with 1 if built ready, else pending (and never woken: the select
/// finishes through another branch and drops it).
struct MaybeReady(bool);

impl Future for MaybeReady {
    type Output = u64;
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<u64> {
        if self.0 {
            Poll::Ready(1)
        } else {
            Poll::Pending
        }
    }
}

/// The JoinSet case, the same code on both runtimes (`$krate` is `spindle`
/// or `tokio`): an `async` block that returns the time taken.
macro_rules! join_set_case {
    ($krate:ident) => {
        async {
            let start = Instant::now();
            let mut set = $krate::task::JoinSet::new();
            for i in 0..TASKS {
                set.spawn(async move { i });
            }
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.unwrap();
            }
            assert_eq!(sum, TASKS * (TASKS - 1) / 2);
            start.elapsed()
        }
    };
}

/// The select! case, the same code on both runtimes (`$krate::select!`).
macro_rules! select_case {
    ($krate:ident) => {
        async {
            let start = Instant::now();
            let mut sum = 0u64;
            for i in 0..SELECTS {
                let k = black_box(i % 4);
                sum += $krate::select! {
                    v = MaybeReady(k == 0) => v,
                    v = MaybeReady(k == 1) => v + 1,
                    v = MaybeReady(k == 2) => v + 2,
                    v = MaybeReady(k == 3) => v + 3,
                };
            }
            assert_eq!(sum, SELECTS / 4 * (1 + 2 + 3 + 4));
            start.elapsed()
        }
    };
}

fn spindle_runtime() -> spindle::Runtime {
    spindle::Runtime::new().expect("spindle runtime")
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn spindle_join_set() -> Duration {
    spindle_runtime().block_on(join_set_case!(spindle))
}

fn tokio_join_set() -> Duration {
    tokio_runtime().block_on(join_set_case!(tokio))
}

fn spindle_select() -> Duration {
    spindle_runtime().block_on(select_case!(spindle))
}

fn tokio_select() -> Duration {
    tokio_runtime().block_on(select_case!(tokio))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn compare(name: &str, target: f64, spindle: fn() -> Duration, tokio: fn() -> Duration) {
    let (mut s, mut t) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        s.push(spindle());
        t.push(tokio());
    }
    let (s, t) = (median(s), median(t));
    let ratio = s.as_secs_f64() / t.as_secs_f64();
    println!(
        "{name:<10} spindle {:>9.1} ms   tokio {:>9.1} ms   ratio {ratio:.2} (target <= {target})",
        s.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    compare("JoinSet", 0.6, spindle_join_set, tokio_join_set);
    compare("select!", 1.0, spindle_select, tokio_select);
}
