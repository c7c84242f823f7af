//! The traffic light (红绿灯) from the course notes' `Event` section: cars
//! (tasks) wait on a `Flag` (spindle's name for Python's `Event`) that the
//! light task sets (green) and clears (red) on a schedule.
//!
//! ```text
//! cargo run --release --example traffic_light
//! ```
//!
//! The light starts red and switches every 100 ms for three cycles (red,
//! green, red, green, red, green), then the program ends: about 0.6 s.
//! Cars arrive every 45 ms. A car that finds the light green drives on; one
//! that finds it red waits in `event.wait().await` and passes when the
//! light calls `event.set()`. `event.clear()` makes later arrivals wait
//! again. (A car already waiting when `set()` ran passes even if the light
//! turns red before the car is polled: being woken by `set()` *is* its
//! signal, as with Python's `Event.wait()`.)

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use clap::Parser;
use spindle::sync::Flag;
use spindle::time::{sleep_until, Duration, Instant};

const PHASE: Duration = Duration::from_millis(100);
const CYCLES: u32 = 3;
const CARS: u32 = 10;
const FIRST_CAR: Duration = Duration::from_millis(30);
const CAR_GAP: Duration = Duration::from_millis(45);

/// Milliseconds since `start`, for the log.
fn at(start: Instant) -> String {
    format!("[{:>4} ms]", start.elapsed().as_millis())
}

/// The course notes' traffic light: cars (tasks) wait for a light task
/// to turn green. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "traffic_light")]
struct Args {}

fn main() -> ExitCode {
    Args::parse();
    let start = Instant::now();
    let (waited, drove_on) = spindle::block_on(async move {
        // Not set: red.
        let green = Arc::new(Flag::new());
        let waiting = Arc::new(AtomicUsize::new(0));
        let waited = Arc::new(AtomicUsize::new(0));
        let drove_on = Arc::new(AtomicUsize::new(0));

        let light = {
            let green = green.clone();
            let waiting = waiting.clone();
            spindle::spawn(async move {
                let mut next = start;
                for cycle in 1..=CYCLES {
                    green.clear();
                    println!("{} light: RED    (cycle {cycle} of {CYCLES})", at(start));
                    next += PHASE;
                    sleep_until(next).await;
                    let n = waiting.load(Ordering::Relaxed);
                    println!("{} light: GREEN  ({n} car(s) waiting)", at(start));
                    green.set();
                    next += PHASE;
                    sleep_until(next).await;
                }
            })
        };

        let cars: Vec<_> = (0..CARS)
            .map(|car| {
                let green = green.clone();
                let waiting = waiting.clone();
                let waited = waited.clone();
                let drove_on = drove_on.clone();
                spindle::spawn(async move {
                    sleep_until(start + FIRST_CAR + CAR_GAP * car).await;
                    if green.is_set() {
                        println!("{} car {car} arrives on green and drives on", at(start));
                        drove_on.fetch_add(1, Ordering::Relaxed);
                    } else {
                        println!("{} car {car} waits at red", at(start));
                        waiting.fetch_add(1, Ordering::Relaxed);
                        green.wait().await;
                        waiting.fetch_sub(1, Ordering::Relaxed);
                        println!("{} car {car} passes on green", at(start));
                        waited.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();

        for car in cars {
            car.await.expect("car panicked");
        }
        light.await.expect("light panicked");
        (
            waited.load(Ordering::Relaxed),
            drove_on.load(Ordering::Relaxed),
        )
    });

    let elapsed = start.elapsed();
    println!(
        "done in {} ms: {CARS} cars, {waited} waited at red, {drove_on} arrived on green",
        elapsed.as_millis()
    );
    if waited + drove_on == CARS as usize && waited > 0 && drove_on > 0 {
        ExitCode::SUCCESS
    } else {
        println!("UNEXPECTED: every car should pass, some after waiting, some directly");
        ExitCode::FAILURE
    }
}
