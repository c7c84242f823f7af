//! Buffers the kernel may own for a while: [`IoBuf`] (written from),
//! [`IoBufMut`] (read into), and [`FixedBuf`], a buffer registered with the
//! ring once so that each operation skips mapping it.
//!
//! A completion-based read is handed the buffer *itself*, not a borrow: the
//! kernel writes into it after the call that started the read returned,
//! possibly after the task that started it was cancelled, so no borrow
//! could last long enough. The operation gives the buffer back with its
//! result: `let (res, buf) = stream.read(buf).await;`.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use super::driver::Driver;
use crate::executor::context;

/// A buffer an operation can write *from*: its first
/// [`bytes_init`](IoBuf::bytes_init) bytes.
///
/// Owned buffers only: the operation keeps the buffer until the kernel is
/// done with it, which may be after its future was dropped. `Vec<u8>`,
/// `Box<[u8]>` and `String` are owned; so is static memory, such as a
/// literal (`&'static [u8]`, `&'static [u8; N]`, `&'static str`), which
/// lives as long as the program. A borrow of anything else is refused at
/// compile time; send a copy instead:
///
/// ```compile_fail,E0277
/// # async fn send(stream: &spindle_runtime::uring::TcpStream, data: Vec<u8>) -> std::io::Result<()> {
/// let (res, _buf) = stream.write_all(&data).await; // a borrowed `&Vec<u8>`: refused
/// res
/// # }
/// ```
///
/// ```
/// # async fn send(stream: &spindle_runtime::uring::TcpStream, data: Vec<u8>) -> std::io::Result<()> {
/// let (res, _buf) = stream.write_all(data.clone()).await; // an owned `Vec<u8>`
/// res?;
/// let (res, _buf) = stream.write_all(b"hello").await; // a literal: static memory
/// res
/// # }
/// ```
///
/// # Safety
///
/// [`stable_ptr`](IoBuf::stable_ptr) must point to `bytes_init()`
/// initialised bytes, and to `bytes_total()` bytes of memory, that stay
/// valid and at the same address as long as the value lives and is not
/// used through `&mut` (moving the value itself must not move them: heap
/// memory, as in `Vec<u8>` and `Box<[u8]>`). The hidden `fixed_index`
/// method must keep its default (`None`): only [`FixedBuf`] names a
/// registered buffer.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned buffer: spindle::uring operations take their buffer and give it back",
    label = "an owned buffer is needed here: `Vec<u8>`, `Box<[u8]>`, `String`, `FixedBuf`, `RingBuf`, or a `&'static` literal",
    note = "the kernel may still use the buffer after the future is dropped, so only static memory (a literal) can be lent to it; send a copy of anything else (`.to_vec()`)"
)]
pub unsafe trait IoBuf: Send + 'static {
    /// Where the bytes are.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes are initialised (what a write sends).
    fn bytes_init(&self) -> usize;
    /// How many bytes fit (what a read may fill).
    fn bytes_total(&self) -> usize;
    /// The ring and index this buffer is registered under, if it is a
    /// [`FixedBuf`].
    #[doc(hidden)]
    fn fixed_index(&self) -> Option<(usize, u16)> {
        None
    }
}

/// A buffer an operation can read *into*, from its start.
///
/// # Safety
///
/// As for [`IoBuf`], and [`stable_mut_ptr`](IoBufMut::stable_mut_ptr) must
/// point to the same `bytes_total()` writable bytes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an owned buffer to read into: spindle::uring reads take their buffer and give it back",
    label = "an owned buffer is needed here: `Vec::with_capacity(n)`, `vec![0u8; n]`, a `Box<[u8]>` or a `FixedBuf`",
    note = "the kernel writes into the buffer after the call, maybe after the future is dropped, so a `&mut [u8]` cannot be lent to it"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Where the bytes are, for writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// Records that the first `n` bytes now hold the data (a read just
    /// filled them). For a `Vec<u8>` this sets its length to `n`.
    ///
    /// # Safety
    ///
    /// The first `n` bytes must be initialised, and `n <= bytes_total()`.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: a Vec's buffer is heap memory that moves only when the Vec
