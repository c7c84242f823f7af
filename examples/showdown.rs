//! The IO-model showdown: every echo server in `examples/io_models/`, under
//! the same load, side by side.
//!
//! ```text
//! cargo run --release --example showdown                 # the full run, about two minutes
//! cargo run --release --example showdown -- --quick      # a smaller run, under a minute
//! cargo run --release --example showdown -- --models threads,epoll,spindle-epoll --conns 1,1000 --secs 5
//! ```
//!
//! For each model and each connection count this program
//!
//! 1. starts the model's server as a **child process**: it runs itself again
//!    as `showdown --serve MODEL --addr 127.0.0.1:0`; the child binds, prints
//!    `listening on ADDR` and hands the listener to `io_models::serve`. The
//!    child leads a process group of its own, so the fork model's children
//!    are in it too and one `kill(-pgid, SIGKILL)` ends them all;
//! 2. opens N connections and drives them with a **closed-loop** load
//!    generator: each connection sends a message (`--size` bytes, 64 by
//!    default), waits for the whole echo, and sends the next. The load
//!    generator does not use the spindle runtime, which is under test: up to
//!    64 connections it is one plain thread per connection with blocking
//!    sockets, above that two threads each run an edge-triggered epoll loop
//!    over half the connections (through `spindle::reactor::Poller`, the bare
//!    readiness layer);
//! 3. waits until every connection has had one answer, warms up, then
//!    measures for `--secs`: requests per second, p50/p99 latency, the
//!    server's CPU time per request, memory and threads (see below);
//! 4. kills the server (and its process group) before the next point.
//!
//! It prints a table on stdout (markdown), a progress line per point on
//! stderr, and writes the results as JSON (`--json`, default
//! `target/showdown/showdown.json`) and as an SVG chart (`--svg`, default
//! `target/showdown/showdown.svg`): requests/s against connections, and
//! beside it the server's CPU time per request. The defaults are build
//! output, so a run does not dirty the checkout; the recorded run in
//! `docs/` is replaced only when asked (`--json docs/showdown.json --svg
//! docs/showdown.svg`). `--chart-from FILE` runs nothing and draws the chart
//! of a JSON file again. The run ends with a summary: how many points were
//! disturbed by other load on the machine, and what to do about it.
//!
//! # What is measured
//!
//! * **req/s**: replies received in the measured window, divided by its length.
//! * **p50/p99**: the time from writing a request to reading the last byte of
//!   its echo, measured in the load generator with `Instant`, kept in a
//!   log-linear histogram (buckets 1/32 of a power of two wide, so about 3%).
//! * **server CPU µs/req**: `utime + stime + cutime + cstime` from
//!   `/proc/PID/stat`, summed over **every process in the server's process
//!   group** (the server, the fork model's per-connection children, and
//!   the worker processes of `spindle-processes`, which stay in the group),
//!   sampled at the start and the end of the window, divided by the
//!   requests served in it. The `cutime/cstime` terms carry the time of
//!   children that exited and were reaped during the window; a child still
//!   alive is counted by its own `utime/stime`. Those are in clock ticks
//!   (10 ms) rounded down per process, which would lose most of the time
//!   of a thousand small fork children, so for a single-threaded process
//!   the exact equivalent is read instead: the first field of
//!   `/proc/PID/schedstat`, nanoseconds on the CPU.
//! * **RSS kB**: `VmRSS` from `/proc/PID/status` at the end of the window,
//!   with all N connections open, summed over the process group. For the
//!   fork model the sum counts pages shared between the processes (the
//!   program text, libc) once per process.
//! * **threads**: `Threads` from `/proc/PID/status`, summed over the group
//!   (for the fork model: one per process).
//!
//! * **other CPU** (JSON `other_cpu_pct`, and a note above 15%): CPU time
//!   the rest of the machine used during the window (`/proc/stat` busy time
//!   minus the server's and the load generator's), in percent of one CPU.
//!   A point measured while something else ran is marked, not hidden.
//!
//! * **rounds** (`--rounds N`): every point is run N times, the models
//!   taking turns within a round; the table shows medians, the JSON keeps
//!   the range, and each model's figures are also given as the median of
//!   its per-round ratios to one model's (`--base`, by default the first
//!   named; see `showdown/rounds.rs`).
//!
//! Nothing is pinned by default: server and load generator share the
//! machine's cores and compete for them, so the numbers are those of the
//! whole system, client included. `--pin` puts the server on CPU 0 and the
//! load generator on CPU 1 (`sched_setaffinity`).
//!
//! A model that cannot take a connection count (`Model::max_conns`: select
//! and its `FD_SETSIZE` of 1024, or the blocking server that serves one
//! client at a time) gets a row with `-` and a note instead of a run.
//! Children are killed when their point ends, when this program panics
//! (`Drop`), and on Ctrl-C (a signal handler kills the current group).

