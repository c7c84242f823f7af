//! A TFTP server (RFC 1350) for one directory: the course notes' file
//! server, on UDP, with one task per transfer.
//!
//! ```text
//! cargo run --example tftp_server -- --dir /srv/tftp [--addr 127.0.0.1:6969]
//! tftp -m binary 127.0.0.1 6969 -c get FILE        # tftp-hpa, from apt
//! cargo run --example tftp_client -- get FILE      # or this repository's client
//! ```
//!
//! Its first line on stdout is `tftp_server listening on ADDR, serving DIR`;
//! then one line per transfer or refused packet.
//!
//! The course notes' "tftp file server" is a homemade protocol over TCP,
//! with a process per client and a `list` command. This is the real TFTP
//! that its name comes from, so that real clients can talk to it: UDP, so
//! the server itself numbers, acknowledges and retransmits the blocks that
//! TCP would have carried for it; one task per transfer where the notes
//! fork a process; and no listing, which RFC 1350 does not have.
//!
//! # One socket per transfer
//!
//! The main socket only takes requests. For each RRQ (read) or WRQ (write)
//! the loop spawns a task that binds a socket of its own, on a port the
//! system picks: the server's *transfer ID* for that transfer. The task
//! sends the file block by block, or receives it, waiting for each answer
//! with a timeout and retransmitting (`--timeout-ms`, `--retries`; see
//! `tftp/transfer.rs`). A client that vanishes costs its task a few
//! timeouts, then the task gives up; the main loop and every other
//! transfer never wait for it.
//!
//! # What is refused
//!
//! * Names outside `--dir`: absolute paths, any `..`, and symbolic links
//!   that lead out get ERROR 2 (access violation). Subdirectories that
//!   exist are fine.
//! * A write to a name that exists gets ERROR 6, unless `--replace`.
//! * `netascii` and `mail` mode get ERROR 0: only `octet` (binary) is
//!   served (tftp-hpa's client: `-m binary`).
//! * A malformed datagram on the main port gets ERROR 4 and costs nothing
//!   else; so does a DATA or ACK there. ERROR packets are never answered.
//! * Inside a transfer, a datagram from another port gets ERROR 5 and the
//!   transfer goes on; a malformed one from the peer gets ERROR 4 and ends
//!   that transfer (an ERROR always ends a transfer in TFTP).
//!
//! A file being written is kept under a hidden temporary name until its
//! last block is in (`tftp/part_file.rs`), and the last ACK goes out only
//! after it has its real name: when the client says "done", it is there.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use spindle::fs::{self, File};
use spindle::io::BufReader;
use spindle::net::UdpSocket;
use spindle::Runtime;

#[allow(dead_code, unused_imports)]
#[path = "tftp/mod.rs"]
mod tftp;

use tftp::{
    receive_file, send_file, ErrorCode, Link, Mode, Packet, PartFile, Request, Timing,
    TransferError, RECV_BUF,
};

/// Bytes read from the file per blocking-pool job: 128 blocks.
const READ_BUFFER: usize = 64 * 1024;

/// A TFTP server (RFC 1350, octet mode) for one directory.
#[derive(Parser, Debug)]
#[command(name = "tftp_server")]
struct Args {
    /// The address to listen on (port 0 picks a free one; the standard
    /// port, 69, needs privileges).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:6969")]
    addr: String,
    /// The directory served: reads come from it and writes go to it,
    /// never outside it.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Silence after which a transfer sends its last packet again.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    timeout_ms: u64,
    /// Retransmissions before a transfer with a silent client is given up.
    #[arg(long, default_value_t = 5)]
    retries: u32,
    /// Let a write replace an existing file (else: ERROR 6, file exists).
    #[arg(long)]
    replace: bool,
}

/// What every transfer task needs to know.
#[derive(Debug)]
struct Server {
    /// The served directory, canonical (no symbolic links, no `..`).
    root: PathBuf,
    /// The address transfer sockets bind to (port 0): the main socket's.
    ip: IpAddr,
    timing: Timing,
    replace: bool,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let root = match args.dir.canonicalize() {
        Ok(root) if root.is_dir() => root,
        Ok(_) => fail(&format!("{} is not a directory", args.dir.display())),
        Err(e) => fail(&format!("cannot serve {}: {e}", args.dir.display())),
    };
    let timing = Timing {
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        retries: args.retries,
    };
    Runtime::new()?.block_on(async move {
        let socket = match UdpSocket::bind(&args.addr).await {
            Ok(socket) => socket,
            Err(e) => fail(&format!("cannot listen on {}: {e}", args.addr)),
        };
        let local = socket.local_addr()?;
        println!(
            "tftp_server listening on {local}, serving {}",
            root.display()
        );
        let server = Arc::new(Server {
            root,
            ip: local.ip(),
            timing,
            replace: args.replace,
        });
        accept_requests(&socket, &server).await
    })
}

/// Prints `message` and exits with status 1.
fn fail(message: &str) -> ! {
    eprintln!("tftp_server: {message}");
    std::process::exit(1)
}

