//! `process::Process` (issue 15), under libtest's own `main`: every child
//! here enters before `main` through the runtime's load-time hook, so
//! these tests also prove that a program (a test binary included) needs
//! nothing in `main` to start processes. Also: descriptors handed to a
//! `Process` and to `ProcessPool` jobs, and back.
//!
//! libtest runs these tests on parallel threads of one process, so no test
//! counts all of the process's children: each checks its own pids. Every
//! test runs under a timeout; a child's progress is learned from what it
//! writes on a socket, never from a sleep.

mod support;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use spindle_runtime::pool::ProcessPool;
use spindle_runtime::process::{Process, ProcessError};
use spindle_runtime::time::{sleep, timeout};

/// Runs `test` on a runtime of its own (the flavor `SPINDLE_FLAVOR` says)
/// under a timeout.
fn run<F: std::future::Future<Output = ()> + 'static>(test: impl FnOnce() -> F + Send + 'static) {
    support::bounded(90, move || {
        spindle_runtime::block_on(async move {
            timeout(Duration::from_secs(60), test())
                .await
                .expect("test timed out");
        })
    });
}

// ---------------------------------------------------------------- children

fn square(x: u64) -> u64 {
    x * x
}

fn describe((name, n): (String, Vec<u32>)) -> String {
    format!("{name}: {}", n.iter().sum::<u32>())
}

fn panics(message: String) -> u32 {
    panic!("{message}");
}

fn exits(code: i32) {
    std::process::exit(code);
}

fn big(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

fn checksum(data: Vec<u8>) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

/// Says "ready", then answers each byte with its uppercase, until EOF;
/// returns how many bytes it answered.
fn hold(fd: OwnedFd) -> u32 {
    let mut sock = UnixStream::from(fd);
    sock.write_all(b"ready").unwrap();
    answer_until_eof(sock)
}

fn answer_until_eof(mut sock: UnixStream) -> u32 {
    let mut n = 0;
    let mut byte = [0u8];
    while sock.read(&mut byte).unwrap() == 1 {
        sock.write_all(&[byte[0].to_ascii_uppercase()]).unwrap();
        n += 1;
    }
    n
}

/// Talks over the socket it was handed: "ping" out, four bytes back.
fn talk(fd: OwnedFd) -> String {
    let mut sock = UnixStream::from(fd);
    sock.write_all(b"ping").unwrap();
    let mut reply = [0u8; 4];
    sock.read_exact(&mut reply).unwrap();
    String::from_utf8(reply.to_vec()).unwrap()
}

/// Ends its process (a worker, in the pool test) at once.
fn abort_now(_: ()) {
    std::process::abort();
}

/// A pipe whose write end has `message` in it; returns the read end.
fn pipe_with(message: String) -> OwnedFd {
    let (reader, mut writer) = std::io::pipe().unwrap();
    writer.write_all(message.as_bytes()).unwrap();
    reader.into()
}

/// Writes its number to the descriptor it was given.
fn tag((i, fd): (u8, OwnedFd)) -> u8 {
    std::fs::File::from(fd).write_all(&[i]).unwrap();
    i
}

/// Gives every descriptor back, with their count.
fn echo_fds(fds: Vec<OwnedFd>) -> (usize, Vec<OwnedFd>) {
    (fds.len(), fds)
}

/// [`hold`], also telling its parent (on `report`) once it said "ready".
fn hold_and_report((fd, report): (OwnedFd, OwnedFd)) -> u32 {
    let mut sock = UnixStream::from(fd);
    sock.write_all(b"ready").unwrap();
    UnixStream::from(report).write_all(b"up").unwrap();
    answer_until_eof(sock)
}

/// In a child: starts a grandchild holding `fd` (a daemon or not), waits
/// until it is up, returns its pid and exits, leaving it behind.
fn start_grandchild((fd, daemon): (OwnedFd, bool)) -> u32 {
    spindle_runtime::block_on(async move {
        let (mut up, report) = UnixStream::pair().unwrap();
        let p = Process::new(hold_and_report, (fd, OwnedFd::from(report)))
            .daemon(daemon)
            .start()
            .unwrap();
        let mut word = [0u8; 2];
        up.read_exact(&mut word).unwrap();
        p.pid()
        // Dropped: detached, still running when this process exits.
    })
}

// ---------------------------------------------------------------- helpers

/// A socket pair: ours, and the end to hand to a child.
fn pair() -> (UnixStream, OwnedFd) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    (ours, theirs.into())
}

