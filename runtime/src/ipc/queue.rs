//! [`Queue`]: a multi-producer, multi-consumer queue between processes
//! (the course notes' `multiprocessing.Queue`).
//!
//! The type's docs teach how it works (they live on the public type, so
//! that rustdoc shows them): a ring of records in shared memory under a
//! process lock (`ring.rs`), futex wait words for consumers and producers,
//! and a seqpacket socket pair for the items the ring cannot hold (the
//! messages themselves are `message.rs`'s).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::message::{self, Outgoing, Received};
use super::polled::{assert_may_block, PolledFd};
use super::queue_error::{GetError, PutError};
use super::ring::{self, Popped, Ring, Wait};
use crate::pool::{decode_fd, encode_fd, DecodeError, Wire};
use crate::sys::fd as sys_fd;
use crate::sys::socket::{self as sys_socket, Type};

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
/// The items live in a ring buffer in shared memory (an anonymous memory
/// file that every process holding the queue maps), under a process lock
/// in the same memory. A `put` takes the lock, copies the item's encoding
/// in at the tail and lets go; a `get` takes the lock and copies the item
/// at the head out. Neither makes a system call unless someone sleeps:
///
/// ```text
///   producers (any process)          shared memory            consumers (any process)
///   put(v): lock, copy in  ───▶ [ lock | head | tail | … ] ───▶ get(): lock, copy out
///           unlock; wake?       [ rec | rec | rec | …    ]            unlock; wake?
///   asleep on not_full  ◀── futex wait words ──▶ asleep on not_empty
///   items with descriptors, or over 4 KiB:  a marker in the ring, the item
///           in a seqpacket socket (sendmsg, then the marker, under a second
///           lock; get: marker, then recvmsg)
/// ```
///
/// * **Many producers and consumers.** The lock makes each put and each
///   get one step: every item is taken once, and items come out in the
///   order they went in. The lock is held for a copy and a few counters
///   (a few hundred nanoseconds), so a task takes it as a plain thread
///   would, without yielding; only waits for an item or for room are
///   awaited.
/// * **Waiting.** A consumer that finds the ring empty marks itself as a
///   sleeper on the *not_empty* word before letting go of the lock, and
///   sleeps on that word (a futex, which the kernel shares between
///   processes); the next put sees the mark and wakes the sleepers. Full
///   rings make producers sleep on *not_full* the same way. A plain thread
///   sleeps in the kernel; a task's sleep happens on a blocking-pool
///   thread (as for [`ipc::Mutex`](super::Mutex)), so the runtime's thread
///   goes on. Each task asleep on a queue holds a pool thread; past the
///   pool's limit (`Builder::max_blocking_threads`, 512 by default) a
///   task's sleep starts when a pool thread comes free, which every sleep
///   does within a tenth of a second. While items flow faster than they are taken (or the other
///   way round), nobody sleeps, and a put or get is a few dozen
///   nanoseconds of work.
/// * **Items the ring does not keep.** An item whose encoding holds
///   descriptors (a pipe end, another queue) or is over 4 KiB goes through
///   a unix `SOCK_SEQPACKET` socket pair that every handle also holds: the
///   producer holds a place in the ring, sends the item as one message,
///   then writes a *marker* in its place. A consumer that takes a marker
///   receives one message from the socket. Producers send and write their
///   markers one at a time (under a second lock in the ring's memory, held
///   for one send that does not wait), so the markers are in the socket's
///   order and each producer's items come out in the order it put them.
///   (Items over 64 KiB travel in a memory file whose descriptor rides in
///   the message.)
/// * **Killed processes.** A consumer killed while it waits in `get` is
///   asleep, holding nothing: no item goes with it. A process killed while
///   it holds the lock leaves the ring whole (every record is written
///   before the counter that makes it visible), and the next process to
///   take the lock is told the owner died and counts the records again.
///   A producer killed between sending an item to the socket and writing
///   its marker (the few instructions after one `sendmsg`) leaves that item
///   in the socket without a marker: the next marker a consumer takes
///   brings it out, and from then on each socket item comes out at the
///   next one's marker, the last once the queue is closed and empty. So
///   it is not lost, but it and the socket items after it may come out
///   later than ring items put after them.
/// * **Closing.** [`close`](Queue::close) shuts the socket's put end down,
///   then sets the ring's closed flag and wakes every sleeper, for every
///   process at once: a `put` from then on fails with
///   [`PutError::Closed`], while the items already queued stay and come out
///   of `get`, which then reports [`GetError::Closed`].
///
/// # Bounds
///
/// `maxsize` counts items. An unbounded queue (`maxsize == 0`) still has
/// the ring's 256 KiB as its limit (about 16,000 small items, an item
/// taking its encoding rounded up to 8 bytes, plus 8): `put` then waits for
/// consumers to make room, and `put_nowait` returns [`PutError::Full`].
/// (Python's unbounded queue buffers in the producer's memory instead, in a
/// feeder thread, and loses those items if the producer dies.) Items that
/// go through the socket are also limited by its buffer (about 208 KiB by
/// default).
///
/// A producer holds a place for a socket item only while it sends it
/// (one `sendmsg` that does not wait, under a second lock in the ring's
/// memory); waiting for a place or for room in the socket, it holds none.
/// If it is killed holding one, the place comes back as soon as another
/// producer sends a socket item or finds the queue full.
///
/// # Sizes
///
/// Items are [`Wire`] values of any size, and may hold descriptors (a pipe
/// end, another queue), which are passed along.
pub struct Queue<T> {
    shared: Arc<Shared>,
    _items: PhantomData<fn(T) -> T>,
}

