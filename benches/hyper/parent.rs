//! The parent mode of the hyper measuring program: starts the server and
//! load children (or wrk) pinned to their CPUs, samples their CPU time over
//! the measured window, runs the rounds with the cases alternating, and
//! prints every run, then the medians and the ratios.

use std::io::{BufReader, Read};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::measure::{
    field, has_taskset, least_disturbed, median, paired_ratio, pinned, read_line, unpinned,
    CpuSample, KillOnDrop, ServerChild,
};
use super::Args;

/// One measured run of one case.
struct Run {
    /// Requests completed per second.
    rps: f64,
    /// Server CPU (user + system) per request, in microseconds.
    server_us: f64,
    /// Load generator CPU per request, in microseconds.
    load_us: f64,
    /// The server's CPU use, as a share of one CPU.
    server_util: f64,
    /// Other processes' CPU use during the run, as a share of one CPU.
    foreign_util: f64,
    /// Anything odd the load reported (errors), or empty.
    note: String,
}

impl Run {
    /// A run that completed `count` requests in a window of `secs` that
    /// cost the CPU in `used`.
    fn new(count: f64, secs: f64, used: super::measure::CpuWindow, note: String) -> Run {
        Run {
            rps: count / secs,
            server_us: used.server / count * 1e6,
            load_us: used.load / count * 1e6,
            server_util: used.server / secs,
            foreign_util: used.foreign / secs,
            note,
        }
    }
}

/// Where the children run: CPU 0 for the server, CPU 1 for the load.
struct Placement {
    taskset: bool,
    two_cpus: bool,
}

impl Placement {
    /// `program` (wrk) pinned to CPU 1 through taskset, when it can be.
    fn pinned_program(&self, program: &str) -> Command {
        if self.taskset && self.two_cpus {
            let mut c = Command::new("taskset");
            c.args(["-c", "1", program]);
            c
        } else {
            Command::new(program)
        }
    }
}

/// How a wrk run places its processes.
#[derive(Clone, Copy)]
enum WrkMode {
    /// `wrk -t1` on CPU 1, the server on CPU 0.
    Pinned,
    /// `wrk -t2` and a multi-threaded server, both free to use both CPUs.
    Unpinned,
}

