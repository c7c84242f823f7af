//! Channels: passing values between tasks, and between tasks and threads.
//!
//! | type | shape | use it for |
//! |------|-------|------------|
//! | [`oneshot`] | one value, one producer, one consumer | the answer to a request; "this finished" |
//! | [`mpsc::channel`] | many producers, one consumer, bounded | a stream of work with back-pressure: a full channel makes senders wait |
//! | [`mpsc::unbounded`] | many producers, one consumer, unbounded | events that must never block the producer (it can be plain sync code) |
//! | [`broadcast`] | many producers, many consumers, every consumer sees every value, bounded ring | events every subscriber must hear; a slow one is told how many it missed |
//! | [`watch`] | one value, many observers told when it changes | state: a configuration, a status, "shutting down" |
//! | [`Queue`] | many producers, many consumers, optionally bounded | a pool of workers sharing a job queue, with `task_done` / `join` (Python's `asyncio.Queue`) |
//!
//! All of them are `Send + Sync` when the value type is `Send`, work across
//! runtimes and threads (a waker is all a waiting side leaves behind), and
//! offer `blocking_*` variants for plain OS threads.
//!
//! # Shared rules
//!
//! * **Nothing is lost silently.** Sending into a channel whose receiving
//!   side is closed or gone fails and hands the value back inside the
//!   error. Values still buffered when the receiving side is dropped are
//!   dropped at once, not when the last sender happens to go.
//! * **Close versus drop.** Closing the receiving side (`close()`) makes
//!   every later send fail at once but keeps the values already buffered:
//!   the receiver drains them, then sees the end. Dropping it is close plus
//!   discarding the buffer. When every sender is gone, the receiver drains
//!   the buffer, then sees the end.
//! * **Cancellation safety.** Every future here may be dropped at any
//!   `.await` point without losing anything: a send that did not complete
//!   gives up its value (to the caller's drop), a receive that did not
//!   complete leaves the value in the channel, and a slot or a wake-up that
//!   was handed to a waiter that then went away is passed to the next one.
//! * **Fairness.** Waiters are served first come, first served: a waiting
//!   sender is not overtaken by a newcomer's `try_send`, and a waiting
//!   `Queue::get` is not overtaken by a newcomer's `get_nowait`.
//! * **Cooperative budget.** A receive, the first poll of a bounded send,
//!   and a `Queue` operation each take one unit of the task's budget (a
//!   oneshot receive only once its value is there). When the budget is
//!   spent they return `Pending` after waking the task, without touching
//!   the channel, so a loop over an always-ready channel still yields to
//!   the other tasks now and then.
//! * **No lock across an `.await`**, and no system call unless a waiter
//!   on another thread must be woken: a lock here is held for a few
//!   instructions, never while calling a waker or dropping a value.
//!
//! # The course notes' words
//!
//! A multiprocessing `Queue` with `put` / `get` / `qsize` / `full` /
//! `empty` / `close` is [`Queue`] (with `len` / `is_full` / `is_empty` for
//! the middle three, and a doc alias under each Python name); its `JoinableQueue` (`task_done`,
//! `join`) is [`Queue`] too. A one-direction `Pipe(duplex=False)` between
//! two parties is a [`mpsc`] channel with one sender; a duplex pipe is two
//! of them. The producer/consumer pattern with "one sentinel per consumer"
//! becomes [`Queue::close`]: every consumer drains what is left and then
//! gets [`QueueClosed`], no sentinels needed.

pub mod broadcast;
pub mod mpsc;
pub mod oneshot;
mod queue;
pub mod watch;

pub use queue::{GetError, PutError, Queue, QueueClosed, TaskDoneError};
