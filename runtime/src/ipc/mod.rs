//! Communication between processes: the parent, its [`Process`] children
//! and its pool workers (the course notes' `multiprocessing.Pipe`, `Queue`,
//! `Value`, `Array` and `Lock`).
//!
//! Everything here can be handed to another process as (part of) a job's
//! or a `Process`'s argument: each type implements
//! [`Wire`](crate::pool::Wire), and the descriptors it holds travel beside
//! the bytes (see `pool/wire.rs`).
//!
//! [`Process`]: crate::process

mod lock;
mod message;
mod pipe;
mod polled;
mod queue;
mod shared;

pub use pipe::{pipe, pipe_one_way, Pipe, PipeReceiver, PipeSender};
pub use queue::{GetError, PutError, Queue};
