//! hyper on spindle against hyper on tokio's current-thread runtime: a
//! "hello" server under wrk, keep-alive after a large body, and
//! hyper-util's pooled client.
//!
//! ```text
//! apt-get install -y wrk                                               # once
//! cargo bench -p spindle-benches --bench hyper                          # everything: 10 s, 5 runs
//! cargo bench -p spindle-benches --bench hyper -- --secs 3 --runs 1     # a quick look
//! cargo bench -p spindle-benches --bench hyper -- --parts wrk           # one part (wrk,keepalive,pool,wrk-mt)
//! cargo bench -p spindle-benches --bench hyper -- --serve spindle --addr 127.0.0.1:8080
//! wrk -t1 -c50 -d10s http://127.0.0.1:8080/
//! ```
//!
//! Modes of this one binary:
//! * `--serve spindle|spindle-uring|tokio|spindle-mt|tokio-mt --addr A`: a
//!   hyper HTTP/1.1 server on one thread (the `-mt` kinds: on each
//!   runtime's multi-threaded flavor, a worker per CPU, the accept loop
//!   inside `block_on` as tokio's examples have it), answering every request with the 13 bytes
//!   `Hello, world!` (a POST's body is read to its end and dropped first).
//!   The servers run the same service function with the same
//!   `http1::Builder` settings (a timer, so hyper's header-read timeout is
//!   armed per request); only the runtime and its sockets differ: spindle's
//!   `Runtime` with its `TcpStream` given to hyper as it is; the same
//!   runtime with io_uring sockets, each a `uring::PollStream` receiving
//!   into a `BufRing` of 512 buffers of 4 KiB that all connections share;
//!   or tokio's `new_current_thread` with hyper-util's `TokioIo`. Prints
//!   `LISTENING <addr>`.
//! * `--keepalive-load --addr A --conns K [--post-first]`: K threads, each
//!   with one keep-alive connection (blocking `std::net`, hand-written
//!   HTTP/1.1). With `--post-first` each connection first POSTs 1 MiB, which
//!   grows the server's read buffer for that connection. Then it prints
//!   `START`, every thread sends small GETs one after another for `--secs`,
//!   and it prints `END count=<GETs> secs=<window>`.
//! * `--pool-load --client spindle|tokio --addr A --conns C`: hyper-util's
//!   legacy pooled `Client` on one thread, C tasks each sending GETs in a
//!   loop; on spindle with `spindle::hyper::{Connector, Executor, Timer}`,
//!   on tokio with `HttpConnector`, `TokioExecutor`, `TokioTimer`. Prints
//!   `START` after a 0.5 s warm-up and `END count=... errors=... secs=...`.
//! * default (parent), for `--runs` rounds, alternating which runtime goes
//!   first, the server pinned to CPU 0 and the load to CPU 1:
//!   - `wrk`: `wrk -t1 -c50` and `-c500` for `--secs` against each server;
//!     req/s is wrk's `Requests/sec`, and server CPU per request is the
//!     server's utime+stime (`/proc/<pid>/stat`) over wrk's whole run
//!     divided by wrk's total requests.
//!   - `wrk-mt`: the same against `spindle-mt` and `tokio-mt`, with
//!     `wrk -t2`, and nothing pinned (server and wrk share both CPUs).
//!   - `keepalive`: each server, fresh connections and connections that
//!     first POSTed 1 MiB: server CPU per GET, sampled at `START` and `END`
//!     (the GET phase only), and the ratio after-POST / fresh.
//!   - `pool`: the pooled client on each runtime against one tokio hyper
//!     server: requests/s and the ratio spindle / tokio.
//!
//!   Before each run it waits for a quiet machine and repeats disturbed
//!   runs, as `echo` does (see `measure/mod.rs`). It prints every run, then
//!   the medians and the ratios.
//!
//! Loopback only. wrk is needed only for the `wrk` part.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};

mod measure;
use measure::{pin_to_cpu, raise_nofile, CargoBenchArgs, ChildArgs, Quiet};

