//! A TFTP client (RFC 1350, octet mode): `get` a file from a server, or
//! `put` one on it.
//!
//! ```text
//! cargo run --example tftp_server -- --dir /tmp/served           # in one terminal
//! cargo run --example tftp_client -- get notes.txt [LOCAL]       # in another
//! cargo run --example tftp_client -- put LOCAL [NAME-ON-SERVER]
//! ```
//!
//! `--addr` names the server (default `127.0.0.1:6969`, the server
//! example's default). It works with any TFTP server, tftp-hpa's
//! `in.tftpd` included.
//!
//! The request goes to the server's port; the server answers from a fresh
//! port of its own (its transfer ID), and from then on the client talks
//! only to that port (`tftp/transfer.rs`). Like the server, the client
//! retransmits after `--timeout-ms` of silence and gives up after
//! `--retries`. A file being fetched is written under a hidden temporary
//! name and renamed when complete, so a failed `get` leaves no half file.
//!
//! On success it prints one line (`get NAME -> LOCAL: N bytes in T s`) and
//! exits 0; on failure it prints the reason, the server's ERROR included
//! (`the peer sent error 1 (File not found): ...`), and exits 1.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use spindle::fs::File;
use spindle::io::BufReader;
use spindle::net::{lookup_host, UdpSocket};
use spindle::Runtime;

#[allow(dead_code, unused_imports)]
#[path = "tftp/mod.rs"]
mod tftp;

use tftp::{
    receive_file, send_file, Link, Mode, Packet, PartFile, Request, Step, Timing, TransferError,
};

/// Bytes read from the file per blocking-pool job: 128 blocks.
const READ_BUFFER: usize = 64 * 1024;

/// A TFTP client: get or put one file (octet mode).
#[derive(Parser, Debug)]
#[command(name = "tftp_client")]
struct Args {
    /// The server's address.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6969")]
    addr: String,
    /// Silence after which the last packet is sent again.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_ms: u64,
    /// Retransmissions before the transfer is given up.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fetch REMOTE from the server into LOCAL (default: REMOTE's file name).
    Get {
        /// The file's name on the server.
        remote: String,
        /// Where to write it.
        local: Option<PathBuf>,
    },
    /// Send LOCAL to the server as REMOTE (default: LOCAL's file name).
    Put {
        /// The file to send.
        local: PathBuf,
        /// Its name on the server.
        remote: Option<String>,
    },
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let timing = Timing {
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        retries: args.retries,
    };
    let started = Instant::now();
    let outcome = Runtime::new()?.block_on(async {
        let server = match lookup_host(&args.addr).await?.next() {
            Some(server) => server,
            None => {
                let e = io::Error::other(format!("{} has no address", args.addr));
                return Err(TransferError::Io(e));
            }
        };
        // A fresh port of the server's family: the client's transfer ID.
        let any: IpAddr = match server {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let socket = UdpSocket::bind(SocketAddr::new(any, 0)).await?;
        let mut link = Link::to_server(socket, server, timing);
        match &args.command {
            Command::Get { remote, local } => {
                let local = match local {
                    Some(local) => local.clone(),
                    None => default_local(remote)?,
                };
                let bytes = get(&mut link, remote, &local).await?;
                Ok(format!(
                    "get {remote} -> {}: {bytes} bytes",
                    local.display()
                ))
            }
            Command::Put { local, remote } => {
                let remote = match remote {
                    Some(remote) => remote.clone(),
                    None => default_remote(local)?,
                };
                let bytes = put(&mut link, local, &remote).await?;
                Ok(format!(
                    "put {} -> {remote}: {bytes} bytes",
                    local.display()
                ))
            }
        }
    });
    match outcome {
        Ok(done) => {
            println!("{done} in {:.3} s", started.elapsed().as_secs_f64());
            Ok(())
        }
        Err(e) => {
            eprintln!("tftp_client: {e}");
            std::process::exit(1)
        }
    }
}

/// Fetches `remote` into `local`; returns its length.
async fn get(link: &mut Link, remote: &str, local: &Path) -> Result<u64, TransferError> {
    let (part, mut sink) = PartFile::create(local).await?;
    let rrq = Packet::Read(Request {
        filename: remote.to_owned(),
        mode: Mode::Octet,
    });
    let received = receive_file(link, rrq.encode(), &mut sink).await;
    drop(sink);
    let received = match received {
        Ok(received) => received,
        Err(e) => {
            part.discard().await;
            return Err(e);
        }
    };
    // The last ACK first: the server need not wait for our disk.
    let last_ack = Packet::Ack {
        block: received.last_block,
    };
    link.send(&last_ack).await?;
    part.commit(true).await?;
    Ok(received.bytes)
}

/// Sends `local` to the server as `remote`; returns its length.
async fn put(link: &mut Link, local: &Path, remote: &str) -> Result<u64, TransferError> {
    let file = File::open(local).await?;
    let wrq = Packet::Write(Request {
        filename: remote.to_owned(),
        mode: Mode::Octet,
    });
    // The server's ACK 0 (from its transfer ID) says "go ahead".
    link.exchange(&wrq.encode(), |reply| match reply {
        Packet::Ack { block: 0 } => Step::Accept(()),
        Packet::Ack { .. } => Step::Ignore,
        _ => Step::Illegal,
    })
    .await?;
    send_file(link, &mut BufReader::with_capacity(READ_BUFFER, file)).await
}

/// The last component of the server's name for the file.
fn default_local(remote: &str) -> io::Result<PathBuf> {
    Path::new(remote)
        .file_name()
        .map(PathBuf::from)
        .ok_or_else(|| io::Error::other(format!("name a local file for {remote:?}")))
}

/// The local file's name, as the name on the server.
fn default_remote(local: &Path) -> io::Result<String> {
    local
        .file_name()
        .and_then(|name| name.to_str())
        .map(str::to_owned)
        .ok_or_else(|| io::Error::other(format!("name the file on the server for {local:?}")))
}
