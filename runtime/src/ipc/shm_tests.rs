//! Unit tests of the shared memory types' `Wire` encoding: a decoded copy
//! maps the same memory, and a descriptor that is not a sealed memory file
//! of the right size is refused instead of mapped. (The cross-process
//! behaviour is tested with forked children in tests/ipc_shared.rs and
//! tests/ipc_locks.rs.)

use std::os::fd::OwnedFd;

use super::{Event, Mutex, Semaphore, Shared, SharedArray, TryLockError};
use crate::pool::{take_outgoing_fds, with_incoming_fds, DecodeError, Wire};

/// Encodes `value` and decodes it again, as a transport would (descriptors
/// beside the bytes), in this process.
fn round_trip<T: Wire, U: Wire>(value: &T) -> Result<U, DecodeError> {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    let fds = take_outgoing_fds();
    with_incoming_fds(fds, || U::decode(&mut &bytes[..]))
}

#[test]
fn decoded_copies_share_the_memory() {
    let value = Shared::new(3u32).unwrap();
    let copy: Shared<u32> = round_trip(&value).unwrap();
    copy.set(4);
    assert_eq!(value.get(), 4);

    let array = SharedArray::<u64>::new(5).unwrap();
    let copy: SharedArray<u64> = round_trip(&array).unwrap();
    assert_eq!(copy.len(), 5);
    copy.set(4, 9);
    assert_eq!(array.get(4), 9);

    let lock = Mutex::new().unwrap();
    let copy: Mutex = round_trip(&lock).unwrap();
    let _g = copy.try_lock().unwrap();
    assert!(matches!(lock.try_lock(), Err(TryLockError::WouldBlock)));

    let sem = Semaphore::new(3).unwrap();
    let copy: Semaphore = round_trip(&sem).unwrap();
    let _p = copy.try_acquire().unwrap();
    assert_eq!(sem.available_permits(), 2);

    let event = Event::new().unwrap();
    let copy: Event = round_trip(&event).unwrap();
    copy.set();
    assert!(event.is_set());
}

#[test]
fn a_too_small_memory_file_is_refused() {
    // A mutex's file (a few bytes) decoded as a long array.
    let lock = Mutex::new().unwrap();
    let mut bytes = Vec::new();
    1_000_000usize.encode(&mut bytes);
    lock.encode(&mut bytes);
    let fds = take_outgoing_fds();
    let err = with_incoming_fds(fds, || SharedArray::<u64>::decode(&mut &bytes[..])).unwrap_err();
    assert_eq!(err.to_string(), "cannot map the shared memory file");
}

#[test]
fn a_descriptor_that_is_not_a_sealed_memory_file_is_refused() {
    let (read, _write) = crate::sys::fd::pipe2().unwrap();
    let err = round_trip::<OwnedFd, Mutex>(&read).unwrap_err();
    assert_eq!(err.to_string(), "cannot map the shared memory file");
    // An unsealed memory file (the pool's kind) is refused too.
    let unsealed = crate::sys::fd::memfd(c"unsealed", 4096).unwrap();
    assert!(round_trip::<OwnedFd, Shared<u64>>(&unsealed).is_err());
}
