//! The broadcast and watch targets of the sync/channel issue, timed
//! directly (no criterion): spindle vs tokio's current-thread runtime.
//!
//! ```text
//! cargo bench -p spindle-benches --bench broadcast_watch
//! ```
//!
//! * **broadcast**: one task sends 1,000,000 `u64` through a broadcast
//!   channel of capacity 1024 to 16 receiving tasks. After every 256
//!   sends the sender yields (through the same self-waking future on both
//!   runtimes) until every receiver has read everything (`is_empty`), so
//!   no value is lost to lag on either runtime (the program checks that
//!   all 16,000,000 arrive). Figure: time per value received.
//! * **watch**: 1,000,000 round trips between two tasks over two watch
//!   channels: A `send`s, B sees it through `changed().await` and `send`s
//!   back, A sees that through `changed().await` (both are spawned
//!   tasks). Figure: time per round trip.
//!
//! Each case runs 3 times per runtime, alternating, each on a fresh
//! runtime; the medians and their ratio are printed. The issue's targets:
//! both spindle/tokio <= 0.7.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clap::Parser;

const VALUES: u64 = 1_000_000;
const RECEIVERS: usize = 16;
const CAP: usize = 1024;
const BURST: u64 = 256;
const ROUND_TRIPS: u64 = 1_000_000;
const RUNS: usize = 3;

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

/// The broadcast case's body, the same on both runtimes: `$spawn` and the
/// `$bc` module are the runtime's. Returns (elapsed, values received).
macro_rules! broadcast_case {
    ($spawn:path, $bc:path) => {{
        use $bc as bc;
        let start = Instant::now();
        let (tx, rx) = bc::channel::<u64>(CAP);
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let mut rx = rx.resubscribe();
                $spawn(async move {
                    let mut received = 0u64;
                    loop {
                        match rx.recv().await {
                            Ok(_) => received += 1,
                            Err(bc::error::RecvError::Lagged(_)) => {}
                            Err(bc::error::RecvError::Closed) => break received,
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        $spawn(async move {
            for i in 0..VALUES {
                tx.send(i).unwrap();
                if i % BURST == BURST - 1 {
                    // Let every receiver catch up before the next burst,
                    // so nothing is lost to lag on either runtime.
                    while !tx.is_empty() {
                        SelfWakingYield(false).await;
                    }
                }
            }
        });
        let mut received = 0;
        for r in receivers {
            received += r.await.unwrap();
        }
        let elapsed = start.elapsed();
        assert_eq!(received, VALUES * RECEIVERS as u64, "no value lost to lag");
        (elapsed, received)
    }};
}

/// The watch case's body (see the module docs).
macro_rules! watch_case {
    ($spawn:path, $watch:path) => {{
        use $watch as w;
        let start = Instant::now();
        let (ping_tx, mut ping_rx) = w::channel(0u64);
        let (pong_tx, mut pong_rx) = w::channel(0u64);
        let echo = $spawn(async move {
            while ping_rx.changed().await.is_ok() {
                let v = *ping_rx.borrow_and_update();
                pong_tx.send(v).unwrap();
            }
        });
        // Both sides are spawned tasks (not the `block_on` future, which
        // tokio polls differently from its tasks).
        let ping = $spawn(async move {
            for i in 1..=ROUND_TRIPS {
                ping_tx.send(i).unwrap();
                pong_rx.changed().await.unwrap();
                assert_eq!(*pong_rx.borrow_and_update(), i);
            }
        });
        ping.await.unwrap();
        echo.await.unwrap();
        start.elapsed()
    }};
}

fn spindle_broadcast() -> (Duration, u64) {
    let rt = spindle::Runtime::new().expect("spindle runtime");
    rt.block_on(async { broadcast_case!(spindle::spawn, spindle::sync::broadcast) })
}

fn tokio_broadcast() -> (Duration, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async { broadcast_case!(tokio::spawn, tokio::sync::broadcast) })
}

fn spindle_watch() -> (Duration, u64) {
    let rt = spindle::Runtime::new().expect("spindle runtime");
    let d = rt.block_on(async { watch_case!(spindle::spawn, spindle::sync::watch) });
    (d, ROUND_TRIPS)
}

fn tokio_watch() -> (Duration, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let d = rt.block_on(async { watch_case!(tokio::spawn, tokio::sync::watch) });
    (d, ROUND_TRIPS)
}

/// Runs both sides `RUNS` times, alternating; prints ns per unit (time
/// over the count each run reports) and returns the ratio of the medians.
fn case(
    name: &str,
    unit: &str,
    spindle: fn() -> (Duration, u64),
    tokio: fn() -> (Duration, u64),
) -> f64 {
    let (mut s, mut t) = (Vec::new(), Vec::new());
    for run in 1..=RUNS {
        let (ds, ns) = spindle();
        let (dt, nt) = tokio();
        let (ps, pt) = (
            ds.as_nanos() as f64 / ns as f64,
            dt.as_nanos() as f64 / nt as f64,
        );
        println!(
            "{name} run {run}: spindle {:8.2} ms, {ns} {unit}s ({ps:6.2} ns/{unit})   \
             tokio {:8.2} ms, {nt} {unit}s ({pt:6.2} ns/{unit})",
            ds.as_secs_f64() * 1e3,
            dt.as_secs_f64() * 1e3,
        );
        s.push(ps);
        t.push(pt);
    }
    s.sort_by(f64::total_cmp);
    t.sort_by(f64::total_cmp);
    let (ms, mt) = (s[RUNS / 2], t[RUNS / 2]);
    let ratio = ms / mt;
    println!("{name} median: spindle {ms:.2} ns/{unit}, tokio {mt:.2} ns/{unit}, ratio spindle/tokio {ratio:.3}");
    ratio
}

/// A million values broadcast to 16 receivers, and a million watch round
/// trips, on spindle and on tokio, runs alternating.
#[derive(Parser, Debug)]
#[command(
    name = "broadcast_watch",
    bin_name = "cargo bench -p spindle-benches --bench broadcast_watch --"
)]
struct Args {
    /// Run the measurements (`cargo bench` passes it). Without it, as under
    /// `cargo test --benches`, the program only says it skipped them.
    #[arg(long)]
    bench: bool,
    /// Ignored: `cargo bench -- FILTER` passes its filter to every bench.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
}

fn main() {
    if !Args::parse().bench {
        println!("broadcast_watch: skipped (run with `cargo bench -p spindle-benches --bench broadcast_watch`)");
        return;
    }
    println!(
        "broadcast, {VALUES} values, 1 sender -> {RECEIVERS} receivers, capacity {CAP}, \
         sender yields every {BURST}; {RUNS} runs each, alternating"
    );
    let broadcast = case("broadcast_1m", "value", spindle_broadcast, tokio_broadcast);
    println!();
    println!("watch, {ROUND_TRIPS} send + changed round trips between two tasks; {RUNS} runs each, alternating");
    let watch = case("watch_1m", "round trip", spindle_watch, tokio_watch);
    println!();
    let verdict = |r: f64| if r <= 0.7 { "MET" } else { "NOT met" };
    println!(
        "target broadcast spindle/tokio <= 0.70: {broadcast:.3} -> {}",
        verdict(broadcast)
    );
    println!(
        "target watch     spindle/tokio <= 0.70: {watch:.3} -> {}",
        verdict(watch)
    );
}