/// The main loop: takes requests on the main socket, spawns a task per
/// transfer, answers anything else with an ERROR.
async fn accept_requests(socket: &UdpSocket, server: &Arc<Server>) -> io::Result<()> {
    let mut buf = [0u8; RECV_BUF];
    loop {
        let (n, from) = match socket.recv_from(&mut buf).await {
            Ok(received) => received,
            Err(e) => {
                eprintln!("tftp_server: receive failed: {e}");
                continue;
            }
        };
        let complaint = match Packet::parse(&buf[..n]) {
            Ok(Packet::Read(request)) => {
                spindle::spawn(server.clone().transfer(from, false, request));
                continue;
            }
            Ok(Packet::Write(request)) => {
                spindle::spawn(server.clone().transfer(from, true, request));
                continue;
            }
            // Never answer an ERROR: two confused peers would loop forever.
            Ok(Packet::Error { .. }) => continue,
            Ok(other) => format!("{} outside a transfer", other.kind()),
            Err(malformed) => format!("malformed packet: {malformed}"),
        };
        println!("{from}: {complaint}: answered with ERROR 4");
        let reply = Packet::error(ErrorCode::IllegalOperation, complaint);
        if let Err(e) = socket.send_to(&reply.encode(), from).await {
            eprintln!("tftp_server: cannot answer {from}: {e}");
        }
    }
}

impl Server {
    /// One transfer, on a socket of its own, to its end; logs the outcome.
    async fn transfer(self: Arc<Self>, from: SocketAddr, write: bool, request: Request) {
        let what = format!(
            "{} {:?}",
            if write { "WRQ" } else { "RRQ" },
            request.filename
        );
        let socket = match UdpSocket::bind(SocketAddr::new(self.ip, 0)).await {
            Ok(socket) => socket,
            Err(e) => {
                println!("{from}: {what}: no socket for the transfer: {e}");
                return;
            }
        };
        let mut link = Link::new(socket, from, self.timing);
        let outcome = if request.mode != Mode::Octet {
            let mode = request.mode.as_str();
            Err(link
                .refuse(
                    ErrorCode::NotDefined,
                    format!("{mode} mode is not supported: use octet (binary)"),
                )
                .await)
        } else if write {
            self.receive(&mut link, &request.filename).await
        } else {
            self.send(&mut link, &request.filename).await
        };
        match outcome {
            Ok(bytes) if write => println!("{from}: {what}: received {bytes} bytes"),
            Ok(bytes) => println!("{from}: {what}: sent {bytes} bytes"),
            Err(e) => println!("{from}: {what}: {e}"),
        }
    }

    /// Serves a read request: checks the name, then sends the file.
    async fn send(&self, link: &mut Link, name: &str) -> Result<u64, TransferError> {
        let path = self.inside_root(link, name).await?;
        let real = match fs::canonicalize(&path).await {
            Ok(real) => real,
            Err(e) => return Err(refuse_io(link, &e).await),
        };
        // A symbolic link inside the root may still point outside it.
        if !real.starts_with(&self.root) {
            return Err(refuse_outside(link, name).await);
        }
        let mut file = match File::open(&real).await {
            Ok(file) => file,
            Err(e) => return Err(refuse_io(link, &e).await),
        };
        match file.metadata().await {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                let message = format!("{name:?} is not a regular file");
                return Err(link.refuse(ErrorCode::AccessViolation, message).await);
            }
            Err(e) => return Err(refuse_io(link, &e).await),
        }
        send_file(link, &mut BufReader::with_capacity(READ_BUFFER, file)).await
    }

    /// Serves a write request: checks the name, receives the file under a
    /// temporary name, gives it its name, and only then sends the last ACK.
    async fn receive(&self, link: &mut Link, name: &str) -> Result<u64, TransferError> {
        let path = self.inside_root(link, name).await?;
        let (Some(parent), Some(file_name)) = (path.parent(), path.file_name()) else {
            return Err(refuse_outside(link, name).await);
        };
        let real_parent = match fs::canonicalize(parent).await {
            Ok(real) => real,
            Err(e) => return Err(refuse_io(link, &e).await),
        };
        if !real_parent.starts_with(&self.root) {
            return Err(refuse_outside(link, name).await);
        }
        let target = real_parent.join(file_name);
        if !self.replace && fs::symlink_metadata(&target).await.is_ok() {
            let message = format!("{name:?} exists");
            return Err(link.refuse(ErrorCode::FileExists, message).await);
        }
        let (part, mut sink) = match PartFile::create(&target).await {
            Ok(created) => created,
            Err(e) => return Err(refuse_io(link, &e).await),
        };
        let opening = Packet::Ack { block: 0 }.encode();
        let received = receive_file(link, opening, &mut sink).await;
        drop(sink);
        let received = match received {
            Ok(received) => received,
            Err(e) => {
                part.discard().await;
                return Err(e);
            }
        };
        if let Err(e) = part.commit(self.replace).await {
            return Err(refuse_io(link, &e).await);
        }
        link.send(&Packet::Ack {
            block: received.last_block,
        })
        .await?;
        link.dally(received.last_block).await;
        Ok(received.bytes)
    }

    /// `name` as a path under the root, if it is relative and has no `..`;
    /// else the request is refused with ERROR 2.
    async fn inside_root(&self, link: &Link, name: &str) -> Result<PathBuf, TransferError> {
        let path = Path::new(name);
        let relative = path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        if relative && path.file_name().is_some() {
            Ok(self.root.join(path))
        } else {
            Err(refuse_outside(link, name).await)
        }
    }
}

/// Refuses with ERROR 2: `name` is not inside the served directory.
async fn refuse_outside(link: &Link, name: &str) -> TransferError {
    let message = format!("{name:?} is outside the served directory");
    link.refuse(ErrorCode::AccessViolation, message).await
}

/// Refuses with the ERROR that fits a failed file operation.
async fn refuse_io(link: &Link, error: &io::Error) -> TransferError {
    let code = ErrorCode::for_io(error);
    let message = match code {
        ErrorCode::NotDefined => error.to_string(),
        known => ErrorCode::describe(known as u16).to_owned(),
    };
    link.refuse(code, message).await
}
