//! Pieces several models share, so each model's file shows only what makes
//! it different:
//!
//! * [`echo_blocking`]: serve one client with blocking calls (the loop
//!   server, the thread and the process per connection);
//! * [`Echo`]: the echo of one *non-blocking* connection, which must stop
//!   at `WouldBlock` and keep what the socket did not take yet (the busy
//!   loop and the three readiness loops);
//! * small policies: what to do when `accept` fails ([`accept_failed`]),
//!   which connection errors are worth a line ([`report`]), and counting
//!   connections refused at select's limit ([`Refusals`]).

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spindle::reactor::{Event, Interest};

/// Bytes asked for per `read`. The buffer lives on the stack for one call;
/// no connection keeps a buffer while it is idle.
pub const CHUNK: usize = 16 * 1024;

/// A non-blocking connection stops reading while this many echoed bytes
/// wait to be written, so a client that sends without reading cannot make
/// the server buffer without bound. Reading resumes once they are sent.
pub const MAX_PENDING: usize = 256 * 1024;

/// How long an accept loop pauses after an error such as "too many open
/// files", so that retrying does not spin: the pending connection stays
/// queued, and retrying at once would fail the same way.
const ACCEPT_PAUSE: Duration = Duration::from_millis(10);

/// Echoes one client with blocking calls until it closes its side.
///
/// Both phases of each read happen inside `read`: the calling thread sleeps
/// there until data arrives, then the kernel copies it into `buf`. Then
/// `write_all` may sleep too, until the client has read enough of the echo
/// to make room.
pub fn echo_blocking(mut stream: TcpStream) -> io::Result<()> {
    // An accepted socket does not inherit O_NONBLOCK on Linux; make sure.
    stream.set_nonblocking(false)?;
    let mut buf = [0u8; CHUNK];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buf[..n])?;
    }
}

/// Handles an `accept` failure in any accept loop.
///
/// A client that reset before we accepted it, or a signal, is skipped and
/// the caller may retry at once (returns `false`). Anything else (out of
/// descriptors, out of memory) is followed by a short pause (returns
/// `true`), so a loop that retries does not burn a core while the condition
/// lasts. It is logged at the 1st, 2nd, 4th, 8th... such failure, so a long
/// spell of them does not flood stderr.
pub fn accept_failed(e: &io::Error) -> bool {
    static FAILURES: AtomicU64 = AtomicU64::new(0);
    match e.kind() {
        ErrorKind::Interrupted | ErrorKind::ConnectionAborted | ErrorKind::WouldBlock => false,
        _ => {
            let n = FAILURES.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                eprintln!("accept failed ({n} so far): {e}");
            }
            std::thread::sleep(ACCEPT_PAUSE);
            true
        }
    }
}

/// Logs a connection's error, unless it is the ordinary way a client
/// leaves (it reset the connection, or closed before reading its echo).
pub fn report(e: &io::Error) {
    if !matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    ) {
        eprintln!("connection error: {e}");
    }
}

/// Counts connections closed at once because they could not be registered
/// (with select: a descriptor at or above 1024). The first refusal is
/// logged with its reason, then one short line at the 10th, 100th, 1000th...:
/// the log grows with the logarithm of the count, never per connection.
#[derive(Debug, Default)]
pub struct Refusals(u64);

impl Refusals {
    /// Counts one refused connection, whose registration failed with `e`.
    pub fn record(&mut self, e: &io::Error) {
        self.0 += 1;
        if self.0 == 1 {
            eprintln!("refusing a connection: {e}");
        } else if self.0.ilog10() != (self.0 - 1).ilog10() {
            eprintln!("refused {} connections so far", self.0);
        }
    }
}

/// The echo of one non-blocking connection.
///
/// It knows, for each direction, whether the socket is *believed* ready
/// (`can_read`, `can_write`): a direction stays believed ready until a call
/// says `WouldBlock`, and becomes so again when the caller learns it (a
/// readiness event, or simply "try again" in the busy loop). Between calls
/// it holds only the bytes read but not yet written back, usually none.
#[derive(Debug)]
pub struct Echo {
    /// Echo bytes the socket has not taken yet, oldest first.
    pending: Vec<u8>,
    /// The client closed its sending side: nothing more will be read.
    eof: bool,
    /// A read may return data: no `WouldBlock` since the last readiness.
    pub can_read: bool,
    /// A write may be taken: no `WouldBlock` since the last readiness.
    pub can_write: bool,
}

impl Echo {
    /// A new connection: not known to be readable yet, believed writable
    /// (a fresh socket's send buffer is empty).
    pub fn new() -> Echo {
        Echo {
            pending: Vec::new(),
            eof: false,
            can_read: false,
            can_write: true,
        }
    }

    /// Takes in a readiness event. Errors and hang-ups count as both
    /// directions: the next call reports them.
    pub fn on_event(&mut self, event: &Event) {
        let trouble = event.is_error() || event.is_read_closed() || event.is_write_closed();
        self.can_read |= event.is_readable() || trouble;
        self.can_write |= event.is_writable() || trouble;
    }

    /// Moves bytes until every direction it needs says `WouldBlock`, the
    /// client has closed, or the backlog is full. Returns how many bytes
    /// were read (0: no progress).
    pub fn pump(&mut self, stream: &mut TcpStream) -> io::Result<usize> {
        let mut buf = [0u8; CHUNK];
        let mut read = 0;
        loop {
            self.flush(stream)?;
            if self.eof || !self.can_read || self.pending.len() >= MAX_PENDING {
                return Ok(read);
            }
            match stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    read += n;
                    let data = &buf[..n];
                    // Nothing queued: answer straight from the stack buffer
                    // and keep only what the socket did not take.
                    let sent = if self.pending.is_empty() {
                        write_now(stream, data, &mut self.can_write)?
                    } else {
                        0
                    };
                    self.pending.extend_from_slice(&data[sent..]);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.can_read = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes queued bytes while the socket takes them; frees the queue's
    /// memory once it is empty.
    fn flush(&mut self, stream: &mut TcpStream) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let sent = write_now(stream, &self.pending, &mut self.can_write)?;
        if sent == self.pending.len() {
            self.pending = Vec::new();
        } else {
            self.pending.drain(..sent);
        }
        Ok(())
    }

    /// The client is gone and everything was echoed: close the connection.
    pub fn finished(&self) -> bool {
        self.eof && self.pending.is_empty()
    }

    /// After [`pump`](Echo::pump): the readiness to wait for next. Readable
    /// if a read said `WouldBlock` (and the client has not closed);
    /// writable if echo bytes are queued. `None` only once
    /// [`finished`](Echo::finished).
    pub fn wants(&self) -> Option<Interest> {
        let read = (!self.eof && !self.can_read).then_some(Interest::READABLE);
        let write = (!self.pending.is_empty()).then_some(Interest::WRITABLE);
        match (read, write) {
            (Some(r), Some(w)) => Some(r | w),
            (r, w) => r.or(w),
        }
    }
}

/// Writes as much of `data` as the socket takes without waiting; clears
/// `can_write` on `WouldBlock`. Returns how many bytes went out.
fn write_now(stream: &mut TcpStream, data: &[u8], can_write: &mut bool) -> io::Result<usize> {
    let mut sent = 0;
    while *can_write && sent < data.len() {
        match stream.write(&data[sent..]) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => *can_write = false,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}
