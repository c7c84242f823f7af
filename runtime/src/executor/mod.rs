//! The executor: a run queue of tasks on one thread, and the loop that
//! alternates between polling them and waiting for the reactor.
//!
//! # Two halves
//!
//! A runtime is split in two. [`Local`] belongs to the runtime's thread: the
//! run queue, the list of tasks it owns, the timer wheel and the event
//! buffer, all in `RefCell`s, because only that thread touches them.
//! [`Shared`] is reference-counted and `Sync`: the injection queue, the
//! poller, and the flags other threads use to wake the loop. Every task
//! header points at the `Shared` of its runtime.
//!
//! # The loop (`Local::block_on`)
//!
//! ```text
//!   loop {
//!       if the main future was woken: poll it; return if Ready
//!       run tasks until event_interval polls (main future included) since the last turn
//!       if nothing is runnable:        turn(block)  -- epoll_wait until an event, a timer or a notify
//!       else if event_interval reached: turn(no wait) -- epoll_wait with a zero timeout
//!   }
//!   turn = epoll_wait, dispatch events to wakers, fire due timers
//! ```
//!
//! `event_interval` (61 by default, [`Builder::event_interval`](crate::Builder::event_interval))
//! is what keeps a busy task from starving IO and timers: even when tasks
//! are always ready, the reactor is checked that often. Every
//! `inject_interval` polls (31 by default) the injection queue is served
//! first, so tasks woken from other threads are not starved by local ones.
//!
//! # Sleeping and waking up
//!
//! Before a blocking `epoll_wait` the loop sets `parked`. A thread that
//! pushes onto the injection queue (or wakes the main future) checks
//! `parked` afterwards and, if set, writes the poller's eventfd: the
//! sequentially consistent flag and queue length guarantee that either the
//! loop sees the new work before it sleeps, or the writer sees it asleep.
//! The flags and their protocol are in `park.rs`.

pub(crate) mod context;
mod inject;
mod park;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use slab::Slab;
use spindle_reactor::{Backend, Events, Poller};

use crate::blocking::{BlockingPool, PoolConfig};
use crate::coop;
use crate::driver::{self, IoShared};
use crate::task::raw::{self, TaskRef, NOT_OWNED};
use crate::task::{borrowed_waker, JoinHandle, ToComplete, ToIdle, ToRunning};
use crate::time::remote::RemoteTimer;
use crate::time::wheel::TimerWheel;
use inject::Inject;
use park::Parker;

/// `owned_index` of a task that has left its owner's task list.
pub(crate) const RELEASED: usize = usize::MAX - 1;

/// Tunables, set through [`Builder`](crate::Builder).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) event_interval: u32,
    pub(crate) blocking: PoolConfig,
    pub(crate) inject_interval: u32,
    pub(crate) events_capacity: usize,
    /// The readiness backend asked for in the builder, if any.
    pub(crate) poller: Option<Backend>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            event_interval: 61,
            blocking: PoolConfig::default(),
            inject_interval: 31,
            events_capacity: 1024,
            poller: None,
        }
    }
}

/// The thread-safe half of a runtime.
pub(crate) struct Shared {
    inject: Inject,
    /// The future passed to `block_on` was woken.
    main_woken: AtomicBool,
    /// Whether the loop is (about to be) blocked in `epoll_wait`, and
    /// whether someone already wrote the eventfd for this sleep.
    parker: Parker,
    pub(crate) io: IoShared,
    pub(crate) blocking: BlockingPool,
    /// Timer entries to remove, from `Sleep`s dropped on other threads.
    timer_cancels: Mutex<Vec<usize>>,
    has_timer_cancels: AtomicBool,
    /// Timers to insert, from `Sleep`s polled on threads that only entered
    /// the runtime; `None` once the runtime has shut down.
    timer_inserts: Mutex<Option<Vec<Arc<RemoteTimer>>>>,
    has_timer_inserts: AtomicBool,
}

