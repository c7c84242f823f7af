//! [`JoinHandle`] and [`JoinError`]: awaiting a spawned task's result.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Mutex;
use std::task::{Context, Poll};

use super::abort::abort_task;
use super::raw::{drop_ref, Header};
use super::state::{DropJoin, RefDec, SetJoinWaker, UnsetJoinWaker};
use super::waker::CompactWaker;
use super::{AbortHandle, Id};

/// An owned permission to await a spawned task's output.
///
/// Awaiting it gives `Ok(output)`, or a [`JoinError`] if the task panicked
/// or was aborted. Dropping the handle *detaches* the task: it keeps running
/// and its output is dropped when it finishes.
///
/// The handle is one pointer: whether it already returned the output
/// (`FusedFuture::is_terminated`) is read from the task itself.
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves `T` out of the task (which requires T: Send to
// cross threads) and touches the header through atomics.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only allows `abort` and `is_finished`, both atomic.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(crate) fn new(raw: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle holds a reference to the task.
        unsafe { self.raw.as_ref() }
    }

    /// Asks the task to stop. The next time its runtime looks at it, the
    /// future is dropped and awaiting this handle gives a cancelled
    /// [`JoinError`]. A task that already finished keeps its output.
    pub fn abort(&self) {
        abort_task(self.raw);
    }

    /// True once the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.header().state.is_complete()
    }

    /// A handle that can abort the task but not read its output; it may be
    /// cloned and outlive this `JoinHandle`.
    pub fn abort_handle(&self) -> AbortHandle {
        AbortHandle::new(self.raw)
    }

    /// The task's id.
    pub fn id(&self) -> Id {
        self.header().id
    }

    /// Stores `waker` to be woken when the task completes, without reading
    /// the output. True if the task has completed already (then no wake
    /// will come for this registration; the caller must look now).
    pub(crate) fn register_completion_waker(&self, waker: &std::task::Waker) -> bool {
        let header = self.header();
        let snapshot = header.state.join_snapshot();
        if snapshot.complete {
            return true;
        }
        // The slot protocol is in the module docs of `state.rs`.
        if snapshot.join_waker {
            // SAFETY: only this handle ever writes the slot, so a shared
            // read (beside completion's, at most) races no write.
            let stored = unsafe { &*header.join_waker.get() };
            if stored.will_wake(waker) {
                return false;
            }
            if header.state.unset_join_waker() == UnsetJoinWaker::Complete {
                return true;
            }
        }
        // SAFETY: JOIN_WAKER is clear (never set, or cleared by us above)
        // and the task had not completed, so no one else reads the slot.
        unsafe { *header.join_waker.get() = CompactWaker::new(waker) };
        header.state.set_join_waker() == SetJoinWaker::Complete
    }

    /// Takes the output if the task has completed, spending no cooperative
    /// budget and registering no waker; `None` while it still runs.
    ///
    /// # Panics
    /// If the output was already taken.
    pub(crate) fn try_take_output(&mut self) -> Option<Result<T, JoinError>> {
        let header = self.header();
        if !header.state.is_complete() {
            return None;
        }
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: COMPLETE was observed with Acquire ordering and this handle
        // holds the join interest, so the output is ours to take; `out` has
        // the type the vtable writes for this task.
        unsafe { (header.vtable.read_output)(self.raw, &mut out as *mut _ as *mut ()) };
        match out {
            Poll::Ready(output) => Some(output),
            Poll::Pending => unreachable!("read_output always writes the output"),
        }
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let header = self.header();
        // Store the waker for completion to wake (if the task completed
        // meanwhile, take the output now).
        if !header.state.is_complete() && !self.register_completion_waker(cx.waker()) {
            return Poll::Pending;
        }
        // Only a ready answer spends cooperative budget.
        std::task::ready!(crate::coop::poll_proceed(cx));
        Poll::Ready(self.try_take_output().expect("the task was seen complete"))
    }
}

