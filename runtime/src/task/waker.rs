//! The `Waker` of a task: a pointer to its header and a counted reference.
//!
//! Waking moves the task to SCHEDULED (see `state.rs`) and, if it was idle,
//! hands a reference to the executor's queue: the local run queue when the
//! wake happens on the runtime's own thread (no lock, no system call), the
//! injection queue otherwise (a short lock, and an eventfd write if the
//! runtime is asleep in `epoll_wait`).

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{drop_ref, Header, TaskRef};
use super::state::ToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

fn raw(ptr: *const ()) -> RawWaker {
    RawWaker::new(ptr, &VTABLE)
}

// Every function of the vtable is called with the data pointer of a waker
// made by `raw` below: the header of a live task, on which the waker owns
// one reference (or, for `borrowed_waker`, borrows the caller's).

/// # Safety
/// `ptr` is a waker's data pointer (see above).
unsafe fn header<'a>(ptr: *const ()) -> &'a Header {
    // SAFETY: the waker's reference keeps the task, hence its header, alive.
    unsafe { &*(ptr as *const Header) }
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    // SAFETY: `ptr` is a waker's data pointer; the clone takes its own reference.
    unsafe { header(ptr) }.state.ref_inc();
    raw(ptr)
}

unsafe fn wake(ptr: *const ()) {
    // SAFETY: `wake` consumes the waker: wake through its reference, then
    // give that reference back.
    unsafe {
        wake_by_ref(ptr);
        drop_waker(ptr);
    }
}

unsafe fn wake_by_ref(ptr: *const ()) {
    // SAFETY: `ptr` is a waker's data pointer.
    let header = unsafe { header(ptr) };
    if header.state.transition_to_notified() == ToNotified::Enqueue {
        // SAFETY: the transition took a new reference for the queue entry,
        // which the `TaskRef` now owns; `ptr` is not null.
        let task = unsafe { TaskRef::from_raw(NonNull::new_unchecked(ptr as *mut Header)) };
        crate::executor::schedule(task);
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    // SAFETY: the waker owns one reference, given back here; `ptr` is not null.
    unsafe { drop_ref(NonNull::new_unchecked(ptr as *mut Header)) };
}

/// A waker for the task that borrows the caller's reference instead of
/// taking one: used while the executor polls the task.
///
/// # Safety
/// The caller keeps a reference to the task alive while the waker is in use.
pub(crate) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: `raw` pairs the task pointer with this module's vtable, whose
    // functions uphold the `RawWaker` contract; the `ManuallyDrop` keeps the
    // borrowed reference from being dropped.
    ManuallyDrop::new(unsafe { Waker::from_raw(raw(ptr.as_ptr() as *const ())) })
}
