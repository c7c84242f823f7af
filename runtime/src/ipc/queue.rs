//! [`Queue`]: a multi-producer, multi-consumer queue between processes
//! (the course notes' `multiprocessing.Queue`).
//!
//! The type's docs teach how it works (they live on the public type, so
//! that rustdoc shows them): one seqpacket socket pair whose kernel queue
//! holds the items, an eventfd semaphore for the bound, a shutdown for
//! `close`. The messages themselves are `message.rs`'s.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

use super::message::{self, Outgoing, Received};
use super::polled::PolledFd;
use crate::driver::Direction;
use crate::pool::{decode_fd, encode_fd, DecodeError, Wire};
use crate::sys::fd as sys_fd;
use crate::sys::socket::{self as sys_socket, Type};

/// Units `close` adds to the semaphore of places: enough to wake every
/// producer that could ever wait on it, far below the eventfd's limit.
const CLOSED_PLACES: u64 = 1 << 40;

/// A multi-producer, multi-consumer queue of `T` that works across
/// processes (the course notes' `multiprocessing.Queue`).
///
/// Clone a handle to share it inside a process; send it to another process
/// (as a `Process` or pool job argument, or through a pipe or another
/// queue) to share it there: every handle is the same queue.
///
/// ```
/// use spindle_runtime::ipc::{GetError, Queue};
///
/// # spindle_runtime::block_on(async {
/// let queue = Queue::<u64>::new(0)?;
/// let producer = queue.clone();
/// let worker = std::thread::spawn(move || {
///     for i in 0..100 {
///         producer.blocking_put(i).unwrap();
///     }
///     producer.close()
/// });
/// let mut sum = 0;
/// loop {
///     match queue.get().await {
///         Ok(item) => sum += item,
///         Err(GetError::Closed) => break,
///         Err(e) => panic!("{e}"),
///     }
/// }
/// assert_eq!(sum, 4950);
/// worker.join().unwrap()?;
/// # std::io::Result::Ok(())
/// # }).unwrap();
/// ```
///
/// # How it works
///
/// The items live in the kernel, in the receive queue of one unix
/// `SOCK_SEQPACKET` socket pair. Every handle, in every process, holds both
/// ends: `put` sends one message on the *put end*, `get` receives one from
/// the *get end*. A bounded queue adds a counting semaphore of free places
/// (an `eventfd` in semaphore mode):
///
/// ```text
///   producers (any process)                               consumers (any process)
///   put(v): take a place ─┐                          ┌─▶ get(): recvmsg one message,
///           sendmsg(v) ───┴─▶ put end ══ kernel ══▶ get end     give the place back
///                                   message queue
///   places: eventfd semaphore, maxsize units (bounded queues only)
///   close(): shutdown(put end): queued items stay; then end of stream
/// ```
///
/// The kernel does the hard parts:
///
/// * **Many producers and consumers.** Each `sendmsg` queues a whole
///   message and each `recvmsg` takes exactly one, atomically, whichever
///   processes call them: every item is received once. Items come out in
///   the order their `sendmsg` calls went in.
/// * **Killed processes.** A consumer killed while it waits in `get` is
///   asleep in a `recvmsg` (or waiting for the reactor to call one) that
///   has taken nothing: no item goes with it. A producer killed in `put`
///   sent all of its item or none.
/// * **Waiting.** Both ends and the semaphore are pollable descriptors, so
///   async `put`/`get` wait in the runtime's reactor (with `MSG_DONTWAIT`
///   on every call), and the blocking forms sleep in the kernel, in
///   `sendmsg`/`recvmsg` (the places: `poll(2)`). The kernel wakes the
///   waiters of every process when an item (or room, or a place) comes.
/// * **Closing.** [`close`](Queue::close) shuts the put end down (both
///   ways), for every process at once: a `put` from then on fails with
///   `EPIPE` (reported as [`PutError::Closed`]), while the items already
///   queued stay and come out of `get` before the end of stream, which
///   every consumer then sees ([`GetError::Closed`]). A `put` is either
///   before the shutdown (its item is queued, ahead of the end) or after it
///   (it fails): there is no in-between. For a bounded queue, `close` also
///   floods the semaphore so that producers waiting for a place wake up
///   and learn that the queue is closed.
///
/// # Bounds
///
/// `maxsize` counts items. An unbounded queue (`maxsize == 0`) still has
/// the socket's buffer as its limit (about 208 KiB by default: a few
/// hundred small items): `put` then waits for consumers to make room, and
/// `put_nowait` returns [`PutError::Full`]. (Python's unbounded queue
/// buffers in the producer's memory instead, in a feeder thread, and loses
/// those items if the producer dies.) The same buffer limit applies to a
/// bounded queue whose items are large.
///
/// A process killed in the few instructions between taking a place and
/// sending its item (a producer), or between receiving an item and giving
/// its place back (a consumer), takes that one place with it: the queue's
/// capacity shrinks by one. No item is lost that way, and no other process
/// is left waiting on it.
///
/// # Sizes
///
/// Items are [`Wire`] values of any size (over 64 KiB they travel in a
/// memory file whose descriptor rides along), and may hold descriptors (a pipe end,
/// another queue), which are passed along.
pub struct Queue<T> {
    ends: Arc<Ends>,
    _items: PhantomData<fn(T) -> T>,
}

