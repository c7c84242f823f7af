//! `io::AsyncFd`: waiting for readiness of descriptors spindle has no type
//! for (pipes, socketpairs from std), guards, clearing, cancellation,
//! several waiters and threads, and the errors of bad registrations.

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::Arc;
use std::task::Poll;

use spindle_runtime::io::{AsyncFd, Interest, Ready};
use spindle_runtime::{spawn, yield_now, Backend, Runtime};

mod support;
use support::{block_on_current_thread, bounded, run, stays_pending};

/// A non-blocking, close-on-exec pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both are fresh descriptors we now own.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn fd_read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writes.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn fd_write(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of reads.
    let n = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Reads what is there through the guard loop: the pattern the docs teach.
async fn read_some(fd: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.try_io(|inner| fd_read(inner.get_ref(), buf)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

#[test]
fn pipe_read_end_wakes_when_written() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = Arc::new(AsyncFd::new(rx).unwrap());
        let reader = {
            let rx = rx.clone();
            spawn(async move {
                let mut buf = [0; 16];
                let n = read_some(&rx, &mut buf).await.unwrap();
                buf[..n].to_vec()
            })
        };
        // The reader is waiting: nothing written yet.
        assert!(stays_pending(rx.readable()).await);
        fd_write(&tx, b"hello").unwrap();
        assert_eq!(reader.await.unwrap(), b"hello");
    });
}

#[test]
fn would_block_clears_readiness_and_the_next_wait_waits() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        fd_write(&tx, b"abc").unwrap();
        let mut buf = [0; 16];
        assert_eq!(read_some(&rx, &mut buf).await.unwrap(), 3);
        // Still believed readable (the read did not prove otherwise) ...
        let mut guard = rx.readable().await.unwrap();
        assert!(guard.ready().is_readable());
        // ... until a read answers WouldBlock, which clears it.
        let err = guard.try_io(|inner| fd_read(inner.get_ref(), &mut buf));
        assert!(err.is_err(), "the pipe is empty: WouldBlock");
        assert!(guard.ready().is_empty());
        assert!(stays_pending(rx.readable()).await);
        fd_write(&tx, b"d").unwrap();
        assert_eq!(read_some(&rx, &mut buf).await.unwrap(), 1);
        assert_eq!(&buf[..1], b"d");
    });
}

#[test]
fn retained_readiness_makes_the_next_wait_return_at_once() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        fd_write(&tx, b"x").unwrap();
        let mut guard = rx.readable().await.unwrap();
        guard.retain_ready();
        assert!(!stays_pending(rx.readable()).await);
        // clear_ready by hand: now the wait really waits (the byte is still
        // in the pipe, but the edge was already reported).
        rx.readable().await.unwrap().clear_ready();
        assert!(stays_pending(rx.readable()).await);
    });
}

#[test]
fn full_pipe_is_not_writable_until_drained() {
    run(|| async {
        let (rx, tx) = pipe();
        let tx = AsyncFd::with_interest(tx, Interest::WRITABLE).unwrap();
        let chunk = [7u8; 4096];
        let mut written = 0;
        loop {
            let mut guard = tx.writable().await.unwrap();
            match guard.try_io(|inner| fd_write(inner.get_ref(), &chunk)) {
                Ok(n) => written += n.unwrap(),
                Err(_would_block) => break,
            }
        }
        assert!(written > 0);
        assert!(stays_pending(tx.writable()).await);
        // Drain it; the writer becomes writable again.
        let mut buf = vec![0; written];
        let mut read = 0;
        while read < written {
            read += fd_read(&rx, &mut buf[read..]).unwrap();
        }
        let guard = tx.writable().await.unwrap();
        assert!(guard.ready().is_writable());
        assert!(buf.iter().all(|&b| b == 7));
    });
}

#[test]
fn ready_reports_what_is_ready_and_read_closed() {
    // select(2) has no hang-up report: there a closed peer shows only as
    // readable (the read then returns end of stream).
    let select = Runtime::new().unwrap().backend() == Backend::Select;
    run(move || async move {
        let (a, b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let a = AsyncFd::new(a).unwrap();
        let both = Interest::READABLE | Interest::WRITABLE;
        let ready = a.ready(both).await.unwrap().ready();
        assert!(ready.is_writable() && !ready.is_readable(), "{ready:?}");
        (&b).write_all(b"ping").unwrap();
        let mut guard = a.readable().await.unwrap();
        assert!(guard.ready().is_readable());
        let mut buf = [0; 8];
        let n = guard
            .try_io(|inner| inner.get_ref().read(&mut buf))
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"ping");
        // Drained: the next read answers WouldBlock and clears readiness
        // (on poll and select that also re-arms the read direction).
        assert!(guard
            .try_io(|inner| inner.get_ref().read(&mut buf))
            .is_err());
        drop(b);
        // The peer is gone: readable, with the read side closed.
        let mut guard = a.readable().await.unwrap();
        assert!(
            select || guard.ready().is_read_closed(),
            "{:?}",
            guard.ready()
        );
        assert!(guard.ready().is_readable());
        let n = guard
            .try_io(|i| i.get_ref().read(&mut buf))
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "end of stream");
    });
}