/// One wrk run against a fresh `kind` server. The window is wrk's whole
/// run (connecting included), so the CPU per request is the server's CPU
/// over that run divided by wrk's total requests.
fn wrk_run(kind: &str, conns: usize, args: &Args, place: &Placement, mode: WrkMode) -> Run {
    let (server, mut wrk, threads) = match mode {
        WrkMode::Pinned => (
            ServerChild::start(kind, place.taskset),
            place.pinned_program("wrk"),
            "-t1",
        ),
        WrkMode::Unpinned => (
            ServerChild::start_from(unpinned(), kind),
            Command::new("wrk"),
            "-t2",
        ),
    };
    wrk.args([threads, &format!("-c{conns}")])
        .arg(format!("-d{}s", args.secs.ceil().max(1.0)))
        .arg(format!("http://{}/", server.addr))
        .stdout(Stdio::piped());
    let mut child = KillOnDrop(wrk.spawn().expect("start wrk"));
    let wrk_pid = child.0.id();
    let start = CpuSample::take(server.pid, Some(wrk_pid));
    let t0 = Instant::now();
    let mut out = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .expect("read wrk's output");
    // wrk has exited (its stdout closed) but is not reaped yet: its
    // /proc/<pid>/stat still holds its CPU time.
    let used = CpuSample::take(server.pid, Some(wrk_pid)).window_since(&start);
    let secs = t0.elapsed().as_secs_f64();
    let status = child.0.wait().expect("wait wrk");
    assert!(status.success(), "wrk failed ({status}):\n{out}");
    let requests: f64 = out
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no 'N requests in' in wrk's output:\n{out}"));
    let wrk_rps: f64 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no 'Requests/sec:' in wrk's output:\n{out}"));
    // Socket errors, non-2xx responses: worth seeing next to the figures.
    let note = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("Socket errors") || l.starts_with("Non-2xx"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut run = Run::new(requests, secs, used, note);
    run.rps = wrk_rps;
    run
}

/// One run of a load child (`load_args`) against a fresh `server_kind`
/// server: the window is from the load's `START` to its `END`.
fn load_run(server_kind: &str, load_args: &[String], place: &Placement) -> Run {
    let server = ServerChild::start(server_kind, place.taskset);
    let mut load = pinned(1, place.taskset);
    load.args(["--addr", &server.addr])
        .args(load_args)
        .stdout(Stdio::piped());
    let mut child = KillOnDrop(load.spawn().expect("start load"));
    let load_pid = child.0.id();
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let line = read_line(&mut out, "load");
    assert_eq!(line, "START", "load said {line:?}");
    let start = CpuSample::take(server.pid, Some(load_pid));
    let line = read_line(&mut out, "load");
    let used = CpuSample::take(server.pid, Some(load_pid)).window_since(&start);
    let status = child.0.wait().expect("wait load");
    assert!(status.success(), "load failed: {status}");
    // The pool load counts failed requests; the keep-alive load fails whole.
    let errors = if line.contains("errors=") {
        field(&line, "errors=")
    } else {
        0.0
    };
    let note = if errors > 0.0 {
        format!("{errors} failed requests")
    } else {
        String::new()
    };
    Run::new(field(&line, "count="), field(&line, "secs="), used, note)
}

/// Runs `args.runs` rounds of every case (`run(i)` measures case `i`),
/// the order of the cases reversed every other round, each run the least
/// disturbed of its attempts. Prints every attempt; returns the kept runs
/// of each case.
fn rounds(
    args: &Args,
    title: &str,
    cases: &[&str],
    mut run: impl FnMut(usize) -> Run,
) -> Vec<Vec<Run>> {
    let quiet = args.quiet;
    let mut kept: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..args.runs {
        let mut order: Vec<usize> = (0..cases.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let report = |p: &Run, attempt: usize| {
                println!(
                    "  {title} {:<20} run {}/{} {:>8.0} req/s {:>6.2} us server CPU/req {:>6.2} us load CPU/req  server {:>3.0}% CPU  other {:>3.0}% CPU{}{}",
                    cases[i],
                    round + 1,
                    args.runs,
                    p.rps,
                    p.server_us,
                    p.load_us,
                    p.server_util * 100.0,
                    p.foreign_util * 100.0,
                    if p.foreign_util > quiet.max_other {
                        format!("  (disturbed, attempt {attempt})")
                    } else {
                        String::new()
                    },
                    if p.note.is_empty() {
                        String::new()
                    } else {
                        format!("  [{}]", p.note)
                    },
                );
            };
            kept[i].push(least_disturbed(
                quiet,
                || run(i),
                |p| p.foreign_util,
                report,
            ));
        }
    }
    kept
}

/// The medians of one case: req/s, server us/req, load us/req, server CPU,
/// most other-process CPU in a kept run.
fn medians(runs: &[Run]) -> [f64; 5] {
    let med = |f: fn(&Run) -> f64| median(runs.iter().map(f).collect());
    [
        med(|r| r.rps),
        med(|r| r.server_us),
        med(|r| r.load_us),
        med(|r| r.server_util),
        runs.iter().map(|r| r.foreign_util).fold(0.0, f64::max),
    ]
}

/// Prints the medians of each case as table rows, then for each `(a, b)`
/// two ratio rows: `a/b` of the medians, and the median of the rounds'
/// own `a/b` ratios ("paired"). The two cases of a round run minutes
/// apart at most, so a slow spell of the machine that spans both cancels
/// out of the paired figure, which moves less from pass to pass.
fn table(title: &str, cases: &[&str], kept: &[Vec<Run>], ratios: &[(usize, usize)]) {
    let m: Vec<[f64; 5]> = kept.iter().map(|k| medians(k)).collect();
    for (i, case) in cases.iter().enumerate() {
        println!(
            "| {title} | {case} | {:.0} | {:.2} | {:.2} | {:.0}% | {:.0}% |",
            m[i][0],
            m[i][1],
            m[i][2],
            m[i][3] * 100.0,
            m[i][4] * 100.0
        );
    }
    for &(a, b) in ratios {
        println!(
            "| {title} | {} / {} | {:.3} | {:.3} | {:.3} | | |",
            cases[a],
            cases[b],
            m[a][0] / m[b][0],
            m[a][1] / m[b][1],
            m[a][2] / m[b][2]
        );
        let paired = |f: fn(&Run) -> f64| paired_ratio(&kept[a], &kept[b], f);
        println!(
            "| {title} | {} / {}, paired | {:.3} | {:.3} | {:.3} | | |",
            cases[a],
            cases[b],
            paired(|r| r.rps),
            paired(|r| r.server_us),
            paired(|r| r.load_us)
        );
    }
}

/// The parent mode: the parts named by `--parts`, then the tables.
pub fn run(args: &Args) {
    let parts: Vec<&str> = args.parts.split(',').map(str::trim).collect();
    if let Some(bad) = parts
        .iter()
        .find(|p| !["wrk", "keepalive", "pool", "wrk-mt"].contains(p))
    {
        eprintln!("unknown part {bad:?}: the parts are wrk, keepalive, pool, wrk-mt");
        std::process::exit(2);
    }
    let wants = |part: &str| parts.contains(&part);
    if (wants("wrk") || wants("wrk-mt")) && Command::new("wrk").arg("-v").output().is_err() {
        eprintln!("wrk is not installed: install wrk: apt-get install -y wrk");
        eprintln!("(or leave it out: --parts keepalive,pool)");
        std::process::exit(1);
    }
    let place = Placement {
        taskset: has_taskset(),
        two_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2,
    };
    println!(
        "hyper: {} s per run, {} rounds, server on CPU 0, load on CPU 1 ({}; wrk-mt: nothing pinned)",
        args.secs,
        args.runs,
        match (place.two_cpus, place.taskset) {
            (false, _) => "unpinned: one CPU",
            (true, true) => "taskset",
            (true, false) => "sched_setaffinity; wrk unpinned",
        }
    );
    let mut tables: Vec<Box<dyn Fn()>> = Vec::new();
    let kinds = ["spindle", "tokio"];
    if wants("wrk") {
        // spindle with its readiness sockets, then with its io_uring ones
        // behind `uring::PollStream`, each against tokio.
        let servers = ["spindle", "tokio", "spindle-uring"];
        for conns in [50, 500] {
            let title = format!("wrk -t1 -c{conns}");
            let kept = rounds(args, &title, &servers, |i| {
                wrk_run(servers[i], conns, args, &place, WrkMode::Pinned)
            });
            tables.push(Box::new(move || {
                table(&title, &servers, &kept, &[(0, 1), (2, 1)])
            }));
        }
    }
    if wants("wrk-mt") {
        // Every core: the multi-threaded flavors, unpinned.
        let servers = ["spindle-mt", "tokio-mt"];
        for conns in [50, 500] {
            let title = format!("wrk -t2 -c{conns}, multi-threaded, unpinned");
            let kept = rounds(args, &title, &servers, |i| {
                wrk_run(servers[i], conns, args, &place, WrkMode::Unpinned)
            });
            tables.push(Box::new(move || table(&title, &servers, &kept, &[(0, 1)])));
        }
    }
    if wants("keepalive") {
        let cases = [
            "spindle fresh",
            "spindle after-POST",
            "tokio fresh",
            "tokio after-POST",
        ];
        let title = format!("keep-alive GETs, {} conns", args.conns);
        let kept = rounds(args, &title, &cases, |i| {
            let mut load = vec![
                "--keepalive-load".to_string(),
                "--conns".to_string(),
                args.conns.to_string(),
                "--secs".to_string(),
                args.secs.to_string(),
            ];
            if i % 2 == 1 {
                load.push("--post-first".to_string());
            }
            load_run(kinds[i / 2], &load, &place)
        });
        tables.push(Box::new(move || {
            table(&title, &cases, &kept, &[(1, 0), (3, 2), (0, 2)])
        }));
    }
    if wants("pool") {
        let title = format!("pooled client, {} requesters, tokio server", args.conns);
        let kept = rounds(args, &title, &kinds, |i| {
            let load = [
                "--pool-load".to_string(),
                kinds[i].to_string(),
                "--conns".to_string(),
                args.conns.to_string(),
                "--secs".to_string(),
                args.secs.to_string(),
            ];
            load_run("tokio", &load, &place)
        });
        tables.push(Box::new(move || table(&title, &kinds, &kept, &[(0, 1)])));
    }
    println!();
    println!("Medians over the runs. 'other CPU' is the most CPU that other processes used during a kept run (share of one CPU).");
    println!("| measurement | case | req/s | server CPU us/req | load CPU us/req | server CPU | other CPU (max) |");
    println!("|-------------|------|-------|-------------------|-----------------|------------|-----------------|");
    for print in &tables {
        print();
    }
}
