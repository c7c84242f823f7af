//! [`Executor`]: hyper's task spawner, spawning onto spindle.

use std::future::Future;

/// Spawns the tasks hyper asks for (HTTP/2 connection and stream tasks)
/// onto the current spindle runtime with [`spawn`](crate::spawn).
///
/// Hand it to `hyper::server::conn::http2::Builder::new` or
/// `hyper::client::conn::http2::handshake`. The tasks are detached: hyper
/// keeps track of them itself.
///
/// # Panics
/// Spawning panics if hyper calls it outside a spindle runtime (see
/// [`spawn`](crate::spawn)); hyper calls it from the connection's own
/// future, which runs on the runtime.
#[derive(Debug, Default, Clone, Copy)]
pub struct Executor {
    _private: (),
}

impl Executor {
    /// An executor spawning onto whichever spindle runtime is current.
    pub fn new() -> Executor {
        Executor { _private: () }
    }
}

impl<F> hyper::rt::Executor<F> for Executor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        // The JoinHandle is dropped: the task runs on, detached.
        drop(crate::spawn(future));
    }
}
