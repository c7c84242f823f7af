//! [`PollStream`]: a completion-based [`TcpStream`] behind the poll-style
//! IO traits (`AsyncRead`, `AsyncBufRead`, `AsyncWrite`, and with the
//! `hyper` feature `hyper::rt::Read` and `Write`), so code written for
//! readiness streams (hyper's connections, `Compat` for TLS) runs on
//! io_uring.
//!
//! A poll-style read lends its buffer only for the length of one call, and
//! the kernel of a completion-based read writes into its buffer later. So
//! the stream owns one buffer per direction and copies:
//!
//! ```text
//!  read:  RECV into `rx` ──completion──▶ rx[pos..] ──copy──▶ the caller's buffer
//!  write: the caller's bytes ──copy──▶ `tx` ──SEND──▶ kernel; poll_write is Ready at once
//! ```
//!
//! A read starts one `RECV` when the received bytes run out, and returns
//! `Pending` until it completes. A write copies the bytes into `tx`, starts
//! one `SEND` (more if the kernel takes a part) and returns `Ready` at once;
//! the next write, `poll_flush` and `poll_shutdown` wait for that send, and
//! report its error; since its bytes were already reported written, every
//! later write fails too. A write after `poll_shutdown` is `BrokenPipe`.
//! So, as with a `BufWriter`, **flush before dropping**: dropping the
//! stream cancels a send still in flight. (The socket itself stays open
//! until the kernel is done with every operation that names it: see
//! `Op::start_on`.)
//!
//! The runtime submits every operation queued during one pass over its
//! tasks with one `io_uring_enter`, and reads every completion without a
//! system call. Fifty connections that each read a request and write a
//! response in one pass cost one system call, not a hundred `recv`s and
//! `send`s: that, against the copies, is what this type is for.
//!
//! `rx` starts at 4 KiB and doubles, up to 64 KiB, each time a receive
//! fills it (a large body arrives in fewer operations); its memory is
//! zeroed once when it grows, never per read. `tx` grows to the largest
//! write (at most 64 KiB per write) and keeps its capacity.
//!
//! # Receiving into a shared ring of buffers
//!
//! [`PollStream::with_buf_ring`] reads through one multishot receive into
//! a [`BufRing`] that many streams share, in place of `rx`'s buffer and
//! a `RECV` per read (`rx` then holds the receive, `Rx::Ring`):
//!
//! ```text
//!  read:  RECV{multishot} ──data──▶ kernel fills a ring buffer ──▶ RingBuf ──copy──▶ the caller's buffer
//!                                                   (given back to the ring once read out)
//! ```
//!
//! The request stays armed, so a read that finds nothing starts no new
//! operation: a request/response server saves a submission and the
//! kernel's re-arming of its poll on every request. An idle stream holds
//! no buffer. A stream holds one ring buffer while its bytes wait to be
//! read out, and the kernel queues more for it as data keeps arriving
//! (see [`RecvMulti`]); when the ring has none left, receives on it wait
//! until one comes back, and the data waits in the socket meanwhile. So
//! size the ring for the streams that hold unread bytes at once, or the
//! streams starve each other until one reads.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{ready, Context, Poll};

use spindle_reactor::uring::IORING_RECVSEND_POLL_FIRST;

use super::multishot::{RecvMulti, RingBuf};
use super::net::{finish_read, read_sqe, send_sqe};
use super::op::Op;
use super::{BufRing, TcpStream};
use crate::io::{AsyncBufRead, AsyncRead, AsyncWrite};

/// Whether the kernel takes `IORING_RECVSEND_POLL_FIRST` (false after the
/// first refusal).
static POLL_FIRST: AtomicBool = AtomicBool::new(true);

/// The receive buffer's first capacity.
const RX_START: usize = 4 * 1024;
/// The receive buffer's largest capacity, and the most one write takes.
const MAX_CHUNK: usize = 64 * 1024;

/// A [`TcpStream`] with poll-style reads and writes, through buffers of its
/// own (see the module docs).
///
/// ```no_run
/// use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
/// use spindle_runtime::uring::{PollStream, TcpStream};
///
/// # async fn demo() -> std::io::Result<()> {
/// let mut stream = PollStream::new(TcpStream::connect("127.0.0.1:7000").await?);
/// stream.write_all(b"ping").await?;
/// stream.flush().await?; // the send is in flight until flushed
/// let mut reply = [0u8; 4];
/// stream.read_exact(&mut reply).await?;
/// # Ok(())
/// # }
/// ```
///
/// With the `hyper` feature it is hyper's IO as it is:
/// `http1::Builder::new().serve_connection(PollStream::new(stream), service)`.
pub struct PollStream {
    rx: Rx,
    tx: Tx,
    stream: TcpStream,
    /// The last receive left the socket empty: the next one waits for
    /// data before it tries (`IORING_RECVSEND_POLL_FIRST`).
    drained: bool,
    /// Whether writes are still taken.
    write_side: WriteSide,
}

