//! Scale targets: spindle's current-thread runtime beside tokio's, smol's,
//! monoio's and glommio's single-threaded executors, each case in a fresh
//! child process so that peak RSS is per runtime and per case.
//!
//! ```text
//! cargo bench -p spindle-benches --bench scale                  # parent: every case, both runtimes, 5 runs
//! cargo bench -p spindle-benches --bench scale -- --runs 3      # fewer runs
//! cargo bench -p spindle-benches --bench scale -- --case sleep  # one case only
//! cargo bench -p spindle-benches --bench scale -- --quiet-wait 0 # don't wait for a quiet machine
//! cargo bench -p spindle-benches --bench scale -- --rts spindle,monoio  # some runtimes only
//! cargo bench -p spindle-benches --bench scale -- --case spawn --rt spindle --child  # one child run
//! ```
//!
//! Runtimes (`--rts`, all by default): `spindle` (`spindle::spawn`, a `Send`
//! future), `spindle-local` (`spindle::spawn_local`), `tokio` (current-thread
//! runtime), `smol` (a `LocalExecutor` driven by `smol::block_on`),
//! `monoio` (its io_uring runtime with timers), `glommio` (a
//! `LocalExecutor`). monoio's and glommio's tasks are thread-local (`!Send`),
//! so `spindle-local` is the like-for-like figure beside them.
//!
//! Cases:
//! * `spawn`: inside `block_on`, spawn 1_000_000 tasks, then await every
//!   `JoinHandle`. The time is that of the spawn + join part only.
//! * `sleep`: inside `block_on`, spawn 1_000_000 tasks each sleeping a
//!   deterministic pseudo-random 1..=100 ms (LCG), then await every handle.
//!   The time is from the first spawn to the last join.
//!
//! Before each child the parent waits (up to `--quiet-wait` seconds, default
//! 30) until other processes use < 15% of a CPU, and after it prints how
//! much CPU other processes used while the child ran; a run during which
//! they used more than `--max-other` (default 0.10 of a CPU) is repeated, up
//! to `--attempts` (default 3) times in all, keeping the least disturbed.
//!
//! Each child prints one line `RESULT case=.. rt=.. ms=.. maxrss_kb=..`, where
//! `maxrss_kb` is `getrusage(RUSAGE_SELF).ru_maxrss` of the child at the end.
//!
//! spindle's tasks live in its task arena; `SPINDLE_TASK_ARENA=off` in the
//! parent's environment (children inherit it) measures them on the global
//! allocator instead, and `SPINDLE_TASK_ARENA=huge-pages` with the arena's
//! later segments on transparent huge pages.

use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;

mod measure;
use measure::spawn_case;
use measure::{least_disturbed, median, CargoBenchArgs, OthersDuring, Quiet};

const TASKS: u64 = 1_000_000;
const CASES: [&str; 2] = ["spawn", "sleep"];
const RTS: [&str; 6] = [
    "spindle",
    "spindle-local",
    "tokio",
    "smol",
    "monoio",
    "glommio",
];

/// A million tasks spawned, or a million sleeps, on spindle and on its
/// peers: each case in a child process of its own, timed with its peak memory.
#[derive(Parser, Debug)]
#[command(
    name = "scale",
    bin_name = "cargo bench -p spindle-benches --bench scale --"
)]
struct Args {
    /// Only this case.
    #[arg(long, value_name = "CASE", value_parser = CASES)]
    case: Option<String>,
    /// The runtime of a `--child` run.
    #[arg(long, value_name = "RUNTIME", value_parser = RTS)]
    rt: Option<String>,
    /// The runtimes to measure, comma-separated (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = RTS)]
    rts: Vec<String>,
    /// Runs per case and runtime.
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Tasks (or sleeps) per run.
    #[arg(long, value_name = "N", default_value_t = TASKS)]
    tasks: u64,
    /// Be one child run (needs --case and --rt).
    #[arg(long, requires_all = ["case", "rt"])]
    child: bool,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    cargo_bench: CargoBenchArgs,
}

fn parse_args() -> Args {
    Args::parse()
}

/// Deterministic pseudo-random sleep durations in 1..=100 ms (64-bit LCG,
/// Knuth's MMIX constants), the same sequence for both runtimes.
struct Lcg(u64);

impl Lcg {
    fn next_ms(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        1 + (self.0 >> 33) % 100
    }
}

fn max_rss_kb() -> i64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss as i64
    }
}

