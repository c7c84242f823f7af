//! The fork server behind [`StartMethod::Fork`](super::StartMethod::Fork):
//! a single-threaded copy of the program that forks workers on request,
//! like Python's "forkserver" start method.
//!
//! # Why not fork the parent
//!
//! The child of `fork` is a copy of all the parent's memory with only the
//! calling thread running. Any lock another thread held at that instant
//! stays locked in the child for ever, and std takes locks where a job does
//! not expect them: a panic reads the panic-hook lock, the default hook
//! takes a backtrace lock, a custom hook typically prints through the
//! stderr lock. A pool is created from a runtime, which always has other
//! threads, so a job that panicked in a forked worker could hang for good.
//!
//! # How the server avoids it
//!
//! * **Start** (`ForkServer::start`, in the parent): run `/proc/self/exe`
//!   again with `SPINDLE_POOL_FORKSERVER=<socket fd>:<parent pid>` set, like
//!   a spawned worker. The new process never reaches `main`: the
//!   load-time hook (`startup.rs`, an `.init_array` entry that runs before
//!   `main`, while the process has one thread) finds the variable and
//!   serves instead (as spawned workers do), and the server is a fresh
//!   process: no other thread, no held
//!   lock, no state copied from the parent, and `exec` has reset every
//!   signal handler the parent installed (spindle's self-pipe handler
//!   among them) to the default action.
//! * **Fork** (FORK message): the parent sends the worker's two
//!   descriptors (socket end and run slot) over a `SOCK_SEQPACKET` socket
//!   (`SCM_RIGHTS`). The server, single-threaded, forks; the child keeps
//!   only those two descriptors, dies with the server (`PR_SET_PDEATHSIG`,
//!   and the server dies with the parent), and serves tasks as any worker.
//!   The server answers FORKED with the pid, and attaches a pidfd of the
//!   worker (opened while the worker is its unreaped child, so it cannot
//!   name another process): the parent registers it with its runtime to
//!   learn *when* the worker exits without polling (`exit.rs`).
//! * **Exit statuses**: workers are the server's children, so the server
//!   reaps them (it `poll`s a pidfd per child) and sends EXITED with the
//!   signal or exit code. The parent's `try_wait` / `wait` collect these
//!   instead of calling `waitpid`. The parent asks the server to kill a
//!   worker (KILL) rather than signalling the pid itself: only the server
//!   knows whether the pid is still its unreaped child, not a new process.
//! * **End**: dropping the `ForkServer` (with the pool's last reference)
//!   closes the socket; the server kills and reaps any child left, then
//!   exits, and the parent reaps it. A server that dies (killed from
//!   outside, Ctrl-C to the process group) takes its workers with it; they
//!   are reported with an unknown status and the next start runs a new
//!   server.
//!
//! Jobs in these workers see the program as it is when it starts (statics
//! at their initial values, no panic hook or logger `main` would set up),
//! as under the default start method. Rust's `main` prologue does not run
//! either; the server does its one relevant part itself (ignoring
//! `SIGPIPE`).
//!
//! # Messages
//!
//! Each message is one `SOCK_SEQPACKET` packet of four little-endian `u32`s
//! (`[kind][pid][a][b]`):
//!
//! ```text
//! parent -> server   FORK (+ 2 descriptors)     KILL pid
//! server -> parent   READY pid (first)          FORKED pid (+ the worker's pidfd)
//!                    FORK_FAILED a = errno      EXITED pid, a = signal + 1, b = code + 1 (0 = none)
//! ```

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use super::exit::Exit;
use super::{startup, worker};
use crate::process::reap;
use crate::sys::fd as sys_fd;
use crate::sys::fd_passing;
use crate::sys::process as sys_process;
use crate::sys::socket::{self as sys_socket, Type};

/// The environment variable that turns a process into a fork server.
const ENV: &str = "SPINDLE_POOL_FORKSERVER";

const FORK: u32 = 1;
const KILL: u32 = 2;
const READY: u32 = 3;
const FORKED: u32 = 4;
const FORK_FAILED: u32 = 5;
const EXITED: u32 = 6;

#[derive(Debug, Clone, Copy)]
struct Msg {
    kind: u32,
    pid: u32,
    a: u32,
    b: u32,
}

impl Msg {
    const LEN: usize = 16;

    fn new(kind: u32, pid: u32) -> Msg {
        Msg {
            kind,
            pid,
            a: 0,
            b: 0,
        }
    }