/// The write side's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WriteSide {
    Open,
    /// A send failed after its bytes had been reported written: every later
    /// write, flush and shutdown fails too, rather than leave a gap.
    Failed(io::ErrorKind),
    /// Shut down: writes fail with `BrokenPipe`; shutdown again is `Ok`.
    Shut,
}

/// The read side's buffer, wherever it is.
enum Rx {
    /// No receive in flight and nothing held: the buffer waits, empty.
    Idle(Vec<u8>),
    /// A receive in flight; the operation owns the buffer. The flag: it
    /// was marked `IORING_RECVSEND_POLL_FIRST`.
    Receiving(Op<Vec<u8>>, bool),
    /// Received bytes not yet read out: `buf[pos..]`.
    Holding(Vec<u8>, usize),
    /// Only while a method moves the buffer between states.
    Moving,
    /// No buffer of its own: a receive into a shared ring (`with_buf_ring`).
    Ring(RingRx),
}

/// The read side on a shared ring of buffers (see the module docs).
struct RingRx {
    recv: RecvMulti<'static>,
    /// The message being read out: `buf[pos..]`.
    held: Option<(RingBuf, usize)>,
}

impl RingRx {
    /// [`PollStream::fill`] on the ring: what is held, or the next message.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if !matches!(&self.held, Some((buf, pos)) if *pos < buf.len()) {
            // Give the buffer that was read out back before waiting.
            self.held = None;
            self.held = match ready!(self.recv.poll_message(cx)) {
                Some(Ok(buf)) => Some((buf, 0)),
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(&[])), // the end of the stream
            };
        }
        let (buf, pos) = self.held.as_ref().expect("a message is held");
        Poll::Ready(Ok(&buf[*pos..]))
    }
}

/// The write side's buffer, wherever it is.
enum Tx {
    /// Nothing in flight: the buffer waits, empty.
    Idle(Vec<u8>),
    /// `buf[start..]` is being sent; the operation owns the buffer.
    Sending(Op<Vec<u8>>, usize),
    /// Only while a method moves the buffer between states.
    Moving,
}

impl PollStream {
    /// Wraps `stream`. No operation starts until the first read or write.
    pub fn new(stream: TcpStream) -> PollStream {
        PollStream {
            rx: Rx::Idle(Vec::new()),
            tx: Tx::Idle(Vec::new()),
            stream,
            drained: false,
            write_side: WriteSide::Open,
        }
    }

    /// Wraps `stream`, receiving with one multishot request into `bufs`, a
    /// ring of buffers shared with other streams, instead of a buffer of its
    /// own and a request per read (see the module docs: the ring must have
    /// a buffer for each stream that holds unread bytes at once). The
    /// request is armed by the first read.
    ///
    /// ```no_run
    /// use spindle_runtime::uring::{BufRing, PollStream, TcpListener};
    ///
    /// # async fn demo() -> std::io::Result<()> {
    /// let listener = TcpListener::bind("127.0.0.1:8080")?;
    /// let bufs = BufRing::new(512, 4096)?; // one per runtime thread
    /// loop {
    ///     let (stream, _) = listener.accept().await?;
    ///     let stream = PollStream::with_buf_ring(stream, &bufs);
    ///     // ... serve `stream`
    /// #   drop(stream);
    /// }
    /// # }
    /// ```
    pub fn with_buf_ring(stream: TcpStream, bufs: &BufRing) -> PollStream {
        let recv = RecvMulti::owning(&stream, bufs);
        PollStream {
            rx: Rx::Ring(RingRx { recv, held: None }),
            ..PollStream::new(stream)
        }
    }

