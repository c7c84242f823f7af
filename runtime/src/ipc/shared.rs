//! [`Shared`] and [`SharedArray`]: a value and an array in memory shared
//! between processes (the course notes' `multiprocessing.Value` and
//! `Array`).
//!
//! Each lives in a shared region (an anonymous memory file mapped
//! `MAP_SHARED`, see `region.rs`) laid out as
//!
//! ```text
//! [ lock word | padding to T's alignment | T, T, T, ... ]
//! ```
//!
//! The lock word is an [`ipc::Mutex`](super::Mutex) of its own, and every
//! access holds it for the copy in or out (or for the closure of
//! `update`), so a reader never sees half of another process's write.
//! Like Python's `Value` and `Array` (with their default `lock=True`),
//! these are for small amounts of state: counters, flags, a table of
//! results; a process that dies while holding the lock is handled as the
//! `Mutex` handles it, and the value it was writing may be half-written
//! (still a valid `T`: see [`Plain`]).
//!
//! # Which types can be shared
//!
//! `T` must be [`Plain`]: plain numbers and arrays or tuples of them. A
//! value in shared memory is read by processes that each have their own
//! address space, and may be read half-written, so it must not hold a
//! pointer (a `&str`, a `Box`, a `Vec`: the address means nothing in the
//! other process), a descriptor or a handle, nor have bit patterns that are
//! invalid (`bool`, `char`, most enums).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::Arc;

use super::futex::Word;
use super::lock::{Mutex, MutexGuard, OwnerDied};
use super::region::Region;
use crate::pool::{DecodeError, Wire};

/// Plain data that can live in shared memory: [`Shared`] and
/// [`SharedArray`] hold `Plain` values.
///
/// Implemented for the integers, `f32`, `f64`, `()`, and arrays and tuples
/// (up to 4) of `Plain` types. Use `u8` for a flag (not `bool`) and a
/// number for a state (not an enum).
///
/// # Safety
///
/// Implement it only for a type that (1) holds no pointer, reference,
/// descriptor or other handle whose meaning depends on the process (the
/// bytes are read by other processes, at other addresses), and (2) for
/// which every bit pattern of its bytes (padding aside) is a valid value,
/// all zeros included: a new [`SharedArray`] starts zeroed, and a process
/// killed in the middle of a write leaves a mix of old and new bytes.
/// A `#[repr(C)]` struct of `Plain` fields qualifies.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot live in shared memory: `ipc::Shared` and `ipc::SharedArray` hold only `ipc::Plain` data",
    note = "`Plain` covers the integers, `f32`, `f64`, `()`, and arrays and tuples (up to 4) of them; a pointer (`String`, `Vec`, `Box`) means nothing in another process, and `bool` or an enum could be left half-written: use `u8` for a flag, and an `ipc::pipe` or `ipc::Queue` for variable-sized data"
)]
pub unsafe trait Plain: Copy + Send + Sync + 'static {}

macro_rules! plain {
    ($($t:ty),*) => {$(
        // SAFETY: a number: no pointers, and every bit pattern is a value.
        unsafe impl Plain for $t {}
    )*};
}

plain!(
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    ()
);

// SAFETY: an array of plain values holds no pointers, and its bytes are
// its elements' bytes.
unsafe impl<T: Plain, const N: usize> Plain for [T; N] {}

macro_rules! plain_tuple {
    ($($name:ident),+) => {
        // SAFETY: fields that are plain, and padding, which may hold anything.
        unsafe impl<$($name: Plain),+> Plain for ($($name,)+) {}
    };
}

plain_tuple!(A);
plain_tuple!(A, B);
plain_tuple!(A, B, C);
plain_tuple!(A, B, C, D);

/// The largest alignment a shared value may ask for: a mapping starts on a
/// page, so offsets up to a page keep any smaller alignment.
const PAGE: usize = 4096;

/// Where the data starts: after the lock word, at `T`'s alignment.
const fn data_offset<T>() -> usize {
    let align = align_of::<T>();
    if align > 4 {
        align
    } else {
        4
    }
}

/// The region's length for `len` values of `T`, or `None` on overflow.
fn region_len<T>(len: usize) -> Option<usize> {
    size_of::<T>()
        .checked_mul(len)?
        .checked_add(data_offset::<T>())
}

