//! The closed-loop load generator: N connections, each sends a message,
//! waits for the whole echo, and sends the next.
//!
//! It does not use the spindle runtime (that is what is being measured):
//!
//! * up to [`THREAD_PER_CONN_MAX`] connections (and messages that fit a
//!   socket buffer): one plain thread per connection, blocking `write_all`
//!   then `read_exact`;
//! * above that: a few threads, each running an edge-triggered epoll loop
//!   over its share of the connections, through the bare
//!   `spindle::reactor::Poller`.
//!
//! Latencies go into a per-thread [`Histogram`], merged at the end.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use spindle::reactor::{Backend, Events, Interest, Poller, Token};

/// Up to this many connections, one blocking thread each.
pub const THREAD_PER_CONN_MAX: usize = 64;
/// Larger messages always use the epoll loop, which reads while it writes
/// (a blocking client writing a message bigger than the socket buffers
/// before reading would deadlock with the server).
const BLOCKING_SIZE_MAX: usize = 16 * 1024;
/// A blocking client gives up on a reply after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Each connection sends one request and, once answered, waits for the
/// others: so every connection is accepted and served once before the load
/// begins (a server accepting slowly is not starved by the connections it
/// already has).
const PRIME: u8 = 0;
const WARMUP: u8 = 1;
const MEASURE: u8 = 2;
const STOP: u8 = 3;

/// State shared by the main thread and the load threads.
struct Shared {
    phase: AtomicU8,
    /// Connections that have had their first reply.
    answered: AtomicUsize,
    /// Connections still working (not failed).
    live: AtomicUsize,
}

/// A running load: each connection has sent its first request.
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<Tally>>,
    /// Clones of the blocking clients' sockets, shut down to free a thread
    /// stuck waiting for a reply that will not come.
    unblock: Vec<TcpStream>,
}

/// What one load thread (or all, merged) counted in the measured window.
#[derive(Default)]
pub struct Tally {
    pub requests: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub hist: Histogram,
    /// The connections, kept open until the tally is dropped, so the
    /// server is sampled with all of them still there.
    pub streams: Vec<TcpStream>,
}

impl Tally {
    fn error(&mut self, shared: &Shared, what: String) {
        shared.live.fetch_sub(1, Relaxed);
        // Errors after the end (the server is killed then) do not count.
        if shared.phase.load(Relaxed) != STOP {
            self.errors += 1;
            self.first_error.get_or_insert(what);
        }
    }

    fn merge(&mut self, other: Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.hist.merge(&other.hist);
        self.streams.extend(other.streams);
    }
}

impl Load {
    /// Starts sending on every stream. `epoll_threads` is the number of
    /// threads used above [`THREAD_PER_CONN_MAX`] connections.
    pub fn start(streams: Vec<TcpStream>, size: usize, epoll_threads: usize) -> io::Result<Load> {
        let shared = Arc::new(Shared {
            phase: AtomicU8::new(PRIME),
            answered: AtomicUsize::new(0),
            live: AtomicUsize::new(streams.len()),
        });
        // A recognisable, non-constant pattern, so a mixed-up echo shows.
        let msg: Arc<[u8]> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let mut threads = Vec::new();
        let mut unblock = Vec::new();
        if streams.len() <= THREAD_PER_CONN_MAX && size <= BLOCKING_SIZE_MAX {
            for stream in streams {
                unblock.push(stream.try_clone()?);
                let (shared, msg) = (Arc::clone(&shared), Arc::clone(&msg));
                threads.push(spawn("load", move || {
                    blocking_client(stream, &msg, &shared)
                })?);
            }
        } else {
            let n = epoll_threads.min(streams.len()).max(1);
            let mut shares: Vec<Vec<TcpStream>> = (0..n).map(|_| Vec::new()).collect();
            for (i, stream) in streams.into_iter().enumerate() {
                shares[i % n].push(stream);
            }
            for share in shares {
                let (shared, msg) = (Arc::clone(&shared), Arc::clone(&msg));
                threads.push(spawn("load-epoll", move || {
                    epoll_client(share, &msg, &shared)
                })?);
            }
        }
        Ok(Load {
            shared,
            threads,
            unblock,
        })
    }

