//! The process locks' protocols on their shared words, apart from the
//! shared memory and the system calls: the atomic steps of the
//! [`Mutex`](super::Mutex) (`lock.rs`), the [`Semaphore`](super::Semaphore)
//! (`semaphore.rs`) and the [`Event`](super::Event) (`event.rs`), and the
//! hand-off that decides who passes on a wake taken by a task that went
//! away (`futex.rs`).
//!
//! Each step takes the word and says what the caller must do next: sleep
//! on the word while it holds some value, or wake one or every sleeper.
//! The callers make the futex calls themselves (`futex.rs`), so the steps
//! need nothing else from the crate. They are `#[inline]` and generic over
//! the word's type, so they compile into the callers as if written there:
//! taking a free `Mutex` is one compare-and-swap, releasing it one swap.
//!
//! # Under loom
//!
//! `tests/ipc_loom.rs` compiles this file into a loom model test (see
//! `tests/core_loom.rs` for how a `#[path]` module does that). The models
//! drive these steps with a stand-in for the futex and check that no
//! wake-up is lost, that a lock excludes, and that a wake taken by a task
//! that went away is passed on exactly once.
//!
//! The steps take the word as any [`Atomic32`]: `std`'s `AtomicU32` (the
//! word in shared memory, `region.rs`) and, in a `cfg(all(loom, test))`
//! build, loom's too; being generic, they compile to the same code as
//! steps on `std`'s type. [`HandOff`] owns its state, and picks loom's
//! `AtomicU8` through the `cfg(all(loom, test))` switch below, as
//! `task/loom.rs` does for the task state.

#[cfg(all(loom, test))]
use loom::sync::atomic::AtomicU8;
#[cfg(not(all(loom, test)))]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::Ordering;

