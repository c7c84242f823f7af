//! Unit tests of the queue's ring (`ring.rs`) on its fault paths, through
//! a [`Queue`] and the ring under it: a process that dies holding the
//! ring's lock half-way through a put or a get, a producer that dies
//! between sending a socket item and writing its marker, memory written
//! over, and a ring that wraps many times and is filled to the last byte.
//!
//! The tests reach a queue's ring and socket the way another process does:
//! by decoding the queue's `Wire` encoding ([`inside`]), which maps the same
//! memory. Raw reads and writes use the layout in `ring.rs`'s module docs.
//! A dying process is a forked child that does the steps by hand (or
//! through the ring's own methods) and `_exit`s without unlocking; the
//! parent reaps it with a bounded wait before it looks. Each test runs
//! under a watchdog ([`bounded`]).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::message::Outgoing;
use super::protocol::mutex::{OWNER, WAITERS};
use super::ring::{
    Ring, CAPACITY, DATA, HEAD, HEADER, ITEMS, LOCK, MAX_ITEM, PAD, RESERVED, SENDING, TAIL, VALUE,
};
use super::{GetError, PutError, Queue};
use crate::pool::{decode_fd, take_outgoing_fds, with_incoming_fds, Wire};

/// Runs `f` on its own thread and fails if it has not finished in `secs`
/// seconds (the stuck thread is leaked).
fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let t = thread::spawn(move || {
        let v = f();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => t.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => match t.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test hung for more than {secs} s"),
    }
}

/// A queue's ring and its socket's put end, as a process that received
/// the queue holds them.
struct Inside {
    ring: Ring,
    put_end: OwnedFd,
}

/// Decodes `queue`'s `Wire` encoding (its maxsize, its ring's memory file,
/// its two socket ends) into the ring and the put end.
fn inside<T>(queue: &Queue<T>) -> Inside {
    drop(take_outgoing_fds());
    let mut bytes = Vec::new();
    queue.encode(&mut bytes);
    let fds = take_outgoing_fds();
    with_incoming_fds(fds, || {
        let mut input = &bytes[..];
        let _maxsize = u32::decode(&mut input).unwrap();
        let ring = Ring::decode(&mut input).unwrap();
        let put_end = decode_fd(&mut input).unwrap();
        Inside { ring, put_end }
    })
}

impl Inside {
    fn get32(&self, offset: usize) -> u32 {
        // SAFETY: a 4-aligned u32 of the ring's layout inside the region
        // (`ptr` checks the bounds; the mapping is page-aligned). The tests
        // read while no other thread or process changes the ring (or under
        // its lock, in a child).
        unsafe { self.ring.region().ptr(offset, 4).cast::<u32>().read() }
    }

    fn set32(&self, offset: usize, value: u32) {
        // SAFETY: as in `get32`; no other thread or process reads or writes
        // the ring meanwhile (or the writer holds its lock).
        unsafe { self.ring.region().ptr(offset, 4).cast::<u32>().write(value) }
    }

    fn get64(&self, offset: usize) -> u64 {
        // SAFETY: as in `get32`, for an 8-aligned u64.
        unsafe { self.ring.region().ptr(offset, 8).cast::<u64>().read() }
    }

    fn set64(&self, offset: usize, value: u64) {
        // SAFETY: as in `set32`, for an 8-aligned u64.
        unsafe { self.ring.region().ptr(offset, 8).cast::<u64>().write(value) }
    }

    /// Copies `bytes` into the ring's memory at `offset`.
    fn write_bytes(&self, offset: usize, bytes: &[u8]) {
        let dst = self.ring.region().ptr(offset, bytes.len());
        // SAFETY: `dst` is `bytes.len()` bytes inside the region (checked
        // by `ptr`); `bytes` is not in the region; no one else touches the
        // ring meanwhile (or the writer holds its lock).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }

    /// The pid in a lock word (0: free).
    fn owner(&self, word: usize) -> u32 {
        self.ring.region().word(word).load(Relaxed) & OWNER
    }

    /// `head`'s place in the data, as a byte offset in the region.
    fn head_at(&self) -> usize {
        DATA + self.get64(HEAD) as usize % CAPACITY
    }
}

/// Forks a child that runs `body` and `_exit`s with its code (101 if it
/// panics), running no destructor: a lock it holds stays held.
fn fork_child(body: impl FnOnce() -> i32) -> libc::pid_t {
    // SAFETY: the child runs `body` and `_exit`s. The bodies do only what a
    // forked copy of a multi-threaded process may: raw writes to the
    // shared memory, the ring's own process locks (whose words hold pids,
    // and `current_pid` forgets the parent's in the child), and `sendmsg`
    // (glibc's malloc is usable in a forked child).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
        // SAFETY: ends the child at once, unwinding nothing of the
        // parent's frames.
        unsafe { libc::_exit(code) };
    }
    pid
}

