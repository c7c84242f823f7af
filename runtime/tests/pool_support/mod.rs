//! What the `harness = false` process-pool test binaries (`pool_process`,
//! `pool_faults`) share: the job functions, the helpers, and [`main`]'s
//! test runner.
//!
//! Pool workers re-execute the test binary and start serving before `main`
//! (the runtime's load-time hook), so libtest's `main` would do; these
//! binaries have their own because their tests count *every* child
//! process of the test process (no zombie, no worker left behind), which
//! needs one test at a time, and because some tests run the binary again
//! in a child mode. Each binary's `main` calls [`test_main`], which runs
//! each test function in turn (each on a fresh runtime, under a timeout),
//! printing `test <name> ... ok` and a final `N passed, M failed`; it exits
//! non-zero if anything failed. Pass a substring to run only matching
//! tests.
//!
//! No test orders events with sleeps: a task tells the test it has started
//! by writing to a FIFO, and a process's end is awaited through a pidfd.
//! Tests that could kill or hang the whole process when the code under
//! test is wrong run in a child process of the binary
//! (`POOL_TEST_MODE=<mode>`), which the test waits for under a watchdog.

#![allow(dead_code)] // each binary uses a different part

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::time::Duration;

use spindle_runtime::time::timeout;
use spindle_runtime::{spawn_blocking, Runtime};

pub fn square(x: u64) -> u64 {
    x * x
}

pub fn shout(s: String) -> String {
    s.to_uppercase()
}

pub fn sum_pair((a, b): (i32, Vec<i32>)) -> Option<i64> {
    Some(i64::from(a) + b.iter().map(|&x| i64::from(x)).sum::<i64>())
}

/// Halves an even number; panics on purpose for an odd one. The message
/// says so, since it shows in the test output.
pub fn odd_panics(x: u32) -> u32 {
    assert!(
        x.is_multiple_of(2),
        "deliberate panic (testing a job that panics): odd number {x}"
    );
    x / 2
}

pub fn abort_now(_: ()) {
    std::process::abort();
}

pub fn exit_seven(_: ()) {
    std::process::exit(7);
}

pub fn reverse(mut v: Vec<u8>) -> Vec<u8> {
    v.reverse();
    v
}

/// Tells the test its pid through the FIFO, then sleeps until killed.
pub fn report_then_sleep(fifo: String) -> u32 {
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    write!(f, "{}", std::process::id()).unwrap();
    drop(f);
    std::thread::sleep(Duration::from_secs(120));
    0
}

pub fn run(test: impl std::future::Future<Output = ()>) {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        timeout(Duration::from_secs(120), test)
            .await
            .expect("test timed out");
    });
    drop(rt);
    assert_no_children();
}

/// Waits (up to 20 s) until the pool has `n` live workers. A replacement is
/// started by the pool's reaper when it learns of a death, which on a
/// multi-threaded runtime may run on another worker after the job that saw
/// the death has already answered: the count is then checked by polling.
pub async fn workers_back(pool: &spindle_runtime::pool::ProcessPool, n: usize) -> Vec<u32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pids = pool.worker_pids();
        if pids.len() == n || std::time::Instant::now() > deadline {
            return pids;
        }
        spindle_runtime::time::sleep(Duration::from_millis(1)).await;
    }
}

/// No child process of ours exists, not even a zombie (scans /proc).
pub fn assert_no_children() {
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

pub fn mkfifo(name: &str) -> String {
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
pub fn wait_gone(pid: u32, limit: Duration) -> bool {
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
pub async fn read_pid(fifo: &str) -> u32 {
    let f = fifo.to_owned();
    spawn_blocking(move || std::fs::read_to_string(f).unwrap())
        .await
        .unwrap()
        .parse()
        .unwrap()
}

pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a process of ours that has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// Runs this binary again in `POOL_TEST_MODE=mode` and expects it to exit
/// with status 0 within `limit` (it is killed otherwise).
pub fn run_in_child(mode: &str, limit: Duration) {
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
pub fn gate_path(parent: u32, name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("spindle-pool-{parent}-{name}"))
}

/// Runs in every process of this binary before the runtime's own
/// load-time hook turns a worker into a worker: a constructor in an
/// `.init_array.NNNNN` priority section, which the linker sorts before the
/// plain `.init_array` entries (the runtime's). A worker
/// whose parent created the FIFO `gate` reports its pid there and waits to
/// be killed, before its handshake; one whose parent created the file
/// `exitgate` exits with status 3 before its handshake (a worker that
/// cannot start).
pub fn start_gates() {
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

extern "C" fn start_gates_at_load() {
    if std::panic::catch_unwind(start_gates).is_err() {
        std::process::exit(4);
    }
}

/// Calls [`start_gates`] before `main`, and before the runtime's hook.
// SAFETY: `.init_array` entries are called by the loader with (argc, argv,
// envp), which a C function without parameters may ignore; the function
// does not unwind (it catches panics). Priority 500 sorts after std's own
// (99, which records the command line) and before plain `.init_array`.
#[used]
#[unsafe(link_section = ".init_array.00500")]
static START_GATES: extern "C" fn() = start_gates_at_load;

/// A test: its name and its function.
pub type Test = (&'static str, fn());

/// The `main` of a pool test binary: serve as a worker if started as one,
/// run a child mode if asked (`modes`: name and function), else run `tests`.
pub fn test_main(tests: &[Test], modes: &[Test]) {
    if let Ok(mode) = std::env::var("POOL_TEST_MODE") {
        let (_, run) = modes
            .iter()
            .find(|(name, _)| *name == mode)
            .unwrap_or_else(|| panic!("unknown POOL_TEST_MODE {mode}"));
        run();
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let (mut passed, mut failed) = (0, 0);
    for &(name, test) in tests {
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

/// `[(name, fn)]` from a list of function names.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => { &[$((stringify!($name), $name as fn())),*] };
}
