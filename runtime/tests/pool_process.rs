//! ProcessPool tests. This file is its own `main` (`harness = false` in
//! runtime/Cargo.toml): pool workers re-execute this very binary, and a
//! worker must reach `worker_main()` before anything else, which libtest's
//! generated `main` would not do. So `main` calls it first, then runs each
//! test function in turn (each on a fresh runtime, under a timeout),
//! printing `test <name> ... ok` and a final `N passed, M failed`; it exits
//! non-zero if anything failed. Pass a substring to run only matching tests.
//!
//! No test orders events with sleeps: a task tells the test it has started
//! by writing to a FIFO, and a process's end is awaited through a pidfd.
//!
//! Tests that could kill or hang the whole process when the code under test
//! is wrong (a parent dying of `SIGPIPE`, a worker deadlocked on a lock)
//! run in a child process of this binary (`POOL_TEST_MODE=<mode>`), which
//! the test waits for under a watchdog.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use spindle_runtime::pool::{PoolError, ProcessPool, StartMethod};
use spindle_runtime::signal::Signal;
use spindle_runtime::time::timeout;
use spindle_runtime::{spawn_blocking, Runtime};

fn square(x: u64) -> u64 {
    x * x
}

fn shout(s: String) -> String {
    s.to_uppercase()
}

fn sum_pair((a, b): (i32, Vec<i32>)) -> Option<i64> {
    Some(i64::from(a) + b.iter().map(|&x| i64::from(x)).sum::<i64>())
}

fn odd_panics(x: u32) -> u32 {
    assert!(x.is_multiple_of(2), "odd number {x}");
    x / 2
}

fn abort_now(_: ()) {
    std::process::abort();
}

fn exit_seven(_: ()) {
    std::process::exit(7);
}

fn reverse(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// Tells the test its pid through the FIFO, then sleeps until killed.
fn report_then_sleep(fifo: String) -> u32 {
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    write!(f, "{}", std::process::id()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_secs(120));
    0
}

fn run(test: impl std::future::Future<Output = ()>) {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        timeout(Duration::from_secs(120), test)
            .await
            .expect("test timed out");
    });
    drop(rt);
    assert_no_children();
}

/// No child process of ours exists, not even a zombie (scans /proc).
fn assert_no_children() {
    let me = std::process::id();
    let mut kids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces; split after ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("");
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me {
            kids.push(format!("{:?} state {state}", entry.file_name()));
        }
    }
    assert!(kids.is_empty(), "children left behind: {kids:?}");
}

fn mkfifo(name: &str) -> String {
    let path = std::env::temp_dir().join(format!("spindle-pool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    assert!(Command::new("mkfifo")
        .arg(&path)
        .status()
        .unwrap()
        .success());
    path.to_str().unwrap().to_owned()
}

/// Blocks until process `pid` (not necessarily our child) has exited.
fn wait_gone(pid: u32, limit: Duration) -> bool {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        return true; // already gone (ESRCH)
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; then we close the fd we own.
    let ready = unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as i32) };
    // SAFETY: closes the pidfd opened above.
    unsafe { libc::close(fd) };
    ready == 1
}

/// Reads the pid a task or a gated worker writes into `fifo`.
async fn read_pid(fifo: &str) -> u32 {
    let f = fifo.to_owned();
    spawn_blocking(move || std::fs::read_to_string(f).unwrap())
        .await
        .unwrap()
        .parse()
        .unwrap()
}

fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a process of ours that has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// Runs this binary again in `POOL_TEST_MODE=mode` and expects it to exit
/// with status 0 within `limit` (it is killed otherwise).
fn run_in_child(mode: &str, limit: Duration) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("POOL_TEST_MODE", mode)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let finished = wait_gone(child.id(), limit);
    if !finished {
        child.kill().unwrap();
    }
    let status = child.wait().unwrap();
    assert!(finished, "{mode}: no result within {limit:?} (hung)");
    assert!(status.success(), "{mode}: the child ended with {status:?}");
    assert_no_children();
}

