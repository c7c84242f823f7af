//! The task allocation: header, then the future or its output, in one block.
//!
//! ```text
//!  Cell<F> (one block of the task arena per task, or a Box)
//!  +------------------------------+
//!  | Header (48 bytes)            |  state word, vtable, owning runtime,
//!  |                              |  slot in the owner's task list and the
//!  |                              |  stage tag, join waker, task id
//!  +------------------------------+
//!  | Stage<F>                     |  the future, then its output
//!  +------------------------------+
//! ```
//!
//! `Stage<F>` is a union: which of its fields is live (the future while the
//! task runs, the output once it finished, neither once the output was
//! taken) is told by a one-byte tag in the header, `Header::stage`, which
//! fits in the header's spare bytes. An enum would have carried that tag
//! beside the union and rounded the task up by a word: eight bytes a task,
//! often sixteen after the allocator's rounding. The tag follows the
//! stage's access rules exactly (who may touch one may touch the other).
//!
//! Everything outside this file sees a task as a `NonNull<Header>`; the
//! `Vtable`, built once per future type, is how it reaches the typed part.

use std::alloc::Layout;
use std::any::Any;
use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::task::{Context, Poll};

use super::arena;
use super::id::CurrentTask;
use super::state::{RefDec, State};
use super::waker::CompactWaker;
use super::{Id, JoinError};
use crate::executor::Shared;

/// `owned_index` of a task that has not yet reached its owner's task list
/// (spawned from another thread and still in the injection queue).
pub(crate) const NOT_OWNED: u32 = u32::MAX;

/// The untyped front of every task.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    /// The runtime the task belongs to: wakes are sent there.
    pub(crate) shared: Arc<Shared>,
    /// Index in the owner's task list. Touched only on the owner's thread.
    pub(crate) owned_index: UnsafeCell<u32>,
    /// Which field of the stage union is live; touched only by whoever may
    /// touch the stage (see `stage` below).
    stage: UnsafeCell<StageTag>,
    /// Whether the cell is a block of the task arena (`arena/`) rather
    /// than a `Box`: which of the two frees it. Set once, before the task
    /// is shared.
    in_arena: bool,
    /// The `JoinHandle`'s waker, guarded by the JOIN_WAKER bit of `state`
    /// (see `state.rs`): only the handle writes it, and only while the bit
    /// is clear.
    /// One word (see `CompactWaker`): a waiting task's header, or a boxed
    /// foreign waker.
    pub(crate) join_waker: UnsafeCell<CompactWaker>,
    /// The task's process-wide unique id (`task::Id`).
    pub(crate) id: Id,
}

impl Header {
    /// Wakes the `JoinHandle`'s waker after a completion that found
    /// JOIN_WAKER set, then hands the slot back to the handle.
    ///
    /// The waker is whatever the handle's poller passed in, possibly
    /// another executor's: if waking it panics, the panic is dropped here.
    /// It would otherwise unwind through the thread completing the task (a
    /// worker, in the middle of its loop), as a task's own panic never
    /// does.
    ///
    /// # Safety
    /// The caller made the transition to COMPLETE, that transition
    /// reported the handle's waker (JOIN_WAKER set), and the caller holds
    /// a reference to the task.
    pub(crate) unsafe fn wake_join_handle(&self) {
        // SAFETY: JOIN_WAKER is set, so the slot is read-only for everyone
        // until we clear the bit below: this shared read races no write.
        let waker = unsafe { &*self.join_waker.get() };
        let woken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake_by_ref()));
        drop(woken);
        self.state.unset_join_waker_after_complete();
    }
}

