//! [`Mutex`]: a lock that serializes processes (the course notes'
//! `multiprocessing.Lock`), robust against an owner that dies holding it.
//!
//! # The lock word
//!
//! The whole lock is one 32-bit word in shared memory
//! (see `region.rs`):
//!
//! ```text
//!   bit 31       bits 0..30
//! [ waiters ] [ owner's pid, 0 = free ]
//! ```
//!
//! Taking a free lock is one compare-and-swap of `0` to our pid, and
//! releasing it one swap back to `0`: no system call, a few nanoseconds.
//! A caller that finds the lock taken sets the *waiters* bit and sleeps on
//! the word (a futex, see `futex.rs`); a release that sees the bit wakes
//! one sleeper. A waiter that was woken takes the lock with the bit set,
//! since others may still sleep. (These atomic steps are in `protocol.rs`,
//! where `tests/ipc_loom.rs` checks them under loom.)
//!
//! # The owner is a process
//!
//! POSIX robust mutexes (`PTHREAD_MUTEX_ROBUST`) belong to a *thread*: the
//! kernel releases them when that thread exits. That does not fit a guard
//! that lives in a task, which a multi-threaded runtime may move to another
//! thread at any await. Here the owner is the *process* (its pid is what
//! the word holds): a guard may move between the threads of the process
//! that took the lock, and is released when dropped there.
//!
//! # An owner that died
//!
//! Nobody tells a waiter that the owner died, so every sleep is bounded: a
//! waiter wakes every few milliseconds (2 ms at first, doubling up to
//! 100 ms while the owner stays the same), and asks the kernel whether the
//! owner's process has ended (it no longer exists, or is a zombie: see
//! `sys::process::has_exited`). If so, it swaps the dead pid for its own in
//! one compare-and-swap (so exactly one waiter takes over) and gets the
//! lock as `Err(OwnerDied(guard))`: the guard is there, and the error says
//! that the data the lock protects may be half-updated.
//!
//! Caveats, both about pids:
//!
//! * **Pid reuse.** The word holds a number. If the owner dies and the
//!   kernel hands its pid to a new process before any waiter looks, the
//!   waiters take the new process for the owner and wait until it ends.
//!   Linux hands pids out in increasing order up to `pid_max` (4194304 on
//!   most 64-bit systems) before wrapping, so this takes millions of new
//!   processes within one 100 ms sleep.
//! * **One pid namespace.** All the processes sharing the lock must see
//!   each other's pids: a parent, its children and its pool workers do; a
//!   process in another container that received the descriptor may not.
//!
//! A guard belongs to the process that took the lock: a child made by
//! `fork` while its parent held a guard must not drop its copy (that would
//! release the parent's lock). Children made by `Process` and pool workers
//! start afresh and hold no copies.
//!
//! # Waiting in a task
//!
//! [`Mutex::lock`] sleeps on a blocking-pool thread (see `futex.rs`) and
//! takes the lock itself once the sleep ends, on the task's thread: the
//! pool thread never touches the word, so dropping the `lock()` future at
//! any point leaves the lock as it was.

use std::fmt;
use std::io;
use std::sync::atomic::Ordering;

use super::futex::{Backoff, Woke, Word};
use super::protocol::mutex::{self, OWNER};
use super::region::Region;
use crate::pool::{DecodeError, Wire};
use crate::sys::process::{current_pid, has_exited};

/// Spins on a taken lock before going to sleep on it.
const SPINS: u32 = 100;

/// A lock shared by processes, like Python's `multiprocessing.Lock`.
///
/// Create it before starting the processes that share it, then hand it to
/// them: a clone (the same lock) goes to a `Process` or a pool job as (part
/// of) its argument, since `Mutex` implements [`Wire`]. Or share it by
/// `fork`: the mapping is inherited.
///
/// The lock guards no data of its own: it serializes whatever the
/// processes agree it protects (a file, a [`SharedArray`](super::SharedArray)).
///
/// ```
/// # spindle_runtime::block_on(async {
/// use spindle_runtime::ipc::Mutex;
///
/// let lock = Mutex::new()?;
/// {
///     let _guard = lock.lock().await.expect("no owner died");
///     // ... only one process at a time runs this ...
/// }
/// assert!(lock.try_lock().is_ok());
/// # std::io::Result::Ok(()) }).unwrap();
/// ```
///
/// Between the tasks of one process, prefer
/// [`sync::Mutex`](crate::sync::Mutex): a task waiting here ties up a
/// blocking-pool thread for the wait, which is the price of waiting on
/// memory that other processes change.
///
/// # Robustness
///
/// If a process dies while it holds the lock, the next locker gets
/// `Err(OwnerDied(guard))`: it holds the lock all the same (take the guard
/// with [`OwnerDied::into_inner`]), and knows that what the lock protects
/// may be half-updated. Waiters notice the death within milliseconds to a
/// tenth of a second; the module source explains how, and the caveat about
/// reused pids.
#[derive(Clone)]
pub struct Mutex {
    word: Word,
}

