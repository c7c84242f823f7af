//! The course notes' HTTP server, as a hyper service on spindle: serves the
//! files of a directory, and echoes the body of a POST.
//!
//! ```text
//! cargo run --features hyper --example http_server -- [--addr 127.0.0.1:8080] [--dir .]
//! curl -v http://127.0.0.1:8080/README.md
//! curl --data-binary @big.bin http://127.0.0.1:8080/echo -o echoed.bin
//! ```
//!
//! * `GET /path` sends the file `DIR/path` (`/` is `index.html`), `HEAD` the
//!   same headers without the body, and a missing file or a path that tries
//!   to leave `DIR` (`..`) is a `404 Not Found`.
//! * `POST` (any path) answers `200 OK` with the request's body, streamed
//!   back as it arrives: a 1 MiB upload is never held in memory whole.
//!   hyper answers `Expect: 100-continue` itself when the service first
//!   reads the body (so the echo reads before it answers), and reads
//!   chunked bodies as well as sized ones.
//! * Anything else is `405 Method Not Allowed`.
//!
//! hyper speaks HTTP/1.1 with keep-alive, and HTTP/1.0 (keep-alive only
//! when the client asks for it). The first line printed is the address,
//! so a script can start the server on port 0 and read where it landed.
//!
//! # No glue
//!
//! The accepted [`TcpStream`] goes to hyper as it is: with spindle's
//! `hyper` feature, the stream implements `hyper::rt::Read` and
//! `hyper::rt::Write` itself, reading straight into hyper's (uninitialized)
//! buffer. [`spindle::hyper::Timer`] gives hyper its timeouts.
//!
//! # Errors
//!
//! A client that goes away (resets the connection, or closes it in the
//! middle of a request) costs only its own connection and logs nothing:
//! that is how HTTP clients behave. Any other connection error is printed
//! on stderr, with the peer's address.

use std::convert::Infallible;
use std::error::Error as _;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use clap::Parser;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use spindle::net::{TcpListener, TcpStream};
use spindle::Runtime;

/// An HTTP server for a directory, with a POST echo.
#[derive(Parser, Debug)]
#[command(name = "http_server")]
struct Args {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// The directory whose files are served.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
}

/// Every response body: a whole file, nothing, or the request's own body.
type Body = BoxBody<Bytes, hyper::Error>;

fn main() -> io::Result<()> {
    let Args { addr, dir } = Args::parse();
    let root =
        Arc::new(dir.canonicalize().map_err(|e| {
            io::Error::new(e.kind(), format!("cannot serve {}: {e}", dir.display()))
        })?);
    let rt = Runtime::new()?;
    let backend = rt.backend();
    rt.block_on(async move {
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("could not listen on {addr}: {e}")))?;
        // The first line is the address: scripts read it (see .ci/).
        println!(
            "http://{} serving {} (backend: {backend})",
            listener.local_addr()?,
            root.display()
        );
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of descriptors, a connection reset before accept, ...:
                // this one connection is lost, the server goes on.
                Err(e) => {
                    eprintln!("http_server: accept failed: {e}");
                    continue;
                }
            };
            spindle::spawn(serve_connection(stream, peer, root.clone()));
        }
    })
}

/// Runs hyper's HTTP/1 server on one connection, until the client is done.
async fn serve_connection(stream: TcpStream, peer: SocketAddr, root: Arc<PathBuf>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| respond(req, root.clone()));
    let served = http1::Builder::new()
        .timer(spindle::hyper::Timer::new())
        .serve_connection(stream, service)
        .await;
    if let Err(e) = served {
        if !is_client_gone(&e) {
            eprintln!("http_server: connection from {peer}: {e}");
        }
    }
}

/// True for the ordinary ways a client leaves: it closed the connection in
/// the middle of a request, or reset it.
fn is_client_gone(e: &hyper::Error) -> bool {
    if e.is_incomplete_message() || e.is_canceled() {
        return true;
    }
    let mut source = e.source();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::NotConnected
            );
        }
        source = err.source();
    }
    false
}

/// The service: one request in, one response out.
async fn respond(req: Request<Incoming>, root: Arc<PathBuf>) -> Result<Response<Body>, Infallible> {
    let response = match *req.method() {
        Method::GET | Method::HEAD => serve_file(&root, req.uri().path()).await,
        Method::POST => echo(req).await,
        _ => status(StatusCode::METHOD_NOT_ALLOWED),
    };
    Ok(response)
}

/// `GET`/`HEAD`: the file under `root` named by the URL path, or 404.
/// hyper leaves the body out of the answer to a `HEAD` by itself.
async fn serve_file(root: &Path, url_path: &str) -> Response<Body> {
    let Some(path) = file_path(root, url_path) else {
        return status(StatusCode::NOT_FOUND);
    };
    match spindle::fs::read(&path).await {
        Ok(contents) => Response::builder()
            .header(CONTENT_TYPE, content_type(&path))
            .header(CONTENT_LENGTH, contents.len())
            .body(Full::new(Bytes::from(contents)).map_err(never).boxed())
            .expect("a valid response"),
        // Missing, a directory, unreadable: all "not found" to a client.
        Err(_) => status(StatusCode::NOT_FOUND),
    }
}

/// Maps a URL path to a file under `root`, refusing anything that is not a
/// plain name (`..`, an absolute path): `None` is a 404.
fn file_path(root: &Path, url_path: &str) -> Option<PathBuf> {
    let relative = url_path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let relative = Path::new(relative);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return None;
    }
    Some(root.join(relative))
}

/// A content type from the file's extension; bytes otherwise.
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("txt" | "md" | "rs" | "toml") => "text/plain; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// `POST`: the request's body, streamed back. A sized request gets a sized
/// answer; a chunked one a chunked answer.
///
/// The first piece of the body is read *before* answering: hyper sends
/// `100 Continue` to a client that asked for it (`Expect: 100-continue`)
/// when the service first reads the body. Answering at once would skip
/// the 100 (allowed, but the client then waits a while before sending).
async fn echo(req: Request<Incoming>) -> Response<Body> {
    let length = req.headers().get(CONTENT_LENGTH).cloned();
    let mut rest = req.into_body();
    let first = match rest.frame().await {
        None => None,
        Some(Ok(frame)) => Some(frame),
        // The client went away mid-body: nobody reads this answer.
        Some(Err(_)) => return status(StatusCode::BAD_REQUEST),
    };
    let mut response = Response::new(Prepended { first, rest }.boxed());
    if let Some(length) = length {
        response.headers_mut().insert(CONTENT_LENGTH, length);
    }
    response
}

/// A body that yields `first`, then the frames of `rest`: the request body
/// with its first frame already read.
struct Prepended {
    first: Option<Frame<Bytes>>,
    rest: Incoming,
}

impl hyper::body::Body for Prepended {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        if let Some(frame) = self.first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        Pin::new(&mut self.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let first = self
            .first
            .as_ref()
            .and_then(|frame| frame.data_ref())
            .map_or(0, |data| data.len() as u64);
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + first);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + first);
        }
        hint
    }
}

/// An empty response with `code`.
fn status(code: StatusCode) -> Response<Body> {
    let mut response = Response::new(Empty::new().map_err(never).boxed());
    *response.status_mut() = code;
    response
}

/// Turns a body that cannot fail into one of type [`Body`].
fn never(e: Infallible) -> hyper::Error {
    match e {}
}