fn expect(sock: &mut UnixStream, what: &[u8]) {
    let mut got = vec![0u8; what.len()];
    sock.read_exact(&mut got).unwrap();
    assert_eq!(got, what);
}

/// The state letter and parent of process `pid`, if it exists.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Waits (polling /proc, at most 20 s) until `pid` is no child of ours:
/// exited *and* reaped. A zombie of ours fails the test.
async fn wait_reaped(pid: u32) {
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while let Some((state, parent)) = proc_state(pid) {
        if parent != me {
            return; // the number was reused by some other process
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} is still our child (state {state})"
        );
        sleep(Duration::from_millis(2)).await;
    }
}

/// Reads until EOF (at most 30 s): every copy of the peer end is closed.
fn wait_eof(sock: &mut UnixStream) {
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).unwrap();
}

// ---------------------------------------------------------------- tests

#[test]
fn join_returns_the_value() {
    run(|| async {
        let mut p = Process::new(square, 12).start().unwrap();
        assert!(p.pid() > 0);
        assert_eq!(p.join().await, Ok(144));
        assert!(!p.is_alive());
        assert!(p.exit_status().unwrap().success());
        assert_eq!(p.join().await, Err(ProcessError::AlreadyJoined));

        let mut p = Process::new(describe, ("sum".to_string(), vec![1, 2, 3]))
            .start()
            .unwrap();
        assert_eq!(p.join().await.unwrap(), "sum: 6");
    });
}

#[test]
fn large_argument_and_result_do_not_stall() {
    run(|| async {
        // Both far beyond a socket buffer.
        let data = big(8 << 20);
        let expected = checksum(data.clone());
        let mut p = Process::new(checksum, data).start().unwrap();
        assert_eq!(p.join().await, Ok(expected));
        let mut p = Process::new(big, 8 << 20).start().unwrap();
        assert_eq!(p.join().await.unwrap(), big(8 << 20));
    });
}

#[test]
fn a_panic_comes_back_as_its_message() {
    run(|| async {
        let message = "deliberate panic (testing a Process that panics)".to_string();
        let mut p = Process::new(panics, message.clone()).start().unwrap();
        let err = p.join().await.unwrap_err();
        assert_eq!(err, ProcessError::Panicked(message.clone()));
        assert_eq!(err.panic_message(), Some(message.as_str()));
        assert_eq!(p.exit_status().unwrap().code(), Some(1));
        // The same error again, not a different one.
        assert_eq!(p.join().await.unwrap_err(), err);
    });
}

#[test]
fn an_exit_code_is_reported() {
    run(|| async {
        let mut p = Process::new(exits, 3).start().unwrap();
        let err = p.join().await.unwrap_err();
        assert_eq!(err, ProcessError::Exited(3));
        assert_eq!(err.exit_code(), Some(3));
        assert_eq!(p.exit_status().unwrap().code(), Some(3));
        assert!(!p.is_alive());
    });
}

#[test]
fn kill_is_reported_as_sigkill() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut p = Process::new(hold, theirs).start().unwrap();
        expect(&mut ours, b"ready");
        assert!(p.is_alive());
        // Not finished: a join cut short by a timeout loses nothing.
        assert!(timeout(Duration::from_millis(20), p.join()).await.is_err());
        p.kill().unwrap();
        let err = p.join().await.unwrap_err();
        assert_eq!(err, ProcessError::Signaled(libc::SIGKILL));
        assert_eq!(err.signal(), Some(9));
        assert_eq!(p.exit_status().unwrap().signal(), Some(libc::SIGKILL));
        assert!(!p.is_alive());
        // Ended and reaped: signalling it is a no-op, never another process.
        p.kill().unwrap();
        p.terminate().unwrap();
    });
}