// grows, which needs `&mut`; `len` bytes are initialised of `capacity`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as above; the whole capacity is writable.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: the caller promises n <= capacity and n bytes initialised.
        unsafe { self.set_len(n) };
    }
}

/// `IoBuf` for types whose bytes never move and are all initialised, so
/// that what a write sends and what a read may fill are both `len()`.
macro_rules! whole_buf {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: each type's reason is above it in the invocation below.
        unsafe impl IoBuf for $t {
            fn stable_ptr(&self) -> *const u8 {
                self.as_ptr()
            }
            fn bytes_init(&self) -> usize {
                self.len()
            }
            fn bytes_total(&self) -> usize {
                self.len()
            }
        }
    )*};
}

whole_buf!(
    // A boxed slice is heap memory that never moves, all initialised.
    Box<[u8]>,
    // Static memory lives, at the same address and unchanged, for the rest
    // of the program; every byte is initialised.
    &'static [u8],
    // As for `&'static [u8]`.
    &'static str,
);

// SAFETY: as above.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _n: usize) {
        // All of it is initialised already; the data is `[..n]`.
    }
}

// SAFETY: a String's buffer is heap memory that moves only when the
// String grows, which needs `&mut`; all `len` bytes are initialised. (Not
// `IoBufMut`: a read could leave bytes that are not UTF-8.)
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for `&'static [u8]` (a byte string literal's type).
unsafe impl<const N: usize> IoBuf for &'static [u8; N] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        N
    }
    fn bytes_total(&self) -> usize {
        N
    }
}

/// A request's length field for `n` bytes: at most `u32::MAX` (the kernel
/// moves at most about 2 GiB per request anyway, and reports how much).
pub(super) fn io_len(n: usize) -> u32 {
    n.min(u32::MAX as usize) as u32
}

/// Writes all the initialised bytes of `buf` with `write_from(buf, start)`,
/// one write of `buf[start..]` at a time, until every byte went out; gives
/// the buffer back. A write of nothing is `WriteZero`; `Interrupted` is
/// tried again. (`TcpStream::write_all`, `File::write_all_at`.)
pub(super) async fn write_all_from<B, F, W>(mut buf: B, mut write_from: F) -> (io::Result<()>, B)
where
    B: IoBuf,
    F: FnMut(B, usize) -> W,
    W: std::future::Future<Output = (io::Result<usize>, B)>,
{
    let mut written = 0;
    while written < buf.bytes_init() {
        let (res, back) = write_from(buf, written).await;
        buf = back;
        match res {
            Ok(0) => return (Err(io::ErrorKind::WriteZero.into()), buf),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}

/// The memory of a [`FixedBufPool`]: one allocation, cut in equal parts.
struct PoolMemory {
    /// Never touched through this pointer after registration except by
    /// the `FixedBuf` that holds a given part.
    base: *mut u8,
    len: usize,
    buf_size: usize,
    free: Mutex<Vec<u16>>,
    ring: usize,
}

// SAFETY: the memory is handed out in disjoint parts, one `FixedBuf` each,
// and the free list is behind a mutex.
unsafe impl Send for PoolMemory {}
// SAFETY: as above.
unsafe impl Sync for PoolMemory {}

impl Drop for PoolMemory {
    fn drop(&mut self) {
        // SAFETY: allocated in `FixedBufPool::new` as a boxed slice of `len`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(self.base, self.len)) });
    }
}

/// A set of equal buffers registered with the current runtime's ring
/// (`IORING_REGISTER_BUFFERS`): reads into them (`READ_FIXED`) skip pinning
/// the pages again on every operation.
///
/// A ring has at most one set; make it once, on the runtime's thread, and
/// take buffers from it. A [`FixedBuf`] goes back to the pool when dropped.
/// Used on another runtime's ring, a `FixedBuf` works as a plain buffer.
#[derive(Clone)]
pub struct FixedBufPool {
    memory: Arc<PoolMemory>,
}

impl fmt::Debug for FixedBufPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBufPool")
            .field("buffers", &(self.memory.len / self.memory.buf_size.max(1)))
            .field("buf_size", &self.memory.buf_size)
            .finish()
    }
}

