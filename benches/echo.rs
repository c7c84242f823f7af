//! Echo throughput over loopback: spindle's echo server beside tokio's,
//! and spindle's io_uring completion server beside spindle on epoll and
//! monoio.
//!
//! ```text
//! cargo bench -p spindle-benches --bench echo                         # everything (parent mode)
//! cargo bench -p spindle-benches --bench echo -- --secs 5 --runs 3    # the defaults
//! cargo bench -p spindle-benches --bench echo -- --serve spindle --addr 127.0.0.1:7000
//! cargo bench -p spindle-benches --bench echo -- --load --addr 127.0.0.1:7000 --conns 50 --secs 5 --size 64
//! cargo bench -p spindle-benches --bench echo -- --flavor multi_thread              # spindle-mt vs tokio-mt
//! cargo bench -p spindle-benches --bench echo -- --flavor multi_thread --workers 2 --secs 3 --runs 3
//! cargo bench -p spindle-benches --bench echo -- --flavor floor --runs 5          # beside servers with no runtime
//! cargo bench -p spindle-benches --bench echo -- --flavor completion --runs 3       # spindle-uring vs spindle, monoio
//! cargo bench -p spindle-benches --bench echo -- --flavor multishot --runs 3        # spindle-uring-multi vs the same
//! cargo bench -p spindle-benches --bench echo -- --serve spindle-uring --addr 127.0.0.1:7000
//! ```
//!
//! Modes of this one binary:
//! * `--serve spindle|tokio --addr A`: a current-thread echo server, one task
//!   per connection, `readable().await` + `try_read` + `try_write` with a
//!   1024-byte stack buffer. Both servers are generated from one macro, so
//!   the code is the same apart from the runtime's paths. Prints
//!   `LISTENING <addr>`. The servers are in `echo/servers.rs`.
//! * `--serve spindle-mt|tokio-mt --workers W --addr A`: the same server on
//!   a multi-threaded runtime of `W` workers (default 2); the accept loop is
//!   a task of its own (spawned from `block_on`), so it and every
//!   connection's task run on the workers.
//! * `--serve spindle-uring-mt --workers W --addr A`: the completion server
//!   below on a multi-threaded runtime of `W` workers, accept loop in a task.
//! * `--serve spindle-uring-multi[-mt] [--workers W] --addr A`: a completion
//!   server with one multishot receive per connection into a `BufRing` (one
//!   per runtime thread, shared by the connections that start there), each
//!   buffer written back as it is; on a current-thread runtime, or on a
//!   multi-threaded one of `W` workers.
//! * `--serve spindle-uring|monoio --addr A`: a current-thread completion
//!   server, one task per connection: `let (res, buf) =
//!   stream.read(buf).await; stream.write_all(buf).await` with one owned
//!   `Vec` of capacity 1024 per connection, on `spindle::uring` or on
//!   monoio's io_uring runtime (`RuntimeBuilder::<IoUringDriver>`).
//! * `--load --addr A --conns N [--idle I] --secs S --size 64`: the load
//!   generator (tokio multi-thread runtime, one worker per CPU it may use).
//!   It opens `I` idle connections that never send, then `N` busy ones, each
//!   in a closed loop: write `size` bytes, read `size` bytes back. After a
//!   0.5 s warm-up it prints `START`, and `S` seconds later
//!   `END count=<round trips in the window> secs=<window>`.
//! * default (parent, `--flavor current_thread`): for each point (conns 50,
//!   conns 1000, and 9,000 idle + 50 busy) and each run, every server kind
//!   in turn (the order rotates from run to run), it starts the server
//!   pinned to CPU 0 and the load pinned to CPU 1 (`taskset -c`, or
//!   `sched_setaffinity` in the child when taskset is missing), samples the
//!   server's utime+stime (`/proc/<pid>/stat`) at `START` and at `END`, and
//!   its VmRSS (`/proc/<pid>/status`) at `END`, while every connection is
//!   still open. Before each run it waits (up to `--quiet-wait` seconds,
//!   default 30) until other processes use < 15% of a CPU, and it reports
//!   the CPU that other processes used during each run; a run during which
//!   they used more than `--max-other` (default 0.10 of a CPU) is repeated,
//!   up to `--attempts` (default 3) times in all, keeping the least
//!   disturbed. The table gives medians, and the first kind's figures
//!   divided by each other kind's (`spindle/tokio`).
//! * `--flavor completion` (parent): the same, pinned the same way, with
//!   `spindle-uring`, `spindle` (epoll readiness) and `monoio`, at 50 and
//!   1000 connections; ratios `spindle-uring/spindle` and
//!   `spindle-uring/monoio`.
//! * `--flavor multi_thread` (parent): the multi-threaded servers instead,
//!   `spindle-mt`, `spindle-uring-mt` (the completion server on a
//!   multi-threaded runtime, a ring per worker) and `spindle-uring-multi-mt`
//!   (the multishot one) against `tokio-mt` with `--workers` each, at 50
//!   and 1000
//!   connections, with the server and the load generator *unpinned* (the
//!   scheduler spreads the workers and the load over the CPUs).
//! * `--serve raw-epoll-mt|raw-uring-mt --workers W --addr A`: the floor,
//!   echo servers with no runtime (`echo/floor.rs`): `W` threads, each an
//!   epoll loop on the bare `spindle::reactor::Poller`, or the IO models'
//!   hand-written io_uring loop, on a `SO_REUSEPORT` listener of its own.
//! * `--flavor floor` (parent): as `multi_thread`, with `spindle-mt`,
//!   `tokio-mt`, `spindle-uring-mt` and the two floor servers; ratios of
//!   each over `tokio-mt`, and of spindle's two servers over the floor of
//!   their kind (what the runtime itself adds).
//!
//! Every server and the load generator raise their soft `RLIMIT_NOFILE` to
//! the hard limit. Loopback only.