/// The typed operations on a task, one static table per future type.
pub(crate) struct Vtable {
    /// Polls the future; true if it finished (its output, or its panic, is stored).
    pub(crate) poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> bool,
    /// Drops the future and stores a cancellation error as the output.
    pub(crate) cancel: unsafe fn(NonNull<Header>),
    /// Moves the output into `*mut Poll<Result<T, JoinError>>`.
    pub(crate) read_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output, if it is still there.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// True once `read_output` has moved the output out.
    pub(crate) output_taken: unsafe fn(NonNull<Header>) -> bool,
    /// Frees the allocation.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Spawned with `spawn_local`: the future may not be `Send`, so on a
    /// multi-threaded runtime the task never leaves the thread that spawned
    /// it (no stealing, no migration on a wake; see `executor::multi_thread`).
    /// A field of the vtable, not of the header: it costs no task a byte.
    pub(crate) pinned: bool,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// The typed part of a task: the future, then its output (the tag in the
/// header says which, see the module docs).
union Stage<F: Future> {
    future: ManuallyDrop<F>,
    output: ManuallyDrop<Result<F::Output, JoinError>>,
}

/// Which field of a task's `Stage` is live.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
enum StageTag {
    /// The future: not yet finished.
    Running,
    /// The output (or the panic, or the cancellation), not yet taken.
    Finished,
    /// Neither: the output was taken or dropped.
    Consumed,
}

impl<F: Future> Cell<F> {
    const VTABLE: Vtable = Vtable {
        poll: poll::<F>,
        cancel: cancel::<F>,
        read_output: read_output::<F>,
        drop_output: drop_output::<F>,
        output_taken: output_taken::<F>,
        dealloc: dealloc::<F>,
        pinned: false,
    };
    const VTABLE_PINNED: Vtable = Vtable {
        pinned: true,
        ..Cell::<F>::VTABLE
    };
}

/// One counted reference to a task; dropping it gives the reference back.
pub(crate) struct TaskRef(NonNull<Header>);

// SAFETY: a TaskRef is a pointer plus a reference count kept atomically. It
// may travel to another thread (a waker on a plain thread re-queues the task
// through the injection queue), but the future is only ever polled or dropped
// by the runtime that owns it, on its thread.
unsafe impl Send for TaskRef {}

impl TaskRef {
    /// Takes over one reference the caller already holds.
    ///
    /// # Safety
    /// `ptr` is a live task and the caller gives up one reference it owns.
    pub(crate) unsafe fn from_raw(ptr: NonNull<Header>) -> TaskRef {
        TaskRef(ptr)
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the reference we hold keeps the allocation alive.
        unsafe { self.0.as_ref() }
    }

    pub(crate) fn as_ptr(&self) -> NonNull<Header> {
        self.0
    }

    /// Gives up ownership of the reference without dropping it.
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        let ptr = self.0;
        std::mem::forget(self);
        ptr
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe { drop_ref(self.0) }
    }
}

/// Drops two references (a task's run-queue and task-list references, both
/// released on completion) with one atomic operation.
pub(crate) fn drop_two(a: TaskRef, b: TaskRef) {
    debug_assert_eq!(a.0, b.0);
    let ptr = a.0;
    std::mem::forget(a);
    std::mem::forget(b);
    // SAFETY: we owned both references to the live task `ptr`.
    unsafe {
        let header = ptr.as_ref();
        if header.state.ref_dec_by(2) == RefDec::Dealloc {
            (header.vtable.dealloc)(ptr);
        }
    }
}

/// Drops one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller owns one reference to the live task `ptr`.
pub(crate) unsafe fn drop_ref(ptr: NonNull<Header>) {
    // SAFETY: our reference keeps the task alive until `ref_dec`; after
    // `Dealloc` we held the last one, so nobody else can touch the task.
    unsafe {
        let header = ptr.as_ref();
        if header.state.ref_dec() == RefDec::Dealloc {
            (header.vtable.dealloc)(ptr);
        }
    }
}

/// Allocates a task. Returns the run-queue reference, the task-list
/// reference and the `JoinHandle`'s reference (three in all, see `State::new`).
pub(crate) fn allocate<F: Future + 'static>(
    future: F,
    shared: Arc<Shared>,
    owned_index: u32,
) -> (TaskRef, TaskRef, NonNull<Header>) {
    allocate_with(future, shared, owned_index, &Cell::<F>::VTABLE)
}

/// [`allocate`] for a task that must stay on its thread (`Vtable::pinned`).
pub(crate) fn allocate_pinned<F: Future + 'static>(
    future: F,
    shared: Arc<Shared>,
    owned_index: u32,
) -> (TaskRef, TaskRef, NonNull<Header>) {
    allocate_with(future, shared, owned_index, &Cell::<F>::VTABLE_PINNED)
}

fn allocate_with<F: Future + 'static>(
    future: F,
    shared: Arc<Shared>,
    owned_index: u32,
    vtable: &'static Vtable,
) -> (TaskRef, TaskRef, NonNull<Header>) {
    // The memory first, then the cell written straight into it: built
    // beforehand, the cell would sit on the stack and be copied over, and
    // that copy (reading back a value just stored in pieces) cost a tenth
    // of a spawn.
    let layout = Layout::new::<Cell<F>>();
    let (cell, in_arena) = match arena::alloc(layout.size(), layout.align()) {
        // The arena's blocks are 16-byte aligned and at least `layout.size()`
        // bytes; it refuses cells that need more alignment.
        Some(block) => (block.cast::<Cell<F>>(), true),
        None => {
            let boxed: Box<MaybeUninit<Cell<F>>> = Box::new_uninit();
            // SAFETY: Box::into_raw never returns null.
            let cell = unsafe { NonNull::new_unchecked(Box::into_raw(boxed)) };
            (cell.cast::<Cell<F>>(), false)
        }
    };
    // SAFETY: `cell` is fresh memory for one `Cell<F>` (a free arena block
    // or a Box's), that nothing else refers to yet.
    unsafe {
        cell.as_ptr().write(Cell {
            header: Header {
                state: State::new(),
                vtable,
                shared,
                owned_index: UnsafeCell::new(owned_index),
                stage: UnsafeCell::new(StageTag::Running),
                in_arena,
                join_waker: UnsafeCell::new(CompactWaker::none()),
                id: Id::next(),
            },
            stage: UnsafeCell::new(Stage {
                future: ManuallyDrop::new(future),
            }),
        })
    };
    // Cell is repr(C) with the header first, so the cell pointer is also a
    // header pointer.
    let ptr = cell.cast::<Header>();
    (TaskRef(ptr), TaskRef(ptr), ptr)
}

