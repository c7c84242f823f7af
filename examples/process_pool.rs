//! Counting primes four ways: serially, on a `ThreadPool`, on a
//! `ProcessPool` with `map`, and on a `ProcessPool` with `submit` plus a
//! callback (Python's `apply_async(func, args, callback=...)` /
//! `submit(...).add_done_callback(...)`).
//!
//! ```text
//! cargo run --release --example process_pool -- [--workers N] [--n N]
//! ```
//!
//! The range `[0, n)` is cut into `8 * workers` pieces; each piece is one
//! job (`count_primes(lo, hi)`, trial division: pure CPU). With `workers`
//! cores free, both pools should approach `workers`x the serial speed.
//! Threads share memory and start in microseconds; processes pay for their
//! start (an `exec` each) and for copying arguments and results, and in
//! exchange a crashing job cannot take the program down.
//!
//! The process pool starts its workers by running this same executable
//! again; a worker branches off into serving jobs before `main` (a hook the
//! loader runs at program start), so it never parses these arguments and
//! `main` needs no special first line.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::pool::{ProcessPool, ThreadPool};

/// Counts primes serially, on a thread pool and on a process pool, and
/// prints each method's time and speedup.
#[derive(Parser, Debug)]
#[command(name = "process_pool")]
struct Args {
    /// Worker threads and processes (default: the number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    workers: Option<u32>,
    /// Count the primes below N.
    #[arg(long, value_name = "N", default_value_t = 5_000_000)]
    n: u64,
}

/// The number of primes in `[lo, hi)`.
fn count_primes((lo, hi): (u64, u64)) -> u64 {
    (lo..hi).filter(|&k| is_prime(k)).count() as u64
}

fn is_prime(n: u64) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) || n.is_multiple_of(3) {
        return false;
    }
    let mut d = 5;
    while d * d <= n {
        if n.is_multiple_of(d) || n.is_multiple_of(d + 2) {
            return false;
        }
        d += 6;
    }
    true
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let workers = args
        .workers
        .map(|w| w as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let n = args.n;
    let pieces = (workers * 8) as u64;
    let ranges: Vec<(u64, u64)> = (0..pieces)
        .map(|i| (n * i / pieces, n * (i + 1) / pieces))
        .collect();
    println!("counting primes below {n} in {pieces} pieces, {workers} workers\n");

    let start = Instant::now();
    let serial: u64 = ranges.iter().map(|&r| count_primes(r)).sum();
    let serial_time = start.elapsed();
    report("serial", serial, serial_time, serial_time);

    let threads = ThreadPool::new(workers);
    let start = Instant::now();
    let counted: u64 = threads
        .map_blocking(count_primes, ranges.clone())?
        .iter()
        .sum();
    report("ThreadPool map", counted, start.elapsed(), serial_time);
    threads.shutdown();

    spindle::block_on(async {
        let start = Instant::now();
        let pool = ProcessPool::new(workers)?;
        println!(
            "  (starting {workers} worker processes took {:.1} ms)",
            ms(start.elapsed())
        );

        let start = Instant::now();
        let counted: u64 = pool.map(count_primes, ranges.clone()).await?.iter().sum();
        report("ProcessPool map", counted, start.elapsed(), serial_time);

        // Callback style: each result is added up as it arrives, in
        // whatever order the workers finish.
        let total = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        for &range in &ranges {
            let total = total.clone();
            pool.submit(count_primes, range).on_done(move |result| {
                total.fetch_add(
                    result.expect("a prime-counting job failed"),
                    Ordering::Relaxed,
                );
            });
        }
        // shutdown waits for every queued job (so every callback has run).
        pool.shutdown().await;
        report(
            "ProcessPool submit+on_done",
            total.load(Ordering::Relaxed),
            start.elapsed(),
            serial_time,
        );
        Ok::<(), io::Error>(())
    })?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn report(method: &str, primes: u64, took: Duration, serial: Duration) {
    println!(
        "{method:<28} {primes:>9} primes  {:>9.1} ms  speedup {:.2}x",
        ms(took),
        serial.as_secs_f64() / took.as_secs_f64()
    );
}
