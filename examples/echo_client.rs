//! A line-based client for `echo_server`: sends each line of stdin and
//! prints the reply, until stdin ends.
//!
//! ```text
//! cargo run --example echo_server &
//! printf 'hello\nworld\n' | cargo run --example echo_client -- [--addr 127.0.0.1:7000]
//! ```
//!
//! Reading stdin blocks, and blocking the runtime's thread would stall
//! every task on it. So each line is read by `spawn_blocking`, on the
//! runtime's blocking pool, while the runtime thread waits for the result
//! like for any other future.

use std::io::{self, BufRead};

use clap::Parser;
use spindle::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use spindle::net::TcpStream;

/// Sends each line of stdin to an echo server and prints each reply.
#[derive(Parser, Debug)]
#[command(name = "echo_client")]
struct Args {
    /// The server's address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    addr: String,
}

fn main() -> io::Result<()> {
    let Args { addr } = Args::parse();
    spindle::block_on(async move {
        let stream = match TcpStream::connect(&addr).await {
            Ok(stream) => stream,
            Err(e) => {
                eprintln!(
                    "echo_client: could not connect to {addr}: {e} (is the server running? \
                     start it with `cargo run --example echo_server -- --addr {addr}`)"
                );
                std::process::exit(1);
            }
        };
        let (reader, mut writer) = stream.into_split();
        let mut replies = BufReader::new(reader).lines();
        while let Some(line) = next_stdin_line().await? {
            writer.write_all(line.as_bytes()).await?;
            writer.write_all(b"\n").await?;
            match replies.next_line().await? {
                Some(reply) => println!("{reply}"),
                None => {
                    eprintln!("echo_client: the server closed the connection");
                    break;
                }
            }
        }
        Ok(())
    })
}

/// The next line of stdin without its line ending, or `None` at its end.
async fn next_stdin_line() -> io::Result<Option<String>> {
    let read = spindle::spawn_blocking(|| {
        let mut line = String::new();
        let n = io::stdin().lock().read_line(&mut line)?;
        let len = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(len);
        Ok((n > 0).then_some(line))
    });
    read.await.map_err(io::Error::other)?
}
