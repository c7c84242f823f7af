//! The five TFTP packets of RFC 1350 and their wire format.
//!
//! Every packet is one UDP datagram that starts with a two-byte big-endian
//! opcode; strings are ASCII, each ended by a zero byte:
//!
//! ```text
//!   RRQ / WRQ   | 1 or 2 | file name | 0 | mode | 0 |   (RFC 2347 options may follow: ignored)
//!   DATA        | 3      | block #   | 0 to 512 bytes of the file |
//!   ACK         | 4      | block #   |
//!   ERROR       | 5      | code      | message | 0 |
//! ```
//!
//! [`Packet::parse`] checks everything a peer could get wrong (length,
//! opcode, missing terminators, an unknown mode, an oversized block) and
//! says what with a [`Malformed`]; [`Packet::encode`] writes the bytes.

use std::fmt;
use std::io;

/// The size of every DATA block but the last, which is shorter (possibly
/// empty): that shortness is what ends a transfer.
pub const BLOCK_SIZE: usize = 512;

/// The largest valid packet: a DATA header and a full block.
pub const MAX_PACKET: usize = 4 + BLOCK_SIZE;

/// A buffer big enough to tell an oversized datagram from a full block.
pub const RECV_BUF: usize = MAX_PACKET + 1;

/// One TFTP packet, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// RRQ: the sender of this packet wants to read a file.
    Read(Request),
    /// WRQ: the sender of this packet wants to write a file.
    Write(Request),
    /// A block of the file; blocks count from 1 and wrap past 65535 to 0.
    Data {
        /// The block number.
        block: u16,
        /// Up to [`BLOCK_SIZE`] bytes.
        data: Vec<u8>,
    },
    /// Acknowledges the DATA block `block` (block 0 acknowledges a WRQ).
    Ack {
        /// The block number acknowledged.
        block: u16,
    },
    /// Ends the transfer: the sender gives up, and says why.
    Error {
        /// One of the [`ErrorCode`]s (any other number means "not defined").
        code: u16,
        /// A human-readable explanation.
        message: String,
    },
}

/// The body of a read or write request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The file name, as the client sent it (relative to the server's root).
    pub filename: String,
    /// How the file's bytes travel.
    pub mode: Mode,
}

/// The transfer modes of RFC 1350 (case-insensitive on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Line ends translated to CR LF on the wire: refused by this server.
    Netascii,
    /// Raw bytes: the only mode these examples transfer.
    Octet,
    /// Obsolete: delivery to a user's mailbox. Refused.
    Mail,
}

impl Mode {
    /// The name written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Netascii => "netascii",
            Mode::Octet => "octet",
            Mode::Mail => "mail",
        }
    }
}

/// The error codes RFC 1350 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    /// Not defined: see the message.
    NotDefined = 0,
    /// File not found.
    FileNotFound = 1,
    /// Access violation.
    AccessViolation = 2,
    /// Disk full or allocation exceeded.
    DiskFull = 3,
    /// Illegal TFTP operation (a malformed or unexpected packet).
    IllegalOperation = 4,
    /// Unknown transfer ID: a packet from a port that is not this
    /// transfer's peer.
    UnknownTransferId = 5,
    /// File already exists.
    FileExists = 6,
    /// No such user.
    NoSuchUser = 7,
}

impl ErrorCode {
    /// The RFC's name for `code`.
    pub fn describe(code: u16) -> &'static str {
        match code {
            1 => "File not found",
            2 => "Access violation",
            3 => "Disk full or allocation exceeded",
            4 => "Illegal TFTP operation",
            5 => "Unknown transfer ID",
            6 => "File already exists",
            7 => "No such user",
            _ => "Not defined",
        }
    }

    /// The code that best reports a local file error to the peer.
    pub fn for_io(error: &io::Error) -> ErrorCode {
        match error.kind() {
            io::ErrorKind::NotFound => ErrorCode::FileNotFound,
            io::ErrorKind::PermissionDenied => ErrorCode::AccessViolation,
            io::ErrorKind::AlreadyExists => ErrorCode::FileExists,
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorCode::DiskFull,
            _ => ErrorCode::NotDefined,
        }
    }
}

