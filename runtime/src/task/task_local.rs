//! Task-local storage: `task_local!` and [`LocalKey`], the course notes'
//! `threading.local`, but per task instead of per thread (tokio's
//! `task_local!`).
//!
//! # How it works
//!
//! A task-local key is a thread-local slot, `RefCell<Option<T>>`. A task
//! does not own a thread, so the value cannot simply live there: it lives
//! in the [`TaskLocalFuture`] that [`LocalKey::scope`] returns. Each time
//! that future is polled it *swaps* its value into the thread-local slot,
//! polls the inner future, and swaps the value back out (also when the
//! poll panics). Code running inside the poll, at any depth, finds the
//! value with [`LocalKey::with`]; another task polled a moment later on the
//! same thread finds its own value, or none. Scopes nest: the inner scope
//! swaps out the outer value for the length of its poll and restores it.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

/// Declares task-local keys: `static NAME: Type;`, as `thread_local!`.
///
/// ```
/// spindle_runtime::task_local! {
///     static REQUEST_ID: u64;
/// }
/// # spindle_runtime::block_on(async {
/// REQUEST_ID
///     .scope(7, async {
///         assert_eq!(REQUEST_ID.get(), 7);
///     })
///     .await;
/// # });
/// ```
#[macro_export]
macro_rules! task_local {
    () => {};
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty; $($rest:tt)*) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
        $crate::task_local!($($rest)*);
    };
    ($(#[$attr:meta])* $vis:vis static $name:ident: $t:ty) => {
        $crate::__task_local_inner!($(#[$attr])* $vis $name, $t);
    };
}

/// One key of `task_local!`: a static `LocalKey` over a private thread-local.
#[doc(hidden)]
#[macro_export]
macro_rules! __task_local_inner {
    ($(#[$attr:meta])* $vis:vis $name:ident, $t:ty) => {
        $(#[$attr])*
        $vis static $name: $crate::task::LocalKey<$t> = {
            ::std::thread_local! {
                static __SPINDLE_TASK_LOCAL: ::std::cell::RefCell<::std::option::Option<$t>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            $crate::task::LocalKey { inner: __SPINDLE_TASK_LOCAL }
        };
    };
}

/// A key for task-local values, declared with `task_local!`.
pub struct LocalKey<T: 'static> {
    /// The thread-local slot the running scope's value is swapped into.
    #[doc(hidden)]
    pub inner: std::thread::LocalKey<RefCell<Option<T>>>,
}

/// The task-local value was not set: no enclosing `scope` or `sync_scope`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AccessError {
    _private: (),
}

impl fmt::Debug for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessError")
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task-local value not set")
    }
}

impl Error for AccessError {}

impl<T: 'static> LocalKey<T> {
    /// Runs `future` with the key set to `value`: inside it (and only
    /// there) `with`, `try_with` and `get` see `value`.
    pub fn scope<F: Future>(&'static self, value: T, future: F) -> TaskLocalFuture<T, F> {
        TaskLocalFuture {
            local: self,
            slot: Some(value),
            future: Some(future),
            _pinned: PhantomPinned,
        }
    }

    /// Runs the closure `f` with the key set to `value`.
    ///
    /// # Panics
    /// If called inside [`with`](Self::with) of the same key.
    #[track_caller]
    pub fn sync_scope<F: FnOnce() -> R, R>(&'static self, value: T, f: F) -> R {
        let mut slot = Some(value);
        self.scope_inner(&mut slot, f)
    }

    /// Swaps `slot` into the thread-local, runs `f`, swaps it back (also
    /// when `f` panics).
    #[track_caller]
    fn scope_inner<F: FnOnce() -> R, R>(&'static self, slot: &mut Option<T>, f: F) -> R {
        struct SwapBack<'a, T: 'static> {
            local: &'static LocalKey<T>,
            slot: &'a mut Option<T>,
        }
        impl<T: 'static> Drop for SwapBack<'_, T> {
            fn drop(&mut self) {
                // The borrow was checked on the way in, and `with` borrows
                // only for the length of its closure: it is free again.
                self.local
                    .inner
                    .with(|cell| std::mem::swap(self.slot, &mut *cell.borrow_mut()));
            }
        }
        let entered = self.inner.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut current) => {
                std::mem::swap(slot, &mut *current);
                true
            }
            Err(_) => false,
        });
        match entered {
            Ok(true) => {}
            Ok(false) => panic!("cannot enter a task-local scope while the task-local is borrowed"),
            Err(_) => panic!("cannot enter a task-local scope: thread-local storage is gone"),
        }
        let _swap_back = SwapBack { local: self, slot };
        f()
    }

    /// Calls `f` with a reference to the value.
    ///
    /// # Panics
    /// Outside a scope of this key.
    #[track_caller]
    pub fn with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> R {
        match self.try_with(f) {
            Ok(r) => r,
            Err(_) => panic!("task-local value not set: use it inside `KEY.scope(value, future)`"),
        }
    }

    /// Calls `f` with a reference to the value, or fails outside a scope.
    pub fn try_with<F: FnOnce(&T) -> R, R>(&'static self, f: F) -> Result<R, AccessError> {
        let error = AccessError { _private: () };
        self.inner
            .try_with(|cell| {
                let value = cell.try_borrow().map_err(|_| error)?;
                match value.as_ref() {
                    Some(v) => Ok(f(v)),
                    None => Err(error),
                }
            })
            .unwrap_or(Err(error))
    }
}

