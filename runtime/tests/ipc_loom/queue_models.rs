//! Models of the `Queue`'s wait words (`ring.rs`, `queue.rs`, the steps in
//! `protocol::eventcount`): consumers sleep on not_empty, producers on
//! not_full, each an event count with a waiters bit. A caller that finds
//! nothing to take (or no room) marks the word under the ring's lock and
//! sleeps on the value it marked once the lock is released; the caller that
//! puts an item (takes one, closes the queue) sees the mark under the lock,
//! bumps the count, and wakes every sleeper once it has released the lock.
//! No consumer or producer sleeps through the change it waits for, the
//! close included.
//!
//! What stands in for the ring:
//!
//! * **The ring's lock** is a loom mutex (the process `Mutex` on its own
//!   word has its models in `mutex_models`). It guards a small buffer of
//!   items and the closed flag, as the real lock guards the records and
//!   `closed` in shared memory.
//! * **The two words** are `support::Futex`es, driven by the real
//!   `eventcount::prepare` and `eventcount::notify`.
//! * **`Locked`** below is `ring::Locked`: notify under the lock records
//!   which words must wake, and its drop releases the lock, then wakes
//!   them. `get`, `put` and `close` are `Queue::blocking_get`,
//!   `Queue::blocking_put` (`try_get_into`, `Shared::try_put` and
//!   `Shared::blocking`) and `Queue::close` for items kept in the ring
//!   (the socket's items change nothing on the words).

use std::collections::VecDeque;
use std::sync::atomic::Ordering::SeqCst;

use loom::sync::{Arc, Mutex, MutexGuard};
use loom::thread;

use crate::ipc::protocol::eventcount;
use crate::support::{model, Futex};

/// Which of the two wait words (`ring::Wait`).
#[derive(Debug, Clone, Copy)]
enum Wait {
    /// Consumers waiting for an item (or the close).
    NotEmpty,
    /// Producers waiting for room (or the close).
    NotFull,
}

/// What the ring's lock guards: the items and the closed flag.
struct State {
    items: VecDeque<u32>,
    capacity: usize,
    closed: bool,
}

/// The ring: its lock with what it guards, and its two wait words.
struct Ring {
    state: Mutex<State>,
    not_empty: Futex,
    not_full: Futex,
}

impl Ring {
    /// An open ring with room for `capacity` items, holding `items`.
    fn new(capacity: usize, items: &[u32]) -> Arc<Ring> {
        Arc::new(Ring {
            state: Mutex::new(State {
                items: items.iter().copied().collect(),
                capacity,
                closed: false,
            }),
            not_empty: Futex::new(0),
            not_full: Futex::new(0),
        })
    }

    /// `Ring::lock`.
    fn lock(&self) -> Locked<'_> {
        Locked {
            ring: self,
            guard: Some(self.state.lock().unwrap()),
            wake: [false; 2],
        }
    }

    fn word(&self, which: Wait) -> &Futex {
        match which {
            Wait::NotEmpty => &self.not_empty,
            Wait::NotFull => &self.not_full,
        }
    }

    /// `Ring::wait_blocking`, without the timeout: sleeps while `which`
    /// holds `expected`.
    fn wait(&self, which: Wait, expected: u32) {
        self.word(which).wait(expected);
    }

    /// Whether a caller may be asleep on either word (its waiters bit).
    fn marked(&self) -> [bool; 2] {
        [&self.not_empty, &self.not_full].map(|f| f.word.load(SeqCst) & eventcount::WAITERS != 0)
    }
}

/// `ring::Locked`: the ring with its lock held. Dropping it releases the
/// lock, then wakes every sleeper on the words that
/// [`notify`](Locked::notify) said must wake.
struct Locked<'a> {
    ring: &'a Ring,
    /// `Some` until dropped.
    guard: Option<MutexGuard<'a, State>>,
    /// Wake the sleepers on not_empty, not_full once unlocked.
    wake: [bool; 2],
}