/// The `sleep` case, the same code for every runtime: spawn `tasks` tasks
/// with `$spawn`, each awaiting `$sleep(duration)` for a pseudo-random 1..=100
/// ms, then await every handle (`$h` => `$join`).
macro_rules! sleep_case {
    ($tasks:expr, $spawn:expr, $sleep:path, $h:ident => $join:expr) => {{
        let tasks: u64 = $tasks;
        let mut lcg = Lcg(0x5eed);
        let start = Instant::now();
        let mut handles = Vec::with_capacity(tasks as usize);
        for _ in 0..tasks {
            let ms = lcg.next_ms();
            handles.push($spawn(async move {
                $sleep(Duration::from_millis(ms)).await;
            }));
        }
        for $h in handles {
            $join;
        }
        start.elapsed()
    }};
}

fn tokio_current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn monoio_runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .build()
        .expect("monoio runtime (io_uring)")
}

fn glommio_executor() -> glommio::LocalExecutor {
    glommio::LocalExecutorBuilder::default()
        .make()
        .expect("glommio executor")
}

fn run_case(case: &str, rt: &str, tasks: u64) -> Option<Duration> {
    Some(match (case, rt) {
        ("spawn", "spindle") => spindle::Runtime::new()
            .expect("spindle runtime")
            .block_on(async { spawn_case!(tasks, spindle::spawn, h => h.await.expect("task failed")) }),
        ("spawn", "spindle-local") => spindle::Runtime::new()
            .expect("spindle runtime")
            .block_on(async { spawn_case!(tasks, spindle::spawn_local, h => h.await.expect("task failed")) }),
        ("spawn", "tokio") => tokio_current_thread()
            .block_on(async { spawn_case!(tasks, tokio::spawn, h => h.await.expect("task failed")) }),
        ("spawn", "smol") => {
            let ex = smol::LocalExecutor::new();
            smol::block_on(ex.run(async { spawn_case!(tasks, |f| ex.spawn(f), h => h.await) }))
        }
        ("spawn", "monoio") => {
            monoio_runtime().block_on(async { spawn_case!(tasks, monoio::spawn, h => h.await) })
        }
        ("spawn", "glommio") => glommio_executor()
            .run(async { spawn_case!(tasks, glommio::spawn_local, h => h.await) }),
        ("sleep", "spindle") => spindle::Runtime::new().expect("spindle runtime").block_on(async {
            sleep_case!(tasks, spindle::spawn, spindle::time::sleep, h => h.await.expect("task failed"))
        }),
        ("sleep", "spindle-local") => spindle::Runtime::new().expect("spindle runtime").block_on(async {
            sleep_case!(tasks, spindle::spawn_local, spindle::time::sleep, h => h.await.expect("task failed"))
        }),
        ("sleep", "tokio") => tokio_current_thread().block_on(async {
            sleep_case!(tasks, tokio::spawn, tokio::time::sleep, h => h.await.expect("task failed"))
        }),
        ("sleep", "smol") => {
            let ex = smol::LocalExecutor::new();
            smol::block_on(ex.run(async {
                sleep_case!(tasks, |f| ex.spawn(f), smol::Timer::after, h => h.await)
            }))
        }
        ("sleep", "monoio") => monoio_runtime().block_on(async {
            sleep_case!(tasks, monoio::spawn, monoio::time::sleep, h => h.await)
        }),
        ("sleep", "glommio") => glommio_executor().run(async {
            sleep_case!(tasks, glommio::spawn_local, glommio::timer::sleep, h => h.await)
        }),
        _ => return None,
    })
}

fn run_child(case: &str, rt: &str, tasks: u64) {
    let Some(elapsed) = run_case(case, rt, tasks) else {
        eprintln!("unknown case/runtime: {case} {rt}");
        std::process::exit(2);
    };
    println!(
        "RESULT case={case} rt={rt} ms={:.3} maxrss_kb={}",
        elapsed.as_secs_f64() * 1e3,
        max_rss_kb()
    );
}

