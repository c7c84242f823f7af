//! One transfer, from either end: lock-step sending and receiving with
//! retransmission, shared by the server and the client.
//!
//! TFTP is *lock-step*: the sender sends block n and waits for ACK n
//! before it sends block n+1, so at most one packet of each side is in
//! flight. Either packet may be lost, so **both sides retransmit** their
//! last packet when the other stays silent for a timeout, and give up
//! after a few tries:
//!
//! ```text
//!   sender                      receiver
//!   DATA 1 ------------------>            (lost ACKs and lost DATA look the
//!          <------------------ ACK 1       same to the sender: silence; it
//!   DATA 2 ------X                         sends DATA 2 again, and the
//!   ...timeout...                          receiver, silent too, re-sends
//!   DATA 2 ------------------>             ACK 1, which the sender ignores)
//!          <------------------ ACK 2
//!   DATA 3 (< 512 bytes) ---->            a short block ends the transfer
//!          <------------------ ACK 3
//! ```
//!
//! A duplicate ACK is *ignored*, never answered with a retransmission (the
//! "Sorcerer's Apprentice" bug of RFC 1350, fixed by RFC 1123): answering
//! it would double every packet from then on. A duplicate DATA (our ACK was
//! lost) is answered by re-sending that ACK.
//!
//! A [`Link`] is one end's socket plus the other end's *transfer ID* (TID):
//! its address and port. Each transfer uses a fresh port on both sides, so
//! a datagram from any other address is not part of it; it gets an ERROR 5
//! (unknown transfer ID) and the transfer goes on undisturbed. The client
//! does not know the server's TID yet when it sends its request to the
//! server's well-known port: the first reply from the server's host sets it.
//!
//! Every wait is bounded with `timeout_at`: a retry is only sent after a
//! whole timeout of silence, however many stray datagrams arrive meanwhile.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use spindle::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use spindle::net::UdpSocket;
use spindle::time::{timeout_at, Instant};

use super::packet::{ErrorCode, Packet, BLOCK_SIZE, RECV_BUF};

/// How long to wait for the peer, and how often to try again.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Silence after which the last packet is sent again.
    pub timeout: Duration,
    /// How many times it is sent again before the transfer is given up.
    pub retries: u32,
}

/// Why a transfer ended early.
#[derive(Debug)]
pub enum TransferError {
    /// A local failure: the socket or the file (the peer was sent an ERROR).
    Io(io::Error),
    /// The peer sent an ERROR packet.
    Peer {
        /// Its code (see [`ErrorCode`]).
        code: u16,
        /// Its message.
        message: String,
    },
    /// No answer after every retry: the peer is gone.
    TimedOut {
        /// How many retransmissions went unanswered.
        retries: u32,
    },
    /// The peer sent a malformed or out-of-place packet (it was sent an
    /// ERROR 4).
    Protocol(String),
    /// This end refused the request, and told the peer with this ERROR.
    Refused {
        /// The code sent (see [`ErrorCode`]).
        code: u16,
        /// The message sent.
        message: String,
    },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Io(e) => write!(f, "{e}"),
            TransferError::Peer { code, message } => write!(
                f,
                "the peer sent error {code} ({}): {message}",
                ErrorCode::describe(*code)
            ),
            TransferError::TimedOut { retries } => {
                write!(f, "gave up: no reply after {retries} retransmissions")
            }
            TransferError::Protocol(what) => write!(f, "protocol error: {what}"),
            TransferError::Refused { code, message } => write!(
                f,
                "refused with error {code} ({}): {message}",
                ErrorCode::describe(*code)
            ),
        }
    }
}

impl std::error::Error for TransferError {}

impl From<io::Error> for TransferError {
    fn from(e: io::Error) -> Self {
        TransferError::Io(e)
    }
}

/// What [`Link::exchange`] should do with a packet from the peer.
pub enum Step<T> {
    /// The awaited answer: the exchange returns this value.
    Accept(T),
    /// A harmless leftover (a duplicate ACK): keep waiting.
    Ignore,
    /// The peer missed our last packet (a duplicate DATA): send it again
    /// and keep waiting.
    Resend,
    /// Not allowed here: the peer gets an ERROR 4 and the transfer ends.
    Illegal,
}

/// One end of a transfer: a socket of its own and the peer's TID.
#[derive(Debug)]
pub struct Link {
    socket: UdpSocket,
    peer: SocketAddr,
    /// Whether `peer`'s port is the peer's TID yet (false on the client
    /// until the server's first reply).
    tid_known: bool,
    timing: Timing,
}

