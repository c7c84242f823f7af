//! The same readiness contract, checked on every backend.

use spindle_reactor::{Backend, Events, Interest, Poller, Token};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

mod support;
use support::{pair, pollers, wait};

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
            p.modify(c.as_fd(), Token(7), Interest::READABLE).unwrap();
        }
        // Nothing new: no event, however long we look.
        assert!(wait(&p, 20).is_empty(), "{b}: repeated event");
        a.write_all(b"y").unwrap();
        assert_eq!(
            wait(&p, 1000),
            vec![(Token(7), true, false)],
            "{b}: missed new data"
        );
        p.delete(c.as_fd()).unwrap();
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
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own makes a new one we own.
    let high = unsafe { libc::fcntl(a.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 1100) };
    assert!(
        high >= 1024,
        "could not get a high fd: {}",
        std::io::Error::last_os_error()
    );
    let err = p.add(high, Token(1), Interest::READABLE).unwrap_err();
    assert!(err.to_string().contains("FD_SETSIZE"), "{err}");
    // SAFETY: `high` is ours (dup'd above) and not used again.
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

#[test]
fn a_zero_timeout_wait_reports_readiness_that_arrived_since() {
    // The runtime polls with a zero timeout between tasks; readiness that
    // arrived meanwhile must show up without a blocking wait (io_uring holds
    // such completions back until the ring is entered).
    for p in pollers() {
        let b = p.backend();
        let (mut a, c) = pair();
        p.add(c.as_raw_fd(), Token(5), Interest::READABLE).unwrap();
        assert!(wait(&p, 0).is_empty(), "{b}");
        a.write_all(b"x").unwrap();
        let seen = (0..1000).find_map(|_| {
            let evs = wait(&p, 0);
            (!evs.is_empty()).then_some(evs)
        });
        assert_eq!(seen, Some(vec![(Token(5), true, false)]), "{b}");
    }
}

#[test]
fn registrations_from_another_thread_are_seen_by_the_waiter() {
    for p in pollers() {
        let b = p.backend();
        let p = std::sync::Arc::new(p);
        let (mut a, c) = pair();
        // The waiter has waited once before (io_uring: it owns the ring now).
        assert!(wait(&p, 0).is_empty(), "{b}");
        let p2 = p.clone();
        let fd = c.as_raw_fd();
        std::thread::spawn(move || p2.add(fd, Token(9), Interest::READABLE))
            .join()
            .unwrap()
            .unwrap();
        a.write_all(b"x").unwrap();
        assert_eq!(wait(&p, 1000), vec![(Token(9), true, false)], "{b}");
    }
}

#[test]
fn a_registration_from_another_thread_wakes_a_waiter_already_asleep() {
    // The waiter sleeps with no timeout, nothing registered to wake it; then
    // another thread registers a descriptor that is already readable. The
    // waiter must report it. (io_uring queues the request for the waiter to
    // submit: it must be woken to do so, or it sleeps on forever.)
    for p in pollers() {
        let b = p.backend();
        let p = std::sync::Arc::new(p);
        let (mut a, c) = pair();
        a.write_all(b"x").unwrap();
        assert!(wait(&p, 0).is_empty(), "{b}");
        // SAFETY: gettid has no preconditions.
        let waiter = unsafe { libc::gettid() };
        let p2 = p.clone();
        let fd = c.as_raw_fd();
        let adder = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !asleep_in_a_poller(waiter) && Instant::now() < deadline {
                std::thread::yield_now();
            }
            p2.add(fd, Token(13), Interest::READABLE).unwrap();
        });
        // Each wait may sleep 5 s, but all must be over within 4: a wait
        // that sleeps its whole timeout is the lost wake-up. (An early,
        // empty return, the notifier's wake-up alone, is allowed: the
        // next wait then reports the event.)
        let deadline = Instant::now() + Duration::from_secs(4);
        let mut seen = Vec::new();
        while seen.is_empty() && Instant::now() < deadline {
            seen = wait(&p, 5000);
        }
        let late = Instant::now() >= deadline;
        adder.join().unwrap();
        assert_eq!(seen, vec![(Token(13), true, false)], "{b}");
        assert!(!late, "{b}: the waiter slept through the registration");
    }
}

