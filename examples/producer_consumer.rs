//! Producer-consumer (生产者消费者) on a bounded `spindle::channel::Queue`,
//! the course notes' `multiprocessing.Queue` / `JoinableQueue` program,
//! without the "one sentinel per consumer" trick.
//!
//! ```text
//! cargo run --release --example producer_consumer
//! cargo run --release --example producer_consumer -- --producers 4 --consumers 4 --items 1000000 --capacity 64
//! cargo run --release --example producer_consumer -- --threads   # the same work on OS threads
//! ```
//!
//! Shutdown, as the notes' `JoinableQueue` does it:
//!
//! 1. the producers put their items and finish; `main` awaits them;
//! 2. `queue.join().await` waits until every item was taken *and* marked
//!    done with `task_done()`;
//! 3. `queue.close()`: every consumer's next `get()` fails with
//!    `QueueClosed`, so they leave their loop. No sentinel values.
//!
//! Each side counts how often it had to wait: a producer tries
//! `put_nowait` first and only on "full" falls back to `put().await`; a
//! consumer tries `get_nowait` and falls back to `get().await` on "empty".
//!
//! With `--threads` the same pipeline runs on OS threads over
//! `std::sync::mpsc::sync_channel(capacity)`; the consumers share the one
//! receiver through an `Arc<Mutex<Receiver>>`, and the end is signalled by
//! the producers dropping their senders.
//!
//! Both modes check that the checksum of the consumed items equals the
//! checksum of the produced ones.