    /// The stream inside.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// The received bytes not yet read out, receiving more first if there
    /// are none. Empty at the end of the stream.
    fn fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self.rx {
            Rx::Ring(ref mut ring) => ring.fill(cx),
            _ => self.fill_own(cx),
        }
    }

    /// [`fill`](Self::fill) with the stream's own buffer: a `RECV` into it
    /// when the held bytes run out.
    fn fill_own(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        loop {
            match std::mem::replace(&mut self.rx, Rx::Moving) {
                Rx::Holding(buf, pos) if pos < buf.len() => {
                    self.rx = Rx::Holding(buf, pos);
                    break;
                }
                Rx::Holding(mut buf, _) | Rx::Idle(mut buf) => {
                    if buf.capacity() < RX_START {
                        grow_zeroed(&mut buf, RX_START);
                    }
                    buf.clear();
                    let poll_first = self.drained && POLL_FIRST.load(Relaxed);
                    let sqe = |b: &mut Vec<u8>, fd, ring| {
                        let mut sqe = read_sqe(fd, b, ring, None);
                        if poll_first {
                            sqe.ioprio |= IORING_RECVSEND_POLL_FIRST;
                        }
                        sqe
                    };
                    match Op::start_on("recv", self.stream.fd(), buf, sqe) {
                        Ok(op) => self.rx = Rx::Receiving(op, poll_first),
                        Err((e, buf)) => {
                            self.rx = Rx::Idle(buf);
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                Rx::Receiving(mut op, poll_first) => {
                    let done = match Pin::new(&mut op).poll(cx) {
                        Poll::Pending => {
                            self.rx = Rx::Receiving(op, poll_first);
                            return Poll::Pending;
                        }
                        Poll::Ready(done) => done,
                    };
                    let (result, mut buf) = finish_read(done.result, done.data);
                    if poll_first
                        && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
                    {
                        POLL_FIRST.store(false, Relaxed);
                        // A kernel before 5.19 refuses the flag: try again without.
                        self.rx = Rx::Idle(buf);
                        continue;
                    }
                    // A receive that did not fill the buffer emptied the socket.
                    self.drained = matches!(result, Ok(n) if n < buf.capacity());
                    match result {
                        Ok(n) => {
                            // A full buffer: the next receive takes more.
                            if n == buf.capacity() && n < MAX_CHUNK {
                                grow_zeroed(&mut buf, (2 * n).min(MAX_CHUNK));
                            }
                            self.rx = Rx::Holding(buf, 0);
                            if n == 0 {
                                break; // the end of the stream
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                            self.rx = Rx::Idle(buf);
                        }
                        Err(e) => {
                            self.rx = Rx::Idle(buf);
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                Rx::Moving => unreachable!("PollStream's receive buffer was lost"),
                Rx::Ring(_) => unreachable!("a ring's read side is filled by RingRx"),
            }
        }
        match &self.rx {
            Rx::Holding(buf, pos) => Poll::Ready(Ok(&buf[*pos..])),
            _ => unreachable!("fill stops on held bytes"),
        }
    }

    /// Marks `n` held bytes as read.
    fn consume_held(&mut self, n: usize) {
        let (len, pos) = match &mut self.rx {
            Rx::Holding(buf, pos) => (buf.len(), pos),
            Rx::Ring(RingRx {
                held: Some((buf, pos)),
                ..
            }) => (buf.len(), pos),
            _ => return,
        };
        *pos = (*pos + n).min(len);
    }

    /// Copies what is held (receiving first if nothing is) with `copy`,
    /// which returns how much it took.
    fn read_with(
        &mut self,
        cx: &mut Context<'_>,
        copy: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        let held = ready!(self.fill(cx))?;
        let n = copy(held);
        self.consume_held(n);
        Poll::Ready(Ok(n))
    }

    /// Waits until no send is in flight, starting the rest of a partial
    /// send; the first error of a send, once.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match std::mem::replace(&mut self.tx, Tx::Moving) {
                Tx::Idle(buf) => {
                    self.tx = Tx::Idle(buf);
                    return Poll::Ready(Ok(()));
                }
                Tx::Sending(mut op, start) => {
                    let done = match Pin::new(&mut op).poll(cx) {
                        Poll::Pending => {
                            self.tx = Tx::Sending(op, start);
                            return Poll::Pending;
                        }
                        Poll::Ready(done) => done,
                    };
                    let mut buf = done.data;
                    let start = match done.result {
                        Ok(0) => {
                            buf.clear();
                            self.tx = Tx::Idle(buf);
                            return Poll::Ready(Err(self.fail(io::ErrorKind::WriteZero.into())));
                        }
                        Ok(n) => start + n as usize,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => start,
                        Err(e) => {
                            buf.clear();
                            self.tx = Tx::Idle(buf);
                            return Poll::Ready(Err(self.fail(e)));
                        }
                    };
                    if start == buf.len() {
                        buf.clear();
                        self.tx = Tx::Idle(buf);
                    } else if let Err(e) = self.start_send(buf, start) {
                        return Poll::Ready(Err(self.fail(e)));
                    }
                }
                Tx::Moving => unreachable!("PollStream's send buffer was lost"),
            }
        }
    }

    /// Marks the write side failed (bytes reported written were lost) and
    /// gives `e` back.
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.write_side = WriteSide::Failed(e.kind());
        e
    }

    /// The error for a write side that no longer takes bytes.
    fn write_side_error(&self) -> Option<io::Error> {
        match self.write_side {
            WriteSide::Open => None,
            WriteSide::Failed(kind) => Some(io::Error::new(
                kind,
                "an earlier send on this stream failed after its bytes were accepted",
            )),
            WriteSide::Shut => Some(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream's write side was shut down",
            )),
        }
    }

    /// Waits for the sends; an error if one failed, now or before.
    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let WriteSide::Failed(_) = self.write_side {
            return Poll::Ready(Err(self.write_side_error().expect("failed")));
        }
        self.drain(cx)
    }

    /// Starts sending `buf[start..]`.
    fn start_send(&mut self, buf: Vec<u8>, start: usize) -> io::Result<()> {
        let sqe = |b: &mut Vec<u8>, fd, _ring| send_sqe(fd, b, start);
        match Op::start_on("send", self.stream.fd(), buf, sqe) {
            Ok(op) => {
                self.tx = Tx::Sending(op, start);
                Ok(())
            }
            Err((e, mut buf)) => {
                buf.clear();
                self.tx = Tx::Idle(buf);
                Err(e)
            }
        }
    }

    /// Copies up to `MAX_CHUNK` bytes of `data` into the send buffer (once
    /// the last send is done) and starts sending them.
    fn write_from(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.write_side_error() {
            return Poll::Ready(Err(e));
        }
        ready!(self.drain(cx))?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Tx::Idle(mut buf) = std::mem::replace(&mut self.tx, Tx::Moving) else {
            unreachable!("drain leaves the send buffer idle");
        };
        let n = data.len().min(MAX_CHUNK);
        buf.extend_from_slice(&data[..n]);
        self.start_send(buf, 0)?;
        Poll::Ready(Ok(n))
    }

    /// Waits for the sends, then shuts the write side down (once).
    fn shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write_side == WriteSide::Shut {
            return Poll::Ready(Ok(()));
        }
        ready!(self.flush(cx))?;
        self.stream.shutdown(std::net::Shutdown::Write)?;
        self.write_side = WriteSide::Shut;
        Poll::Ready(Ok(()))
    }
}