#[test]
fn clear_ready_matching_keeps_the_other_kinds() {
    // On a current-thread runtime whatever `SPINDLE_FLAVOR` says: that a
    // cleared direction stays pending is only certain while no reactor
    // turns meanwhile. On a multi-threaded runtime the descriptor's reactor
    // turns on a worker, and any event it reports carries every direction
    // then ready (epoll's edge-triggered events do), writable included;
    // there the check failed about once in 150 runs under load (before
    // this test changed, and on older sources too).
    bounded(10, || {
        block_on_current_thread(async {
            let (a, b) = StdUnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            let a = AsyncFd::new(a).unwrap();
            (&b).write_all(b"x").unwrap();
            let both = Interest::READABLE | Interest::WRITABLE;
            // Wait until both kinds have been reported.
            let mut guard = loop {
                let guard = a.ready(both).await.unwrap();
                if guard.ready().is_readable() && guard.ready().is_writable() {
                    break guard;
                }
                yield_now().await;
            };
            guard.clear_ready_matching(Ready::WRITABLE);
            assert!(guard.ready().is_readable() && !guard.ready().is_writable());
            // Writability was cleared: a writable wait waits for a new edge,
            // readability was kept: a readable wait returns at once.
            assert!(!stays_pending(a.readable()).await);
            assert!(stays_pending(a.writable()).await);
        })
    });
}

#[test]
fn mut_guards_lend_the_inner_value() {
    run(|| async {
        let (a, b) = StdUnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut a = AsyncFd::new(a).unwrap();
        (&b).write_all(b"mut").unwrap();
        let mut buf = [0; 8];
        let n = loop {
            let mut guard = a.readable_mut().await.unwrap();
            if let Ok(result) = guard.try_io(|fd| fd.get_mut().read(&mut buf)) {
                break result.unwrap();
            }
        };
        assert_eq!(&buf[..n], b"mut");
        let mut guard = a.writable_mut().await.unwrap();
        guard.get_inner_mut().write_all(b"back").unwrap();
        let mut reply = [0; 4];
        b.set_nonblocking(false).unwrap();
        (&b).read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"back");
    });
}

#[test]
fn async_io_and_try_io_run_the_loop() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = Arc::new(AsyncFd::new(rx).unwrap());
        let mut buf = [0; 8];
        // Nothing believed ready yet: try_io does not even call the closure.
        let err = rx
            .try_io(Interest::READABLE, |_| -> io::Result<()> {
                panic!("called")
            })
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        let reader = {
            let rx = rx.clone();
            spawn(async move {
                let mut buf = [0; 8];
                let n = rx
                    .async_io(Interest::READABLE, |fd| fd_read(fd, &mut buf))
                    .await
                    .unwrap();
                buf[..n].to_vec()
            })
        };
        yield_now().await;
        fd_write(&tx, b"loop").unwrap();
        assert_eq!(reader.await.unwrap(), b"loop");
        fd_write(&tx, b"z").unwrap();
        let n = rx
            .async_io(Interest::READABLE, |fd| fd_read(fd, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"z");
    });
}

#[test]
fn poll_read_ready_for_hand_written_futures() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        let first = poll_fn(|cx| Poll::Ready(rx.poll_read_ready(cx).is_pending())).await;
        assert!(first);
        fd_write(&tx, b"p").unwrap();
        let mut guard = poll_fn(|cx| rx.poll_read_ready(cx)).await.unwrap();
        assert!(guard.ready().is_readable());
        let mut buf = [0; 4];
        assert_eq!(
            guard
                .try_io(|fd| fd_read(fd.get_ref(), &mut buf))
                .unwrap()
                .unwrap(),
            1
        );
    });
}

#[test]
fn every_waiter_is_woken_and_a_cancelled_one_loses_nothing() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = Arc::new(AsyncFd::new(rx).unwrap());
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                spawn(async move { rx.readable().await.unwrap().ready().is_readable() })
            })
            .collect();
        // A fifth waiter, polled once and then dropped mid-await.
        assert!(stays_pending(rx.readable()).await);
        fd_write(&tx, b"all").unwrap();
        for waiter in waiters {
            assert!(waiter.await.unwrap());
        }
        // The cancelled wait took nothing: the data is all there.
        let mut buf = [0; 8];
        assert_eq!(read_some(&rx, &mut buf).await.unwrap(), 3);
    });
}

#[test]
fn writes_from_another_thread_wake_the_waiter() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0..50u8 {
                fd_write(&tx, &[i]).unwrap();
            }
        });
        let mut got = Vec::new();
        let mut buf = [0; 64];
        while got.len() < 50 {
            let n = read_some(&rx, &mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        writer.join().unwrap();
        assert_eq!(got, (0..50u8).collect::<Vec<_>>());
    });
}

