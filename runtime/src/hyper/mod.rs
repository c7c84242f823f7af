//! hyper 1.x on spindle, with no glue (feature `hyper`).
//!
//! hyper brings no runtime of its own: it asks for an IO type implementing
//! [`hyper::rt::Read`] and [`hyper::rt::Write`], an executor to spawn its
//! background tasks (HTTP/2 streams, the client's connection), and a timer
//! for its timeouts. spindle provides all three:
//!
//! * [`TcpStream`](crate::net::TcpStream) and
//!   [`UnixStream`](crate::net::UnixStream) (and their owned halves)
//!   implement hyper's `Read` and `Write` themselves (see
//!   `net/forward.rs`). hyper's `Read` hands over a cursor into its own
//!   buffer whose free part is *uninitialized* memory; spindle `recv`s
//!   straight into it and advances the cursor. An adapter over spindle's
//!   `AsyncRead` (which takes an initialized `&mut [u8]`) would have to zero
//!   that memory before every read.
//! * [`Executor`] implements [`hyper::rt::Executor`] by spawning onto the
//!   current spindle runtime; [`LocalExecutor`] spawns onto the current
//!   thread instead, for services whose futures are `!Send`.
//! * [`Timer`] implements [`hyper::rt::Timer`] with spindle's
//!   [`Sleep`](crate::time::Sleep), which also implements
//!   [`hyper::rt::Sleep`]; [`Timer::reset`](hyper::rt::Timer::reset) moves
//!   a spindle sleep's deadline in place instead of allocating a new one.
//! * `Connector` (feature `hyper-util`) opens the connections of
//!   hyper-util's pooled client (`hyper_util::client::legacy::Client`):
//!   plain TCP for `http://` URIs. It has a feature of its own because
//!   hyper-util's legacy client compiles tokio's runtime in (its manifest
//!   turns on tokio's `rt` and `time`); the `hyper` feature alone adds no
//!   part of tokio but the IO traits h2 uses.
//!
//! ```no_run
//! # async fn serve(stream: spindle_runtime::net::TcpStream) {
//! use hyper::{body::Incoming, server::conn::http1, service::service_fn, Request, Response};
//!
//! let service = service_fn(|_req: Request<Incoming>| async {
//!     Ok::<_, std::convert::Infallible>(Response::new(String::from("hello\n")))
//! });
//! // The stream goes to hyper as it is: no wrapper.
//! let _ = http1::Builder::new()
//!     .timer(spindle_runtime::hyper::Timer::new())
//!     .serve_connection(stream, service)
//!     .await;
//! # }
//! ```

#[cfg(feature = "hyper-util")]
mod connector;
mod executor;
mod timer;

#[cfg(feature = "hyper-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper-util")))]
pub use connector::Connector;
pub use executor::{Executor, LocalExecutor};
pub use timer::Timer;