#[path = "showdown/args.rs"]
mod args;
#[allow(dead_code)]
#[path = "io_models/mod.rs"]
mod io_models;
#[path = "showdown/load.rs"]
mod load;
#[path = "showdown/report.rs"]
mod report;
#[path = "showdown/reread.rs"]
mod reread;
#[path = "showdown/rounds.rs"]
mod rounds;
#[path = "showdown/server.rs"]
mod server;
#[path = "showdown/svg.rs"]
mod svg;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::exit;
use std::thread;
use std::time::{Duration, Instant};

use args::{Args, Options};
use clap::{CommandFactory, Parser};
use io_models::Model;
use report::{Machine, Record, Settings};
use server::Server;

/// How long every connection may take to get its first answer.
const FIRST_ROUND_TIMEOUT: Duration = Duration::from_secs(20);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
fn main() {
    let args = Args::parse();
    if let Some(model) = args.serve {
        serve_child(
            model,
            args.addr.as_deref().unwrap_or("127.0.0.1:0"),
            args.cpu,
        );
    }
    if let Some(json) = &args.chart_from {
        exit(redraw(json, &args.svg_path()));
    }
    let opts = args.options().unwrap_or_else(|e| {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, e)
            .exit()
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    server::raise_fd_limit();
    server::install_cleanup();
    if opts.pin {
        if server::online_cpus() < 2 {
            eprintln!("showdown: --pin needs two CPUs; running unpinned");
        } else if let Err(e) = server::pin_current_thread(1) {
            eprintln!("showdown: could not pin the load generator to CPU 1: {e}");
        }
    }

    let machine = Machine::detect();
    let command = if args.is_empty() {
        "cargo run --release --example showdown".to_string()
    } else {
        format!(
            "cargo run --release --example showdown -- {}",
            args.join(" ")
        )
    };
    eprintln!(
        "showdown: {} models x {:?} connections, {} s per point (+{} s warm-up), {}-byte messages",
        opts.models.len(),
        opts.conns,
        opts.secs,
        opts.warmup,
        opts.size
    );
    eprintln!(
        "showdown: {} CPUs ({}), Linux {}, load average {}{}",
        machine.nproc,
        machine.cpu,
        machine.kernel,
        machine.loadavg,
        if opts.pin {
            ", server pinned to CPU 0, load to CPU 1"
        } else {
            ", nothing pinned"
        }
    );

    let total = opts.models.len() * opts.conns.len() * opts.rounds;
    let started = Instant::now();
    let mut rounds = Vec::new();
    let mut index = 0;
    for round in 1..=opts.rounds {
        let mut records = Vec::new();
        for name in &opts.models {
            let model = Model::parse(name).expect("checked when parsed");
            for &conns in &opts.conns {
                index += 1;
                let tag = if opts.rounds > 1 {
                    format!("round {round}: ")
                } else {
                    String::new()
                };
                eprint!("[{index:>2}/{total}] {tag}{name} @ {conns} conns ... ");
                let _ = std::io::stderr().flush();
                let record = match skip_reason(&model, conns) {
                    Some(note) => Record::skipped(name, conns, note),
                    None => run_point(name, conns, &opts),
                };
                match (&record.rps, &record.note) {
                    (Some(rps), None) => eprintln!("{rps:.0} req/s"),
                    (Some(rps), Some(note)) => eprintln!("{rps:.0} req/s ({note})"),
                    (None, Some(note)) => eprintln!("- ({note})"),
                    (None, None) => eprintln!("-"),
                }
                records.push(record);
            }
        }
        rounds.push(records);
    }
    let (records, ratios) = if opts.rounds > 1 {
        (
            rounds::median_records(&rounds),
            rounds::paired_ratios(&rounds, &opts.base, &opts.models, &opts.conns),
        )
    } else {
        (rounds.pop().unwrap_or_default(), Vec::new())
    };
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!("showdown: done in {elapsed:.0} s");

    let settings = Settings {
        secs: opts.secs,
        warmup: opts.warmup,
        size: opts.size,
        client_threads: opts.client_threads,
        pin: opts.pin,
        conns: opts.conns.clone(),
        models: opts.models.clone(),
        rounds: opts.rounds,
        elapsed_secs: elapsed,
    };
    if opts.rounds > 1 {
        println!("Medians of {} rounds:\n", opts.rounds);
    }
    println!("{}", report::markdown_table(&records));
    if !ratios.is_empty() {
        println!("\nPaired within each round (median of the per-round ratios):\n");
        print!("{}", rounds::ratio_lines(&ratios));
    }
    let mut written = Vec::new();
    if let Some(path) = &opts.json {
        let text = report::json(&command, &machine, &settings, &records, &ratios);
        written.extend(write_file(path, &text));
    }
    if let Some(path) = &opts.svg {
        let text = svg::chart(&machine, &settings, &records);
        written.extend(write_file(path, &text));
    }
    print!("\n{}", report::summary(&records, &settings, &written));
}

/// Writes `text` to `path`, creating its folder; the path if it worked.
fn write_file(path: &Path, text: &str) -> Option<PathBuf> {
    let result = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir),
        _ => Ok(()),
    }
    .and_then(|()| std::fs::write(path, text));
    match result {
        Ok(()) => {
            eprintln!("showdown: wrote {}", path.display());
            Some(path.to_path_buf())
        }
        Err(e) => {
            eprintln!("showdown: could not write {}: {e}", path.display());
            None
        }
    }
}

