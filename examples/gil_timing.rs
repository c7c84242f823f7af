//! *Course notes*: the timing table of the GIL chapter (效率测试: "Line cpu",
//! "Thread cpu", "Process cpu", and the same for IO), measured again in
//! Rust. `examples/gil_timing.py` is the same program in Python; run both
//! on one machine and compare.
//!
//! ```text
//! cargo run --release --example gil_timing
//! python3 examples/gil_timing.py
//! ```
//!
//! Three jobs, each run `--jobs` times (default 10) in four ways:
//!
//! * the jobs: **cpu** is a loop of `--count` steps of pure computation
//!   (below); **io** sleeps `--sleep-ms` (a job that only waits, as one
//!   waiting for a socket does); **file** writes `--file-lines` lines of
//!   `hello world` to a file of its own and reads them back (file IO
//!   through the page cache: copying memory in system calls, so mostly CPU
//!   work, not waiting);
//! * the ways: **line**, one job after another on the main thread (the
//!   notes' "Line"); **threads**, one OS thread per job
//!   (`std::thread::spawn`, Python's `threading.Thread`); **processes**,
//!   one child process per job (`spindle::process::Process`, Python's
//!   `multiprocessing.Process`); **tasks**, one spindle task per job on
//!   one thread (Python's `asyncio` coroutines), for cpu and io.
//!
//! Each cell is the wall-clock time from starting the first job to the end
//! of the last; one untimed line of cpu jobs runs first, as a warm-up. The
//! measured tables of both programs are in docs/guide.md, part "The GIL".
//! Rust has no GIL, so threads run the cpu job in parallel, as
//! processes do: on 2 CPUs both take about half of "line". Python's
//! threads take as long as "line" on cpu, because only the thread holding
//! the GIL runs Python code. On io every way but "line" overlaps the waits,
//! in both languages: a thread (or a task) waiting in the kernel holds no
//! CPU and, in Python, no GIL.
//!
//! The cpu job is the notes' counting loop, `while c < n: x += 1; y += 1;
//! c += 1`, with one change: a loop that only counts is no work for Rust
//! (the compiler computes its result and deletes the loop), so each step
//! also advances a pseudo-random number, `x = x * A + C` (a multiply and an
//! add that the next step needs), in both programs. By default Rust runs
//! 400M steps per job and Python 2M, about 0.45 s each on the machine
//! the guide was measured on; compare the ways with each other, not the
//! two languages' seconds.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::process::Process;

/// The GIL chapter's timing table: a CPU-bound, an IO-bound and a file job,
/// each run N times one after another, by N threads, by N processes and by
/// N tasks.
#[derive(Parser, Debug)]
#[command(name = "gil_timing")]
struct Args {
    /// How many jobs each way runs (the notes' table: 10).
    #[arg(long, value_name = "N", default_value_t = 10)]
    jobs: u64,
    /// Steps of one cpu job's loop.
    #[arg(long, value_name = "N", default_value_t = 400_000_000)]
    count: u64,
    /// How long one io job sleeps, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    sleep_ms: u64,
    /// Lines one file job writes and reads back (12 bytes each).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    file_lines: u64,
    /// How many times to measure the whole table.
    #[arg(long, value_name = "N", default_value_t = 1)]
    runs: usize,
}

/// The cpu job: `n` steps of a loop that counts and advances a
/// pseudo-random number (a 64-bit linear congruential generator), all in
/// registers; the result depends on every step, so none can be skipped.
fn cpu_job(n: u64) -> u64 {
    let (mut x, mut y, mut c) = (1u64, 1u64, 0u64);
    while c < n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        y = y.wrapping_add(x >> 33);
        c += 1;
    }
    x ^ y
}

