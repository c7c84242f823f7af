//! The parent's end of a [`Process`](super::Process)'s socket: reading
//! the child's answer while it runs, and turning it (or the exit status,
//! when there is none) into what `join` returns.
//!
//! The child sends exactly one frame (`pool/frame.rs`): OK with the
//! encoded result and its descriptors, PANIC with the message, or REJECT.
//! `join` reads as data arrives, through a registration with the runtime,
//! so a result larger than the socket's buffer never leaves the child
//! blocked in its write while the parent waits for it to exit. Once the
//! child has exited, everything it wrote is in the socket: the rest is
//! read without waiting ([`Conn::read_now`]), and a frame cut short by the
//! child's death counts as no answer. A child that dies before reading its
//! task (a `terminate` right after `start`) leaves our frames unread in its
//! socket, and our read then fails with `ECONNRESET` instead of returning
//! 0: that is the end of the stream too, and `join` reports the signal.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::task::{ready, Context, Poll};

use spindle_reactor::Interest;

use super::ProcessError;
use crate::driver::Registration;
use crate::pool::frame::{self, FrameBuf};
use crate::pool::{from_bytes, with_incoming_fds, Wire};
use crate::process::reap;
use crate::sys::fd_passing;

/// The parent's end of the connection to the child.
pub(super) struct Conn {
    /// Registered on the first `join` poll (on that runtime). Declared
    /// before `sock`: deregistered before it closes.
    reg: Option<Registration>,
    sock: UnixStream,
    inbox: Option<FrameBuf>,
    /// Descriptors read and not yet claimed by a complete frame.
    arrived: Vec<OwnedFd>,
    /// The child's answer: its kind, body and descriptors.
    answer: Option<(u8, Vec<u8>, Vec<OwnedFd>)>,
    /// End of stream, or the child sent something that is not an answer
    /// (`error`; the child is then killed).
    done: bool,
    error: Option<String>,
}

impl Conn {
    /// Our end of a new child's socket (non-blocking).
    pub(super) fn new(sock: UnixStream) -> Conn {
        Conn {
            reg: None,
            sock,
            inbox: None,
            arrived: Vec::new(),
            answer: None,
            done: false,
            error: None,
        }
    }

    /// Reads what has arrived, and registers for more, until `Pending` or
    /// end of stream. A read that fails, or something that is not an
    /// answer, ends the reading and kills the child (it is not speaking
    /// the protocol). Fails only if the socket cannot be registered with
    /// a runtime (`join` polled outside one).
    pub(super) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        exit: Option<&reap::Exit>,
    ) -> Poll<io::Result<()>> {
        while !self.done {
            let reg = match &self.reg {
                Some(reg) => reg,
                None => self.reg.insert(Registration::new(
                    self.sock.as_raw_fd(),
                    Interest::READABLE,
                )?),
            };
            let inbox = self.inbox.get_or_insert_with(FrameBuf::new);
            let spare = match inbox.spare() {
                Ok(spare) => spare,
                Err(e) => {
                    self.failed(e.to_string(), exit);
                    break;
                }
            };
            let (len, sock, arrived) = (spare.len(), &self.sock, &mut self.arrived);
            let mut recv_failed = false;
            let read = reg.poll_stream_read_stopping(cx, len, || {
                let before = arrived.len();
                match fd_passing::recv_with_fds(sock.as_fd(), spare, arrived, false) {
                    Ok(n) => Ok((n, arrived.len() > before)),
                    // The child closed its end with our frames unread (it
                    // died before reading its task): the end of the stream.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok((0, false)),
                    Err(e) => {
                        recv_failed = e.kind() != io::ErrorKind::WouldBlock;
                        Err(e)
                    }
                }
            });
            match ready!(read) {
                Ok((n, _)) => {
                    self.inbox.as_mut().expect("read into it").filled(n);
                    if let Err(why) = self.received(n) {
                        self.failed(why, exit);
                    }
                }
                Err(e) if recv_failed => self.failed(e.to_string(), exit),
                // The runtime it was registered with has shut down:
                // register with the current one on the next round.
                Err(_) => self.reg = None,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Reads, without waiting, whatever the socket still holds.
    pub(super) fn read_now(&mut self) {
        while !self.done {
            let inbox = self.inbox.get_or_insert_with(FrameBuf::new);
            let taken = match inbox.recv_from(self.sock.as_fd(), &mut self.arrived, false) {
                Ok(n) => self.received(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.received(0),
                Err(e) => Err(e.to_string()),
            };
            if let Err(why) = taken {
                self.failed(why, None); // it has exited: nobody to kill
            }
        }
    }

    /// `n` bytes were read into the inbox: takes the complete frames.
    fn received(&mut self, n: usize) -> Result<(), String> {
        if n == 0 {
            self.done = true;
            return Ok(());
        }
        let inbox = self.inbox.as_mut().expect("read into it");
        while let Some(f) = inbox.next_frame().map_err(|e| e.to_string())? {
            let fds = frame::take_fds(&mut self.arrived, f.fds).map_err(|e| e.to_string())?;
            if self.answer.is_some() {
                return Err("the child sent more than one answer".into());
            }
            self.answer = Some((f.kind, inbox.bytes(f.body).to_vec(), fds));
        }
        Ok(())
    }

    /// The child broke the protocol: stop reading, and kill it.
    fn failed(&mut self, why: String, exit: Option<&reap::Exit>) {
        self.error = Some(why);
        self.done = true;
        if let Some(exit) = exit {
            let _ = exit.kill();
        }
    }

    /// What `join` returns, given the child's exit status (or why it is unknown).
    pub(super) fn outcome<R: Wire>(
        &mut self,
        status: Result<ExitStatus, String>,
    ) -> Result<R, ProcessError> {
        match self.answer.take() {
            Some((frame::OK, body, fds)) => {
                with_incoming_fds(fds, || from_bytes::<R>(&body)).map_err(ProcessError::Decode)
            }
            Some((frame::PANIC, body, _)) => Err(ProcessError::Panicked(
                String::from_utf8_lossy(&body).into_owned(),
            )),
            Some((_, body, _)) => Err(ProcessError::Rejected(
                String::from_utf8_lossy(&body).into_owned(),
            )),
            None if self.error.is_some() => Err(ProcessError::Io(format!(
                "the child's answer could not be read: {}",
                self.error.take().expect("checked")
            ))),
            None => match status {
                Ok(status) => match (status.signal(), status.code()) {
                    (Some(signal), _) => Err(ProcessError::Signaled(signal)),
                    (None, Some(code)) => Err(ProcessError::Exited(code)),
                    (None, None) => Err(ProcessError::Io(format!("unknown status {status:?}"))),
                },
                Err(why) => Err(ProcessError::Io(why)),
            },
        }
    }
}