/// The descriptors every handle holds.
#[derive(Debug)]
struct Ends {
    /// Producers send here...
    put_end: PolledFd,
    /// ...and consumers receive here.
    get_end: PolledFd,
    /// The free places of a bounded queue (an eventfd semaphore).
    places: Option<PolledFd>,
    maxsize: usize,
}

impl<T> Queue<T> {
    /// Creates a queue that holds at most `maxsize` items; 0 means no
    /// limit but the socket's buffer (see the type's docs).
    ///
    /// Fails if `maxsize` is above `u32::MAX` (`InvalidInput`) or the
    /// process is out of descriptors.
    pub fn new(maxsize: usize) -> io::Result<Queue<T>> {
        let places = match maxsize {
            0 => None,
            n => {
                let n = u32::try_from(n).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "a queue's maxsize may be at most u32::MAX",
                    )
                })?;
                Some(PolledFd::new(sys_fd::semaphore_eventfd(n)?, false))
            }
        };
        let (put_end, get_end) = sys_socket::blocking_socketpair(Type::SeqPacket)?;
        Ok(Queue {
            ends: Arc::new(Ends {
                put_end: PolledFd::new(put_end, true),
                get_end: PolledFd::new(get_end, true),
                places,
                maxsize,
            }),
            _items: PhantomData,
        })
    }

    /// The `maxsize` the queue was created with (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.ends.maxsize
    }

    /// Closes the queue, for every handle in every process: from now on
    /// each `put` fails with [`PutError::Closed`]; consumers still get the
    /// items already in the queue, then [`GetError::Closed`]. Waiting
    /// producers and consumers are woken. Closing again does nothing.
    pub fn close(&self) -> io::Result<()> {
        // Both directions: shutting down for writing alone would not wake a
        // producer waiting for room; with reading too, the put end reports
        // a hang-up to its waiters.
        sys_socket::shutdown(self.ends.put_end.as_fd(), std::net::Shutdown::Both)?;
        if let Some(places) = &self.ends.places {
            sys_fd::semaphore_add(places.as_fd(), CLOSED_PLACES)?;
        }
        Ok(())
    }
}

impl<T: Wire> Queue<T> {
    /// Puts `value` at the end of the queue, waiting for a free place (a
    /// bounded queue) and for room in the socket's buffer.
    ///
    /// Fails with [`PutError::Closed`] once the queue is closed and with
    /// [`PutError::Io`] if the value cannot be encoded (more than 252
    /// descriptors in it, or out of descriptors); either way the value
    /// comes back in the error. Cancel-safe: dropped while it waits, it has
    /// put nothing (and given back the place it took).
    pub async fn put(&self, value: T) -> Result<(), PutError<T>> {
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let place = match &self.ends.places {
            None => None,
            Some(places) => match places.read(sys_fd::semaphore_take).await {
                Ok(()) => Some(Place(places)),
                Err(e) => return Err(PutError::Io(e, value)),
            },
        };
        let sent = self.ends.put_end.write(|fd| message.send(fd, false)).await;
        finish_put(sent, place, value)
    }

    /// Puts `value` if the queue has room now; otherwise fails at once
    /// with [`PutError::Full`] (or [`PutError::Closed`]), giving it back.
    pub fn put_nowait(&self, value: T) -> Result<(), PutError<T>> {
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let place = match &self.ends.places {
            None => None,
            Some(places) => match sys_fd::semaphore_take(places.as_fd()) {
                Ok(()) => Some(Place(places)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Err(PutError::Full(value))
                }
                Err(e) => return Err(PutError::Io(e, value)),
            },
        };
        match message.send(self.ends.put_end.as_fd(), false) {
            // No room in the socket's buffer (the place goes back).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(PutError::Full(value)),
            sent => finish_put(sent, place, value),
        }
    }