/// # Safety (for all the vtable functions below)
/// `ptr` points at a live `Cell<F>` of this `F`, and the caller has the right
/// to touch the stage: it is the owner thread running the task (`poll`,
/// `cancel`), or it observed COMPLETE and holds the join interest
/// (`read_output`, `drop_output`, `output_taken`), or it dropped the last
/// reference (`dealloc`).
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> StageRef<'a, F> {
    // SAFETY: `ptr` is a live `Cell<F>` (the header is its first field, so
    // the cast is exact), and the caller has exclusive access to the stage
    // and to its tag in the header.
    unsafe {
        let cell = ptr.cast::<Cell<F>>().as_ptr();
        StageRef {
            tag: &mut *(*cell).header.stage.get(),
            stage: (*cell).stage.get(),
        }
    }
}

/// The stage of one task and its tag, borrowed by whoever may touch them.
struct StageRef<'a, F: Future> {
    tag: &'a mut StageTag,
    stage: *mut Stage<F>,
}

impl<F: Future> StageRef<'_, F> {
    /// Drops whatever the stage holds in place (a pinned future must be
    /// dropped where it lies) and leaves it `Consumed`. Returns the panic
    /// of a Drop impl.
    fn clear(&mut self) -> Option<Box<dyn Any + Send>> {
        // The tag changes first: a Drop that panics leaves nothing behind
        // that a later drop would drop again.
        let was = std::mem::replace(self.tag, StageTag::Consumed);
        let stage = self.stage;
        panic::catch_unwind(AssertUnwindSafe(|| match was {
            // SAFETY: the tag said which field is live; it is dropped once,
            // in place, and the tag no longer claims it.
            StageTag::Running => unsafe { ManuallyDrop::drop(&mut (*stage).future) },
            // SAFETY: as above.
            StageTag::Finished => unsafe { ManuallyDrop::drop(&mut (*stage).output) },
            StageTag::Consumed => {}
        }))
        .err()
    }

    /// Stores the output in a cleared stage.
    fn finish(&mut self, output: Result<F::Output, JoinError>) {
        debug_assert_eq!(*self.tag, StageTag::Consumed);
        // SAFETY: the stage is ours and holds nothing (`Consumed`), so the
        // write overwrites no live value.
        unsafe {
            ptr::write(
                self.stage,
                Stage {
                    output: ManuallyDrop::new(output),
                },
            )
        };
        *self.tag = StageTag::Finished;
    }
}

unsafe fn poll<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> bool {
    // SAFETY: the caller is the owner thread running the task (see above).
    let mut stage = unsafe { stage::<F>(ptr) };
    assert!(
        *stage.tag == StageTag::Running,
        "a task was polled after its future finished"
    );
    // SAFETY: the tag says the future is live; it lives in the heap cell
    // and is never moved.
    let future = unsafe { Pin::new_unchecked(&mut *(*stage.stage).future) };
    // `task::id()` inside the future (and in drops the poll makes) answers this task.
    // SAFETY: the caller's reference keeps the header alive.
    let _current = CurrentTask::enter(unsafe { ptr.as_ref() }.id);
    let finished = match panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => return false,
        Ok(Poll::Ready(output)) => Ok(output),
        Err(payload) => Err(JoinError::panic(payload)),
    };
    stage.clear();
    stage.finish(finished);
    true
}

unsafe fn cancel<F: Future>(ptr: NonNull<Header>) {
    // The future's Drop may ask `task::id()`, as it could while polled.
    // SAFETY: the caller's reference keeps the header alive.
    let _current = CurrentTask::enter(unsafe { ptr.as_ref() }.id);
    // SAFETY: the caller is the owner thread and the task is not being polled.
    let mut stage = unsafe { stage::<F>(ptr) };
    let error = match stage.clear() {
        Some(payload) => JoinError::panic(payload),
        None => JoinError::cancelled(),
    };
    stage.finish(Err(error));
}