/// The paths of the start gates below, for the pool of process `parent`.
fn gate_path(parent: u32, name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("spindle-pool-{parent}-{name}"))
}

/// Runs in every process of this binary before `worker_main`. A worker
/// whose parent created the FIFO `gate` reports its pid there and waits to
/// be killed, before its handshake; one whose parent created the file
/// `exitgate` exits with status 3 before its handshake (a worker that
/// cannot start).
fn start_gates() {
    if std::env::var_os("SPINDLE_POOL_WORKER").is_none() {
        return;
    }
    let parent = std::os::unix::process::parent_id();
    if gate_path(parent, "exitgate").exists() {
        std::process::exit(3);
    }
    let gate = gate_path(parent, "gate");
    if gate.exists() {
        let mut f = std::fs::OpenOptions::new().write(true).open(&gate).unwrap();
        write!(f, "{}", std::process::id()).unwrap();
        drop(f);
        loop {
            // Waiting to be killed; nothing is ordered by this sleep.
            std::thread::sleep(Duration::from_secs(60));
        }
    }
}

fn submit_and_map_keep_order() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        assert_eq!(pool.worker_pids().len(), 2);
        let handles: Vec<_> = (0..100u64).map(|i| pool.submit(square, i)).collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), (i * i) as u64);
        }
        let squares = pool.map(square, 0..20_000u64).await.unwrap();
        assert!(squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i * i) as u64));
        assert_eq!(pool.submit(shout, "hi".to_string()).await.unwrap(), "HI");
        assert_eq!(
            pool.submit(sum_pair, (1, vec![2, 3])).await.unwrap(),
            Some(6)
        );
        assert!(pool.map(square, Vec::new()).await.unwrap().is_empty());
        pool.shutdown().await;
        assert!(pool.worker_pids().is_empty());
        let late = pool.submit(square, 3).await;
        assert_eq!(late, Err(PoolError::ShutDown));
    });
}

fn panic_is_an_error_and_the_worker_survives() {
    run(async {
        let pool = ProcessPool::new(1).unwrap();
        let pids = pool.worker_pids();
        let err = pool.submit(odd_panics, 7).await.unwrap_err();
        assert_eq!(err.panic_message(), Some("odd number 7"));
        assert_eq!(pool.submit(odd_panics, 8).await, Ok(4));
        let all = pool.map(odd_panics, [2, 4, 5, 6]).await;
        assert!(matches!(all, Err(PoolError::Panicked(_))));
        assert_eq!(pool.worker_pids(), pids, "a panic must not cost the worker");
        pool.shutdown().await;
    });
}

fn sigkill_mid_task_fails_only_that_task() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let before = pool.worker_pids();
        let fifo = mkfifo("kill");
        let victim = pool.submit(report_then_sleep, fifo.clone());
        // Tasks queued behind the victim on the same worker are sent again.
        let others: Vec<_> = (0..50u64).map(|i| pool.submit(square, i)).collect();
        let f = fifo.clone();
        let pid: u32 = spawn_blocking(move || std::fs::read_to_string(f).unwrap())
            .await
            .unwrap()
            .parse()
            .unwrap();
        assert!(before.contains(&pid), "{pid} is not one of {before:?}");
        // SAFETY: kill(2) on a worker pid of ours that is alive (it just wrote).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let err = victim.await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: Some(9),
                exit_code: None
            }
        );
        assert!(err.to_string().contains("SIGKILL"), "{err}");
        for (i, h) in others.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), (i * i) as u64);
        }
        let squares = pool.map(square, 0..1000u64).await.unwrap();
        assert_eq!(squares[999], 998_001);
        let after = pool.worker_pids();
        assert_eq!(after.len(), 2);
        assert!(!after.contains(&pid), "the killed worker was replaced");
        pool.shutdown().await;
        std::fs::remove_file(fifo).unwrap();
    });
}