impl Shared {
    /// Wakes the loop if it is asleep in `epoll_wait`.
    pub(crate) fn unpark(&self) {
        if self.parker.unpark() {
            // Failure to write an eventfd means the process is out of order
            // already; the loop will still wake at its next timer.
            let _ = self.io.poller.notify();
        }
    }

    /// Queues a task from another thread. On a runtime that has shut down
    /// the task is already complete, so the reference is simply dropped.
    pub(crate) fn schedule_remote(&self, task: TaskRef) {
        if self.inject.push(task).is_ok() {
            self.unpark();
        }
    }

    /// Spawns a `Send` future from any thread.
    pub(crate) fn spawn_remote<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, owned, join) = raw::allocate(future, self.clone(), NOT_OWNED);
        // The task-list reference travels with the task and is taken back by
        // the executor when it first sees the task (`Local::adopt`).
        let owned = owned.into_raw();
        match self.inject.push(notified) {
            Ok(()) => self.unpark(),
            Err(notified) => {
                // SAFETY: the runtime is gone; this thread holds the only
                // queue reference, so it may drop the (Send) future itself.
                let owned = unsafe { TaskRef::from_raw(owned) };
                cancel_and_complete(&owned);
                drop(notified);
            }
        }
        JoinHandle::new(join)
    }

    /// Removes a timer entry from another thread; applied at the next turn.
    pub(crate) fn cancel_timer_remote(&self, key: usize) {
        self.timer_cancels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        self.has_timer_cancels.store(true, SeqCst);
    }

    /// Queues a timer from a thread that does not run the loop, and wakes
    /// the loop so it inserts the timer before it next sleeps. False if the
    /// runtime has shut down.
    pub(crate) fn insert_timer_remote(&self, timer: Arc<RemoteTimer>) -> bool {
        match &mut *self.timer_inserts.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(list) => list.push(timer),
            None => return false,
        }
        self.has_timer_inserts.store(true, SeqCst);
        self.unpark();
        true
    }

    /// Wakes the future passed to `block_on`.
    fn wake_main(&self) {
        self.main_woken.store(true, SeqCst);
        self.unpark();
    }
}

/// Lifts the cooperative budget when `block_on` returns (or unwinds), so
/// code running on this thread afterwards is not throttled.
struct UnconstrainOnExit;

impl Drop for UnconstrainOnExit {
    fn drop(&mut self) {
        coop::unconstrain();
    }
}

/// The main future's waker.
struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.0.wake_main();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.wake_main();
    }
}

/// Sends a wake to the runtime that owns `task`: onto the local run queue
/// if we are on that runtime's thread, else through its injection queue.
pub(crate) fn schedule(task: TaskRef) {
    let task = context::with_current(|local| match local {
        Some(local) if ptr::eq(Arc::as_ptr(&local.shared), &*task.header().shared) => {
            local.run_queue.borrow_mut().push_back(task);
            None
        }
        _ => Some(task),
    });
    if let Some(task) = task {
        let shared = task.header().shared.clone();
        shared.schedule_remote(task);
    }
}

/// The runtime's own-thread half.
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    pub(crate) run_queue: RefCell<VecDeque<TaskRef>>,
    /// Every task not yet finished, so shutdown can drop their futures.
    owned: RefCell<Slab<TaskRef>>,
    pub(crate) timers: RefCell<TimerWheel>,
    events: RefCell<Events>,
    fired: RefCell<Vec<Waker>>,
    config: Config,
}