use std::process::ExitCode;
use std::sync::mpsc::{sync_channel, Receiver, RecvError, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::channel::{GetError, PutError, Queue};

/// Producers and consumers over a bounded `spindle::channel::Queue` (or,
/// with --threads, OS threads over `std::sync::mpsc::sync_channel`).
/// Numbers may use `_` separators: `--items 1_000_000`.
#[derive(Parser, Debug)]
#[command(name = "producer_consumer")]
struct Args {
    /// Producer tasks (or threads).
    #[arg(long, value_name = "P", default_value = "4", value_parser = at_least_one)]
    producers: usize,
    /// Consumer tasks (or threads).
    #[arg(long, value_name = "C", default_value = "4", value_parser = at_least_one)]
    consumers: usize,
    /// Items produced in all.
    #[arg(long, value_name = "N", default_value = "1_000_000", value_parser = count)]
    items: u64,
    /// The queue's capacity.
    #[arg(long, value_name = "K", default_value = "64", value_parser = at_least_one)]
    capacity: usize,
    /// Run the same work on OS threads instead of spindle tasks.
    #[arg(long)]
    threads: bool,
}

/// A count, with optional `_` separators.
fn count(value: &str) -> Result<u64, String> {
    value
        .replace('_', "")
        .parse::<u64>()
        .map_err(|e| format!("{value:?}: {e}"))
}

/// A count of at least 1.
fn at_least_one(value: &str) -> Result<usize, String> {
    match count(value)? {
        0 => Err("must be at least 1".to_string()),
        n => usize::try_from(n).map_err(|e| e.to_string()),
    }
}

/// The items producer `p` of `producers` makes: `p, p + producers, ...`
/// below `items`, so together they make `0..items` once each.
fn share(p: usize, producers: usize, items: u64) -> impl Iterator<Item = u64> {
    (p as u64..items).step_by(producers)
}

/// An order-independent checksum of the items seen: their count, their
/// wrapping sum and the wrapping sum of a mix of each (so that losing one
/// item and duplicating another cannot cancel out).
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Checksum {
    count: u64,
    sum: u64,
    mixed: u64,
}

impl Checksum {
    fn add(&mut self, item: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(item);
        self.mixed = self.mixed.wrapping_add(mix(item));
    }

    fn merge(&mut self, other: Checksum) {
        self.count += other.count;
        self.sum = self.sum.wrapping_add(other.sum);
        self.mixed = self.mixed.wrapping_add(other.mixed);
    }
}

/// splitmix64's finaliser: a cheap bijective scramble of an item.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What one side (all producers, or all consumers) did.
#[derive(Default)]
struct Side {
    checksum: Checksum,
    /// Operations that could not complete at once and had to wait.
    waits: u64,
    /// Items handled by each producer or consumer.
    per_worker: Vec<u64>,
}

impl Side {
    fn add(&mut self, worker: Checksum, waits: u64) {
        self.checksum.merge(worker);
        self.waits += waits;
        self.per_worker.push(worker.count);
    }
}

struct Report {
    produced: Side,
    consumed: Side,
    elapsed: Duration,
}

fn run_spindle(args: &Args) -> Report {
    let Args {
        producers,
        consumers,
        items,
        capacity,
        ..
    } = *args;
    spindle::block_on(async move {
        let queue: Queue<u64> = Queue::new(capacity);
        let start = Instant::now();

        let consumer_tasks: Vec<_> = (0..consumers)
            .map(|_| {
                let queue = queue.clone();
                spindle::spawn(async move {
                    let mut seen = Checksum::default();
                    let mut waits = 0;
                    loop {
                        let item = match queue.get_nowait() {
                            Ok(item) => item,
                            Err(GetError::Closed) => break,
                            Err(GetError::Empty) => {
                                waits += 1;
                                match queue.get().await {
                                    Ok(item) => item,
                                    // Closed and drained: the work is over.
                                    Err(_closed) => break,
                                }
                            }
                        };
                        seen.add(item);
                        queue.task_done();
                    }
                    (seen, waits)
                })
            })
            .collect();

        let producer_tasks: Vec<_> = (0..producers)
            .map(|p| {
                let queue = queue.clone();
                spindle::spawn(async move {
                    let mut made = Checksum::default();
                    let mut waits = 0;
                    for item in share(p, producers, items) {
                        made.add(item);
                        match queue.put_nowait(item) {
                            Ok(()) => {}
                            Err(PutError::Full(item)) => {
                                waits += 1;
                                queue.put(item).await.expect("queue closed early");
                            }
                            Err(PutError::Closed(_)) => panic!("queue closed early"),
                        }
                    }
                    (made, waits)
                })
            })
            .collect();

        // 1. The producers finish.
        let mut produced = Side::default();
        for task in producer_tasks {
            let (made, waits) = task.await.expect("producer panicked");
            produced.add(made, waits);
        }
        // 2. Every item was taken and marked done.
        queue.join().await;
        // 3. The consumers' next `get` fails: they return.
        queue.close();
        let mut consumed = Side::default();
        for task in consumer_tasks {
            let (seen, waits) = task.await.expect("consumer panicked");
            consumed.add(seen, waits);
        }
        Report {
            produced,
            consumed,
            elapsed: start.elapsed(),
        }
    })
}

fn run_threads(args: &Args) -> Report {
    let Args {
        producers,
        consumers,
        items,
        capacity,
        ..
    } = *args;
    let start = Instant::now();
    let (tx, rx) = sync_channel::<u64>(capacity);
    let rx: Arc<Mutex<Receiver<u64>>> = Arc::new(Mutex::new(rx));

    let consumer_threads: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            thread::spawn(move || {
                let mut seen = Checksum::default();
                let mut waits = 0;
                loop {
                    // Waiting for the lock (another consumer is receiving)
                    // is not counted; finding the channel empty is.
                    let received = {
                        let rx = rx.lock().unwrap();
                        match rx.try_recv() {
                            Ok(item) => Ok(item),
                            Err(TryRecvError::Disconnected) => Err(RecvError),
                            Err(TryRecvError::Empty) => {
                                waits += 1;
                                rx.recv()
                            }
                        }
                    };
                    match received {
                        Ok(item) => seen.add(item),
                        // Every sender dropped and the buffer drained.
                        Err(RecvError) => break,
                    }
                }
                (seen, waits)
            })
        })
        .collect();

    let producer_threads: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut made = Checksum::default();
                let mut waits = 0;
                for item in share(p, producers, items) {
                    made.add(item);
                    match tx.try_send(item) {
                        Ok(()) => {}
                        Err(TrySendError::Full(item)) => {
                            waits += 1;
                            tx.send(item).expect("receiver gone early");
                        }
                        Err(TrySendError::Disconnected(_)) => panic!("receiver gone early"),
                    }
                }
                (made, waits)
            })
        })
        .collect();
    // Only the producers' clones remain: when they finish, the channel ends.
    drop(tx);

    let mut produced = Side::default();
    for t in producer_threads {
        let (made, waits) = t.join().expect("producer panicked");
        produced.add(made, waits);
    }
    let mut consumed = Side::default();
    for t in consumer_threads {
        let (seen, waits) = t.join().expect("consumer panicked");
        consumed.add(seen, waits);
    }
    Report {
        produced,
        consumed,
        elapsed: start.elapsed(),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mode = if args.threads {
        "OS threads, std::sync::mpsc::sync_channel + Arc<Mutex<Receiver>>"
    } else {
        "spindle tasks on one thread, spindle::channel::Queue"
    };
    println!(
        "producer-consumer: {} producers, {} consumers, {} items, capacity {}",
        args.producers, args.consumers, args.items, args.capacity
    );
    println!("mode: {mode}");

    let report = if args.threads {
        run_threads(&args)
    } else {
        run_spindle(&args)
    };

    let secs = report.elapsed.as_secs_f64();
    let items_per_sec = args.items as f64 / secs;
    let produced = &report.produced;
    let consumed = &report.consumed;
    println!(
        "time: {:.3} s, {:.0} items/s ({:.1} ns per item)",
        secs,
        items_per_sec,
        1e9 * secs / args.items.max(1) as f64
    );
    println!(
        "producers waited (queue full):  {:>9} of {} puts ({:.2}%)",
        produced.waits,
        produced.checksum.count,
        percent(produced.waits, produced.checksum.count)
    );
    // Every consumer makes one more get than it takes items: the last one,
    // which waits until it sees the close (or the senders' end).
    let gets = consumed.checksum.count + args.consumers as u64;
    println!(
        "consumers waited (queue empty): {:>9} of {} gets ({:.2}%; items + {} final gets that see the end)",
        consumed.waits,
        gets,
        percent(consumed.waits, gets),
        args.consumers
    );
    println!("items per producer: {:?}", produced.per_worker);
    println!("items per consumer: {:?}", consumed.per_worker);

    if produced.checksum == consumed.checksum && consumed.checksum.count == args.items {
        println!(
            "checksum OK: {} items, sum {}, every item produced was consumed exactly once",
            consumed.checksum.count, consumed.checksum.sum
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "checksum MISMATCH: produced {:?}, consumed {:?}",
            produced.checksum, consumed.checksum
        );
        ExitCode::FAILURE
    }
}