    /// Connections that have had at least one reply.
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Relaxed)
    }

    /// Connections that have not failed.
    pub fn live(&self) -> usize {
        self.shared.live.load(Relaxed)
    }

    /// Ends the first round: every connection starts sending in a loop.
    pub fn warm_up(&self) {
        self.shared.phase.store(WARMUP, Relaxed);
    }

    /// Starts the measured window.
    pub fn begin(&self) {
        self.shared.phase.store(MEASURE, Relaxed);
    }

    /// Ends the measured window: replies after this are not counted, and
    /// the threads stop sending.
    pub fn end(&self) {
        self.shared.phase.store(STOP, Relaxed);
    }

    /// Waits for the threads (after [`end`](Load::end)) and merges their tallies.
    pub fn finish(self) -> Tally {
        self.end();
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
        for stream in &self.unblock {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let mut total = Tally::default();
        for t in self.threads {
            match t.join() {
                Ok(tally) => total.merge(tally),
                Err(_) => {
                    total.errors += 1;
                    total
                        .first_error
                        .get_or_insert("a load thread panicked".into());
                }
            }
        }
        total
    }
}

fn spawn(name: &str, f: impl FnOnce() -> Tally + Send + 'static) -> io::Result<JoinHandle<Tally>> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(256 * 1024)
        .spawn(f)
}

/// Records one finished request.
fn completed(shared: &Shared, tally: &mut Tally, first: &mut bool, started: Instant) {
    let nanos = started.elapsed().as_nanos() as u64;
    if std::mem::take(first) {
        shared.answered.fetch_add(1, Relaxed);
    }
    if shared.phase.load(Relaxed) == MEASURE {
        tally.requests += 1;
        tally.hist.record(nanos);
    }
}

/// One connection, one thread, blocking calls.
fn blocking_client(mut stream: TcpStream, msg: &[u8], shared: &Shared) -> Tally {
    let mut tally = Tally::default();
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let mut buf = vec![0u8; msg.len()];
    let mut first = true;
    loop {
        match shared.phase.load(Relaxed) {
            STOP => break,
            PRIME if !first => {
                thread::sleep(Duration::from_millis(1));
                continue;
            }
            _ => {}
        }
        let started = Instant::now();
        let result = stream
            .write_all(msg)
            .and_then(|()| stream.read_exact(&mut buf));
        if let Err(e) = result {
            tally.error(shared, e.to_string());
            break;
        }
        if buf != msg {
            tally.error(shared, "the echo differs from the request".into());
            break;
        }
        completed(shared, &mut tally, &mut first, started);
    }
    tally.streams.push(stream);
    tally
}

/// One connection of an epoll loop.
struct Conn {
    stream: TcpStream,
    started: Instant,
    /// Bytes of the current request written, and of its echo read.
    written: usize,
    read: usize,
    first: bool,
    dead: bool,
    /// Answered in the first round, waiting for the warm-up to start.
    parked: bool,
}

/// Many connections, one thread, an edge-triggered epoll loop.
fn epoll_client(streams: Vec<TcpStream>, msg: &[u8], shared: &Shared) -> Tally {
    let mut tally = Tally::default();
    let poller = match Poller::with_backend(Backend::Epoll) {
        Ok(p) => p,
        Err(e) => {
            for _ in &streams {
                tally.error(shared, format!("load generator poller: {e}"));
            }
            tally.streams = streams;
            return tally;
        }
    };
    let mut conns = Vec::with_capacity(streams.len());
    for (i, stream) in streams.into_iter().enumerate() {
        let mut conn = Conn {
            stream,
            started: Instant::now(),
            written: 0,
            read: 0,
            first: true,
            dead: false,
            parked: false,
        };
        let setup = conn
            .stream
            .set_nonblocking(true)
            .and_then(|()| poller.add(conn.stream.as_raw_fd(), Token(i), Interest::BOTH));
        if let Err(e) = setup.and_then(|()| write_some(&mut conn, msg)) {
            tally.error(shared, e.to_string());
            conn.dead = true;
        }
        conns.push(conn);
    }
    let mut buf = vec![0u8; msg.len()];
    let mut events = Events::with_capacity(1024);
    let mut live = conns.iter().filter(|c| !c.dead).count();
    let mut parked = 0;
    while live > 0 && shared.phase.load(Relaxed) != STOP {
        let priming = shared.phase.load(Relaxed) == PRIME;
        if !priming && parked > 0 {
            parked = 0;
            for conn in conns.iter_mut().filter(|c| c.parked && !c.dead) {
                conn.parked = false;
                conn.started = Instant::now();
                if let Err(e) = write_some(conn, msg) {
                    let _ = poller.delete(conn.stream.as_fd());
                    conn.dead = true;
                    live -= 1;
                    tally.error(shared, e.to_string());
                }
            }
        }
        let timeout = Duration::from_millis(if priming { 2 } else { 50 });
        if let Err(e) = poller.wait(&mut events, Some(timeout)) {
            for _ in 0..live {
                tally.error(shared, format!("epoll_wait: {e}"));
            }
            break;
        }
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            if conn.dead {
                continue;
            }
            if let Err(e) = on_event(conn, msg, &mut buf, shared, &mut tally) {
                let _ = poller.delete(conn.stream.as_fd());
                conn.dead = true;
                live -= 1;
                tally.error(shared, e.to_string());
            }
            parked += conn.parked as usize;
        }
    }
    tally.streams = conns.into_iter().map(|c| c.stream).collect();
    tally
}

