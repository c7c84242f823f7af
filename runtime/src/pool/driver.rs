//! The parent side of one worker: a task on the pool's runtime that writes
//! the worker's frames, reads its answers, and replaces it when it dies.
//!
//! # One task, both directions
//!
//! The worker's socket is non-blocking and registered with the reactor for
//! reading and writing. Each poll of the driver loops over
//! "write what is unsent (one `writev` of up to 64 frames), read what has
//! arrived (one `read` of up to the buffer's free space, then hand every
//! complete answer to its handle)" until neither makes progress. The
//! parent never blocks on the socket in either direction, so a 64 MB
//! argument going out and a 64 MB result coming in at the same time cannot
//! deadlock: the worker blocks on its writes only while the parent is busy
//! reading.
//!
//! # Descriptors
//!
//! A task whose argument holds descriptors (see `wire.rs`) is written
//! with a `sendmsg` of its own that starts at its frame and carries them
//! (more than `SCM_MAX_FD` take several, each with one byte of the frame),
//! so they arrive with the frame's own bytes. Answers are read with
//! `recvmsg`, which collects the descriptors that come with them; each
//! complete answer takes as many as its header says, in arrival order
//! (`frame.rs`). Such a `recvmsg` stops after the bytes that carried
//! descriptors, so a short read then says nothing about what is left.
//!
//! # How faults are detected
//!
//! * A panic is caught in the worker and comes back as a PANIC answer:
//!   nothing dies.
//! * Anything that kills the worker (abort, a signal, `exit`) closes its end
//!   of the socket, so the driver's read returns EOF. The driver then
//!   waits for the process to end (the socket closes a moment before the
//!   process has exited), through its pidfd registered with the runtime
//!   (`exit.rs`), to learn the signal or exit status, and reads the
//!   worker's `RunSlot`: the id of the task it was running, if any. That task fails with
//!   [`PoolError::WorkerDied`]; every other task the worker held goes back
//!   to the front of the queue (they had not started, or finished without
//!   their answer getting out: they run again). Then a new worker is
//!   started in the same slot. Three replacements in a row that cannot
//!   start (see `faults.rs`) mark the pool broken instead of restarting
//!   forever.
//! * Every write goes out with `MSG_NOSIGNAL`: a worker that dies while
//!   the driver writes to it is an `EPIPE` error, never a `SIGPIPE` that
//!   would end a program keeping SIGPIPE's default action.
//! * An answer that makes no sense (unknown id, bad frame) is a protocol
//!   error: the worker is killed and handled as above.
//! * A worker that closed its socket but is still running after
//!   [`EXIT_GRACE`] is killed.
//! * If the runtime drops the driver (the runtime shut down), its `Drop`
//!   kills and reaps the worker so no process outlives the pool's runtime.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

use spindle_reactor::Interest;

use super::call::RunSlot;
use super::exit::{Exit, WorkerExit};
use super::frame::{self, Frame, FrameBuf};
use super::process::{Completion, Inner};
use super::spawn::{self, Launched, Starter};
use super::PoolError;
use crate::driver::{Direction, Registration};
use crate::sys::fd_passing::{self, MAX_PASSED_FDS};
use crate::sys::socket as sys_socket;

const MAX_IOV: usize = 64;
const MAX_WRITE: usize = 4 << 20;

/// The parent's connection to one worker process.
pub(super) struct Conn {
    // Declared before `sock`: deregistered before the socket closes.
    reg: Registration,
    sock: UnixStream,
    pid: u32,
    exit: WorkerExit,
    slot: RunSlot,
    rbuf: FrameBuf,
    /// Descriptors read and not yet claimed by a complete answer.
    arrived: Vec<OwnedFd>,
    greeted: bool,
    write_done: bool,
    frames: Vec<(Frame, Vec<OwnedFd>)>,
}

impl Conn {
    /// Registers a started worker's socket with the current runtime; on
    /// failure gives the worker back (still running) with the error.
    pub(super) fn new(
        worker: Launched,
        rbuf: FrameBuf,
        greeted: bool,
    ) -> Result<Conn, (io::Error, Launched)> {
        let registered = worker
            .sock
            .set_nonblocking(true)
            .and_then(|()| Registration::new(worker.sock.as_raw_fd(), Interest::BOTH));
        let reg = match registered {
            Ok(reg) => reg,
            Err(e) => return Err((e, worker)),
        };
        Ok(Conn {
            reg,
            sock: worker.sock,
            pid: worker.pid,
            exit: worker.exit,
            slot: worker.slot,
            rbuf,
            arrived: Vec::new(),
            greeted,
            write_done: false,
            frames: Vec::new(),
        })
    }

    /// Starts a replacement worker (its HELLO is read by the driver).
    fn relaunch(starter: &Starter) -> io::Result<Conn> {
        let worker = starter.launch()?;
        Conn::new(worker, FrameBuf::new(), false).map_err(|(e, worker)| {
            starter.discard(vec![worker]);
            e
        })
    }