/// Raises the soft descriptor limit to the hard one.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain get/setrlimit on a local struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[test]
fn more_registrations_at_once_than_the_io_uring_ring_holds() {
    // 1500 registrations before any wait: more than io_uring's 1024-entry
    // submission ring, so some wait beside it until the wait submits them.
    // (select stops at FD_SETSIZE, tested above.)
    raise_fd_limit();
    const N: usize = 1500;
    for p in pollers()
        .into_iter()
        .filter(|p| p.backend() != Backend::Select)
    {
        let b = p.backend();
        let (mut a, c) = pair();
        // Numbered from 8192 up, so tests running beside this one still get
        // low descriptors (select's notifier must stay under 1024).
        // SAFETY: dup of an open descriptor; each result is closed below.
        let fds: Vec<i32> = (0..N)
            .map(|_| unsafe { libc::fcntl(c.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 8192) })
            .collect();
        assert!(fds.iter().all(|&fd| fd >= 0), "{b}: dup failed");
        for (i, &fd) in fds.iter().enumerate() {
            p.add(fd, Token(i), Interest::READABLE).unwrap();
        }
        a.write_all(b"x").unwrap();
        let mut seen = vec![false; N];
        let mut events = Events::with_capacity(4096);
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.iter().any(|s| !s) && Instant::now() < deadline {
            p.wait(&mut events, Some(Duration::from_millis(100)))
                .unwrap();
            for e in events.iter() {
                seen[e.token().0] = true;
            }
        }
        let missing = seen.iter().filter(|s| !**s).count();
        assert_eq!(
            missing, 0,
            "{b}: {missing} of {N} registrations never reported"
        );
        for fd in fds {
            // SAFETY: we own this duplicate; it is closed only below.
            p.delete(unsafe { BorrowedFd::borrow_raw(fd) }).unwrap();
            // SAFETY: we own these duplicates.
            unsafe { libc::close(fd) };
        }
    }
}

#[test]
fn io_uring_refuses_a_wait_from_a_second_thread_with_a_reason() {
    let Ok(p) = Poller::with_backend(Backend::IoUring) else {
        eprintln!("skipping: no io_uring");
        return;
    };
    let p = std::sync::Arc::new(p);
    assert!(wait(&p, 0).is_empty());
    let p2 = p.clone();
    let other = std::thread::spawn(move || {
        let mut events = Events::with_capacity(4);
        p2.wait(&mut events, Some(Duration::ZERO))
            .and_then(|()| p2.wait(&mut events, Some(Duration::from_millis(10))))
    })
    .join()
    .unwrap();
    match other {
        // A kernel before 6.1 gets a ring any thread may wait on.
        Ok(()) => eprintln!("this kernel has no IORING_SETUP_SINGLE_ISSUER"),
        Err(e) => {
            assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
            assert!(e.to_string().contains("first waited"), "{e}");
        }
    }
    // The first thread goes on waiting as before.
    let (mut a, c) = pair();
    p.add(c.as_raw_fd(), Token(2), Interest::READABLE).unwrap();
    a.write_all(b"x").unwrap();
    assert_eq!(wait(&p, 1000), vec![(Token(2), true, false)]);
}

#[test]
fn closing_a_deleted_descriptor_really_closes_it() {
    // io_uring's poll request holds its own reference to the file: the
    // reader must still see the writer's close once it is deleted.
    for p in pollers() {
        let b = p.backend();
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two-element array.
        let res = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(res, 0);
        // SAFETY: both ends are fresh descriptors owned by nothing else.
        let (r, w) = unsafe {
            use std::os::fd::FromRawFd;
            (
                std::fs::File::from_raw_fd(fds[0]),
                std::fs::File::from_raw_fd(fds[1]),
            )
        };
        p.add(w.as_raw_fd(), Token(4), Interest::WRITABLE).unwrap();
        assert_eq!(wait(&p, 1000), vec![(Token(4), false, true)], "{b}");
        // Fill the pipe, then let the reader make room: the writer's
        // registration has a wake-up in flight (io_uring: not yet delivered,
        // so the request cannot be cancelled at once) when it is deleted.
        while (&w).write(&[7u8; 4096]).is_ok() {}
        let mut buf = [0u8; 65536];
        let mut drained = 0;
        while let Ok(n) = (&r).read(&mut buf) {
            drained += n;
        }
        assert!(drained > 0, "{b}");
        p.delete(w.as_fd()).unwrap();
        drop(w);
        // The waiter goes on waiting, as an event loop does.
        let mut closed = false;
        for _ in 0..100 {
            wait(&p, 10);
            if matches!((&r).read(&mut buf), Ok(0)) {
                closed = true;
                break;
            }
        }
        assert!(closed, "{b}: the reader never saw the close");
    }
}

#[test]
fn rearm_adds_directions_and_never_disarms_one() {
    // Two owners re-arm one descriptor, each for the direction it drained;
    // in whichever order the re-arms arrive, both directions end up armed.
    for p in pollers() {
        let b = p.backend();
        let (mut a, c) = pair();
        a.write_all(b"x").unwrap();
        p.add(c.as_raw_fd(), Token(6), Interest::BOTH).unwrap();
        assert_eq!(wait(&p, 1000), vec![(Token(6), true, true)], "{b}");
        p.rearm(c.as_fd(), Token(6), Interest::WRITABLE).unwrap();
        p.rearm(c.as_fd(), Token(6), Interest::READABLE).unwrap();
        if p.is_edge_triggered() {
            // Nothing disarmed, nothing new: rearm is a no-op here.
            assert!(wait(&p, 20).is_empty(), "{b}");
        } else {
            // Still readable and writable, and both armed again.
            assert_eq!(wait(&p, 1000), vec![(Token(6), true, true)], "{b}");
            // A token that is not the registration's is refused.
            let err = p
                .rearm(c.as_fd(), Token(99), Interest::READABLE)
                .unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENOENT), "{b}");
        }
    }
}

