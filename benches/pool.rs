//! Pool benchmarks: a plain `main` that prints one line per measurement.
//!
//! ```text
//! cargo bench -p spindle-benches --bench pool                # everything
//! cargo bench -p spindle-benches --bench pool -- cpu_bound   # sections whose name matches
//! ```
//!
//! 1. `spawn_blocking` round trip on a warm pool: spindle vs tokio's
//!    current-thread runtime (`tokio::task::spawn_blocking`), one job at a
//!    time, so this is the latency of "hand a closure to a pool thread and
//!    get woken with its result".
//! 2. `ThreadPool` throughput: tiny closures submitted from a plain thread.
//! 3. `ProcessPool` throughput with 2 workers: tiny tasks (square a `u64`)
//!    through `map` and through a loop of `submit`, at a few pipeline depths.
//!    Each task is a frame to a worker and a frame back; batching many
//!    frames per system call is what makes this fast.
//! 4. Two CPU-bound tasks, one after the other in this process vs. on a
//!    2-worker `ProcessPool`: the speedup (2.0 is perfect; the machine's
//!    cores and whatever else runs on them set the real limit). To tell
//!    the pool's overhead from a busy machine, each line also shows how
//!    long the tasks waited for a CPU (`/proc/thread-self/schedstat`) and
//!    the "on-CPU speedup": serial CPU time over the longer task's CPU time.
//!
//! The pool's workers are this binary run again; they start serving jobs
//! before `main` (the runtime's load-time hook), so they never reach the
//! argument parsing below.

use std::hint::black_box;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::pool::{ProcessPool, ThreadPool};

fn square(x: u64) -> u64 {
    x * x
}

/// About `rounds` steps of a dependent integer chain: pure CPU, no memory.
fn burn(rounds: u64) -> u64 {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..rounds {
        x = (x ^ (x >> 29))
            .wrapping_mul(0xbf58_476d_1ce4_e5b9)
            .wrapping_add(i);
    }
    x
}

