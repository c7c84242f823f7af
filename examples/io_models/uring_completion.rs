//! Asynchronous IO (异步IO) by hand: one thread, one io_uring, and a loop
//! of completions, with no runtime (as `epoll.rs` is readiness by hand).
//!
//! The notes' fifth model: the program asks the kernel to *read into this
//! buffer* and goes on; the kernel waits for the data (phase 1) and copies
//! it (phase 2) on its own, then posts a completion. The program never
//! calls `recv` or `send`: it writes requests into the submission ring and
//! reads results from the completion ring, and one `io_uring_enter` per
//! loop turn hands over every new request and sleeps until results come.
//!
//! # Where it blocks
//!
//! ```text
//!  server (one thread)                           kernel
//!  ───────────────────                           ──────
//!  SQ += RECV{A, bufA}, RECV{B, bufB}, ...
//!  io_uring_enter(submit all, wait 1) ─────────▶ start every request       ┐
//!      │  blocked: waiting for ANY completion    A's data arrives:         │ phase 1
//!      │                                         copy into bufA            │ phase 2
//!      │                                         CQ += {A, n}              ┘ (both the kernel's)
//!  enter returns ◀──────────────────────────────
//!  CQ: {A, n} -> SQ += SEND{A, bufA[..n]}        (the same buffer goes back out)
//!  io_uring_enter(submit, wait 1) ...
//! ```
//!
//! Each connection has exactly one request in flight (a receive, or a send
//! of what was received), and owns one buffer the kernel may write into
//! while the request is in flight: so a connection is only dropped, and its
//! buffer freed, when it has no request in the kernel.
//!
//! Built on `spindle::reactor::uring`, the raw rings the runtime's own
//! completion driver (`spindle::uring`) uses.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use slab::Slab;
use spindle::reactor::uring::*;

use super::common::{report, CHUNK};

/// The `user_data` of the accept request; connections use their slab key.
const ACCEPT: u64 = u64::MAX;
/// Requests the submission ring holds.
const ENTRIES: u32 = 4096;

/// One connection: its socket, its buffer, and what its request is doing.
struct Conn {
    fd: OwnedFd,
    buf: Box<[u8]>,
    /// While sending: bytes of `buf` received, and sent so far.
    sending: Option<(usize, usize)>,
}

fn recv(key: usize, conn: &mut Conn) -> Sqe {
    Sqe {
        opcode: IORING_OP_RECV,
        fd: conn.fd.as_raw_fd(),
        addr: conn.buf.as_mut_ptr() as u64,
        len: conn.buf.len() as u32,
        user_data: key as u64,
        ..Sqe::default()
    }
}

fn send(key: usize, conn: &Conn, from: usize, to: usize) -> Sqe {
    Sqe {
        opcode: IORING_OP_SEND,
        fd: conn.fd.as_raw_fd(),
        addr: conn.buf[from..].as_ptr() as u64,
        len: (to - from) as u32,
        op_flags: libc::MSG_NOSIGNAL as u32,
        user_data: key as u64,
        ..Sqe::default()
    }
}

fn accept(listener: RawFd) -> Sqe {
    Sqe {
        opcode: IORING_OP_ACCEPT,
        fd: listener,
        op_flags: (libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK) as u32,
        user_data: ACCEPT,
        ..Sqe::default()
    }
}

/// Serves the echo protocol with a hand-written io_uring completion loop,
/// forever.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let setups = [
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    ];
    let Ring {
        fd: ring,
        sq,
        mut cq,
        ..
    } = Ring::new(
        ENTRIES,
        &setups,
        IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP,
    )
    .map_err(|e| io::Error::new(e.kind(), format!("io_uring refused: {e}")))?;
    // The ring, and a backlog for requests that do not fit yet.
    let mut sub = SqQueue::new(sq);
    let mut conns: Slab<Conn> = Slab::new();
    let lfd = listener.as_raw_fd();
    // SAFETY: an accept with no address buffer names no memory of ours.
    unsafe { sub.push(accept(lfd)) };
    loop {
        sub.refill();
        // Submit everything new, run the kernel's completion work, and
        // sleep until at least one completion is there.
        enter(
            &ring,
            sub.ring().unsubmitted(),
            1,
            IORING_ENTER_GETEVENTS,
            None,
        )?;
        let mut closed = Vec::new();
        let mut next = Vec::new();
        cq.drain(|cqe| {
            let (data, res) = (cqe.user_data, cqe.res);
            if data == ACCEPT {
                if res >= 0 {
                    // SAFETY: accept created this descriptor; we own it now.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    let entry = conns.vacant_entry();
                    let key = entry.key();
                    let conn = entry.insert(Conn {
                        fd,
                        buf: vec![0u8; CHUNK].into_boxed_slice(),
                        sending: None,
                    });
                    next.push(recv(key, conn));
                } else {
                    report(&io::Error::from_raw_os_error(-res));
                }
                next.push(accept(lfd));
                return true;
            }
            let key = data as usize;
            let conn = &mut conns[key];
            match (conn.sending, res) {
                (_, res) if res < 0 => {
                    report(&io::Error::from_raw_os_error(-res));
                    closed.push(key);
                }
                (None, 0) => closed.push(key), // the client closed its side
                (None, n) => {
                    conn.sending = Some((n as usize, 0));
                    next.push(send(key, conn, 0, n as usize));
                }
                (Some((len, sent)), n) => {
                    let sent = sent + n as usize;
                    if sent < len {
                        conn.sending = Some((len, sent));
                        next.push(send(key, conn, sent, len));
                    } else {
                        conn.sending = None;
                        next.push(recv(key, conn));
                    }
                }
            }
            true
        });
        for key in closed {
            // Its request completed and no other is in flight: the kernel
            // no longer uses its buffer.
            conns.remove(key);
        }
        for sqe in next {
            // SAFETY: each request names a buffer of a live connection,
            // which stays until this request completes (a connection is
            // dropped only after its one request completed).
            unsafe { sub.push(sqe) };
        }
    }
}
