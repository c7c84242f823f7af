//! A line-based chat room: every line a client sends goes to every other
//! client. The course notes build their chat on threads and a shared list
//! of sockets; here each connection is one task, and the room is a
//! [`broadcast`] channel that every task both sends into and listens to.
//!
//! ```text
//! cargo run --example chat -- server [--addr 127.0.0.1:7001]
//! cargo run --example chat -- client [--addr 127.0.0.1:7001]   # in two more terminals
//! ```
//!
//! (`nc 127.0.0.1 7001` works as a client too.)
//!
//! # One task, two event sources
//!
//! A connection's task waits on two things at once: the next line from its
//! own client, and the next message in the room. [`select!`] polls both and
//! runs the branch of whichever is ready first; the other future is
//! dropped. That is safe here because both are *cancel-safe*: a partly
//! read line stays inside `Lines`, and a broadcast receiver loses nothing
//! when a `recv` is dropped. A client too slow to keep up is told how many
//! messages it missed (`RecvError::Lagged`) instead of slowing the room.
//!
//! [`broadcast`]: spindle::sync::broadcast
//! [`select!`]: spindle::select

use std::io;
use std::net::SocketAddr;

use clap::{Parser, Subcommand};
use spindle::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use spindle::net::TcpListener;
use spindle::net::TcpStream;
use spindle::sync::broadcast::{self, error::RecvError};
use spindle::{select, Runtime};

/// A chat room on broadcast + select!, and a client for it.
#[derive(Parser, Debug)]
#[command(name = "chat")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Run the room.
    Server {
        /// The address to listen on (port 0 picks a free one).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7001")]
        addr: String,
    },
    /// Join a room: lines typed go to the room, the room's lines are printed.
    Client {
        /// The server's address.
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7001")]
        addr: String,
    },
}

/// How many messages the room keeps for a slow reader before it lags.
const ROOM_CAPACITY: usize = 256;

fn main() -> io::Result<()> {
    let rt = Runtime::new()?;
    match Args::parse().mode {
        Mode::Server { addr } => {
            let backend = rt.backend();
            rt.block_on(async move {
                let listener = TcpListener::bind(&addr).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("could not listen on {addr}: {e}"))
                })?;
                println!(
                    "chat server listening on {} (backend: {backend})",
                    listener.local_addr()?
                );
                let (room, _) = broadcast::channel(ROOM_CAPACITY);
                loop {
                    let (stream, peer) = listener.accept().await?;
                    let (room, messages) = (room.clone(), room.subscribe());
                    spindle::spawn(async move {
                        if let Err(e) = member(stream, peer, room, messages).await {
                            eprintln!("{peer}: {e}");
                        }
                    });
                }
            })
        }
        Mode::Client { addr } => rt.block_on(client(addr)),
    }
}

/// One member of the room: forwards its lines to the room and the room's
/// lines (but its own) to it, until it leaves.
async fn member(
    stream: TcpStream,
    peer: SocketAddr,
    room: broadcast::Sender<(SocketAddr, String)>,
    mut messages: broadcast::Receiver<(SocketAddr, String)>,
) -> io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut lines = BufReader::new(reader).lines();
    writer
        .write_all(format!("welcome, {peer}; {} here\n", room.receiver_count()).as_bytes())
        .await?;
    // A send fails only when nobody listens, which cannot be: we do.
    let _ = room.send((peer, format!("{peer} joined")));
    loop {
        select! {
            line = lines.next_line() => match line? {
                Some(line) => {
                    let _ = room.send((peer, format!("{peer}: {line}")));
                }
                None => break, // the client hung up
            },
            message = messages.recv() => match message {
                Ok((from, text)) if from != peer => {
                    writer.write_all(text.as_bytes()).await?;
                    writer.write_all(b"\n").await?;
                }
                Ok(_) => {} // our own line, back from the room
                Err(RecvError::Lagged(missed)) => {
                    writer
                        .write_all(format!("(you missed {missed} messages)\n").as_bytes())
                        .await?;
                }
                Err(RecvError::Closed) => break,
            },
        }
    }
    let _ = room.send((peer, format!("{peer} left")));
    Ok(())
}

/// Lines from stdin go to the server; lines from the server go to stdout.
/// stdin is read on the blocking pool, one line per job.
async fn client(addr: String) -> io::Result<()> {
    let stream = TcpStream::connect(&addr).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "could not connect to {addr}: {e} (is the room running? \
                 start it with `cargo run --example chat -- server --addr {addr}`)"
            ),
        )
    })?;
    let (reader, mut writer) = stream.into_split();
    let mut from_room = BufReader::new(reader).lines();
    let mut typed = spindle::spawn_blocking(read_stdin_line);
    loop {
        select! {
            line = from_room.next_line() => match line? {
                Some(line) => println!("{line}"),
                None => return Ok(()), // the server closed
            },
            line = &mut typed => match line.map_err(io::Error::other)?? {
                Some(line) => {
                    writer.write_all(line.as_bytes()).await?;
                    typed = spindle::spawn_blocking(read_stdin_line);
                }
                None => return Ok(()), // end of input: leave
            },
        }
    }
}

/// One line of stdin, newline included; `None` at end of input.
fn read_stdin_line() -> io::Result<Option<String>> {
    let mut line = String::new();
    match io::stdin().read_line(&mut line)? {
        0 => Ok(None),
        _ => Ok(Some(line)),
    }
}
