//! What the expansions of `join!`, `try_join!` and `select!` call. Public
//! only because macros expand in the user's crate; not an API.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use std::future::{poll_fn, IntoFuture};
pub use std::pin::pin;

/// A future and then, once it finished, its output (for `join!`).
#[derive(Debug)]
pub enum MaybeDone<F: Future> {
    /// Still running.
    Future(F),
    /// Finished; the output waits to be taken.
    Done(F::Output),
    /// The output was taken.
    Gone,
}

impl<F: Future> MaybeDone<F> {
    /// Wraps anything that becomes a future.
    #[inline]
    pub fn new<I: IntoFuture<IntoFuture = F>>(future: I) -> MaybeDone<F> {
        MaybeDone::Future(future.into_future())
    }

    /// Polls the future if it is still running; true once it has an output.
    #[inline]
    pub fn poll_done(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        // SAFETY: the future is only ever pinned in place (polled through
        // `Pin::new_unchecked` below, dropped in place by the assignment);
        // `Done` and `Gone` hold nothing pinned.
        let this = unsafe { self.get_unchecked_mut() };
        match this {
            MaybeDone::Future(future) => {
                // SAFETY: `this` is pinned, so is the future inside it.
                match unsafe { Pin::new_unchecked(future) }.poll(cx) {
                    Poll::Ready(output) => {
                        *this = MaybeDone::Done(output);
                        true
                    }
                    Poll::Pending => false,
                }
            }
            MaybeDone::Done(_) => true,
            MaybeDone::Gone => panic!("join! polled after it returned"),
        }
    }

    /// Takes the output.
    ///
    /// # Panics
    /// If the future has not finished, or its output was taken.
    #[inline]
    pub fn take_output(self: Pin<&mut Self>) -> F::Output {
        // SAFETY: we move out only a `Done` output, which is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        match std::mem::replace(this, MaybeDone::Gone) {
            MaybeDone::Done(output) => output,
            _ => panic!("join!: output taken before the future finished"),
        }
    }
}

impl<T, E, F: Future<Output = Result<T, E>>> MaybeDone<F> {
    /// If the future finished with an `Err`, takes it (for `try_join!`).
    #[inline]
    pub fn take_err(self: Pin<&mut Self>) -> Option<E> {
        // SAFETY: as in `take_output`: only an unpinned output moves.
        let this = unsafe { self.get_unchecked_mut() };
        if !matches!(this, MaybeDone::Done(Err(_))) {
            return None;
        }
        match std::mem::replace(this, MaybeDone::Gone) {
            MaybeDone::Done(Err(e)) => Some(e),
            _ => unreachable!("checked just above"),
        }
    }

    /// Takes the `Ok` value of a future that finished without error.
    #[inline]
    pub fn take_ok(self: Pin<&mut Self>) -> T {
        match self.take_output() {
            Ok(value) => value,
            Err(_) => panic!("try_join!: an error was not returned"),
        }
    }
}

thread_local! {
    /// xorshift32 state; 0 until first used, then seeded from std's
    /// per-process random hash keys (a const initialiser: no lazy-init
    /// check on each access).
    static RNG: Cell<u32> = const { Cell::new(0) };
}

fn seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_usize(&RNG as *const _ as usize);
    // xorshift must not start at 0.
    (hasher.finish() as u32) | 1
}

/// A random number in `0..n` (`n > 0`), from a thread-local xorshift: where
/// an unbiased `select!` starts polling, so that no branch is always first.
#[inline]
pub fn random_below(n: u32) -> u32 {
    RNG.with(|rng| {
        let mut x = rng.get();
        if x == 0 {
            x = seed();
        }
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rng.set(x);
        // Multiply-shift maps 32 random bits onto 0..n without a division.
        ((u64::from(x) * u64::from(n)) >> 32) as u32
    })
}