/// hyper on spindle against hyper on tokio's current-thread runtime. Without
/// a mode flag it runs the parts named by --parts (the parent mode).
#[derive(Parser, Debug)]
#[command(
    name = "hyper",
    bin_name = "cargo bench -p spindle-benches --bench hyper --"
)]
struct Args {
    #[command(flatten)]
    child: ChildArgs,
    /// Be the keep-alive load (blocking threads, one connection each).
    #[arg(long, conflicts_with = "serve")]
    keepalive_load: bool,
    /// With --keepalive-load: POST 1 MiB on each connection before the GETs.
    #[arg(long)]
    post_first: bool,
    /// Be the pooled-client load on this runtime: `spindle` or `tokio`.
    #[arg(long, value_name = "RUNTIME", value_parser = ["spindle", "tokio"])]
    pool_load: Option<String>,
    /// Connections (keep-alive load) or concurrent requesters (pool load).
    #[arg(long, value_name = "N", default_value_t = 50)]
    conns: usize,
    /// Measured seconds per run.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    secs: f64,
    /// Rounds per point (parent mode).
    #[arg(long, value_name = "N", default_value_t = 5)]
    runs: usize,
    /// Parts to run (parent mode), comma-separated: wrk, keepalive, pool,
    /// wrk-mt.
    #[arg(long, value_name = "LIST", default_value = "wrk,keepalive,pool,wrk-mt")]
    parts: String,
    #[command(flatten)]
    quiet: Quiet,
    #[command(flatten)]
    cargo_bench: CargoBenchArgs,
}

// ---------------------------------------------------------------- server --

/// The whole response body.
const HELLO: &[u8] = b"Hello, world!";

/// The service both servers run: reads a request's body to its end (a POST's
/// 1 MiB goes through hyper's read buffer), drops it, and says hello.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    if req.method() == Method::POST {
        let mut body = req.into_body();
        while let Some(frame) = body.frame().await {
            frame?;
        }
    }
    Ok(Response::new(Full::new(Bytes::from_static(HELLO))))
}

/// The HTTP/1 settings both servers use: hyper's defaults (keep-alive on)
/// plus a timer, which arms hyper's header-read timeout for every request.
fn http1_builder(timer: impl hyper::rt::Timer + Send + Sync + 'static) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(timer);
    builder
}

