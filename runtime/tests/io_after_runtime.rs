//! IO objects that outlive the runtime they were registered with: every
//! operation fails at once with a clear error (never a hang), a waiting one
//! is woken to fail, and a child process spawned by a dropped runtime can
//! still be waited for on another one (tokio's
//! process_spawned_and_wait_in_different_runtime).

use std::io::{ErrorKind, Write};
use std::process::Stdio;
use std::sync::mpsc;

use spindle_runtime::io::AsyncReadExt;
use spindle_runtime::net::{TcpListener, TcpStream, UdpSocket};
use spindle_runtime::process::Command;
use spindle_runtime::signal::Signal;
use spindle_runtime::{spawn, Handle, Runtime};

mod support;
use support::{bounded, panic_message};

/// A stream registered with `rt`, and the plain peer socket on the other end.
fn stream_in(rt: &Runtime) -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = rt.block_on(TcpStream::connect(addr)).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (stream, peer)
}

fn assert_runtime_gone(err: std::io::Error) {
    assert_eq!(err.kind(), ErrorKind::Other, "{err}");
    assert!(err.to_string().contains("has shut down"), "{err}");
}

#[test]
fn a_stream_used_after_its_runtime_was_dropped_fails_at_once() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let (mut stream, mut peer) = stream_in(&rt);
        drop(rt);
        // Bytes are waiting, but no reactor will ever report them.
        peer.write_all(b"hello").unwrap();
        let other = Runtime::new().unwrap();
        let mut buf = [0u8; 5];
        let err = other.block_on(stream.read(&mut buf)).unwrap_err();
        assert_runtime_gone(err);
        // Readiness waits and the &self methods fail the same way.
        assert_runtime_gone(other.block_on(stream.readable()).unwrap_err());
    });
}

#[test]
fn a_read_waiting_when_the_runtime_is_dropped_is_woken_with_an_error() {
    bounded(10, || {
        // The stream's runtime lives on another thread until told to stop.
        let (stream_tx, stream_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let owner = std::thread::spawn(move || {
            let rt = Runtime::new().unwrap();
            stream_tx.send(stream_in(&rt)).unwrap();
            stop_rx.recv().unwrap();
            drop(rt);
        });
        let (mut stream, _peer) = stream_rx.recv().unwrap();
        let other = Runtime::new().unwrap();
        let err = other.block_on(async move {
            let reader = spawn(async move {
                let mut buf = [0u8; 8];
                stream.read(&mut buf).await
            });
            // Let the read start waiting, then drop the stream's runtime.
            spindle_runtime::task::yield_now().await;
            stop_tx.send(()).unwrap();
            reader.await.unwrap().unwrap_err()
        });
        assert_runtime_gone(err);
        owner.join().unwrap();
    });
}

#[test]
fn listeners_and_udp_sockets_fail_too() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let (listener, udp) = rt.block_on(async {
            (
                TcpListener::bind("127.0.0.1:0").await.unwrap(),
                UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            )
        });
        drop(rt);
        let other = Runtime::new().unwrap();
        assert_runtime_gone(other.block_on(listener.accept()).unwrap_err());
        let mut buf = [0u8; 4];
        assert_runtime_gone(other.block_on(udp.recv_from(&mut buf)).unwrap_err());
    });
}

#[test]
fn process_spawned_and_wait_in_different_runtime() {
    bounded(10, || {
        let mut child = Runtime::new().unwrap().block_on(async {
            Command::new("true")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        });
        let status = Runtime::new()
            .unwrap()
            .block_on(async { child.wait().await })
            .unwrap();
        assert!(status.success());
    });
}

#[test]
fn a_child_waited_for_while_its_runtime_is_dropped_still_completes() {
    bounded(10, || {
        let (child_tx, child_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let owner = std::thread::spawn(move || {
            let rt = Runtime::new().unwrap();
            let child = rt.block_on(async { Command::new("cat").stdin(Stdio::piped()).spawn() });
            child_tx.send(child.unwrap()).unwrap();
            stop_rx.recv().unwrap();
            drop(rt);
        });
        let mut child = child_rx.recv().unwrap();
        let stdin = child.stdin.take().unwrap();
        let other = Runtime::new().unwrap();
        let status = other.block_on(async move {
            let waiter = spawn(async move { child.wait().await });
            spindle_runtime::task::yield_now().await;
            // The wait is pending on the old runtime's pidfd: drop that
            // runtime, then let the child exit.
            stop_tx.send(()).unwrap();
            owner.join().unwrap();
            drop(stdin);
            waiter.await.unwrap()
        });
        assert!(status.unwrap().success());
    });
}

#[test]
fn a_signal_listener_of_a_dropped_runtime_returns_none() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let mut usr2 = rt.block_on(async { Signal::new(libc::SIGUSR2) }).unwrap();
        drop(rt);
        let other = Runtime::new().unwrap();
        assert_eq!(other.block_on(usr2.recv()), None);
    });
}

#[test]
fn io_objects_cannot_be_made_for_a_dropped_runtime() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let handle: Handle = rt.handle();
        drop(rt);
        let _entered = handle.enter();
        let err = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(UdpSocket::from_std)
            .unwrap_err();
        // Says why, without telling the user to make it inside the runtime
        // (it was: the runtime is gone).
        assert!(err.to_string().contains("Handle that outlived it"), "{err}");
        assert_runtime_gone(err);
    });
}

/// Under a dropped runtime's `Handle`, `Command::spawn` fails before the
/// child starts (it once started it, found it could not register it, and
/// killed it). The evidence: a `pre_exec` hook, which runs in the forked
/// child before `exec`, writes a byte to a pipe; none arrives.
#[test]
fn no_child_is_started_for_a_dropped_runtime() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;

    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let handle: Handle = rt.handle();
        drop(rt);
        let _entered = handle.enter();
        let (mut reader, writer) = std::io::pipe().unwrap();
        let fd = writer.as_raw_fd();
        let mut std = std::process::Command::new("true");
        // SAFETY: the hook only calls write(2), which is async-signal-safe,
        // on a descriptor the child inherited; it allocates nothing.
        unsafe {
            std.pre_exec(move || {
                libc::write(fd, b"x".as_ptr().cast(), 1);
                Ok(())
            });
        }
        let err = Command::from(std).spawn().unwrap_err();
        assert_runtime_gone(err);
        drop(writer);
        let mut forked = Vec::new();
        reader.read_to_end(&mut forked).unwrap();
        assert!(forked.is_empty(), "a child was forked");
    });
}

/// What a `Handle` of a dropped runtime still does (its docs, "After the
/// runtime is dropped"): `spawn_blocking` hands back a cancelled handle
/// without running the closure, and a timer polled under `enter` panics
/// with the reason (it has no error to return).
#[test]
fn a_dropped_runtimes_handle_cancels_blocking_jobs_and_its_timers_panic() {
    bounded(10, || {
        let rt = Runtime::new().unwrap();
        let handle: Handle = rt.handle();
        drop(rt);
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let job =
            handle.spawn_blocking(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
        let other = Runtime::new().unwrap();
        assert!(other.block_on(job).unwrap_err().is_cancelled());
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the job ran"
        );
        drop(other);

        let _entered = handle.enter();
        let mut sleep = Box::pin(spindle_runtime::time::sleep(
            std::time::Duration::from_secs(1),
        ));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = std::future::Future::poll(sleep.as_mut(), &mut cx);
        }))
        .expect_err("a timer of a dropped runtime was polled without a panic");
        let message = panic_message(&*panic);
        assert!(message.contains("has shut down"), "{message}");
    });
}