/// Reaps child `pid`, waiting at most 10 s (then kills it and fails): its
/// exit code, or 128 + the signal that ended it.
fn wait_child(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid: {}", io::Error::last_os_error());
        if r == pid {
            return if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
        }
        if Instant::now() > deadline {
            // SAFETY: plain integer arguments; `pid` is our unreaped child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("child {pid} did not exit within 10 s");
        }
        // Polling the child's state, not ordering events.
        thread::sleep(Duration::from_millis(1));
    }
}

/// Spins (bounded) until `done`.
fn spin_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        thread::yield_now();
    }
}

/// `value`'s Wire bytes.
fn encoding<T: Wire>(value: &T) -> Vec<u8> {
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    bytes
}

/// The size in the ring of a record of `len` value bytes.
fn record(len: usize) -> usize {
    HEADER + len.next_multiple_of(8)
}

/// A `Vec<u8>` of `len` bytes that says which item it is.
fn item(id: u32, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (id as usize * 31 + i * 7 + (i >> 8)) as u8)
        .collect()
}

/// Puts and gets `len`-byte items one at a time until the ring's tail is
/// at `at` (mod the buffer) and the ring is empty.
fn move_tail_to(q: &Queue<Vec<u8>>, inside: &Inside, len: usize, at: usize) {
    while inside.get64(TAIL) as usize % CAPACITY != at {
        q.put_nowait(vec![0; len]).unwrap();
        q.get_nowait().unwrap();
    }
}

/// How far a dying producer got through `Locked::push`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reached {
    /// The record (and its pad) written.
    Record,
    /// ... and `items` counted.
    Items,
    /// The whole put, through the ring's own `push_value`: `tail` moved.
    Tail,
}

/// A producer killed holding the ring's lock, at each step of a put, with
/// and without the pad that wraps the record to the start of the buffer:
/// the next `lock()` is told the owner died and repairs the ring, so the
/// count is right (a bounded queue takes exactly the items it has room
/// for) and gets return the committed items only, whole and in order.
#[test]
fn a_producer_killed_holding_the_lock_leaves_a_ring_the_next_locker_repairs() {
    bounded(60, || {
        for wraps in [false, true] {
            for reached in [Reached::Record, Reached::Items, Reached::Tail] {
                let q = Queue::<Vec<u8>>::new(3).unwrap();
                let inside = inside(&q);
                let len = if wraps { MAX_ITEM - 8 } else { 10 };
                if wraps {
                    // 63 records of a whole MAX_ITEM, then the committed
                    // one below: the dying put's record no longer fits
                    // before the end and needs a pad.
                    move_tail_to(&q, &inside, len, 63 * record(MAX_ITEM));
                }
                q.put_nowait(vec![1]).unwrap();
                let dying = item(2, len);
                let bytes = encoding(&dying);
                let tail = inside.get64(TAIL);
                let pads = wraps && record(bytes.len()) > CAPACITY - tail as usize % CAPACITY;
                assert_eq!(pads, wraps);

                let pid = fork_child(|| {
                    let mut locked = inside.ring.lock();
                    if reached == Reached::Tail {
                        locked.push_value(&bytes);
                    } else {
                        // `push`'s steps by hand, up to `reached`.
                        let mut at = tail as usize % CAPACITY;
                        if record(bytes.len()) > CAPACITY - at {
                            inside.set32(DATA + at, (CAPACITY - at - HEADER) as u32);
                            inside.set32(DATA + at + 4, PAD);
                            at = 0;
                        }
                        inside.set32(DATA + at, bytes.len() as u32);
                        inside.set32(DATA + at + 4, VALUE);
                        inside.write_bytes(DATA + at + HEADER, &bytes);
                        if reached >= Reached::Items {
                            inside.set32(ITEMS, inside.get32(ITEMS) + 1);
                        }
                    }
                    // Killed here: the lock stays held by this pid.
                    std::mem::forget(locked);
                    0
                });
                assert_eq!(wait_child(pid), 0);
                assert_eq!(inside.owner(LOCK), pid as u32, "died holding the lock");
                let counted = reached >= Reached::Items;
                let committed = reached == Reached::Tail;
                assert_eq!(inside.get32(ITEMS), 1 + u32::from(counted));
                assert_eq!(inside.get64(TAIL) != tail, committed);

                // The next put takes the lock over and repairs the ring.
                let room = 3 - 1 - usize::from(committed);
                for i in 0..room {
                    q.put_nowait(item(10 + i as u32, len)).unwrap();
                }
                assert_eq!(inside.owner(LOCK), 0, "taken over, then released");
                assert!(matches!(q.put_nowait(vec![]), Err(PutError::Full(_))));
                assert_eq!(inside.get32(ITEMS), 3);

                assert!(q.get_nowait().unwrap() == [1]);
                if committed {
                    assert!(q.get_nowait().unwrap() == dying);
                }
                for i in 0..room {
                    assert!(q.get_nowait().unwrap() == item(10 + i as u32, len));
                }
                assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
                assert_eq!(inside.get32(ITEMS), 0);
                assert_eq!(inside.get64(HEAD), inside.get64(TAIL));
            }
        }
    });
}

