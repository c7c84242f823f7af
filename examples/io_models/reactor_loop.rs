//! The readiness loop behind the `select`, `poll` and `epoll` models (IO多路复用),
//! written once and run on whichever [`Backend`] it is given.
//!
//! It is the `selectors` loop of the notes: a table from each registered
//! descriptor to its callback, and a loop that waits for readiness and
//! calls the callbacks of the descriptors that are ready.
//!
//! ```python
//! sel = selectors.DefaultSelector()
//! sel.register(server, selectors.EVENT_READ, accept)   # callback per fd
//! while True:
//!     for key, mask in sel.select():                   # block: phase 1
//!         key.data(key.fileobj, mask)                  # recv/send: phase 2
//! ```
//!
//! Here the table is a `HashMap<Token, Key>`, the wait is
//! [`Poller::wait`], and the callbacks are boxed closures that own their
//! socket. `select.rs`, `poll.rs` and `epoll.rs` only choose the backend and
//! explain it.
//!
//! # Arming: the one thing the backends make us do differently
//!
//! spindle's poller reports one event per change of readiness on every
//! backend, but re-arms differently ([`Poller::is_edge_triggered`]):
//!
//! * **epoll** (edge-triggered): a registration stays armed. Each callback
//!   reads (and writes) until `WouldBlock`, or remembers that it stopped
//!   early; the next edge comes when new data (or room) arrives. A
//!   connection is registered for both directions once, never modified.
//! * **select, poll** (level-triggered underneath): a reported direction is
//!   disarmed until `modify` arms it again. After each callback the loop
//!   re-arms exactly what the connection now waits for (readable after a
//!   read said `WouldBlock`, writable while echo bytes are queued), as the
//!   callback's [`Next::Keep`] says.
//!
//! # Limits
//!
//! With select, a descriptor numbered 1024 or more cannot be registered.
//! Such a connection is closed at once (the client reads end-of-stream)
//! and counted; the others are served as before.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use spindle::reactor::{Backend, Event, Events, Interest, Poller, Token};

use super::common::{accept_failed, report, Echo, Refusals};

/// What a callback asks of the loop after handling an event.
enum Next {
    /// Keep the registration. On a level-triggered backend, arm it for
    /// this interest again.
    Keep(Interest),
    /// Keep it and re-arm it on every backend: the callback stopped before
    /// `WouldBlock` (accept ran out of descriptors), so even epoll must be
    /// asked to report the still-ready descriptor again.
    Retry(Interest),
    /// Unregister the descriptor and drop the callback, closing its socket.
    Close,
}

/// Python's `key.data`: owns its socket; gets the selector so that the
/// listener's callback can register the connections it accepts.
type Callback = Box<dyn FnMut(&mut Selector, &Event) -> Next>;

/// Python's `SelectorKey`: the descriptor (to modify and unregister it) and
/// its callback.
struct Key {
    fd: RawFd,
    callback: Callback,
}

/// Python's `selectors.DefaultSelector`, on a chosen backend.
struct Selector {
    poller: Poller,
    /// `poller.is_edge_triggered()`, asked once.
    edge: bool,
    keys: HashMap<Token, Key>,
    /// Tokens are never reused, so a stale event (for a connection closed
    /// earlier in the same batch) cannot reach a newer connection.
    next_token: usize,
}

/// Serves the echo protocol on `listener` with a readiness loop on
/// `backend`, forever. Fails only if the poller cannot be created or
/// waiting on it fails.
pub fn reactor_loop(backend: Backend, listener: TcpListener) -> io::Result<()> {
    // `server.setblocking(False)`: accept until WouldBlock in the callback.
    listener.set_nonblocking(true)?;
    let mut sel = Selector {
        poller: Poller::with_backend(backend)?,
        edge: false,
        keys: HashMap::new(),
        next_token: 0,
    };
    sel.edge = sel.poller.is_edge_triggered();
    let fd = listener.as_raw_fd();
    // `sel.register(server, selectors.EVENT_READ, accept)`
    sel.register(fd, Interest::READABLE, accept_callback(listener))?;
    sel.run()
}

impl Selector {
    /// `sel.register(fileobj, events, data)`. If the poller refuses the
    /// descriptor, the callback (and the socket it owns) is dropped.
    fn register(&mut self, fd: RawFd, interest: Interest, callback: Callback) -> io::Result<()> {
        let token = Token(self.next_token);
        self.next_token += 1;
        self.poller.add(fd, token, interest)?;
        self.keys.insert(token, Key { fd, callback });
        Ok(())
    }

    /// `conn.setblocking(False); sel.register(conn, ..., read)`.
    fn add_connection(&mut self, stream: TcpStream) -> io::Result<()> {
        stream.set_nonblocking(true)?;
        // Edge-triggered: both directions once and for all (we will need
        // "writable" when an echo does not fit). Level-triggered: what we
        // wait for now; writable is armed only while bytes are queued.
        let interest = if self.edge {
            Interest::BOTH
        } else {
            Interest::READABLE
        };
        let fd = stream.as_raw_fd();
        self.register(fd, interest, connection_callback(stream))
    }

    /// `while True: for key, mask in sel.select(): key.data(...)`.
    fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        loop {
            // Phase 1 for every socket at once: the thread sleeps here.
            self.poller.wait(&mut events, None)?;
            for event in events.iter() {
                let token = event.token();
                // Out of the table while its callback runs, so the callback
                // may borrow the selector.
                let Some(mut key) = self.keys.remove(&token) else {
                    continue; // closed earlier in this batch
                };
                // SAFETY: the callback in `key` owns the socket, so `key.fd` is open.
                let fd = unsafe { BorrowedFd::borrow_raw(key.fd) };
                let rearm = match (key.callback)(self, event) {
                    Next::Close => {
                        // Unregister, then close (dropping `key` closes).
                        let _ = self.poller.delete(fd);
                        continue;
                    }
                    Next::Keep(_) if self.edge => None,
                    Next::Keep(interest) | Next::Retry(interest) => Some(interest),
                };
                if let Some(interest) = rearm {
                    if let Err(e) = self.poller.modify(fd, token, interest) {
                        eprintln!("could not re-arm a descriptor: {e}");
                        let _ = self.poller.delete(fd);
                        continue;
                    }
                }
                self.keys.insert(token, key);
            }
        }
    }
}

/// The listener's callback: Python's `accept(server, mask)`, accepting
/// until `WouldBlock` (one event may stand for many clients).
fn accept_callback(listener: TcpListener) -> Callback {
    let mut refused = Refusals::default();
    Box::new(move |sel: &mut Selector, _event: &Event| loop {
        match listener.accept() {
            Ok((stream, _peer)) => {
                // Select's limit, typically: the stream was dropped (closed).
                if let Err(e) = sel.add_connection(stream) {
                    refused.record(&e);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Next::Keep(Interest::READABLE),
            Err(e) => {
                if accept_failed(&e) {
                    // Paused; the client is still queued: report it again.
                    return Next::Retry(Interest::READABLE);
                }
            }
        }
    })
}

/// A connection's callback: Python's `read(conn, mask)`, which here also
/// sends queued echo bytes when the socket becomes writable.
fn connection_callback(mut stream: TcpStream) -> Callback {
    let mut echo = Echo::new();
    Box::new(move |_sel: &mut Selector, event: &Event| {
        echo.on_event(event);
        // Phase 2: `read` copies what the kernel has.
        if let Err(e) = echo.pump(&mut stream) {
            report(&e);
            return Next::Close;
        }
        match echo.wants() {
            Some(interest) => Next::Keep(interest),
            None => Next::Close,
        }
    })
}