impl Local {
    pub(crate) fn new(config: Config) -> std::io::Result<Local> {
        let shared = Arc::new(Shared {
            inject: Inject::new(),
            main_woken: AtomicBool::new(false),
            parker: Parker::new(),
            io: IoShared::new(open_poller(config.poller)?),
            blocking: BlockingPool::new(config.blocking.clone()),
            timer_cancels: Mutex::new(Vec::new()),
            has_timer_cancels: AtomicBool::new(false),
            timer_inserts: Mutex::new(Some(Vec::new())),
            has_timer_inserts: AtomicBool::new(false),
        });
        Ok(Local {
            shared,
            run_queue: RefCell::new(VecDeque::with_capacity(256)),
            owned: RefCell::new(Slab::new()),
            timers: RefCell::new(TimerWheel::new(Instant::now())),
            events: RefCell::new(Events::with_capacity(config.events_capacity)),
            fired: RefCell::new(Vec::new()),
            config,
        })
    }

    /// Spawns on this runtime from its own thread.
    pub(crate) fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (notified, owned, join) = raw::allocate(future, self.shared.clone(), NOT_OWNED);
        self.adopt(owned);
        self.run_queue.borrow_mut().push_back(notified);
        JoinHandle::new(join)
    }

    /// Puts a task into the task list, under the reference reserved for it.
    fn adopt(&self, owned: TaskRef) {
        let slot = owned.header().owned_index.get();
        let index = self.owned.borrow_mut().insert(owned);
        // SAFETY: `owned_index` is only touched on the owner's thread.
        unsafe { *slot = index };
    }

    /// Runs `future` to completion on this thread, driving every task meanwhile.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_inside() {
            panic!(
                "cannot call block_on inside a spindle runtime: \
                 the outer runtime would stop while it blocks; use .await instead"
            );
        }
        let _enter = context::enter(self);
        let _budget = UnconstrainOnExit;
        let waker = Waker::from(Arc::new(MainWaker(self.shared.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let shared = &*self.shared;
        shared.main_woken.store(true, SeqCst);
        let event_interval = self.config.event_interval;
        let mut since_turn = 0;
        let mut tick: u32 = 0;
        loop {
            if shared.main_woken.swap(false, SeqCst) {
                coop::reset();
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return output;
                }
                since_turn += 1;
            }
            while since_turn < event_interval {
                tick = tick.wrapping_add(1);
                let Some(task) = self.next_task(tick) else {
                    break;
                };
                self.run(task);
                since_turn += 1;
            }
            let idle = !shared.main_woken.load(SeqCst)
                && self.run_queue.borrow().is_empty()
                && shared.inject.is_empty();
            if idle {
                self.turn(true);
                since_turn = 0;
            } else if since_turn >= event_interval {
                self.turn(false);
                since_turn = 0;
            }
        }
    }

    fn next_task(&self, tick: u32) -> Option<TaskRef> {
        if tick.is_multiple_of(self.config.inject_interval) {
            if let Some(task) = self.shared.inject.pop() {
                return Some(task);
            }
        }
        let local = self.run_queue.borrow_mut().pop_front();
        local.or_else(|| self.shared.inject.pop())
    }

    /// Polls one task that was popped from a queue.
    fn run(&self, task: TaskRef) {
        let header = task.header();
        let ptr = task.as_ptr();
        let action = header.state.transition_to_running();
        if action == ToRunning::Done {
            return;
        }
        // SAFETY: `owned_index` is only touched on the owner's thread.
        if unsafe { *header.owned_index.get() } == NOT_OWNED {
            // Spawned from another thread: take the reserved list reference.
            // SAFETY: `spawn_remote` forgot exactly this reference for us.
            self.adopt(unsafe { TaskRef::from_raw(ptr) });
        }
        if action == ToRunning::Cancel {
            // SAFETY: we are the owner thread and the task is RUNNING.
            unsafe { (header.vtable.cancel)(ptr) };
            return self.complete(task);
        }
        coop::reset();
        // SAFETY: `task` keeps a reference alive for the duration of the poll.
        let waker = unsafe { borrowed_waker(ptr) };
        let mut cx = Context::from_waker(&waker);
        // SAFETY: we are the owner thread and the task is RUNNING.
        if unsafe { (header.vtable.poll)(ptr, &mut cx) } {
            return self.complete(task);
        }
        match header.state.transition_to_idle() {
            ToIdle::Idle => drop(task),
            ToIdle::Requeue => self.run_queue.borrow_mut().push_back(task),
            ToIdle::Cancel => {
                // SAFETY: as above; the future is dropped instead of polled.
                unsafe { (header.vtable.cancel)(ptr) };
                self.complete(task)
            }
        }
    }

    /// Publishes a finished task's output and takes it off the task list.
    fn complete(&self, task: TaskRef) {
        publish_completion(&task);
        let slot = task.header().owned_index.get();
        // SAFETY: `owned_index` is only touched on the owner's thread.
        let index = unsafe { std::mem::replace(&mut *slot, RELEASED) };
        let owned = self.owned.borrow_mut().try_remove(index);
        match owned {
            Some(owned) => raw::drop_two(owned, task),
            None => drop(task),
        }
    }

    /// One turn of the reactor: wait for IO (or not), fire due timers.
    fn turn(&self, may_block: bool) {
        let shared = &*self.shared;
        self.insert_remote_timers();
        let mut timeout = if may_block {
            self.timers.borrow().next_timeout(Instant::now())
        } else {
            Some(Duration::ZERO)
        };
        if may_block && shared.blocking.expects_result_soon() {
            // A short blocking job is running: its result will arrive through
            // the injection queue in a moment. Watching for it briefly (not
            // yet marked parked, so the pool thread need not write the
            // eventfd) beats a sleep in the poller and a wake-up.
            let until = Instant::now() + crate::blocking::SPIN;
            while shared.inject.is_empty()
                && !shared.main_woken.load(SeqCst)
                && Instant::now() < until
            {
                std::hint::spin_loop();
            }
            shared
                .blocking
                .spin_result(!shared.inject.is_empty() || shared.main_woken.load(SeqCst));
        }
        if may_block {
            shared.parker.before_park();
            if !shared.inject.is_empty()
                || shared.main_woken.load(SeqCst)
                || shared.has_timer_inserts.load(SeqCst)
            {
                timeout = Some(Duration::ZERO);
            }
        }
        let mut events = self.events.borrow_mut();
        // With no descriptor registered there is nothing a zero wait could
        // report, so skip the system call.
        if timeout != Some(Duration::ZERO) || shared.io.has_registrations() {
            if let Err(e) = shared.io.poller.wait(&mut events, timeout) {
                panic!(
                    "spindle: waiting on the {} poller failed: {e}",
                    shared.io.poller.backend()
                );
            }
        } else {
            events.clear();
        }
        if may_block {
            // Awake again before the events wake anything: a wake from here
            // on needs no eventfd write (the loop looks at its queues before
            // it sleeps again).
            shared.parker.after_park();
        }
        for event in events.iter() {
            // SAFETY: every token we register is a live ScheduledIo; a
            // ScheduledIo is only freed off the event path (see driver).
            unsafe { driver::dispatch(event) };
        }
        drop(events);
        self.fire_timers();
        shared.io.release_pending();
        if shared.has_timer_cancels.swap(false, SeqCst) {
            let keys = std::mem::take(
                &mut *shared
                    .timer_cancels
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()),
            );
            let mut timers = self.timers.borrow_mut();
            for key in keys {
                timers.remove(key);
            }
        }
    }

    /// Puts the timers queued by other threads into the wheel.
    fn insert_remote_timers(&self) {
        if !self.shared.has_timer_inserts.swap(false, SeqCst) {
            return;
        }
        let queued = match &mut *self
            .shared
            .timer_inserts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
        {
            Some(list) => std::mem::take(list),
            None => return,
        };
        let now = Instant::now();
        for timer in queued {
            if timer.deadline <= now {
                timer.fire();
                continue;
            }
            let Some(waker) = timer.wheel_waker() else {
                continue; // its Sleep let go already
            };
            let mut timers = self.timers.borrow_mut();
            let key = timers.insert(timer.deadline, &waker);
            let fired = timers.poll(key, &waker);
            if fired || !timer.set_key(key) {
                timers.remove(key);
            }
            drop(timers);
            if fired {
                timer.fire();
            }
        }
    }

    fn fire_timers(&self) {
        let mut fired = std::mem::take(&mut *self.fired.borrow_mut());
        self.timers.borrow_mut().advance(Instant::now(), &mut fired);
        for waker in fired.drain(..) {
            waker.wake();
        }
        *self.fired.borrow_mut() = fired;
    }

    /// Drops every task's future, and everything the runtime still holds.
    pub(crate) fn shutdown(&self) {
        let _enter = context::enter(self);
        let orphans = self.shared.inject.close();
        self.shared.blocking.shutdown();
        // Tasks that reached the injection queue but never ran. Their
        // futures' Drop impls may spawn more tasks: those land on the task
        // list, which the loop below empties.
        for task in orphans {
            // SAFETY: owner thread; tasks still in the injection queue were never adopted.
            if unsafe { *task.header().owned_index.get() } == NOT_OWNED {
                // SAFETY: `spawn_remote` reserved this reference.
                let owned = unsafe { TaskRef::from_raw(task.as_ptr()) };
                cancel_and_complete(&owned);
            }
        }
        // Dropping a future can spawn or wake other tasks; repeat until quiet.
        loop {
            let owned: Vec<TaskRef> = self.owned.borrow_mut().drain().collect();
            if owned.is_empty() {
                break;
            }
            for task in owned {
                // SAFETY: owner thread.
                unsafe { *task.header().owned_index.get() = RELEASED };
                cancel_and_complete(&task);
            }
        }
        loop {
            let task = self.run_queue.borrow_mut().pop_front();
            if task.is_none() {
                break;
            }
        }
        // Remote timers still queued, and those in the wheel (dropping the
        // wheel drops their wakers), learn that the runtime is gone.
        let queued = self
            .shared
            .timer_inserts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        for timer in queued.into_iter().flatten() {
            timer.orphan();
        }
        let timers = std::mem::replace(
            &mut *self.timers.borrow_mut(),
            TimerWheel::new(Instant::now()),
        );
        drop(timers);
        // IO objects that outlive the runtime fail from now on instead of
        // waiting for events that will never come.
        self.shared.io.shutdown();
    }
}

