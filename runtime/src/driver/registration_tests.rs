//! Unit tests of `registration.rs` that need to stop inside
//! `clear_readiness`: [`between_clear_and_rearm`] runs a hook (set per
//! thread) after the readiness bits are cleared and before the direction
//! is re-armed, which makes the interleaving of two re-arms deterministic.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use spindle_reactor::{Backend, Interest};

use super::{Direction, Registration};
use crate::time::timeout;
use crate::Builder;

thread_local! {
    static HOOK: RefCell<Option<Box<dyn FnOnce()>>> = const { RefCell::new(None) };
}

/// Called by `clear_readiness` between its clear and its re-arm.
pub(super) fn between_clear_and_rearm() {
    if let Some(hook) = HOOK.with(|h| h.borrow_mut().take()) {
        hook();
    }
}

#[test]
fn a_rearm_from_a_stale_view_does_not_disarm_the_other_direction() {
    // Task A clears READABLE; before A re-arms, task B (on another thread,
    // here: run from the hook) clears WRITABLE and re-arms. A's re-arm then
    // reaches the poller last. The write direction must still be armed.
    for backend in [Backend::Poll, Backend::Select] {
        let rt = Builder::new().poller(backend).build().unwrap();
        rt.block_on(async {
            let (mut peer, sock) = UnixStream::pair().unwrap();
            sock.set_nonblocking(true).unwrap();
            peer.write_all(b"x").unwrap();
            let reg = Arc::new(Registration::new(sock.as_raw_fd(), Interest::BOTH).unwrap());
            // One event reports (and disarms) both directions.
            let read = reg.readiness(Direction::Read).await.unwrap();
            let write = reg.readiness(Direction::Write).await.unwrap();
            let other = reg.clone();
            HOOK.with(|h| *h.borrow_mut() = Some(Box::new(move || other.clear_readiness(write))));
            reg.clear_readiness(read);
            assert!(HOOK.with(|h| h.borrow().is_none()), "the hook did not run");
            // The socket is writable, so an armed write direction reports at once.
            timeout(Duration::from_secs(5), reg.readiness(Direction::Write))
                .await
                .unwrap_or_else(|_| panic!("{backend}: the write direction was left disarmed"))
                .unwrap();
            // The byte is still unread, so the read direction reports too.
            timeout(Duration::from_secs(5), reg.readiness(Direction::Read))
                .await
                .unwrap_or_else(|_| panic!("{backend}: the read direction was left disarmed"))
                .unwrap();
            drop(reg);
            drop(sock);
        });
    }
}
