//! Starting one worker process, and its handshake.
//!
//! 1. `UnixStream::pair()`: a connected `SOCK_STREAM` socket pair, both
//!    ends close-on-exec. `RunSlot::create()`: an 8-byte memfd (also
//!    close-on-exec) mapped shared, where the worker notes its running task.
//! 2. Start the process:
//!    * `Spawn` (default): `Command::new("/proc/self/exe")`, the very file
//!      this process runs, with `SPINDLE_POOL_WORKER=<sock fd>:<slot fd>:<parent pid>`
//!      in its environment. A pre-exec hook in the child sets
//!      `PR_SET_PDEATHSIG = SIGKILL` (the worker dies with the parent),
//!      checks the parent is still there, marks every other descriptor
//!      close-on-exec and clears the flag on the two it must inherit. The
//!      new program's load-time hook (`startup.rs`) finds the variable
//!      before `main` and serves tasks instead of returning.
//!    * `Fork`: the pool's fork server (`forkserver.rs`) is sent the two
//!      descriptors and forks a worker that keeps only them.
//! 3. The parent closes its copies of the child's ends: from now on, the
//!    socket reaching EOF means the worker is gone.
//! 4. The worker's first frame is HELLO with its "probe" offset; the parent
//!    compares it with its own (same binary?) before sending tasks. At pool
//!    creation this handshake is awaited here, blocking, so a worker that
//!    cannot start (the hook did not run in it, see [`HINT`]) is an error
//!    from `ProcessPool::new`.

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::builder::StartMethod;
use super::call::{self, RunSlot};
use super::exit::{Exit, WorkerExit};
use super::forkserver::ForkServer;
use super::frame::{self, FrameBuf};
use super::startup;
use crate::sys::process as sys_process;

/// The environment variable that turns a process into a worker.
pub(super) const ENV: &str = "SPINDLE_POOL_WORKER";

/// A started worker process, before it is handed to its driver.
pub(super) struct Launched {
    pub(super) sock: UnixStream,
    pub(super) pid: u32,
    pub(super) slot: RunSlot,
    pub(super) exit: WorkerExit,
}

/// How a pool starts its workers, waits for them and kills them.
pub(super) enum Starter {
    /// Each worker is a child of ours, running `/proc/self/exe`.
    Spawn,
    /// Each worker is a child of the pool's fork server.
    Fork(ForkServer),
}

impl Starter {
    /// Prepares `method` (for `Fork`: starts the fork server, waiting at
    /// most `timeout` for it).
    pub(super) fn new(method: StartMethod, timeout: Duration) -> io::Result<Starter> {
        Ok(match method {
            StartMethod::Spawn => Starter::Spawn,
            StartMethod::Fork => Starter::Fork(ForkServer::start(timeout)?),
        })
    }

    pub(super) fn method(&self) -> StartMethod {
        match self {
            Starter::Spawn => StartMethod::Spawn,
            Starter::Fork(_) => StartMethod::Fork,
        }
    }

    /// Starts one worker and starts watching for its exit (on the current
    /// runtime); does not wait for its HELLO.
    pub(super) fn launch(&self) -> io::Result<Launched> {
        let (sock, child_end) = UnixStream::pair()?;
        let (slot, slot_fd) = RunSlot::create()?;
        let keep = [child_end.as_raw_fd(), slot_fd.as_raw_fd()];
        let (pid, exit) = match self {
            Starter::Spawn => {
                let mut cmd = Command::new("/proc/self/exe");
                if let Some(arg0) = std::env::args_os().next() {
                    cmd.arg0(arg0);
                }
                cmd.env(
                    ENV,
                    format!("{}:{}:{}", keep[0], keep[1], std::process::id()),
                )
                .stdin(Stdio::null());
                startup::configure_child(&mut cmd, keep.to_vec(), true);
                // The `Child` is dropped without waiting: the runtime's
                // reaper watches the pid from here on.
                let pid = cmd.spawn()?.id();
                match WorkerExit::child(pid) {
                    Ok(exit) => (pid, exit),
                    Err(e) => {
                        // Not watched: kill and reap it here.
                        let _ = sys_process::send_sigkill(pid, None);
                        let _ = sys_process::wait_blocking(pid);
                        return Err(e);
                    }
                }
            }
            Starter::Fork(server) => {
                let (pid, pidfd) = server.launch(keep)?;
                match WorkerExit::fork_served(pidfd) {
                    Ok(exit) => (pid, exit),
                    Err(e) => {
                        server.kill(pid);
                        server.wait(pid);
                        return Err(e);
                    }
                }
            }
        };
        drop(child_end);
        drop(slot_fd);
        Ok(Launched {
            sock,
            pid,
            slot,
            exit,
        })
    }