#[test]
fn a_delete_on_the_waiting_thread_closes_the_file_without_another_wait() {
    // io_uring: the poll request holds the file; a delete on the thread
    // that waits must cancel it at once, not at the next wait.
    for p in pollers() {
        let b = p.backend();
        let (a, c) = pair();
        p.add(c.as_raw_fd(), Token(10), Interest::READABLE).unwrap();
        assert!(wait(&p, 0).is_empty(), "{b}");
        p.delete(c.as_fd()).unwrap();
        drop(c);
        // No wait from here on: the peer must see the close by itself.
        a.set_nonblocking(false).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(
            (&a).read(&mut buf).unwrap_or_else(|e| panic!("{b}: {e}")),
            0,
            "{b}: no end of stream"
        );
    }
}

/// Whether thread `tid` of this process is asleep in one of the pollers'
/// system calls, as `/proc/self/task/<tid>/syscall` tells.
fn asleep_in_a_poller(tid: libc::pid_t) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
        return false;
    };
    let Some(Ok(nr)) = text
        .split_whitespace()
        .next()
        .map(str::parse::<libc::c_long>)
    else {
        return false; // "running"
    };
    #[cfg(target_arch = "x86_64")]
    let legacy = [libc::SYS_poll, libc::SYS_select, libc::SYS_epoll_wait];
    #[cfg(not(target_arch = "x86_64"))]
    let legacy: [libc::c_long; 0] = [];
    [
        libc::SYS_ppoll,
        libc::SYS_pselect6,
        libc::SYS_epoll_pwait,
        libc::SYS_io_uring_enter,
    ]
    .iter()
    .chain(legacy.iter())
    .any(|&n| n == nr)
}

#[test]
fn a_delete_from_another_thread_closes_the_file_while_the_waiter_sleeps() {
    for p in pollers() {
        let b = p.backend();
        let p = std::sync::Arc::new(p);
        let (a, c) = pair();
        p.add(c.as_raw_fd(), Token(11), Interest::READABLE).unwrap();
        assert!(wait(&p, 0).is_empty(), "{b}");
        // The peer watches for the close, then ends the waiter's sleep
        // below (through `x`/`y`) whether it saw the close or not.
        let (x, y) = pair();
        p.add(y.as_raw_fd(), Token(12), Interest::READABLE).unwrap();
        let watcher = std::thread::spawn(move || {
            a.set_nonblocking(false).unwrap();
            a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 8];
            let eof = matches!((&a).read(&mut buf), Ok(0));
            drop(x);
            eof
        });
        // The delete and close happen while the waiter is asleep in the
        // kernel (a real condition, waited for; not a sleep).
        // SAFETY: gettid has no preconditions.
        let waiter = unsafe { libc::gettid() };
        let p2 = p.clone();
        let deleter = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !asleep_in_a_poller(waiter) && Instant::now() < deadline {
                std::thread::yield_now();
            }
            p2.delete(c.as_fd()).unwrap();
            drop(c);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if wait(&p, 10_000).iter().any(|e| e.0 == Token(12)) {
                break;
            }
        }
        deleter.join().unwrap();
        assert!(watcher.join().unwrap(), "{b}: the peer never saw the close");
    }
}

/// `wait_for_notify` on a thread other than the one that waits on the
/// poller (on io_uring, the only thread that may): a notify ends it, a
/// pending notify is taken at once, the timeout ends it otherwise, and the
/// registered descriptors' events are left for the next `wait`.
#[test]
fn wait_for_notify_serves_a_second_thread_and_leaves_events_to_wait() {
    for p in pollers() {
        let b = p.backend();
        let p = std::sync::Arc::new(p);
        // This thread waits on the poller first (io_uring's one waiter).
        assert!(wait(&p, 0).is_empty(), "{b}");
        let (mut a, c) = pair();
        p.add(c.as_raw_fd(), Token(5), Interest::READABLE).unwrap();
        a.write_all(b"x").unwrap();

        let p2 = p.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            // A pending notify is taken at once.
            p2.notify().unwrap();
            let start = Instant::now();
            p2.wait_for_notify(Some(Duration::from_secs(5))).unwrap();
            assert!(start.elapsed() < Duration::from_secs(4), "pending notify");
            // Taken: now only the timeout ends the sleep (the readable
            // socket does not).
            let start = Instant::now();
            p2.wait_for_notify(Some(Duration::from_millis(20))).unwrap();
            assert!(
                start.elapsed() >= Duration::from_millis(15),
                "returned early"
            );
            // A notify from another thread ends it.
            ready_tx.send(()).unwrap();
            let start = Instant::now();
            p2.wait_for_notify(Some(Duration::from_secs(5))).unwrap();
            start.elapsed()
        });
        ready_rx.recv().unwrap();
        p.notify().unwrap();
        let slept = other.join().unwrap();
        assert!(slept < Duration::from_secs(4), "{b}: notify did not end it");
        // The socket's readiness is still there for the poller's own wait.
        assert_eq!(wait(&p, 1000), vec![(Token(5), true, false)], "{b}");
    }
}
