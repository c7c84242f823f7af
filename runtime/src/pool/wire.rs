//! [`Wire`]: how a value becomes bytes to cross a process boundary, and back.
//!
//! A [`ProcessPool`](super::ProcessPool) job's argument is encoded in the
//! parent, sent over a socket, decoded in the worker; the result makes the
//! same trip back. The format (documented on the trait) is deliberately
//! simple: little-endian, self-delimiting, no schema and no versioning,
//! since both ends are the same binary.
//!
//! `Vec<u8>` is one `memcpy` each way rather than a loop over bytes:
//! `Vec<T>` calls [`Wire::encode_slice`] / [`Wire::decode_vec`], which `u8`
//! overrides. (Rust has no specialization, so the fast path is a trait
//! method with a default body instead of a second `impl` for `Vec<u8>`.)
//!
//! # Descriptors
//!
//! Some values are handles to kernel objects: an [`OwnedFd`], and the
//! types built on one (a pipe end, a shared memory mapping). Their bytes
//! alone mean nothing in another process: the descriptor itself must
//! travel beside them, as `SCM_RIGHTS` ancillary data on the socket. So
//! encoding has a side channel. [`encode_fd`] duplicates the descriptor
//! into a per-thread list of *outgoing* descriptors and writes its index
//! in that list; the transport takes the list ([`take_outgoing_fds`])
//! right after encoding and sends it with the bytes. The receiving side
//! decodes inside [`with_incoming_fds`], and [`decode_fd`] takes the
//! descriptor at the index it reads. A descriptor that is never decoded
//! (the value failed to decode, or had fewer than were sent) is closed
//! when the incoming list is dropped.

use std::cell::RefCell;
use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// A value that can be sent to a worker process and back: the argument and
/// result types of [`ProcessPool`](super::ProcessPool) jobs and of
/// [`Process`](crate::process::Process) functions, and what an
/// [`ipc`](crate::ipc) pipe or queue carries.
///
/// The encodings, all little-endian and self-delimiting:
///
/// | type | bytes |
/// |---|---|
/// | `u8`..`u128`, `i8`..`i128` | fixed width |
/// | `usize` / `isize` | as `u64` / `i64` |
/// | `f32` / `f64` | the IEEE bits |
/// | `bool` | one byte, 0 or 1 |
/// | `char` | as `u32` |
/// | `()` | nothing |
/// | `String`, `Vec<T>` | length as `u64`, then the bytes / elements (`Vec<u8>`: one copy) |
/// | `Option<T>` | tag byte 0 (None) or 1 + value |
/// | `Result<T, E>` | tag byte 0 + `T` or 1 + `E` |
/// | `Box<T>` | as `T` |
/// | tuples up to 4 | the fields in order |
///
/// Descriptors cross too: an `OwnedFd` (so any socket or pipe end, through
/// `OwnedFd::from`), and the [`ipc`](crate::ipc) types (pipe ends,
/// `Queue`, `Shared`, the locks), travel beside the bytes. There is no
/// implementation for maps (send a `Vec` of pairs) or for tuples of more
/// than 4 (nest them: `(a, b, c, (d, e))`).
///
/// Implement it for your own types by encoding the fields in order:
///
/// ```
/// use spindle_runtime::pool::{DecodeError, Wire};
///
/// struct Point { x: f64, y: f64 }
///
/// impl Wire for Point {
///     fn encode(&self, out: &mut Vec<u8>) {
///         self.x.encode(out);
///         self.y.encode(out);
///     }
///     fn decode(input: &mut &[u8]) -> Result<Point, DecodeError> {
///         Ok(Point { x: f64::decode(input)?, y: f64::decode(input)? })
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to another process: it does not implement `spindle::pool::Wire`",
    note = "`Wire` covers integers, floats, `bool`, `char`, `()`, `String`, `Vec`, `Option`, `Result`, `Box`, tuples of up to 4, `OwnedFd` and the `ipc` types; a map goes as a `Vec` of pairs, a longer tuple nested, and a type of your own with an `impl Wire` (see the trait's docs)"
)]
pub trait Wire: Sized {
    /// Appends the encoding of `self` to `out`.
    fn encode(&self, out: &mut Vec<u8>);

    /// Reads one value from the front of `input` and advances `input` past it.
    fn decode(input: &mut &[u8]) -> Result<Self, DecodeError>;

    /// Appends the elements of a `Vec<Self>` (its length is already written).
    /// The default encodes them one by one; `u8` copies the slice at once.
    fn encode_slice(items: &[Self], out: &mut Vec<u8>) {
        for item in items {
            item.encode(out);
        }
    }

