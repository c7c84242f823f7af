//! Integration tests of the `Poller` (epoll backend) with unix socket pairs:
//! registration, modification, deletion, edge-triggered readiness,
//! notification from another thread, reserved tokens and timeouts.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use spindle_reactor::{Event, Events, Interest, Poller, Token};

/// Hang detector for waits that must return on their own.
const LONG: Duration = Duration::from_secs(5);

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// A wait that must find events already pending: bounded by `LONG`.
fn wait_events(poller: &Poller, events: &mut Events) -> Vec<Event> {
    poller.wait(events, Some(LONG)).unwrap();
    events.iter().copied().collect()
}

/// A wait that must find nothing: zero timeout.
fn poll_now(poller: &Poller, events: &mut Events) -> Vec<Event> {
    poller.wait(events, Some(Duration::ZERO)).unwrap();
    events.iter().copied().collect()
}

/// Reads until `WouldBlock`; returns the bytes read.
fn drain(s: &mut UnixStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

#[test]
fn readable_event_carries_the_token() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, mut b) = pair();
    poller
        .add(a.as_raw_fd(), Token(42), Interest::READABLE)
        .unwrap();
    assert!(
        poll_now(&poller, &mut events).is_empty(),
        "event before any data"
    );
    b.write_all(b"hello").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].token(), Token(42));
    assert!(evs[0].is_readable());
    assert!(!evs[0].is_read_closed());
    assert!(!evs[0].is_error());
    assert_eq!(drain(&mut a), b"hello");
    poller.delete(a.as_fd()).unwrap();
}

#[test]
fn edge_triggered_reports_each_arrival_once() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, mut b) = pair();
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();

    b.write_all(b"one").unwrap();
    assert_eq!(wait_events(&poller, &mut events).len(), 1);
    // Not drained, no new data: no second event.
    assert!(poll_now(&poller, &mut events).is_empty());
    assert!(poll_now(&poller, &mut events).is_empty());

    // New data: a new event, even though the old data is still unread.
    b.write_all(b"two").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(1));
    assert!(evs[0].is_readable());
    assert!(poll_now(&poller, &mut events).is_empty());

    // Drained to WouldBlock, then new data: a new event.
    assert_eq!(drain(&mut a), b"onetwo");
    assert!(poll_now(&poller, &mut events).is_empty());
    b.write_all(b"three").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].is_readable());
    assert_eq!(drain(&mut a), b"three");
}

#[test]
fn writable_interest() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, mut b) = pair();
    poller
        .add(a.as_raw_fd(), Token(7), Interest::WRITABLE)
        .unwrap();
    // A fresh socket has room: reported writable at once.
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(7));
    assert!(evs[0].is_writable());
    assert!(
        !evs[0].is_readable(),
        "readable reported without interest or data"
    );
    assert!(poll_now(&poller, &mut events).is_empty());

    // Fill the send buffer until WouldBlock: no writable event.
    let chunk = [0xABu8; 4096];
    let mut written = 0usize;
    loop {
        match a.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("write failed: {e}"),
        }
    }
    assert!(written > 0);
    assert!(poll_now(&poller, &mut events).is_empty());

    // The peer drains everything: room again, a writable event.
    let mut got = 0;
    while got < written {
        got += drain(&mut b).len();
    }
    assert_eq!(got, written);
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(7));
    assert!(evs[0].is_writable());
}

#[test]
fn both_interests_on_one_descriptor() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (a, mut b) = pair();
    poller
        .add(
            a.as_raw_fd(),
            Token(3),
            Interest::READABLE | Interest::WRITABLE,
        )
        .unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].is_writable());
    b.write_all(b"x").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(3));
    assert!(evs[0].is_readable());
}

#[test]
fn modify_changes_token_and_interest() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, mut b) = pair();
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();

    // New token.
    poller
        .modify(a.as_fd(), Token(2), Interest::READABLE)
        .unwrap();
    b.write_all(b"a").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(2));
    drain(&mut a);

    // Writable only: data arriving is not reported...
    poller
        .modify(a.as_fd(), Token(5), Interest::WRITABLE)
        .unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(5));
    assert!(evs[0].is_writable());
    b.write_all(b"b").unwrap();
    for ev in poll_now(&poller, &mut events) {
        assert!(
            !ev.is_readable(),
            "readable reported without read interest: {ev:?}"
        );
    }

    // ...until read interest comes back (modify re-arms the edge).
    poller
        .modify(a.as_fd(), Token(6), Interest::READABLE)
        .unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(6));
    assert!(evs[0].is_readable());
    assert_eq!(drain(&mut a), b"b");

    // Modifying or deleting an unregistered descriptor fails.
    let (c, _d) = pair();
    assert!(poller
        .modify(c.as_fd(), Token(9), Interest::READABLE)
        .is_err());
    assert!(poller.delete(c.as_fd()).is_err());
}

