//! Helpers shared by the reactor's test binaries (`mod support;`): every
//! backend this kernel offers, a non-blocking socket pair, one wait.
#![allow(dead_code)]

use spindle_reactor::{Backend, Events, Poller, Token};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// One poller per backend; io_uring is skipped (with a note) if refused.
pub fn pollers() -> Vec<Poller> {
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

/// A connected pair of non-blocking Unix stream sockets.
pub fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// One wait of up to `ms` ms: (token, readable, writable) per event.
pub fn wait(p: &Poller, ms: u64) -> Vec<(Token, bool, bool)> {
    let mut events = Events::with_capacity(16);
    p.wait(&mut events, Some(Duration::from_millis(ms)))
        .unwrap();
    events
        .iter()
        .map(|e| (e.token(), e.is_readable(), e.is_writable()))
        .collect()
}