/// Gives `buf` a capacity of `cap`, zeroing the new part once, and keeps
/// its contents. The kernel writes a receive into the buffer's spare
/// capacity, which nothing else ever initializes; zeroed once here, it
/// holds defined bytes for tools that track them (valgrind cannot see the
/// kernel's writes through the ring). A buffer grows four times at most.
fn grow_zeroed(buf: &mut Vec<u8>, cap: usize) {
    let len = buf.len();
    buf.reserve_exact(cap - len);
    buf.resize(buf.capacity(), 0);
    buf.truncate(len);
}

impl fmt::Debug for PollStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = match &self.rx {
            Rx::Holding(buf, pos) => buf.len() - pos,
            Rx::Ring(RingRx {
                held: Some((buf, pos)),
                ..
            }) => buf.len() - pos,
            _ => 0,
        };
        f.debug_struct("PollStream")
            .field("stream", &self.stream)
            .field("buf_ring", &matches!(self.rx, Rx::Ring(_)))
            .field("receiving", &matches!(self.rx, Rx::Receiving(..)))
            .field("held", &held)
            .field("sending", &matches!(self.tx, Tx::Sending(..)))
            .finish()
    }
}

impl From<TcpStream> for PollStream {
    fn from(stream: TcpStream) -> PollStream {
        PollStream::new(stream)
    }
}

impl AsyncRead for PollStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut().read_with(cx, |held| {
            let n = held.len().min(buf.len());
            buf[..n].copy_from_slice(&held[..n]);
            n
        })
    }
}

impl AsyncBufRead for PollStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().fill(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().consume_held(amt);
    }
}

/// Implements a write trait (spindle's `AsyncWrite`, hyper's `rt::Write`:
/// the same three methods) with `PollStream`'s write side.
macro_rules! impl_write {
    ($trait:path) => {
        impl $trait for PollStream {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().write_from(cx, buf)
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().flush(cx)
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                self.get_mut().shutdown_write(cx)
            }
        }
    };
}

impl_write!(AsyncWrite);
#[cfg(feature = "hyper")]
impl_write!(hyper::rt::Write);

#[cfg(feature = "hyper")]
impl hyper::rt::Read for PollStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        ready!(self.get_mut().read_with(cx, |held| {
            let n = held.len().min(room);
            buf.put_slice(&held[..n]);
            n
        }))?;
        Poll::Ready(Ok(()))
    }
}