#[test]
fn terminate_is_reported_as_sigterm() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut p = Process::new(hold, theirs).start().unwrap();
        expect(&mut ours, b"ready");
        p.terminate().unwrap();
        assert_eq!(
            p.join().await.unwrap_err(),
            ProcessError::Signaled(libc::SIGTERM)
        );
        assert_eq!(p.exit_status().unwrap().signal(), Some(libc::SIGTERM));
    });
}

#[test]
fn terminate_right_after_start_is_reported_as_sigterm() {
    // The child usually dies before it has read its task, leaving our
    // frames unread in its socket: our read then fails with ECONNRESET,
    // which is the end of the stream, not a broken protocol.
    run(|| async {
        for _ in 0..5 {
            let (_ours, theirs) = pair();
            let mut p = Process::new(hold, theirs).start().unwrap();
            p.terminate().unwrap();
            assert_eq!(
                p.join().await.unwrap_err(),
                ProcessError::Signaled(libc::SIGTERM)
            );
        }
    });
}

#[test]
fn is_alive_and_exit_status_follow_the_child() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut p = Process::new(hold, theirs).start().unwrap();
        expect(&mut ours, b"ready");
        assert!(p.is_alive());
        assert_eq!(p.exit_status(), None);
        ours.write_all(b"ab").unwrap();
        expect(&mut ours, b"AB");
        assert!(p.is_alive());
        drop(ours); // EOF: the child returns
        assert_eq!(p.join().await, Ok(2));
        assert!(!p.is_alive());
        assert!(p.exit_status().unwrap().success());
    });
}

#[test]
fn the_name_is_what_the_os_shows() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut p = Process::new(hold, theirs)
            .name("spindle-child")
            .start()
            .unwrap();
        assert_eq!(p.name(), "spindle-child");
        expect(&mut ours, b"ready");
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", p.pid())).unwrap();
        assert_eq!(comm.trim_end(), "spindle-child");
        drop(ours);
        assert_eq!(p.join().await, Ok(0));

        // The OS keeps 15 bytes; `name()` keeps them all.
        let (mut ours, theirs) = pair();
        let mut p = Process::new(hold, theirs)
            .name("a-rather-long-process-name")
            .start()
            .unwrap();
        expect(&mut ours, b"ready");
        let comm = std::fs::read_to_string(format!("/proc/{}/comm", p.pid())).unwrap();
        assert_eq!(comm.trim_end(), "a-rather-long-p");
        assert_eq!(p.name(), "a-rather-long-process-name");
        drop(ours);
        assert_eq!(p.join().await, Ok(0));
    });
}

