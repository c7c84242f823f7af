//! Echo throughput over loopback: a spindle server vs a tokio server.
//!
//! ```text
//! cargo bench -p spindle-benches --bench echo                         # everything (parent mode)
//! cargo bench -p spindle-benches --bench echo -- --secs 5 --runs 3    # the defaults
//! cargo bench -p spindle-benches --bench echo -- --serve spindle --addr 127.0.0.1:7000
//! cargo bench -p spindle-benches --bench echo -- --load --addr 127.0.0.1:7000 --conns 50 --secs 5 --size 64
//! cargo bench -p spindle-benches --bench echo -- --flavor multi_thread              # spindle-mt vs tokio-mt
//! cargo bench -p spindle-benches --bench echo -- --flavor multi_thread --workers 2 --secs 3 --runs 3
//! ```
//!
//! Modes of this one binary:
//! * `--serve spindle|tokio --addr A`: a current-thread echo server, one task
//!   per connection, `readable().await` + `try_read` + `try_write` with a
//!   stack buffer. Both servers are generated from one macro, so the code is
//!   the same apart from the runtime's paths. Prints `LISTENING <addr>`.
//! * `--serve spindle-mt|tokio-mt --workers W --addr A`: the same server on
//!   a multi-threaded runtime of `W` workers (default 2); the accept loop is
//!   a task of its own (spawned from `block_on`), so it and every
//!   connection's task run on the workers.
//! * `--load --addr A --conns N [--idle I] --secs S --size 64`: the load
//!   generator (tokio multi-thread runtime, one worker per CPU it may use).
//!   It opens `I` idle connections that never send, then `N` busy ones, each
//!   in a closed loop: write `size` bytes, read `size` bytes back. After a
//!   0.5 s warm-up it prints `START`, and `S` seconds later
//!   `END count=<round trips in the window> secs=<window>`.
//! * default (parent): for each point (conns 50, conns 1000, and 9,000 idle +
//!   50 busy), each server kind alternately, it starts the server pinned to
//!   CPU 0 and the load pinned to CPU 1 (`taskset -c`, or `sched_setaffinity`
//!   in the child when taskset is missing), samples the server's
//!   utime+stime (`/proc/<pid>/stat`) at `START` and at `END`, and its VmRSS
//!   (`/proc/<pid>/status`) at `END`, while every connection is still open.
//!   Before each run it waits (up to `--quiet-wait` seconds, default 30)
//!   until other processes use < 15% of a CPU, and it reports the CPU that
//!   other processes used during each run; a run during which they used
//!   more than `--max-other` (default 0.10 of a CPU) is repeated, up to
//!   `--attempts` (default 3) times in all, keeping the least disturbed.
//! * `--flavor multi_thread` (parent): the multi-threaded servers instead,
//!   `spindle-mt` against `tokio-mt` with `--workers` each, at 50 and 1000
//!   connections, with the server and the load generator *unpinned* (the
//!   scheduler spreads the workers and the load over the CPUs).
//!
//! Both servers and the load generator raise their soft `RLIMIT_NOFILE` to
//! the hard limit. Loopback only.

use std::io::{self, BufReader, Write};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

mod measure;
use measure::{
    field, has_taskset, least_disturbed, median, pin_to_cpu, pinned, raise_nofile, read_line,
    unpinned, vm_rss_kb, CargoBenchArgs, ChildArgs, CpuSample, KillOnDrop, Quiet, ServerChild,
};

/// Echo throughput over loopback: a spindle server against a tokio server,
/// each pinned to one CPU, the load generator on another (or, with
/// `--flavor multi_thread`, both multi-threaded and unpinned). Without
/// --serve or --load it runs every point (the parent mode).
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
    /// Which servers the parent measures: the current-thread ones, pinned,
    /// or the multi-threaded ones (`spindle-mt`, `tokio-mt`), unpinned.
    #[arg(long, value_name = "FLAVOR", default_value = "current_thread", value_parser = ["current_thread", "multi_thread"])]
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

/// What one `try_read` + `try_write` step of an echo connection left to do.
enum Step {
    /// The peer closed the connection.
    Closed,
    /// Everything read was written back (or nothing was ready).
    Done,
    /// The socket's send buffer was full: write these bytes with `write_all`.
    Rest(Vec<u8>),
}

