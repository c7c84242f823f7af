//! Unit tests of the io_uring poller that need a ring smaller than the
//! default one (`Poller::with_entries`).

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::Poller;
use crate::{Events, Interest, Token};

#[test]
fn completions_that_overflow_the_ring_arrive_on_zero_timeout_waits() {
    // A 4-entry submission ring has an 8-entry completion ring. 64
    // descriptors that are all readable at once produce more completions
    // than it holds; the kernel keeps the rest in its overflow list, and a
    // loop that never blocks must still get every one of them.
    let p = match Poller::with_entries(4) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipping: no io_uring ({e})");
            return;
        }
    };
    const N: usize = 64;
    let pairs: Vec<(UnixStream, UnixStream)> = (0..N)
        .map(|_| {
            let (mut a, b) = UnixStream::pair().unwrap();
            b.set_nonblocking(true).unwrap();
            a.write_all(b"x").unwrap();
            (a, b)
        })
        .collect();
    for (i, (_, b)) in pairs.iter().enumerate() {
        p.add(b.as_raw_fd(), Token(i), Interest::READABLE).unwrap();
    }
    let mut seen = [false; N];
    let mut events = Events::with_capacity(1024);
    for _ in 0..1000 {
        p.wait(&mut events, Some(Duration::ZERO)).unwrap();
        for e in events.iter() {
            seen[e.token().0] = true;
        }
        if seen.iter().all(|&s| s) {
            break;
        }
    }
    let missing: Vec<usize> = (0..N).filter(|&i| !seen[i]).collect();
    assert!(
        missing.is_empty(),
        "{} of {N} registrations never reported: {missing:?}",
        missing.len()
    );
}
