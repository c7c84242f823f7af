//! The completion ring of one runtime thread: where operations are queued,
//! submitted, completed, and handed back to the task that awaits them.
//!
//! # One ring per runtime thread
//!
//! A [`Driver`] belongs to one `Shared`, so to one thread that runs tasks
//! (a current-thread runtime, or one worker of a multi-threaded one). It is
//! made the first time an operation starts there. The ring is set up with
//! `SINGLE_ISSUER | DEFER_TASKRUN` where the kernel has them (see the
//! reactor's io_uring backend for what they buy): only that thread enters
//! the ring, and the kernel does the completion work of a request only
//! when that thread asks, in its [`turn`](Driver::turn).
//!
//! # How a completion travels back
//!
//! ```text
//!  task: stream.read(buf).await
//!    Op::start: slot = ops.insert(Waiting), SQE{user_data: slot} -> SqRing
//!    poll -> Pending (waker stored in the slot)
//!  runtime turn, before it waits: io_uring_enter(submit, GETEVENTS)
//!  kernel: data arrives -> completion work queued -> eventfd signalled
//!  poller wait returns (the eventfd is registered like any socket)
//!  runtime turn, after it waits: io_uring_enter(GETEVENTS) runs the work
//!    CQE{user_data: slot, res} -> slot = Done(res) -> waker.wake()
//!  task polled again: Op::poll takes Done(res) and the buffer back
//! ```
//!
//! The eventfd is what lets the runtime sleep in whichever poller it uses
//! (epoll, poll, select, or another io_uring) and still wake for
//! completions: the kernel signals it when completion work is queued for
//! this ring (or, on rings without `DEFER_TASKRUN`, when a completion is
//! posted). Submitting costs nothing extra: the `io_uring_enter` of the
//! turn submits every operation queued since the last one, however many.
//!
//! # Sleeping
//!
//! Where the runtime's thread sleeps while operations are in flight, and
//! how a turn collects what completed: see `driver/turn.rs`.
//!
//! # Who owns the buffer when
//!
//! An operation's resources (its buffer, a boxed socket address) belong to
//! its [`Op`](super::op::Op) future until the kernel is done with them.
//! If the future is dropped first, the resources move into its slot
//! (`Abandoned`), an `ASYNC_CANCEL` is queued, and they are freed only when
//! the operation's completion arrives: cancelled, or finished anyway. So
//! the kernel never writes into freed memory, and nothing leaks. The
//! resources include a reference to the descriptor the request names
//! (`Op::start_on`): a socket dropped while its request still waits in the
//! submission ring keeps its descriptor, and its number, until then.
//!
//! # Other threads, and shutdown
//!
//! Any thread may queue an operation or a cancel (the submission ring is
//! behind a mutex); a thread other than the ring's own then wakes the
//! runtime's thread (`Shared::unpark`), whose next turn submits it. Only
//! that thread ever enters the ring: a single-issuer ring refuses any
//! other, and on any ring a request dies with the thread that submitted
//! it. So a `block_in_place` stand-in, which runs a worker's loop for a
//! while, leaves the ring alone: the operations already in the ring wait
//! for the worker's thread, and one started on the stand-in goes to the
//! next worker's ring (`context::ring_shared`).
//!
//! At shutdown the runtime cancels everything in flight and waits (up to
//! [`SHUTDOWN_GRACE`]) until the kernel has let go of every buffer; the
//! cancelled operations fail with an error that says the runtime shut
//! down. One the kernel still has not finished then (a hung network
//! filesystem, say) stays pending forever, and its buffer is leaked: never
//! freed while the kernel may write into it.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::Waker;
use std::time::{Duration, Instant};

use slab::Slab;
use spindle_reactor::uring::*;
use spindle_reactor::Interest;

use crate::driver::Registration;
use crate::executor::Shared;
use crate::sys::fd as sys_fd;

mod turn;

