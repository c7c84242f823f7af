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

unsafe fn header<'a>(ptr: *const ()) -> &'a Header {
    &*(ptr as *const Header)
}

unsafe fn clone(ptr: *const ()) -> RawWaker {
    header(ptr).state.ref_inc();
    raw(ptr)
}

unsafe fn wake(ptr: *const ()) {
    wake_by_ref(ptr);
    drop_waker(ptr);
}

unsafe fn wake_by_ref(ptr: *const ()) {
    let header = header(ptr);
    if header.state.transition_to_notified() == ToNotified::Enqueue {
        // The transition took a new reference for the queue entry.
        let task = TaskRef::from_raw(NonNull::new_unchecked(ptr as *mut Header));
        crate::executor::schedule(task);
    }
}

unsafe fn drop_waker(ptr: *const ()) {
    drop_ref(NonNull::new_unchecked(ptr as *mut Header));
}

/// A waker for the task that borrows the caller's reference instead of
/// taking one: used while the executor polls the task.
///
/// # Safety
/// The caller keeps a reference to the task alive while the waker is in use.
pub(crate) unsafe fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    ManuallyDrop::new(Waker::from_raw(raw(ptr.as_ptr() as *const ())))
}
