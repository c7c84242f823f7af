//! Signal-driven IO (信号驱动IO): the kernel *tells* the server that a socket
//! became ready, with a signal, instead of the server asking.
//!
//! Each socket is put in `O_ASYNC` mode with an owner (`F_SETOWN_EX`, this
//! thread) and a real-time signal (`F_SETSIG`). When data arrives, or room
//! appears after a write was refused, the kernel queues that signal with
//! the socket's descriptor in it (`si_fd`) and the event (`si_band`). The
//! copy, phase 2, is still the server's: `recv` after the signal, exactly as
//! after an `epoll_wait`.
//!
//! # Where it blocks
//!
//! ```text
//!  server (one thread)                          kernel
//!  ───────────────────                          ──────
//!  fcntl(A, F_SETSIG, SIGRTMIN+1), O_ASYNC ───▶ A: signal its owner on IO
//!
//!  read(signalfd) ────────────────────────────▶ no signal queued          ┐
//!      │  blocked: waiting for ANY signal       B's data arrives:         │ phase 1
//!      │                                        queue SIGRTMIN+1 {fd: B}  ┘
//!  read returns [{fd: B, band: POLLIN}] ◀────── take the queued signals
//!  recv(B) ... until EWOULDBLOCK ─────────────▶ copy kernel → buffer      ┐ phase 2
//!  recv returns n ◀──────── n bytes ─────────── done                      ┘
//! ```
//!
//! # Why a signalfd, not a handler
//!
//! The notes warn that a signal handler may run in the middle of anything,
//! so it can do almost nothing safely. Here the signals are *blocked* and
//! taken synchronously: they stay queued until the loop reads them from a
//! `signalfd`, as if from a socket. That is the same program shape as the
//! readiness loops, with the readiness list arriving as signals.
//!
//! # Why it is rare
//!
//! * **One signal per event.** Every arrival of data queues a signal (a
//!   socket's readiness *edges*, like `EPOLLET`); the kernel merges
//!   nothing, so a busy socket costs a queued signal per packet, where epoll
//!   reports it once per wait.
//! * **The queue is bounded.** Real-time signals queue up to
//!   `RLIMIT_SIGPENDING`; past that the kernel sends a plain `SIGIO`, which
//!   says *something* is ready but not what. The loop must then try every
//!   connection, as the busy-polling model does. This server does exactly
//!   that when it reads a `SIGIO`.
//! * **The signal arrives after the readiness.** A connection accepted
//!   before its `O_ASYNC` was set may already hold data that will never be
//!   signalled, so each new connection is tried once right away.
//! * A signal, a descriptor owner and a mode per socket: three `fcntl`s
//!   per connection, against one `epoll_ctl`.

use std::collections::HashMap;
use std::io::{self, ErrorKind};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::common::{accept_failed, report, Echo};

// Linux's fcntl commands for signal-driven IO, which the libc crate does
// not export (values from <asm-generic/fcntl.h>).
const F_SETSIG: libc::c_int = 10;
const F_SETOWN_EX: libc::c_int = 15;
const F_OWNER_TID: libc::c_int = 0;

/// `struct f_owner_ex`: whom `F_SETOWN_EX` sends a descriptor's signals to.
#[repr(C)]
struct FOwnerEx {
    kind: libc::c_int,
    pid: libc::pid_t,
}

/// The real-time signal the sockets raise.
fn io_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// Serves the echo protocol with a signal-driven loop, forever.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    listener.set_nonblocking(true)?;
    let signals = SignalQueue::new()?;
    signals.own(listener.as_raw_fd())?;
    let mut conns: HashMap<RawFd, (TcpStream, Echo)> = HashMap::new();
    // Connections that were already waiting before the listener was set up.
    accept_all(&listener, &signals, &mut conns);
    let mut batch = Vec::new();
    loop {
        signals.wait(&mut batch)?; // phase 1: blocked until a signal comes
        for &signal in &batch {
            match signal {
                Signal::Ready(fd) if fd == listener.as_raw_fd() => {
                    accept_all(&listener, &signals, &mut conns)
                }
                Signal::Ready(fd) => serve_one(&mut conns, fd),
                Signal::Overflow => {
                    // The kernel lost track: try every socket, once.
                    accept_all(&listener, &signals, &mut conns);
                    let fds: Vec<RawFd> = conns.keys().copied().collect();
                    for fd in fds {
                        serve_one(&mut conns, fd);
                    }
                }
            }
        }
    }
}

