//! [`pipe`] and [`pipe_one_way`]: message channels between two processes
//! (the course notes' `multiprocessing.Pipe()` and `Pipe(duplex=False)`).
//!
//! [`Pipe`]'s docs teach how they work (they live on the public type, so
//! that rustdoc shows them): a seqpacket socket pair, one message per
//! value (`message.rs`).

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::pin::pin;

use super::hand_over::HandOver;
use super::message::{self, Outgoing, Received};
use super::polled::PolledFd;
use crate::executor::reply_spin::{self, SpinRule};
use crate::pool::{decode_fd, encode_fd, DecodeError, Wire};
use crate::sys::socket::{self as sys_socket, Type};

/// Creates a duplex pipe: two connected ends, each of which sends `T`s to
/// the other and receives the other's.
///
/// ```
/// use spindle_runtime::ipc;
///
/// # spindle_runtime::block_on(async {
/// let (left, right) = ipc::pipe::<String>()?;
/// left.send("ping".to_string()).await?;
/// assert_eq!(right.recv().await?, "ping");
/// right.send("pong".to_string()).await?;
/// assert_eq!(left.recv().await?, "pong");
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
pub fn pipe<T: Wire>() -> io::Result<(Pipe<T>, Pipe<T>)> {
    let (a, b) = sys_socket::blocking_socketpair(Type::SeqPacket)?;
    Ok((Pipe::from_fd(a), Pipe::from_fd(b)))
}

/// Creates a one-way pipe: what the [`PipeSender`] sends, the
/// [`PipeReceiver`] receives.
///
/// ```
/// use spindle_runtime::ipc;
///
/// let (tx, rx) = ipc::pipe_one_way::<Vec<u32>>()?;
/// let sender = std::thread::spawn(move || tx.blocking_send(vec![1, 2, 3]));
/// assert_eq!(rx.blocking_recv()?, [1, 2, 3]);
/// sender.join().unwrap()?;
/// # std::io::Result::Ok(())
/// ```
pub fn pipe_one_way<T: Wire>() -> io::Result<(PipeSender<T>, PipeReceiver<T>)> {
    let (a, b) = sys_socket::blocking_socketpair(Type::SeqPacket)?;
    Ok((
        PipeSender {
            end: End::new(a),
            _values: PhantomData,
        },
        PipeReceiver {
            end: End::new(b),
            _values: PhantomData,
        },
    ))
}

/// One end of a duplex pipe (see [`pipe`]).
///
/// Any number of tasks may send and receive on one end at once; each value
/// goes to exactly one receiver. [`PipeSender`] and [`PipeReceiver`], the
/// ends of a one-way pipe, work the same way.
///
/// A pipe is a connected pair of unix `SOCK_SEQPACKET` sockets
/// (`socketpair(2)`). Each end can be sent to another process (as a
/// `Process` argument or a pool job's, or inside a value sent through
/// another pipe): its descriptor travels as `SCM_RIGHTS` and names the
/// same socket there.
///
/// ```text
///     process A                                  process B
///   Pipe<T> ── send(v): encode, sendmsg ──▶ kernel queue ──▶ recv(): recvmsg, decode ── Pipe<T>
///           ◀── recv() ◀─────────────────── kernel queue ◀── send(v) ──────────────────
/// ```
///
/// Each value is one message: the kernel moves it whole or not at all, so
/// a `send` or `recv` future dropped while it waits has sent or taken
/// nothing, and values of any size arrive in one piece (over 64 KiB they
/// travel in a memory file whose descriptor rides along).
/// Values are [`Wire`] types; the descriptors inside them (an `OwnedFd`,
/// another pipe end, a [`Queue`](super::Queue)) are passed along too.
///
/// The async methods wait on the runtime that awaits them (the end
/// registers with each runtime that uses it); `blocking_send` and
/// `blocking_recv` are for plain threads and for `Process` and pool
/// functions, which are plain functions. A `blocking_recv` that finds
/// nothing keeps trying for up to 20 µs (yielding the CPU in between)
/// before it sleeps, and a `recv().await` that finds nothing has its
/// runtime, if it has nothing else to run, look again for as long before
/// it sleeps: a reply that comes that soon then finds its CPU awake, which
/// between two CPUs makes a round trip several times faster
/// (`docs/benchmarks.md`, "Between processes"). Where the other process
/// shares the CPU, that is noticed and the trying stops; a duplex end
/// then yields the CPU right after it sends, so that the other process
/// answers at once (not after two sends in a row, nor while other tasks
/// of its runtime are ready to run).
///
/// # When the other end is gone
///
/// An end is closed when every copy of it is dropped, in every process
/// that holds one (a process that dies drops its copies). Then `recv`
/// first returns what is still queued, then fails with
/// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof); `send` fails with
/// [`BrokenPipe`](io::ErrorKind::BrokenPipe). Handing an end to another
/// process sends a *copy*: drop yours, or the other end never sees it
/// close (as with Python's pipes, where the parent closes its copy).
pub struct Pipe<T> {
    end: End,
    _values: PhantomData<fn(T) -> T>,
}