/// A consumer killed holding the ring's lock after moving `head` past the
/// item it took but before counting it out of `items`: the next locker
/// counts again, so the bound holds exactly and the rest come out.
#[test]
fn a_consumer_killed_holding_the_lock_leaves_the_count_to_the_next_locker() {
    bounded(30, || {
        let q = Queue::<Vec<u8>>::new(3).unwrap();
        let inside = inside(&q);
        q.put_nowait(vec![1; 3]).unwrap();
        q.put_nowait(vec![2; 3]).unwrap();
        let first = record(encoding(&vec![1u8; 3]).len()) as u64;
        let pid = fork_child(|| {
            let locked = inside.ring.lock();
            // `pop`'s first counter: the record is taken.
            inside.set64(HEAD, inside.get64(HEAD) + first);
            std::mem::forget(locked);
            0
        });
        assert_eq!(wait_child(pid), 0);
        assert_eq!(inside.owner(LOCK), pid as u32);
        assert_eq!(inside.get32(ITEMS), 2, "not counted out yet");

        // One item left: two more fit, not three.
        q.put_nowait(vec![3]).unwrap();
        q.put_nowait(vec![4]).unwrap();
        assert!(matches!(q.put_nowait(vec![5]), Err(PutError::Full(_))));
        for expected in [vec![2; 3], vec![3], vec![4]] {
            assert_eq!(q.get_nowait().unwrap(), expected);
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}

/// What a producer of a socket item does, up to and including its send,
/// in a forked child that then dies holding the sending lock: its item
/// is in the socket, its marker never written, its place still held.
fn die_after_sending<T: Wire>(inside: &Inside, value: &T) {
    let mut message = Outgoing::encode(value).unwrap();
    let pid = fork_child(|| {
        let sending = inside.ring.lock_sending();
        let mut ring = inside.ring.lock();
        assert!(ring.has_room(0, 0));
        ring.reserve();
        drop(ring);
        message.send(inside.put_end.as_fd(), false).unwrap();
        // Killed here, before `push_marker`.
        std::mem::forget(sending);
        0
    });
    assert_eq!(wait_child(pid), 0);
    assert_eq!(
        inside.owner(SENDING),
        pid as u32,
        "died holding the sending lock"
    );
    assert_eq!(inside.get32(RESERVED), 1, "died holding a place");
}

/// A producer killed between sending a 10 KiB item and writing its marker:
/// ring items go on flowing, the bound holds (the dead producer's place
/// comes back to the first put that finds the queue full), a later socket
/// item brings the stray out, and after `close` the last socket item comes
/// out, then `Closed`.
#[test]
fn a_producer_killed_after_its_send_leaves_an_item_consumers_still_get() {
    bounded(30, || {
        let q = Queue::<Vec<u8>>::new(2).unwrap();
        let inside = inside(&q);
        let stray = item(7, 10 * 1024);
        die_after_sending(&inside, &stray);

        // Ring items flow. The dead producer's place counts until a put
        // finds the queue full: that put gives it back, and fits.
        q.put_nowait(vec![1]).unwrap();
        q.put_nowait(vec![2]).unwrap();
        assert_eq!(inside.get32(RESERVED), 0, "the place came back");
        assert_eq!(inside.owner(SENDING), 0, "the sending lock is free");
        assert!(matches!(q.put_nowait(vec![3]), Err(PutError::Full(_))));
        assert!(q.get_nowait().unwrap() == [1]);
        assert!(q.get_nowait().unwrap() == [2]);
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));

        // A socket item of a live producer: its marker brings out the
        // message at the socket's front, the stray, sent first.
        let later = item(8, 10 * 1024);
        q.put_nowait(later.clone()).unwrap();
        assert!(q.get_nowait().unwrap() == stray);
        q.close().unwrap();
        assert!(q.get_nowait().unwrap() == later);
        assert!(matches!(q.get_nowait(), Err(GetError::Closed)));
        assert!(matches!(q.blocking_get(), Err(GetError::Closed)));
    });
}

/// The same with a descriptor in the item, and the next put a socket item:
/// it takes the sending lock over from the dead producer (giving its place
/// back), and after `close` both descriptors come out, working.
#[test]
fn a_descriptor_sent_by_a_producer_killed_before_its_marker_is_not_lost() {
    bounded(30, || {
        let q = Queue::<OwnedFd>::new(1).unwrap();
        let inside = inside(&q);
        let (read1, write1) = crate::sys::fd::pipe2().unwrap();
        let (read2, write2) = crate::sys::fd::pipe2().unwrap();
        die_after_sending(&inside, &read1);
        drop(read1);

        // maxsize 1, and the dead producer's place is back: this fits.
        q.put_nowait(read2).unwrap();
        assert_eq!(inside.get32(RESERVED), 0);
        assert_eq!(inside.get32(ITEMS), 1);
        assert!(matches!(
            q.put_nowait(write1.try_clone().unwrap()),
            Err(PutError::Full(_))
        ));
        q.close().unwrap();
        for write in [&write1, &write2] {
            let read = q.get_nowait().unwrap();
            let n = write_fd(write, b"ok");
            assert_eq!(n, 2);
            let mut buf = [0u8; 2];
            assert_eq!(read_fd(&read, &mut buf), 2);
            assert_eq!(&buf, b"ok");
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Closed)));
    });
}

