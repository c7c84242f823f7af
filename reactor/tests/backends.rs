//! The same readiness contract, checked on every backend.

use spindle_reactor::{Backend, Events, Interest, Poller, Token};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn pollers() -> Vec<Poller> {
    Backend::ALL
        .iter()
        .filter_map(|&b| match Poller::with_backend(b) {
            Ok(p) => Some(p),
            // io_uring may be refused by the kernel or a sandbox; the others never are.
            Err(e) if b == Backend::IoUring => {
                eprintln!("skipping io_uring: {e}");
                None
            }
            Err(e) => panic!("{b}: {e}"),
        })
        .collect()
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

fn wait(p: &Poller, ms: u64) -> Vec<(Token, bool, bool)> {
    let mut events = Events::with_capacity(16);
    p.wait(&mut events, Some(Duration::from_millis(ms)))
        .unwrap();
    events
        .iter()
        .map(|e| (e.token(), e.is_readable(), e.is_writable()))
        .collect()
}

/// Drains `s` until WouldBlock.
fn drain(mut s: &UnixStream) {
    let mut buf = [0u8; 256];
    while s.read(&mut buf).is_ok_and(|n| n > 0) {}
}

#[test]
fn one_event_per_change_then_quiet_until_rearmed() {
    for p in pollers() {
        let b = p.backend();
        let (mut a, c) = pair();
        p.add(c.as_raw_fd(), Token(7), Interest::READABLE).unwrap();
        assert!(wait(&p, 0).is_empty(), "{b}: event with no data");
        a.write_all(b"x").unwrap();
        let evs = wait(&p, 1000);
        assert_eq!(evs, vec![(Token(7), true, false)], "{b}");
        drain(&c);
        if !p.is_edge_triggered() {
            p.modify(c.as_raw_fd(), Token(7), Interest::READABLE)
                .unwrap();
        }
        // Nothing new: no event, however long we look.
        assert!(wait(&p, 20).is_empty(), "{b}: repeated event");
        a.write_all(b"y").unwrap();
        assert_eq!(
            wait(&p, 1000),
            vec![(Token(7), true, false)],
            "{b}: missed new data"
        );
        p.delete(c.as_raw_fd()).unwrap();
        a.write_all(b"z").unwrap();
        assert!(wait(&p, 20).is_empty(), "{b}: event after delete");
    }
}

#[test]
fn writable_socket_is_reported_once_not_forever() {
    for p in pollers() {
        let b = p.backend();
        let (_a, c) = pair();
        p.add(c.as_raw_fd(), Token(1), Interest::BOTH).unwrap();
        assert_eq!(wait(&p, 1000), vec![(Token(1), false, true)], "{b}");
        // Still writable, but that is not news.
        assert!(wait(&p, 20).is_empty(), "{b}: writable reported again");
    }
}

#[test]
fn notify_from_another_thread_ends_a_wait() {
    for p in pollers() {
        let b = p.backend();
        let p = std::sync::Arc::new(p);
        let p2 = p.clone();
        let start = Instant::now();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            p2.notify().unwrap();
        });
        let mut events = Events::with_capacity(4);
        p.wait(&mut events, Some(Duration::from_secs(5))).unwrap();
        t.join().unwrap();
        assert!(events.is_empty(), "{b}");
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{b}: notify did not wake the wait"
        );
    }
}

#[test]
fn peer_close_is_reported_as_readable_and_closed() {
    for p in pollers() {
        let b = p.backend();
        let (a, c) = pair();
        p.add(c.as_raw_fd(), Token(3), Interest::READABLE).unwrap();
        drop(a);
        let mut events = Events::with_capacity(4);
        p.wait(&mut events, Some(Duration::from_secs(1))).unwrap();
        let e = events
            .iter()
            .next()
            .unwrap_or_else(|| panic!("{b}: no event on close"));
        assert!(e.is_readable(), "{b}");
        if b != Backend::Select {
            // select(2) cannot tell a hang-up from data; the read that follows returns 0.
            assert!(e.is_read_closed(), "{b}");
        }
    }
}

#[test]
fn select_refuses_descriptors_at_or_above_fd_setsize() {
    let p = Poller::with_backend(Backend::Select).unwrap();
    let (a, _b) = pair();
    // dup the descriptor to a number past the limit.
    let high = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1100) };
    assert!(
        high >= 1024,
        "could not get a high fd: {}",
        std::io::Error::last_os_error()
    );
    let err = p.add(high, Token(1), Interest::READABLE).unwrap_err();
    assert!(err.to_string().contains("FD_SETSIZE"), "{err}");
    unsafe { libc::close(high) };
    p.add(a.as_raw_fd(), Token(1), Interest::READABLE).unwrap();
}

#[test]
fn backend_names_round_trip() {
    for b in Backend::ALL {
        assert_eq!(b.name().parse::<Backend>().unwrap(), b);
    }
    assert!("kqueue".parse::<Backend>().is_err());
}