/// Requests the submission ring holds (the completion ring holds twice
/// as many; more wait in the kernel's overflow list, which we drain).
const ENTRIES: u32 = 1024;
/// Set in the `user_data` of an `ASYNC_CANCEL`; the rest is the slot.
pub(super) const CANCEL_TAG: u64 = 1 << 62;
/// The `user_data` of the poll request that watches the runtime's epoll
/// instance while the runtime sleeps in the ring (see "Sleeping").
const EPOLL_TAG: u64 = 1 << 61;
/// The longest sleep in the ring under valgrind (see "Sleeping").
const VALGRIND_SLICE: Duration = Duration::from_millis(5);

/// `timeout`, capped at [`VALGRIND_SLICE`] when the program runs under
/// valgrind (its preload library is in `LD_PRELOAD`; see "Sleeping").
fn valgrind_slice(timeout: Option<Duration>) -> Option<Duration> {
    static UNDER_VALGRIND: OnceLock<bool> = OnceLock::new();
    let under = *UNDER_VALGRIND.get_or_init(|| {
        std::env::var_os("LD_PRELOAD")
            .is_some_and(|preload| preload.to_string_lossy().contains("vgpreload"))
    });
    if under {
        Some(timeout.map_or(VALGRIND_SLICE, |t| t.min(VALGRIND_SLICE)))
    } else {
        timeout
    }
}

/// How long shutdown waits for the kernel to finish cancelled operations.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The set-ups to try, best first (see the reactor's io_uring backend).
const SETUPS: [u32; 3] = [
    IORING_SETUP_SINGLE_ISSUER
        | IORING_SETUP_DEFER_TASKRUN
        | IORING_SETUP_R_DISABLED
        | IORING_SETUP_TASKRUN_FLAG
        | IORING_SETUP_SUBMIT_ALL,
    IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG | IORING_SETUP_SUBMIT_ALL,
    0,
];

/// Called with each completion that arrives for an abandoned operation
/// (a multishot receive's completions carry buffers to give back).
pub(super) type OnCompletion = fn(&mut (dyn Any + Send), i32, u32);

/// Where one operation stands.
pub(super) enum Slot {
    /// In flight; the waker of the task that awaits it.
    Waiting(Option<Waker>),
    /// Completed: the kernel's result and flags, not yet taken by the future.
    Done { res: i32, flags: u32 },
    /// A multishot request: its completions queue up until the future takes
    /// them; `ended` once the kernel posted the last one (no `F_MORE`).
    Multi {
        waker: Option<Waker>,
        queue: VecDeque<(i32, u32)>,
        ended: bool,
    },
    /// Its future was dropped: its resources, kept until the (last)
    /// completion, and what to do with each completion meanwhile.
    Abandoned {
        resources: Box<dyn Any + Send>,
        on_completion: Option<OnCompletion>,
    },
}

/// The state behind the mutex.
pub(super) struct Inner {
    sq: SqQueue,
    cq: CqRing,
    pub(super) ops: Slab<Slot>,
    /// Created with R_DISABLED and not enabled yet (by the first turn).
    disabled: bool,
    pub(super) shut_down: bool,
    /// Wakers collected during a reap, woken after the lock is released.
    wake_buf: Vec<Waker>,
    /// Memory registered with the ring (fixed buffers, provided-buffer
    /// rings): kept until the ring is closed.
    pub(super) registered: Vec<Arc<dyn Any + Send + Sync>>,
    /// The last provided-buffer group id handed out.
    next_bgid: u16,
    /// The poll request on the runtime's epoll instance is armed.
    epoll_armed: bool,
    /// It fired since the last `wait`: epoll has events to collect.
    epoll_fired: bool,
}

