//! The floor: echo servers with no runtime at all, to show how much of a
//! server's CPU per request any runtime can still save.
//!
//! Both run one thread per worker, each with its own `SO_REUSEPORT`
//! listener on the same address (the kernel spreads the connections), so
//! nothing crosses between threads: no queue, no task, no waker, no wake
//! of another thread.
//!
//! * `raw-epoll-mt`: each thread an edge-triggered `epoll` loop of plain
//!   system calls: `epoll_wait`, then per ready socket one `recv` (a
//!   second only if the first filled the buffer) and one `send`. This is
//!   the least work a readiness server does per request.
//! * `raw-uring-mt`: each thread the hand-written io_uring loop of the IO
//!   models (`examples/io_models/uring_completion.rs`): a receive, then a
//!   send of what came, per connection, one `io_uring_enter` per turn.
//!
//! Measured beside `tokio-mt` and spindle's servers (`--flavor floor`),
//! they show what is the kernel's (the loopback TCP work every server
//! pays) and what is a runtime's own.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

#[path = "../../examples/io_models/common.rs"]
#[allow(dead_code)]
mod common;
#[path = "../../examples/io_models/uring_completion.rs"]
mod uring_completion;

/// The `epoll` token of the listener; connections use their descriptor.
const LISTENER: u64 = u64::MAX;
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
/// the epoll loop makes its own non-blocking).
fn reuseport_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let SocketAddr::V4(v4) = addr else {
        return Err(io::Error::other("the raw servers take an IPv4 address"));
    };
    // SAFETY: socket(2) with constant arguments; the result is checked
    // before it is owned.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let on: libc::c_int = 1;
    for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
        // SAFETY: `on` is a live c_int of the length passed; `fd` is open.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const on).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a live sockaddr_in of the length passed; `fd` is
    // open. listen(2) takes only the descriptor and a number.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sin).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::listen(fd.as_raw_fd(), 4096) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpListener::from(fd))
}

/// Watches `fd` for input, edge-triggered, under `token`.
fn watch(ep: &OwnedFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        u64: token,
    };
    // SAFETY: `event` is a live epoll_event; both descriptors are open.
    if unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One thread's epoll loop: accept, and echo what each ready connection
/// sent, until an error on the listener or the epoll instance.
fn epoll_loop(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    // SAFETY: epoll_create1 with a constant flag; checked before owned.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if ep < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nothing else owns.
    let ep = unsafe { OwnedFd::from_raw_fd(ep) };
    watch(&ep, listener.as_raw_fd(), LISTENER)?;
    // Connections by descriptor (each descriptor is in the map while open).
    let mut conns: std::collections::HashMap<RawFd, TcpStream> = Default::default();
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut buf = vec![0u8; BUF];
    loop {
        // SAFETY: `events` is a live array of the length passed.
        let n = unsafe {
            libc::epoll_wait(
                ep.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                -1,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events[..n as usize] {
            let token = event.u64;
            if token == LISTENER {
                accept_all(&listener, &ep, &mut conns)?;
                continue;
            }
            let fd = token as RawFd;
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
    ep: &OwnedFd,
    conns: &mut std::collections::HashMap<RawFd, TcpStream>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(true)?;
                let fd = stream.as_raw_fd();
                watch(ep, fd, fd as u64)?;
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