    /// Kills and reaps the worker of a connection that will not be used.
    pub(super) fn discard(self, starter: &Starter) {
        starter.kill(self.pid, &self.exit);
        starter.wait_blocking(self.pid);
    }
}

/// Starts the driver task of worker slot `idx` on the current runtime.
pub(super) fn spawn_driver(inner: Arc<Inner>, idx: usize, conn: Conn) {
    drop(crate::spawn(drive(Driver {
        inner,
        idx,
        conn: Some(conn),
    })));
}

struct Driver {
    inner: Arc<Inner>,
    idx: usize,
    conn: Option<Conn>,
}

async fn drive(mut d: Driver) {
    loop {
        let (inner, idx) = (&d.inner, d.idx);
        let conn = d.conn.as_mut().expect("a live connection");
        let ended = poll_fn(|cx| step(inner, idx, conn, cx)).await;
        if ended.is_err() {
            // A protocol or IO error: the worker may still be running.
            inner.starter.kill(conn.pid, &conn.exit);
        }
        let exit = reap(&inner.starter, conn.pid, &mut conn.exit).await;
        let conn = d.conn.take().expect("a live connection");
        let (running, greeted) = (conn.slot.get(), conn.greeted);
        drop(conn);
        if !d
            .inner
            .worker_exited(d.idx, exit, running, greeted, ended.err())
        {
            return;
        }
        match Conn::relaunch(&d.inner.starter) {
            Ok(conn) => {
                d.inner.worker_started(d.idx, conn.pid);
                d.conn = Some(conn);
            }
            Err(e) => {
                d.inner.retire(
                    d.idx,
                    Vec::new(),
                    Some(format!("cannot start a worker: {e}")),
                );
                return;
            }
        }
    }
}

impl Drop for Driver {
    /// Runs with a connection only if the runtime dropped the task early.
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        self.inner.starter.kill(conn.pid, &conn.exit);
        self.inner.starter.wait_blocking(conn.pid);
        drop(conn);
        let lost = self.inner.lock().workers[self.idx]
            .inflight
            .drain(..)
            .collect();
        self.inner.retire(self.idx, lost, None);
    }
}

/// Writes and reads until neither makes progress; `Ready` at EOF or on error.
fn step(inner: &Inner, idx: usize, conn: &mut Conn, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    loop {
        let mut progress = false;
        if !conn.write_done {
            match write_some(inner, idx, conn, cx) {
                Poll::Ready(Ok(wrote)) => progress |= wrote,
                // The worker is gone (EPIPE): the read side will see EOF.
                Poll::Ready(Err(_)) => conn.write_done = true,
                Poll::Pending => {}
            }
        }
        match read_some(inner, idx, conn, cx) {
            Poll::Ready(Ok(true)) => progress = true,
            Poll::Ready(Ok(false)) => return Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => {}
        }
        if !progress {
            return Poll::Pending;
        }
    }
}

/// One `writev` of unsent frames. `Ok(false)`: nothing to send.
fn write_some(
    inner: &Inner,
    idx: usize,
    conn: &mut Conn,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    let mut state = inner.lock();
    let nothing_left = state.closing && state.queue.is_empty();
    let w = &mut state.workers[idx];
    match &w.waker {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => w.waker = Some(cx.waker().clone()),
    }
    if w.written == w.inflight.len() {
        if nothing_left && w.inflight.is_empty() {
            // Shutting down and idle: EOF tells the worker to exit.
            w.accepting = false;
            conn.write_done = true;
            let _ = conn.sock.shutdown(Shutdown::Write);
        }
        return Poll::Ready(Ok(false));
    }
    // Descriptors of the first unsent frame still to go: this send carries
    // a batch of them; if more batches follow, it carries one byte only.
    let first = &w.inflight[w.written];
    let unsent = &first.fds[first.fds_sent..];
    let batch: Vec<RawFd> = if unsent.is_empty() {
        Vec::new() // the usual case
    } else {
        let batch = unsent.iter().take(MAX_PASSED_FDS);
        batch.map(AsRawFd::as_raw_fd).collect()
    };
    let more_batches = unsent.len() > batch.len();
    let mut iov = [IoSlice::new(&[]); MAX_IOV];
    let (mut n, mut len) = (0, 0);
    for (i, task) in w.inflight.iter().enumerate().skip(w.written) {
        if i > w.written && !task.fds.is_empty() {
            break; // it starts a send of its own, with its descriptors
        }
        let skip = if i == w.written { w.offset } else { 0 };
        let piece = &task.frame[skip..];
        let piece = if more_batches { &piece[..1] } else { piece };
        iov[n] = IoSlice::new(piece);
        len += piece.len();
        n += 1;
        if more_batches || n == MAX_IOV || len >= MAX_WRITE {
            break;
        }
    }
    let sock: &UnixStream = &conn.sock;
    // `sendmsg(MSG_NOSIGNAL)`, not `writev`: a dead worker must be an
    // EPIPE error here, not a SIGPIPE that ends this whole program.
    let wrote = ready!(conn.reg.poll_stream_io(cx, Direction::Write, len, || {
        if batch.is_empty() {
            sys_socket::send_vectored(sock.as_fd(), &iov[..n])
        } else {
            fd_passing::send_vectored_with_fds(sock.as_fd(), &iov[..n], &batch)
        }
    }))?;
    if wrote > 0 {
        // The batch went with the first byte.
        w.inflight[w.written].fds_sent += batch.len();
    }
    let mut left = wrote;
    while left > 0 {
        let rest = w.inflight[w.written].frame.len() - w.offset;
        if left >= rest {
            left -= rest;
            w.written += 1;
            w.offset = 0;
        } else {
            w.offset += left;
            left = 0;
        }
    }
    Poll::Ready(Ok(wrote > 0))
}