unsafe fn read_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: the caller observed COMPLETE and holds the join interest, so
    // the stage is its alone.
    let stage = unsafe { stage::<F>(ptr) };
    if *stage.tag != StageTag::Finished {
        panic!("JoinHandle polled after it returned its output");
    }
    *stage.tag = StageTag::Consumed;
    // SAFETY: the tag said the output is live; it is moved out once and the
    // tag no longer claims it. `dst` points at the JoinHandle's
    // `Poll<Result<F::Output, JoinError>>` slot (see `JoinHandle::poll`),
    // whose old value is `Pending` (nothing to drop).
    unsafe {
        let output = ManuallyDrop::take(&mut (*stage.stage).output);
        *(dst as *mut Poll<Result<F::Output, JoinError>>) = Poll::Ready(output);
    }
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller observed COMPLETE and the output is its to drop
    // (no JoinHandle interested, or it is that handle).
    let mut stage = unsafe { stage::<F>(ptr) };
    if *stage.tag == StageTag::Finished {
        stage.clear();
    }
}

unsafe fn output_taken<F: Future>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the caller observed COMPLETE and holds the join interest, so
    // the stage is its alone to read; only `read_output` leaves `Consumed`
    // after completion.
    *unsafe { stage::<F>(ptr) }.tag == StageTag::Consumed
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller dropped the last reference, so the stage is its
    // alone: whatever it still holds is dropped (usually nothing: a task
    // is freed after its output was taken or dropped).
    let stage = unsafe { stage::<F>(ptr) };
    if *stage.tag != StageTag::Consumed {
        let tag = std::mem::replace(stage.tag, StageTag::Consumed);
        // SAFETY: as above: the tag said which field is live, and it is
        // dropped once, in place.
        unsafe {
            match tag {
                StageTag::Running => ManuallyDrop::drop(&mut (*stage.stage).future),
                StageTag::Finished => ManuallyDrop::drop(&mut (*stage.stage).output),
                StageTag::Consumed => {}
            }
        }
    }
    let cell = ptr.cast::<Cell<F>>();
    // SAFETY: the cell made in `allocate_with` is ours to free: from the
    // arena if its header says so, else a `Box`. Dropping it in place
    // drops the header's fields; the stage's are `ManuallyDrop`, already
    // dropped above.
    unsafe {
        if (*cell.as_ptr()).header.in_arena {
            // Gives the block back even if a header field's drop panics
            // (a foreign join waker's), as a Box's drop would.
            struct FreeOnDrop(NonNull<u8>, usize);
            impl Drop for FreeOnDrop {
                #[inline]
                fn drop(&mut self) {
                    // SAFETY: the block came from `arena::alloc` with this
                    // size, and its contents are dropped (or being
                    // unwound past): nobody uses it again.
                    unsafe { arena::free(self.0, self.1) };
                }
            }
            let _free = FreeOnDrop(cell.cast(), Layout::new::<Cell<F>>().size());
            ptr::drop_in_place(cell.as_ptr());
        } else {
            drop(Box::from_raw(cell.as_ptr()));
        }
    }
}

// The sizes every task pays for. A million tasks make each byte a
// megabyte, and the task arena rounds a cell up to its next size class (a
// multiple of 16, no per-block header), so a few bytes can cost sixteen.
// (The global allocator, which serves the cells too large for the arena,
// adds its own 8-byte chunk header on glibc before rounding.)
#[cfg(all(test, not(loom)))]
mod layout_tests {
    use std::mem::size_of;

    use super::{Cell, Header};
    use crate::task::{JoinError, JoinHandle};

    fn cell_size<F: std::future::Future>(_: &F) -> usize {
        size_of::<Cell<F>>()
    }

    #[test]
    fn join_handle_and_join_error_are_one_pointer() {
        assert_eq!(size_of::<JoinError>(), 8);
        assert_eq!(size_of::<JoinHandle<u64>>(), 8);
    }

    #[test]
    fn a_small_task_is_header_plus_two_words() {
        // The header, then the future or its `Result<u64, JoinError>`.
        let n = 7u64;
        let task = async move { n };
        // 64 bytes: the arena's 64-byte class (glibc's malloc would take
        // an 80-byte chunk: the request plus 8, rounded up to 16).
        assert_eq!(size_of::<Header>(), 48);
        assert_eq!(cell_size(&task), 48 + 16);
    }

    #[test]
    fn a_sleeping_task_is_header_plus_its_future() {
        let ms = 3u64;
        let task = async move { crate::time::sleep(std::time::Duration::from_millis(ms)).await };
        assert_eq!(size_of::<crate::time::Sleep>(), 24);
        // The header, then the future: the captured `ms`, the `Sleep` and
        // the state tag. 88 bytes: the arena's 96-byte class (and glibc's
        // 96-byte chunk; nine more bytes of future and it would be 112).
        assert_eq!(cell_size(&task), 48 + 40);
    }
}