use std::io::{self, BufReader, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

#[path = "echo/floor.rs"]
mod floor;
mod measure;
#[path = "echo/servers.rs"]
mod servers;
use measure::{
    field, has_taskset, least_disturbed, median, paired_ratio, pin_to_cpu, pinned, raise_nofile,
    read_line, unpinned, vm_rss_kb, CargoBenchArgs, ChildArgs, CpuSample, KillOnDrop, Quiet,
    ServerChild,
};

/// Echo throughput over loopback: a spindle server against a tokio server,
/// each pinned to one CPU, the load generator on another (or, with
/// `--flavor multi_thread`, both multi-threaded and unpinned; with
/// `--flavor completion`, spindle's io_uring server against spindle on
/// epoll and monoio, pinned). Without --serve or --load it runs every
/// point (the parent mode).
#[derive(Parser, Debug)]
#[command(
    name = "echo",
    bin_name = "cargo bench -p spindle-benches --bench echo --"
)]
struct Args {
    #[command(flatten)]
    child: ChildArgs,
    /// Be the load generator (prints `START`, then `END count=... secs=...`).
    #[arg(long, conflicts_with = "serve")]
    load: bool,
    /// Busy connections (with --load).
    #[arg(long, value_name = "N", default_value_t = 50)]
    conns: usize,
    /// Idle connections opened first, which never send (with --load).
    #[arg(long, value_name = "N", default_value_t = 0)]
    idle: usize,
    /// Measured seconds per run.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    secs: f64,
    /// Message size in bytes.
    #[arg(long, value_name = "N", default_value_t = 64)]
    size: usize,
    /// Runs per point and server kind (parent mode).
    #[arg(long, value_name = "N", default_value_t = 3)]
    runs: usize,
    /// Which servers the parent measures: the current-thread ones (`spindle`,
    /// `tokio`), pinned; the multi-threaded ones (`spindle-mt`, `tokio-mt`),
    /// unpinned; or the completion ones (`spindle-uring` against `spindle`
    /// and `monoio`), pinned; `multishot` is `completion` with the
    /// `spindle-uring-multi` server (multishot receive) in front; `floor`
    /// is `multi_thread` beside two servers with no runtime at all
    /// (`raw-epoll-mt`, `raw-uring-mt`).
    #[arg(long, value_name = "FLAVOR", default_value = "current_thread", value_parser = ["current_thread", "multi_thread", "floor", "completion", "multishot"])]
    flavor: String,
    /// Worker threads of a multi-threaded server.
    #[arg(long, value_name = "N", default_value_t = 2)]
    workers: usize,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    cargo_bench: CargoBenchArgs,
}