/// The atomic operations the steps use on a lock's word.
pub(crate) trait Atomic32 {
    fn load(&self, order: Ordering) -> u32;
    fn swap(&self, value: u32, order: Ordering) -> u32;
    fn compare_exchange(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32>;
    fn compare_exchange_weak(
        &self,
        current: u32,
        new: u32,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u32, u32>;
    fn fetch_and(&self, value: u32, order: Ordering) -> u32;
}

/// Implements [`Atomic32`] by the type's own methods.
macro_rules! atomic32 {
    ($t:ty) => {
        impl Atomic32 for $t {
            #[inline(always)]
            fn load(&self, order: Ordering) -> u32 {
                <$t>::load(self, order)
            }

            #[inline(always)]
            fn swap(&self, value: u32, order: Ordering) -> u32 {
                <$t>::swap(self, value, order)
            }

            #[inline(always)]
            fn compare_exchange(
                &self,
                current: u32,
                new: u32,
                success: Ordering,
                failure: Ordering,
            ) -> Result<u32, u32> {
                <$t>::compare_exchange(self, current, new, success, failure)
            }

            #[inline(always)]
            fn compare_exchange_weak(
                &self,
                current: u32,
                new: u32,
                success: Ordering,
                failure: Ordering,
            ) -> Result<u32, u32> {
                <$t>::compare_exchange_weak(self, current, new, success, failure)
            }

            #[inline(always)]
            fn fetch_and(&self, value: u32, order: Ordering) -> u32 {
                <$t>::fetch_and(self, value, order)
            }
        }
    };
}

atomic32!(std::sync::atomic::AtomicU32);
#[cfg(all(loom, test))]
atomic32!(loom::sync::atomic::AtomicU32);

/// Who passes on a wake that a task's pool thread took (see "A wake taken
/// by a waiter that went away" in `futex.rs`).
///
/// A task waiting in [`Word::wait`](super::futex::Word::wait) sleeps on a
/// blocking-pool thread. When that sleep ends, the pool thread calls
/// [`pool_thread_finished`](HandOff::pool_thread_finished); if the task's
/// future is dropped before it has the sleep's result, its drop calls
/// [`task_dropped`](HandOff::task_dropped). Whichever of the two comes
/// second, if the task went away, returns true and passes the wake on
/// (`FUTEX_WAKE(1)`): exactly one of them. A task that got the result
/// (which it can only get after the pool thread finished) calls neither,
/// and looks at the word itself.
#[derive(Debug)]
pub(crate) struct HandOff {
    state: AtomicU8,
}

/// The pool thread is (or may be) still asleep.
const SLEEPING: u8 = 0;
/// The pool thread's sleep ended and the task will see it.
const FINISHED: u8 = 1;
/// The task went away: the pool thread passes its wake on.
const CANCELLED: u8 = 2;

impl HandOff {
    pub(crate) fn new() -> HandOff {
        HandOff {
            state: AtomicU8::new(SLEEPING),
        }
    }

    /// The pool thread's sleep ended. True if the task went away already:
    /// the pool thread must pass on the wake it may have taken.
    #[inline]
    pub(crate) fn pool_thread_finished(&self) -> bool {
        self.state
            .compare_exchange(SLEEPING, FINISHED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
    }

    /// The task's future was dropped before it had the sleep's result.
    /// True if the pool thread had finished already (and so passed nothing
    /// on): the dropping task must pass the wake on.
    #[inline]
    pub(crate) fn task_dropped(&self) -> bool {
        self.state.swap(CANCELLED, Ordering::AcqRel) == FINISHED
    }
}

/// The [`Mutex`](super::Mutex)'s word: the owner's pid in bits 0..30, 0
/// when free, and bit 31 set while a caller may be asleep on the word.
pub(crate) mod mutex {
    use super::{Atomic32, Ordering};

    /// Set while a caller may be asleep on the word.
    pub(crate) const WAITERS: u32 = 1 << 31;
    /// The owner's pid (Linux pids are below 2^22).
    pub(crate) const OWNER: u32 = !WAITERS;

    /// Replaces `current` with `new` (acquiring the lock's memory) if the
    /// word holds `current`.
    #[inline]
    pub(crate) fn cas(word: &impl Atomic32, current: u32, new: u32) -> bool {
        word.compare_exchange(current, new, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// The uncontended path: a free lock becomes `me`'s.
    #[inline]
    pub(crate) fn try_lock_free(word: &impl Atomic32, me: u32) -> bool {
        cas(word, 0, me)
    }

    /// One look at a taken lock for `me`: spin `spins` times waiting for it
    /// to be freed, then either take it (`None`) or set the waiters bit and
    /// say what value to sleep on (`Some`).
    ///
    /// A lock taken here keeps the waiters bit: others may be asleep, and
    /// the release must wake one.
    #[inline]
    pub(crate) fn attempt(word: &impl Atomic32, me: u32, spins: u32) -> Option<u32> {
        for _ in 0..spins {
            if word.load(Ordering::Relaxed) == 0 && cas(word, 0, me) {
                return None;
            }
            std::hint::spin_loop();
        }
        loop {
            let v = word.load(Ordering::Relaxed);
            if v == 0 {
                // Others may be asleep: keep the bit, so our release wakes one.
                if cas(word, 0, me | WAITERS) {
                    return None;
                }
            } else if v & WAITERS != 0 {
                return Some(v);
            } else if word
                .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Some(v | WAITERS);
            }
        }
    }

    /// Makes `me` the owner in place of the owner in `seen` (which the
    /// caller found dead), if the word still holds `seen`: of several
    /// callers, one wins.
    #[inline]
    pub(crate) fn take_over(word: &impl Atomic32, seen: u32, me: u32) -> bool {
        cas(word, seen, me | WAITERS)
    }

    /// Releases the lock. True if a caller may be asleep: wake one.
    #[inline]
    pub(crate) fn unlock(word: &impl Atomic32) -> bool {
        word.swap(0, Ordering::Release) & WAITERS != 0
    }
}

/// The [`Semaphore`](super::Semaphore)'s word: the free permits in bits
/// 0..30, and bit 31 set while a caller may be asleep on the word.
pub(crate) mod semaphore {
    use super::{Atomic32, Ordering};

    /// Set while a caller may be asleep on the word.
    pub(crate) const WAITERS: u32 = 1 << 31;
    /// The free permits.
    pub(crate) const COUNT: u32 = !WAITERS;

    /// Takes a permit if there is one; else the word as seen.
    #[inline]
    pub(crate) fn try_take(word: &impl Atomic32) -> Result<(), u32> {
        let mut v = word.load(Ordering::Relaxed);
        loop {
            if v & COUNT == 0 {
                return Err(v);
            }
            match word.compare_exchange_weak(v, v - 1, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => v = now,
            }
        }
    }

    /// Takes a permit (`None`), or sets the waiters flag and says what
    /// value to sleep on (`Some`).
    #[inline]
    pub(crate) fn attempt(word: &impl Atomic32) -> Option<u32> {
        loop {
            let v = match try_take(word) {
                Ok(()) => return None,
                Err(v) => v,
            };
            if v & WAITERS != 0 {
                return Some(v);
            }
            let flagged =
                word.compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed);
            if flagged.is_ok() {
                return Some(v | WAITERS);
            }
        }
    }

    /// Adds a permit and clears the waiters flag. True if the flag was
    /// set: wake every sleeper (each looks again; those that find no
    /// permit set the flag again).
    ///
    /// # Panics
    /// If the word already holds [`COUNT`] permits.
    #[inline]
    pub(crate) fn release(word: &impl Atomic32) -> bool {
        let mut v = word.load(Ordering::Relaxed);
        loop {
            assert!(
                v & COUNT < COUNT,
                "ipc::Semaphore::release: the count would overflow"
            );
            // One more permit, and the waiters flag cleared: they all wake.
            let new = (v & COUNT) + 1;
            match word.compare_exchange_weak(v, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return v & WAITERS != 0,
                Err(now) => v = now,
            }
        }
    }
}

/// The [`Event`](super::Event)'s word: bit 0 is the flag, bit 1 is set
/// while a caller may be asleep on the word.
pub(crate) mod event {
    use super::{Atomic32, Ordering};

    /// The flag.
    pub(crate) const SET: u32 = 1;
    /// A caller may be asleep on the word.
    pub(crate) const WAITERS: u32 = 2;

    /// Sets the flag (and clears the waiters bit). True if a caller may be
    /// asleep: wake them all.
    #[inline]
    pub(crate) fn set(word: &impl Atomic32) -> bool {
        word.swap(SET, Ordering::AcqRel) & WAITERS != 0
    }

    /// Clears the flag.
    #[inline]
    pub(crate) fn clear(word: &impl Atomic32) {
        word.fetch_and(!SET, Ordering::AcqRel);
    }

    /// Whether the flag is set.
    #[inline]
    pub(crate) fn is_set(word: &impl Atomic32) -> bool {
        word.load(Ordering::Acquire) & SET != 0
    }

    /// `None` if the flag is set; else marks a sleeper and says what value
    /// to sleep on.
    #[inline]
    pub(crate) fn attempt(word: &impl Atomic32) -> Option<u32> {
        loop {
            let v = word.load(Ordering::Acquire);
            if v & SET != 0 {
                return None;
            }
            if v & WAITERS != 0 {
                return Some(v);
            }
            if word
                .compare_exchange(v, v | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return Some(v | WAITERS);
            }
        }
    }
}

/// The wait words of the [`Queue`](super::Queue)'s ring (`ring.rs`): an
/// event count in bits 0..30, bumped each time a sleeper must wake, and
/// bit 31 set while a caller may be asleep on the word.
///
/// Both steps run under the ring's lock, which also guards the condition
/// the sleepers wait for (an item, or room). So the word changes only
/// under that lock: a caller that saw the condition false marks itself
/// ([`prepare`](eventcount::prepare)) before releasing the lock, and the
/// next caller that makes it true sees the mark ([`notify`](eventcount::notify))
/// and bumps the count, then wakes every sleeper once it has released
/// the lock. A sleeper that comes to the futex after the bump finds a
/// value it did not expect and does not sleep: no wake is lost between
/// the lock's release and the sleep.
pub(crate) mod eventcount {
    use super::{Atomic32, Ordering};

    /// Set while a caller may be asleep on the word.
    pub(crate) const WAITERS: u32 = 1 << 31;
    /// The count.
    pub(crate) const COUNT: u32 = !WAITERS;

    /// Marks a sleeper and says what value to sleep on. Under the lock,
    /// after seeing the condition false.
    #[inline]
    pub(crate) fn prepare(word: &impl Atomic32) -> u32 {
        let v = word.load(Ordering::Relaxed);
        if v & WAITERS == 0 {
            word.swap(v | WAITERS, Ordering::Relaxed);
        }
        v | WAITERS
    }

    /// Under the lock, after making the condition true: bumps the count
    /// and clears the mark if a caller may be asleep. True if so: wake
    /// every sleeper once the lock is released.
    #[inline]
    pub(crate) fn notify(word: &impl Atomic32) -> bool {
        let v = word.load(Ordering::Relaxed);
        if v & WAITERS == 0 {
            return false;
        }
        word.swap(v.wrapping_add(1) & COUNT, Ordering::Release);
        true
    }
}