/// Generates an echo server for one runtime. Both servers come out of this
/// macro so their code is the same except for the runtime's paths.
///
/// The read buffer lives on the stack of a plain (non-async) function, so it
/// is not part of any task's state: an idle connection costs its task, its
/// socket and the runtime's registration, nothing more.
macro_rules! echo_server {
    ($serve:ident, $serve_mt:ident, $accept:ident, $conn:ident, $step:ident, $rt:expr, $rt_mt:expr, $spawn:path, $listener:ty, $stream:ty, $write_ext:path) => {
        fn $step(stream: &$stream) -> io::Result<Step> {
            let mut buf = [0u8; 1024];
            let n = match stream.try_read(&mut buf) {
                Ok(0) => return Ok(Step::Closed),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Step::Done),
                Err(e) => return Err(e),
            };
            let mut written = 0;
            while written < n {
                match stream.try_write(&buf[written..n]) {
                    Ok(k) => written += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        return Ok(Step::Rest(buf[written..n].to_vec()))
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(Step::Done)
        }

        async fn $conn(mut stream: $stream) -> io::Result<()> {
            use $write_ext;
            loop {
                stream.readable().await?;
                match $step(&stream)? {
                    Step::Closed => return Ok(()),
                    Step::Done => {}
                    Step::Rest(rest) => stream.write_all(&rest).await?,
                }
            }
        }

        async fn $accept(addr: String) {
            let listener = <$listener>::bind(addr).await.expect("bind");
            println!("LISTENING {}", listener.local_addr().expect("local_addr"));
            io::stdout().flush().unwrap();
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        $spawn(async move {
                            let _ = $conn(stream).await;
                        });
                    }
                    Err(e) => eprintln!("accept: {e}"),
                }
            }
        }

        fn $serve(addr: &str) {
            let rt = $rt;
            rt.block_on($accept(addr.to_string()))
        }

        /// On a multi-threaded runtime: the accept loop is a task too, so
        /// nothing runs on the `block_on` thread.
        fn $serve_mt(addr: &str, workers: usize) {
            let rt = ($rt_mt)(workers);
            let addr = addr.to_string();
            rt.block_on(async move {
                let _ = $spawn($accept(addr)).await;
            })
        }
    };
}

echo_server!(
    serve_spindle,
    serve_spindle_mt,
    accept_spindle,
    conn_spindle,
    step_spindle,
    spindle::Runtime::new().expect("spindle runtime"),
    |workers| spindle::Runtime::builder()
        .multi_thread()
        .worker_threads(workers)
        .build()
        .expect("spindle runtime"),
    spindle::spawn,
    spindle::net::TcpListener,
    spindle::net::TcpStream,
    spindle::io::AsyncWriteExt
);

echo_server!(
    serve_tokio,
    serve_tokio_mt,
    accept_tokio,
    conn_tokio,
    step_tokio,
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime"),
    |workers| tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime"),
    tokio::spawn,
    tokio::net::TcpListener,
    tokio::net::TcpStream,
    tokio::io::AsyncWriteExt
);

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

fn parent(args: &Args) {
    let taskset = has_taskset();
    let quiet = args.quiet;
    let multi_thread = args.flavor == "multi_thread";
    let kinds = if multi_thread {
        ["spindle-mt", "tokio-mt"]
    } else {
        ["spindle", "tokio"]
    };
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
        points.push(("9000 idle + 50 busy", 50, 9000, 1));
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
    let mut table = Vec::new();
    for (label, conns, idle, runs) in points {
        let mut res: [Vec<Point>; 2] = [Vec::new(), Vec::new()];
        for run in 0..runs {
            let order: [usize; 2] = if run % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let run_once = || run_point(kinds[k], conns, idle, args, taskset);
                let p = least_disturbed(
                    quiet,
                    run_once,
                    |p| p.foreign_util,
                    |p, attempt| {
                        println!(
                        "  {label:<20} run {}/{runs} {:<10} {:>8.0} req/s {:>6.2} us CPU/req  server {:>3.0}% CPU  load {:>3.0}% CPU  other {:>3.0}% CPU {:>6.1} MiB RSS{}",
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
        let med = |k: usize, f: fn(&Point) -> f64| median(res[k].iter().map(f).collect());
        let m: Vec<[f64; 6]> = (0..2)
            .map(|k| {
                [
                    med(k, |p| p.rps),
                    med(k, |p| p.cpu_per_req_us),
                    med(k, |p| p.cpu_util),
                    med(k, |p| p.client_util),
                    med(k, |p| p.rss_kb as f64),
                    res[k].iter().map(|p| p.foreign_util).fold(0.0, f64::max),
                ]
            })
            .collect();
        table.push((label, m));
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
    for (label, m) in &table {
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
        println!(
            "| {label} | spindle/tokio | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | |",
            m[0][0] / m[1][0],
            m[0][1] / m[1][1],
            m[0][2] / m[1][2],
            m[0][3] / m[1][3],
            m[0][4] / m[1][4]
        );
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
            "spindle" => serve_spindle(addr),
            "tokio" => serve_tokio(addr),
            "spindle-mt" => serve_spindle_mt(addr, args.workers),
            "tokio-mt" => serve_tokio_mt(addr, args.workers),
            _ => panic!("--serve spindle|tokio|spindle-mt|tokio-mt"),
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