/// `--chart-from JSON`: the chart of a recorded run, drawn again into
/// `svg`. Returns the exit status.
fn redraw(json: &Path, svg: &Path) -> i32 {
    let text = match std::fs::read_to_string(json) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("showdown: could not read {}: {e}", json.display());
            return 1;
        }
    };
    match reread::run(&text) {
        Ok((machine, settings, records)) => {
            let chart = svg::chart(&machine, &settings, &records);
            if write_file(svg, &chart).is_some() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("showdown: {}: {e}", json.display());
            1
        }
    }
}

/// Why `model` does not run at `conns` connections, if it does not.
fn skip_reason(model: &Model, conns: usize) -> Option<String> {
    match model.max_conns() {
        Some(1) if conns > 1 => Some("skipped: serves one client at a time".to_string()),
        Some(max) if conns > max => Some(format!(
            "skipped: select: FD_SETSIZE 1024 (at most {max} connections)"
        )),
        _ => None,
    }
}

/// One point: a fresh server, `conns` connections, warm-up, measurement.
fn run_point(name: &str, conns: usize, opts: &Options) -> Record {
    let mut server = match Server::start(name, opts.pin) {
        Ok(server) => server,
        Err(e) => return Record::failed(name, conns, format!("server did not start: {e}")),
    };
    let streams = match connect_all(server.addr(), conns) {
        Ok(streams) => streams,
        Err(e) => return Record::failed(name, conns, server.explain(e)),
    };
    let load = match load::Load::start(streams, opts.size, opts.client_threads) {
        Ok(load) => load,
        Err(e) => return Record::failed(name, conns, format!("load generator: {e}")),
    };

    // Every connection gets one answer before the clock starts, so a server
    // that is slow to accept (fork, threads at 5000) is measured serving.
    let deadline = Instant::now() + FIRST_ROUND_TIMEOUT;
    while load.answered() < load.live() && Instant::now() < deadline && server.running() {
        thread::sleep(Duration::from_millis(2));
    }
    let mut notes = Vec::new();
    if load.answered() < conns {
        notes.push(format!(
            "only {} of {conns} connections answered within {} s",
            load.answered(),
            FIRST_ROUND_TIMEOUT.as_secs()
        ));
    }
    load.warm_up();
    thread::sleep(Duration::from_secs_f64(opts.warmup));

    let before = server.sample();
    let client_before = server::self_cpu_ns();
    let machine_before = server::machine_cpu_ns();
    let t0 = Instant::now();
    load.begin();
    thread::sleep(Duration::from_secs_f64(opts.secs));
    load.end();
    let window = t0.elapsed().as_secs_f64();
    let machine_after = server::machine_cpu_ns();
    let after = server.sample();
    let client_after = server::self_cpu_ns();
    let alive = server.running();

    server.kill();
    let outcome = load.finish();

    if !alive {
        notes.push(server.explain("server exited during the run".to_string()));
    }
    if outcome.errors > 0 {
        notes.push(format!(
            "{} connection errors (first: {})",
            outcome.errors,
            outcome.first_error.as_deref().unwrap_or("?")
        ));
    }
    // Everything else that ran on the machine during the window: other
    // processes, kernel threads, and the steal of the hypervisor.
    let server_ns = after.cpu_ns.saturating_sub(before.cpu_ns);
    let client_ns = client_after.saturating_sub(client_before);
    let busy_ns = machine_after.0.saturating_sub(machine_before.0);
    let other = busy_ns.saturating_sub(server_ns + client_ns) as f64 / 1e9 / window * 100.0;
    let steal = machine_after.1.saturating_sub(machine_before.1) as f64 / 1e9 / window * 100.0;
    if other > report::DISTURBED_PCT {
        notes.push(format!(
            "the rest of the machine used {other:.0}% of a CPU meanwhile"
        ));
    }
    if steal > report::DISTURBED_PCT {
        notes.push(format!("hypervisor steal {steal:.0}% of a CPU"));
    }
    let requests = outcome.requests;
    let mut record = Record::measured(name, conns);
    record.requests = requests;
    record.secs = window;
    record.errors = outcome.errors;
    record.other_cpu_pct = Some(other);
    record.steal_pct = Some(steal);
    if requests > 0 {
        let per_req = |ns: u64| ns as f64 / 1e3 / requests as f64;
        record.rps = Some(requests as f64 / window);
        record.p50_us = Some(outcome.hist.quantile(0.50) / 1000.0);
        record.p99_us = Some(outcome.hist.quantile(0.99) / 1000.0);
        record.cpu_us_per_req = Some(per_req(server_ns));
        record.client_cpu_us_per_req = Some(per_req(client_ns));
    } else {
        notes.push("no replies in the measured window".to_string());
    }
    record.rss_kb = Some(after.rss_kb);
    record.threads = Some(after.threads);
    record.procs = Some(after.procs);
    if !notes.is_empty() {
        record.note = Some(notes.join("; "));
    }
    record
}