    /// Reads the `len` elements of a `Vec<Self>`. The default decodes them
    /// one by one; `u8` copies them at once.
    fn decode_vec(input: &mut &[u8], len: usize) -> Result<Vec<Self>, DecodeError> {
        // Do not trust `len` for the allocation: the input bounds it.
        let mut items = Vec::with_capacity(len.min(input.len()));
        for _ in 0..len {
            items.push(Self::decode(input)?);
        }
        Ok(items)
    }
}

/// Bytes that do not decode as the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    what: &'static str,
}

impl DecodeError {
    /// An error saying what was wrong (for `Wire` implementations of your own).
    pub const fn new(what: &'static str) -> DecodeError {
        DecodeError { what }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)
    }
}

impl std::error::Error for DecodeError {}

/// Takes `n` bytes off the front of `input`.
fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if input.len() < n {
        return Err(DecodeError::new("unexpected end of input"));
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn take_array<const N: usize>(input: &mut &[u8]) -> Result<[u8; N], DecodeError> {
    let bytes = take(input, N)?;
    Ok(bytes.try_into().expect("took N bytes"))
}

fn decode_len(input: &mut &[u8]) -> Result<usize, DecodeError> {
    usize::try_from(u64::decode(input)?).map_err(|_| DecodeError::new("length does not fit"))
}

macro_rules! wire_number {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn encode(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn decode(input: &mut &[u8]) -> Result<$t, DecodeError> {
                Ok(<$t>::from_le_bytes(take_array(input)?))
            }
        }
    )*};
}

wire_number!(u16, u32, u64, u128, i8, i16, i32, i64, i128, f32, f64);

impl Wire for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
    fn decode(input: &mut &[u8]) -> Result<u8, DecodeError> {
        Ok(take(input, 1)?[0])
    }
    fn encode_slice(items: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(items);
    }
    fn decode_vec(input: &mut &[u8], len: usize) -> Result<Vec<u8>, DecodeError> {
        Ok(take(input, len)?.to_vec())
    }
}

impl Wire for usize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as u64).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<usize, DecodeError> {
        usize::try_from(u64::decode(input)?).map_err(|_| DecodeError::new("usize out of range"))
    }
}

impl Wire for isize {
    fn encode(&self, out: &mut Vec<u8>) {
        (*self as i64).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<isize, DecodeError> {
        isize::try_from(i64::decode(input)?).map_err(|_| DecodeError::new("isize out of range"))
    }
}

impl Wire for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode(input: &mut &[u8]) -> Result<bool, DecodeError> {
        match u8::decode(input)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::new("invalid bool")),
        }
    }
}

impl Wire for char {
    fn encode(&self, out: &mut Vec<u8>) {
        u32::from(*self).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<char, DecodeError> {
        char::from_u32(u32::decode(input)?).ok_or(DecodeError::new("invalid char"))
    }
}

impl Wire for () {
    fn encode(&self, _out: &mut Vec<u8>) {}
    fn decode(_input: &mut &[u8]) -> Result<(), DecodeError> {
        Ok(())
    }
    fn decode_vec(_input: &mut &[u8], len: usize) -> Result<Vec<()>, DecodeError> {
        Ok(vec![(); len])
    }
}

impl Wire for String {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        out.extend_from_slice(self.as_bytes());
    }
    fn decode(input: &mut &[u8]) -> Result<String, DecodeError> {
        let len = decode_len(input)?;
        let bytes = take(input, len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| DecodeError::new("invalid UTF-8 in a String"))
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.len() as u64).encode(out);
        T::encode_slice(self, out);
    }
    fn decode(input: &mut &[u8]) -> Result<Vec<T>, DecodeError> {
        let len = decode_len(input)?;
        T::decode_vec(input, len)
    }
}

impl<T: Wire> Wire for Box<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }
    fn decode(input: &mut &[u8]) -> Result<Box<T>, DecodeError> {
        T::decode(input).map(Box::new)
    }
}

impl<T: Wire> Wire for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(value) => {
                out.push(1);
                value.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Option<T>, DecodeError> {
        match u8::decode(input)? {
            0 => Ok(None),
            1 => T::decode(input).map(Some),
            _ => Err(DecodeError::new("invalid Option tag")),
        }
    }
}

impl<T: Wire, E: Wire> Wire for Result<T, E> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Ok(value) => {
                out.push(0);
                value.encode(out);
            }
            Err(e) => {
                out.push(1);
                e.encode(out);
            }
        }
    }
    fn decode(input: &mut &[u8]) -> Result<Result<T, E>, DecodeError> {
        match u8::decode(input)? {
            0 => T::decode(input).map(Ok),
            1 => E::decode(input).map(Err),
            _ => Err(DecodeError::new("invalid Result tag")),
        }
    }
}