#[test]
fn a_daemon_dies_with_its_parent() {
    run(|| async {
        // The test process starts a parent, which starts a daemon holding
        // `theirs`, and exits. Nothing else closes the daemon's copy.
        let (mut ours, theirs) = pair();
        let mut parent = Process::new(start_grandchild, (theirs, true))
            .start()
            .unwrap();
        expect(&mut ours, b"ready");
        let daemon = parent.join().await.unwrap();
        // The parent has exited: the daemon was killed, which closed its
        // end of the socket (it would otherwise answer and wait).
        spindle_runtime::spawn_blocking(move || wait_eof(&mut ours))
            .await
            .unwrap();
        // SAFETY: pidfd_open takes a pid and flags; the fd is closed below.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, daemon as libc::pid_t, 0) };
        if fd >= 0 {
            // Still listed: it must be dead (a zombie of init's at most).
            let mut pfd = libc::pollfd {
                fd: fd as i32,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, then closing the pidfd we own.
            let ready = unsafe { libc::poll(&mut pfd, 1, 20_000) };
            // SAFETY: closes the pidfd opened above.
            unsafe { libc::close(fd as i32) };
            assert_eq!(ready, 1, "the daemon {daemon} outlived its parent");
        }
    });
}

#[test]
fn a_daemon_outlives_the_thread_that_started_it() {
    run(|| async {
        // The kernel's parent-death signal follows the thread that forked
        // the child: a daemon started on a short-lived thread must not die
        // when that thread ends, only with the process.
        let (mut ours, theirs) = pair();
        let handle = spindle_runtime::Handle::current();
        let mut p = std::thread::spawn(move || {
            let _runtime = handle.enter();
            Process::new(hold, theirs).daemon(true).start().unwrap()
        })
        .join()
        .unwrap();
        expect(&mut ours, b"ready");
        ours.write_all(b"s").unwrap();
        expect(&mut ours, b"S");
        assert!(p.is_alive());
        drop(ours);
        assert_eq!(p.join().await, Ok(1));
    });
}

#[test]
fn a_non_daemon_outlives_its_parent() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut parent = Process::new(start_grandchild, (theirs, false))
            .start()
            .unwrap();
        expect(&mut ours, b"ready");
        parent.join().await.unwrap();
        // The parent is gone; the orphan still answers.
        ours.write_all(b"x").unwrap();
        expect(&mut ours, b"X");
        drop(ours); // now it returns and exits (init reaps it)
    });
}

#[test]
fn a_dropped_process_is_reaped_in_the_background() {
    run(|| async {
        // Dropped after it finished.
        let p = Process::new(square, 3).start().unwrap();
        let pid = p.pid();
        drop(p);
        wait_reaped(pid).await;

        // Dropped while it runs: the drop does not wait, and the child is
        // reaped once it exits.
        let (mut ours, theirs) = pair();
        let p = Process::new(hold, theirs).start().unwrap();
        let pid = p.pid();
        expect(&mut ours, b"ready");
        drop(p);
        assert!(proc_state(pid).is_some_and(|(state, _)| state != 'Z'));
        ours.write_all(b"q").unwrap();
        expect(&mut ours, b"Q");
        drop(ours);
        wait_reaped(pid).await;
    });
}

#[test]
fn a_socket_end_handed_to_a_process() {
    run(|| async {
        let (mut ours, theirs) = pair();
        let mut p = Process::new(talk, theirs).start().unwrap();
        expect(&mut ours, b"ping");
        ours.write_all(b"pong").unwrap();
        assert_eq!(p.join().await.unwrap(), "pong");
    });
}

#[test]
fn descriptors_come_back_in_results() {
    run(|| async {
        let mut p = Process::new(pipe_with, "through a pipe".to_string())
            .start()
            .unwrap();
        let reader = p.join().await.unwrap();
        let mut text = String::new();
        std::fs::File::from(reader)
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "through a pipe");
    });
}

#[test]
fn more_descriptors_than_one_message_holds() {
    run(|| async {
        // 260 > SCM_MAX_FD (253): two sends each way.
        let (mut ours, theirs) = pair();
        let fds: Vec<OwnedFd> = (0..260).map(|_| theirs.try_clone().unwrap()).collect();
        drop(theirs);
        let mut p = Process::new(echo_fds, fds).start().unwrap();
        let (n, back) = p.join().await.unwrap();
        assert_eq!((n, back.len()), (260, 260));
        let mut last = UnixStream::from(back.into_iter().last().unwrap());
        last.write_all(b"z").unwrap();
        expect(&mut ours, b"z");
    });
}