fn abort_and_exit_are_reported() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let err = pool.submit(abort_now, ()).await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: Some(libc::SIGABRT),
                exit_code: None
            }
        );
        let err = pool.submit(exit_seven, ()).await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: None,
                exit_code: Some(7)
            }
        );
        assert_eq!(pool.map(square, 0..10u64).await.unwrap()[9], 81);
        assert_eq!(pool.worker_pids().len(), 2);
        pool.shutdown().await;
    });
}

fn large_arguments_and_results() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let big: Vec<u8> = (0..64usize << 20).map(|i| (i % 251) as u8).collect();
        // Three at once: two share a worker, so a 64 MB write and a 64 MB
        // read are in flight on the same socket.
        let handles: Vec<_> = (0..3).map(|_| pool.submit(reverse, big.clone())).collect();
        for h in handles {
            let back = h.await.unwrap();
            assert_eq!(back.len(), big.len());
            assert!(back.iter().rev().eq(big.iter()));
        }
        pool.shutdown().await;
    });
}

/// The descriptors open in this process: number and `flags:` from fdinfo.
fn open_fds() -> Vec<(i32, u32)> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if target.ends_with("fdinfo") {
            continue; // the listing's own descriptor
        }
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap()
            .trim();
        fds.push((fd, u32::from_str_radix(flags, 8).unwrap()));
    }
    fds
}

fn every_descriptor_is_cloexec_and_workers_inherit_only_their_socket() {
    run(async {
        // Descriptors inherited from whoever started the test are not ours to judge.
        let before: HashSet<i32> = open_fds().into_iter().map(|(fd, _)| fd).collect();
        let pool = ProcessPool::new(2).unwrap();
        assert_eq!(pool.map(square, 0..100u64).await.unwrap().len(), 100);
        let new: Vec<(i32, u32)> = open_fds()
            .into_iter()
            .filter(|(fd, _)| !before.contains(fd))
            .collect();
        let sockets = new
            .iter()
            .filter(|(fd, _)| {
                let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
                target.to_string_lossy().starts_with("socket:")
            })
            .count();
        assert!(sockets >= 2, "expected the pool's sockets among {new:?}");
        for (fd, flags) in new {
            assert!(
                flags & libc::O_CLOEXEC as u32 != 0,
                "fd {fd} lacks O_CLOEXEC"
            );
        }
        for pid in pool.worker_pids() {
            let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().into_string().unwrap())
                .filter(|n| n.parse::<i32>().unwrap() > 2)
                .collect();
            assert_eq!(fds.len(), 1, "worker {pid} holds {fds:?}");
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{}", fds[0])).unwrap();
            assert!(
                target.to_str().unwrap().starts_with("socket:"),
                "{target:?}"
            );
        }
        pool.shutdown().await;
    });
}

