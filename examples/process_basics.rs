//! *Course notes*: `multiprocessing.Process`, one section at a time, with
//! `spindle::process::Process`.
//!
//! ```text
//! cargo run --example process_basics
//! ```
//!
//! 1. `Process(target=fun, args=("test",))`, `start()`, `join()`: the child
//!    has a memory of its own; what it changes, the parent does not see.
//! 2. Several children started in a loop, then joined in a loop.
//! 3. The attributes: `name`, `pid`, `is_alive()`, and `exitcode` after
//!    `join` (here `exit_status()`; a child that calls `exit(3)` has
//!    exit code 3).
//! 4. `terminate()`: the child is ended by `SIGTERM` (Python's exit code
//!    -15), and `join` says so.
//! 5. `daemon = True`: the child dies with its parent. The parent here is a
//!    `Process` too, so that the program can watch it happen: the parent
//!    starts a daemon and a normal child, and exits; the daemon is killed,
//!    the normal child runs on.
//!
//! There is nothing to add to `main` for this: a child is this program run
//! again, and it runs its function before `main` would start (see the
//! `spindle::process` docs). Where the notes' child is a copy of the
//! parent (`fork`), this one starts fresh, so it sees the program's
//! statics at their initial values, not the parent's changes.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use clap::Parser;
use spindle::process::Process;

/// The course notes' `multiprocessing.Process` sections with
/// `spindle::process::Process`: start and join, several children, name,
/// pid, is_alive and exit code, terminate, and a daemon that dies with its
/// parent. Takes no arguments.
#[derive(Parser, Debug)]
#[command(name = "process_basics")]
struct Args {}

/// The notes' global `a = 1`.
static A: AtomicU32 = AtomicU32::new(1);

/// Section 1, the child's event: changes its own `a`.
fn fun(label: String) -> u32 {
    println!(
        "child event ({label}): a = {} here",
        A.load(Ordering::SeqCst)
    );
    A.store(10000, Ordering::SeqCst);
    A.load(Ordering::SeqCst)
}

/// Section 2: three things to do, each in a process of its own.
fn thing(what: String) {
    println!(
        "{what}: parent {} ---- child {}",
        std::os::unix::process::parent_id(),
        std::process::id()
    );
}

/// Section 3, the notes' worker: prints three times, then exits with
/// status 3 (`sys.exit(3)`) instead of returning.
fn worker(name: String) {
    for _ in 0..3 {
        println!("I'm {name}");
        println!("I'm working.....");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::process::exit(3);
}

/// Section 4: works until it is stopped; says so on `fd` once started.
fn endless(fd: OwnedFd) {
    UnixStream::from(fd)
        .write_all(b"up")
        .expect("parent listening");
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Section 5, the parent process: starts a daemon and a normal child that
/// both hold a socket end (`daemon`, `normal`), reports their pids, and
/// exits.
fn parent((daemon, normal, gate): (OwnedFd, OwnedFd, OwnedFd)) -> (u32, u32) {
    spindle::block_on(async move {
        let d = Process::new(hold, daemon)
            .daemon(true)
            .start()
            .expect("start");
        let n = Process::new(hold, normal).start().expect("start");
        // Wait until the top has heard both say "up" (so the daemon is not
        // killed before it had a chance to), then exit.
        let _ = UnixStream::from(gate).read(&mut [0u8; 1]);
        (d.pid(), n.pid())
        // Both dropped without `join`: they run on, and this process exits.
    })
}

/// Says "up", then holds its socket end until the other side closes it.
fn hold(fd: OwnedFd) {
    let mut sock = UnixStream::from(fd);
    sock.write_all(b"up").expect("parent listening");
    let _ = sock.read(&mut [0u8; 1]);
}

/// Python's `exitcode`: the exit status, or minus the signal number.
fn exitcode(status: Option<ExitStatus>) -> Option<i32> {
    status.map(|s| s.code().unwrap_or_else(|| -s.signal().unwrap_or(0)))
}

/// Reads `n` bytes from `sock` (waiting at most 10 s); false if they did
/// not come.
fn read_some(sock: &mut UnixStream, n: usize) -> bool {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = vec![0u8; n];
    sock.read_exact(&mut buf).is_ok()
}

/// True if the other end of `sock` is closed (waiting at most 10 s): every
/// process that held it has ended.
fn closed(sock: &mut UnixStream) -> bool {
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    matches!(sock.read(&mut [0u8; 1]), Ok(0))
}

fn main() -> std::io::Result<()> {
    Args::parse();
    spindle::block_on(async {
        println!("== 1. Process(target=fun, args=('test',)), start, join");
        A.store(100, Ordering::SeqCst);
        let mut p = Process::new(fun, "test".to_string()).start()?; // p.start()
        println!("parent {}: this is the parent", std::process::id());
        let child_a = p.join().await?; // p.join()
        println!(
            "the child's a ended as {child_a}; the parent's is still {}",
            A.load(Ordering::SeqCst)
        );

        println!("\n== 2. several children, started then joined in loops");
        let mut children = Vec::new();
        for what in ["sleep", "eat", "play"] {
            children.push(Process::new(thing, what.to_string()).start()?);
        }
        for mut p in children {
            p.join().await?;
        }

        println!("\n== 3. attributes: name, pid, is_alive, exitcode");
        let mut p = Process::new(worker, "Levi".to_string())
            .name("Worker")
            .start()?;
        println!("is alive : {}", p.is_alive());
        println!("process name: {}", p.name());
        println!("process PID: {}", p.pid());
        let ended = p.join().await;
        println!(
            "join: {}",
            ended.expect_err("worker exits instead of returning")
        );
        println!("is alive : {}", p.is_alive());
        println!("exitcode: {:?}", exitcode(p.exit_status()));

        println!("\n== 4. terminate");
        let (mut ours, theirs) = UnixStream::pair()?;
        let mut p = Process::new(endless, OwnedFd::from(theirs)).start()?;
        read_some(&mut ours, 2); // it is running
        println!("is alive : {}", p.is_alive());
        p.terminate()?;
        println!("join: {}", p.join().await.expect_err("terminated"));
        println!("exitcode: {:?}", exitcode(p.exit_status()));

        println!("\n== 5. daemon: a child dies with its parent");
        let (mut to_daemon, daemon_end) = UnixStream::pair()?;
        let (mut to_normal, normal_end) = UnixStream::pair()?;
        let (mut gate, gate_end) = UnixStream::pair()?;
        let ends = (
            OwnedFd::from(daemon_end),
            OwnedFd::from(normal_end),
            OwnedFd::from(gate_end),
        );
        let mut p = Process::new(parent, ends).name("parent").start()?;
        let up = read_some(&mut to_daemon, 2) && read_some(&mut to_normal, 2);
        gate.write_all(b"!")?; // the parent may exit now
        let (daemon, normal) = p.join().await?; // the parent has exited
        assert!(up, "both children started");
        // The daemon's end closes when it dies; the normal child's stays open.
        let daemon_gone = closed(&mut to_daemon);
        println!("daemon {daemon} ended with its parent: {daemon_gone}");
        to_normal.set_nonblocking(true)?;
        let mut byte = [0u8];
        let normal_alive = matches!(to_normal.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        println!("normal child {normal} still running: {normal_alive}");
        drop(to_normal); // now it returns and exits
        println!("\nmain process ends");
        Ok(())
    })
}
