//! [`OnceCell`]: a value set at most once, whose initialiser may `.await`,
//! as in tokio's `sync::OnceCell`.
//!
//! ```
//! use spindle_runtime::sync::OnceCell;
//!
//! static CONFIG: OnceCell<String> = OnceCell::new();
//!
//! spindle_runtime::block_on(async {
//!     let v = CONFIG.get_or_init(|| async { String::from("loaded") }).await;
//!     assert_eq!(v, "loaded");
//!     // Later callers get the same value; the initialiser runs once.
//!     let v = CONFIG.get_or_init(|| async { unreachable!() }).await;
//!     assert_eq!(v, "loaded");
//! });
//! ```
//!
//! # How it works
//!
//! The value lives in a `std::sync::OnceLock`, so reading a set cell is
//! one atomic load. Running the initialiser is serialised by a
//! one-permit [`Semaphore`]: the first caller takes the permit and runs
//! its future; others wait in line (FIFO) for the permit. The winner
//! stores the value and closes the semaphore, which wakes every waiter at
//! once; they then find the value. If the initialising future is dropped
//! (cancelled) or panics, or `get_or_try_init`'s fails, the permit goes
//! back and the next waiter runs its own initialiser: nothing is stored
//! half-way, and nobody waits forever.

use std::fmt;
use std::future::Future;
use std::sync::OnceLock;

use super::semaphore::{Semaphore, TryAcquireError};

/// A value set at most once; see the module docs. `const`-constructible,
/// so it can be a `static`.
pub struct OnceCell<T> {
    value: OnceLock<T>,
    /// One permit: the right to run an initialiser. Closed once set.
    init: Semaphore,
}

impl<T> OnceCell<T> {
    /// An empty cell (a `const fn`, for statics).
    pub const fn new() -> OnceCell<T> {
        OnceCell {
            value: OnceLock::new(),
            init: Semaphore::const_new(1),
        }
    }

    /// [`new`](Self::new), under tokio's name for the `const` constructor.
    pub const fn const_new() -> OnceCell<T> {
        OnceCell::new()
    }

    /// A cell holding `value` if it is `Some`.
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        let cell = OnceCell::new();
        if let Some(value) = value {
            let _ = cell.value.set(value);
            cell.init.close();
        }
        cell
    }

    /// True once a value is set.
    pub fn initialized(&self) -> bool {
        self.value.get().is_some()
    }

    /// The value, if set.
    pub fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, mutably, if set.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.value.get_mut()
    }

    /// Sets the value if the cell is empty and no initialiser is running;
    /// otherwise hands `value` back in the error saying which.
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        match self.init.try_acquire() {
            Ok(_permit) => {
                let result = self
                    .value
                    .set(value)
                    .map_err(SetError::AlreadyInitializedError);
                self.init.close();
                result
            }
            Err(TryAcquireError::NoPermits) => Err(SetError::InitializingError(value)),
            Err(TryAcquireError::Closed) => Err(SetError::AlreadyInitializedError(value)),
        }
    }

    /// The value, running `init` to produce it if the cell is empty. Only
    /// one initialiser runs at a time; callers arriving meanwhile wait for
    /// it. If it is cancelled (its caller's future dropped) or panics, the
    /// next waiter runs its own.
    pub async fn get_or_init<F, Fut>(&self, init: F) -> &T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        match self
            .get_or_try_init(|| async { Ok::<T, std::convert::Infallible>(init().await) })
            .await
        {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// [`get_or_init`](Self::get_or_init) with a fallible initialiser: an
    /// error is returned to this caller, the cell stays empty, and the next
    /// waiter tries its own.
    pub async fn get_or_try_init<E, F, Fut>(&self, init: F) -> Result<&T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let Ok(_permit) = self.init.acquire().await else {
            // Closed: someone set the value.
            return Ok(self.value.get().expect("closed only once set"));
        };
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let value = init().await?;
        let _ = self.value.set(value);
        // Wake every waiter at once: they find the value.
        self.init.close();
        Ok(self.value.get().expect("just set"))
    }

    /// The value, consuming the cell.
    pub fn into_inner(self) -> Option<T> {
        self.value.into_inner()
    }

    /// Takes the value out, leaving the cell empty (and ready to be set
    /// again).
    pub fn take(&mut self) -> Option<T> {
        let value = self.value.take();
        self.init = Semaphore::new(1);
        value
    }
}

impl<T> Default for OnceCell<T> {
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T> From<T> for OnceCell<T> {
    fn from(value: T) -> Self {
        OnceCell::new_with(Some(value))
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    fn clone(&self) -> Self {
        OnceCell::new_with(self.get().cloned())
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: PartialEq> PartialEq for OnceCell<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: Eq> Eq for OnceCell<T> {}

/// Why [`OnceCell::set`] did not set the value (which it hands back).
#[derive(Debug, PartialEq, Eq)]
pub enum SetError<T> {
    /// The cell already holds a value.
    AlreadyInitializedError(T),
    /// An initialiser is running right now.
    InitializingError(T),
}

impl<T> SetError<T> {
    /// True for [`SetError::AlreadyInitializedError`].
    pub fn is_already_init_err(&self) -> bool {
        matches!(self, SetError::AlreadyInitializedError(_))
    }

    /// True for [`SetError::InitializingError`].
    pub fn is_initializing_err(&self) -> bool {
        matches!(self, SetError::InitializingError(_))
    }
}

impl<T> fmt::Display for SetError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetError::AlreadyInitializedError(_) => f.write_str("the cell is already initialized"),
            SetError::InitializingError(_) => f.write_str("the cell is being initialized"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for SetError<T> {}