    fn encode(self) -> [u8; Msg::LEN] {
        let mut out = [0; Msg::LEN];
        for (i, v) in [self.kind, self.pid, self.a, self.b]
            .into_iter()
            .enumerate()
        {
            out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> io::Result<Msg> {
        if bytes.len() != Msg::LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "fork server: a message of the wrong size",
            ));
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
        Ok(Msg {
            kind: word(0),
            pid: word(1),
            a: word(2),
            b: word(3),
        })
    }

    fn exited(pid: u32, exit: Exit) -> Msg {
        let plus_one = |v: Option<i32>| v.map_or(0, |v| v as u32 + 1);
        Msg {
            kind: EXITED,
            pid,
            a: plus_one(exit.signal),
            b: plus_one(exit.code),
        }
    }

    fn exit(self) -> Exit {
        let minus_one = |v: u32| v.checked_sub(1).map(|v| v as i32);
        Exit {
            signal: minus_one(self.a),
            code: minus_one(self.b),
        }
    }
}

fn send(sock: &UnixStream, msg: Msg, fds: &[RawFd]) -> io::Result<()> {
    fd_passing::send_with_fds(sock.as_fd(), &msg.encode(), fds, true)
}

/// Receives one message; `Ok(None)` when the peer is gone.
fn recv(sock: &UnixStream, fds: &mut Vec<OwnedFd>, wait: bool) -> io::Result<Option<Msg>> {
    let mut buf = [0u8; Msg::LEN + 1];
    match fd_passing::recv_with_fds(sock.as_fd(), &mut buf, fds, wait)? {
        0 => Ok(None),
        n => Msg::decode(&buf[..n]).map(Some),
    }
}

// ---------------------------------------------------------------- parent side

/// The parent's handle on its fork server (started at once, restarted if
/// it dies).
pub(super) struct ForkServer {
    timeout: Duration,
    state: Mutex<Shared>,
}

struct Shared {
    /// The running server, if any.
    server: Option<Server>,
    /// Workers forked and not yet reported exited.
    live: HashSet<u32>,
    /// Exit statuses reported and not yet collected.
    exits: HashMap<u32, Exit>,
}

struct Server {
    sock: UnixStream,
    /// Watches the server, our child, through its pidfd (or `SIGCHLD`).
    exit: reap::Exit,
}