fn parse_args() -> Args {
    Args::parse()
}

/// The load generator: `idle` silent connections, then `conns` busy ones.
fn load(addr: SocketAddr, conns: usize, idle: usize, secs: f64, size: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let mut idle_streams = Vec::with_capacity(idle);
        for _ in 0..idle {
            idle_streams.push(
                tokio::net::TcpStream::connect(addr)
                    .await
                    .expect("connect idle"),
            );
        }
        let mut streams = Vec::with_capacity(conns);
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr)
                .await
                .expect("connect busy");
            s.set_nodelay(true).unwrap();
            streams.push(s);
        }
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::with_capacity(conns);
        for mut s in streams {
            let count = count.clone();
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let msg = vec![0x5au8; size];
                let mut buf = vec![0u8; size];
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(&msg).await?;
                    s.read_exact(&mut buf).await?;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                io::Result::Ok(())
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!("START");
        io::stdout().flush().unwrap();
        let c0 = count.load(Ordering::Relaxed);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        let c1 = count.load(Ordering::Relaxed);
        let window = t0.elapsed();
        println!("END count={} secs={:.6}", c1 - c0, window.as_secs_f64());
        io::stdout().flush().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in tasks {
            if let Ok(Err(e)) = t.await {
                eprintln!("load connection failed: {e}");
            }
        }
        drop(idle_streams);
    });
}

// ---------------------------------------------------------------- parent --

struct Point {
    rps: f64,
    cpu_per_req_us: f64,
    cpu_util: f64,
    client_util: f64,
    /// CPU used on the machine during the window by processes other than
    /// this server and load generator (other work disturbing the figures).
    foreign_util: f64,
    rss_kb: u64,
}

fn run_point(kind: &str, conns: usize, idle: usize, args: &Args, taskset: bool) -> Point {
    let multi_thread = kind.ends_with("-mt");
    let server = if multi_thread {
        let mut cmd = unpinned();
        cmd.args(["--workers", &args.workers.to_string()]);
        ServerChild::start_from(cmd, kind)
    } else {
        ServerChild::start(kind, taskset)
    };
    let (server_pid, addr) = (server.pid, &server.addr);

    let mut client = if multi_thread {
        unpinned()
    } else {
        pinned(1, taskset)
    };
    client
        .args(["--load", "--addr", addr])
        .args(["--conns", &conns.to_string()])
        .args(["--idle", &idle.to_string()])
        .args(["--secs", &args.secs.to_string()])
        .args(["--size", &args.size.to_string()])
        .stdout(Stdio::piped());
    let mut client = KillOnDrop(client.spawn().expect("start load"));
    let mut cout = BufReader::new(client.0.stdout.take().unwrap());

    let line = read_line(&mut cout, "load");
    assert_eq!(line, "START", "load said {line:?}");
    let client_pid = client.0.id();
    let start = CpuSample::take(server_pid, Some(client_pid));
    let line = read_line(&mut cout, "load");
    let used = CpuSample::take(server_pid, Some(client_pid)).window_since(&start);
    let rss_kb = vm_rss_kb(server_pid);
    let count = field(&line, "count=");
    let secs = field(&line, "secs=");
    let status = client.0.wait().expect("wait load");
    assert!(status.success(), "load generator failed: {status}");
    drop(server);
    Point {
        rps: count / secs,
        cpu_per_req_us: used.server / count * 1e6,
        cpu_util: used.server / secs,
        client_util: used.load / secs,
        foreign_util: used.foreign / secs,
        rss_kb,
    }
}

