//! The process-wide half of `signal`: the self-pipe, one delivery counter
//! per signal, and the wakers of every [`Signal`](super::Signal) in every
//! runtime.
//!
//! # From handler to task
//!
//! ```text
//!  kernel --signal--> on_signal (any thread): PENDING[n] = true; write(pipe, 1 byte)
//!  pipe readable --> epoll of every runtime with a listener --> one Signal task polls
//!  that task: dispatch() = drain the pipe; for each n with PENDING[n]: COUNTS[n] += 1;
//!             wake every listener of n (in any runtime, through its Waker)
//!  each listener: COUNTS[n] != seen  =>  recv() returns Some(())
//! ```
//!
//! Whoever drains the pipe does the dispatch for everybody, so it does not
//! matter which runtime's reactor noticed the byte first, nor which thread
//! the kernel ran the handler on. The order "drain, then swap the flags"
//! cannot lose a signal: a flag set after the swap comes with a byte
//! written after the drain, which makes the pipe readable again.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::task::Waker;

use slab::Slab;

use super::handler::{self, NSIG, PENDING};
use crate::sys::fd as sys_fd;

/// How many dispatches saw signal `n`. Deliveries between two dispatches
/// are merged into one, as the kernel merges pending standard signals.
static COUNTS: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];

/// Every live listener: its signal and the waker of its last `poll_recv`.
static LISTENERS: Mutex<Slab<Listener>> = Mutex::new(Slab::new());

/// Which signals already have spindle's handler. Also serialises installs.
static INSTALLED: Mutex<[bool; NSIG]> = Mutex::new([false; NSIG]);

struct Listener {
    signum: usize,
    waker: Option<Waker>,
}

/// The self-pipe. Both ends stay open until the process exits: the handler
/// may write at any moment, and a closed, reused descriptor number would
/// have it write into someone else's file.
struct SelfPipe {
    read: OwnedFd,
    write: OwnedFd,
}

fn self_pipe() -> io::Result<&'static SelfPipe> {
    static PIPE: OnceLock<SelfPipe> = OnceLock::new();
    if let Some(pipe) = PIPE.get() {
        return Ok(pipe);
    }
    let (read, write) = sys_fd::pipe2()?;
    // Losing a race to another thread just closes our spare pipe.
    let _ = PIPE.set(SelfPipe { read, write });
    Ok(PIPE.get().expect("the self-pipe was just set"))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes sure spindle's handler is installed for `signum` (once per process)
/// and returns a new close-on-exec descriptor for the self-pipe's read end,
/// for the caller to register with its runtime.
pub(super) fn prepare(signum: usize) -> io::Result<OwnedFd> {
    let pipe = self_pipe()?;
    let mut installed = lock(&INSTALLED);
    if !installed[signum] {
        // Before the first handler runs, it must know where to write.
        handler::set_wake_fd(pipe.write.as_fd());
        handler::install(signum as libc::c_int)?;
        installed[signum] = true;
    }
    drop(installed);
    // F_DUPFD_CLOEXEC. A separate descriptor per listener, because one epoll
    // instance cannot hold the same descriptor number twice.
    pipe.read.try_clone()
}

/// The delivery count of `signum`.
pub(super) fn count(signum: usize) -> u64 {
    COUNTS[signum].load(SeqCst)
}

/// Adds a listener and returns its key.
pub(super) fn add_listener(signum: usize) -> usize {
    lock(&LISTENERS).insert(Listener {
        signum,
        waker: None,
    })
}

/// Stores the waker to wake at the next delivery of the listener's signal.
pub(super) fn set_waker(key: usize, waker: &Waker) {
    let mut listeners = lock(&LISTENERS);
    if let Some(listener) = listeners.get_mut(key) {
        match &listener.waker {
            Some(old) if old.will_wake(waker) => {}
            _ => listener.waker = Some(waker.clone()),
        }
    }
}

/// Forgets a listener.
pub(super) fn remove_listener(key: usize) {
    lock(&LISTENERS).try_remove(key);
}

/// Empties the self-pipe through `reader` (any descriptor for its read
/// end), turns the pending flags into counts, and wakes the listeners of
/// every signal that arrived.
pub(super) fn dispatch(reader: BorrowedFd<'_>) {
    let mut buf = [0u8; 128];
    loop {
        match sys_fd::read(reader, &mut buf) {
            Ok(n) if n > 0 => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // WouldBlock: empty. (EOF cannot happen: the write end never closes.)
            _ => break,
        }
    }
    let mut arrived = [false; NSIG];
    let mut any = false;
    for (signum, flag) in PENDING.iter().enumerate() {
        if flag.swap(false, SeqCst) {
            COUNTS[signum].fetch_add(1, SeqCst);
            arrived[signum] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    let wakers: Vec<Waker> = lock(&LISTENERS)
        .iter_mut()
        .filter(|(_, l)| arrived[l.signum])
        .filter_map(|(_, l)| l.waker.take())
        .collect();
    // Woken outside the lock: a wake may run executor code.
    for waker in wakers {
        waker.wake();
    }
}