    /// [`put`](Self::put) for a plain thread: blocks it until the value is
    /// in the queue.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_put(&self, value: T) -> Result<(), PutError<T>> {
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let place = match &self.ends.places {
            None => None,
            Some(places) => match places.blocking_io(Direction::Read, sys_fd::semaphore_take) {
                Ok(()) => Some(Place(places)),
                Err(e) => return Err(PutError::Io(e, value)),
            },
        };
        let sent = self.ends.put_end.blocking(|fd| message.send(fd, true));
        finish_put(sent, place, value)
    }

    /// Takes the item at the front of the queue, waiting for one.
    ///
    /// Fails with [`GetError::Closed`] once the queue is closed and empty,
    /// and with [`GetError::Io`] for an item that does not decode as `T`
    /// (it is consumed). Cancel-safe: dropped while it waits, it has taken
    /// nothing.
    pub async fn get(&self) -> Result<T, GetError> {
        let received = self
            .ends
            .get_end
            .read(|fd| message::recv::<T>(fd, false))
            .await;
        self.finish_get(received)
    }

    /// Takes the item at the front of the queue if there is one now;
    /// otherwise fails at once with [`GetError::Empty`] (or
    /// [`GetError::Closed`]).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        match message::recv::<T>(self.ends.get_end.as_fd(), false) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(GetError::Empty),
            received => self.finish_get(received),
        }
    }

    /// [`get`](Self::get) for a plain thread: blocks it until an item
    /// arrives or the queue is closed and empty.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_get(&self) -> Result<T, GetError> {
        let received = self
            .ends
            .get_end
            .blocking(|fd| message::recv::<T>(fd, true));
        self.finish_get(received)
    }

    /// Turns what a receive found into `get`'s answer, giving back the
    /// place of any message it took.
    fn finish_get(&self, received: io::Result<Received<T>>) -> Result<T, GetError> {
        match received {
            Ok(Received::Message(value)) => {
                if let Some(places) = &self.ends.places {
                    // Fails only if the count would overflow, which the
                    // places in use rule out.
                    let _ = sys_fd::semaphore_add(places.as_fd(), 1);
                }
                value.map_err(GetError::Io)
            }
            Ok(Received::End) => Err(GetError::Closed),
            Err(e) => Err(GetError::Io(e)),
        }
    }
}

/// Turns a send's outcome into `put`'s answer. A place taken for an item
/// that was not sent goes back (`Place`'s drop).
fn finish_put<T>(
    sent: io::Result<()>,
    place: Option<Place<'_>>,
    value: T,
) -> Result<(), PutError<T>> {
    match sent {
        Ok(()) => {
            // The item holds the place now; its consumer gives it back.
            std::mem::forget(place);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(PutError::Closed(value)),
        Err(e) => Err(PutError::Io(e, value)),
    }
}

/// A place taken from a bounded queue's semaphore for an item not sent
/// yet: dropping it (the put failed or was cancelled) gives it back.
struct Place<'a>(&'a PolledFd);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        // Fails only if the count would overflow (see `finish_get`).
        let _ = sys_fd::semaphore_add(self.0.as_fd(), 1);
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue (the descriptors are shared, not
    /// duplicated).
    fn clone(&self) -> Queue<T> {
        Queue {
            ends: self.ends.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let raw = |fd: BorrowedFd<'_>| fd.as_raw_fd();
        f.debug_struct("Queue")
            .field("maxsize", &self.ends.maxsize)
            .field("put_end", &raw(self.ends.put_end.as_fd()))
            .field("get_end", &raw(self.ends.get_end.as_fd()))
            .finish()
    }
}

/// A queue travels as its two socket ends, its `maxsize` and (bounded)
/// its semaphore: the receiving process gets a handle to the same queue.
impl<T> Wire for Queue<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        (self.ends.maxsize as u64).encode(out);
        encode_fd(self.ends.put_end.as_fd(), out);
        encode_fd(self.ends.get_end.as_fd(), out);
        if let Some(places) = &self.ends.places {
            encode_fd(places.as_fd(), out);
        }
    }

    fn decode(input: &mut &[u8]) -> Result<Queue<T>, DecodeError> {
        let maxsize = usize::decode(input)?;
        let put_end = PolledFd::new(decode_fd(input)?, true);
        let get_end = PolledFd::new(decode_fd(input)?, true);
        let places = match maxsize {
            0 => None,
            _ => Some(PolledFd::new(decode_fd(input)?, false)),
        };
        Ok(Queue {
            ends: Arc::new(Ends {
                put_end,
                get_end,
                places,
                maxsize,
            }),
            _items: PhantomData,
        })
    }
}

/// Why a put failed; the value comes back in every case.
pub enum PutError<T> {
    /// The queue had no room (only from [`Queue::put_nowait`]; the other
    /// forms wait for room).
    Full(T),
    /// The queue is closed ([`Queue::close`]).
    Closed(T),
    /// A system call failed, or the value could not be encoded.
    Io(io::Error, T),
}

impl<T> PutError<T> {
    /// The value that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(v) | PutError::Closed(v) | PutError::Io(_, v) => v,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Io(e, _) => f.debug_tuple("Io").field(e).field(&"..").finish(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("the queue is full"),
            PutError::Closed(_) => f.write_str("the queue is closed"),
            PutError::Io(e, _) => write!(f, "the value could not be put in the queue: {e}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Io(e, _) => Some(e),
            _ => None,
        }
    }
}

/// Why a get failed.
#[derive(Debug)]
pub enum GetError {
    /// The queue had no item (only from [`Queue::get_nowait`]; the other
    /// forms wait for one).
    Empty,
    /// The queue is closed and every item in it has been taken.
    Closed,
    /// A system call failed, or an item did not decode (it is consumed).
    Io(io::Error),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("the queue is empty"),
            GetError::Closed => f.write_str("the queue is closed and empty"),
            GetError::Io(e) => write!(f, "could not get from the queue: {e}"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Io(e) => Some(e),
            _ => None,
        }
    }
}