/// What every handle holds.
#[derive(Debug)]
struct Shared {
    ring: Ring,
    /// Producers of socket items send here...
    put_end: PolledFd,
    /// ...and consumers that took a marker receive here (never waiting: the
    /// message was sent before its marker was written).
    get_end: OwnedFd,
    maxsize: u32,
}

/// What one look at the ring said.
enum Step<R> {
    /// Done (or failed), with this answer.
    Done(R),
    /// Sleep on this wait word while it holds this value, then look again.
    Sleep(Wait, u32),
}

impl<T> Queue<T> {
    /// Creates a queue that holds at most `maxsize` items; 0 means no
    /// limit but the ring's memory (see the type's docs).
    ///
    /// Fails if `maxsize` is above `u32::MAX` (`InvalidInput`) or the
    /// process is out of descriptors or memory.
    pub fn new(maxsize: usize) -> io::Result<Queue<T>> {
        let maxsize = u32::try_from(maxsize).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a queue's maxsize may be at most u32::MAX",
            )
        })?;
        let ring = Ring::create()?;
        let (put_end, get_end) = sys_socket::blocking_socketpair(Type::SeqPacket)?;
        Ok(Queue::from_shared(Shared {
            ring,
            put_end: PolledFd::new(put_end, false),
            get_end,
            maxsize,
        }))
    }

    fn from_shared(shared: Shared) -> Queue<T> {
        Queue {
            shared: Arc::new(shared),
            _items: PhantomData,
        }
    }

    /// The `maxsize` the queue was created with (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.shared.maxsize as usize
    }

    /// Closes the queue, for every handle in every process: from now on
    /// each `put` fails with [`PutError::Closed`]; consumers still get the
    /// items already in the queue, then [`GetError::Closed`]. Waiting
    /// producers and consumers are woken. Closing again does nothing.
    pub fn close(&self) -> io::Result<()> {
        // The socket first: a socket item sent before this is in the
        // socket when consumers see the flag; one sent after fails.
        // (Both directions: a producer waiting for room in the socket's
        // buffer is woken too.)
        sys_socket::shutdown(self.shared.put_end.as_fd(), std::net::Shutdown::Both)?;
        self.shared.ring.lock().close();
        Ok(())
    }
}

impl<T: Wire> Queue<T> {
    /// Puts `value` at the end of the queue, waiting for room (a bounded
    /// queue's place, and room in the ring).
    ///
    /// Fails with [`PutError::Closed`] once the queue is closed and with
    /// [`PutError::Io`] if the value cannot be encoded (more than 252
    /// descriptors in it, or out of descriptors); either way the value
    /// comes back in the error. Cancel-safe: dropped while it waits, it has
    /// put nothing (it holds no place while it waits).
    pub async fn put(&self, value: T) -> Result<(), PutError<T>> {
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let shared = &*self.shared;
        if let Some(bytes) = ring_bytes(&message) {
            loop {
                match shared.try_put(bytes) {
                    Step::Done(r) => return finish(r, value),
                    Step::Sleep(which, v) => shared.ring.wait(which, v).await,
                };
            }
        }
        loop {
            // Attempts, and more each time the socket has room again while
            // it has none (`WouldBlock`); a bounded queue's place is waited
            // for on the ring.
            let sleep = shared
                .put_end
                .write(|fd| match shared.try_send(&mut message, fd) {
                    Step::Done(r) => r.map(|()| None),
                    Step::Sleep(which, v) => Ok(Some((which, v))),
                })
                .await;
            match sleep {
                Ok(None) => return Ok(()),
                Ok(Some((which, v))) => shared.ring.wait(which, v).await,
                Err(e) => return finish(Err(e), value),
            };
        }
    }