/// One fresh child process; returns (milliseconds, peak RSS in KiB, the CPU
/// other processes on the machine used while the child ran, as a share of
/// one CPU).
fn spawn_child(case: &str, rt: &str, tasks: u64) -> (f64, i64, f64) {
    let exe = std::env::current_exe().expect("current_exe");
    let others = OthersDuring::start();
    let out = Command::new(exe)
        .args(["--child", "--case", case, "--rt", rt])
        .args(["--tasks", &tasks.to_string()])
        .output()
        .expect("failed to run child");
    let foreign = others.share();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        eprintln!(
            "child {case}/{rt} failed: {}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("child {case}/{rt} printed no RESULT line: {stdout}"));
    let field = |name: &str| -> &str {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    let ms: f64 = field("ms=").parse().expect("ms");
    let rss: i64 = field("maxrss_kb=").parse().expect("maxrss_kb");
    (ms, rss, foreign)
}

fn main() {
    let args = parse_args();
    if args.child {
        let case = args.case.as_deref().expect("--case needed");
        let rt = args.rt.as_deref().expect("--rt needed");
        run_child(case, rt, args.tasks);
        return;
    }

    let cases: Vec<&str> = match &args.case {
        Some(c) => vec![c.as_str()],
        None => CASES.to_vec(),
    };
    let rts: Vec<&str> = if args.rts.is_empty() {
        RTS.to_vec()
    } else {
        args.rts.iter().map(String::as_str).collect()
    };
    let runs = args.runs.max(1);
    println!(
        "scale: {} tasks, {} runs per case and runtime, each run a fresh process",
        args.tasks, runs
    );
    // samples[case][rt] = Vec<(ms, rss_kb)>
    let mut samples = vec![vec![Vec::new(); rts.len()]; cases.len()];
    let mut max_other = vec![vec![0.0f64; rts.len()]; cases.len()];
    for run in 0..runs {
        for (ci, case) in cases.iter().enumerate() {
            // Rotate which runtime goes first from one run to the next.
            for k in 0..rts.len() {
                let ri = (run + k) % rts.len();
                let quiet = args.quiet;
                let report = |&(ms, rss, other): &(f64, i64, f64), attempt: usize| {
                    println!(
                        "  run {}/{} {:<5} {:<13} {:>10.1} ms {:>10} KiB maxrss  other processes {:>3.0}% CPU{}",
                        run + 1,
                        runs,
                        case,
                        rts[ri],
                        ms,
                        rss,
                        other * 100.0,
                        if other > quiet.max_other {
                            format!("  (disturbed, attempt {attempt})")
                        } else {
                            String::new()
                        }
                    );
                };
                let run_once = || spawn_child(case, rts[ri], args.tasks);
                let kept = least_disturbed(quiet, run_once, |r| r.2, report);
                let (ms, rss, other) = kept;
                max_other[ci][ri] = f64::max(max_other[ci][ri], other);
                samples[ci][ri].push((ms, rss));
            }
        }
    }

    println!();
    println!(
        "'other CPU' is the most CPU other processes used during a kept run (share of one CPU)."
    );
    println!(
        "Ratios are spindle's figure (spawn) and spindle-local's (spawn_local) over the row's."
    );
    for (ci, case) in cases.iter().enumerate() {
        let med: Vec<(f64, f64)> = (0..rts.len())
            .map(|ri| {
                let t: Vec<f64> = samples[ci][ri].iter().map(|s| s.0).collect();
                let r: Vec<f64> = samples[ci][ri].iter().map(|s| s.1 as f64).collect();
                (median(t), median(r))
            })
            .collect();
        let of = |name: &str| rts.iter().position(|r| *r == name).map(|i| med[i]);
        let ratio = |mine: Option<(f64, f64)>, theirs: (f64, f64), rss: bool| match mine {
            Some(m) if rss => format!("{:.3}", m.1 / theirs.1),
            Some(m) => format!("{:.3}", m.0 / theirs.0),
            None => "-".to_string(),
        };
        println!();
        println!(
            "| {case:<5} | runtime       | median ms | ns/task | median maxrss (MiB) | time: spindle / spindle-local over this | maxrss: spindle / spindle-local over this | other CPU (max) |"
        );
        println!(
            "|-------|---------------|-----------|---------|---------------------|------------------------------------------|--------------------------------------------|-----------------|"
        );
        for (ri, rt) in rts.iter().enumerate() {
            println!(
                "| {:<5} | {:<13} | {:>9.1} | {:>7.1} | {:>19.1} | {:>17} / {:<20} | {:>19} / {:<22} | {:>14.0}% |",
                case,
                rt,
                med[ri].0,
                med[ri].0 * 1e6 / args.tasks as f64,
                med[ri].1 / 1024.0,
                ratio(of("spindle"), med[ri], false),
                ratio(of("spindle-local"), med[ri], false),
                ratio(of("spindle"), med[ri], true),
                ratio(of("spindle-local"), med[ri], true),
                max_other[ci][ri] * 100.0
            );
        }
    }
}