/// Opens the poller: the builder's choice, else `SPINDLE_POLLER`, else epoll.
/// An io_uring the kernel refuses falls back to epoll, with one line on stderr.
fn open_poller(chosen: Option<Backend>) -> std::io::Result<Poller> {
    let backend = match chosen {
        Some(b) => b,
        None => Backend::from_env()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
            .unwrap_or_default(),
    };
    match Poller::with_backend(backend) {
        Err(e) if backend == Backend::IoUring => {
            eprintln!("spindle: io_uring unavailable ({e}); falling back to epoll");
            Poller::with_backend(Backend::Epoll)
        }
        res => res,
    }
}

/// Drops a task's future (if it has not finished) and completes it as cancelled.
pub(crate) fn cancel_and_complete(task: &TaskRef) {
    let header = task.header();
    if header.state.is_complete() {
        return;
    }
    // SAFETY: called on the owner thread while the task is not being polled
    // (or, for a task that never reached its runtime, by the only holder).
    unsafe { (header.vtable.cancel)(task.as_ptr()) };
    publish_completion(task);
}

/// Marks the task COMPLETE and hands the output to its `JoinHandle`, or
/// drops it if no one is waiting for it.
pub(crate) fn publish_completion(task: &TaskRef) {
    let header = task.header();
    match header.state.transition_to_complete() {
        ToComplete::NotifyJoinHandle => header.join_waker.wake(),
        // SAFETY: the JoinHandle is gone, so the output is ours to drop.
        ToComplete::DropOutput => unsafe { (header.vtable.drop_output)(task.as_ptr()) },
    }
}