/// Generates the hello server for one runtime. Both servers come out of
/// this macro so their code is the same except for the runtime's paths:
/// `$io` turns the accepted stream into hyper's IO (spindle's stream is
/// hyper's IO as it is; tokio's goes through `TokioIo`).
macro_rules! hello_server {
    ($serve:ident, $rt:expr, $listener:ty, $spawn:path, $io:path, $timer:expr) => {
        fn $serve(addr: &str) {
            let rt = $rt;
            rt.block_on(async {
                let listener = <$listener>::bind(addr).await.expect("bind");
                println!("LISTENING {}", listener.local_addr().expect("local_addr"));
                io::stdout().flush().unwrap();
                loop {
                    let (stream, _) = match listener.accept().await {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            eprintln!("accept: {e}");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    $spawn(async move {
                        let _ = http1_builder($timer)
                            .serve_connection($io(stream), service_fn(hello))
                            .await;
                    });
                }
            })
        }
    };
}

hello_server!(
    serve_spindle,
    spindle::Runtime::new().expect("spindle runtime"),
    spindle::net::TcpListener,
    spindle::spawn,
    std::convert::identity,
    spindle::hyper::Timer::new()
);

/// spindle's completion-based listener with the readiness listener's
/// async `bind`, so the macro above serves it too. Its connections share
/// one ring of receive buffers (`PollStream::with_buf_ring`).
struct UringListener {
    listener: spindle::uring::TcpListener,
    bufs: spindle::uring::BufRing,
}

/// The buffers of `UringListener`'s ring. A connection holds one only
/// between a receive and hyper reading it out, so this is not one per
/// connection; a ring that runs out makes receives wait, it loses nothing.
/// A small ring is also a small cache footprint: the kernel takes the
/// buffers in turn, so all of them are touched over and over.
const RING_BUFS: u16 = 512;
/// The size of each (a larger read takes several).
const RING_BUF_SIZE: usize = 4096;

impl UringListener {
    async fn bind(addr: &str) -> io::Result<UringListener> {
        Ok(UringListener {
            listener: spindle::uring::TcpListener::bind(addr)?,
            bufs: spindle::uring::BufRing::new(RING_BUFS, RING_BUF_SIZE)?,
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    async fn accept(&self) -> io::Result<(UringConn, SocketAddr)> {
        let (stream, addr) = self.listener.accept().await?;
        let bufs = self.bufs.clone();
        Ok((UringConn { stream, bufs }, addr))
    }
}

/// An accepted connection and the ring it will receive into.
struct UringConn {
    stream: spindle::uring::TcpStream,
    bufs: spindle::uring::BufRing,
}

impl UringConn {
    fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.stream.set_nodelay(nodelay)
    }
}

/// hyper's IO for a `UringConn`.
fn uring_io(conn: UringConn) -> spindle::uring::PollStream {
    spindle::uring::PollStream::with_buf_ring(conn.stream, &conn.bufs)
}

hello_server!(
    serve_spindle_uring,
    spindle::Runtime::new().expect("spindle runtime"),
    UringListener,
    spindle::spawn,
    uring_io,
    spindle::hyper::Timer::new()
);

hello_server!(
    serve_spindle_mt,
    spindle::Runtime::builder()
        .multi_thread()
        .build()
        .expect("spindle runtime"),
    spindle::net::TcpListener,
    spindle::spawn,
    std::convert::identity,
    spindle::hyper::Timer::new()
);

/// The hello server on the tokio runtime that `$builder` (a
/// `tokio::runtime::Builder`) makes, with hyper-util's IO and timer.
macro_rules! tokio_hello_server {
    ($serve:ident, $builder:expr) => {
        hello_server!(
            $serve,
            $builder.enable_all().build().expect("tokio runtime"),
            tokio::net::TcpListener,
            tokio::spawn,
            hyper_util::rt::TokioIo::new,
            hyper_util::rt::TokioTimer::new()
        );
    };
}

tokio_hello_server!(serve_tokio_mt, tokio::runtime::Builder::new_multi_thread());
tokio_hello_server!(serve_tokio, tokio::runtime::Builder::new_current_thread());

// ------------------------------------------------------ keep-alive load --

/// The size of the body POSTed first with `--post-first`.
const BIG_BODY: usize = 1 << 20;

/// Reads one response: checks it is a 200 whose body is `HELLO`.
fn read_hello(conn: &mut BufReader<TcpStream>) -> io::Result<()> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut line = String::new();
    let mut next_line = |line: &mut String| -> io::Result<()> {
        line.clear();
        match conn.read_line(line)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    };
    next_line(&mut line)?;
    if !line.starts_with("HTTP/1.1 200") {
        return Err(bad(format!("status line {line:?}")));
    }
    let mut length = None;
    loop {
        next_line(&mut line)?;
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = vec![0; length.ok_or_else(|| bad("no content-length".into()))?];
    conn.read_exact(&mut body)?;
    if body != HELLO {
        return Err(bad(format!("body {body:?}")));
    }
    Ok(())
}

/// One keep-alive connection: (the POST, then) GETs until `stop`.
fn keepalive_conn(
    addr: SocketAddr,
    post_first: bool,
    ready: &Barrier,
    stop: &AtomicBool,
    count: &AtomicU64,
) -> io::Result<()> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut conn = BufReader::new(stream);
    if post_first {
        let mut post =
            format!("POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: {BIG_BODY}\r\n\r\n")
                .into_bytes();
        post.resize(post.len() + BIG_BODY, b'x');
        conn.get_ref().write_all(&post)?;
        read_hello(&mut conn)?;
    }
    ready.wait();
    let get = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    while !stop.load(Ordering::Relaxed) {
        conn.get_ref().write_all(get)?;
        read_hello(&mut conn)?;
        count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn keepalive_load(addr: SocketAddr, conns: usize, post_first: bool, secs: f64) {
    let ready = Arc::new(Barrier::new(conns + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (ready, stop, count) = (ready.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let done = keepalive_conn(addr, post_first, &ready, &stop, &count);
                if let Err(e) = &done {
                    eprintln!("keep-alive connection failed: {e}");
                }
                done
            })
        })
        .collect();
    ready.wait();
    println!("START");
    io::stdout().flush().unwrap();
    let c0 = count.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(secs));
    let c1 = count.load(Ordering::Relaxed);
    let window = t0.elapsed();
    println!("END count={} secs={:.6}", c1 - c0, window.as_secs_f64());
    io::stdout().flush().unwrap();
    stop.store(true, Ordering::Relaxed);
    let failed = threads
        .into_iter()
        .map(|t| t.join())
        .filter(|done| !matches!(done, Ok(Ok(()))))
        .count();
    assert_eq!(failed, 0, "{failed} keep-alive connections failed");
}

// ------------------------------------------------------------ pool load --

/// Counters shared by the pooled-client requesters.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
}

/// One requester: GETs `uri` through `get` until told to stop.
async fn requester<F, Fut, E>(tally: Arc<Tally>, get: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Response<Incoming>, E>>,
{
    while !tally.stop.load(Ordering::Relaxed) {
        let done = match get().await {
            Ok(response) => response.into_body().collect().await.is_ok(),
            Err(_) => false,
        };
        let counter = if done { &tally.ok } else { &tally.errors };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The measuring window of a pool load: warm-up, `START`, `secs`, `END`.
async fn pool_window<S: std::future::Future>(
    tally: &Tally,
    secs: f64,
    sleep: impl Fn(Duration) -> S,
) {
    sleep(Duration::from_millis(500)).await;
    println!("START");
    io::stdout().flush().unwrap();
    let (ok0, err0) = (
        tally.ok.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    let t0 = Instant::now();
    sleep(Duration::from_secs_f64(secs)).await;
    let (ok1, err1) = (
        tally.ok.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    println!(
        "END count={} errors={} secs={:.6}",
        ok1 - ok0,
        err1 - err0,
        t0.elapsed().as_secs_f64()
    );
    io::stdout().flush().unwrap();
    tally.stop.store(true, Ordering::Relaxed);
}

/// Generates the pooled-client load for one runtime, like `hello_server!`:
/// the same code with the runtime's connector, executor, timer, spawn and
/// sleep.
macro_rules! pool_load {
    ($load:ident, $rt:expr, $connector:ty, $executor:expr, $timer:expr, $spawn:path, $sleep:path) => {
        fn $load(addr: SocketAddr, conns: usize, secs: f64) {
            use hyper_util::client::legacy::Client;
            let uri: hyper::Uri = format!("http://{addr}/").parse().expect("uri");
            let tally = Arc::new(Tally::default());
            let rt = $rt;
            rt.block_on(async {
                let mut connector = <$connector>::new();
                connector.set_nodelay(true);
                let client: Client<$connector, Empty<Bytes>> = Client::builder($executor)
                    .pool_timer($timer)
                    .timer($timer)
                    .build(connector);
                for _ in 0..conns {
                    let (client, uri) = (client.clone(), uri.clone());
                    $spawn(requester(tally.clone(), move || client.get(uri.clone())));
                }
                pool_window(&tally, secs, $sleep).await;
            });
        }
    };
}

pool_load!(
    pool_load_spindle,
    spindle::Runtime::new().expect("spindle runtime"),
    spindle::hyper::Connector,
    spindle::hyper::Executor::new(),
    spindle::hyper::Timer::new(),
    spindle::spawn,
    spindle::time::sleep
);

pool_load!(
    pool_load_tokio,
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime"),
    hyper_util::client::legacy::connect::HttpConnector,
    hyper_util::rt::TokioExecutor::new(),
    hyper_util::rt::TokioTimer::new(),
    tokio::spawn,
    tokio::time::sleep
);

fn main() {
    let args = Args::parse();
    if let Some(cpu) = args.child.cpu {
        pin_to_cpu(cpu);
    }
    let addr = || -> SocketAddr {
        let addr = args.child.addr.as_deref().expect("--addr");
        addr.parse().expect("--addr must be ip:port")
    };
    if let Some(kind) = args.child.serve.as_deref() {
        raise_nofile();
        let addr = args.child.addr.as_deref().unwrap_or("127.0.0.1:0");
        match kind {
            "spindle" => serve_spindle(addr),
            "spindle-uring" => serve_spindle_uring(addr),
            "spindle-mt" => serve_spindle_mt(addr),
            "tokio-mt" => serve_tokio_mt(addr),
            _ => serve_tokio(addr),
        }
    } else if args.keepalive_load {
        keepalive_load(addr(), args.conns, args.post_first, args.secs);
    } else if let Some(kind) = args.pool_load.as_deref() {
        raise_nofile();
        match kind {
            "spindle" => pool_load_spindle(addr(), args.conns, args.secs),
            _ => pool_load_tokio(addr(), args.conns, args.secs),
        }
    } else {
        parent::run(&args);
    }
}

/// The parent mode: runs the children, measures, and reports.
#[path = "hyper/parent.rs"]
mod parent;
