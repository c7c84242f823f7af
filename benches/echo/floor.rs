//! The floor: echo servers with no runtime at all, to show how much of a
//! server's CPU per request any runtime can still save.
//!
//! Both run one thread per worker, each with its own `SO_REUSEPORT`
//! listener on the same address (the kernel spreads the connections), so
//! nothing crosses between threads: no queue, no task, no waker, no wake
//! of another thread.
//!
//! * `raw-epoll-mt`: each thread an edge-triggered epoll loop on spindle's
//!   bare readiness layer (`spindle::reactor::Poller`, as the IO models'
//!   `epoll` uses), over non-blocking std sockets: `epoll_wait`, then per
//!   ready socket one `recv` (a second only if the first filled the
//!   buffer) and one `send`. This is the least work a readiness server
//!   does per request.
//! * `raw-uring-mt`: each thread the hand-written io_uring loop of the IO
//!   models (`examples/io_models/uring_completion.rs`): a receive, then a
//!   send of what came, per connection, one `io_uring_enter` per turn.
//!
//! Measured beside `tokio-mt` and spindle's servers (`--flavor floor`),
//! they show what is the kernel's (the loopback TCP work every server
//! pays) and what is a runtime's own.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

use spindle::net::TcpSocket;
use spindle::reactor::{Backend, Events, Interest, Poller, Token};

#[path = "../../examples/io_models/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../examples/io_models/uring_completion.rs"]
mod uring_completion;

/// Bytes read at once (a request is 64).
const BUF: usize = 4096;

/// `raw-epoll-mt`: `threads` epoll loops on `addr`.
pub fn serve_raw_epoll(addr: &str, threads: usize) {
    serve_threads(addr, threads, epoll_loop)
}

/// `raw-uring-mt`: `threads` io_uring loops on `addr`.
pub fn serve_raw_uring(addr: &str, threads: usize) {
    serve_threads(addr, threads, uring_completion::serve)
}

/// Binds one listener per thread, announces the address, and runs
/// `serve` on each listener in a thread of its own, forever.
fn serve_threads(addr: &str, threads: usize, serve: fn(TcpListener) -> io::Result<()>) {
    let addr: SocketAddr = addr.parse().expect("--addr must be ip:port");
    let first = reuseport_listener(addr).expect("bind");
    let addr = first.local_addr().expect("local_addr");
    let mut listeners = vec![first];
    for _ in 1..threads.max(1) {
        listeners.push(reuseport_listener(addr).expect("bind"));
    }
    super::servers::announce(addr);
    let handles: Vec<_> = listeners
        .into_iter()
        .map(|listener| std::thread::spawn(move || serve(listener)))
        .collect();
    for handle in handles {
        if let Ok(Err(e)) = handle.join() {
            eprintln!("raw server: {e}");
        }
    }
}

/// A listening socket on `addr` with `SO_REUSEPORT`, so several may share
/// the address (blocking: the io_uring loop's accept waits in the ring;
/// the epoll loop makes its own non-blocking). Its options and its bind
/// are spindle's `TcpSocket`'s, which need no runtime; `listen` is called
/// here, since `TcpSocket::listen` registers with a runtime.
fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    // SAFETY: `into_raw_fd` gave the descriptor up: it is ours alone.
    let fd = unsafe { OwnedFd::from_raw_fd(socket.into_raw_fd()) };
    // SAFETY: listen(2) on a descriptor we own takes only it and a number.
    if unsafe { libc::listen(fd.as_raw_fd(), 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let listener = TcpListener::from(fd);
    listener.set_nonblocking(false)?;
    Ok(listener)
}

/// One thread's epoll loop: accept, and echo what each ready connection
/// sent, until an error on the listener or the epoll instance. Tokens are
/// descriptors, the listener's among them.
fn epoll_loop(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let poller = Poller::with_backend(Backend::Epoll)?;
    let listener_token = Token(listener.as_raw_fd() as usize);
    poller.add(listener.as_raw_fd(), listener_token, Interest::READABLE)?;
    // Connections by descriptor (each descriptor is in the map while open).
    let mut conns: HashMap<RawFd, TcpStream> = HashMap::new();
    let mut events = Events::with_capacity(256);
    let mut buf = vec![0u8; BUF];
    loop {
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.token() == listener_token {
                accept_all(&listener, &poller, &mut conns)?;
                continue;
            }
            let fd = event.token().0 as RawFd;
            let Some(stream) = conns.get_mut(&fd) else {
                continue;
            };
            if !echo(stream, &mut buf) {
                // Closing the descriptor removes it from the epoll set.
                conns.remove(&fd);
            }
        }
    }
}

/// Accepts every pending connection (edge-triggered: until `WouldBlock`).
fn accept_all(
    listener: &TcpListener,
    poller: &Poller,
    conns: &mut HashMap<RawFd, TcpStream>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                let fd = stream.as_raw_fd();
                poller.add(fd, Token(fd as usize), Interest::READABLE)?;
                conns.insert(fd, stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A connection that failed before we took it (reset), or no
            // descriptors left: skip it, as a server would.
            Err(e) => {
                eprintln!("accept: {e}");
                return Ok(());
            }
        }
    }
}

/// Echoes what `stream` has (edge-triggered: until a short read or
/// `WouldBlock`). False once the connection ended or failed.
fn echo(stream: &mut TcpStream, buf: &mut [u8]) -> bool {
    loop {
        match stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                if !send_all(stream, &buf[..n]) {
                    return false;
                }
                // A short read emptied the socket: the next data is a new
                // edge.
                if n < buf.len() {
                    return true;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// Writes all of `data`. A full send buffer (never reached by the echo
/// benchmark's one request in flight per connection) is waited out in a
/// blocking write, so nothing is lost; the floor's loop stays simple.
fn send_all(stream: &mut TcpStream, data: &[u8]) -> bool {
    match stream.write(data) {
        Ok(n) if n == data.len() => true,
        Ok(n) => blocking_send(stream, &data[n..]),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => blocking_send(stream, data),
        Err(_) => false,
    }
}

fn blocking_send(stream: &mut TcpStream, data: &[u8]) -> bool {
    let sent = stream.set_nonblocking(false).is_ok() && stream.write_all(data).is_ok();
    sent && stream.set_nonblocking(true).is_ok()
}