    /// Puts `value` if the queue has room now; otherwise fails at once
    /// with [`PutError::Full`] (or [`PutError::Closed`]), giving it back.
    pub fn put_nowait(&self, value: T) -> Result<(), PutError<T>> {
        let shared = &*self.shared;
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let step = match ring_bytes(&message) {
            Some(bytes) => shared.try_put(bytes),
            // No room in the socket is `WouldBlock` too: `Full`.
            None => shared.try_send(&mut message, shared.put_end.as_fd()),
        };
        let result = match step {
            Step::Done(r) => r,
            Step::Sleep(..) => Err(io::ErrorKind::WouldBlock.into()),
        };
        finish(result, value)
    }

    /// [`put`](Self::put) for a plain thread: blocks it until the value is
    /// in the queue.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_put(&self, value: T) -> Result<(), PutError<T>> {
        assert_may_block();
        let shared = &*self.shared;
        let mut message = match Outgoing::encode(&value) {
            Ok(message) => message,
            Err(e) => return Err(PutError::Io(e, value)),
        };
        let result = match ring_bytes(&message) {
            Some(bytes) => shared.blocking(|| shared.try_put(bytes)),
            None => shared.put_end.blocking(|fd| loop {
                match shared.try_send(&mut message, fd) {
                    Step::Done(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        // Until the socket may have room (or is shut down,
                        // which the next send reports).
                        sys_fd::poll_one(fd, libc::POLLOUT)?;
                    }
                    Step::Done(r) => break r,
                    Step::Sleep(which, v) => {
                        shared.ring.wait_blocking(which, v);
                    }
                }
            }),
        };
        finish(result, value)
    }

    /// Takes the item at the front of the queue, waiting for one.
    ///
    /// Fails with [`GetError::Closed`] once the queue is closed and empty,
    /// and with [`GetError::Io`] for an item that does not decode as `T`
    /// (it is consumed). Cancel-safe: dropped while it waits, it has taken
    /// nothing.
    pub async fn get(&self) -> Result<T, GetError> {
        loop {
            match self.try_get() {
                Step::Done(r) => return r,
                Step::Sleep(which, v) => self.shared.ring.wait(which, v).await,
            };
        }
    }

    /// Takes the item at the front of the queue if there is one now;
    /// otherwise fails at once with [`GetError::Empty`] (or
    /// [`GetError::Closed`]).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        match self.try_get() {
            Step::Done(r) => r,
            Step::Sleep(..) => Err(GetError::Empty),
        }
    }

    /// [`get`](Self::get) for a plain thread: blocks it until an item
    /// arrives or the queue is closed and empty.
    ///
    /// # Panics
    /// If called on a thread running a spindle runtime (it would stall it).
    #[track_caller]
    pub fn blocking_get(&self) -> Result<T, GetError> {
        assert_may_block();
        self.shared.blocking(|| self.try_get())
    }

    /// One look at the ring for an item.
    fn try_get(&self) -> Step<Result<T, GetError>> {
        RECORD.with(|cell| {
            let mut bytes = cell.take();
            let step = self.try_get_into(&mut bytes);
            cell.set(bytes);
            step
        })
    }

    fn try_get_into(&self, bytes: &mut Vec<u8>) -> Step<Result<T, GetError>> {
        loop {
            let mut ring = self.shared.ring.lock();
            let popped = match ring.pop(bytes) {
                Ok(popped) => popped,
                Err(e) => return Step::Done(Err(GetError::Io(e))),
            };
            match popped {
                Popped::Value => {
                    drop(ring);
                    let value = message::decode_with_fds(bytes, Vec::new());
                    return Step::Done(value.map_err(GetError::Io));
                }
                Popped::InSocket => {
                    drop(ring);
                    match self.recv_now() {
                        Some(r) => return Step::Done(r),
                        // Taken already, as a stray item after the close
                        // (see `recv_now`): look again.
                        None => continue,
                    }
                }
                Popped::Empty if ring.is_closed() => {
                    drop(ring);
                    // Items whose producer died before writing their marker
                    // are still in the socket: they come out last.
                    return Step::Done(self.recv_now().unwrap_or(Err(GetError::Closed)));
                }
                Popped::Empty => {
                    return Step::Sleep(Wait::NotEmpty, ring.prepare_wait(Wait::NotEmpty))
                }
            }
        }
    }

    /// Receives one message from the socket if one is there, without
    /// waiting: `None` if none is (a consumer that took its marker earlier
    /// may have taken it already, as a stray item once the queue was
    /// closed and empty).
    fn recv_now(&self) -> Option<Result<T, GetError>> {
        match message::recv::<T>(self.shared.get_end.as_fd(), false) {
            Ok(Received::Message(value)) => Some(value.map_err(GetError::Io)),
            Ok(Received::End) => None,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
            Err(e) => Some(Err(GetError::Io(e))),
        }
    }
}

