//! One value, one message: how a [`Pipe`](super::Pipe) or a
//! [`Queue`](super::Queue) puts a [`Wire`] value on its `SOCK_SEQPACKET`
//! socket and takes it off again.
//!
//! A seqpacket socket keeps message boundaries and moves each message
//! whole: `sendmsg` queues all of it or nothing (`EAGAIN` when the buffer
//! is full), `recvmsg` takes exactly one. So a send or a receive never
//! leaves half a value behind, whoever is cancelled or killed, and several
//! processes can send to (or receive from) one socket at once.
//!
//! A message is one tag byte, then:
//!
//! ```text
//!   INLINE       | the value's Wire bytes                      + its fds
//!   OUT_OF_LINE  | u64 length  (the bytes are in a memfd)      + its fds, then the memfd
//! ```
//!
//! The sockets stay in blocking mode, and each call says whether it may
//! wait: the runtime's attempts pass `MSG_DONTWAIT` (so none can block a
//! runtime thread, and `WouldBlock` sends the task to the reactor), while a
//! plain thread's `blocking_recv` sleeps in one `recvmsg`, where a
//! non-blocking socket would cost a failed `recvmsg`, a `poll` and another
//! `recvmsg` per wait.
//!
//! The descriptors a value holds ([`encode_fd`](crate::pool::encode_fd))
//! ride along as `SCM_RIGHTS`, at most 252 of them. A value whose encoding
//! is over [`MAX_INLINE`] bytes is written to an anonymous memory file
//! instead, and only that file's descriptor travels: one seqpacket
//! message may not exceed the socket's send buffer (`SO_SNDBUF`, about
//! 208 KiB by default, and raising it past `wmem_max` needs privileges),
//! while a memfd has no limit but memory. (The same happens if the kernel
//! refuses an inline message as too long, `EMSGSIZE`, on a machine with
//! smaller buffers.) The receiver copies the value out of the file. Each
//! thread that receives keeps one receive buffer of 64 KiB.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

use crate::pool::{take_outgoing_fds, with_incoming_fds, DecodeError, Wire};
use crate::sys::fd as sys_fd;
use crate::sys::fd_passing::{self, MAX_PASSED_FDS};

/// The tag of a message that carries the value's bytes.
const INLINE: u8 = 0;
/// The tag of a message whose value's bytes are in the memfd sent last.
const OUT_OF_LINE: u8 = 1;

/// The largest encoding sent inside the message itself.
pub(crate) const MAX_INLINE: usize = 64 * 1024;

/// The receive buffer: the longest message, plus one byte to tell a
/// message that was cut short (it would fill the buffer).
const RECV_BUF: usize = 1 + MAX_INLINE + 1;