#[test]
fn delete_stops_events() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (a, mut b) = pair();
    poller.add(a.as_raw_fd(), Token(1), Interest::BOTH).unwrap();
    assert_eq!(wait_events(&poller, &mut events).len(), 1); // writable
    poller.delete(a.as_fd()).unwrap();
    b.write_all(b"ignored").unwrap();
    drop(b); // and a hang-up
    assert!(poll_now(&poller, &mut events).is_empty());
    poller
        .wait(&mut events, Some(Duration::from_millis(20)))
        .unwrap();
    assert!(events.is_empty(), "event after delete: {events:?}");
    // It can be added again afterwards.
    poller
        .add(a.as_raw_fd(), Token(8), Interest::READABLE)
        .unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(8));
}

#[test]
fn adding_twice_fails() {
    let poller = Poller::new().unwrap();
    let (a, _b) = pair();
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let e = poller
        .add(a.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
    assert!(poller.add(-1, Token(3), Interest::READABLE).is_err());
}

#[test]
fn reserved_token_is_rejected() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (a, mut b) = pair();
    let e = poller
        .add(a.as_raw_fd(), Token(usize::MAX), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // Nothing was registered.
    b.write_all(b"x").unwrap();
    assert!(poll_now(&poller, &mut events).is_empty());
    // Nor can an existing registration be moved onto it.
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    let e = poller
        .modify(a.as_fd(), Token(usize::MAX), Interest::READABLE)
        .unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    // The largest other token works.
    let (c, mut d) = pair();
    poller
        .add(c.as_raw_fd(), Token(usize::MAX - 1), Interest::READABLE)
        .unwrap();
    d.write_all(b"y").unwrap();
    let evs = wait_events(&poller, &mut events);
    assert!(evs.iter().any(|e| e.token() == Token(usize::MAX - 1)));
    assert!(evs.iter().all(|e| e.token() != Token(usize::MAX)));
}

#[test]
fn wait_with_timeout_returns_empty() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (a, _b) = pair();
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    for d in [
        Duration::ZERO,
        Duration::from_micros(1),
        Duration::from_millis(15),
    ] {
        poller.wait(&mut events, Some(d)).unwrap();
        assert!(events.is_empty());
    }
    // A stale event list is cleared by the next wait.
    let (c, mut dd) = pair();
    poller
        .add(c.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap();
    dd.write_all(b"z").unwrap();
    assert_eq!(wait_events(&poller, &mut events).len(), 1);
    assert!(poll_now(&poller, &mut events).is_empty());
    assert_eq!(events.len(), 0);
}

#[test]
fn notify_from_another_thread_wakes_wait() {
    let poller = Arc::new(Poller::new().unwrap());
    let mut events = Events::with_capacity(16);
    let barrier = Arc::new(Barrier::new(2));
    let (p, bar) = (poller.clone(), barrier.clone());
    let t = thread::spawn(move || {
        bar.wait();
        p.notify().unwrap();
    });
    barrier.wait();
    let start = Instant::now();
    poller.wait(&mut events, Some(LONG)).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "notify did not wake the wait"
    );
    assert!(
        events.is_empty(),
        "a notification is not an event: {events:?}"
    );
    t.join().unwrap();
    // The notification was consumed: the next wait times out empty.
    poller
        .wait(&mut events, Some(Duration::from_millis(10)))
        .unwrap();
    assert!(events.is_empty());
}

#[test]
fn notify_wakes_a_wait_without_timeout() {
    // wait(None) on this thread; the notifier thread keeps notifying until
    // the wait has returned, so the result does not depend on who goes first.
    let poller = Arc::new(Poller::new().unwrap());
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p, d) = (poller.clone(), done.clone());
    let t = thread::spawn(move || {
        let start = Instant::now();
        while !d.load(std::sync::atomic::Ordering::SeqCst) {
            p.notify().unwrap();
            assert!(start.elapsed() < LONG, "wait(None) never returned");
            thread::yield_now();
        }
    });
    let mut events = Events::with_capacity(4);
    poller.wait(&mut events, None).unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    t.join().unwrap();
    assert!(events.is_empty());
}

#[test]
fn notify_before_wait_makes_the_next_wait_return_and_coalesces() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    for _ in 0..1000 {
        poller.notify().unwrap();
    }
    let start = Instant::now();
    poller.wait(&mut events, Some(LONG)).unwrap();
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(events.is_empty());
    // All those notifications were one wake-up.
    poller
        .wait(&mut events, Some(Duration::from_millis(10)))
        .unwrap();
    assert!(events.is_empty());
    // Events and a notification together: the events are reported.
    let (a, mut b) = pair();
    poller
        .add(a.as_raw_fd(), Token(4), Interest::READABLE)
        .unwrap();
    b.write_all(b"q").unwrap();
    poller.notify().unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(4));
}

