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
//!
//! # Where things are
//!
//! | file          | what it holds                                                    |
//! |---------------|------------------------------------------------------------------|
//! | `config.rs`   | [`Config`]: the tunables the `Builder` sets                      |
//! | `shared.rs`   | [`Shared`], the thread-safe half; [`schedule`], routing a wake   |
//! | `local.rs`    | [`Local`], the own-thread half: run queue, task list, `run`      |
//! | `block_on.rs` | the loop above (`Local::block_on`) and the main future's waker   |
//! | `turn.rs`     | one turn of the reactor: wait, dispatch events, fire timers      |
//! | `park.rs`     | the `parked`/`notified` handshake that decides on eventfd writes |
//! | `reply_spin.rs` | looking again for a moment before sleeping, when a task awaits another process's answer |
//! | `shutdown.rs` | dropping every task, timer and registration when the runtime goes |
//! | `inject.rs`   | the injection queue, for tasks woken on other threads            |
//! | `steal.rs`    | a worker's bounded run queue that others steal half of (issue 13) |
//! | `context.rs`  | which runtime this thread runs or has entered                    |
//!
//! Which readiness backend the runtime runs on is chosen when the poller is
//! opened, in the driver (`driver/backend.rs`), not here.

mod block_on;
mod config;
pub(crate) mod context;
mod inject;
mod local;
pub(crate) mod multi_thread;
mod park;
pub(crate) mod reply_spin;
mod shared;
mod shutdown;
mod steal;
mod threads;
mod turn;

pub(crate) use config::Config;
pub(crate) use local::{cancel_and_complete, publish_completion, Local, RELEASED};
pub(crate) use shared::{schedule, Shared};
pub(crate) use threads::ThreadConfig;