impl FixedBufPool {
    /// Registers `count` buffers of `size` bytes each with the ring of the
    /// runtime running on this thread (on a multi-threaded runtime's
    /// `block_on` thread, that thread's ring, which turns only while a
    /// `block_on` runs there: make a pool that must outlive it in a task).
    ///
    /// Fails outside a runtime's thread, if `count` is 0 or above 16384, if
    /// the ring already has registered buffers, or if the kernel refuses
    /// (locked-memory limits apply: `ulimit -l`).
    pub fn new(count: usize, size: usize) -> io::Result<FixedBufPool> {
        if count == 0 || count > 16384 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "FixedBufPool::new: 1 to 16384 buffers of at least one byte",
            ));
        }
        let shared = context::current_shared()
            .filter(|s| context::is_running(s))
            .ok_or_else(|| {
                io::Error::other("FixedBufPool::new must be called on a spindle runtime's thread")
            })?;
        let driver = Driver::of(&shared)?;
        let len = count
            .checked_mul(size)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pool too large"))?;
        let base = Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut u8;
        let memory = Arc::new(PoolMemory {
            base,
            len,
            buf_size: size,
            free: Mutex::new((0..count as u16).rev().collect()),
            ring: driver.id,
        });
        let iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                // SAFETY: i * size < len: inside the allocation.
                iov_base: unsafe { base.add(i * size) }.cast(),
                iov_len: size,
            })
            .collect();
        driver.register_buffers(&iovecs, memory.clone())?;
        Ok(FixedBufPool { memory })
    }

    /// A free buffer (empty: length 0), or `None` if all are taken.
    pub fn try_take(&self) -> Option<FixedBuf> {
        let index = self
            .memory
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()?;
        Some(FixedBuf {
            memory: self.memory.clone(),
            index,
            len: 0,
        })
    }

    /// The size of each buffer.
    pub fn buf_size(&self) -> usize {
        self.memory.buf_size
    }
}

/// One buffer of a [`FixedBufPool`]: derefs to its initialised bytes.
pub struct FixedBuf {
    memory: Arc<PoolMemory>,
    index: u16,
    len: usize,
}

impl fmt::Debug for FixedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FixedBuf")
            .field("index", &self.index)
            .field("len", &self.len)
            .finish()
    }
}

impl FixedBuf {
    /// How many bytes it holds at most.
    pub fn capacity(&self) -> usize {
        self.memory.buf_size
    }

    /// Replaces the contents with `data` (at most [`capacity`](Self::capacity) bytes).
    pub fn copy_from_slice(&mut self, data: &[u8]) {
        assert!(
            data.len() <= self.capacity(),
            "FixedBuf: data longer than the buffer"
        );
        // SAFETY: our part of the pool is ours alone and `data` fits.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr(), data.len()) };
        self.len = data.len();
    }

    /// Empties it (length 0).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    fn ptr(&self) -> *mut u8 {
        // SAFETY: index < count, so the part lies inside the allocation.
        unsafe {
            self.memory
                .base
                .add(self.index as usize * self.memory.buf_size)
        }
    }
}

impl Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: our part; `len` bytes of it are initialised (all are: zeroed).
        unsafe { std::slice::from_raw_parts(self.ptr(), self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes it exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr(), self.len) }
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.memory
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(self.index);
    }
}

// SAFETY: the part is heap memory owned by the pool, which this buffer's
// Arc keeps alive; it never moves.
unsafe impl IoBuf for FixedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len
    }
    fn bytes_total(&self) -> usize {
        self.memory.buf_size
    }
    fn fixed_index(&self) -> Option<(usize, u16)> {
        Some((self.memory.ring, self.index))
    }
}

// SAFETY: as above; all of the part is writable (and initialised: zeroed).
unsafe impl IoBufMut for FixedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.ptr()
    }
    unsafe fn set_init(&mut self, n: usize) {
        self.len = n;
    }
}