/// The sending end of a one-way pipe (see [`pipe_one_way`]).
pub struct PipeSender<T> {
    end: End,
    _values: PhantomData<fn(T)>,
}

/// The receiving end of a one-way pipe (see [`pipe_one_way`]).
pub struct PipeReceiver<T> {
    end: End,
    _values: PhantomData<fn() -> T>,
}

impl<T> Pipe<T> {
    fn from_fd(fd: OwnedFd) -> Pipe<T> {
        Pipe {
            end: End::new(fd),
            _values: PhantomData,
        }
    }
}

impl<T: Wire> Pipe<T> {
    /// Sends `value` to the other end, waiting while the socket's buffer
    /// is full.
    ///
    /// Fails with `BrokenPipe` if the other end is closed, or with the
    /// error of encoding (a value holding more than 252 descriptors, or
    /// one that cannot be duplicated). Cancel-safe: dropped while it waits,
    /// it has sent nothing.
    pub async fn send(&self, value: T) -> io::Result<()> {
        send(&self.end, &value).await?;
        // The other end may be about to answer: see `HandOver`.
        self.end.hand_over.after_async_send();
        Ok(())
    }

    /// Receives the next value from the other end, waiting for one.
    ///
    /// Fails with `UnexpectedEof` once the other end is closed and every
    /// value it sent has been received, and with `InvalidData` for a
    /// message that does not decode as `T` (which is then consumed).
    /// Cancel-safe: dropped while it waits, it has taken nothing.
    pub async fn recv(&self) -> io::Result<T> {
        recv(&self.end).await
    }

    /// [`send`](Self::send) for a plain thread: blocks it until the value
    /// is sent.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> io::Result<()> {
        blocking_send(&self.end, &value)?;
        let end = &self.end;
        end.hand_over
            .after_blocking_send(end.spins.peer_shares_cpu());
        Ok(())
    }

    /// [`recv`](Self::recv) for a plain thread: blocks it until a value
    /// arrives.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_recv(&self) -> io::Result<T> {
        blocking_recv(&self.end)
    }
}

impl<T: Wire> PipeSender<T> {
    /// Sends `value`, waiting while the socket's buffer is full; see
    /// [`Pipe::send`].
    pub async fn send(&self, value: T) -> io::Result<()> {
        send(&self.end, &value).await
    }

    /// Sends `value` from a plain thread; see [`Pipe::blocking_send`].
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_send(&self, value: T) -> io::Result<()> {
        blocking_send(&self.end, &value)
    }
}

impl<T: Wire> PipeReceiver<T> {
    /// Receives the next value, waiting for one; see [`Pipe::recv`].
    pub async fn recv(&self) -> io::Result<T> {
        recv(&self.end).await
    }

    /// Receives the next value on a plain thread; see [`Pipe::blocking_recv`].
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_recv(&self) -> io::Result<T> {
        blocking_recv(&self.end)
    }
}

async fn send<T: Wire>(end: &PolledFd, value: &T) -> io::Result<()> {
    let mut message = Outgoing::encode(value)?;
    end.write(|fd| message.send(fd, false)).await
}

#[track_caller]
fn blocking_send<T: Wire>(end: &PolledFd, value: &T) -> io::Result<()> {
    let mut message = Outgoing::encode(value)?;
    end.blocking(|fd| message.send(fd, true))
}

