//! An echo server on the bare reactor: no tasks, no futures, just epoll and
//! a callback per file descriptor.
//!
//! This is the `selectors` loop from the Python course notes, written with
//! spindle's [`Poller`]. The Python version:
//!
//! ```python
//! sel = selectors.DefaultSelector()               # Selector::new()
//!
//! def accept(server, mask):                       # accept_callback()
//!     conn, addr = server.accept()
//!     conn.setblocking(False)
//!     sel.register(conn, selectors.EVENT_READ, read)
//!
//! def read(conn, mask):                           # Connection::on_event()
//!     data = conn.recv(1024)
//!     if not data:
//!         sel.unregister(conn); conn.close(); return
//!     conn.send(data.upper())
//!
//! server.setblocking(False)
//! sel.register(server, selectors.EVENT_READ, accept)
//! while True:                                     # Selector::run()
//!     for key, mask in sel.select():
//!         callback = key.data
//!         callback(key.fileobj, mask)
//! ```
//!
//! Two things differ, and both are the point of this example:
//!
//! * **Edge-triggered.** Python's `selectors` uses epoll level-triggered: as
//!   long as a socket has unread data, every `select()` reports it again, so
//!   one `recv` per callback is enough. spindle's poller is edge-triggered
//!   (`EPOLLET`): it reports a socket when it *becomes* ready and then stays
//!   silent. So every callback reads (or accepts, or writes) until the call
//!   fails with `WouldBlock`, or it remembers that it stopped early. Stopping
//!   early and forgetting is the classic edge-triggered bug: the connection
//!   hangs forever.
//! * **Partial writes.** `conn.send(data)` in the Python version may send
//!   only part of `data` (the notes ignore the return value). Here each
//!   connection keeps a buffer of bytes not yet sent, and flushes it when the
//!   socket reports it is writable again.
//!
//! Run it, then talk to it from another terminal:
//!
//! ```text
//! cargo run --example raw_reactor -- [--addr 127.0.0.1:7001] [--upper] [--max-secs N]
//! nc 127.0.0.1 7001
//! ```
//!
//! `--upper` replies in upper case, as the Python server does; `--max-secs N`
//! stops the server after N seconds (handy in scripts and tests).

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use clap::Parser;
use spindle::reactor::{Event, Events, Interest, Poller, Token};

/// A connection stops reading once this many reply bytes wait to be sent, so
/// a client that sends but never reads cannot make the server buffer without
/// bound. It resumes reading when the backlog has been written out.
const MAX_PENDING: usize = 64 * 1024;

/// What a callback tells the loop after handling an event.
enum Next {
    /// Keep the registration: more events are expected.
    Keep,
    /// Unregister the descriptor and drop the callback (which closes it).
    Close,
}

/// A callback: Python's `key.data`. It owns its socket (Python passes the
/// socket in as `key.fileobj`; in Rust the closure simply captures it), and
/// gets the selector so it can register more descriptors, as `accept` does.
type Callback = Box<dyn FnMut(&mut Selector, &Event) -> Next>;

/// Python's `SelectorKey`: what the selector remembers for one registration.
struct Key {
    /// The descriptor, needed to unregister it from epoll.
    fd: RawFd,
    callback: Callback,
}

/// Python's `selectors.DefaultSelector`: the poller, plus the table that
/// maps each token the kernel hands back to the callback that handles it.
struct Selector {
    poller: Poller,
    keys: HashMap<Token, Key>,
    /// Tokens are never reused, so an event for a connection that was closed
    /// earlier in the same batch can never be mistaken for a newer one.
    next_token: usize,
}

impl Selector {
    fn new() -> io::Result<Selector> {
        Ok(Selector {
            poller: Poller::new()?,
            keys: HashMap::new(),
            next_token: 0,
        })
    }

    /// `sel.register(fileobj, events, data)`. The descriptor must already
    /// be non-blocking: after each edge we read or write until `WouldBlock`.
    fn register(&mut self, fd: RawFd, interest: Interest, callback: Callback) -> io::Result<Token> {
        let token = Token(self.next_token);
        self.next_token += 1;
        self.poller.add(fd, token, interest)?;
        self.keys.insert(token, Key { fd, callback });
        Ok(token)
    }

    /// `sel.select()` plus the dispatch loop, until `deadline` (if any).
    fn run(&mut self, deadline: Option<Instant>) -> io::Result<()> {
        // The kernel fills this buffer on each wait; it is reused, not reallocated.
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(());
                    }
                    Some(left)
                }
                None => None,
            };
            // `events = sel.select()`: block until something is ready.
            self.poller.wait(&mut events, timeout)?;
            for event in events.iter() {
                // `callback = key.data`. Take the key out of the table while
                // its callback runs, so the callback can borrow the selector
                // mutably (to register new connections).
                let token = event.token();
                let Some(mut key) = self.keys.remove(&token) else {
                    // Closed earlier in this batch: the event is stale.
                    continue;
                };
                // `callback(key.fileobj, mask)`
                match (key.callback)(self, event) {
                    Next::Keep => {
                        self.keys.insert(token, key);
                    }
                    Next::Close => {
                        // `sel.unregister(conn)` first, then `conn.close()`,
                        // which happens when the callback (owning the
                        // socket) is dropped.
                        // SAFETY: the callback in `key` owns the socket, so `key.fd` is open.
                        let _ = self
                            .poller
                            .delete(unsafe { BorrowedFd::borrow_raw(key.fd) });
                        drop(key);
                        println!("closed {token:?}");
                    }
                }
            }
        }
    }
}