/// Accepts every pending connection, puts it in signal-driven mode and
/// tries it once (data may have come before the signals were set up).
fn accept_all(
    listener: &TcpListener,
    signals: &SignalQueue,
    conns: &mut HashMap<RawFd, (TcpStream, Echo)>,
) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                let fd = stream.as_raw_fd();
                if let Err(e) = signals.own(fd) {
                    report(&e);
                    continue; // dropping the stream closes it
                }
                conns.insert(fd, (stream, Echo::new()));
                serve_one(conns, fd);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) => {
                if accept_failed(&e) {
                    // Out of descriptors: no new signal will come for the
                    // connections still queued, so the next overflow or
                    // connection retries.
                    return;
                }
            }
        }
    }
}

/// Phase 2 for one connection: echo until `WouldBlock`; close it when the
/// client is done or failed. A signal for a descriptor already closed (it
/// was queued before the close) finds nothing and is ignored.
fn serve_one(conns: &mut HashMap<RawFd, (TcpStream, Echo)>, fd: RawFd) {
    let Some((stream, echo)) = conns.get_mut(&fd) else {
        return;
    };
    // A signal says "something changed": try both directions.
    echo.can_read = true;
    echo.can_write = true;
    let close = match echo.pump(stream) {
        Ok(_) => echo.finished(),
        Err(e) => {
            report(&e);
            true
        }
    };
    if close {
        conns.remove(&fd);
    }
}

/// One signal taken from the queue.
#[derive(Copy, Clone, Debug)]
enum Signal {
    /// The real-time signal of one socket: its descriptor.
    Ready(RawFd),
    /// A plain `SIGIO`: the real-time queue overflowed.
    Overflow,
}

/// The server thread's IO signals, blocked and read from a `signalfd`.
struct SignalQueue {
    fd: OwnedFd,
}

impl SignalQueue {
    /// Blocks the IO signal and `SIGIO` on this thread (so they queue
    /// instead of running a handler or killing the process) and opens a
    /// signalfd that reads them.
    fn new() -> io::Result<SignalQueue> {
        // SAFETY: sigemptyset/sigaddset only write the set we own; the
        // signal numbers are valid.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, io_signal());
            libc::sigaddset(&mut set, libc::SIGIO);
            set
        };
        // SAFETY: a valid set; the old mask is not wanted.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        // SAFETY: -1 asks for a new signalfd; `set` is valid.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(SignalQueue { fd })
    }

    /// Puts `fd` in signal-driven mode: non-blocking, `O_ASYNC`, its
    /// signals sent to this thread as the real-time IO signal.
    fn own(&self, fd: RawFd) -> io::Result<()> {
        let owner = FOwnerEx {
            kind: F_OWNER_TID,
            // SAFETY: gettid has no preconditions.
            pid: unsafe { libc::gettid() },
        };
        // SAFETY: fcntl on a descriptor the caller owns, with arguments of
        // the types each command takes.
        unsafe {
            cvt(libc::fcntl(fd, F_SETOWN_EX, &owner))?;
            cvt(libc::fcntl(fd, F_SETSIG, io_signal()))?;
            let flags = cvt(libc::fcntl(fd, libc::F_GETFL))?;
            cvt(libc::fcntl(
                fd,
                libc::F_SETFL,
                flags | libc::O_NONBLOCK | libc::O_ASYNC,
            ))?;
        }
        Ok(())
    }

    /// Blocks until at least one signal is queued, then takes up to 64.
    fn wait(&self, batch: &mut Vec<Signal>) -> io::Result<()> {
        const MAX: usize = 64;
        const SIZE: usize = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: signalfd_siginfo is plain integers; all-zero is valid.
        let mut infos: [libc::signalfd_siginfo; MAX] = unsafe { std::mem::zeroed() };
        let n = loop {
            // SAFETY: reads at most the array's MAX * SIZE bytes into it;
            // a signalfd writes whole `signalfd_siginfo` records.
            let rc = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    infos.as_mut_ptr().cast::<libc::c_void>(),
                    MAX * SIZE,
                )
            };
            if rc >= 0 {
                break rc as usize / SIZE;
            }
            let e = io::Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        };
        batch.clear();
        batch.extend(infos[..n].iter().map(|info| {
            if info.ssi_signo as libc::c_int == libc::SIGIO {
                Signal::Overflow
            } else {
                Signal::Ready(info.ssi_fd)
            }
        }));
        Ok(())
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}