impl Link {
    /// A link to a peer whose TID is known: the server's side, where the
    /// request came from the client's TID.
    pub fn new(socket: UdpSocket, peer: SocketAddr, timing: Timing) -> Link {
        Link {
            socket,
            peer,
            tid_known: true,
            timing,
        }
    }

    /// A link to a server whose TID is not known yet: the first packets go
    /// to its well-known port, and the first reply from its host fixes the TID.
    pub fn to_server(socket: UdpSocket, server: SocketAddr, timing: Timing) -> Link {
        Link {
            socket,
            peer: server,
            tid_known: false,
            timing,
        }
    }

    /// Sends one packet to the peer, once.
    pub async fn send(&self, packet: &Packet) -> io::Result<()> {
        self.socket
            .send_to(&packet.encode(), self.peer)
            .await
            .map(drop)
    }

    /// Tells the peer the transfer is over, with an ERROR packet. Best
    /// effort: the transfer is ending anyway, and the peer will time out
    /// if this is lost.
    pub async fn abort(&self, code: ErrorCode, message: &str) {
        let _ = self.send(&Packet::error(code, message)).await;
    }

    /// Refuses the request with an ERROR packet, and returns the error
    /// that says so.
    pub async fn refuse(&self, code: ErrorCode, message: impl Into<String>) -> TransferError {
        let message = message.into();
        self.abort(code, &message).await;
        TransferError::Refused {
            code: code as u16,
            message,
        }
    }

    /// Sends `out` and waits for the answer `judge` accepts, sending `out`
    /// again after each timeout of silence, at most `retries` times.
    ///
    /// On the way: a datagram from a stranger gets an ERROR 5 and changes
    /// nothing; a malformed one from the peer, or one `judge` calls
    /// illegal, gets an ERROR 4 and ends the transfer; an ERROR from the
    /// peer ends it too.
    pub async fn exchange<T>(
        &mut self,
        out: &[u8],
        mut judge: impl FnMut(Packet) -> Step<T>,
    ) -> Result<T, TransferError> {
        let mut buf = [0u8; RECV_BUF];
        for _try in 0..=self.timing.retries {
            self.socket.send_to(out, self.peer).await?;
            let deadline = Instant::now() + self.timing.timeout;
            loop {
                let (n, from) = match timeout_at(deadline, self.socket.recv_from(&mut buf)).await {
                    Ok(received) => received?,
                    // A timeout of silence: retransmit.
                    Err(_elapsed) => break,
                };
                if !self.is_peer(from) {
                    self.reject_stranger(from).await;
                    continue;
                }
                let packet = match Packet::parse(&buf[..n]) {
                    Ok(packet) => packet,
                    Err(malformed) => {
                        let what = format!("malformed packet: {malformed}");
                        self.peer = from;
                        self.abort(ErrorCode::IllegalOperation, &what).await;
                        return Err(TransferError::Protocol(what));
                    }
                };
                if let Packet::Error { code, message } = packet {
                    return Err(TransferError::Peer { code, message });
                }
                let kind = packet.kind();
                match judge(packet) {
                    Step::Accept(value) => {
                        self.peer = from;
                        self.tid_known = true;
                        return Ok(value);
                    }
                    Step::Ignore => {}
                    Step::Resend => {
                        self.socket.send_to(out, self.peer).await?;
                    }
                    Step::Illegal => {
                        let what = format!("unexpected {kind} packet");
                        self.peer = from;
                        self.abort(ErrorCode::IllegalOperation, &what).await;
                        return Err(TransferError::Protocol(what));
                    }
                }
            }
        }
        Err(TransferError::TimedOut {
            retries: self.timing.retries,
        })
    }

    /// After the last ACK of a received file: stays around for a while
    /// ("dallies", RFC 1350 section 6) in case that ACK was lost and the
    /// peer sends its last block again, and acknowledges it again if so.
    pub async fn dally(&mut self, last_block: u16) {
        let ack = Packet::Ack { block: last_block }.encode();
        let mut buf = [0u8; RECV_BUF];
        let mut resends = 0;
        // A deadline, not a timeout per datagram: strangers' datagrams
        // must not keep the transfer alive.
        let mut deadline = Instant::now() + self.timing.timeout;
        loop {
            let (n, from) = match timeout_at(deadline, self.socket.recv_from(&mut buf)).await {
                Ok(Ok(received)) => received,
                // Silence (the ACK arrived) or a socket error: done.
                Ok(Err(_)) | Err(_) => return,
            };
            if !self.is_peer(from) {
                self.reject_stranger(from).await;
                continue;
            }
            if let Ok(Packet::Data { block, .. }) = Packet::parse(&buf[..n]) {
                if block == last_block {
                    if resends == self.timing.retries {
                        return;
                    }
                    let _ = self.socket.send_to(&ack, self.peer).await;
                    resends += 1;
                    deadline = Instant::now() + self.timing.timeout;
                }
            }
        }
    }

