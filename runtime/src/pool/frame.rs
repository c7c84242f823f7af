//! The frame protocol between a [`ProcessPool`](super::ProcessPool) and its
//! workers, and `FrameBuf`, the read buffer that cuts a byte stream into frames.
//!
//! Each worker has one `SOCK_STREAM` unix socket to the parent. Both
//! directions carry length-prefixed frames, all integers little-endian:
//!
//! ```text
//! every frame:   [len u64][kind u8][id u64][body ...]     len = 1 + 8 + body length
//!
//! parent -> worker
//!   TASK   id = task id   body = [trampoline i64][function i64][type hash u64][argument bytes]
//!
//! worker -> parent
//!   HELLO  id = worker pid  body = [probe i64]           first frame, once
//!   OK     id = task id     body = [result bytes]
//!   PANIC  id = task id     body = [panic message, UTF-8]
//!   REJECT id = task id     body = [reason, UTF-8]       type check / argument decode failed
//! ```
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

/// Parent to worker: run a function.
pub(super) const TASK: u8 = 1;
/// Worker to parent: the worker is up (sent once, first).
pub(super) const HELLO: u8 = 2;
/// Worker to parent: the task's encoded result.
pub(super) const OK: u8 = 3;
/// Worker to parent: the task panicked.
pub(super) const PANIC: u8 = 4;
/// Worker to parent: the task could not be called.
pub(super) const REJECT: u8 = 5;

/// `len` + `kind` + `id`.
pub(super) const HEADER: usize = 8 + 1 + 8;
/// The largest frame either side accepts (a sanity bound, not a quota).
const MAX_FRAME: u64 = 1 << 40;

/// Starts a frame in `out`; returns its start for [`finish`].
pub(super) fn begin(out: &mut Vec<u8>, kind: u8, id: u64) -> usize {
    let start = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(&id.to_le_bytes());
    start
}

/// Writes the length of the frame started at `start`, now that the body is in.
pub(super) fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start - 8) as u64;
    out[start..start + 8].copy_from_slice(&len.to_le_bytes());
}

/// Changes the id of a finished frame (task ids are assigned under the
/// pool's lock, after the frame was encoded outside it).
pub(super) fn set_id(frame: &mut [u8], id: u64) {
    frame[9..17].copy_from_slice(&id.to_le_bytes());
}

/// A whole frame of `kind` with a byte body.
pub(super) fn push_frame(out: &mut Vec<u8>, kind: u8, id: u64, body: &[u8]) {
    let start = begin(out, kind, id);
    out.extend_from_slice(body);
    finish(out, start);
}

/// One frame found in a [`FrameBuf`]; `body` indexes into the buffer.
#[derive(Debug, Clone)]
pub(super) struct Frame {
    pub(super) kind: u8,
    pub(super) id: u64,
    pub(super) body: Range<usize>,
}

/// Reads the `i64` at `at` in `body` (for TASK and HELLO bodies).
pub(super) fn i64_at(body: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?))
}

/// A read buffer: bytes arrive at `end`, whole frames are taken from `start`.
///
/// `spare` compacts and grows the buffer only when needed, and grows it to
/// the exact size of a large frame announced by its header, so a 64 MB
/// frame is read straight into place.
pub(super) struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const INITIAL: usize = 256 << 10;
const MIN_READ: usize = 64 << 10;

impl FrameBuf {
    pub(super) fn new() -> FrameBuf {
        FrameBuf {
            buf: vec![0; INITIAL],
            start: 0,
            end: 0,
        }
    }

    /// The next complete frame, if the buffer holds one. Frames returned
    /// stay readable through [`bytes`](FrameBuf::bytes) until the next
    /// [`spare`](FrameBuf::spare).
    pub(super) fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let avail = &self.buf[self.start..self.end];
        let Some(total) = frame_size(avail)? else {
            return Ok(None);
        };
        if avail.len() < total {
            return Ok(None);
        }
        let kind = avail[8];
        let id = u64::from_le_bytes(avail[9..17].try_into().expect("8 bytes"));
        let body = self.start + HEADER..self.start + total;
        self.start += total;
        Ok(Some(Frame { kind, id, body }))
    }

    /// The bytes of a frame's body.
    pub(super) fn bytes(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Room to read into. Grows the buffer so that the frame being received
    /// fits whole (its header says how big it is), and moves a small
    /// partial frame to the front when little room is left. Call it after
    /// taking every complete frame.
    pub(super) fn spare(&mut self) -> io::Result<&mut [u8]> {
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
    pub(super) fn filled(&mut self, n: usize) {
        self.end += n;
        debug_assert!(self.end <= self.buf.len());
    }

    /// True if part of a frame is buffered (EOF now would cut it).
    #[cfg(test)]
    pub(super) fn has_partial(&self) -> bool {
        self.start != self.end
    }
}

/// The total size of the frame at the front of `avail`, once its length is known.
fn frame_size(avail: &[u8]) -> io::Result<Option<usize>> {
    let Some(len) = avail.get(..8) else {
        return Ok(None);
    };
    let len = u64::from_le_bytes(len.try_into().expect("8 bytes"));
    if !(9..=MAX_FRAME).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad pool frame length {len}"),
        ));
    }
    Ok(Some(8 + len as usize))
}
