//! Unit tests of the level-triggered backends (`level.rs`, `poll.rs`,
//! `select.rs`) that need to act at a precise point inside a wait: the
//! `after_build` hook of the registry runs between building the list and
//! the system call, which makes the race windows there deterministic.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::level::Registry;
use super::{poll, select};
use crate::{Events, Interest, Token};

/// The two level-triggered pollers, reached through one interface.
enum Level {
    Poll(poll::Poller),
    Select(select::Poller),
}

impl Level {
    fn both() -> Vec<Arc<Level>> {
        vec![
            Arc::new(Level::Poll(poll::Poller::new().unwrap())),
            Arc::new(Level::Select(select::Poller::new().unwrap())),
        ]
    }

    fn name(&self) -> &'static str {
        match self {
            Level::Poll(_) => "poll",
            Level::Select(_) => "select",
        }
    }

    fn registry(&self) -> &Registry {
        match self {
            Level::Poll(p) => &p.registry,
            Level::Select(p) => &p.registry,
        }
    }

    fn add(&self, fd: i32, token: Token, interest: Interest) -> std::io::Result<()> {
        match self {
            Level::Poll(p) => p.add(fd, token, interest),
            Level::Select(p) => p.add(fd, token, interest),
        }
    }

    fn modify(&self, fd: i32, token: Token, interest: Interest) -> std::io::Result<()> {
        match self {
            Level::Poll(p) => p.modify(fd, token, interest),
            Level::Select(p) => p.modify(fd, token, interest),
        }
    }

    fn wait(&self, events: &mut Events, timeout: Duration) -> std::io::Result<()> {
        match self {
            Level::Poll(p) => p.wait(events, Some(timeout)),
            Level::Select(p) => p.wait(events, Some(timeout)),
        }
    }

    /// Sets the hook that runs inside the next wait, after its list is built.
    fn after_build(&self, hook: impl FnOnce() + Send + 'static) {
        *self.registry().after_build.lock().unwrap() = Some(Box::new(hook));
    }
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

/// Runs a wait that the hook's change must cut short; returns how long it took.
fn timed_wait(p: &Level, timeout: Duration) -> Duration {
    let mut events = Events::with_capacity(8);
    let start = Instant::now();
    p.wait(&mut events, timeout).unwrap();
    start.elapsed()
}

fn tokens(p: &Level) -> Vec<Token> {
    let mut events = Events::with_capacity(8);
    p.wait(&mut events, Duration::ZERO).unwrap();
    events.iter().map(|e| e.token()).collect()
}

const LONG: Duration = Duration::from_secs(5);

/// Makes the next wait of `p` run `change` on another thread (joined)
/// exactly between building its list and entering the kernel: the race the
/// tests below make deterministic.
fn change_after_build(
    p: &Arc<Level>,
    change: impl FnOnce(&Level) -> io::Result<()> + Send + 'static,
) {
    let other = p.clone();
    p.after_build(move || {
        std::thread::spawn(move || change(&other))
            .join()
            .unwrap()
            .unwrap();
    });
}

#[test]
fn an_add_from_another_thread_after_the_list_is_built_wakes_the_wait() {
    for p in Level::both() {
        let name = p.name();
        let (mut a, c) = pair();
        a.write_all(b"x").unwrap();
        let fd = c.as_raw_fd();
        change_after_build(&p, move |other| other.add(fd, Token(1), Interest::READABLE));
        let took = timed_wait(&p, LONG);
        assert!(
            took < LONG / 2,
            "{name}: the wait slept {took:?} through a registration made after its list was built"
        );
        assert_eq!(tokens(&p), vec![Token(1)], "{name}");
    }
}

#[test]
fn a_modify_from_another_thread_after_the_list_is_built_wakes_the_wait() {
    for p in Level::both() {
        let name = p.name();
        let (mut a, c) = pair();
        let fd = c.as_raw_fd();
        p.add(fd, Token(2), Interest::READABLE).unwrap();
        a.write_all(b"x").unwrap();
        assert_eq!(tokens(&p), vec![Token(2)], "{name}");
        // Reported, so disarmed: the next list leaves it out, and the
        // re-arm arrives just after that list is built.
        change_after_build(&p, move |other| {
            other.modify(fd, Token(2), Interest::READABLE)
        });
        let took = timed_wait(&p, LONG);
        assert!(
            took < LONG / 2,
            "{name}: the wait slept {took:?} through a re-arm made after its list was built"
        );
        assert_eq!(tokens(&p), vec![Token(2)], "{name}");
    }
}

#[test]
fn a_delete_from_another_thread_wakes_a_blocked_wait() {
    // The kernel holds every listed file during poll/select; the wait must
    // end so that a deleted-then-closed descriptor really closes.
    for p in Level::both() {
        let name = p.name();
        let (_a, c) = pair();
        let fd = c.as_raw_fd();
        p.add(fd, Token(3), Interest::READABLE).unwrap();
        let other = p.clone();
        p.after_build(move || {
            let deleted = std::thread::spawn(move || match &*other {
                Level::Poll(q) => q.delete(fd),
                Level::Select(q) => q.delete(fd),
            });
            deleted.join().unwrap().unwrap();
        });
        let took = timed_wait(&p, LONG);
        assert!(
            took < LONG / 2,
            "{name}: a delete did not wake the wait ({took:?})"
        );
    }
}

#[test]
fn select_survives_a_descriptor_deleted_and_closed_after_the_sets_were_built() {
    let p = Arc::new(Level::Select(select::Poller::new().unwrap()));
    let (mut a, c) = pair();
    let (_x, y) = pair();
    p.add(c.as_raw_fd(), Token(4), Interest::READABLE).unwrap();
    p.add(y.as_raw_fd(), Token(5), Interest::READABLE).unwrap();
    let other = p.clone();
    let y_fd = y.as_raw_fd();
    // `y` is deleted and closed between the sets being built and the call:
    // select fails with EBADF, and the wait must rebuild and go on.
    p.after_build(move || {
        match &*other {
            Level::Select(q) => q.delete(y_fd).unwrap(),
            Level::Poll(_) => unreachable!(),
        }
        drop(y);
    });
    a.write_all(b"x").unwrap();
    let mut events = Events::with_capacity(8);
    p.wait(&mut events, LONG).unwrap();
    let seen: Vec<Token> = events.iter().map(|e| e.token()).collect();
    assert_eq!(seen, vec![Token(4)]);
}
