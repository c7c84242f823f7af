//! A TCP echo server: one task per connection, and no buffer held by a
//! connection while it is idle.
//!
//! ```text
//! cargo run --example echo_server -- [--addr 127.0.0.1:7000] [--upper]
//! ```
//!
//! `--upper` upper-cases the replies (ASCII), like the course notes'
//! servers, so you can tell the echo from your own input.
//!
//! # No buffer while idle
//!
//! A task's future stores every local variable that lives across an
//! `.await`. A loop of `stream.read(&mut buf).await` would keep `buf` in the
//! future for as long as the connection exists, so 10,000 idle connections
//! would cost 10,000 buffers. Here each task only waits for *readiness*
//! (`readable().await`, which holds nothing), then calls a plain, non-async
//! function that reads into a buffer on the thread's stack, echoes as much
//! as the socket takes right away with `try_write`, and returns. Only when
//! the peer is slow to read does the unwritten remainder cross an `.await`,
//! in a `Vec` sized to exactly what is left.
//!
//! Try it with `cargo run --example echo_client`, or `nc 127.0.0.1 7000`.

use std::io::{self, ErrorKind};

use clap::Parser;
use spindle::io::AsyncWriteExt;
use spindle::net::{TcpListener, TcpStream};
use spindle::Runtime;

/// A TCP echo server: one task per connection.
#[derive(Parser, Debug)]
#[command(name = "echo_server")]
struct Args {
    /// The address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    addr: String,
    /// Upper-case the replies (ASCII), to tell the echo from your input.
    #[arg(long)]
    upper: bool,
}

fn main() -> io::Result<()> {
    let Args { addr, upper } = Args::parse();
    let rt = Runtime::new()?;
    let backend = rt.backend();
    rt.block_on(async move {
        let listener = match TcpListener::bind(&addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("echo_server: could not listen on {addr}: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "echo server listening on {} (backend: {backend})",
            listener.local_addr()?
        );
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    spindle::spawn(async move {
                        if let Err(e) = serve(stream, upper).await {
                            eprintln!("{peer}: {e}");
                        }
                    });
                }
                // EMFILE and the like: `accept` pauses before its next try,
                // so logging and looping does not spin.
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}

/// Echoes one connection until the peer closes it.
async fn serve(mut stream: TcpStream, upper: bool) -> io::Result<()> {
    loop {
        stream.readable().await?;
        match echo_available(&stream, upper) {
            Ok(Round::PeerClosed) => return Ok(()),
            Ok(Round::Echoed { unwritten: None }) => {}
            // The only buffer that lives across an await.
            Ok(Round::Echoed {
                unwritten: Some(rest),
            }) => stream.write_all(&rest).await?,
            // Readiness was a false alarm: wait again.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// What one call of [`echo_available`] did.
enum Round {
    /// The peer closed its side: nothing more will come.
    PeerClosed,
    /// Echoed what was there; `unwritten` holds what the socket did not
    /// take yet.
    Echoed { unwritten: Option<Vec<u8>> },
}

/// Reads what is available and writes it back, without waiting. Not async
/// on purpose: `buf` lives on the stack only for this call.
fn echo_available(stream: &TcpStream, upper: bool) -> io::Result<Round> {
    let mut buf = [0u8; 4096];
    let n = stream.try_read(&mut buf)?;
    if n == 0 {
        return Ok(Round::PeerClosed);
    }
    let data = &mut buf[..n];
    if upper {
        data.make_ascii_uppercase();
    }
    let mut written = 0;
    while written < n {
        match stream.try_write(&data[written..]) {
            Ok(k) => written += k,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    let unwritten = (written < n).then(|| data[written..].to_vec());
    Ok(Round::Echoed { unwritten })
}
