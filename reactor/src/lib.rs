//! OS readiness for spindle: which file descriptors can be read or written *now*.
//!
//! This crate knows nothing about tasks, futures or wakers. It answers one
//! question, the one every event loop asks: "of the file descriptors I care
//! about, which are ready?" The answer comes from the kernel through a
//! [`Poller`]:
//!
//! 1. You [`add`](Poller::add) a file descriptor under a [`Token`] (a number of
//!    your choosing) with an [`Interest`] (readable, writable or both).
//! 2. You call [`wait`](Poller::wait), which blocks until at least one
//!    descriptor is ready, the timeout passes, or another thread calls
//!    [`notify`](Poller::notify).
//! 3. You get back [`Events`]: for each ready descriptor, its token and what
//!    it is ready for. The token tells you which of your connections it is.
//!
//! Four backends implement it ([`Backend`]: select, poll, epoll, io_uring),
//! one file each under `sys/`. The default, epoll, is **edge-triggered**: an event is reported when a
//! descriptor *becomes* ready, not for as long as it stays ready. After an
//! event you must read (or write) until the call fails with `WouldBlock`;
//! only then will the next arrival of data produce a new event. This is what
//! lets a loop with ten thousand idle connections do no work for them.
//!
//! The async runtime (`spindle-runtime`) is built on this crate, but it is
//! usable on its own: the `raw_reactor` example drives a [`Poller`] directly,
//! with a callback per descriptor, in the style of Python's `selectors`.
//!
//! ```no_run
//! use spindle_reactor::{Events, Interest, Poller, Token};
//! use std::os::fd::AsRawFd;
//! use std::time::Duration;
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! listener.set_nonblocking(true)?;
//! let poller = Poller::new()?;
//! poller.add(listener.as_raw_fd(), Token(0), Interest::READABLE)?;
//! let mut events = Events::with_capacity(64);
//! poller.wait(&mut events, Some(Duration::from_millis(100)))?;
//! for event in events.iter() {
//!     assert_eq!(event.token(), Token(0));
//!     // accept until WouldBlock ...
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

mod backend;
mod event;
mod interest;
mod poller;
mod sys;
mod token;

pub use backend::{Backend, UnknownBackend};

/// The raw io_uring interface: the kernel's structures and constants, its
/// three system calls, and [`Ring`](uring::Ring), a set-up ring with its
/// two halves mapped. The io_uring backend of [`Poller`] is built on it,
/// and so is spindle-runtime's completion IO (`spindle::uring`). A low
/// layer: requests are raw [`Sqe`](uring::Sqe)s, and whoever submits one
/// is responsible for the memory it points to until its completion.
pub mod uring {
    pub use crate::sys::uring::abi::*;
    pub use crate::sys::uring::ring::*;
}
pub use event::{Event, Events};
pub use interest::Interest;
pub use poller::Poller;
pub use token::Token;
