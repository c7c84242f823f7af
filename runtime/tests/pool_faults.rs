//! ProcessPool fault tests (issue 9): functions outside the executable,
//! signals and descriptors in forked workers, SIGPIPE in the parent,
//! outside kills during start-up, and panics in forked workers while other
//! parent threads hold std's locks. Its own `main` (`harness = false` in
//! runtime/Cargo.toml); see `pool_support`.

mod pool_support;

use std::process::Command;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use pool_support::*;
use spindle_runtime::pool::{PoolError, ProcessPool, StartMethod};
use spindle_runtime::signal::Signal;
use spindle_runtime::time::timeout;
use spindle_runtime::Runtime;

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
    assert_eq!(
        answer.unwrap_err().panic_message(),
        Some("deliberate panic (testing a job that panics): odd number 1")
    );
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
        .spawn(|| panic!("deliberate panic (holding the panic hook lock in a test)"))
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
    assert_eq!(
        answer.unwrap_err().panic_message(),
        Some("deliberate panic (testing a job that panics): odd number 1")
    );
}

fn main() {
    test_main(
        tests![
            functions_outside_the_executable_are_refused,
            forked_workers_start_with_default_signal_actions,
            parent_with_default_sigpipe_survives_a_worker_dying_mid_write,
            outside_kills_before_the_handshake_do_not_break_the_pool,
            workers_that_cannot_start_still_break_the_pool,
            forked_panic_while_a_parent_thread_holds_stderr,
            forked_panic_while_the_panic_hook_lock_is_contended,
        ],
        &[
            ("sigpipe", sigpipe_mode as fn()),
            ("fork-panic-stderr", fork_panic_stderr_mode),
            ("fork-panic-hook", fork_panic_hook_mode),
        ],
    );
}