/// Opens `n` connections to `addr`, one after the other.
fn connect_all(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>, String> {
    let mut streams = Vec::with_capacity(n);
    for i in 0..n {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
            .map_err(|e| format!("connect {} of {n} to {addr} failed: {e}", i + 1))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("set_nodelay: {e}"))?;
        streams.push(stream);
    }
    Ok(streams)
}

/// The child side: `showdown --serve MODEL --addr ADDR [--cpu N]`.
fn serve_child(model: Model, addr: &str, cpu: Option<usize>) -> ! {
    let name = model.name();
    server::raise_fd_limit();
    if let Some(cpu) = cpu {
        if let Err(e) = server::pin_current_thread(cpu) {
            eprintln!("showdown --serve: could not pin to CPU {cpu}: {e}");
        }
    }
    let listener = match server::bind(addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("showdown --serve: bind {addr}: {e}");
            exit(1);
        }
    };
    // Once the server is ready for clients (spindle-processes: once every
    // worker listens), the line the parent waits for.
    let announce = |local| {
        println!("listening on {local}");
        std::io::stdout().flush()
    };
    match io_models::serve_announced(&model, listener, announce) {
        Ok(()) => exit(0),
        Err(e) => {
            eprintln!("showdown --serve {name}: {e}");
            exit(1);
        }
    }
}