/// The listener's callback: Python's `accept(server, mask)`.
///
/// Edge-triggered, so one event may stand for many pending connections:
/// accept until `WouldBlock`.
fn accept_callback(listener: TcpListener, upper: bool) -> Callback {
    Box::new(move |sel: &mut Selector, _event: &Event| {
        loop {
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(e) = add_connection(sel, stream, peer, upper) {
                        eprintln!("could not register {peer}: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // A client that gave up before we accepted it, or a signal.
                Err(e)
                    if e.kind() == io::ErrorKind::ConnectionAborted
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of descriptors, say. The pending connection stays
                    // queued and the next arrival brings a new edge.
                    eprintln!("accept failed: {e}");
                    break;
                }
            }
        }
        Next::Keep
    })
}

/// `conn.setblocking(False); sel.register(conn, ..., read)`.
fn add_connection(
    sel: &mut Selector,
    stream: TcpStream,
    peer: SocketAddr,
    upper: bool,
) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    let fd = stream.as_raw_fd();
    let mut conn = Connection {
        stream,
        upper,
        pending: Vec::new(),
        can_read: false,
        can_write: false,
        eof: false,
    };
    // Registered for both directions from the start: an edge-triggered
    // registration only reports what it was asked for, and we will need
    // "writable" as soon as a reply does not fit in the socket's buffer.
    // Data that arrived before this call is not lost: adding a descriptor
    // that is already ready produces an event at the next wait.
    let token = sel.register(
        fd,
        Interest::READABLE | Interest::WRITABLE,
        Box::new(move |_sel, event| conn.on_event(event)),
    )?;
    println!("accepted {peer} as {token:?}");
    Ok(())
}

/// One client connection: Python's `read(conn, mask)`, plus the state that
/// edge-triggering and partial writes require.
struct Connection {
    stream: TcpStream,
    upper: bool,
    /// Reply bytes the socket has not taken yet.
    pending: Vec<u8>,
    /// An edge said "readable" and we have not yet seen `WouldBlock`.
    can_read: bool,
    /// An edge said "writable" and we have not yet seen `WouldBlock`.
    can_write: bool,
    /// The client closed its sending side (`recv` returned 0 bytes).
    eof: bool,
}

impl Connection {
    fn on_event(&mut self, event: &Event) -> Next {
        // Remember what the edge told us: it will not be repeated.
        // (Errors and hang-ups are reported as readable and writable too;
        // the next read or write returns the error.)
        if event.is_readable() {
            self.can_read = true;
        }
        if event.is_writable() {
            self.can_write = true;
        }
        match self.pump() {
            Ok(()) if self.eof && self.pending.is_empty() => Next::Close,
            Ok(()) => Next::Keep,
            Err(e) => {
                if e.kind() != io::ErrorKind::ConnectionReset
                    && e.kind() != io::ErrorKind::BrokenPipe
                {
                    eprintln!("connection error: {e}");
                }
                Next::Close
            }
        }
    }

    /// Moves bytes until the socket says `WouldBlock` in each direction we
    /// need, or the connection is finished.
    fn pump(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            // 1. Send what is pending, while the socket takes it.
            while self.can_write && !self.pending.is_empty() {
                match self.stream.write(&self.pending) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    // A partial write is normal: keep the rest for later.
                    Ok(n) => {
                        self.pending.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.can_write = false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            // 2. Read more, unless the client is done, no edge is owed, or
            //    the backlog is full (then `can_read` stays true and we come
            //    back here after the next writable edge drains it).
            if self.eof || !self.can_read || self.pending.len() >= MAX_PENDING {
                return Ok(());
            }
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let data = &buf[..n];
                    if self.upper {
                        self.pending.extend(data.iter().map(u8::to_ascii_uppercase));
                    } else {
                        self.pending.extend_from_slice(data);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.can_read = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// An echo server on the bare reactor: a callback per file descriptor, no
/// tasks and no futures (the course notes' `selectors` loop).
#[derive(Parser, Debug)]
#[command(name = "raw_reactor")]
struct Args {
    /// The address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7001")]
    addr: String,
    /// Upper-case the replies (ASCII), like the course notes' server.
    #[arg(long)]
    upper: bool,
    /// Exit after N seconds (default: serve until killed).
    #[arg(long, value_name = "N")]
    max_secs: Option<u64>,
}

fn main() -> io::Result<()> {
    let args = Args::parse();

    // `server.bind(...); server.listen(...); server.setblocking(False)`
    let listener = match TcpListener::bind(&args.addr) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("raw_reactor: could not listen on {}: {e}", args.addr);
            std::process::exit(1);
        }
    };
    listener.set_nonblocking(true)?;
    let fd = listener.as_raw_fd();

    // `sel.register(server, selectors.EVENT_READ, accept)`
    let mut sel = Selector::new()?;
    let token = sel.register(
        fd,
        Interest::READABLE,
        accept_callback(listener, args.upper),
    )?;

    println!(
        "raw_reactor echoing on {} (listener is {token:?}, backend: {}){}",
        args.addr,
        sel.poller.backend(),
        if args.upper { ", upper-casing" } else { "" }
    );
    let deadline = args
        .max_secs
        .map(|s| Instant::now() + Duration::from_secs(s));
    sel.run(deadline)?;
    println!("--max-secs reached, exiting");
    Ok(())
}