fn new_region<T>(name: &std::ffi::CStr, len: usize) -> io::Result<(Arc<Region>, Mutex)> {
    if align_of::<T>() > PAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a shared value may not ask for an alignment above 4096",
        ));
    }
    let bytes = region_len::<T>(len)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "shared array too large"))?;
    let region = Region::create(name, bytes)?;
    let lock = Mutex::in_region(Word::new(region.clone(), 0));
    Ok((region, lock))
}

fn decode_region<T>(input: &mut &[u8], len: usize) -> Result<(Arc<Region>, Mutex), DecodeError> {
    if align_of::<T>() > PAGE {
        return Err(DecodeError::new("alignment above 4096"));
    }
    let bytes = region_len::<T>(len).ok_or(DecodeError::new("shared array too large"))?;
    let region = Region::decode(input, bytes)?;
    let lock = Mutex::in_region(Word::new(region.clone(), 0));
    Ok((region, lock))
}

/// Takes the region's lock; a dead previous owner changes nothing here
/// (the values are `Plain`, so even a half-written one is valid).
fn hold(lock: &Mutex) -> MutexGuard<'_> {
    lock.blocking_lock().unwrap_or_else(OwnerDied::into_inner)
}

/// A value in memory shared between processes, like Python's
/// `multiprocessing.Value`.
///
/// A clone, or a copy sent to a `Process` or a pool job (it implements
/// [`Wire`]), or inherited by `fork`, reads and writes the same value.
/// Every access takes the value's own lock (an [`ipc::Mutex`](super::Mutex))
/// for the duration of the copy, or of the closure given to
/// [`update`](Shared::update): keep that closure short, and do not touch
/// the same `Shared` inside it (it would wait for itself). The lock is
/// taken with [`Mutex::blocking_lock`]: from a task, a thread may block
/// for as long as another process holds it in `update`.
///
/// ```
/// use spindle_runtime::ipc::Shared;
///
/// let counter = Shared::new(0u64)?;
/// let other = counter.clone(); // e.g. handed to a child process
/// other.update(|n| n + 1);
/// assert_eq!(counter.get(), 1);
/// # std::io::Result::Ok(())
/// ```
pub struct Shared<T: Plain> {
    lock: Mutex,
    region: Arc<Region>,
    _value: PhantomData<T>,
}

impl<T: Plain> Shared<T> {
    /// A new shared value, holding `value`.
    ///
    /// # Errors
    /// If the memory file cannot be created or mapped.
    pub fn new(value: T) -> io::Result<Shared<T>> {
        let (region, lock) = new_region::<T>(c"spindle-ipc-shared", 1)?;
        let shared = Shared {
            lock,
            region,
            _value: PhantomData,
        };
        shared.set(value);
        Ok(shared)
    }

    fn ptr(&self) -> *mut T {
        self.region
            .ptr(data_offset::<T>(), size_of::<T>())
            .cast::<T>()
    }

    /// The current value.
    pub fn get(&self) -> T {
        let _held = hold(&self.lock);
        // SAFETY: the pointer is in the region, aligned for `T` (the region
        // is page-aligned, the offset a multiple of T's alignment), and
        // holds a valid `T` (any bytes are one: `T: Plain`); no one writes
        // it while we hold the lock.
        unsafe { self.ptr().read() }
    }

    /// Replaces the value.
    pub fn set(&self, value: T) {
        let _held = hold(&self.lock);
        // SAFETY: as in `get`; no one reads or writes it while we hold the
        // lock.
        unsafe { self.ptr().write(value) };
    }

    /// Replaces the value with `f(value)` under the lock, so no other
    /// process's change comes in between, and returns the new value.
    pub fn update(&self, f: impl FnOnce(T) -> T) -> T {
        let _held = hold(&self.lock);
        // SAFETY: as in `get` and `set`: the lock is held throughout.
        let new = f(unsafe { self.ptr().read() });
        // SAFETY: as above.
        unsafe { self.ptr().write(new) };
        new
    }
}

