//! A first tour of spindle: spawn tasks, sleep, join them, put a deadline on
//! a future, and see what a `JoinError` looks like.
//!
//! ```text
//! cargo run --example hello
//! ```
//!
//! Everything below runs on one thread. The tasks take turns: each runs
//! until it reaches an `.await` that cannot finish yet, then hands the thread
//! back to the runtime, which runs another task or, when none can run, sleeps
//! in `epoll_wait` until the next timer is due.

use std::time::{Duration, Instant};

use clap::Parser;
use spindle::time::{sleep, timeout};
use spindle::{spawn, JoinError};

/// A first tour of spindle: spawn tasks, sleep, join them, put a deadline
/// on a future, and see what a `JoinError` looks like. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "hello")]
struct Args {}

fn main() {
    Args::parse();
    // A panic inside a task is caught by the runtime and handed to whoever
    // awaits the task's JoinHandle (part 3). The panic hook still runs first,
    // as for any panic; we replace std's multi-line report with one line so
    // the output stays readable.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("(not a string)");
        println!("   [panic hook] {message}");
    }));

    // `block_on` creates a runtime on this thread (an epoll instance, a run
    // queue and a timer wheel), runs the future to completion while driving
    // every task spawned meanwhile, and drops the runtime at the end.
    spindle::block_on(async {
        let start = Instant::now();
        let ms = move || start.elapsed().as_millis();

        // --- 1. Spawn three tasks that sleep for different times. ---------
        println!("1. spawn and join");
        let mut handles = Vec::new();
        for (name, delay) in [("tortoise", 300), ("hare", 100), ("owl", 200)] {
            // `spawn` returns at once with a JoinHandle; the task starts
            // the next time this (main) future waits on something.
            let handle = spawn(async move {
                println!("   {:>4} ms  {name} goes to sleep for {delay} ms", ms());
                sleep(Duration::from_millis(delay)).await;
                println!("   {:>4} ms  {name} wakes up", ms());
                delay
            });
            handles.push(handle);
        }
        // Awaiting a JoinHandle gives the task's output: `Ok(value)`, or a
        // JoinError if it did not finish. We join in spawn order; the tasks
        // still wake in deadline order, since they all sleep at once.
        let mut slept = 0;
        for handle in handles {
            slept += handle
                .await
                .expect("these tasks neither panic nor get aborted");
        }
        println!(
            "   {:>4} ms  all joined: {slept} ms of sleeping took about 300 ms, \
             on one thread\n",
            ms()
        );

        // --- 2. Timeouts. ---------------------------------------------------
        println!("2. timeout");
        // A future that finishes in time: `Ok(output)`.
        let quick = timeout(Duration::from_millis(100), async {
            sleep(Duration::from_millis(10)).await;
            "made it"
        })
        .await;
        println!("   quick job: {quick:?}");
        // One that does not: `Err(Elapsed)`, and the inner future (here a
        // ten-second sleep) is dropped, which cancels it.
        let t = Instant::now();
        let slow = timeout(Duration::from_millis(50), sleep(Duration::from_secs(10))).await;
        match slow {
            Ok(()) => unreachable!("a 10 s sleep cannot beat a 50 ms deadline"),
            Err(elapsed) => println!(
                "   slow job: Err({elapsed}) after {} ms\n",
                t.elapsed().as_millis()
            ),
        }

        // --- 3. A task that panics. -----------------------------------------
        println!("3. a panicking task");
        let doomed = spawn(async {
            sleep(Duration::from_millis(5)).await;
            let answer: u32 = "forty-two".parse().expect("the answer should be a number");
            answer
        });
        // The panic does not unwind into this future, and the runtime keeps
        // going: it turns into an error on the JoinHandle. (To re-raise it,
        // pass `err.into_panic()` to `std::panic::resume_unwind`.)
        let err: JoinError = doomed.await.unwrap_err();
        println!("   awaiting it gave Err: {err}");
        println!("   is_panic() = {}\n", err.is_panic());

        // --- 4. Aborting a task. --------------------------------------------
        println!("4. abort");
        let sleeper = spawn(async {
            sleep(Duration::from_secs(3600)).await;
            println!("   (never printed)");
        });
        sleep(Duration::from_millis(10)).await; // let it start and go to sleep
        println!("   finished before abort? {}", sleeper.is_finished());
        // `abort` asks the runtime to drop the task's future (and with it
        // the hour-long timer) instead of polling it again.
        sleeper.abort();
        let err = sleeper.await.unwrap_err();
        println!("   awaiting it gave Err: {err}");
        println!("   is_cancelled() = {}\n", err.is_cancelled());

        // --- 5. Detached tasks. ----------------------------------------------
        println!("5. detach");
        // Dropping a JoinHandle does not stop the task; it runs on without
        // anyone waiting for its output.
        drop(spawn(async move {
            println!("   {:>4} ms  a detached task ran anyway", ms());
        }));
        sleep(Duration::from_millis(1)).await;
        // One still sleeping when `block_on` returns is dropped along with
        // the runtime: its line is never printed.
        drop(spawn(async {
            sleep(Duration::from_secs(60)).await;
            println!("   (never printed either)");
        }));
        println!(
            "   {:>4} ms  main future done; the runtime shuts down",
            ms()
        );
    });
}