#[test]
fn async_fd_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<AsyncFd<OwnedFd>>();
    assert_send_sync::<spindle_runtime::io::AsyncFdReadyGuard<'static, OwnedFd>>();
}

#[test]
fn into_inner_deregisters_so_the_fd_can_be_registered_again() {
    run(|| async {
        let (rx, tx) = pipe();
        let rx = AsyncFd::new(rx).unwrap();
        let raw = rx.as_raw_fd();
        let rx = rx.into_inner();
        assert_eq!(rx.as_raw_fd(), raw);
        let rx = AsyncFd::new(rx).unwrap();
        fd_write(&tx, b"again").unwrap();
        let mut buf = [0; 8];
        assert_eq!(read_some(&rx, &mut buf).await.unwrap(), 5);
    });
}

#[test]
fn registering_twice_fails_and_gives_the_value_back() {
    run(|| async {
        let (rx, _tx) = pipe();
        let first = AsyncFd::new(rx).unwrap();
        let err = AsyncFd::try_new(first.as_raw_fd()).unwrap_err();
        let (raw, cause) = err.into_parts();
        assert_eq!(raw, first.as_raw_fd());
        assert_eq!(cause.kind(), io::ErrorKind::AlreadyExists, "{cause}");
        // The first registration still works.
        assert!(stays_pending(first.readable()).await);
    });
}

#[test]
fn outside_a_runtime_try_new_gives_the_value_back() {
    let (rx, _tx) = pipe();
    let raw = rx.as_raw_fd();
    let err = AsyncFd::try_new(rx).unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
    let (rx, _) = err.into_parts();
    assert_eq!(rx.as_raw_fd(), raw);
}

#[test]
fn waiting_for_an_unregistered_interest_is_an_error() {
    run(|| async {
        let (rx, _tx) = pipe();
        let rx = AsyncFd::with_interest(rx, Interest::READABLE).unwrap();
        assert_eq!(rx.interest(), Interest::READABLE);
        let err = rx.writable().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = rx.try_io(Interest::WRITABLE, |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn after_the_runtime_shuts_down_waits_fail_instead_of_hanging() {
    bounded(10, || {
        let (rx, _tx) = pipe();
        let rt = Runtime::new().unwrap();
        let rx = rt.block_on(async { AsyncFd::new(rx).unwrap() });
        drop(rt);
        let other = Runtime::new().unwrap();
        let err = other.block_on(async { rx.readable().await.map(drop) });
        assert!(err.unwrap_err().to_string().contains("shut down"));
    });
}

#[test]
fn an_eventfd_signalled_from_another_thread() {
    run(|| async {
        // SAFETY: plain system call; the result is checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        assert!(raw >= 0, "eventfd: {}", io::Error::last_os_error());
        // SAFETY: a fresh descriptor that nothing else owns.
        let efd = Arc::new(AsyncFd::new(unsafe { OwnedFd::from_raw_fd(raw) }).unwrap());
        let signaller = {
            let efd = efd.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    fd_write(efd.get_ref(), &1u64.to_ne_bytes()).unwrap();
                }
            })
        };
        // Count the three signals, however they are batched.
        let mut total = 0;
        while total < 3 {
            let mut counter = [0u8; 8];
            let n = efd
                .async_io(Interest::READABLE, |fd| fd_read(fd, &mut counter))
                .await
                .unwrap();
            assert_eq!(n, 8);
            total += u64::from_ne_bytes(counter);
        }
        signaller.join().unwrap();
        assert_eq!(total, 3);
    });
}

#[test]
fn a_regular_file_is_refused_by_epoll_and_given_back() {
    let backend = Runtime::new().unwrap().backend();
    run(move || async move {
        let file = std::fs::File::open("/proc/self/exe").unwrap();
        match AsyncFd::try_new(file) {
            // epoll cannot watch regular files (they are always ready).
            Err(err) => {
                assert_eq!(backend, Backend::Epoll, "{err}");
                let (file, cause) = err.into_parts();
                assert_eq!(cause.kind(), io::ErrorKind::PermissionDenied, "{cause}");
                assert!(
                    file.metadata().unwrap().is_file(),
                    "the file came back open"
                );
            }
            // poll and select report a regular file ready at once.
            Ok(fd) => {
                assert_ne!(backend, Backend::Epoll);
                assert!(fd.readable().await.unwrap().ready().is_readable());
            }
        }
    });
}

#[test]
fn tokio_paths_name_the_same_types() {
    fn same<T: 'static>(_: Option<T>, _: Option<T>) {}
    same::<AsyncFd<OwnedFd>>(None, None::<spindle_runtime::io::unix::AsyncFd<OwnedFd>>);
    same::<spindle_runtime::io::TryIoError>(None, None::<spindle_runtime::io::unix::TryIoError>);
}
