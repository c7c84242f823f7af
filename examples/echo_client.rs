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

use spindle::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use spindle::net::TcpStream;

fn main() -> io::Result<()> {
    let addr = parse_args();
    spindle::block_on(async move {
        let stream = TcpStream::connect(&addr).await?;
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

/// `--addr HOST:PORT`, default 127.0.0.1:7000.
fn parse_args() -> String {
    let mut addr = "127.0.0.1:7000".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            _ => {
                eprintln!("usage: echo_client [--addr HOST:PORT]");
                std::process::exit(2);
            }
        }
    }
    addr
}