impl<T: Clone + 'static> LocalKey<T> {
    /// A copy of the value.
    ///
    /// # Panics
    /// Outside a scope of this key.
    #[track_caller]
    pub fn get(&'static self) -> T {
        self.with(|v| v.clone())
    }
}

impl<T: 'static> fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocalKey { .. }")
    }
}

pin_project! {
    /// A future run with a task-local value set; see [`LocalKey::scope`].
    pub struct TaskLocalFuture<T: 'static, F> {
        local: &'static LocalKey<T>,
        // The value while the future is not being polled.
        slot: Option<T>,
        // `None` once finished: it is dropped inside the scope, as soon as
        // it is done, so its destructors see the value too.
        #[pin]
        future: Option<F>,
        #[pin]
        _pinned: PhantomPinned,
    }

    impl<T: 'static, F> PinnedDrop for TaskLocalFuture<T, F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                let mut future = this.future;
                // A future dropped mid-await (cancelled) still sees its value
                // in its destructors, unless the slot is borrowed right now
                // (dropped inside a `with` closure): then it is dropped bare.
                let local = *this.local;
                let free = local
                    .inner
                    .try_with(|cell| cell.try_borrow_mut().is_ok())
                    .unwrap_or(false);
                if free {
                    local.scope_inner(this.slot, || future.set(None));
                } else {
                    future.set(None);
                }
            }
        }
    }
}

impl<T: 'static, F> TaskLocalFuture<T, F> {
    /// Takes the value out of the scope (tokio's `take_value`); `None` if it
    /// was taken already. The future then runs without it.
    pub fn take_value(self: Pin<&mut Self>) -> Option<T> {
        self.project().slot.take()
    }
}

impl<T: 'static, F: Future> Future for TaskLocalFuture<T, F> {
    type Output = F::Output;

    #[track_caller]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let mut future = this.future;
        this.local.scope_inner(this.slot, || {
            let Some(inner) = future.as_mut().as_pin_mut() else {
                panic!("TaskLocalFuture polled after it completed");
            };
            let poll = inner.poll(cx);
            if poll.is_ready() {
                future.set(None);
            }
            poll
        })
    }
}

impl<T: 'static, F> fmt::Debug for TaskLocalFuture<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskLocalFuture")
            .field("finished", &self.future.is_none())
            .finish()
    }
}