    /// Waits until worker `pid` has ended (without polling: see `exit.rs`)
    /// and returns how; it is reaped by then.
    pub(super) async fn exited(&self, pid: u32, exit: &mut WorkerExit) -> Exit {
        let status = exit.ended().await;
        match (status, self) {
            (Some(status), _) => status,
            // The server reports the status of its own child.
            (None, Starter::Fork(server)) => server.wait(pid),
            (None, Starter::Spawn) => Exit::UNKNOWN,
        }
    }

    /// How worker `pid` ended, if it has (and reaps it).
    pub(super) fn try_wait(&self, pid: u32, exit: &WorkerExit) -> Option<Exit> {
        match self {
            Starter::Spawn => exit.try_reap(),
            Starter::Fork(server) => server.try_wait(pid),
        }
    }

    /// Blocks until worker `pid` has exited (and reaps it): only after
    /// [`kill`](Self::kill), when a driver is torn down without its runtime.
    pub(super) fn wait_blocking(&self, pid: u32) -> Exit {
        match self {
            Starter::Spawn => sys_process::wait_blocking(pid).map_or(Exit::UNKNOWN, Exit::from),
            Starter::Fork(server) => server.wait(pid),
        }
    }

    /// Sends `SIGKILL` to worker `pid`, which has not been reaped yet.
    pub(super) fn kill(&self, pid: u32, exit: &WorkerExit) {
        match (exit, self) {
            // Through its pidfd when there is one: never another process.
            (WorkerExit::Child(exit), _) => drop(exit.kill()),
            // Only the server knows if the pid is still its unreaped child.
            (WorkerExit::ForkServed { .. }, Starter::Fork(server)) => server.kill(pid),
            (WorkerExit::ForkServed { .. }, Starter::Spawn) => {}
        }
    }

    /// Kills and reaps workers that will not be used (a failed pool start).
    pub(super) fn discard(&self, workers: Vec<Launched>) {
        for w in &workers {
            self.kill(w.pid, &w.exit);
        }
        for w in workers {
            self.wait_blocking(w.pid);
        }
    }
}

/// Waits (blocking, at most `timeout`) for the worker's HELLO and checks it.
pub(super) fn handshake(
    starter: &Starter,
    worker: &mut Launched,
    rbuf: &mut FrameBuf,
    timeout: Duration,
) -> io::Result<()> {
    worker.sock.set_read_timeout(Some(timeout))?;
    loop {
        if let Some(f) = rbuf.next_frame()? {
            check_hello(f.kind, rbuf.bytes(f.body))?;
            break;
        }
        let n = match (&worker.sock).read(rbuf.spare()?) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "worker process {} did not report within {timeout:?}; {HINT}",
                        worker.pid
                    ),
                ))
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            let exit = starter.try_wait(worker.pid, &worker.exit);
            return Err(io::Error::other(format!(
                "worker process {} exited before its handshake ({exit:?}); {HINT}",
                worker.pid
            )));
        }
        rbuf.filled(n);
    }
    worker.sock.set_read_timeout(None)
}

/// What to check when a spawned worker never reports: workers start serving
/// from a hook in the program's executable that runs before `main`.
const HINT: &str = "a worker starts serving before main, from a hook in the program's \
                    executable (/proc/self/exe): is spindle linked into that executable \
                    (not into a shared library another program loads), and does nothing \
                    end the process before the hook runs?";

/// Checks a worker's first frame.
pub(super) fn check_hello(kind: u8, body: &[u8]) -> io::Result<()> {
    if kind != frame::HELLO {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a worker spoke before its HELLO",
        ));
    }
    if frame::i64_at(body, 0) != Some(call::probe()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the worker runs a different binary (HELLO probe mismatch)",
        ));
    }
    Ok(())
}
