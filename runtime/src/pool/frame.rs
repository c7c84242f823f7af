//! The frame protocol between a [`ProcessPool`](super::ProcessPool) and its
//! workers (also spoken between a parent and a
//! [`Process`](crate::process::Process) child), and `FrameBuf`, the read
//! buffer that cuts a byte stream into frames.
//!
//! Each worker has one `SOCK_STREAM` unix socket to the parent. Both
//! directions carry length-prefixed frames, all integers little-endian:
//!
//! ```text
//! every frame:   [len u64][kind u8][id u64][fds u32][body ...]   len = 1 + 8 + 4 + body length
//!
//! parent -> worker
//!   TASK   id = task id   body = [trampoline i64][function i64][type hash u64][argument bytes]
//!   NAME   id = 0         body = [name, UTF-8]              (Process only, before its TASK)
//!
//! worker -> parent
//!   HELLO  id = worker pid  body = [probe i64]           first frame, once (pool only)
//!   OK     id = task id     body = [result bytes]
//!   PANIC  id = task id     body = [panic message, UTF-8]
//!   REJECT id = task id     body = [reason, UTF-8]       type check / argument decode failed
//! ```
//!
//! # Descriptors
//!
//! `fds` counts the descriptors that travel with the frame (a value
//! holding an `OwnedFd`, a pipe end: see `wire.rs`). They are sent as
//! `SCM_RIGHTS` ancillary data attached to bytes of the frame itself
//! (the sender starts a new `sendmsg` at such a frame, see
//! `sys/fd_passing.rs`), so once a frame has arrived whole, its
//! descriptors have arrived too, after those of every earlier frame. The
//! receiver keeps the descriptors it reads in arrival order and takes
//! `fds` of them for each complete frame.
//!
//! The two code addresses are *offsets from [`worker_main`](super::worker_main)*
//! (see `call.rs`): `function` is the user's `fn(A) -> R`, `trampoline` the
//! generic glue `trampoline::<A, R>` that decodes an `A`, calls the function
//! and encodes the `R` (the worker knows neither type, so it needs the
//! glue's address too). `type hash` lets the glue check it was sent the
//! types it was compiled for. The HELLO `probe` is one more offset the
//! parent compares with its own, to check that the worker runs the same
//! binary before trusting any of this.
//!
//! Frames are built back to back in one buffer and written with one system
//! call for many tasks (`writev` of many task frames in the parent; one
//! `write` of many results in the worker), and read many per `read`.

use std::io;
use std::ops::Range;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::sys::{fd_passing, socket as sys_socket};

/// Parent to worker: run a function.
pub(crate) const TASK: u8 = 1;
/// Worker to parent: the worker is up (sent once, first).
pub(crate) const HELLO: u8 = 2;
/// Worker to parent: the task's encoded result.
pub(crate) const OK: u8 = 3;
/// Worker to parent: the task panicked.
pub(crate) const PANIC: u8 = 4;
/// Worker to parent: the task could not be called.
pub(crate) const REJECT: u8 = 5;
/// Parent to a `Process` child: the name the child gives itself.
pub(crate) const NAME: u8 = 6;

/// `len` + `kind` + `id` + `fds`.
pub(crate) const HEADER: usize = 8 + 1 + 8 + 4;
/// The largest frame either side accepts (a sanity bound, not a quota).
const MAX_FRAME: u64 = 1 << 40;

/// Starts a frame in `out`; returns its start for [`finish`].
pub(crate) fn begin(out: &mut Vec<u8>, kind: u8, id: u64) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    start
}

/// Records that `n` descriptors travel with the frame started at `start`.
pub(crate) fn set_fds(out: &mut [u8], start: usize, n: usize) {
    let n = u32::try_from(n).expect("fewer than 2^32 descriptors");
    out[start + 17..start + 21].copy_from_slice(&n.to_le_bytes());
}

/// Writes the length of the frame started at `start`, now that the body is in.
pub(crate) fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 8) as u64;
    out[start..start + 8].copy_from_slice(&len.to_le_bytes());
}

/// Changes the id of a finished frame (task ids are assigned under the
/// pool's lock, after the frame was encoded outside it).
pub(crate) fn set_id(frame: &mut [u8], id: u64) {
    frame[9..17].copy_from_slice(&id.to_le_bytes());
}

/// A whole frame of `kind` with a byte body.
pub(crate) fn push_frame(out: &mut Vec<u8>, kind: u8, id: u64, body: &[u8]) {
    let start = begin(out, kind, id);
    out.extend_from_slice(body);
    finish(out, start);
}

/// One frame found in a [`FrameBuf`]; `body` indexes into the buffer.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) kind: u8,
    pub(crate) id: u64,
    /// How many descriptors travel with the frame.
    pub(crate) fds: usize,
    pub(crate) body: Range<usize>,
}