macro_rules! wire_tuple {
    ($($name:ident),+) => {
        impl<$($name: Wire),+> Wire for ($($name,)+) {
            #[allow(non_snake_case)]
            fn encode(&self, out: &mut Vec<u8>) {
                let ($($name,)+) = self;
                $($name.encode(out);)+
            }
            fn decode(input: &mut &[u8]) -> Result<Self, DecodeError> {
                Ok(($($name::decode(input)?,)+))
            }
        }
    };
}

wire_tuple!(A);
wire_tuple!(A, B);
wire_tuple!(A, B, C);
wire_tuple!(A, B, C, D);

thread_local! {
    /// Descriptors encoded on this thread and not yet taken by a transport.
    static OUTGOING: RefCell<Vec<OwnedFd>> = const { RefCell::new(Vec::new()) };
    /// The descriptors that arrived with the value being decoded, taken
    /// (`None`) as they are decoded.
    static INCOMING: RefCell<Vec<Option<OwnedFd>>> = const { RefCell::new(Vec::new()) };
}

/// Encodes a descriptor: a duplicate of `fd` (close-on-exec) joins this
/// thread's outgoing list, and its index in the list is written to `out`.
///
/// For [`Wire`] implementations of types that hold a descriptor. Fails
/// only if the descriptor cannot be duplicated (the process is out of
/// descriptors); encoding then writes an index that will not decode, so
/// the receiver reports the error instead of using a wrong descriptor.
pub fn encode_fd(fd: BorrowedFd<'_>, out: &mut Vec<u8>) {
    let index = match fd.try_clone_to_owned() {
        Ok(dup) => OUTGOING.with(|list| {
            let mut list = list.borrow_mut();
            list.push(dup);
            list.len() as u32 - 1
        }),
        Err(_) => u32::MAX,
    };
    index.encode(out);
}

/// Decodes a descriptor written by [`encode_fd`]: takes it from the
/// descriptors that arrived beside the bytes (the transport hands them to
/// the decoding; see the module docs).
pub fn decode_fd(input: &mut &[u8]) -> Result<OwnedFd, DecodeError> {
    let index = u32::decode(input)?;
    if index == u32::MAX {
        return Err(DecodeError::new(
            "the sender could not duplicate a descriptor (out of descriptors?)",
        ));
    }
    INCOMING.with(|list| {
        list.borrow_mut()
            .get_mut(index as usize)
            .and_then(Option::take)
            .ok_or(DecodeError::new(
                "a descriptor did not arrive with the value",
            ))
    })
}

/// Takes the descriptors encoded on this thread since the last call: the
/// transport sends them beside the bytes (see the module docs). Any left
/// behind by an encoding that panicked go along with the next value, at
/// indices no decoding asks for, and are closed on the other side.
pub(crate) fn take_outgoing_fds() -> Vec<OwnedFd> {
    OUTGOING.with(|list| std::mem::take(&mut *list.borrow_mut()))
}

/// Runs `decode` with `fds` as the descriptors that arrived beside the
/// bytes; those it does not take are closed afterwards (also if `decode`
/// panics).
pub(crate) fn with_incoming_fds<R>(fds: Vec<OwnedFd>, decode: impl FnOnce() -> R) -> R {
    if fds.is_empty() && INCOMING.with(|list| list.borrow().is_empty()) {
        return decode(); // the usual case: nothing to install
    }
    /// Puts the list that was there back, closing what is left of ours.
    struct Restore(Vec<Option<OwnedFd>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = std::mem::take(&mut self.0);
            let unused = INCOMING.with(|list| std::mem::replace(&mut *list.borrow_mut(), previous));
            drop(unused);
        }
    }
    let previous = INCOMING.with(|list| {
        std::mem::replace(&mut *list.borrow_mut(), fds.into_iter().map(Some).collect())
    });
    let _restore = Restore(previous);
    decode()
}

impl Wire for OwnedFd {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_fd(self.as_fd(), out);
    }
    fn decode(input: &mut &[u8]) -> Result<OwnedFd, DecodeError> {
        decode_fd(input)
    }
}

/// Encodes `value` into a fresh buffer.
#[cfg(test)]
pub(super) fn to_bytes<T: Wire>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value.encode(&mut out);
    out
}

/// Decodes exactly one `T` from `bytes`: trailing bytes are an error.
pub(crate) fn from_bytes<T: Wire>(mut bytes: &[u8]) -> Result<T, DecodeError> {
    let value = T::decode(&mut bytes)?;
    if !bytes.is_empty() {
        return Err(DecodeError::new("trailing bytes after the value"));
    }
    Ok(value)
}