/// This thread's (run, wait) nanoseconds from `/proc/thread-self/schedstat`:
/// time on a CPU, and time spent runnable but waiting for one (contention).
fn sched() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|f| f.parse().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// `burn`, plus when it ran (µs since the epoch: comparable across
/// processes) and how long it ran on a CPU and waited for one (ns).
fn burn_timed(rounds: u64) -> (u64, (u64, u64), u64, u64) {
    let now = || {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since.map_or(0, |d| d.as_micros() as u64)
    };
    let (start, (run0, wait0)) = (now(), sched());
    let x = burn(rounds);
    let (run1, wait1) = sched();
    (x, (start, now()), run1 - run0, wait1 - wait0)
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            black_box(f());
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn per_op(total: Duration, ops: usize) -> String {
    format!("{:.2} µs/op", total.as_secs_f64() * 1e6 / ops as f64)
}

fn rate(total: Duration, ops: usize) -> String {
    format!("{:.0} tasks/s", ops as f64 / total.as_secs_f64())
}

fn spawn_blocking_round_trip() {
    const N: usize = 20_000;
    let rt = spindle::Runtime::new().expect("spindle runtime");
    let spindle = best_of(3, || {
        rt.block_on(async {
            for i in 0..N {
                black_box(spindle::spawn_blocking(move || i).await.expect("job"));
            }
        })
    });
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tokio = best_of(3, || {
        tokio_rt.block_on(async {
            for i in 0..N {
                black_box(tokio::task::spawn_blocking(move || i).await.expect("job"));
            }
        })
    });
    println!(
        "spawn_blocking round trip, warm pool: spindle {}   tokio {}",
        per_op(spindle, N),
        per_op(tokio, N)
    );
}

fn thread_pool_throughput() {
    const N: usize = 200_000;
    let pool = ThreadPool::new(2);
    let submit = best_of(3, || {
        let handles: Vec<_> = (0..N as u64).map(|i| pool.submit(move || i * i)).collect();
        handles
            .into_iter()
            .map(|h| h.wait().expect("job"))
            .sum::<u64>()
    });
    let map = best_of(3, || {
        pool.map_blocking(|i: u64| i * i, 0..N as u64)
            .expect("map")
            .len()
    });
    println!(
        "ThreadPool(2) tiny closures: submit+wait {}   map {}",
        rate(submit, N),
        rate(map, N)
    );
}

fn process_pool_throughput() {
    const N: usize = 200_000;
    spindle::block_on(async {
        for depth in [1, 16, 256] {
            let pool = ProcessPool::builder()
                .workers(2)
                .pipeline_depth(depth)
                .build()
                .expect("pool");
            let n = if depth == 1 { N / 10 } else { N };
            pool.map(square, 0..1000u64).await.expect("warm-up");
            let mut map = Duration::MAX;
            let mut submit = Duration::MAX;
            for _ in 0..3 {
                let start = Instant::now();
                let out = pool.map(square, 0..n as u64).await.expect("map");
                map = map.min(start.elapsed());
                assert_eq!(out[n - 1], (n as u64 - 1) * (n as u64 - 1));

                let start = Instant::now();
                let handles: Vec<_> = (0..n as u64).map(|i| pool.submit(square, i)).collect();
                for h in handles {
                    black_box(h.await.expect("task"));
                }
                submit = submit.min(start.elapsed());
            }
            println!(
                "ProcessPool(2) tiny tasks, pipeline depth {depth:>3}: map {}   submit+await {}",
                rate(map, n),
                rate(submit, n)
            );
            pool.shutdown().await;
        }
    });
}

fn cpu_bound_speedup() {
    // Calibrate on CPU time (not wall time, which a busy machine inflates):
    // one task of about 0.4 s of CPU.
    let probe = 20_000_000;
    let (run0, _) = sched();
    black_box(burn(probe));
    let cpu = (sched().0 - run0).max(1) as f64 / 1e9;
    let rounds = (probe as f64 * 0.4 / cpu) as u64;
    spindle::block_on(async {
        let pool = ProcessPool::new(2).expect("pool");
        pool.submit(burn, 1000).await.expect("warm-up");
        let (mut best_serial, mut best_pool) = (Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            let (run0, wait0) = sched();
            let start = Instant::now();
            let expected = black_box(vec![burn(rounds), burn(rounds)]);
            let serial = start.elapsed();
            let (run1, wait1) = sched();
            let start = Instant::now();
            let out = pool.map(burn_timed, [rounds, rounds]).await.expect("map");
            let parallel = start.elapsed();
            assert_eq!(vec![out[0].0, out[1].0], expected);
            let ((_, (s0, e0), r0, w0), (_, (s1, e1), r1, w1)) = (out[0], out[1]);
            // How much of their span the two workers ran side by side.
            let overlap = e0.min(e1).saturating_sub(s0.max(s1)) as f64;
            let span = (e0.max(e1) - s0.min(s1)).max(1) as f64;
            println!(
                "2 CPU-bound tasks: serial {:.3} s   ProcessPool(2) {:.3} s   speedup {:.2}x   \
                 (overlap {:.0}%; waited for a CPU: serial {} ms, workers {} + {} ms; \
                 on-CPU speedup {:.2}x)",
                serial.as_secs_f64(),
                parallel.as_secs_f64(),
                serial.as_secs_f64() / parallel.as_secs_f64(),
                100.0 * overlap / span,
                (wait1 - wait0) / 1_000_000,
                w0 / 1_000_000,
                w1 / 1_000_000,
                (run1 - run0) as f64 / r0.max(r1).max(1) as f64,
            );
            best_serial = best_serial.min(serial);
            best_pool = best_pool.min(parallel);
        }
        println!(
            "2 CPU-bound tasks, best of 5: serial {:.3} s   ProcessPool(2) {:.3} s   speedup {:.2}x",
            best_serial.as_secs_f64(),
            best_pool.as_secs_f64(),
            best_serial.as_secs_f64() / best_pool.as_secs_f64()
        );
        pool.shutdown().await;
    });
}

/// The blocking pool, the thread pool and the process pool: round trips,
/// throughput, and the speedup of CPU-bound work; tokio's spawn_blocking
/// beside them. Sections: spawn_blocking, thread_pool, process_pool, cpu_bound.
#[derive(Parser, Debug)]
#[command(
    name = "pool",
    bin_name = "cargo bench -p spindle-benches --bench pool --"
)]
struct Args {
    /// Run only the sections whose name contains one of these
    /// (`cargo bench -p spindle-benches --bench pool -- cpu`).
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let filters = Args::parse().filters;
    let sections: [(&str, fn()); 4] = [
        ("spawn_blocking", spawn_blocking_round_trip),
        ("thread_pool", thread_pool_throughput),
        ("process_pool", process_pool_throughput),
        ("cpu_bound", cpu_bound_speedup),
    ];
    println!(
        "cores: {}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for (name, section) in sections {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())) {
            section();
        }
    }
}