/// One runtime thread's completion ring (see the module docs).
pub(crate) struct Driver {
    pub(super) ring: OwnedFd,
    inner: Mutex<Inner>,
    /// Operations submitted and not completed yet (slots Waiting or Abandoned).
    in_flight: AtomicUsize,
    /// Dropped before `eventfd` (fields drop in order): deleting the
    /// registration needs the descriptor still open.
    registration: Mutex<Option<Registration>>,
    /// Signalled by the kernel; watched by the runtime's poller (when it is
    /// not epoll: see "Sleeping").
    eventfd: Option<OwnedFd>,
    /// The runtime's epoll instance, when its backend is epoll: the runtime
    /// then sleeps in the ring and watches epoll through it.
    epoll: Option<RawFd>,
    supported: [bool; IORING_OP_LAST],
    /// A number that names this ring among all rings of the process (for
    /// fixed buffers, which belong to one ring).
    pub(super) id: usize,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("uring::Driver")
            .field("ring", &self.ring.as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// An error that names io_uring, for a kernel (or a seccomp policy) that
/// refuses it.
fn refused(what: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "spindle::uring: {what} failed: {e} (this kernel, or a seccomp policy such as a \
             container's, refuses io_uring; spindle::net and spindle::fs work without it)"
        ),
    )
}

impl Driver {
    /// The ring of the runtime `shared`, set up on first use.
    pub(crate) fn of(shared: &Arc<Shared>) -> io::Result<&Arc<Driver>> {
        if let Some(driver) = shared.uring.get() {
            return Ok(driver);
        }
        let driver = Arc::new(Driver::new(shared)?);
        // Two threads may race to make it: one wins, the other's is dropped
        // (it has no operations yet).
        let _ = shared.uring.set(driver);
        Ok(shared.uring.get().expect("just set"))
    }

    fn new(shared: &Arc<Shared>) -> io::Result<Driver> {
        let needed = IORING_FEAT_SINGLE_MMAP | IORING_FEAT_EXT_ARG | IORING_FEAT_RSRC_TAGS;
        let Ring {
            fd: ring,
            flags,
            sq,
            cq,
            ..
        } = Ring::new(ENTRIES, &SETUPS, needed).map_err(|e| refused("io_uring_setup", e))?;
        let supported = probe(&ring).map_err(|e| refused("probing the io_uring opcodes", e))?;
        let epoll = shared.io.poller.epoll_fd().map(|fd| fd.as_raw_fd());
        let (eventfd, registration) = if epoll.is_some() {
            (None, None)
        } else {
            let eventfd = sys_fd::eventfd()?;
            register_eventfd(&ring, eventfd.as_raw_fd())
                .map_err(|e| refused("registering an eventfd with io_uring", e))?;
            let registration =
                Registration::with_shared(shared.clone(), eventfd.as_raw_fd(), Interest::READABLE)?;
            (Some(eventfd), Some(registration))
        };
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        Ok(Driver {
            ring,
            inner: Mutex::new(Inner {
                sq: SqQueue::new(sq),
                cq,
                ops: Slab::new(),
                disabled: flags & IORING_SETUP_R_DISABLED != 0,
                shut_down: false,
                wake_buf: Vec::new(),
                registered: Vec::new(),
                next_bgid: 0,
                epoll_armed: false,
                epoll_fired: false,
            }),
            in_flight: AtomicUsize::new(0),
            registration: Mutex::new(registration),
            eventfd,
            epoll,
            supported,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails unless the kernel supports `opcode` (`name` is for the error).
    pub(super) fn check(&self, opcode: u8, name: &str) -> io::Result<()> {
        if self
            .supported
            .get(opcode as usize)
            .copied()
            .unwrap_or(false)
        {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("spindle::uring: this kernel's io_uring has no {name} operation"),
            ))
        }
    }

    /// Registers `iovecs` as the ring's fixed buffers; `memory` (which
    /// holds them) is kept until the ring is closed.
    pub(super) fn register_buffers(
        &self,
        iovecs: &[libc::iovec],
        memory: Arc<dyn Any + Send + Sync>,
    ) -> io::Result<()> {
        let mut inner = self.lock();
        register_buffers(&self.ring, iovecs).map_err(|e| {
            if e.raw_os_error() == Some(libc::EBUSY) {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "spindle::uring: this runtime's ring has a FixedBufPool already",
                )
            } else {
                refused("registering fixed buffers", e)
            }
        })?;
        inner.registered.push(memory);
        Ok(())
    }