/// What [`Mutex::lock`] and [`Mutex::blocking_lock`] return: the guard, or
/// the guard wrapped in [`OwnerDied`].
pub type LockResult<G> = Result<G, OwnerDied<G>>;

/// What [`Mutex::try_lock`] returns.
pub type TryLockResult<G> = Result<G, TryLockError<G>>;

/// The previous owner of the lock died while holding it. The lock is now
/// yours all the same: [`into_inner`](OwnerDied::into_inner) gives the
/// guard. What the lock protects may have been left half-updated.
pub struct OwnerDied<G> {
    guard: G,
}

/// Why [`Mutex::try_lock`] did not simply return the guard.
pub enum TryLockError<G> {
    /// The lock's previous owner died holding it; the lock is now yours.
    OwnerDied(OwnerDied<G>),
    /// Another process (or task, or thread) holds the lock.
    WouldBlock,
}

/// Holds a [`Mutex`] until dropped.
///
/// It may move to another thread of the process that took the lock (the
/// owner is the process), but not to another process.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a> {
    mutex: &'a Mutex,
}

/// The result of one look at the word.
enum Attempt {
    /// The lock is ours (`true`: taken over from a dead owner).
    Locked(bool),
    /// Taken by someone else: sleep while the word holds this value.
    Wait(u32),
}

impl Mutex {
    /// A new, free lock in a fresh shared memory file.
    ///
    /// # Errors
    /// If the memory file cannot be created or mapped (out of memory or of
    /// descriptors).
    pub fn new() -> io::Result<Mutex> {
        let region = Region::create(c"spindle-ipc-mutex", 4)?;
        Ok(Mutex::in_region(Word::new(region, 0)))
    }

    /// The lock in `word` (a `Shared` keeps its lock beside its value).
    pub(super) fn in_region(word: Word) -> Mutex {
        Mutex { word }
    }