/// Writes as much of the current request as the socket takes.
fn write_some(conn: &mut Conn, msg: &[u8]) -> io::Result<()> {
    while conn.written < msg.len() {
        match (&conn.stream).write(&msg[conn.written..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Handles readiness on one connection: finish writing, read the echo, and
/// when it is complete, start the next request.
///
/// Edge-triggered rules: an event comes when new data arrives, so a read
/// that stops because the whole echo is in (rather than at `WouldBlock`)
/// misses nothing: the server sends nothing more until the next request,
/// and that reply's arrival is a new edge. This saves a `read` that would
/// fail with `WouldBlock` on every request.
fn on_event(
    conn: &mut Conn,
    msg: &[u8],
    buf: &mut [u8],
    shared: &Shared,
    tally: &mut Tally,
) -> io::Result<()> {
    let len = msg.len();
    if conn.parked {
        return Ok(());
    }
    loop {
        write_some(conn, msg)?;
        match (&conn.stream).read(&mut buf[..len - conn.read]) {
            Ok(0) => return Err(io::Error::other("the server closed the connection")),
            Ok(n) => {
                if buf[..n] != msg[conn.read..conn.read + n] {
                    return Err(io::Error::other("the echo differs from the request"));
                }
                conn.read += n;
                if conn.read == len {
                    completed(shared, tally, &mut conn.first, conn.started);
                    conn.written = 0;
                    conn.read = 0;
                    match shared.phase.load(Relaxed) {
                        STOP => return Ok(()),
                        PRIME => {
                            conn.parked = true;
                            return Ok(());
                        }
                        _ => {}
                    }
                    conn.started = Instant::now();
                    write_some(conn, msg)?;
                    if conn.written == len {
                        // Wait for the echo's edge.
                        return Ok(());
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A log-linear latency histogram in nanoseconds: exact below 64 ns, then
/// 32 buckets per power of two (about 3% wide). 2048 buckets reach 2^64.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: vec![0; 64 * SUB],
            total: 0,
        }
    }
}

impl Histogram {
    fn index(v: u64) -> usize {
        if v < 2 * SUB as u64 {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        shift as usize * SUB + (v >> shift) as usize
    }

    /// The smallest value and the width of bucket `i`.
    fn bucket(i: usize) -> (u64, u64) {
        if i < 2 * SUB {
            return (i as u64, 1);
        }
        let shift = (i / SUB - 1) as u32;
        let top = (i % SUB + SUB) as u64;
        (top << shift, 1 << shift)
    }

    pub fn record(&mut self, nanos: u64) {
        self.counts[Self::index(nanos)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The value below which a fraction `q` of the samples fall (the middle
    /// of its bucket), in nanoseconds; 0 if empty.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, width) = Self::bucket(i);
                return low as f64 + (width as f64 - 1.0) / 2.0;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_contiguous_and_contain_their_values() {
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = Histogram::index(v);
            let (low, width) = Histogram::bucket(i);
            assert!(
                low <= v && v - low < width,
                "{v} in bucket {i} = {low}+{width}"
            );
        }
    }
}