/// The server kinds a flavor measures; the first is the one the ratios
/// are of.
fn kinds(flavor: &str) -> &'static [&'static str] {
    match flavor {
        "multi_thread" => &[
            "spindle-mt",
            "tokio-mt",
            "spindle-uring-mt",
            "spindle-uring-multi-mt",
        ],
        "floor" => &[
            "spindle-mt",
            "tokio-mt",
            "spindle-uring-mt",
            "raw-epoll-mt",
            "raw-uring-mt",
        ],
        "completion" => &["spindle-uring", "spindle", "monoio"],
        "multishot" => &["spindle-uring-multi", "spindle", "monoio"],
        _ => &["spindle", "tokio"],
    }
}

/// The ratio rows of a flavor's table, as (numerator, denominator) kinds:
/// the first kind over each other, and with `multi_thread` also spindle's
/// two completion servers over tokio's.
fn ratios(flavor: &str, kinds: usize) -> Vec<(usize, usize)> {
    match flavor {
        "multi_thread" => vec![(0, 1), (2, 1), (3, 1)],
        "floor" => vec![(0, 1), (2, 1), (3, 1), (4, 1), (0, 3), (2, 4)],
        _ => (1..kinds).map(|k| (0, k)).collect(),
    }
}

/// The medians of one point and kind: req/s, server CPU us/req, server
/// CPU, load CPU, server VmRSS (KiB), and the most foreign CPU of a kept run.
type Medians = [f64; 6];

fn medians(res: &[Point]) -> Medians {
    let med = |f: fn(&Point) -> f64| median(res.iter().map(f).collect());
    [
        med(|p| p.rps),
        med(|p| p.cpu_per_req_us),
        med(|p| p.cpu_util),
        med(|p| p.client_util),
        med(|p| p.rss_kb as f64),
        res.iter().map(|p| p.foreign_util).fold(0.0, f64::max),
    ]
}

/// One point of the table: its label, each kind's medians, and each kind's
/// runs (for the paired ratios: run `r` of every kind is one round).
type TableRow<'a> = (&'a str, Vec<Medians>, Vec<Vec<Point>>);