thread_local! {
    /// Each thread's receive buffer, allocated on its first receive.
    static RECV: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// An encoded value, ready to send (and to send again after `WouldBlock`).
#[derive(Debug)]
pub(crate) struct Outgoing {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl Outgoing {
    /// Encodes `value` with the descriptors it holds.
    pub(crate) fn encode<T: Wire>(value: &T) -> io::Result<Outgoing> {
        // Descriptors some earlier encoding left behind are not ours.
        drop(take_outgoing_fds());
        // Room for the tag and a small value without growing.
        let mut bytes = Vec::with_capacity(16);
        bytes.push(INLINE);
        value.encode(&mut bytes);
        let fds = take_outgoing_fds();
        if fds.len() >= MAX_PASSED_FDS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a value sent between processes may hold at most {} descriptors; this one holds {}",
                    MAX_PASSED_FDS - 1,
                    fds.len()
                ),
            ));
        }
        let mut out = Outgoing { bytes, fds };
        if out.bytes.len() - 1 > MAX_INLINE {
            out.move_out_of_line()?;
        }
        Ok(out)
    }

    /// The value's Wire bytes, if they travel inline and the value holds
    /// no descriptors: all a transport other than the socket needs (the
    /// queue's ring).
    pub(crate) fn plain_bytes(&self) -> Option<&[u8]> {
        (self.bytes[0] == INLINE && self.fds.is_empty()).then(|| &self.bytes[1..])
    }

    /// True if the value's bytes travel in a memfd.
    #[cfg(test)]
    pub(crate) fn is_out_of_line(&self) -> bool {
        self.bytes[0] == OUT_OF_LINE
    }

    /// Moves the value's bytes into a memfd that travels as the last
    /// descriptor.
    fn move_out_of_line(&mut self) -> io::Result<()> {
        let payload = &self.bytes[1..];
        let file = File::from(sys_fd::memfd(c"spindle-ipc-value", payload.len())?);
        file.write_all_at(payload, 0)?;
        let mut header = vec![OUT_OF_LINE];
        (payload.len() as u64).encode(&mut header);
        self.bytes = header;
        self.fds.push(file.into());
        Ok(())
    }

    /// One `sendmsg`: `Ok` once the whole message is queued, `BrokenPipe`
    /// if nobody can receive it any more. While the socket's buffer is
    /// full it waits if `wait`, else fails with `WouldBlock` (nothing sent).
    pub(crate) fn send(&mut self, sock: BorrowedFd<'_>, wait: bool) -> io::Result<()> {
        match self.send_once(sock, wait) {
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) && self.bytes[0] == INLINE => {
                // This machine's socket buffers are smaller than MAX_INLINE.
                self.move_out_of_line()?;
                self.send_once(sock, wait)
            }
            other => other,
        }
    }

    fn send_once(&self, sock: BorrowedFd<'_>, wait: bool) -> io::Result<()> {
        let fds: Vec<RawFd> = self.fds.iter().map(AsRawFd::as_raw_fd).collect();
        let sent = fd_passing::send_with_fds(sock, &self.bytes, &fds, wait);
        sent.map_err(|e| match e.raw_os_error() {
            Some(libc::EPIPE | libc::ECONNRESET) => io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the receiving end is closed: nobody can receive this value",
            ),
            _ => e,
        })
    }
}

/// What one receive found.
#[derive(Debug)]
pub(crate) enum Received<T> {
    /// A message, decoded (or not: its bytes did not decode as `T`; the
    /// message is consumed either way).
    Message(io::Result<T>),
    /// End of stream: every sender is gone (or the socket was shut down)
    /// and no message is left.
    End,
}

/// One `recvmsg` of one whole message, decoded as `T`. While no message
/// is queued it waits if `wait`, else fails with `WouldBlock` (nothing
/// taken).
pub(crate) fn recv<T: Wire>(sock: BorrowedFd<'_>, wait: bool) -> io::Result<Received<T>> {
    let mut buf = RECV.take();
    if buf.len() < RECV_BUF {
        buf = vec![0; RECV_BUF];
    }
    let mut fds = Vec::new();
    let received = fd_passing::recv_with_fds(sock, &mut buf, &mut fds, wait);
    let result = received.map(|n| match n {
        0 => Received::End,
        n => Received::Message(decode_message(&buf[..n], fds)),
    });
    RECV.set(buf);
    result
}

/// Decodes one received message and the descriptors that came with it.
fn decode_message<T: Wire>(message: &[u8], mut fds: Vec<OwnedFd>) -> io::Result<T> {
    if message.len() == RECV_BUF {
        return Err(invalid_data("a message longer than any spindle sends"));
    }
    match message[0] {
        INLINE => decode_with_fds(&message[1..], fds),
        OUT_OF_LINE => {
            let len = u64::decode(&mut &message[1..]).map_err(decode_error)?;
            let file = File::from(fds.pop().ok_or_else(|| {
                invalid_data("an out-of-line message came without its memory file")
            })?);
            if file.metadata()?.len() < len {
                return Err(invalid_data("an out-of-line message's file is too short"));
            }
            let mut bytes = vec![0; len as usize];
            file.read_exact_at(&mut bytes, 0)?;
            decode_with_fds(&bytes, fds)
        }
        _ => Err(invalid_data("a message with an unknown tag")),
    }
}