#[test]
fn pool_jobs_carry_descriptors_both_ways() {
    run(|| async {
        let pool = ProcessPool::new(2).unwrap();
        // One job talks over a socket end it was handed.
        let (mut ours, theirs) = pair();
        let job = pool.submit(talk, theirs);
        spindle_runtime::spawn_blocking(move || {
            expect(&mut ours, b"ping");
            ours.write_all(b"pong").unwrap();
        })
        .await
        .unwrap();
        assert_eq!(job.await.unwrap(), "pong");

        // Many jobs in flight at once, each with its own pipe: every
        // descriptor reaches its own job.
        let pipes: Vec<(std::io::PipeReader, std::io::PipeWriter)> =
            (0..50).map(|_| std::io::pipe().unwrap()).collect();
        let (readers, writers): (Vec<_>, Vec<_>) = pipes.into_iter().unzip();
        let args = writers
            .into_iter()
            .enumerate()
            .map(|(i, w)| (i as u8, OwnedFd::from(w)));
        let tags = pool.map(tag, args).await.unwrap();
        assert_eq!(tags, (0..50).collect::<Vec<u8>>());
        for (i, mut r) in readers.into_iter().enumerate() {
            let mut got = Vec::new();
            r.read_to_end(&mut got).unwrap();
            assert_eq!(got, [i as u8]);
        }

        // Results with descriptors, many at once.
        let messages: Vec<String> = (0..50).map(|i| format!("message {i}")).collect();
        let readers = pool.map(pipe_with, messages.clone()).await.unwrap();
        for (reader, message) in readers.into_iter().zip(messages) {
            let mut text = String::new();
            std::fs::File::from(reader)
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text, message);
        }

        // More than one message's worth, both ways.
        let (mut ours, theirs) = pair();
        let fds: Vec<OwnedFd> = (0..300).map(|_| theirs.try_clone().unwrap()).collect();
        drop(theirs);
        let (n, back) = pool.submit(echo_fds, fds).await.unwrap();
        assert_eq!((n, back.len()), (300, 300));
        UnixStream::from(back.into_iter().next().unwrap())
            .write_all(b"y")
            .unwrap();
        expect(&mut ours, b"y");
        pool.shutdown().await;
    });
}

#[test]
fn a_job_sent_again_after_its_worker_died_keeps_its_descriptors() {
    run(|| async {
        // One worker: the job behind the one that kills it was sent (or
        // queued) to the same worker, and goes to its replacement.
        let pool = ProcessPool::new(1).unwrap();
        let killer = pool.submit(abort_now, ());
        let (mut ours, theirs) = pair();
        let job = pool.submit(talk, theirs);
        assert!(killer.await.unwrap_err().is_worker_died());
        spindle_runtime::spawn_blocking(move || {
            expect(&mut ours, b"ping");
            ours.write_all(b"pong").unwrap();
        })
        .await
        .unwrap();
        assert_eq!(job.await.unwrap(), "pong");
        pool.shutdown().await;
    });
}

#[test]
fn a_function_outside_the_executable_is_refused() {
    run(|| async {
        let labs: unsafe extern "C" fn(libc::c_long) -> libc::c_long = libc::labs;
        // SAFETY: never called through this type: `start` must refuse it
        // before anything runs.
        let foreign: fn(i64) -> i64 = unsafe { std::mem::transmute(labs) };
        let err = Process::new(foreign, -5).start().unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    support::bounded(30, || {
        let err = Process::new(square, 2).start().unwrap_err();
        assert!(err.to_string().contains("inside a runtime"), "{err}");
    });
}

#[test]
fn processes_and_their_joins_can_move_between_threads() {
    fn send_and_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    run(|| async {
        let mut p = Process::new(square, 5).start().unwrap();
        send_and_sync(&p);
        let join = p.join();
        send(&join);
        assert_eq!(join.await, Ok(25));
        // Joined from another task (on any worker of a multi-threaded runtime).
        let mut p = Process::new(square, 6).start().unwrap();
        let joined = spindle_runtime::spawn(async move { p.join().await });
        assert_eq!(joined.await.unwrap(), Ok(36));
    });
}
