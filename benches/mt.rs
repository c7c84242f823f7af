//! The multi-threaded runtime beside tokio's: spawning, using both CPUs,
//! and waking across workers. Each run is a fresh child process.
//!
//! ```text
//! cargo bench -p spindle-benches --bench mt                          # parent: every case, 5 rounds
//! cargo bench -p spindle-benches --bench mt -- --runs 3 --quiet-wait 5
//! cargo bench -p spindle-benches --bench mt -- --case pingpong       # one case only
//! cargo bench -p spindle-benches --bench mt -- --child --case cpu --rt spindle-mt --workers 1  # one child
//! ```
//!
//! Runtimes: `spindle-mt` (`Runtime::builder().multi_thread()
//! .worker_threads(n)`) and `tokio-mt` (`Builder::new_multi_thread()
//! .worker_threads(n)`), `n` = `--workers` (default 2) unless the case says
//! otherwise. Cases, each the same code on both runtimes:
//! * `spawn`: inside a task (not on the `block_on` thread), spawn
//!   `--tasks` (1,000,000) tasks that return their index, then await every
//!   `JoinHandle`. The time is of those two loops. Target: spindle at most
//!   0.6 of tokio's time.
//! * `cpu`: inside a task, spawn two tasks that each run a fixed amount of
//!   arithmetic (`--work` steps of a multiply-xorshift chain, `black_box`ed,
//!   about 0.5 s each here), await both; on 2 workers and on 1. The figure is
//!   the speed-up, time on 1 worker over time on 2. Target: spindle >= 1.85.
//! * `pingpong`: the `block_on` thread spawns two tasks (a spawn from outside
//!   the workers goes to them in turn, so the two start with different home
//!   workers), which bounce a number back and forth `--trips` times through
//!   two bounded mpsc channels of capacity 1. The figure is the time per
//!   round trip. Target: spindle no slower than tokio. The spindle child also
//!   prints each worker's polls, steals and parks during the case (its
//!   `Handle::metrics`), to show where the two tasks ran.
//!
//! Before each child the parent waits (up to `--quiet-wait` seconds) until
//! other processes use < 15% of a CPU; a run during which they used more
//! than `--max-other` of a CPU is repeated (up to `--attempts` in all),
//! keeping the least disturbed. The runtimes take turns going first from one
//! round to the next. A child prints `RESULT ms=..` and, for spindle,
//! `WORKERS ..`.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;

mod measure;
use measure::spawn_case;
use measure::{least_disturbed, median, CargoBenchArgs, OthersDuring, Quiet};

const CASES: [&str; 3] = ["spawn", "cpu", "pingpong"];
const RTS: [&str; 2] = ["spindle-mt", "tokio-mt"];

/// spindle's multi-threaded runtime against tokio's: 1M spawns from a task,
/// two CPU-bound tasks on 2 workers vs 1, a ping-pong across workers.
#[derive(Parser, Debug)]
#[command(name = "mt", bin_name = "cargo bench -p spindle-benches --bench mt --")]
struct Args {
    /// Only this case.
    #[arg(long, value_name = "CASE", value_parser = CASES)]
    case: Option<String>,
    /// The runtime of a `--child` run.
    #[arg(long, value_name = "RUNTIME", value_parser = RTS)]
    rt: Option<String>,
    /// Worker threads (the `cpu` case also runs on 1).
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    /// Rounds: runs per case, runtime and worker count.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Tasks spawned and joined in the `spawn` case.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    tasks: u64,
    /// Arithmetic steps per task in the `cpu` case.
    #[arg(long, value_name = "N", default_value_t = 200_000_000)]
    work: u64,
    /// Round trips in the `pingpong` case.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    trips: u64,
    /// Be one child run (needs --case and --rt).
    #[arg(long, requires_all = ["case", "rt"])]
    child: bool,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    cargo_bench: CargoBenchArgs,
}

// ------------------------------------------------------------ the cases --

/// The `cpu` case's work: a chain of multiply, add and xorshift steps, each
/// depending on the last, so it can be neither vectorised nor folded away.
fn crunch(seed: u64, steps: u64) -> u64 {
    let mut x = black_box(seed);
    for i in 0..black_box(steps) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        x ^= x >> 29;
    }
    black_box(x)
}

/// The `cpu` case: two tasks of `work` steps each, spawned with `$spawn`,
/// both awaited.
macro_rules! cpu_case {
    ($work:expr, $spawn:path) => {{
        let work = $work;
        let start = Instant::now();
        let a = $spawn(async move { crunch(1, work) });
        let b = $spawn(async move { crunch(2, work) });
        black_box(a.await.expect("task failed") ^ b.await.expect("task failed"));
        start.elapsed()
    }};
}