/// Decodes exactly one `T` from `bytes`, with `fds` for its descriptors.
pub(crate) fn decode_with_fds<T: Wire>(mut bytes: &[u8], fds: Vec<OwnedFd>) -> io::Result<T> {
    with_incoming_fds(fds, || {
        let value = T::decode(&mut bytes)?;
        if !bytes.is_empty() {
            return Err(DecodeError::new("trailing bytes after the value"));
        }
        Ok(value)
    })
    .map_err(decode_error)
}

fn decode_error(e: DecodeError) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("a message did not decode as the expected type: {e}"),
    )
}

fn invalid_data(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::{pipe, Pipe, Queue};
    use crate::sys::socket::{self as sys_socket, Type};
    use std::os::fd::AsFd;

    /// Sends `value` over a fresh seqpacket pair and receives it back.
    fn through_a_socket<T: Wire>(value: &T) -> T {
        let (a, b) = sys_socket::blocking_socketpair(Type::SeqPacket).unwrap();
        let mut message = Outgoing::encode(value).unwrap();
        message.send(a.as_fd(), false).unwrap();
        match recv::<T>(b.as_fd(), false).unwrap() {
            Received::Message(value) => value.unwrap(),
            Received::End => panic!("end of stream"),
        }
    }

    #[test]
    fn values_over_the_inline_limit_go_out_of_line() {
        // A Vec<u8>'s encoding is its 8-byte length, then the bytes.
        let fits = vec![5u8; MAX_INLINE - 8];
        let over = vec![6u8; MAX_INLINE - 7];
        assert!(!Outgoing::encode(&fits).unwrap().is_out_of_line());
        assert!(Outgoing::encode(&over).unwrap().is_out_of_line());
        assert!(through_a_socket(&fits) == fits);
        assert!(through_a_socket(&over) == over);
    }

    #[test]
    fn waiting_or_not_is_the_callers_choice() {
        let (a, b) = sys_socket::blocking_socketpair(Type::SeqPacket).unwrap();
        // The socket blocks, yet a call that may not wait does not.
        let e = recv::<u8>(b.as_fd(), false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        let mut sent = 0;
        let e = loop {
            match Outgoing::encode(&0u64).unwrap().send(a.as_fd(), false) {
                Ok(()) => sent += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(sent > 10);
    }

    #[test]
    fn the_end_of_stream_is_not_a_message() {
        let (a, b) = sys_socket::blocking_socketpair(Type::SeqPacket).unwrap();
        Outgoing::encode(&())
            .unwrap()
            .send(a.as_fd(), true)
            .unwrap();
        drop(a);
        // `()` encodes as nothing, yet its message (the tag) is not the end.
        let first = recv::<()>(b.as_fd(), true).unwrap();
        assert!(matches!(first, Received::Message(Ok(()))));
        assert!(matches!(
            recv::<()>(b.as_fd(), true).unwrap(),
            Received::End
        ));
    }

    /// A Wire round trip inside one process, through the descriptor side
    /// channel directly (what a transport does around the bytes).
    fn wire_round_trip<T: Wire>(value: &T) -> T {
        drop(take_outgoing_fds());
        let mut bytes = Vec::new();
        value.encode(&mut bytes);
        let fds = take_outgoing_fds();
        with_incoming_fds(fds, || T::decode(&mut &bytes[..])).unwrap()
    }

    #[test]
    fn pipes_and_queues_survive_a_wire_round_trip() {
        let (a, b) = pipe::<u32>().unwrap();
        let (a2, b2): (Pipe<u32>, Pipe<u32>) = wire_round_trip(&(a, b));
        a2.blocking_send(7).unwrap();
        assert_eq!(b2.blocking_recv().unwrap(), 7);

        let q = Queue::<String>::new(2).unwrap();
        let q2 = wire_round_trip(&q);
        assert_eq!(q2.maxsize(), 2);
        q.put_nowait("a".into()).unwrap();
        q2.put_nowait("b".into()).unwrap();
        // One bound, shared by both handles.
        assert!(q2.put_nowait("c".into()).is_err());
        assert_eq!(q2.get_nowait().unwrap(), "a");
        assert_eq!(q.get_nowait().unwrap(), "b");
        q2.close().unwrap();
        assert!(matches!(q.get_nowait(), Err(crate::ipc::GetError::Closed)));
    }
}