fn fork_start_method_works() {
    run(async {
        let pool = ProcessPool::builder()
            .workers(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        assert_eq!(
            pool.map(square, 0..5000u64).await.unwrap()[4999],
            4999 * 4999
        );
        assert!(pool.submit(odd_panics, 1).await.is_err());
        let err = pool.submit(abort_now, ()).await.unwrap_err();
        assert!(err.is_worker_died());
        assert_eq!(pool.submit(square, 12).await, Ok(144));
        pool.shutdown().await;
    });
}

fn functions_outside_the_executable_are_refused() {
    run(async {
        let pool = ProcessPool::new(1).unwrap();
        let pids = pool.worker_pids();
        let labs: unsafe extern "C" fn(libc::c_long) -> libc::c_long = libc::labs;
        // SAFETY: a function pointer to libc's `labs` (in libc.so, outside
        // this executable) given a Rust signature. It is never called
        // through this type: the pool must refuse it before sending it.
        let foreign: fn(i64) -> i64 = unsafe { std::mem::transmute(labs) };
        let err = pool.submit(foreign, -5).await.unwrap_err();
        assert!(
            matches!(&err, PoolError::Rejected(why) if why.contains("executable")),
            "{err:?}"
        );
        let err = pool.map(foreign, [1, -2]).await.unwrap_err();
        assert!(matches!(&err, PoolError::Rejected(_)), "{err:?}");
        assert_eq!(pool.worker_pids(), pids, "no worker may die of it");
        assert_eq!(pool.submit(square, 5).await, Ok(25));
        pool.shutdown().await;
    });
}

/// The mask of caught signals (`SigCgt`) of process `pid`.
fn caught_signals(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .unwrap()
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

fn forked_workers_start_with_default_signal_actions() {
    run(async {
        // spindle's handler (and its self-pipe) for two signals, in the parent.
        let _usr1 = Signal::new(libc::SIGUSR1).unwrap();
        let _usr2 = Signal::new(libc::SIGUSR2).unwrap();
        let mask = (1u64 << (libc::SIGUSR1 - 1)) | (1u64 << (libc::SIGUSR2 - 1));
        assert_eq!(caught_signals(std::process::id()) & mask, mask);
        let pool = ProcessPool::builder()
            .workers(1)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        assert_eq!(pool.submit(square, 3).await, Ok(9));
        let worker = pool.worker_pids()[0];
        assert_eq!(
            caught_signals(worker) & mask,
            0,
            "worker {worker} inherited spindle's signal handler"
        );
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{worker}/fd"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| n.parse::<i32>().unwrap() > 2)
            .collect();
        assert_eq!(fds.len(), 1, "worker {worker} holds {fds:?}");
        // The default action of SIGUSR1 ends the worker, as it would any program.
        let fifo = mkfifo("usr1");
        let victim = pool.submit(report_then_sleep, fifo.clone());
        let pid = read_pid(&fifo).await;
        assert_eq!(pid, worker);
        send_signal(pid, libc::SIGUSR1);
        assert_eq!(
            victim.await,
            Err(PoolError::WorkerDied {
                signal: Some(libc::SIGUSR1),
                exit_code: None
            })
        );
        assert_eq!(pool.submit(square, 4).await, Ok(16));
        pool.shutdown().await;
        std::fs::remove_file(fifo).unwrap();
    });
}

fn parent_with_default_sigpipe_survives_a_worker_dying_mid_write() {
    run_in_child("sigpipe", Duration::from_secs(60));
}

/// `POOL_TEST_MODE=sigpipe`: with SIGPIPE at its default action (killing
/// the process), a worker dies while the parent still has 32 MB to write
/// to it.
fn sigpipe_mode() {
    // SAFETY: sets SIGPIPE's disposition back to the default, as a CLI tool
    // that wants `| head` to end it would; no handler is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    Runtime::new().unwrap().block_on(async {
        let pool = ProcessPool::new(1).unwrap();
        let fifo = mkfifo("sigpipe");
        let victim = pool.submit(report_then_sleep, fifo.clone());
        let pid = read_pid(&fifo).await;
        // The worker is busy and reads nothing: this fills its socket.
        let big: Vec<u8> = (0..32usize << 20).map(|i| (i % 251) as u8).collect();
        let pending = pool.submit(reverse, big.clone());
        send_signal(pid, libc::SIGKILL);
        assert!(victim.await.unwrap_err().is_worker_died());
        let back = pending.await.unwrap();
        assert!(back.iter().rev().eq(big.iter()));
        pool.shutdown().await;
        std::fs::remove_file(fifo).unwrap();
    });
}

fn outside_kills_before_the_handshake_do_not_break_the_pool() {
    run(async {
        let pool = ProcessPool::new(1).unwrap();
        let gate = gate_path(std::process::id(), "gate");
        let gate = gate.to_str().unwrap().to_owned();
        assert!(Command::new("mkfifo")
            .arg(&gate)
            .status()
            .unwrap()
            .success());
        send_signal(pool.worker_pids()[0], libc::SIGKILL);
        // Three replacements in a row are killed before their handshake
        // (as many as used to mark the pool broken).
        for round in 0..3 {
            let pid = read_pid(&gate).await;
            if round == 2 {
                // The next replacement starts only after this one died.
                std::fs::remove_file(&gate).unwrap();
            }
            send_signal(pid, libc::SIGKILL);
        }
        assert_eq!(pool.submit(square, 7).await, Ok(49));
        assert_eq!(pool.worker_pids().len(), 1);
        pool.shutdown().await;
    });
}