fn write_fd(fd: &OwnedFd, bytes: &[u8]) -> isize {
    // SAFETY: `bytes` is valid for reads of its length; `fd` is open.
    unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) }
}

fn read_fd(fd: &OwnedFd, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of its length; `fd` is open.
    unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) }
}

/// Two producers' socket items do not cross: while one holds the sending
/// lock between its send and its marker, another's socket item waits for
/// the lock, so its marker follows the first one's, and its ring item put
/// after it comes out after it. (Without the lock, the second's marker
/// came first and brought out the first's message, and its ring item
/// overtook its own socket item.)
#[test]
fn socket_items_of_two_producers_come_out_in_the_order_they_were_sent() {
    bounded(30, || {
        let q = Queue::<Vec<u8>>::new(0).unwrap();
        let inside = inside(&q);
        let first = item(1, 6000);
        let second = item(2, 6000);

        // Producer A, by hand, as far as its send.
        let sending = inside.ring.lock_sending();
        inside.ring.lock().reserve();
        let mut message = Outgoing::encode(&first).unwrap();
        message.send(inside.put_end.as_fd(), false).unwrap();

        // Producer B: a socket item, then a ring item.
        let b = thread::spawn({
            let (q, second) = (q.clone(), second.clone());
            move || {
                q.blocking_put(second).unwrap();
                q.blocking_put(vec![3]).unwrap();
            }
        });
        spin_until("B waits for the sending lock", || {
            inside.ring.region().word(SENDING).load(Relaxed) & WAITERS != 0
        });
        assert_eq!(inside.get64(TAIL), 0, "nothing of B's in the ring yet");

        // A writes its marker and lets go.
        inside.ring.lock().push_marker();
        drop(sending);
        b.join().unwrap();
        assert!(q.get_nowait().unwrap() == first);
        assert!(q.get_nowait().unwrap() == second);
        assert!(q.get_nowait().unwrap() == [3]);
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}

/// Junk written over the records: `get` says `InvalidData`, the ring is
/// emptied (those items are lost, their places are not), and the queue
/// goes on in every form.
#[test]
fn records_written_over_are_invalid_data_and_the_queue_goes_on() {
    bounded(30, || {
        let q = Queue::<u64>::new(4).unwrap();
        let inside = inside(&q);
        for i in 0..4 {
            q.put_nowait(i).unwrap();
        }
        inside.write_bytes(inside.head_at(), &[0xa5; 48]);
        match q.get_nowait() {
            Err(GetError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            other => panic!("expected InvalidData, got {other:?}"),
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        assert_eq!(inside.get32(ITEMS), 0);
        for i in 10..14 {
            q.put_nowait(i).unwrap();
        }
        assert!(matches!(q.put_nowait(99), Err(PutError::Full(99))));
        for i in 10..14 {
            assert_eq!(q.get_nowait().unwrap(), i);
        }
        q.blocking_put(20).unwrap();
        assert_eq!(q.blocking_get().unwrap(), 20);
        let got = crate::Runtime::new().unwrap().block_on(async {
            q.put(21).await.unwrap();
            q.get().await.unwrap()
        });
        assert_eq!(got, 21);
    });
}

/// A record whose header was changed to a well-formed one that does not
/// decode as the item type: that one item is an `InvalidData` error (and
/// consumed), the next comes out.
#[test]
fn a_record_that_does_not_decode_is_one_invalid_data_error() {
    bounded(30, || {
        let q = Queue::<u64>::new(0).unwrap();
        let inside = inside(&q);
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        // Three bytes where a u64's eight were (the record keeps its size).
        inside.set32(inside.head_at(), 3);
        match q.get_nowait() {
            Err(GetError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::InvalidData),
            other => panic!("expected InvalidData, got {other:?}"),
        }
        assert_eq!(q.get_nowait().unwrap(), 2);
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}

/// Counters written over, each in turn: the next lock notices, nothing
/// panics or reads at a misaligned offset, and the queue goes on with its
/// whole bound. `items` and `reserved` are recounted and reset (the items
/// stay); `head` and `tail` that no put or get could have left empty the
/// ring.
#[test]
fn counters_written_over_are_noticed_and_the_queue_goes_on() {
    bounded(30, || {
        type Junk = fn(&Inside);
        let cases: [(&str, Junk, bool); 5] = [
            (
                "head misaligned",
                |r| r.set64(HEAD, r.get64(HEAD) + 4),
                false,
            ),
            (
                "tail behind head",
                |r| r.set64(TAIL, r.get64(HEAD) - 8),
                false,
            ),
            (
                "tail too far",
                |r| r.set64(TAIL, r.get64(HEAD) + CAPACITY as u64 + 8),
                false,
            ),
            ("items", |r| r.set32(ITEMS, u32::MAX), true),
            ("reserved", |r| r.set32(RESERVED, u32::MAX), true),
        ];
        for (what, junk, items_stay) in cases {
            let q = Queue::<u64>::new(4).unwrap();
            let inside = inside(&q);
            // Somewhere past the start, so that "behind" is representable.
            for i in 0..10 {
                q.put_nowait(i).unwrap();
                q.get_nowait().unwrap();
            }
            q.put_nowait(1).unwrap();
            q.put_nowait(2).unwrap();
            junk(&inside);
            if items_stay {
                assert_eq!(q.get_nowait().unwrap(), 1, "{what}");
                assert_eq!(q.get_nowait().unwrap(), 2, "{what}");
            }
            assert!(matches!(q.get_nowait(), Err(GetError::Empty)), "{what}");
            assert_eq!(inside.get32(RESERVED), 0, "{what}");
            for i in 0..4 {
                q.put_nowait(i).unwrap();
            }
            assert!(matches!(q.put_nowait(9), Err(PutError::Full(9))), "{what}");
            for i in 0..4 {
                assert_eq!(q.get_nowait().unwrap(), i, "{what}");
            }
        }
    });
}

/// A tiny deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Items of every size from an empty `Vec` to a whole `MAX_ITEM` encoding
/// (and some just over, through the socket), put until the queue is full
/// and taken a few at a time, while the ring wraps many times: each put
/// moves the tail by its record (plus a pad exactly to the end when it
/// wraps), and every item comes out whole and in order.
#[test]
fn a_ring_that_wraps_many_times_keeps_every_item_whole_and_in_order() {
    bounded(60, || {
        let q = Queue::<Vec<u8>>::new(0).unwrap();
        let inside = inside(&q);
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut expected = VecDeque::new();
        let (mut id, mut pads, mut socket_items) = (0u32, 0, 0);
        while inside.get64(TAIL) < 6 * CAPACITY as u64 {
            loop {
                let len = match rng.below(16) {
                    0 => MAX_ITEM - 8,
                    1 => MAX_ITEM - 7,
                    2 => 0,
                    _ => rng.below(MAX_ITEM - 8 + 1),
                };
                let value = item(id, len);
                let tail = inside.get64(TAIL);
                match q.put_nowait(value.clone()) {
                    Ok(()) => {}
                    Err(PutError::Full(_)) => break,
                    Err(e) => panic!("{e}"),
                }
                id += 1;
                expected.push_back(value);
                let moved = (inside.get64(TAIL) - tail) as usize;
                let encoded = len + 8;
                if encoded > MAX_ITEM {
                    socket_items += 1;
                    assert_eq!(moved, HEADER, "a marker");
                } else if moved != record(encoded) {
                    pads += 1;
                    let to_end = CAPACITY - tail as usize % CAPACITY;
                    assert!(record(encoded) > to_end);
                    assert_eq!(moved, to_end + record(encoded), "a pad to the end");
                }
            }
            // (An empty ring always has room: something was put.)
            for _ in 0..1 + rng.below(expected.len()) {
                let want = expected.pop_front().unwrap();
                assert!(q.get_nowait().unwrap() == want, "item out of order");
            }
        }
        while let Some(want) = expected.pop_front() {
            assert!(q.get_nowait().unwrap() == want, "item out of order");
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
        assert!(pads >= 5, "only {pads} pads in 6 wraps");
        assert!(socket_items > 10, "only {socket_items} socket items");
        assert_eq!(inside.get32(ITEMS), 0);
        assert_eq!(inside.get64(HEAD), inside.get64(TAIL));
    });
}

/// The boundaries: a `Vec<u8>` whose encoding is exactly `MAX_ITEM` bytes
/// goes in the ring (a record of `HEADER + MAX_ITEM`), one byte more goes
/// through the socket (an 8-byte marker). And a ring filled with such
/// records takes exactly as many as fit, then after one get exactly one
/// more, with a pad to the end, which leaves not a byte: not even a
/// marker fits.
#[test]
fn items_of_max_item_bytes_fill_the_ring_to_the_last_byte() {
    bounded(30, || {
        let at_max = item(1, MAX_ITEM - 8);
        let over = item(2, MAX_ITEM - 7);
        {
            let q = Queue::<Vec<u8>>::new(0).unwrap();
            let inside = inside(&q);
            assert_eq!(encoding(&at_max).len(), MAX_ITEM);
            q.put_nowait(at_max.clone()).unwrap();
            assert_eq!(inside.get64(TAIL), (HEADER + MAX_ITEM) as u64);
            q.put_nowait(over.clone()).unwrap();
            assert_eq!(inside.get64(TAIL), (HEADER + MAX_ITEM + HEADER) as u64);
            assert!(q.get_nowait().unwrap() == at_max);
            assert!(q.get_nowait().unwrap() == over);
        }

        let q = Queue::<Vec<u8>>::new(0).unwrap();
        let inside = inside(&q);
        let per = HEADER + MAX_ITEM;
        let fit = CAPACITY / per;
        for i in 0..fit {
            q.put_nowait(item(i as u32, MAX_ITEM - 8)).unwrap();
        }
        assert!(matches!(
            q.put_nowait(item(0, MAX_ITEM - 8)),
            Err(PutError::Full(_))
        ));
        assert!(q.get_nowait().unwrap() == item(0, MAX_ITEM - 8));
        let spare = CAPACITY - fit * per;
        assert!(spare < per && spare + per <= CAPACITY);
        q.put_nowait(item(fit as u32, MAX_ITEM - 8)).unwrap();
        assert_eq!(
            inside.get64(TAIL),
            (CAPACITY + per) as u64,
            "a pad, then the record"
        );
        assert!(matches!(q.put_nowait(vec![]), Err(PutError::Full(_))));
        assert!(matches!(q.put_nowait(over), Err(PutError::Full(_))));
        for i in 1..=fit {
            assert!(q.get_nowait().unwrap() == item(i as u32, MAX_ITEM - 8));
        }
        assert!(matches!(q.get_nowait(), Err(GetError::Empty)));
    });
}
