//! An echo server that shuts down gracefully on Ctrl-C: it stops accepting,
//! lets the open connections finish, then exits with status 0.
//!
//! ```text
//! cargo run --example graceful_shutdown -- [ADDR]  (default 127.0.0.1:7878)
//! nc 127.0.0.1 7878                                  (in another terminal; type lines)
//! ```
//!
//! Press Ctrl-C in the server's terminal (or `kill -INT <pid>`): the
//! listener is closed at once, so new clients are refused, but the `nc`
//! session keeps echoing. When the last client disconnects, the server
//! exits 0. A second Ctrl-C while waiting stops the connections and exits
//! with status 1.
//!
//! How the pieces fit:
//!
//! * The accept loop waits for two things at once, a connection or Ctrl-C,
//!   with one `poll_fn` that polls both (what a `select!` macro would do).
//! * Each connection is a task; its `JoinHandle` goes in a `Vec` (finished
//!   ones are pruned as we go). Draining is awaiting those handles: no
//!   counter polled on a timer, and the runtime sleeps in `epoll_wait`
//!   until a connection ends. (`spindle::sync` offers events and
//!   semaphores for fancier bookkeeping; a `Vec` of handles is enough here.)
//! * `ctrl_c()` installs spindle's SIGINT handler when it is called, before
//!   the server announces itself: from then on Ctrl-C no longer kills the
//!   process, it completes the future.

use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::process::ExitCode;
use std::task::Poll;

use clap::Parser;
use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::signal::ctrl_c;
use spindle::{Backend, JoinHandle, Runtime};

/// An echo server that shuts down gracefully on Ctrl-C: it stops accepting,
/// lets the open connections finish, then exits 0 (a second Ctrl-C exits 1).
#[derive(Parser, Debug)]
#[command(name = "graceful_shutdown")]
struct Args {
    /// The address to listen on.
    #[arg(value_name = "ADDR", default_value = "127.0.0.1:7878")]
    addr: String,
}

/// What woke the accept loop.
enum Wake {
    Connection(io::Result<(TcpStream, std::net::SocketAddr)>),
    CtrlC(io::Result<()>),
}

fn main() -> ExitCode {
    let Args { addr } = Args::parse();
    let rt = match Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("graceful_shutdown: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let backend = rt.backend();
    rt.block_on(async move {
        match serve(&addr, backend).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("server error on {addr}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn serve(addr: &str, backend: Backend) -> io::Result<ExitCode> {
    let listener = TcpListener::bind(addr).await?;
    let mut first_ctrl_c = pin!(ctrl_c()); // SIGINT is caught from here on
    println!(
        "echo server on {} (pid {}, backend: {backend}); Ctrl-C to stop",
        listener.local_addr()?,
        std::process::id()
    );
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let wake = poll_fn(|cx| {
            if let Poll::Ready(res) = first_ctrl_c.as_mut().poll(cx) {
                return Poll::Ready(Wake::CtrlC(res));
            }
            listener.poll_accept(cx).map(Wake::Connection)
        })
        .await;
        match wake {
            Wake::Connection(Ok((stream, peer))) => {
                println!("[{peer}] connected");
                connections.retain(|c| !c.is_finished());
                connections.push(spindle::spawn(echo(stream, peer)));
            }
            // Out of descriptors, say: accept backs off by itself; go on.
            Wake::Connection(Err(e)) => eprintln!("accept failed: {e}"),
            Wake::CtrlC(res) => {
                res?;
                break;
            }
        }
    }

    drop(listener); // closed: new clients now get "connection refused"
    connections.retain(|c| !c.is_finished());
    println!(
        "\nCtrl-C: no longer accepting; waiting for {} open connection(s) to finish \
         (Ctrl-C again to force)",
        connections.len()
    );

    // Await every connection, unless a second Ctrl-C comes first.
    let mut again = pin!(ctrl_c());
    let mut all_done = pin!(async {
        for connection in &mut connections {
            // A panicked connection task is reported by the panic hook already.
            let _ = connection.await;
        }
    });
    let forced = poll_fn(|cx| {
        if all_done.as_mut().poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        again.as_mut().poll(cx).map(|_| true)
    })
    .await;
    if forced {
        println!("second Ctrl-C: closing the remaining connections");
        return Ok(ExitCode::FAILURE); // returning drops the runtime and its tasks
    }
    println!("all connections closed; bye");
    Ok(ExitCode::SUCCESS)
}

/// Sends every byte back until the client closes its side.
async fn echo(mut stream: TcpStream, peer: std::net::SocketAddr) {
    let mut buf = vec![0u8; 4096];
    let result: io::Result<u64> = async {
        let mut total = 0;
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(total);
            }
            stream.write_all(&buf[..n]).await?;
            total += n as u64;
        }
    }
    .await;
    match result {
        Ok(bytes) => println!("[{peer}] disconnected after echoing {bytes} bytes"),
        Err(e) => println!("[{peer}] connection error: {e}"),
    }
}