/// The io job: wait, holding no CPU.
fn io_job(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// The file job: write `lines` lines to a file named after `index` and
/// this process, read them back, delete the file; returns the lines read.
fn file_job((index, lines): (u64, u64)) -> u64 {
    let run = || -> io::Result<u64> {
        let path = scratch_file(index);
        let mut out = BufWriter::new(File::create(&path)?);
        for _ in 0..lines {
            out.write_all(b"hello world\n")?;
        }
        out.flush()?;
        drop(out);
        let read = BufReader::new(File::open(&path)?).lines().count() as u64;
        std::fs::remove_file(&path)?;
        Ok(read)
    };
    run().expect("file job")
}

/// A file for job `index` of this process in the temporary directory.
fn scratch_file(index: u64) -> PathBuf {
    std::env::temp_dir().join(format!("gil_timing-{}-{index}.txt", std::process::id()))
}

/// Which of the three jobs a column runs.
#[derive(Clone, Copy)]
enum Job {
    Cpu,
    Io,
    File,
}

impl Job {
    /// Runs job number `index` on this thread.
    fn run(self, args: &Args, index: u64) {
        match self {
            Job::Cpu => drop(black_box(cpu_job(args.count))),
            Job::Io => io_job(args.sleep_ms),
            Job::File => assert_eq!(file_job((index, args.file_lines)), args.file_lines),
        }
    }
}

/// Runs `job` `--jobs` times, one after another.
fn line(args: &Args, job: Job) -> Duration {
    let start = Instant::now();
    for i in 0..args.jobs {
        job.run(args, i);
    }
    start.elapsed()
}

/// Runs `job` on `--jobs` threads at once.
fn threads(args: &Args, job: Job) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..args.jobs)
            .map(|i| scope.spawn(move || job.run(args, i)))
            .collect();
        for h in handles {
            h.join().expect("a job panicked");
        }
    });
    start.elapsed()
}

/// Runs `job` in `--jobs` child processes at once (`Process::new(f,
/// arg).start()`, then `join` each).
fn processes(args: &Args, job: Job) -> io::Result<Duration> {
    spindle::block_on(async {
        let start = Instant::now();
        match job {
            Job::Cpu => {
                let mut children = Vec::new();
                for _ in 0..args.jobs {
                    children.push(Process::new(cpu_job, args.count).start()?);
                }
                for mut p in children {
                    black_box(p.join().await?);
                }
            }
            Job::Io => {
                let mut children = Vec::new();
                for _ in 0..args.jobs {
                    children.push(Process::new(io_job, args.sleep_ms).start()?);
                }
                for mut p in children {
                    p.join().await?;
                }
            }
            Job::File => {
                let mut children = Vec::new();
                for i in 0..args.jobs {
                    children.push(Process::new(file_job, (i, args.file_lines)).start()?);
                }
                for mut p in children {
                    assert_eq!(p.join().await?, args.file_lines);
                }
            }
        }
        Ok(start.elapsed())
    })
}

/// Runs `job` as `--jobs` tasks on one current-thread runtime: the cpu job
/// as it is (a task runs until it returns, so they go one after another),
/// the io job as `time::sleep(..).await` (the waits overlap).
fn tasks(args: &Args, job: Job) -> Option<Duration> {
    if let Job::File = job {
        return None;
    }
    let start = Instant::now();
    spindle::block_on(async {
        let handles: Vec<_> = (0..args.jobs)
            .map(|_| {
                let (count, ms) = (args.count, args.sleep_ms);
                spindle::spawn(async move {
                    match job {
                        Job::Cpu => drop(black_box(cpu_job(count))),
                        Job::Io => spindle::time::sleep(Duration::from_millis(ms)).await,
                        Job::File => unreachable!("returned above"),
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("a task panicked");
        }
    });
    Some(start.elapsed())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.2}", d.as_secs_f64()))
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "gil_timing (Rust): {} jobs; cpu: {} steps; io: sleep {} ms; file: {} lines; {cpus} CPUs",
        args.jobs, args.count, args.sleep_ms, args.file_lines
    );
    // Warm up with one untimed line of cpu jobs, as the Python twin does
    // (there, the way measured first in a fresh interpreter ran slower).
    println!("warm-up: {} cpu jobs, untimed", args.jobs);
    line(&args, Job::Cpu);
    for run in 1..=args.runs {
        println!("run {run}, load average {}", load_average());
        println!("{:<10} {:>8} {:>8} {:>8}", "way", "cpu s", "io s", "file s");
        let jobs = [Job::Cpu, Job::Io, Job::File];
        let row = |name: &str, times: Vec<Option<Duration>>| {
            let cells: Vec<String> = times.into_iter().map(seconds).collect();
            println!("{name:<10} {:>8} {:>8} {:>8}", cells[0], cells[1], cells[2]);
        };
        row("line", jobs.iter().map(|&j| Some(line(&args, j))).collect());
        row(
            "threads",
            jobs.iter().map(|&j| Some(threads(&args, j))).collect(),
        );
        let mut by_process = Vec::new();
        for &j in &jobs {
            by_process.push(Some(processes(&args, j)?));
        }
        row("processes", by_process);
        row("tasks", jobs.iter().map(|&j| tasks(&args, j)).collect());
    }
    println!("load average at the end {}", load_average());
    Ok(())
}