/// Receives one value. While it waits, it tells the runtime that an
/// answer from another process is expected soon, so that the runtime
/// looks for it for a moment before it sleeps, if it has nothing else to
/// do (`executor/reply_spin.rs`; the same reason as [`spin_then_recv`]).
async fn recv<T: Wire>(end: &End) -> io::Result<T> {
    let mut read = pin!(end.polled.read(|fd| message::recv::<T>(fd, false)));
    let received = poll_fn(|cx| {
        let poll = read.as_mut().poll(cx);
        if poll.is_ready() {
            end.hand_over.received();
        } else {
            reply_spin::expect_reply();
        }
        poll
    });
    into_value(received.await?)
}

#[track_caller]
fn blocking_recv<T: Wire>(end: &End) -> io::Result<T> {
    let received = end.polled.blocking(|fd| spin_then_recv::<T>(fd, end));
    end.hand_over.received();
    into_value(received?)
}

/// One end of a pipe: its socket, what its blocking receives learned
/// about spinning (see [`spin_then_recv`]), and whether its sends hand the
/// CPU over to the other end (duplex pipes only; see [`HandOver`]).
struct End {
    polled: PolledFd,
    /// What this end's blocking receives have learned about spinning.
    spins: SpinRule,
    hand_over: HandOver,
}

impl End {
    fn new(fd: OwnedFd) -> End {
        End {
            polled: PolledFd::new(fd, true),
            spins: SpinRule::default(),
            hand_over: HandOver::default(),
        }
    }
}

impl std::ops::Deref for End {
    type Target = PolledFd;

    fn deref(&self) -> &PolledFd {
        &self.polled
    }
}

/// Receives one message. If none is there (and the machine has more than
/// one CPU), it keeps trying without waiting for up to
/// [`SPIN`](reply_spin::SPIN), yielding the CPU between tries, before it
/// sleeps in `recvmsg`.
///
/// Why: a process that sleeps lets its CPU go idle, and waking an idle CPU
/// costs far more than the message. On this project's 2-CPU virtual
/// machine, a ping-pong between processes on two CPUs took 44 to 53 µs
/// per round trip when both sides slept, 4.6 to 5.8 µs when they tried for
/// up to 20 µs first (`docs/benchmarks.md`, "Between processes"): the
/// reply to a request often comes within microseconds, while the CPU is
/// still awake.
///
/// Spinning does not pay when the peer shares our CPU: it answers only
/// once we yield to it, which the failed try and the yield make slower
/// than sleeping at once. That is noticed: a first yield that ran another
/// thread, after which the message was there, makes the next 63 receives
/// on this end sleep at once. A spin that runs out costs its 20 µs of CPU
/// and nothing else; the next receive spins again (an answer that takes
/// 20 µs now may take 5 µs next time, and between two CPUs a caught answer
/// saves far more than the spin). Nor does it pay on a CPU that other
/// threads want: a yield there can give one of them a whole time slice, so
/// a yield that takes over 200 µs stops all spinning on this end for 50 ms
/// ([`BackOff`](reply_spin::BackOff)). A task's `recv().await` gets the
/// same from its runtime (`executor/reply_spin.rs`).
fn spin_then_recv<T: Wire>(fd: BorrowedFd<'_>, end: &End) -> io::Result<Received<T>> {
    if !end.spins.should_spin() {
        return message::recv::<T>(fd, true);
    }
    let mut received = None;
    end.spins.spin(
        || match message::recv::<T>(fd, false) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            other => {
                received = Some(other);
                true
            }
        },
        reply_spin::timed_yield,
    );
    received.unwrap_or_else(|| message::recv::<T>(fd, true))
}

fn into_value<T>(received: Received<T>) -> io::Result<T> {
    match received {
        Received::Message(value) => value,
        Received::End => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the pipe's other end is closed and every value sent through it has been received",
        )),
    }
}

/// The Wire impls send the end's descriptor beside the bytes: the
/// receiving process gets an end of the same pipe.
macro_rules! wire_end {
    ($($name:ident),*) => {$(
        impl<T> Wire for $name<T> {
            fn encode(&self, out: &mut Vec<u8>) {
                encode_fd(self.end.as_fd(), out);
            }
            fn decode(input: &mut &[u8]) -> Result<$name<T>, DecodeError> {
                Ok($name {
                    end: End::new(decode_fd(input)?),
                    _values: PhantomData,
                })
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.end.as_fd().as_raw_fd())
                    .finish()
            }
        }
    )*};
}

wire_end!(Pipe, PipeSender, PipeReceiver);