/// Takes the `n` descriptors of a complete frame from the front of
/// `arrived` (the descriptors read so far, in arrival order).
pub(crate) fn take_fds(arrived: &mut Vec<OwnedFd>, n: usize) -> io::Result<Vec<OwnedFd>> {
    if n == 0 {
        return Ok(Vec::new()); // the usual case: no work, no allocation
    }
    if n > arrived.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a frame's descriptors did not arrive with it",
        ));
    }
    Ok(arrived.drain(..n).collect())
}

/// Writes whole frames to a *blocking* socket. `attached` lists, in
/// order, the start in `bytes` of each frame that carries descriptors,
/// with those descriptors; each such frame begins a new `sendmsg` that
/// carries them (see the module docs). `attached` is emptied.
pub(crate) fn send_blocking(
    sock: BorrowedFd<'_>,
    bytes: &[u8],
    attached: &mut Vec<(usize, Vec<OwnedFd>)>,
) -> io::Result<()> {
    let mut at = 0;
    let mut fds = Vec::new();
    for (start, next) in attached.drain(..) {
        send_segment(sock, &bytes[at..start], &fds)?;
        (at, fds) = (start, next);
    }
    send_segment(sock, &bytes[at..], &fds)
}

fn send_segment(sock: BorrowedFd<'_>, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    if fds.is_empty() {
        sys_socket::send_all(sock, bytes)
    } else {
        fd_passing::send_all_with_fds(sock, bytes, fds)
    }
}

/// Reads the `i64` at `at` in `body` (for TASK and HELLO bodies).
pub(crate) fn i64_at(body: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
}

/// A read buffer: bytes arrive at `end`, whole frames are taken from `start`.
///
/// `spare` compacts and grows the buffer only when needed, and grows it to
/// the exact size of a large frame announced by its header, so a 64 MB
/// frame is read straight into place.
pub(crate) struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const INITIAL: usize = 256 << 10;
const MIN_READ: usize = 64 << 10;

impl FrameBuf {
    pub(crate) fn new() -> FrameBuf {
        FrameBuf {
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
        }
    }

    /// The next complete frame, if the buffer holds one. Frames returned
    /// stay readable through [`bytes`](FrameBuf::bytes) until the next
    /// [`spare`](FrameBuf::spare).
    pub(crate) fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let avail = &self.buf[self.start..self.end];
        let Some(total) = frame_size(avail)? else {
            return Ok(None);
        };
        if avail.len() < total {
            return Ok(None);
        }
        let kind = avail[8];
        let id = u64::from_le_bytes(avail[9..17].try_into().expect("8 bytes"));
        let fds = u32::from_le_bytes(avail[17..21].try_into().expect("4 bytes")) as usize;
        let body = self.start + HEADER..self.start + total;
        self.start += total;
        Ok(Some(Frame {
            kind,
            id,
            fds,
            body,
        }))
    }

    /// The bytes of a frame's body.
    pub(crate) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Room to read into. Grows the buffer so that the frame being received
    /// fits whole (its header says how big it is), and moves a small
    /// partial frame to the front when little room is left. Call it after
    /// taking every complete frame.
    pub(crate) fn spare(&mut self) -> io::Result<&mut [u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > 4 * INITIAL {
                // A huge frame went through: give the memory back.
                self.buf = vec![0; INITIAL];
            }
        }
        let total = frame_size(&self.buf[self.start..self.end])?.unwrap_or(HEADER);
        let partial = self.end - self.start;
        let cramped = self.buf.len() - self.end < MIN_READ && partial < MIN_READ;
        if self.start > 0 && (self.buf.len() - self.start < total || cramped) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end = partial;
            self.start = 0;
        }
        if self.buf.len() - self.start < total {
            self.buf.resize(self.start + total, 0);
        }
        if self.end == self.buf.len() {
            self.buf.resize(self.end + MIN_READ, 0);
        }
        Ok(&mut self.buf[self.end..])
    }

    /// Records that `n` bytes were read into [`spare`](FrameBuf::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// One `recvmsg` from `sock` into the buffer, appending the
    /// descriptors that came with the bytes to `fds`. `Ok(0)`: end of
    /// stream. `wait: false` fails with `WouldBlock` rather than block.
    pub(crate) fn recv_from(
        &mut self,
        sock: BorrowedFd<'_>,
        fds: &mut Vec<OwnedFd>,
        wait: bool,
    ) -> io::Result<usize> {
        let n = fd_passing::recv_with_fds(sock, self.spare()?, fds, wait)?;
        self.filled(n);
        Ok(n)
    }

    /// True if part of a frame is buffered (EOF now would cut it).
    #[cfg(test)]
    pub(crate) fn has_partial(&self) -> bool {
        self.start != self.end
    }
}

/// The total size of the frame at the front of `avail`, once its length is known.
fn frame_size(avail: &[u8]) -> io::Result<Option<usize>> {
    let Some(len) = avail.get(..8) else {
        return Ok(None);
    };
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    if !((HEADER as u64 - 8)..=MAX_FRAME).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad pool frame length {len}"),
        ));
    }
    Ok(Some(8 + len as usize))
}
