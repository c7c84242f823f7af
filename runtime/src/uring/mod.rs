//! Completion-based IO on io_uring: the kernel does both halves of a
//! transfer (waiting for the data, and copying it) and tells the task when
//! the data is already in its buffer. This is the course notes' fifth IO
//! model, asynchronous IO; `spindle::net` is the third (readiness through
//! multiplexing: the runtime learns a socket is readable, then calls
//! `recv` itself).
//!
//! ```no_run
//! use spindle_runtime::uring::TcpListener;
//!
//! # fn main() -> std::io::Result<()> {
//! spindle_runtime::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:7000")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         spindle_runtime::spawn(async move {
//!             // Room for 4096 bytes: a read fills up to the capacity.
//!             let mut buf = Vec::with_capacity(4096);
//!             loop {
//!                 let (res, b) = stream.read(buf).await; // the buffer comes back
//!                 if matches!(res, Ok(0) | Err(_)) {
//!                     return; // the peer closed its side, or an error
//!                 }
//!                 let (res, b) = stream.write_all(b).await; // b holds the n bytes read
//!                 if res.is_err() {
//!                     return;
//!                 }
//!                 buf = b;
//!             }
//!         });
//!     }
//! })
//! # }
//! ```
//!
//! # Owned buffers
//!
//! Every operation *takes* its buffer and gives it back with the result:
//! `let (res, buf) = stream.read(buf).await`. The kernel writes into the
//! buffer after the call returned, perhaps after the task was cancelled,
//! so a borrowed `&mut [u8]` could not be made safe. Any [`IoBuf`] /
//! [`IoBufMut`] works: `Vec<u8>` (a read fills it from the start and sets
//! its length), `Box<[u8]>`, and [`FixedBuf`] from a [`FixedBufPool`]
//! registered with the ring; writes also take a `String` and static
//! memory (`b"hello"`, `"hello"`). A borrowed `&[u8]` or `&mut [u8]` of
//! anything else does not: send a copy (`.to_vec()`).
//!
//! A read fills up to [`bytes_total`](IoBuf::bytes_total) bytes, which for
//! a `Vec` is its *capacity*, not its length: `Vec::with_capacity(4096)`
//! and `vec![0u8; 4096]` both take 4096 bytes. `Vec::new()` has no room at
//! all, so a read into it completes at once with `Ok(0)`, which looks like
//! the end of the stream. A `Vec` that comes back from a read keeps its
//! capacity, so it can go straight into the next one.
//!
//! # Cancellation
//!
//! Dropping an operation's future (a `select!` that took another branch, a
//! `timeout`) cancels it in the kernel (`IORING_OP_ASYNC_CANCEL`); the
//! buffer stays alive, owned by the runtime, until the kernel confirms it
//! is done, and is freed then. Data a cancelled read had already received
//! is lost with it, as with any cancelled read.
//!
//! The socket or file keeps its descriptor open for as long, too. A
//! request names the descriptor by number and waits in the submission ring
//! until the runtime's next `io_uring_enter`; had dropping the socket right
//! after the future closed it, a socket or file opened in between could
//! get the same number and be read or written by the queued request. So
//! every operation holds a reference to its descriptor, which the runtime
//! keeps with the abandoned buffer; dropping a socket closes its
//! descriptor once no request names it.
//!
//! # Poll-style IO
//!
//! Code written against poll-style traits (spindle's `AsyncRead` and
//! `AsyncWrite`, hyper's `rt::Read` and `rt::Write`) lends its buffer for
//! one call only. [`PollStream`] gives such code a `TcpStream` anyway, by
//! owning a buffer per direction and copying, or by receiving into a
//! [`BufRing`] that many streams share
//! ([`PollStream::with_buf_ring`]); see its module docs.
//!
//! # Where the ring is
//!
//! Each runtime thread (a current-thread runtime, or each worker of a
//! multi-threaded one) gets one completion ring the first time an operation
//! starts on it. The runtime submits everything queued once per turn and
//! sleeps in its usual poller, which an eventfd wakes when completions
//! arrive (see `driver.rs`). If the kernel, or a seccomp policy, refuses
//! io_uring, operations fail with an error that says so; `spindle::net` and
//! `spindle::fs` keep working.
//!
//! # Files
//!
//! [`fs::File`] reads and writes at offsets with `&self`, so several
//! operations can be in flight on one file: real asynchronous file IO,
//! which readiness cannot give (a regular file is always "ready"). These
//! files are *not* `O_NONBLOCK`: io_uring would take that flag to mean
//! "fail with EAGAIN rather than wait for the disk".

mod buf;
mod driver;
pub mod fs;
mod multishot;
mod net;
mod op;
mod poll_stream;
mod udp;

pub use buf::{FixedBuf, FixedBufPool, IoBuf, IoBufMut};
pub(crate) use driver::Driver;
pub use multishot::{BufRing, RecvMulti, RingBuf};
pub use net::{TcpListener, TcpStream};
pub use poll_stream::PollStream;
pub use udp::UdpSocket;
