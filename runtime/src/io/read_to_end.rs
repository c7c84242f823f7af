//! The futures behind [`AsyncReadExt::read_to_end`] and
//! [`AsyncReadExt::read_to_string`].
//!
//! [`AsyncReadExt::read_to_end`]: super::AsyncReadExt::read_to_end
//! [`AsyncReadExt::read_to_string`]: super::AsyncReadExt::read_to_string

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::AsyncRead;

/// The smallest amount of free space offered to a read.
const MIN_READ: usize = 32;
/// Largest read size to start with, and the cap it doubles towards.
const START_READ: usize = super::DEFAULT_BUF_SIZE;
const MAX_READ: usize = 1024 * 1024;

/// Reads from `reader` into `buf` until end of stream.
///
/// Without `unsafe` code, a read cannot go straight into a `Vec`'s spare
/// capacity (it is uninitialised), so each read zero-extends `buf` by up to
/// `*max_read` bytes, reads into that tail, and truncates it back to the bytes
/// actually read. `*max_read` doubles while reads fill all the space offered,
/// so big streams take big reads while small ones do not pay for zeroing
/// space they never use. `buf` never holds zeroes that were not read, even
/// when this returns `Pending`.
///
/// A caller who sized `buf` for the data (`Vec::with_capacity(len)`) must
/// not see it reallocated: while `buf` still has the capacity it came with
/// (`caller_capacity`), every byte of it is offered, however little is
/// left, and once it is full the next read goes to a small buffer on the
/// stack (a *probe*, as `std`'s `read_to_end` does). Only if that finds
/// more data does `buf` grow; end of stream leaves it as it was. After
/// growing, the capacity is ours, and it is grown whenever less than
/// `MIN_READ` bytes are free.
fn poll_read_to_end<R: AsyncRead + Unpin + ?Sized>(
    reader: &mut R,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
    max_read: &mut usize,
    caller_capacity: usize,
) -> Poll<io::Result<()>> {
    loop {
        let spare = buf.capacity() - buf.len();
        // Capacity only ever grows, so equality means we have not grown it.
        let grown = buf.capacity() != caller_capacity;
        if spare == 0 && !grown {
            let mut probe = [0u8; MIN_READ];
            match ready!(Pin::new(&mut *reader).poll_read(cx, &mut probe)) {
                Ok(0) => return Poll::Ready(Ok(())),
                // More data than the caller made room for: `buf` grows
                // (geometrically, as `extend` does).
                Ok(n) => buf.extend_from_slice(&probe[..n.min(MIN_READ)]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            continue;
        }
        if spare < MIN_READ && grown {
            // `reserve` grows the capacity geometrically.
            buf.reserve(MIN_READ);
        }
        let len = buf.len();
        let offered = (buf.capacity() - len).min(*max_read);
        buf.resize(len + offered, 0);
        let result = Pin::new(&mut *reader).poll_read(cx, &mut buf[len..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => (*n).min(offered),
            _ => 0,
        };
        buf.truncate(len + n);
        match ready!(result) {
            Ok(0) => return Poll::Ready(Ok(())),
            Ok(_) if n == offered => *max_read = (*max_read * 2).min(MAX_READ),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Future returned by [`AsyncReadExt::read_to_end`](super::AsyncReadExt::read_to_end).
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadToEnd<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut Vec<u8>,
    /// `buf.len()` when the future was created.
    start_len: usize,
    /// `buf.capacity()` when the future was created: the caller's sizing,
    /// kept as long as the data fits (see `poll_read_to_end`).
    start_capacity: usize,
    max_read: usize,
}

impl<'a, R: ?Sized> ReadToEnd<'a, R> {
    pub(super) fn new(reader: &'a mut R, buf: &'a mut Vec<u8>) -> Self {
        let start_len = buf.len();
        let start_capacity = buf.capacity();
        ReadToEnd {
            reader,
            buf,
            start_len,
            start_capacity,
            max_read: START_READ,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToEnd<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        ready!(poll_read_to_end(
            this.reader,
            cx,
            this.buf,
            &mut this.max_read,
            this.start_capacity,
        ))?;
        Poll::Ready(Ok(this.buf.len() - this.start_len))
    }
}

/// Future returned by
/// [`AsyncReadExt::read_to_string`](super::AsyncReadExt::read_to_string).
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct ReadToString<'a, R: ?Sized> {
    reader: &'a mut R,
    buf: &'a mut String,
    /// The bytes read so far; checked and appended to `buf` at the end.
    bytes: Vec<u8>,
    max_read: usize,
}

impl<'a, R: ?Sized> ReadToString<'a, R> {
    pub(super) fn new(reader: &'a mut R, buf: &'a mut String) -> Self {
        ReadToString {
            reader,
            buf,
            bytes: Vec::new(),
            max_read: START_READ,
        }
    }
}

impl<R: AsyncRead + Unpin + ?Sized> Future for ReadToString<'_, R> {
    type Output = io::Result<usize>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        // `bytes` starts empty (capacity 0), so the first read is a small
        // probe: an empty stream allocates nothing.
        ready!(poll_read_to_end(
            this.reader,
            cx,
            &mut this.bytes,
            &mut this.max_read,
            0,
        ))?;
        let text = std::str::from_utf8(&this.bytes).map_err(|_| invalid_utf8())?;
        this.buf.push_str(text);
        Poll::Ready(Ok(this.bytes.len()))
    }
}

/// The error for data that should have been UTF-8 but was not.
pub(super) fn invalid_utf8() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "stream did not contain valid UTF-8",
    )
}

#[cfg(test)]
mod tests {
    use crate::io::test_util::{block_on, ChunkedReader};
    use crate::io::AsyncReadExt;
    use std::io;

    #[test]
    fn read_to_end_appends_everything() {
        let data: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        let mut reader = ChunkedReader::new(&data, 999);
        let mut out = b"prefix".to_vec();
        let n = block_on(reader.read_to_end(&mut out)).unwrap();
        assert_eq!(n, data.len());
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], &data[..]);
        assert!(reader.pendings > 100);
    }

    #[test]
    fn read_to_end_of_empty_stream() {
        let mut reader = ChunkedReader::new(b"", 3);
        let mut out = Vec::new();
        assert_eq!(block_on(reader.read_to_end(&mut out)).unwrap(), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn read_to_end_keeps_a_vec_that_already_fits_the_data() {
        let data: Vec<u8> = (0..=255).cycle().take(10_000).collect();
        // Exactly the data's size, room to spare, and a spare tail smaller
        // than the usual minimum read; each with a prefix already in place.
        for (prefix, room) in [(0, 10_000), (6, 10_000), (6, 12_345), (3, 10)] {
            let data = &data[..room.min(data.len())];
            let mut out = Vec::with_capacity(prefix + room);
            out.extend(std::iter::repeat_n(b'p', prefix));
            let (capacity, ptr) = (out.capacity(), out.as_ptr());
            for chunk in [13, 999, 100_000] {
                out.truncate(prefix);
                let mut reader = ChunkedReader::new(data, chunk);
                let n = block_on(reader.read_to_end(&mut out)).unwrap();
                assert_eq!(n, data.len());
                assert_eq!(&out[prefix..], data);
                assert_eq!(out.capacity(), capacity, "grew ({prefix}, {room}, {chunk})");
                assert_eq!(out.as_ptr(), ptr, "reallocated ({prefix}, {room}, {chunk})");
            }
            // A slice reader fills whatever it is offered in one go.
            out.truncate(prefix);
            let mut src = data;
            block_on(src.read_to_end(&mut out)).unwrap();
            assert_eq!(&out[prefix..], data);
            assert_eq!((out.capacity(), out.as_ptr()), (capacity, ptr));
        }
        // An empty stream into a full (or capacity-less) Vec allocates nothing.
        for mut out in [Vec::new(), b"full".to_vec()] {
            out.shrink_to_fit();
            let capacity = out.capacity();
            let mut reader = ChunkedReader::new(b"", 3);
            assert_eq!(block_on(reader.read_to_end(&mut out)).unwrap(), 0);
            assert_eq!(out.capacity(), capacity);
        }
    }

    #[test]
    fn read_to_end_grows_a_vec_too_small_for_the_data() {
        // One byte more than fits: the probe finds it, and `buf` grows.
        let data: Vec<u8> = (0..=255).cycle().take(1001).collect();
        for chunk in [1, 32, 33, 1000, 5000] {
            let mut out = Vec::with_capacity(1000);
            let mut reader = ChunkedReader::new(&data, chunk);
            assert_eq!(block_on(reader.read_to_end(&mut out)).unwrap(), 1001);
            assert_eq!(out, data);
            assert!(out.capacity() > 1000);
        }
        // Far more than fits, from a full Vec.
        let big: Vec<u8> = (0..=255).cycle().take(70_000).collect();
        let mut out = b"ab".to_vec();
        out.shrink_to_fit();
        let mut reader = ChunkedReader::new(&big, 4096);
        assert_eq!(block_on(reader.read_to_end(&mut out)).unwrap(), big.len());
        assert_eq!(&out[..2], b"ab");
        assert_eq!(&out[2..], &big[..]);
    }

    #[test]
    fn read_to_end_grows_reads_for_fast_sources() {
        // A slice fills whatever it is offered, so reads should grow past the
        // starting size and the result is still exact.
        let data = vec![7u8; 3 * 1024 * 1024 + 5];
        let mut src = &data[..];
        let mut out = Vec::new();
        assert_eq!(block_on(src.read_to_end(&mut out)).unwrap(), data.len());
        assert_eq!(out, data);
    }

    #[test]
    fn read_to_end_keeps_data_read_before_an_error() {
        let mut reader = ChunkedReader::new(b"abcdef", 2).fail_once_at(4, io::ErrorKind::Other);
        let mut out = Vec::new();
        let err = block_on(reader.read_to_end(&mut out)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Other);
        assert_eq!(out, b"abcd");

        let mut reader =
            ChunkedReader::new(b"abcdef", 2).fail_once_at(2, io::ErrorKind::Interrupted);
        let mut out = Vec::new();
        block_on(reader.read_to_end(&mut out)).unwrap();
        assert_eq!(out, b"abcdef");
    }

    #[test]
    fn read_to_string_appends_valid_utf8() {
        let text = "héllo wörld, ünïcode split across chunks";
        let mut reader = ChunkedReader::new(text.as_bytes(), 3);
        let mut out = String::from(">");
        let n = block_on(reader.read_to_string(&mut out)).unwrap();
        assert_eq!(n, text.len());
        assert_eq!(out, format!(">{text}"));
    }

    #[test]
    fn read_to_string_rejects_invalid_utf8_and_appends_nothing() {
        let mut reader = ChunkedReader::new(b"ok \xff\xfe bad", 2);
        let mut out = String::from("keep");
        let err = block_on(reader.read_to_string(&mut out)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(out, "keep");
    }
}