/// The `pingpong` case, run on the `block_on` thread: two tasks spawned with
/// `$spawn` bounce a counter through two capacity-1 channels of `$mpsc`.
macro_rules! pingpong_case {
    ($trips:expr, $spawn:path, $mpsc:path) => {{
        use $mpsc as mpsc;
        let trips = $trips;
        let start = Instant::now();
        let (to_b, mut from_a) = mpsc::channel::<u64>(1);
        let (to_a, mut from_b) = mpsc::channel::<u64>(1);
        let ping = $spawn(async move {
            for i in 0..trips {
                to_b.send(i).await.expect("pong gone");
                let back = from_b.recv().await.expect("pong gone");
                assert_eq!(back, i + 1);
            }
        });
        let pong = $spawn(async move {
            while let Some(i) = from_a.recv().await {
                if to_a.send(i + 1).await.is_err() {
                    break;
                }
            }
        });
        ping.await.expect("ping failed");
        pong.await.expect("pong failed");
        start.elapsed()
    }};
}

fn tokio_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Each worker's polls, steals and parks, as counted by spindle's metrics.
type WorkerCounts = Vec<(u64, u64, u64)>;

fn worker_counts(rt: &spindle::Runtime) -> WorkerCounts {
    let m = rt.handle().metrics();
    (0..m.num_workers())
        .map(|w| {
            (
                m.worker_poll_count(w),
                m.worker_steal_count(w),
                m.worker_park_count(w),
            )
        })
        .collect()
}