    /// Whether `from` is this transfer's peer.
    fn is_peer(&self, from: SocketAddr) -> bool {
        if self.tid_known {
            from == self.peer
        } else {
            from.ip() == self.peer.ip()
        }
    }

    /// Answers a datagram from another port with ERROR 5 (RFC 1350: "This
    /// should not cause the transfer to be aborted").
    async fn reject_stranger(&self, from: SocketAddr) {
        let packet = Packet::error(ErrorCode::UnknownTransferId, "unknown transfer ID");
        let _ = self.socket.send_to(&packet.encode(), from).await;
    }
}

/// Sends a whole file over `link`, block 1 first: every block but the
/// last is full, and the last is short (empty if the file is a multiple
/// of 512 bytes). Returns the number of bytes sent.
pub async fn send_file<R: AsyncRead + Unpin>(
    link: &mut Link,
    source: &mut R,
) -> Result<u64, TransferError> {
    let mut block: u16 = 1;
    let mut sent = 0u64;
    let mut chunk = vec![0u8; BLOCK_SIZE];
    loop {
        let n = match fill(source, &mut chunk).await {
            Ok(n) => n,
            Err(e) => {
                link.abort(ErrorCode::for_io(&e), &e.to_string()).await;
                return Err(TransferError::Io(e));
            }
        };
        let data = Packet::Data {
            block,
            data: chunk[..n].to_vec(),
        }
        .encode();
        link.exchange(&data, |reply| match reply {
            Packet::Ack { block: acked } if acked == block => Step::Accept(()),
            // A duplicate (or stray) ACK: never answer it (see module docs).
            Packet::Ack { .. } => Step::Ignore,
            _ => Step::Illegal,
        })
        .await?;
        sent += n as u64;
        if n < BLOCK_SIZE {
            return Ok(sent);
        }
        // Past 65535 the count wraps to 0, as tftp-hpa and most others do.
        block = block.wrapping_add(1);
    }
}

/// What [`receive_file`] got.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    /// The file's length.
    pub bytes: u64,
    /// The number of the last block, which still needs its ACK: the caller
    /// sends it ([`Link::send`] or [`Link::dally`]) once the file is safely
    /// in place, so that the peer's success means the file is there.
    pub last_block: u16,
}

/// Receives a whole file over `link` into `sink`, flushed at the end.
///
/// `opening` is the first packet to send and repeat until block 1
/// arrives: the client's RRQ, or the server's ACK 0 of a WRQ.
pub async fn receive_file<W: AsyncWrite + Unpin>(
    link: &mut Link,
    opening: Vec<u8>,
    sink: &mut W,
) -> Result<Received, TransferError> {
    let mut out = opening;
    let mut expected: u16 = 1;
    let mut previous: Option<u16> = None;
    let mut bytes = 0u64;
    loop {
        let data = link
            .exchange(&out, |reply| match reply {
                Packet::Data { block, data } if block == expected => Step::Accept(data),
                Packet::Data { block, .. } if Some(block) == previous => Step::Resend,
                Packet::Data { .. } => Step::Ignore,
                _ => Step::Illegal,
            })
            .await?;
        let last = data.len() < BLOCK_SIZE;
        let written = async {
            sink.write_all(&data).await?;
            if last {
                sink.flush().await?;
            }
            Ok::<_, io::Error>(())
        };
        if let Err(e) = written.await {
            link.abort(ErrorCode::for_io(&e), &e.to_string()).await;
            return Err(TransferError::Io(e));
        }
        bytes += data.len() as u64;
        if last {
            return Ok(Received {
                bytes,
                last_block: expected,
            });
        }
        out = Packet::Ack { block: expected }.encode();
        previous = Some(expected);
        expected = expected.wrapping_add(1);
    }
}

/// Reads until `buf` is full or the source ends; returns how much was read.
async fn fill<R: AsyncRead + Unpin>(source: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match source.read(&mut buf[filled..]).await {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
