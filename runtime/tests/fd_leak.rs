//! File-descriptor hygiene of runtimes: the epoll instance and the eventfd
//! are close-on-exec, and creating and dropping runtimes leaks nothing.
//!
//! This binary has a single test on purpose: other tests of the same binary
//! would run on parallel threads and open descriptors of their own, which
//! would make the counts meaningless.

// Runtimes hand JoinHandles out of `block_on` on purpose, to await them
// after the runtime is gone or on another one.
#![allow(clippy::async_yields_async)]

use std::collections::BTreeSet;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use std::pin::Pin;
use std::task::Poll;

use spindle_runtime::io::AsyncRead;
use spindle_runtime::net::TcpStream;
use spindle_runtime::time::{sleep, timeout};
use spindle_runtime::Backend;
use spindle_runtime::{spawn, yield_now, JoinHandle, Runtime};

/// The open descriptors of this process (the directory handle used to list
/// them is closed again by the time this returns).
fn open_fds() -> BTreeSet<i32> {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    // Keep only descriptors still open now: drops the directory's own fd.
    fds.into_iter()
        .filter(|&fd| {
            // SAFETY: F_GETFD only queries the descriptor's flags.
            unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
        })
        .collect()
}

fn link(fd: i32) -> String {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn check_cloexec() {
    let before = open_fds();
    let rt = Runtime::new().unwrap();
    let after = open_fds();
    let new: Vec<i32> = after.difference(&before).copied().collect();
    let kinds: Vec<String> = new.iter().map(|&fd| link(fd)).collect();
    // The poller's own descriptor depends on the backend (SPINDLE_POLLER);
    // poll and select keep their state in user space and have none.
    let own = match rt.backend() {
        Backend::Epoll => Some("eventpoll"),
        Backend::IoUring => Some("io_uring"),
        _ => None,
    };
    if let Some(own) = own {
        assert!(
            kinds.iter().any(|k| k.contains(own)),
            "no new {own} descriptor among {kinds:?}"
        );
    }
    assert!(
        kinds.iter().any(|k| k.contains("eventfd")),
        "no new eventfd among {kinds:?}"
    );
    for (&fd, kind) in new.iter().zip(&kinds) {
        // SAFETY: F_GETFD only queries the descriptor's flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(flags >= 0, "fcntl({fd}) failed");
        assert!(
            flags & libc::FD_CLOEXEC != 0,
            "descriptor {fd} ({kind}) opened by Runtime::new is not close-on-exec"
        );
    }
    // The runtime actually works, then its descriptors go away.
    rt.block_on(sleep(Duration::from_millis(1)));
    drop(rt);
    assert_eq!(open_fds(), before, "Runtime::new + drop leaked descriptors");
}

/// One runtime's worth of activity: tasks that finish, sleep, stay pending,
/// are spawned from another thread, or are aborted; then the runtime is dropped.
fn busy_runtime(round: usize, finished: &Arc<AtomicUsize>) -> JoinHandle<()> {
    let rt = Runtime::new().unwrap();
    let handle = rt.handle();
    let remote = thread::spawn(move || {
        (0..3)
            .map(|i| handle.spawn(async move { i }))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let f = finished.clone();
    let kept = rt.block_on(async move {
        let mut hs = Vec::new();
        for i in 0..10u64 {
            hs.push(spawn(async move {
                sleep(Duration::from_millis(i % 3)).await;
                yield_now().await;
            }));
        }
        // Left pending forever; dropped with the runtime.
        drop(spawn(pending::<()>()));
        drop(spawn(sleep(Duration::from_secs(3600))));
        let aborted = spawn(pending::<()>());
        aborted.abort();
        assert!(aborted.await.unwrap_err().is_cancelled());
        assert!(timeout(Duration::from_millis(1), pending::<()>())
            .await
            .is_err());
        for h in hs {
            h.await.unwrap();
        }
        for (i, h) in remote.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
        f.fetch_add(1, SeqCst);
        // A handle that outlives the runtime (pending task, cancelled at drop).
        spawn(async move {
            let _round = round;
            pending::<()>().await
        })
    });
    drop(rt);
    kept
}

/// A socket whose runtime was dropped, dropped in turn on another thread
/// while the runtime's waker is still stored in it: nothing may keep the
/// runtime (its poller and eventfd) alive afterwards.
fn check_registration_dropped_after_its_runtime() {
    let before = open_fds();
    let rt = Runtime::new().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = rt.block_on(async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // One read that finds nothing: the main future's waker (which holds
        // the runtime) is now stored in the socket's registration.
        let mut buf = [0u8; 8];
        std::future::poll_fn(|cx| {
            let pending = Pin::new(&mut stream).poll_read(cx, &mut buf).is_pending();
            assert!(pending);
            Poll::Ready(())
        })
        .await;
        stream
    });
    let (peer, _) = listener.accept().unwrap();
    drop(rt);
    thread::spawn(move || drop(stream)).join().unwrap();
    drop((peer, listener));
    let leaked: Vec<(i32, String)> = open_fds()
        .difference(&before)
        .map(|&fd| (fd, link(fd)))
        .collect();
    assert!(
        leaked.is_empty(),
        "a registration dropped after its runtime kept the runtime alive: {leaked:?}"
    );
}

#[test]
fn runtimes_are_cloexec_and_leak_no_descriptors() {
    check_cloexec();
    check_registration_dropped_after_its_runtime();

    let baseline = open_fds();
    let finished = Arc::new(AtomicUsize::new(0));
    let mut kept = Vec::new();
    for round in 0..100 {
        kept.push(busy_runtime(round, &finished));
        // Plain create/drop as well.
        drop(Runtime::new().unwrap());
    }
    assert_eq!(finished.load(SeqCst), 100);

    // Handles of dropped runtimes resolve (cancelled) on another runtime.
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for h in kept {
            let r = timeout(Duration::from_secs(10), h)
                .await
                .expect("handle of a dropped runtime never resolved");
            assert!(r.unwrap_err().is_cancelled());
        }
    });
    drop(rt);

    let now = open_fds();
    let leaked: Vec<(i32, String)> = now
        .difference(&baseline)
        .map(|&fd| (fd, link(fd)))
        .collect();
    assert!(
        leaked.is_empty(),
        "descriptors leaked by 100 runtimes: {} {:?}",
        leaked.len(),
        &leaked[..leaked.len().min(10)]
    );
    assert_eq!(now, baseline);
}