fn parent(args: &Args) {
    let taskset = has_taskset();
    let quiet = args.quiet;
    let multi_thread = matches!(args.flavor.as_str(), "multi_thread" | "floor");
    let kinds = kinds(&args.flavor);
    // (label, busy conns, idle conns, runs)
    let mut points = vec![
        ("50 conns", 50usize, 0usize, args.runs),
        ("1000 conns", 1000, 0, args.runs),
    ];
    if multi_thread {
        println!(
            "echo: {}-byte messages, {} s per point, {} workers per server, server and load unpinned",
            args.size, args.secs, args.workers
        );
    } else {
        if args.flavor == "current_thread" {
            points.push(("9000 idle + 50 busy", 50, 9000, 1));
        }
        println!(
            "echo: {}-byte messages, {} s per point, server on CPU 0, load on CPU 1 ({})",
            args.size,
            args.secs,
            if taskset {
                "taskset"
            } else {
                "sched_setaffinity"
            }
        );
    }
    let mut table: Vec<TableRow> = Vec::new();
    for (label, conns, idle, runs) in points {
        let mut res: Vec<Vec<Point>> = kinds.iter().map(|_| Vec::new()).collect();
        for run in 0..runs {
            // Rotate the order, so that no kind always runs first (or
            // always right after another).
            for i in 0..kinds.len() {
                let k = (i + run) % kinds.len();
                let run_once = || run_point(kinds[k], conns, idle, args, taskset);
                let p = least_disturbed(
                    quiet,
                    run_once,
                    |p| p.foreign_util,
                    |p, attempt| {
                        println!(
                        "  {label:<20} run {}/{runs} {:<13} {:>8.0} req/s {:>6.2} us CPU/req  server {:>3.0}% CPU  load {:>3.0}% CPU  other {:>3.0}% CPU {:>6.1} MiB RSS{}",
                        run + 1,
                        kinds[k],
                        p.rps,
                        p.cpu_per_req_us,
                        p.cpu_util * 100.0,
                        p.client_util * 100.0,
                        p.foreign_util * 100.0,
                        p.rss_kb as f64 / 1024.0,
                        if p.foreign_util > quiet.max_other {
                            format!("  (disturbed, attempt {attempt})")
                        } else {
                            String::new()
                        }
                    );
                    },
                );
                res[k].push(p);
            }
        }
        let m = res.iter().map(|r| medians(r)).collect();
        table.push((label, m, res));
    }

    println!();
    println!(
        "Medians over the runs. 'other CPU' is the most CPU that other processes used during a kept run (share of one CPU)."
    );
    println!(
        "| point | server | req/s | server CPU us/req | server CPU | load CPU | server VmRSS (MiB) | other CPU (max) |"
    );
    println!(
        "|-------|--------|-------|-------------------|------------|----------|--------------------|-----------------|"
    );
    for (label, m, runs) in &table {
        for (k, kind) in kinds.iter().enumerate() {
            println!(
                "| {label} | {kind} | {:.0} | {:.2} | {:.0}% | {:.0}% | {:.1} | {:.0}% |",
                m[k][0],
                m[k][1],
                m[k][2] * 100.0,
                m[k][3] * 100.0,
                m[k][4] / 1024.0,
                m[k][5] * 100.0
            );
        }
        for (a, b) in ratios(&args.flavor, kinds.len()) {
            println!(
                "| {label} | {}/{} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | |",
                kinds[a],
                kinds[b],
                m[a][0] / m[b][0],
                m[a][1] / m[b][1],
                m[a][2] / m[b][2],
                m[a][3] / m[b][3],
                m[a][4] / m[b][4]
            );
            let paired = |f: fn(&Point) -> f64| paired_ratio(&runs[a], &runs[b], f);
            println!(
                "| {label} | {}/{}, paired | {:.3} | {:.3} | | | | |",
                kinds[a],
                kinds[b],
                paired(|p| p.rps),
                paired(|p| p.cpu_per_req_us)
            );
        }
    }
}

fn main() {
    let args = parse_args();
    if let Some(cpu) = args.child.cpu {
        pin_to_cpu(cpu);
    }
    if let Some(kind) = args.child.serve.as_deref() {
        raise_nofile();
        let addr = args.child.addr.as_deref().unwrap_or("127.0.0.1:0");
        match kind {
            "spindle" => servers::serve_spindle(addr),
            "tokio" => servers::serve_tokio(addr),
            "spindle-mt" => servers::serve_spindle_mt(addr, args.workers),
            "tokio-mt" => servers::serve_tokio_mt(addr, args.workers),
            "spindle-uring" => servers::serve_spindle_uring(addr),
            "spindle-uring-mt" => servers::serve_spindle_uring_mt(addr, args.workers),
            "spindle-uring-multi" => servers::serve_spindle_uring_multi(addr),
            "spindle-uring-multi-mt" => {
                servers::serve_spindle_uring_multi_mt(addr, args.workers)
            }
            "monoio" => servers::serve_monoio(addr),
            "raw-epoll-mt" => floor::serve_raw_epoll(addr, args.workers),
            "raw-uring-mt" => floor::serve_raw_uring(addr, args.workers),
            _ => panic!(
                "--serve spindle|tokio|spindle-mt|tokio-mt|spindle-uring|spindle-uring-mt|spindle-uring-multi|spindle-uring-multi-mt|monoio|raw-epoll-mt|raw-uring-mt"
            ),
        }
    } else if args.load {
        raise_nofile();
        let addr: SocketAddr = args
            .child
            .addr
            .as_deref()
            .expect("--addr")
            .parse()
            .expect("--addr must be ip:port");
        load(addr, args.conns, args.idle, args.secs, args.size);
    } else {
        parent(&args);
    }
}