fn workers_that_cannot_start_still_break_the_pool() {
    run(async {
        let pool = ProcessPool::new(1).unwrap();
        let gate = gate_path(std::process::id(), "exitgate");
        std::fs::write(&gate, b"").unwrap();
        send_signal(pool.worker_pids()[0], libc::SIGKILL);
        let err = pool.submit(square, 2).await.unwrap_err();
        std::fs::remove_file(&gate).unwrap();
        assert!(
            matches!(&err, PoolError::Broken(why) if why.contains("3 times")),
            "{err:?}"
        );
        assert!(matches!(
            pool.submit(square, 2).await,
            Err(PoolError::Broken(_))
        ));
        pool.shutdown().await;
    });
}

fn forked_panic_while_a_parent_thread_holds_stderr() {
    run_in_child("fork-panic-stderr", Duration::from_secs(60));
}

/// Builds a one-worker fork pool, runs a panicking job under a watchdog and
/// returns the outcome (`None`: no answer, the worker hung). Calls
/// `release` before returning, whatever happened.
fn panic_in_fork_pool(release: impl FnOnce()) -> Option<Result<u32, PoolError>> {
    Runtime::new().unwrap().block_on(async {
        let pool = ProcessPool::builder()
            .workers(1)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        let answer = timeout(Duration::from_secs(20), pool.submit(odd_panics, 1))
            .await
            .ok();
        release();
        pool.shutdown().await;
        answer
    })
}

/// `POOL_TEST_MODE=fork-panic-stderr`: a panic hook that prints through
/// the stderr lock (as many do), and another thread holding that lock
/// while the fork pool starts its worker.
fn fork_panic_stderr_mode() {
    std::panic::set_hook(Box::new(|info| eprintln!("test hook: {info}")));
    let (held_tx, held_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let guard = std::io::stderr().lock();
        held_tx.send(()).unwrap();
        let _ = release_rx.recv();
        drop(guard);
    });
    held_rx.recv().unwrap();
    let answer = panic_in_fork_pool(move || drop(release_tx));
    holder.join().unwrap();
    let answer = answer.expect("the panicking job never answered (the worker hung)");
    assert_eq!(answer.unwrap_err().panic_message(), Some("odd number 1"));
}

fn forked_panic_while_the_panic_hook_lock_is_contended() {
    run_in_child("fork-panic-hook", Duration::from_secs(60));
}

/// `POOL_TEST_MODE=fork-panic-hook`: one thread is inside the panic hook
/// (holding std's hook lock for reading) and another waits in `set_hook`
/// for the write lock while the fork pool starts its worker: in a copy of
/// this process, the lock would stay that way forever.
fn fork_panic_hook_mode() {
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let entered = Mutex::new(Some(entered_tx));
    let release = Mutex::new(release_rx);
    std::panic::set_hook(Box::new(move |_| {
        if std::thread::current().name() == Some("hook-holder") {
            if let Some(tx) = entered.lock().unwrap().take() {
                tx.send(()).unwrap();
            }
            let _ = release.lock().unwrap().recv();
        }
    }));
    let holder = std::thread::Builder::new()
        .name("hook-holder".into())
        .spawn(|| panic!("holding the hook lock"))
        .unwrap();
    entered_rx.recv().unwrap();
    let (tid_tx, tid_rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        std::panic::set_hook(Box::new(|_| {}));
    });
    let tid = tid_rx.recv().unwrap();
    // Wait (bounded) until the writer sleeps on the lock: its current
    // system call is futex (202 on x86_64).
    let deadline = Instant::now() + Duration::from_secs(20);
    let syscall = format!("/proc/self/task/{tid}/syscall");
    while !std::fs::read_to_string(&syscall)
        .unwrap_or_default()
        .starts_with(&format!("{} ", libc::SYS_futex))
    {
        assert!(Instant::now() < deadline, "set_hook never blocked");
        std::thread::yield_now();
    }
    let answer = panic_in_fork_pool(move || drop(release_tx));
    assert!(holder.join().is_err());
    writer.join().unwrap();
    let answer = answer.expect("the panicking job never answered (the worker hung)");
    assert_eq!(answer.unwrap_err().panic_message(), Some("odd number 1"));
}

