//! TFTP (RFC 1350), the course notes' file server over UDP: the parts the
//! `tftp_server` and `tftp_client` examples share.
//!
//! TFTP moves one file per transfer over UDP, which loses, duplicates and
//! reorders nothing on its own behalf: the protocol does all of it, with
//! one rule: *lock-step*. A transfer goes like this:
//!
//! ```text
//!   client (port C, fresh)              server (port 69, or --addr)
//!   RRQ "file" octet  --------------->  port 69
//!                                        spawns a transfer on a fresh port S
//!                     <---------------  DATA 1 (512 bytes)  from S
//!   ACK 1             --------------->  S
//!                     <---------------  DATA 2 (< 512 bytes: the last)
//!   ACK 2             --------------->  S   done
//! ```
//!
//! A write (WRQ) is the mirror image: the server answers ACK 0 from its
//! fresh port, and the client sends the DATA blocks. The pair (C, S)
//! identifies the transfer: these port numbers are the *transfer IDs*.
//!
//! * `packet.rs`: the five packets and their bytes ([`Packet`]).
//! * `transfer.rs`: one end of a transfer ([`Link`]): retransmission on
//!   timeout, the transfer IDs, [`send_file`] and [`receive_file`].
//! * `part_file.rs`: a received file stays under a temporary name until
//!   its last block is in ([`PartFile`]).
//!
//! Both examples include this module with
//! `#[path = "tftp/mod.rs"] mod tftp;`; each uses a different part of it,
//! so that item carries `#[allow(dead_code, unused_imports)]`.

mod packet;
mod part_file;
mod transfer;

pub use packet::{ErrorCode, Mode, Packet, Request, RECV_BUF};
pub use part_file::PartFile;
pub use transfer::{receive_file, send_file, Link, Step, Timing, TransferError};