#[test]
fn read_closed_on_peer_close() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, b) = pair();
    poller
        .add(a.as_raw_fd(), Token(11), Interest::READABLE)
        .unwrap();
    drop(b);
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].token(), Token(11));
    assert!(evs[0].is_read_closed());
    assert!(evs[0].is_readable(), "a closed peer must wake readers");
    assert_eq!(drain(&mut a), b"", "end of stream expected");
}

#[test]
fn half_close_is_read_closed_but_still_writable() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(16);
    let (mut a, b) = pair();
    poller
        .add(a.as_raw_fd(), Token(12), Interest::READABLE)
        .unwrap();
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let evs = wait_events(&poller, &mut events);
    assert_eq!(evs.len(), 1);
    assert!(evs[0].is_read_closed());
    assert!(!evs[0].is_write_closed());
    assert_eq!(drain(&mut a), b"");
    a.write_all(b"still open").unwrap();
}

#[test]
fn events_capacity_bounds_one_wait() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(1);
    assert_eq!(events.capacity(), 1);
    let (a, mut b) = pair();
    let (c, mut d) = pair();
    poller
        .add(a.as_raw_fd(), Token(1), Interest::READABLE)
        .unwrap();
    poller
        .add(c.as_raw_fd(), Token(2), Interest::READABLE)
        .unwrap();
    b.write_all(b"1").unwrap();
    d.write_all(b"2").unwrap();
    let first = wait_events(&poller, &mut events);
    assert_eq!(first.len(), 1);
    let second = wait_events(&poller, &mut events);
    assert_eq!(second.len(), 1, "the other event was lost");
    let mut tokens = [first[0].token(), second[0].token()];
    tokens.sort();
    assert_eq!(tokens, [Token(1), Token(2)]);
    assert!(poll_now(&poller, &mut events).is_empty());
    assert_eq!(Events::with_capacity(0).capacity(), 1);
}

#[test]
fn many_registrations() {
    let poller = Poller::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let pairs: Vec<_> = (0..200).map(|_| pair()).collect();
    for (i, (a, _)) in pairs.iter().enumerate() {
        poller
            .add(a.as_raw_fd(), Token(i), Interest::READABLE)
            .unwrap();
    }
    for (_, b) in pairs.iter().step_by(3) {
        (&*b).write_all(b"!").unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    let expected: std::collections::BTreeSet<usize> = (0..200).step_by(3).collect();
    let deadline = Instant::now() + LONG;
    while seen.len() < expected.len() && Instant::now() < deadline {
        poller
            .wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        for ev in &events {
            assert!(ev.is_readable());
            assert!(seen.insert(ev.token().0), "duplicate event {ev:?}");
        }
    }
    assert_eq!(seen, expected);
}

#[test]
fn poller_is_send_and_sync_and_registrations_from_other_threads_wake_a_wait() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Poller>();
    let poller = Arc::new(Poller::new().unwrap());
    let (a, b) = pair();
    let p = poller.clone();
    let t = thread::spawn(move || {
        // Register from this thread, then make it ready.
        p.add(a.as_raw_fd(), Token(77), Interest::READABLE).unwrap();
        let mut b = b;
        b.write_all(b"late").unwrap();
        (a, b)
    });
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + LONG;
    let mut found = false;
    while !found && Instant::now() < deadline {
        poller
            .wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap();
        found = events.iter().any(|e| e.token() == Token(77));
    }
    assert!(
        found,
        "event of a registration made on another thread never seen"
    );
    let _keep = t.join().unwrap();
}

#[test]
fn event_new_and_interest_helpers() {
    let e = Event::new(Token(5), true, false);
    assert_eq!(e.token(), Token(5));
    assert!(e.is_readable());
    assert!(!e.is_writable());
    assert!(!e.is_error() && !e.is_read_closed() && !e.is_write_closed());
    assert!(Interest::BOTH.is_readable() && Interest::BOTH.is_writable());
    assert_eq!(Interest::READABLE | Interest::WRITABLE, Interest::BOTH);
    assert_eq!(
        Interest::READABLE.add(Interest::READABLE),
        Interest::READABLE
    );
    assert!(!Interest::WRITABLE.is_readable());
    assert_eq!(format!("{:?}", Interest::BOTH), "READABLE | WRITABLE");
    assert_eq!(usize::from(Token(9)), 9);
    assert_eq!(Token::from(10usize), Token(10));
}