fn callbacks_and_plain_thread_waits() {
    run(async {
        let pool = Arc::new(ProcessPool::new(1).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(square, 9).on_done(move |r| tx.send(r).unwrap());
        // One worker answers in order, and answers are delivered in order:
        // once this one is in, the callback above has run.
        assert_eq!(pool.submit(square, 2).await, Ok(4));
        assert_eq!(rx.try_recv().unwrap(), Ok(81));
        let p = pool.clone();
        let waited = spawn_blocking(move || p.submit(square, 5).wait())
            .await
            .unwrap();
        assert_eq!(waited, Ok(25));
        pool.shutdown().await;
    });
}

fn dropping_the_pool_lets_queued_tasks_finish() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let handle = pool.map(square, 0..1000u64);
        let pids = pool.worker_pids();
        drop(pool);
        assert_eq!(handle.await.unwrap()[10], 100);
        for pid in pids {
            assert!(
                wait_gone(pid, Duration::from_secs(20)),
                "worker {pid} outlived its pool"
            );
        }
    });
    // `run` reaped nothing here by hand: the drivers did (no zombies).
}

fn workers_die_with_their_parent() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("POOL_TEST_ORPHAN", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{line:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in pids {
        assert!(
            wait_gone(pid, Duration::from_secs(20)),
            "worker {pid} outlived its parent"
        );
    }
    assert_no_children();
}

/// The child of `workers_die_with_their_parent`: print the pids, wait to be killed.
fn orphan_mode() {
    Runtime::new().unwrap().block_on(async {
        let pool = ProcessPool::new(2).unwrap();
        let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
        println!("{}", pids.join(" "));
        std::io::stdout().flush().unwrap();
        let _ = spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

fn main() {
    start_gates();
    spindle_runtime::pool::worker_main();
    if std::env::var_os("POOL_TEST_ORPHAN").is_some() {
        orphan_mode();
        return;
    }
    match std::env::var("POOL_TEST_MODE").as_deref() {
        Ok("sigpipe") => return sigpipe_mode(),
        Ok("fork-panic-stderr") => return fork_panic_stderr_mode(),
        Ok("fork-panic-hook") => return fork_panic_hook_mode(),
        Ok(mode) => panic!("unknown POOL_TEST_MODE {mode}"),
        Err(_) => {}
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    macro_rules! tests {
        ($($name:ident),* $(,)?) => { [$((stringify!($name), $name as fn())),*] };
    }
    let tests = tests![
        submit_and_map_keep_order,
        panic_is_an_error_and_the_worker_survives,
        sigkill_mid_task_fails_only_that_task,
        abort_and_exit_are_reported,
        large_arguments_and_results,
        every_descriptor_is_cloexec_and_workers_inherit_only_their_socket,
        fork_start_method_works,
        callbacks_and_plain_thread_waits,
        dropping_the_pool_lets_queued_tasks_finish,
        workers_die_with_their_parent,
        functions_outside_the_executable_are_refused,
        forked_workers_start_with_default_signal_actions,
        parent_with_default_sigpipe_survives_a_worker_dying_mid_write,
        outside_kills_before_the_handshake_do_not_break_the_pool,
        workers_that_cannot_start_still_break_the_pool,
        forked_panic_while_a_parent_thread_holds_stderr,
        forked_panic_while_the_panic_hook_lock_is_contended,
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in tests {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        print!("test {name} ... ");
        std::io::stdout().flush().unwrap();
        match catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => {
                println!("ok");
                passed += 1;
            }
            Err(_) => {
                println!("FAILED");
                failed += 1;
            }
        }
    }
    println!("\ntest result: {passed} passed, {failed} failed");
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