thread_local! {
    /// Each thread's buffer for the records it takes off rings.
    static RECORD: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The bytes to keep in the ring for `message`, if it goes there: a value
/// with no descriptors whose encoding is at most [`ring::MAX_ITEM`] bytes.
/// Other values go through the socket as `message`.
fn ring_bytes(message: &Outgoing) -> Option<&[u8]> {
    message
        .plain_bytes()
        .filter(|bytes| bytes.len() <= ring::MAX_ITEM)
}

impl Shared {
    /// One look at the ring for room for a value of these bytes.
    fn try_put(&self, bytes: &[u8]) -> Step<io::Result<()>> {
        loop {
            let mut ring = self.ring.lock();
            if ring.is_closed() {
                return Step::Done(Err(closed()));
            }
            if ring.has_room(bytes.len(), self.maxsize) {
                ring.push_value(bytes);
                return Step::Done(Ok(()));
            }
            let v = ring.prepare_wait(Wait::NotFull);
            let place_held = ring.holds_place();
            drop(ring);
            // A place held for a socket item: its producer may have died
            // holding it. If so, it comes back: look again.
            if !(place_held && self.ring.reclaim_dead_senders_place()) {
                return Step::Sleep(Wait::NotFull, v);
            }
        }
    }

    /// One attempt at putting a socket item, all under the ring's sending
    /// lock: hold a place in the ring for its marker (or sleep on
    /// not_full), send the item to `fd` without waiting, and turn the
    /// place into its marker. So markers are written in the order their
    /// items entered the socket (a consumer that takes a marker receives
    /// the message at the socket's front), and a place is held only for
    /// one `sendmsg`, by the lock's holder alone (see `Ring::lock_sending`
    /// for one that died holding it).
    ///
    /// `WouldBlock` if the socket has no room: the place is given back, and
    /// the caller waits for room without the lock or a place, then tries
    /// again.
    fn try_send(&self, message: &mut Outgoing, fd: BorrowedFd<'_>) -> Step<io::Result<()>> {
        let _sending = self.ring.lock_sending();
        {
            let mut ring = self.ring.lock();
            if ring.is_closed() {
                return Step::Done(Err(closed()));
            }
            if !ring.has_room(0, self.maxsize) {
                return Step::Sleep(Wait::NotFull, ring.prepare_wait(Wait::NotFull));
            }
            ring.reserve();
        }
        let sent = message.send(fd, false);
        let mut ring = self.ring.lock();
        match sent {
            Ok(()) => ring.push_marker(),
            Err(_) => ring.unreserve(),
        }
        Step::Done(sent)
    }

    /// Looks with `attempt` until it is done, sleeping this thread between
    /// looks.
    fn blocking<R>(&self, mut attempt: impl FnMut() -> Step<R>) -> R {
        loop {
            match attempt() {
                Step::Done(r) => return r,
                Step::Sleep(which, v) => self.ring.wait_blocking(which, v),
            };
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the queue is closed")
}

/// Turns what a put did into its answer, giving the value back on failure.
fn finish<T>(result: io::Result<()>, value: T) -> Result<(), PutError<T>> {
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(PutError::Full(value)),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(PutError::Closed(value)),
        Err(e) => Err(PutError::Io(e, value)),
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue (the memory and descriptors are
    /// shared, not duplicated).
    fn clone(&self) -> Queue<T> {
        Queue {
            shared: self.shared.clone(),
            _items: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.shared.maxsize)
            .field("put_end", &self.shared.put_end.as_fd().as_raw_fd())
            .field("get_end", &self.shared.get_end.as_raw_fd())
            .finish_non_exhaustive()
    }
}

/// A queue travels as its `maxsize`, its ring's memory file and its two
/// socket ends: the receiving process gets a handle to the same queue.
impl<T> Wire for Queue<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.shared.maxsize.encode(out);
        self.shared.ring.region().encode(out);
        encode_fd(self.shared.put_end.as_fd(), out);
        encode_fd(self.shared.get_end.as_fd(), out);
    }

    fn decode(input: &mut &[u8]) -> Result<Queue<T>, DecodeError> {
        let maxsize = u32::decode(input)?;
        let ring = Ring::decode(input)?;
        let put_end = PolledFd::new(decode_fd(input)?, false);
        let get_end = decode_fd(input)?;
        Ok(Queue::from_shared(Shared {
            ring,
            put_end,
            get_end,
            maxsize,
        }))
    }
}