    /// Takes the lock, waiting as long as another process (or task, or
    /// thread) holds it. The wait happens on a blocking-pool thread: the
    /// task's thread keeps running other tasks.
    ///
    /// Cancel-safe: dropping the future at any point leaves the lock as it
    /// was (a wake it had taken is passed on to another waiter).
    ///
    /// # Errors
    /// `Err(OwnerDied(guard))` if the previous owner died holding the lock:
    /// the lock is taken all the same.
    ///
    /// # Panics
    /// If it has to wait outside a runtime (use
    /// [`blocking_lock`](Mutex::blocking_lock) there).
    pub async fn lock(&self) -> LockResult<MutexGuard<'_>> {
        if self.try_fast() {
            return Ok(self.guard());
        }
        let mut backoff = Backoff::new();
        let mut expected = match self.attempt(true) {
            Attempt::Locked(died) => return self.locked(died),
            Attempt::Wait(v) => v,
        };
        loop {
            let woke = self.word.wait(expected, backoff.next()).await;
            match self.after_sleep(woke, expected, &mut backoff) {
                Attempt::Locked(died) => return self.locked(died),
                Attempt::Wait(v) => expected = v,
            }
        }
    }

    /// Takes the lock, blocking this thread while another holds it: for
    /// plain threads (in a task, use [`lock`](Mutex::lock)).
    ///
    /// # Errors
    /// `Err(OwnerDied(guard))` as for [`lock`](Mutex::lock).
    pub fn blocking_lock(&self) -> LockResult<MutexGuard<'_>> {
        if self.try_fast() {
            return Ok(self.guard());
        }
        let mut backoff = Backoff::new();
        let mut expected = match self.attempt(true) {
            Attempt::Locked(died) => return self.locked(died),
            Attempt::Wait(v) => v,
        };
        loop {
            let woke = self.word.wait_blocking(expected, backoff.next());
            match self.after_sleep(woke, expected, &mut backoff) {
                Attempt::Locked(died) => return self.locked(died),
                Attempt::Wait(v) => expected = v,
            }
        }
    }

    /// Takes the lock if no live process holds it, without waiting.
    ///
    /// # Errors
    /// [`TryLockError::WouldBlock`] if it is held;
    /// [`TryLockError::OwnerDied`] (with the guard) if its owner had died.
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_>> {
        if self.try_fast() {
            return Ok(self.guard());
        }
        let me = current_pid();
        let v = self.word.atomic().load(Ordering::Relaxed);
        if v == 0 {
            // Freed since the first look.
            if mutex::cas(self.word.atomic(), 0, me) {
                return Ok(self.guard());
            }
        } else if self.take_over_if_dead(v, me) {
            return Err(TryLockError::OwnerDied(OwnerDied {
                guard: self.guard(),
            }));
        }
        Err(TryLockError::WouldBlock)
    }

    /// The pid of the process holding the lock, or `None` if it is free
    /// (a snapshot: it may have changed by the time you look at it).
    pub fn owner(&self) -> Option<u32> {
        let owner = self.word.atomic().load(Ordering::Relaxed) & OWNER;
        (owner != 0).then_some(owner)
    }

    fn guard(&self) -> MutexGuard<'_> {
        MutexGuard { mutex: self }
    }

    fn locked(&self, owner_died: bool) -> LockResult<MutexGuard<'_>> {
        if owner_died {
            Err(OwnerDied {
                guard: self.guard(),
            })
        } else {
            Ok(self.guard())
        }
    }

    /// The uncontended path: a free lock becomes ours.
    #[inline]
    fn try_fast(&self) -> bool {
        mutex::try_lock_free(self.word.atomic(), current_pid())
    }

    /// One look at a taken lock: spin a little (`spin`), then either take
    /// it (it was freed) or set the waiters bit and say what to sleep on.
    fn attempt(&self, spin: bool) -> Attempt {
        let spins = if spin { SPINS } else { 0 };
        match mutex::attempt(self.word.atomic(), current_pid(), spins) {
            None => Attempt::Locked(false),
            Some(v) => Attempt::Wait(v),
        }
    }

    /// What to do once a sleep on `expected` ended: if it timed out with
    /// the same owner, check that the owner lives (and take over if not);
    /// then look again.
    fn after_sleep(&self, woke: Woke, expected: u32, backoff: &mut Backoff) -> Attempt {
        let now = self.word.atomic().load(Ordering::Relaxed);
        if (now & OWNER) != (expected & OWNER) {
            backoff.reset();
        } else if woke == Woke::TimedOut && self.take_over_if_dead(now, current_pid()) {
            return Attempt::Locked(true);
        }
        self.attempt(false)
    }

    /// If the word still holds `seen` and its owner has ended, makes us the
    /// owner (one compare-and-swap: of several waiters, one wins).
    fn take_over_if_dead(&self, seen: u32, me: u32) -> bool {
        let owner = seen & OWNER;
        if owner == 0 || owner == me || !has_exited(owner) {
            return false;
        }
        mutex::take_over(self.word.atomic(), seen, me)
    }

    /// Releases the lock (the guard's drop).
    #[inline]
    fn unlock(&self) {
        if mutex::unlock(self.word.atomic()) {
            self.word.wake(1);
        }
    }
}

impl Drop for MutexGuard<'_> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

impl fmt::Debug for Mutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.owner() {
            Some(pid) => d.field("owner", &pid),
            None => d.field("owner", &format_args!("<free>")),
        };
        d.finish()
    }
}

impl fmt::Debug for MutexGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard").finish_non_exhaustive()
    }
}

impl<G> OwnerDied<G> {
    /// The guard: the lock is held.
    pub fn into_inner(self) -> G {
        self.guard
    }

    /// A reference to the guard.
    pub fn get_ref(&self) -> &G {
        &self.guard
    }

    /// A mutable reference to the guard.
    pub fn get_mut(&mut self) -> &mut G {
        &mut self.guard
    }
}

impl<G> fmt::Debug for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnerDied").finish_non_exhaustive()
    }
}

impl<G> fmt::Display for OwnerDied<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the previous owner of the lock died while holding it")
    }
}

impl<G> std::error::Error for OwnerDied<G> {}

impl<G> fmt::Debug for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::OwnerDied(e) => f.debug_tuple("OwnerDied").field(e).finish(),
            TryLockError::WouldBlock => f.write_str("WouldBlock"),
        }
    }
}

impl<G> fmt::Display for TryLockError<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryLockError::OwnerDied(e) => e.fmt(f),
            TryLockError::WouldBlock => f.write_str("the lock is held"),
        }
    }
}

impl<G> std::error::Error for TryLockError<G> {}

impl Wire for Mutex {
    fn encode(&self, out: &mut Vec<u8>) {
        self.word.region().encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Mutex, DecodeError> {
        let region = Region::decode(input, 4)?;
        Ok(Mutex::in_region(Word::new(region, 0)))
    }
}