/// `futures::select!` and friends may skip a handle that already returned
/// its output, so it needs no `.fuse()`.
impl<T> futures_core::FusedFuture for JoinHandle<T> {
    fn is_terminated(&self) -> bool {
        let header = self.header();
        // SAFETY: COMPLETE was observed (Acquire) and this handle holds the
        // join interest, so the stage is the handle's alone to look at.
        header.state.is_complete() && unsafe { (header.vtable.output_taken)(self.raw) }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let header = self.header();
        // Take our waker back out of the task when the slot is ours (see
        // `state.rs`). Left there, it would keep the awaiting task alive as
        // long as this one, and freeing a long chain of tasks that await
        // each other would recurse once per link. If completion may still
        // be reading it, the task's deallocation drops it.
        let snapshot = header.state.join_snapshot();
        let slot_is_ours = if snapshot.complete || !snapshot.join_waker {
            !snapshot.join_waker
        } else {
            header.state.unset_join_waker() == UnsetJoinWaker::Unset
        };
        if slot_is_ours {
            // SAFETY: JOIN_WAKER is clear: only this handle touches the slot.
            drop(unsafe { (*header.join_waker.get()).take() });
        }
        if snapshot.complete {
            // Usual after an `.await`: the output is the handle's (taken
            // already, or dropped here), so interest and reference go in
            // one atomic step.
            // SAFETY: COMPLETE was observed and we hold the join interest,
            // so the output (if not yet taken) is ours to drop.
            unsafe { (header.vtable.drop_output)(self.raw) };
            if header.state.release_completed_join() == RefDec::Dealloc {
                // SAFETY: that was the last reference.
                unsafe { (header.vtable.dealloc)(self.raw) };
            }
            return;
        }
        match header.state.drop_join_handle() {
            DropJoin::Released => {}
            // SAFETY: the interest and the last reference were ours.
            DropJoin::Dealloc => unsafe { (header.vtable.dealloc)(self.raw) },
            DropJoin::DropOutputThenRef => {
                // SAFETY: the task completed before we gave up interest, so
                // the output (if not yet taken) is ours to drop; then the
                // handle's reference goes.
                unsafe {
                    (header.vtable.drop_output)(self.raw);
                    drop_ref(self.raw);
                }
            }
        }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Why a task did not produce its output: it panicked, or it was cancelled.
///
/// One pointer wide: a cancellation carries nothing, and a panic's message
/// and payload live in a box of their own. The error sits in every task's
/// allocation beside the output (`Result<T, JoinError>`), so its size is
/// paid by every task, while a panic is rare.
pub struct JoinError {
    repr: Repr,
}

enum Repr {
    Cancelled,
    Panic(Box<PanicRepr>),
}

struct PanicRepr {
    message: Option<String>,
    payload: Mutex<Box<dyn Any + Send + 'static>>,
}

impl JoinError {
    pub(crate) fn cancelled() -> JoinError {
        JoinError {
            repr: Repr::Cancelled,
        }
    }

    pub(crate) fn panic(payload: Box<dyn Any + Send + 'static>) -> JoinError {
        let message = payload
            .downcast_ref::<&'static str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned());
        JoinError {
            repr: Repr::Panic(Box::new(PanicRepr {
                message,
                payload: Mutex::new(payload),
            })),
        }
    }

    /// True if the task was aborted (or its runtime shut down) before finishing.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.repr, Repr::Cancelled)
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.repr, Repr::Panic(_))
    }

    /// The panic message, if the task panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.repr {
            Repr::Panic(panic) => panic.message.as_deref(),
            Repr::Cancelled => None,
        }
    }

    /// The panic payload, to pass to `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking.
    pub fn into_panic(self) -> Box<dyn Any + Send + 'static> {
        self.try_into_panic()
            .expect("`JoinError` reason is not a panic.")
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self.repr {
            Repr::Panic(panic) => Ok(panic
                .payload
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("task was cancelled"),
            Repr::Panic(panic) => match &panic.message {
                Some(m) => write!(f, "task panicked with message {m:?}"),
                None => f.write_str("task panicked"),
            },
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.repr {
            Repr::Cancelled => f.write_str("JoinError::Cancelled"),
            Repr::Panic(panic) => write!(f, "JoinError::Panic({:?})", panic.message),
        }
    }
}

impl std::error::Error for JoinError {}

impl From<JoinError> for io::Error {
    fn from(e: JoinError) -> io::Error {
        io::Error::other(e)
    }
}
