//! A descriptor closed without `delete` first, on every backend.
//!
//! This test is alone in its binary on purpose: once the descriptor is
//! closed, its number is free, and a test on another thread of the same
//! process could open a file that takes it. The poller would then watch that
//! stranger's file (readable, no error) and the test would fail by chance.
//! In a binary of its own, nothing else opens descriptors while it runs.

use spindle_reactor::{Events, Interest, Token};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

mod support;
use support::{pair, pollers, wait};

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