impl Locked<'_> {
    fn state(&mut self) -> &mut State {
        self.guard.as_mut().unwrap()
    }

    /// `Locked::pop`: the item at the head, if any, and room for another.
    fn pop(&mut self) -> Option<u32> {
        let item = self.state().items.pop_front()?;
        self.notify(Wait::NotFull);
        Some(item)
    }

    /// `Locked::has_room` and `Locked::push_value`: puts `item` at the tail
    /// if there is room.
    fn push(&mut self, item: u32) -> bool {
        let state = self.state();
        if state.items.len() == state.capacity {
            return false;
        }
        state.items.push_back(item);
        self.notify(Wait::NotEmpty);
        true
    }

    fn is_closed(&mut self) -> bool {
        self.state().closed
    }

    /// `Locked::close`: closes the queue and wakes every sleeper.
    fn close(&mut self) {
        self.state().closed = true;
        self.notify(Wait::NotEmpty);
        self.notify(Wait::NotFull);
    }

    /// `Locked::prepare_wait`: marks the caller as a sleeper on `which`
    /// and says what value to sleep on once the lock is released.
    fn prepare_wait(&mut self, which: Wait) -> u32 {
        eventcount::prepare(&self.ring.word(which).word)
    }

    /// `Locked::notify`: the condition `which` stands for became true; its
    /// sleepers wake once the lock is released.
    fn notify(&mut self, which: Wait) {
        if eventcount::notify(&self.ring.word(which).word) {
            self.wake[which as usize] = true;
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        for which in [Wait::NotEmpty, Wait::NotFull] {
            if self.wake[which as usize] {
                self.ring.word(which).wake(u32::MAX);
            }
        }
    }
}

/// `Queue::blocking_get`: look under the lock (take the head, or see the
/// close), else mark a sleeper on not_empty, release the lock, sleep on
/// what the mark said, look again. `None` once closed and empty.
fn get(ring: &Ring) -> Option<u32> {
    loop {
        let expected = {
            let mut locked = ring.lock();
            if let Some(item) = locked.pop() {
                return Some(item);
            }
            if locked.is_closed() {
                return None;
            }
            locked.prepare_wait(Wait::NotEmpty)
        };
        ring.wait(Wait::NotEmpty, expected);
    }
}

/// `Queue::blocking_put`: look under the lock (see the close, or put the
/// item if there is room), else mark a sleeper on not_full, release the
/// lock, sleep on what the mark said, look again. The item back once
/// closed.
fn put(ring: &Ring, item: u32) -> Result<(), u32> {
    loop {
        let expected = {
            let mut locked = ring.lock();
            if locked.is_closed() {
                return Err(item);
            }
            if locked.push(item) {
                return Ok(());
            }
            locked.prepare_wait(Wait::NotFull)
        };
        ring.wait(Wait::NotFull, expected);
    }
}

/// `Queue::close`.
fn close(ring: &Ring) {
    ring.lock().close();
}

/// Room for one item; a producer puts two while a consumer gets two, so
/// each side in turn finds the ring empty or full and sleeps, in every
/// order against the other's change. Both finish (no wake is lost on
/// either word), the items come out in order, and no mark is left on
/// either word (each mark was seen by the change that followed it).
#[test]
fn producer_and_consumer_take_turns() {
    model(|| {
        let ring = Ring::new(1, &[]);
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || {
                put(&ring, 1).unwrap();
                put(&ring, 2).unwrap();
            })
        };
        let got = [get(&ring), get(&ring)];
        producer.join().unwrap();
        assert_eq!(got, [Some(1), Some(2)]);
        assert_eq!(ring.marked(), [false, false]);
        assert!(ring.lock().state().items.is_empty());
    });
}

/// Room for one item; two consumers get one each while a producer puts
/// two. Both consumers may sleep on not_empty at once, and each put wakes
/// every sleeper, so the one that finds nothing marks the word again and
/// sleeps (a wake of one only would strand the other: the put cleared its
/// mark, so the next put would not wake it). Each item is got exactly once
/// and both consumers finish.
#[test]
fn two_consumers_one_producer() {
    model(|| {
        let ring = Ring::new(1, &[]);
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || get(&ring).unwrap())
            })
            .collect();
        put(&ring, 1).unwrap();
        put(&ring, 2).unwrap();
        let mut got: Vec<u32> = consumers.into_iter().map(|t| t.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(ring.lock().state().items.is_empty());
    });
}

/// A consumer on an empty ring while the queue is closed: whether it
/// looks before the close (and sleeps, or is about to) or after, it sees
/// the close and finishes.
#[test]
fn close_wakes_consumer() {
    model(|| {
        let ring = Ring::new(1, &[]);
        let consumer = {
            let ring = ring.clone();
            thread::spawn(move || get(&ring))
        };
        close(&ring);
        assert_eq!(consumer.join().unwrap(), None);
    });
}

/// A producer on a full ring while the queue is closed: it sees the close
/// and finishes with its item back; the item already in the ring stays.
#[test]
fn close_wakes_producer() {
    model(|| {
        let ring = Ring::new(1, &[1]);
        let producer = {
            let ring = ring.clone();
            thread::spawn(move || put(&ring, 2))
        };
        close(&ring);
        assert_eq!(producer.join().unwrap(), Err(2));
        assert_eq!(ring.lock().state().items, [1]);
    });
}
