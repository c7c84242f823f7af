//! A descriptor closed without `delete` first, on every backend.
//!
//! This test is alone in its binary on purpose: once the descriptor is
//! closed, its number is free, and a test on another thread of the same
//! process could open a file that takes it. The poller would then watch that
//! stranger's file (readable, no error) and the test would fail by chance.
//! In a binary of its own, nothing else opens descriptors while it runs.

use spindle_reactor::{Backend, Events, Interest, Poller, Token};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

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

#[test]
fn a_descriptor_closed_without_delete_never_fails_the_wait() {
    // The owner broke the rule (close before delete). The loop must go on:
    // poll and select report an error event for it, once.
    for p in pollers() {
        let b = p.backend();
        let (_a, c) = pair();
        let (mut x, y) = pair();
        p.add(c.as_raw_fd(), Token(8), Interest::READABLE).unwrap();
        p.add(y.as_raw_fd(), Token(9), Interest::READABLE).unwrap();
        drop(c);
        let mut events = Events::with_capacity(16);
        p.wait(&mut events, Some(Duration::from_millis(100)))
            .unwrap_or_else(|e| panic!("{b}: wait failed: {e}"));
        let closed: Vec<_> = events.iter().filter(|e| e.token() == Token(8)).collect();
        if !p.is_edge_triggered() {
            assert_eq!(closed.len(), 1, "{b}: {events:?}");
            assert!(closed[0].is_error(), "{b}: {events:?}");
        }
        // Reported once, not on every wait; the other descriptor still works.
        x.write_all(b"x").unwrap();
        assert_eq!(wait(&p, 1000), vec![(Token(9), true, false)], "{b}");
        assert!(wait(&p, 20).is_empty(), "{b}");
    }
}