impl ForkServer {
    /// Starts a fork server, waiting at most `timeout` for it to report.
    pub(super) fn start(timeout: Duration) -> io::Result<ForkServer> {
        let server = Server::start(timeout)?;
        Ok(ForkServer {
            timeout,
            state: Mutex::new(Shared {
                server: Some(server),
                live: HashSet::new(),
                exits: HashMap::new(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Has the server fork a worker that inherits `keep` (its socket end
    /// and run slot); returns the worker's pid and a pidfd of it.
    pub(super) fn launch(&self, keep: [RawFd; 2]) -> io::Result<(u32, OwnedFd)> {
        let mut shared = self.lock();
        // One retry: a server killed from outside is replaced.
        for attempt in 0..2 {
            if shared.server.is_none() {
                shared.server = Some(Server::start(self.timeout)?);
            }
            match shared.fork(keep) {
                Ok(forked) => return Ok(forked),
                Err(e) if attempt == 0 && shared.server.is_none() => drop(e),
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns on its second pass")
    }

    /// The exit status of worker `pid` if the server has reported it.
    pub(super) fn try_wait(&self, pid: u32) -> Option<Exit> {
        let mut shared = self.lock();
        while shared.live.contains(&pid) && shared.pump(false) {}
        shared.collect(pid)
    }

    /// Blocks until worker `pid` has exited.
    pub(super) fn wait(&self, pid: u32) -> Exit {
        let mut shared = self.lock();
        while shared.live.contains(&pid) && shared.pump(true) {}
        shared.collect(pid).unwrap_or(Exit::UNKNOWN)
    }

    /// Asks the server to `SIGKILL` worker `pid` if it has not reaped it yet.
    pub(super) fn kill(&self, pid: u32) {
        let mut shared = self.lock();
        if !shared.live.contains(&pid) {
            return;
        }
        if let Some(server) = &shared.server {
            if send(&server.sock, Msg::new(KILL, pid), &[]).is_err() {
                shared.lost();
            }
        }
    }
}

impl Shared {
    fn fork(&mut self, keep: [RawFd; 2]) -> io::Result<(u32, OwnedFd)> {
        let server = self.server.as_ref().expect("a server");
        if let Err(e) = send(&server.sock, Msg::new(FORK, 0), &keep) {
            self.lost();
            return Err(e);
        }
        loop {
            let Some(server) = &self.server else {
                return Err(io::Error::other("the pool's fork server misbehaved"));
            };
            let mut passed = Vec::new();
            let msg = match recv(&server.sock, &mut passed, true) {
                Ok(Some(msg)) => msg,
                Ok(None) => {
                    self.lost();
                    return Err(io::Error::other("the pool's fork server exited"));
                }
                Err(e) => {
                    // A timeout, or nonsense: the server cannot be trusted.
                    self.lost();
                    return Err(e);
                }
            };
            match msg.kind {
                FORKED if passed.len() == 1 => {
                    self.live.insert(msg.pid);
                    let pidfd = passed.pop().expect("one descriptor");
                    return Ok((msg.pid, pidfd));
                }
                FORKED => {
                    // A worker we cannot watch: the server misbehaves.
                    self.lost();
                    return Err(io::Error::other("the pool's fork server sent no pidfd"));
                }
                FORK_FAILED => return Err(io::Error::from_raw_os_error(msg.a as i32)),
                _ => self.note(msg),
            }
        }
    }

    /// Reads one message (blocking or not) and records it; false when
    /// there is nothing more to read.
    fn pump(&mut self, wait: bool) -> bool {
        let Some(server) = &self.server else {
            return false;
        };
        match recv(&server.sock, &mut Vec::new(), wait) {
            Ok(Some(msg)) => {
                self.note(msg);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && !wait => false,
            // Blocking with a timeout: a server that says nothing for that
            // long while a worker is dying is stuck.
            Ok(None) | Err(_) => {
                self.lost();
                true
            }
        }
    }

    fn note(&mut self, msg: Msg) {
        if msg.kind == EXITED && self.live.remove(&msg.pid) {
            self.exits.insert(msg.pid, msg.exit());
        } else if msg.kind != EXITED {
            self.lost();
        }
    }

    fn collect(&mut self, pid: u32) -> Option<Exit> {
        self.exits.remove(&pid)
    }

    /// The server is gone or misbehaves: end it; its workers died with it
    /// (`PR_SET_PDEATHSIG`), how exactly is unknown.
    fn lost(&mut self) {
        if let Some(server) = self.server.take() {
            server.end(true);
        }
        for pid in self.live.drain() {
            self.exits.insert(pid, Exit::UNKNOWN);
        }
    }
}

impl Server {
    fn start(timeout: Duration) -> io::Result<Server> {
        let (sock, server_end) = sys_socket::blocking_socketpair(Type::SeqPacket)?;
        let (sock, server_end) = (UnixStream::from(sock), UnixStream::from(server_end));
        let mut cmd = Command::new("/proc/self/exe");
        if let Some(arg0) = std::env::args_os().next() {
            cmd.arg0(arg0);
        }
        cmd.env(
            ENV,
            format!("{}:{}", server_end.as_raw_fd(), std::process::id()),
        )
        .env_remove(super::spawn::ENV)
        .stdin(Stdio::null());
        startup::configure_child(&mut cmd, vec![server_end.as_raw_fd()], true);
        // The `Child` is dropped without waiting: the runtime's reaper
        // watches the pid from here on, and `end` reaps it.
        let pid = cmd.spawn()?.id();
        drop(server_end);
        let exit = match reap::Exit::new(pid) {
            Ok(exit) => exit,
            Err(e) => {
                let _ = sys_process::send_sigkill(pid, None);
                let _ = sys_process::wait_blocking(pid);
                return Err(e);
            }
        };
        let server = Server { sock, exit };
        server.sock.set_read_timeout(Some(timeout))?;
        match recv(&server.sock, &mut Vec::new(), true) {
            Ok(Some(msg)) if msg.kind == READY && msg.pid == pid => Ok(server),
            other => {
                server.end(true);
                Err(io::Error::other(format!(
                    "the pool's fork server (process {pid}) did not start within {timeout:?}: {other:?}"
                )))
            }
        }
    }

    /// Closes the connection (the server then ends its workers and exits)
    /// and reaps the server.
    ///
    /// This runs where nothing can be awaited (in `Drop`, under the
    /// pool's lock), so the reaping blocks; it is short, since the server
    /// exits as soon as it has reaped its workers, which it kills first.
    fn end(self, kill: bool) {
        if kill {
            // Through the pidfd: never another process, even if the
            // server has already exited.
            let _ = self.exit.kill();
        }
        drop(self.sock);
        let _ = self.exit.wait_blocking();
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        let shared = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Some(server) = shared.server.take() {
            // EOF tells it to end its remaining children and exit.
            server.end(false);
        }
    }
}

// ---------------------------------------------------------------- server side

/// Called before `main` in every process of the program (`startup::AT_LOAD`):
/// returns at once unless this process was started as a fork server, in
/// which case it serves and exits, never returning.
pub(super) fn at_program_start() {
    let Some(value) = startup::take_env_before_main(ENV) else {
        return;
    };
    let code = match catch_unwind(AssertUnwindSafe(|| serve_from_env(&value))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("spindle pool fork server {}: {e}", std::process::id());
            1
        }
        Err(_) => 1,
    };
    sys_process::exit_now(code)
}

/// Parses `<socket fd>:<parent pid>` and serves.
fn serve_from_env(value: &str) -> io::Result<()> {
    let bad = || io::Error::other(format!("malformed {ENV}={value:?}"));
    let (fd, parent) = value.split_once(':').ok_or_else(bad)?;
    let (fd, parent): (RawFd, u32) = (
        fd.parse().map_err(|_| bad())?,
        parent.parse().map_err(|_| bad())?,
    );
    if !startup::parent_is(parent) {
        return Ok(()); // the parent is already gone
    }
    let sock = UnixStream::from(startup::adopt_fd(fd)?);
    startup::ignore_sigpipe();
    if let Some(name) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        sys_process::set_thread_name(&name);
    }
    send(&sock, Msg::new(READY, std::process::id()), &[])?;
    serve(&sock)
}

/// A worker the server forked and has not reaped.
struct Child {
    pid: u32,
    /// Its pidfd: readable once it has exited.
    exited: OwnedFd,
}

impl Child {
    /// Sends `SIGKILL` through the pidfd.
    fn kill(&self) {
        let _ = sys_process::send_sigkill(self.pid, Some(self.exited.as_fd()));
    }
}

/// The server loop: fork on request, report every child's exit.
fn serve(sock: &UnixStream) -> io::Result<()> {
    let mut children: Vec<Child> = Vec::new();
    let mut closing = false;
    loop {
        if closing && children.is_empty() {
            return Ok(());
        }
        let mut fds: Vec<libc::pollfd> = children
            .iter()
            .map(|c| libc::pollfd {
                fd: c.exited.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if !closing {
            fds.push(libc::pollfd {
                fd: sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        sys_fd::poll(&mut fds)?;
        let mut i = 0;
        children.retain(|child| {
            let ready = fds[i].revents != 0;
            i += 1;
            if !ready {
                return true;
            }
            let reaped = match sys_process::try_wait(child.pid) {
                Ok(status) => status.map(Exit::from),
                // Reaped by someone else (SIGCHLD ignored, say): status unknown.
                Err(e) if e.raw_os_error() == Some(libc::ECHILD) => Some(Exit::UNKNOWN),
                Err(_) => None,
            };
            match reaped {
                Some(exit) => {
                    // The parent may be gone (closing): nobody to tell.
                    let _ = send(sock, Msg::exited(child.pid, exit), &[]);
                    false
                }
                _ => true,
            }
        });
        if closing || fds.last().is_none_or(|f| f.revents == 0) {
            continue;
        }
        let mut passed = Vec::new();
        match recv(sock, &mut passed, false) {
            Ok(Some(msg)) if msg.kind == FORK && passed.len() == 2 => {
                match fork_worker(&passed) {
                    Ok(child) => {
                        drop(passed); // the worker has its copies
                                      // The parent gets its own copy of the pidfd.
                        let sent = send(
                            sock,
                            Msg::new(FORKED, child.pid),
                            &[child.exited.as_raw_fd()],
                        );
                        children.push(child);
                        sent?;
                    }
                    Err(e) => {
                        drop(passed);
                        let reply = Msg {
                            a: e.raw_os_error().unwrap_or(libc::EIO) as u32,
                            ..Msg::new(FORK_FAILED, 0)
                        };
                        send(sock, reply, &[])?;
                    }
                }
            }
            Ok(Some(msg)) if msg.kind == KILL => {
                if let Some(child) = children.iter().find(|c| c.pid == msg.pid) {
                    child.kill();
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // EOF (the pool is done, or the parent died), or nonsense:
            // end every worker still running, reap them, exit.
            _ => {
                closing = true;
                children.iter().for_each(Child::kill);
            }
        }
    }
}

/// Forks one worker that serves on the two passed descriptors.
fn fork_worker(passed: &[OwnedFd]) -> io::Result<Child> {
    let keep = [passed[0].as_raw_fd(), passed[1].as_raw_fd()];
    let pid = startup::fork_child(keep, || worker::serve_forked(keep))?;
    match sys_process::pidfd_open(pid) {
        Ok(exited) => Ok(Child { pid, exited }),
        Err(e) => {
            // Still our unreaped child: the pid cannot name another process.
            let _ = sys_process::send_sigkill(pid, None);
            let _ = sys_process::wait_blocking(pid);
            Err(e)
        }
    }
}