/// One `read`, then every complete answer. `Ok(false)`: EOF.
fn read_some(
    inner: &Inner,
    idx: usize,
    conn: &mut Conn,
    cx: &mut Context<'_>,
) -> Poll<io::Result<bool>> {
    let Conn {
        reg,
        sock,
        rbuf,
        arrived,
        ..
    } = conn;
    let spare = rbuf.spare()?;
    let len = spare.len();
    let received = reg.poll_stream_read_stopping(cx, len, || {
        let before = arrived.len();
        let n = fd_passing::recv_with_fds(sock.as_fd(), spare, arrived, false)?;
        Ok((n, arrived.len() > before))
    });
    match ready!(received).map(|(n, _)| n) {
        Ok(0) => Poll::Ready(Ok(false)),
        Ok(n) => {
            rbuf.filled(n);
            answers(inner, idx, conn)?;
            Poll::Ready(Ok(true))
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Poll::Ready(Ok(false)),
        Err(e) => Poll::Ready(Err(e)),
    }
}

/// Matches every complete answer in the read buffer with its task.
fn answers(inner: &Inner, idx: usize, conn: &mut Conn) -> io::Result<()> {
    let mut frames = std::mem::take(&mut conn.frames);
    let mut result = Ok(());
    while let Some(f) = conn.rbuf.next_frame()? {
        let fds = frame::take_fds(&mut conn.arrived, f.fds)?;
        if conn.greeted {
            frames.push((f, fds));
            continue;
        }
        spawn::check_hello(f.kind, conn.rbuf.bytes(f.body))?;
        conn.greeted = true;
    }
    let mut done: Vec<(Completion, Frame, Vec<OwnedFd>)> = Vec::with_capacity(frames.len());
    let wakers = {
        let mut state = inner.lock();
        let w = &mut state.workers[idx];
        for (f, fds) in frames.drain(..) {
            let pos = match w.inflight.front() {
                Some(first) if first.id == f.id => Some(0),
                _ => w.inflight.iter().position(|t| t.id == f.id),
            };
            match pos {
                Some(pos)
                    if pos < w.written
                        && matches!(f.kind, frame::OK | frame::PANIC | frame::REJECT) =>
                {
                    let task = w.inflight.remove(pos).expect("found above");
                    w.written -= 1;
                    done.push((task.done, f, fds));
                }
                _ => {
                    result = Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a worker sent a stray frame",
                    ));
                    break;
                }
            }
        }
        inner.dispatch(&mut state)
    };
    conn.frames = frames;
    wakers.into_iter().for_each(Waker::wake);
    for (completion, f, fds) in done {
        let body = conn.rbuf.bytes(f.body);
        let answer = match f.kind {
            frame::OK => Ok((body, fds)),
            frame::PANIC => Err(PoolError::Panicked(
                String::from_utf8_lossy(body).into_owned(),
            )),
            _ => Err(PoolError::Rejected(
                String::from_utf8_lossy(body).into_owned(),
            )),
        };
        complete(completion, answer);
    }
    result
}

/// Delivers an answer; a panicking `on_done` callback must not kill the driver.
pub(super) fn complete(done: Completion, answer: Result<(&[u8], Vec<OwnedFd>), PoolError>) {
    if catch_unwind(AssertUnwindSafe(|| done(answer))).is_err() {
        eprintln!("spindle: a ProcessPool task callback panicked");
    }
}

/// How long a worker that closed its socket may take to exit before it
/// is killed (it normally exits at once: the socket closes in its `exit`).
pub(super) const EXIT_GRACE: Duration = Duration::from_secs(5);

/// Waits until worker `pid` has exited and returns how; it is reaped by
/// then. Nothing polls: the wait is on the worker's pidfd (see `exit.rs`).
async fn reap(starter: &Starter, pid: u32, exit: &mut WorkerExit) -> Exit {
    if let Ok(status) = crate::time::timeout(EXIT_GRACE, starter.exited(pid, exit)).await {
        return status;
    }
    starter.kill(pid, exit);
    starter.exited(pid, exit).await
}
