//! hyper's task spawners: [`Executor`] spawns onto spindle with
//! [`spawn`](crate::spawn), for `Send` futures; [`LocalExecutor`] with
//! [`spawn_local`](crate::spawn_local), for `!Send` ones (a service that
//! keeps `Rc` state on a current-thread runtime or a shard).

use std::future::Future;

/// Spawns the tasks hyper asks for (HTTP/2 connection and stream tasks)
/// onto the current spindle runtime with [`spawn`](crate::spawn).
///
/// Hand it to `hyper::server::conn::http2::Builder::new` or
/// `hyper::client::conn::http2::handshake`. The tasks are detached: hyper
/// keeps track of them itself. Its futures must be `Send`; for a service
/// whose futures are not, use [`LocalExecutor`].
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

/// Spawns hyper's tasks onto the current thread with
/// [`spawn_local`](crate::spawn_local), so they need not be `Send`.
///
/// This is the executor of an HTTP/2 server (or client) whose service
/// futures or bodies are `!Send`: they hold an `Rc`, a `RefCell` borrow
/// of per-thread state, anything that may not change threads. Each
/// connection's streams then run on the thread that runs the connection,
/// which is what a [shard](crate::shard) wants anyway: a connection lives
/// and dies on the CPU that accepted it.
///
/// ```no_run
/// # async fn serve(stream: spindle_runtime::net::TcpStream) {
/// use std::{cell::Cell, convert::Infallible, rc::Rc};
/// use hyper::{body::Incoming, server::conn::http2, service::service_fn, Request, Response};
///
/// // Per-thread state: an Rc, so the service's futures are !Send.
/// let served = Rc::new(Cell::new(0u64));
/// let service = service_fn(move |_req: Request<Incoming>| {
///     let served = served.clone();
///     async move {
///         served.set(served.get() + 1);
///         Ok::<_, Infallible>(Response::new(format!("request {}\n", served.get())))
///     }
/// });
/// let _ = http2::Builder::new(spindle_runtime::hyper::LocalExecutor::new())
///     .serve_connection(stream, service)
///     .await;
/// # }
/// ```
///
/// # Panics
/// Spawning panics where [`spawn_local`](crate::spawn_local) does: outside
/// a spindle runtime, or on a thread that cannot keep a task (a
/// `block_in_place` stand-in). hyper calls it from the connection's own
/// future, so run that future with `spawn_local` or `block_on` too, and on
/// a multi-threaded runtime the accept loop that spawns it as well: a
/// pinned task always runs on a thread that can, while a `Send` task (one
/// spawned with [`spawn`](crate::spawn)) may be polled on a stand-in.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalExecutor {
    _private: (),
}

impl LocalExecutor {
    /// An executor spawning onto the current thread of whichever spindle
    /// runtime is current.
    pub fn new() -> LocalExecutor {
        LocalExecutor { _private: () }
    }
}

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        // Detached, as with `Executor`: hyper tracks its own tasks.
        drop(crate::spawn_local(future));
    }
}