impl<T: Plain> Clone for Shared<T> {
    fn clone(&self) -> Shared<T> {
        Shared {
            lock: self.lock.clone(),
            region: self.region.clone(),
            _value: PhantomData,
        }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Plain> Wire for Shared<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.region.encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Shared<T>, DecodeError> {
        let (region, lock) = decode_region::<T>(input, 1)?;
        Ok(Shared {
            lock,
            region,
            _value: PhantomData,
        })
    }
}

/// A fixed-length array in memory shared between processes, like Python's
/// `multiprocessing.Array`. It starts zeroed.
///
/// Shared as [`Shared`] is (clones, [`Wire`], `fork`), and like it, every
/// access holds the array's own lock for the copy of one element (or for
/// [`update`](SharedArray::update)'s closure).
///
/// ```
/// use spindle_runtime::ipc::SharedArray;
///
/// let results = SharedArray::<f64>::new(4)?;
/// results.set(2, 0.5);
/// assert_eq!(results.get(2), 0.5);
/// assert_eq!(results.to_vec(), [0.0, 0.0, 0.5, 0.0]);
/// # std::io::Result::Ok(())
/// ```
pub struct SharedArray<T: Plain> {
    lock: Mutex,
    region: Arc<Region>,
    len: usize,
    _value: PhantomData<T>,
}

impl<T: Plain> SharedArray<T> {
    /// A new array of `len` zeroed elements.
    ///
    /// # Errors
    /// `InvalidInput` if the array's size overflows; otherwise, if the
    /// memory file cannot be created or mapped.
    pub fn new(len: usize) -> io::Result<SharedArray<T>> {
        let (region, lock) = new_region::<T>(c"spindle-ipc-array", len)?;
        Ok(SharedArray {
            lock,
            region,
            len,
            _value: PhantomData,
        })
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pointer to element `i`.
    ///
    /// # Panics
    /// If `i` is out of bounds.
    fn ptr(&self, i: usize) -> *mut T {
        assert!(
            i < self.len,
            "index {i} out of bounds for a SharedArray of length {}",
            self.len
        );
        self.region
            .ptr(data_offset::<T>() + i * size_of::<T>(), size_of::<T>())
            .cast::<T>()
    }

    /// Element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn get(&self, i: usize) -> T {
        let ptr = self.ptr(i);
        let _held = hold(&self.lock);
        // SAFETY: in the region, aligned (page-aligned base, offset a
        // multiple of T's alignment), a valid `T` (`T: Plain`), and no one
        // writes it while we hold the lock.
        unsafe { ptr.read() }
    }

    /// Sets element `i`.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn set(&self, i: usize, value: T) {
        let ptr = self.ptr(i);
        let _held = hold(&self.lock);
        // SAFETY: as in `get`; no one reads or writes it while we hold the
        // lock.
        unsafe { ptr.write(value) };
    }

    /// Replaces element `i` with `f(element)` under the lock, and returns
    /// the new value.
    ///
    /// # Panics
    /// If `i >= len()`.
    pub fn update(&self, i: usize, f: impl FnOnce(T) -> T) -> T {
        let ptr = self.ptr(i);
        let _held = hold(&self.lock);
        // SAFETY: as in `get` and `set`: the lock is held throughout.
        let new = f(unsafe { ptr.read() });
        // SAFETY: as above.
        unsafe { ptr.write(new) };
        new
    }

    /// A copy of all the elements, taken under one hold of the lock (so a
    /// consistent snapshot).
    pub fn to_vec(&self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len);
        if self.len == 0 {
            return out;
        }
        let first = self.ptr(0);
        let _held = hold(&self.lock);
        // SAFETY: `len` consecutive valid `T`s from `first`, inside the
        // region (checked by `region_len` at creation or decoding); `out`
        // has room for them and does not overlap; no one writes them while
        // we hold the lock.
        unsafe {
            std::ptr::copy_nonoverlapping(first, out.as_mut_ptr(), self.len);
            out.set_len(self.len);
        }
        out
    }
}

impl<T: Plain> Clone for SharedArray<T> {
    fn clone(&self) -> SharedArray<T> {
        SharedArray {
            lock: self.lock.clone(),
            region: self.region.clone(),
            len: self.len,
            _value: PhantomData,
        }
    }
}

impl<T: Plain + fmt::Debug> fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.to_vec()).finish()
    }
}

impl<T: Plain> Wire for SharedArray<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.len.encode(out);
        self.region.encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<SharedArray<T>, DecodeError> {
        let len = usize::decode(input)?;
        let (region, lock) = decode_region::<T>(input, len)?;
        Ok(SharedArray {
            lock,
            region,
            len,
            _value: PhantomData,
        })
    }
}
