//! The course notes' Semaphore example: "if a mutex is a toilet with one
//! stall, a semaphore is a public toilet" (如果将互斥锁比作一个坑位厕所,
//! 那么信号量就相当于公共厕所). Twenty people (tasks), five stalls
//! (`Semaphore::new(5)`): at most five are inside at once, the others
//! queue, first come, first served.
//!
//! ```text
//! cargo run --release --example semaphore_limit
//! ```
//!
//! Each person holds a permit while inside; dropping it (leaving) lets the
//! first one in the queue in, like Python's `with sem:`. The program
//! tracks the occupancy and checks at the end that it reached, and never
//! exceeded, five.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use spindle::sync::Semaphore;
use spindle::time::{sleep, Duration, Instant};

const PEOPLE: usize = 20;
const STALLS: usize = 5;

/// Twenty tasks, five permits: at most five hold a `Semaphore` permit at
/// once, the others queue in order. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "semaphore_limit")]
struct Args {}

fn main() -> ExitCode {
    Args::parse();
    let start = Instant::now();
    let max_inside = spindle::block_on(async move {
        let stalls = Arc::new(Semaphore::new(STALLS));
        let inside = Arc::new(AtomicUsize::new(0));
        let max_inside = Arc::new(AtomicUsize::new(0));

        let people: Vec<_> = (0..PEOPLE)
            .map(|person| {
                let stalls = stalls.clone();
                let inside = inside.clone();
                let max_inside = max_inside.clone();
                spindle::spawn(async move {
                    let permit = match stalls.try_acquire() {
                        Ok(permit) => permit,
                        Err(_) => {
                            println!(
                                "[{:>4} ms] person {person:>2} waits   (all {STALLS} stalls taken)",
                                start.elapsed().as_millis()
                            );
                            stalls.acquire().await.expect("semaphore closed")
                        }
                    };
                    let now = inside.fetch_add(1, Ordering::Relaxed) + 1;
                    max_inside.fetch_max(now, Ordering::Relaxed);
                    println!(
                        "[{:>4} ms] person {person:>2} enters  (inside: {now}/{STALLS})",
                        start.elapsed().as_millis()
                    );
                    // A stay of 20..70 ms, different for each person.
                    sleep(Duration::from_millis(20 + (person as u64 * 37) % 50)).await;
                    let now = inside.fetch_sub(1, Ordering::Relaxed) - 1;
                    println!(
                        "[{:>4} ms] person {person:>2} leaves  (inside: {now}/{STALLS})",
                        start.elapsed().as_millis()
                    );
                    drop(permit); // the next one in the queue enters
                })
            })
            .collect();
        println!(
            "{PEOPLE} people, {STALLS} stalls: {} get in at once, {} queue",
            STALLS.min(PEOPLE),
            PEOPLE.saturating_sub(STALLS)
        );
        for p in people {
            p.await.expect("task panicked");
        }
        assert_eq!(stalls.available_permits(), STALLS);
        max_inside.load(Ordering::Relaxed)
    });

    println!(
        "done in {} ms; maximum occupancy: {max_inside} (limit {STALLS})",
        start.elapsed().as_millis()
    );
    assert_eq!(
        max_inside, STALLS,
        "the semaphore should allow exactly {STALLS} at once"
    );
    ExitCode::SUCCESS
}