/// Why a datagram is not a valid TFTP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub &'static str);

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Malformed {}

impl Packet {
    /// An ERROR packet.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Packet {
        Packet::Error {
            code: code as u16,
            message: message.into(),
        }
    }

    /// The packet's name, for logs and error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Packet::Read(_) => "RRQ",
            Packet::Write(_) => "WRQ",
            Packet::Data { .. } => "DATA",
            Packet::Ack { .. } => "ACK",
            Packet::Error { .. } => "ERROR",
        }
    }

    /// Decodes one datagram.
    pub fn parse(bytes: &[u8]) -> Result<Packet, Malformed> {
        let (opcode, body) = match bytes {
            [hi, lo, body @ ..] => (u16::from_be_bytes([*hi, *lo]), body),
            _ => return Err(Malformed("shorter than an opcode")),
        };
        match opcode {
            1 => Ok(Packet::Read(parse_request(body)?)),
            2 => Ok(Packet::Write(parse_request(body)?)),
            3 => {
                let (block, data) = split_block(body)?;
                if data.len() > BLOCK_SIZE {
                    return Err(Malformed("DATA block longer than 512 bytes"));
                }
                Ok(Packet::Data {
                    block,
                    data: data.to_vec(),
                })
            }
            4 => match split_block(body)? {
                (block, []) => Ok(Packet::Ack { block }),
                _ => Err(Malformed("ACK longer than 4 bytes")),
            },
            5 => {
                let (code, rest) = split_block(body)?;
                // Lenient: a message without its terminator is still read.
                let text = rest.split(|&b| b == 0).next().unwrap_or_default();
                Ok(Packet::Error {
                    code,
                    message: String::from_utf8_lossy(text).into_owned(),
                })
            }
            _ => Err(Malformed("unknown opcode")),
        }
    }

    /// Encodes the packet as one datagram.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_PACKET);
        match self {
            Packet::Read(request) | Packet::Write(request) => {
                let opcode: u16 = if matches!(self, Packet::Read(_)) {
                    1
                } else {
                    2
                };
                out.extend_from_slice(&opcode.to_be_bytes());
                out.extend_from_slice(request.filename.as_bytes());
                out.push(0);
                out.extend_from_slice(request.mode.as_str().as_bytes());
                out.push(0);
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&3u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&5u16.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                // A zero byte inside would end the message early on the wire.
                out.extend(message.bytes().filter(|&b| b != 0));
                out.push(0);
            }
        }
        out
    }
}

/// `filename 0 mode 0 [option 0 value 0]...`: the options are ignored (a
/// server that ignores them answers as RFC 1350 says, and RFC 2347 clients
/// fall back to plain transfers).
fn parse_request(body: &[u8]) -> Result<Request, Malformed> {
    let mut fields = body.split(|&b| b == 0);
    let filename = fields.next().unwrap_or_default();
    let mode = fields.next().ok_or(Malformed("request without a mode"))?;
    // `split` yields a last piece after the final zero: it must be empty
    // (every string terminated), and so must nothing else be.
    if body.last() != Some(&0) {
        return Err(Malformed("request string not terminated by a zero byte"));
    }
    if filename.is_empty() {
        return Err(Malformed("request with an empty file name"));
    }
    let filename = std::str::from_utf8(filename)
        .map_err(|_| Malformed("file name is not UTF-8"))?
        .to_owned();
    let mode = match std::str::from_utf8(mode).map(str::to_ascii_lowercase) {
        Ok(m) if m == "octet" => Mode::Octet,
        Ok(m) if m == "netascii" => Mode::Netascii,
        Ok(m) if m == "mail" => Mode::Mail,
        _ => return Err(Malformed("unknown transfer mode")),
    };
    Ok(Request { filename, mode })
}

/// The two-byte number after the opcode, and what follows it.
fn split_block(body: &[u8]) -> Result<(u16, &[u8]), Malformed> {
    match body {
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(Malformed("packet too short for its opcode")),
    }
}