/// Runs one case; returns its time and, on spindle, what each worker did
/// during it.
fn run_case(case: &str, rt: &str, workers: usize, args: &Args) -> (Duration, Option<String>) {
    if rt == "tokio-mt" {
        let rt = tokio_rt(workers);
        let t = match case {
            "spawn" => rt.block_on(async {
                let tasks = args.tasks;
                tokio::spawn(async move {
                    spawn_case!(tasks, tokio::spawn, h => h.await.expect("task failed"))
                })
                .await
                .expect("spawner failed")
            }),
            "cpu" => rt.block_on(async {
                let work = args.work;
                tokio::spawn(async move { cpu_case!(work, tokio::spawn) })
                    .await
                    .expect("spawner failed")
            }),
            _ => rt.block_on(async { pingpong_case!(args.trips, tokio::spawn, tokio::sync::mpsc) }),
        };
        return (t, None);
    }
    let rt = measure::spindle_multi_thread(workers);
    let before = worker_counts(&rt);
    let t = match case {
        "spawn" => rt.block_on(async {
            let tasks = args.tasks;
            spindle::spawn(async move {
                spawn_case!(tasks, spindle::spawn, h => h.await.expect("task failed"))
            })
            .await
            .expect("spawner failed")
        }),
        "cpu" => rt.block_on(async {
            let work = args.work;
            spindle::spawn(async move { cpu_case!(work, spindle::spawn) })
                .await
                .expect("spawner failed")
        }),
        _ => rt
            .block_on(async { pingpong_case!(args.trips, spindle::spawn, spindle::channel::mpsc) }),
    };
    let after = worker_counts(&rt);
    let counts = before
        .iter()
        .zip(&after)
        .enumerate()
        .map(|(w, (b, a))| {
            format!(
                "w{w}:polls={},steals={},parks={}",
                a.0 - b.0,
                a.1 - b.1,
                a.2 - b.2
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    (t, Some(counts))
}

fn run_child(args: &Args) {
    let case = args.case.as_deref().expect("--case");
    let rt = args.rt.as_deref().expect("--rt");
    let (t, counts) = run_case(case, rt, args.workers, args);
    println!("RESULT ms={:.3}", t.as_secs_f64() * 1e3);
    if let Some(counts) = counts {
        println!("WORKERS {counts}");
    }
}

// ---------------------------------------------------------------- parent --

/// One variant of a case: a runtime on a number of workers.
#[derive(Clone, Copy)]
struct Variant {
    rt: &'static str,
    workers: usize,
}

impl Variant {
    fn label(&self) -> String {
        format!("{} x{}", self.rt, self.workers)
    }
}

/// One kept child run.
struct Sample {
    ms: f64,
    /// CPU other processes used while the child ran (share of one CPU).
    other: f64,
    /// spindle's per-worker counts, if any.
    workers: Option<String>,
}

fn spawn_child(case: &str, v: Variant, args: &Args) -> Sample {
    let exe = std::env::current_exe().expect("current_exe");
    let others = OthersDuring::start();
    let out = Command::new(exe)
        .args(["--child", "--case", case, "--rt", v.rt])
        .args(["--workers", &v.workers.to_string()])
        .args(["--tasks", &args.tasks.to_string()])
        .args(["--work", &args.work.to_string()])
        .args(["--trips", &args.trips.to_string()])
        .output()
        .expect("failed to run child");
    let other = others.share();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {case}/{} failed: {}\n{stdout}\n{}",
        v.label(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::to_string)
    };
    let ms = line("RESULT ms=")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child printed no RESULT: {stdout}"));
    Sample {
        ms,
        other,
        workers: line("WORKERS "),
    }
}

fn variants(case: &str, workers: usize) -> Vec<Variant> {
    let mut v: Vec<Variant> = RTS.iter().map(|&rt| Variant { rt, workers }).collect();
    if case == "cpu" {
        v.extend(RTS.iter().map(|&rt| Variant { rt, workers: 1 }));
    }
    v
}

fn parent(args: &Args) {
    let cases: Vec<&str> = match &args.case {
        Some(c) => vec![c.as_str()],
        None => CASES.to_vec(),
    };
    let runs = args.runs.max(1);
    println!(
        "mt: {} workers, {} rounds; spawn {} tasks, cpu {} steps per task, pingpong {} round trips",
        args.workers, runs, args.tasks, args.work, args.trips
    );
    let mut summary = Vec::new();
    for case in cases {
        let vs = variants(case, args.workers);
        let mut samples: Vec<Vec<Sample>> = vs.iter().map(|_| Vec::new()).collect();
        for run in 0..runs {
            for k in 0..vs.len() {
                let vi = (run + k) % vs.len();
                let v = vs[vi];
                let quiet = args.quiet;
                let report = |s: &Sample, attempt: usize| {
                    println!(
                        "  run {}/{runs} {case:<8} {:<14} {:>10.1} ms  other processes {:>3.0}% CPU{}{}",
                        run + 1,
                        v.label(),
                        s.ms,
                        s.other * 100.0,
                        s.workers.as_deref().map(|w| format!("  [{w}]")).unwrap_or_default(),
                        if s.other > quiet.max_other {
                            format!("  (disturbed, attempt {attempt})")
                        } else {
                            String::new()
                        }
                    );
                };
                let kept =
                    least_disturbed(quiet, || spawn_child(case, v, args), |s| s.other, report);
                samples[vi].push(kept);
            }
        }
        let med: Vec<f64> = samples
            .iter()
            .map(|s| median(s.iter().map(|s| s.ms).collect()))
            .collect();
        let other: Vec<f64> = samples
            .iter()
            .map(|s| s.iter().map(|s| s.other).fold(0.0, f64::max))
            .collect();
        summary.push((case, vs, med, other));
    }

    println!();
    println!("Medians over the rounds; 'other CPU' is the most CPU other processes used during a kept run.");
    println!("| case | runtime | median ms | per unit | other CPU (max) |");
    println!("|------|---------|-----------|----------|-----------------|");
    for (case, vs, med, other) in &summary {
        for (i, v) in vs.iter().enumerate() {
            let per = match *case {
                "spawn" => format!("{:.1} ns/task", med[i] * 1e6 / args.tasks as f64),
                "pingpong" => format!("{:.0} ns/round trip", med[i] * 1e6 / args.trips as f64),
                _ => "-".to_string(),
            };
            println!(
                "| {case} | {} | {:.1} | {per} | {:.0}% |",
                v.label(),
                med[i],
                other[i] * 100.0
            );
        }
    }
    println!();
    for (case, vs, med, _) in &summary {
        let at = |rt: &str, w: usize| {
            vs.iter()
                .position(|v| v.rt == rt && v.workers == w)
                .map(|i| med[i])
        };
        let w = args.workers;
        let (Some(s), Some(t)) = (at("spindle-mt", w), at("tokio-mt", w)) else {
            continue;
        };
        match *case {
            "spawn" => println!(
                "spawn: spindle-mt / tokio-mt time = {:.3} (target <= 0.6)",
                s / t
            ),
            "pingpong" => println!(
                "pingpong: spindle-mt / tokio-mt time per round trip = {:.3} (target <= 1.0)",
                s / t
            ),
            _ => {
                let s1 = at("spindle-mt", 1).unwrap_or(f64::NAN);
                let t1 = at("tokio-mt", 1).unwrap_or(f64::NAN);
                println!(
                    "cpu: speed-up from 1 to {w} workers: spindle-mt {:.3} (target >= 1.85), tokio-mt {:.3}",
                    s1 / s,
                    t1 / t
                );
            }
        }
    }
}

fn main() {
    let args = Args::parse();
    if args.child {
        run_child(&args);
    } else {
        parent(&args);
    }
}
