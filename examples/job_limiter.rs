//! A job limiter: run 100 jobs, at most 10 at a time, give each a deadline,
//! and cancel everything on Ctrl-C. The course notes do this with a process
//! pool and a semaphore; here every job is a task, and four small pieces
//! of the toolbox do the rest:
//!
//! * a [`Semaphore`] with 10 permits: a job starts only once it holds one,
//!   and the permit goes back when the job ends, however it ends;
//! * a [`JoinSet`] that owns the running jobs and hands back each result as
//!   it finishes (`join_next`), in completion order;
//! * [`timeout`] around each job's work;
//! * a [`CancellationToken`] that Ctrl-C cancels: the loop that starts jobs
//!   stops, and every running job stops at its next `.await`.
//!
//! ```text
//! cargo run --example job_limiter -- [--jobs 100] [--limit 10] [--deadline-ms 250]
//! ```
//!
//! Each job "works" by sleeping a pseudo-random 10 to 400 ms (a fixed seed,
//! so runs are comparable), so some miss the deadline. Press Ctrl-C during
//! a run (or pass `--cancel-after-ms N`) to see the rest cancelled.
//!
//! [`Semaphore`]: spindle::sync::Semaphore
//! [`JoinSet`]: spindle::task::JoinSet
//! [`timeout`]: spindle::time::timeout
//! [`CancellationToken`]: spindle::sync::CancellationToken

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::sync::{CancellationToken, Semaphore};
use spindle::task::JoinSet;
use spindle::time::{sleep, timeout};
use spindle::{select, signal, Runtime};

/// Runs jobs with a concurrency limit, a deadline each, and Ctrl-C to cancel.
#[derive(Parser, Debug)]
#[command(name = "job_limiter")]
struct Args {
    /// How many jobs to run.
    #[arg(long, default_value_t = 100)]
    jobs: u32,
    /// How many may run at once.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// Each job's deadline, in milliseconds.
    #[arg(long, default_value_t = 250)]
    deadline_ms: u64,
    /// Cancel everything after this many milliseconds, as Ctrl-C would.
    #[arg(long, value_name = "MS")]
    cancel_after_ms: Option<u64>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Done,
    TimedOut,
    Cancelled,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let rt = Runtime::new()?;
    let backend = rt.backend();
    rt.block_on(run(args, backend))
}

async fn run(args: Args, backend: spindle::Backend) -> io::Result<()> {
    // The SIGINT handler is installed here, before the first line is printed.
    let ctrl_c = signal::ctrl_c();
    println!(
        "{} jobs, at most {} at once, {} ms each at most (backend: {backend}); \
         Ctrl-C cancels",
        args.jobs, args.limit, args.deadline_ms
    );
    let permits = Arc::new(Semaphore::new(args.limit));
    let cancel = CancellationToken::new();
    let running = Arc::new(AtomicUsize::new(0));
    let most_running = Arc::new(AtomicUsize::new(0));
    let deadline = Duration::from_millis(args.deadline_ms);
    let start = Instant::now();

    // Ctrl-C (or the timer standing in for it) cancels everything.
    let trigger = cancel.clone();
    let cancel_after = args.cancel_after_ms.map(Duration::from_millis);
    spindle::spawn(async move {
        let why = match cancel_after {
            Some(after) => {
                sleep(after).await;
                "--cancel-after-ms"
            }
            None => match ctrl_c.await {
                Ok(()) => "Ctrl-C",
                Err(_) => return, // no signal handling here: never cancel
            },
        };
        println!("{why}: cancelling every job");
        trigger.cancel();
    });

    let mut jobs = JoinSet::new();
    for id in 0..args.jobs {
        // Wait for a free slot, unless everything is being cancelled.
        let permit = select! {
            permit = permits.clone().acquire_owned() => permit.map_err(io::Error::from)?,
            _ = cancel.cancelled() => break,
        };
        let (cancel, running, most_running) =
            (cancel.clone(), running.clone(), most_running.clone());
        jobs.spawn(async move {
            // Held until the job ends, however it ends: then the next starts.
            let _permit = permit;
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most_running.fetch_max(now, Ordering::SeqCst);
            let outcome = select! {
                finished = timeout(deadline, work(id)) => match finished {
                    Ok(()) => Outcome::Done,
                    Err(_) => Outcome::TimedOut,
                },
                _ = cancel.cancelled() => Outcome::Cancelled,
            };
            running.fetch_sub(1, Ordering::SeqCst);
            (id, outcome)
        });
    }

    let mut counts = [0u32; 3];
    while let Some(result) = jobs.join_next().await {
        let (_id, outcome) = result.map_err(io::Error::other)?;
        counts[outcome as usize] += 1;
    }
    let not_started = args.jobs - counts.iter().sum::<u32>();
    println!(
        "done {}, timed out {}, cancelled {}, never started {not_started}; \
         at most {} ran at once; {:.2} s",
        counts[Outcome::Done as usize],
        counts[Outcome::TimedOut as usize],
        counts[Outcome::Cancelled as usize],
        most_running.load(Ordering::SeqCst),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A job's work: a pseudo-random 10 to 400 ms of waiting.
async fn work(id: u32) {
    let mut x = id.wrapping_mul(2_654_435_761).wrapping_add(0x9E37_79B9);
    x ^= x >> 15;
    sleep(Duration::from_millis(10 + u64::from(x % 391))).await;
}
