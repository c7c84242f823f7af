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

/// A stored waker in one word, for tables that hold a great many (the
/// timer wheel: a million sleeping tasks hold a million).
///
/// A `Waker` is two words, a data pointer and a vtable pointer. Nearly
/// every waker stored in a spindle runtime is a spindle task's, whose
/// vtable is always this module's `VTABLE`, so only the data pointer (the
/// task header) needs keeping. The word is tagged in its low bit:
///
/// ```text
///   ...header pointer...0   a task's waker: owns one task reference
///   ...Box<Waker> ptr...1   any other waker, boxed
///   2                       no waker (fired, or not yet set)
/// ```
///
/// Task headers and boxes are 8-byte aligned, so the low bits are free.
pub(crate) struct CompactWaker(NonNull<()>);

/// The "no waker" word: no allocation lives at address 2.
const NO_WAKER: usize = 2;
const BOXED: usize = 1;

// SAFETY: it holds either a task reference (which `Waker` itself moves and
// shares across threads) or a boxed `Waker` (Send + Sync).
unsafe impl Send for CompactWaker {}
// SAFETY: as above; `&CompactWaker` only compares or clones.
unsafe impl Sync for CompactWaker {}

impl CompactWaker {
    /// No waker.
    pub(crate) fn none() -> CompactWaker {
        // SAFETY: 2 is not null.
        CompactWaker(unsafe { NonNull::new_unchecked(NO_WAKER as *mut ()) })
    }

    /// Stores a clone of `waker`.
    pub(crate) fn new(waker: &Waker) -> CompactWaker {
        if std::ptr::eq(waker.vtable(), &VTABLE) {
            // SAFETY: a waker with this module's vtable has a live task
            // header as its data; the reference taken here is the one the
            // compact waker owns (given back in `into_waker` or `drop`).
            unsafe { header(waker.data()) }.state.ref_inc();
            let ptr = waker.data() as *mut ();
            debug_assert_eq!(ptr.addr() & 7, 0);
            // SAFETY: a task header pointer is not null.
            CompactWaker(unsafe { NonNull::new_unchecked(ptr) })
        } else {
            let boxed = Box::into_raw(Box::new(waker.clone()));
            // SAFETY: a `Box` pointer is not null, and with its low bit set
            // still not null.
            CompactWaker(unsafe { NonNull::new_unchecked(boxed.map_addr(|a| a | BOXED).cast()) })
        }
    }

    fn word(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// Wakes the stored waker, keeping it; does nothing if there is none.
    pub(crate) fn wake_by_ref(&self) {
        let word = self.word();
        if word == NO_WAKER {
        } else if word & BOXED != 0 {
            // SAFETY: a boxed word points at the `Waker` we own.
            unsafe { &*self.0.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>() }.wake_by_ref();
        } else {
            // SAFETY: a task header on which we own a reference, which
            // stays ours: the borrowed waker never drops it.
            unsafe { borrowed_waker(self.0.cast::<Header>()) }.wake_by_ref();
        }
    }

    /// True if waking this would wake the same task as `waker` (as
    /// `Waker::will_wake`). "No waker" wakes nothing.
    pub(crate) fn will_wake(&self, waker: &Waker) -> bool {
        let word = self.word();
        if word == NO_WAKER {
            false
        } else if word & BOXED != 0 {
            // SAFETY: a boxed word points at the `Waker` we own.
            unsafe { &*self.0.as_ptr().map_addr(|a| a & !BOXED).cast::<Waker>() }.will_wake(waker)
        } else {
            std::ptr::eq(waker.vtable(), &VTABLE) && std::ptr::eq(waker.data(), self.0.as_ptr())
        }
    }

    /// Takes the waker out, leaving "no waker"; `None` if there was none.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Waker> {
        let ptr = std::mem::replace(self, CompactWaker::none()).into_raw();
        if ptr.addr() == NO_WAKER {
            None
        } else if ptr.addr() & BOXED != 0 {
            // SAFETY: the box we made in `new`, ours alone; taken once.
            Some(*unsafe { Box::from_raw(ptr.map_addr(|a| a & !BOXED).cast::<Waker>()) })
        } else {
            // SAFETY: a task header with the reference we own: the waker
            // takes that reference over.
            Some(unsafe { Waker::from_raw(raw(ptr as *const ())) })
        }
    }

    /// The tagged pointer, without running our Drop.
    fn into_raw(self) -> *mut () {
        let ptr = self.0.as_ptr();
        std::mem::forget(self);
        ptr
    }
}

impl Drop for CompactWaker {
    #[inline]
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn compact_wakers_are_one_word_and_keep_any_waker() {
        assert_eq!(std::mem::size_of::<CompactWaker>(), 8);
        assert_eq!(std::mem::size_of::<Option<CompactWaker>>(), 8);
        // A foreign waker is boxed, compared and woken as itself.
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut compact = CompactWaker::new(&waker);
        assert!(compact.will_wake(&waker));
        assert!(!compact.will_wake(Waker::noop()));
        compact.take().unwrap().wake();
        assert_eq!(count.0.load(SeqCst), 1);
        assert!(compact.take().is_none());
        assert!(!CompactWaker::none().will_wake(&waker));
        drop(CompactWaker::new(&waker));
        assert_eq!(Arc::strong_count(&count), 2, "the box's clone was dropped");
    }

    #[test]
    fn a_task_waker_is_stored_as_its_header_with_a_reference() {
        let rt = crate::Runtime::new().unwrap();
        rt.block_on(async {
            let task = crate::spawn(async {
                // Our own waker, stored compactly and woken from there.
                let me =
                    std::future::poll_fn(|cx| std::task::Poll::Ready(cx.waker().clone())).await;
                let mut compact = CompactWaker::new(&me);
                assert!(compact.will_wake(&me));
                assert_eq!(compact.word() & BOXED, 0, "a task waker is not boxed");
                let dropped = CompactWaker::new(&me);
                drop(dropped); // gives its reference back
                let mut woken = false;
                std::future::poll_fn(|_| {
                    if woken {
                        return std::task::Poll::Ready(());
                    }
                    woken = true;
                    compact.take().unwrap().wake();
                    std::task::Poll::Pending
                })
                .await;
                7
            });
            assert_eq!(task.await.unwrap(), 7);
        });
    }
}