    /// A provided-buffer group id not used on this ring before; an error
    /// once all 65535 were handed out (groups stay registered until the
    /// ring closes).
    pub(super) fn next_buf_group(&self) -> io::Result<u16> {
        let mut inner = self.lock();
        inner.next_bgid = inner.next_bgid.checked_add(1).ok_or_else(|| {
            io::Error::other(
                "spindle::uring: this ring has 65535 BufRings already (they stay registered \
                 until the runtime shuts down: share one, it serves any number of sockets)",
            )
        })?;
        Ok(inner.next_bgid)
    }

    /// Registers a provided-buffer ring for group `bgid`; `memory` (which
    /// holds it and its buffers) is kept until the ring is closed.
    pub(super) fn register_buf_ring(
        &self,
        ring_addr: u64,
        entries: u32,
        bgid: u16,
        memory: Arc<dyn Any + Send + Sync>,
    ) -> io::Result<()> {
        let mut inner = self.lock();
        register_buf_ring(&self.ring, ring_addr, entries, bgid).map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "spindle::uring: this kernel's io_uring has no provided-buffer rings \
                     (Linux 5.19); use TcpStream::read",
                )
            } else {
                refused("registering a provided-buffer ring", e)
            }
        })?;
        inner.registered.push(memory);
        Ok(())
    }

    /// Queues an operation: a slot for it, and its request (with the slot
    /// as `user_data`). Returns the slot.
    ///
    /// # Safety
    ///
    /// The memory the request names must stay valid until the slot's
    /// completion is reaped: the caller hands it to the `Op` of this slot,
    /// which keeps it until then or gives it to [`abandon`](Self::abandon).
    pub(super) unsafe fn start(&self, sqe: Sqe) -> io::Result<usize> {
        // SAFETY: this function's contract.
        unsafe { self.start_slot(sqe, Slot::Waiting(None)) }
    }

    /// [`start`](Self::start) for a multishot request, whose completions
    /// queue up in its slot.
    ///
    /// # Safety
    ///
    /// As for `start`.
    pub(super) unsafe fn start_multi(&self, sqe: Sqe) -> io::Result<usize> {
        let slot = Slot::Multi {
            waker: None,
            queue: VecDeque::new(),
            ended: false,
        };
        // SAFETY: this function's contract.
        unsafe { self.start_slot(sqe, slot) }
    }

    /// # Safety
    ///
    /// As for `start`.
    unsafe fn start_slot(&self, sqe: Sqe, slot: Slot) -> io::Result<usize> {
        let mut inner = self.lock();
        if inner.shut_down {
            return Err(io::Error::other(
                "spindle::uring: the runtime this thread runs has shut down",
            ));
        }
        let key = inner.ops.insert(slot);
        let sqe = Sqe {
            user_data: key as u64,
            ..sqe
        };
        // SAFETY: this function's contract.
        unsafe { inner.push(sqe) };
        // SeqCst pairs with the load in `turn`, as in the park handshake:
        // a turn that starts after this either sees the operation or was
        // woken for it.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ok(key)
    }

    /// The future of slot `key` was dropped before it completed: keep
    /// `resources` until the kernel is done, and ask it to cancel.
    pub(super) fn abandon(
        &self,
        key: usize,
        resources: Box<dyn Any + Send>,
        on_completion: Option<OnCompletion>,
    ) {
        let mut inner = self.lock();
        match inner.ops.get_mut(key) {
            Some(slot @ (Slot::Waiting(_) | Slot::Multi { ended: false, .. })) => {
                *slot = Slot::Abandoned {
                    resources,
                    on_completion,
                };
                // SAFETY: a cancel names no memory (`addr` is the slot).
                unsafe {
                    inner.push(Sqe {
                        opcode: IORING_OP_ASYNC_CANCEL,
                        fd: -1,
                        addr: key as u64,
                        user_data: key as u64 | CANCEL_TAG,
                        ..Sqe::default()
                    })
                };
            }
            Some(Slot::Done { res, flags }) => {
                // Completed, never taken: what it made (a descriptor) must
                // not leak.
                let (res, flags) = (*res, *flags);
                inner.ops.remove(key);
                drop(inner);
                if let Some(hook) = on_completion {
                    let mut resources = resources;
                    hook(&mut *resources, res, flags);
                }
            }
            Some(Slot::Multi { ended: true, .. }) => {
                inner.ops.remove(key);
            }
            _ => unreachable!("an operation's slot lives until its future takes or abandons it"),
        }
    }

    /// Enables the ring (made `R_DISABLED`) on its first use, from the
    /// thread that will be its single issuer.
    pub(super) fn enable(&self, inner: &mut Inner) -> io::Result<()> {
        if inner.disabled {
            enable_rings(&self.ring).map_err(|e| refused("enabling the io_uring", e))?;
            inner.disabled = false;
        }
        Ok(())
    }

    /// At runtime shutdown, on the ring's thread: no new operations; cancel
    /// those in flight and wait until the kernel let go of their buffers;
    /// wake their tasks (which get an error).
    pub(crate) fn shutdown(&self) {
        // The registration holds the runtime's shared half: let go of it.
        drop(
            self.registration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        let mut inner = self.lock();
        inner.shut_down = true;
        let keys: Vec<usize> = inner
            .ops
            .iter()
            .filter(|(_, slot)| {
                // Abandoned operations had their cancel queued when their
                // future was dropped: one is enough.
                !matches!(
                    slot,
                    Slot::Done { .. } | Slot::Multi { ended: true, .. } | Slot::Abandoned { .. }
                )
            })
            .map(|(key, _)| key)
            .collect();
        for key in keys {
            // SAFETY: a cancel names no memory (`addr` is the slot).
            unsafe {
                inner.push(Sqe {
                    opcode: IORING_OP_ASYNC_CANCEL,
                    fd: -1,
                    addr: key as u64,
                    user_data: key as u64 | CANCEL_TAG,
                    ..Sqe::default()
                })
            };
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut wakers = Vec::new();
        let mut freed = Vec::new();
        while self.in_flight.load(Ordering::Relaxed) > 0 {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if self.enter(&mut inner, 1, Some(deadline - now)).is_err() {
                break;
            }
            self.reap(&mut inner, &mut wakers, &mut freed);
        }
        // Receives still waiting for a buffer hold their tasks' wakers in
        // the rings' memory, which `registered` keeps: let them go, or
        // task, runtime and ring memory would keep each other alive.
        let registered = inner.registered.clone();
        drop(inner);
        for memory in &registered {
            super::multishot::drop_waiters(&**memory);
        }
        drop(freed);
        for waker in wakers {
            waker.wake();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            // The kernel never finished these within the shutdown grace (or
            // the runtime never shut down). It may still write into their
            // buffers until the ring closes, which the kernel completes
            // asynchronously: leaking them is the only sound choice.
            for (_, slot) in std::mem::take(&mut inner.ops) {
                std::mem::forget(slot);
            }
            std::mem::forget(std::mem::take(&mut inner.registered));
        }
    }
}

impl Inner {
    /// Queues one request; if the ring is full, it waits in the backlog.
    ///
    /// # Safety
    ///
    /// As for [`SqRing::push`]: the memory the request names stays valid
    /// until its completion (the slot's resources, see `start`).
    unsafe fn push(&mut self, sqe: Sqe) {
        // SAFETY: the caller's contract.
        unsafe { self.sq.push(sqe) }
    }
}
