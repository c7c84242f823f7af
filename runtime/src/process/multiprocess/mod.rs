//! The parent side of [`Process`] (the `process-pool` feature): building
//! and starting the child, `join`, the status and the signals. How it all
//! works is told in the [`process`](super) module docs, section "Your own
//! function in a child process"; the pieces:
//!
//! * `entry.rs`: the child's side, run before `main` by the load-time hook;
//! * `answer.rs`: reading the child's answer while it runs;
//! * `daemon.rs`: the thread that forks daemons, so that they die with the
//!   process and not with a thread;
//! * `error.rs`: [`ProcessError`], how a child ended without a result.

mod answer;
mod daemon;
mod entry;
mod error;

pub use error::ProcessError;

pub(crate) use entry::at_program_start;

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::task::{ready, Context, Poll};

use answer::Conn;

use super::reap;
use crate::executor::context;
use crate::pool::frame;
use crate::pool::{call, startup, take_outgoing_fds, Wire};

/// A function and its argument, to be run in a child process: the builder
/// [`Process::new`] returns. Set a [`name`](ProcessBuilder::name) or
/// [`daemon`](ProcessBuilder::daemon) flag, then [`start`](ProcessBuilder::start) it.
pub struct ProcessBuilder<A, R> {
    function: fn(A) -> R,
    arg: A,
    name: Option<String>,
    daemon: bool,
}

/// A child process running one function, Python's `multiprocessing.Process`.
///
/// Made by [`Process::new`]`(f, arg)` and started with
/// [`start`](ProcessBuilder::start); see the [module docs](super) for how
/// the child starts, how a daemon dies with its parent, and what dropping
/// a `Process` does (it detaches the child, which is reaped in the
/// background).
pub struct Process<R> {
    pid: u32,
    name: String,
    /// The child until reaped (`status` then holds its exit status).
    exit: Option<reap::Exit>,
    status: Mutex<Option<ExitStatus>>,
    /// Our end of the socket, and what has come through it.
    conn: Conn,
    /// What `join` returned: `Ok` once the result was handed out.
    joined: Option<Result<(), ProcessError>>,
    _result: PhantomData<fn() -> R>,
}

impl<R: Wire + 'static> Process<R> {
    /// A process that will run `function(arg)`, not started yet: set a
    /// [`name`](ProcessBuilder::name) or [`daemon`](ProcessBuilder::daemon)
    /// flag, then [`start`](ProcessBuilder::start) it.
    ///
    /// `function` must be compiled into the program itself (not a function
    /// of a shared library), as for a [`ProcessPool`](crate::pool::ProcessPool).
    // Python's `Process(target, args)`, then `start()`: `new` gives the
    // builder, and `start` the `Process`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<A: Wire + 'static>(function: fn(A) -> R, arg: A) -> ProcessBuilder<A, R> {
        ProcessBuilder {
            function,
            arg,
            name: None,
            daemon: false,
        }
    }
}

impl<A: Wire + 'static, R: Wire + 'static> ProcessBuilder<A, R> {
    /// The process's name: what [`Process::name`] returns, and the name the
    /// OS shows for the child (`/proc/PID/comm`, `ps`, `top`), which keeps
    /// only its first 15 bytes. Default: the program's file name.
    pub fn name(mut self, name: impl Into<String>) -> ProcessBuilder<A, R> {
        self.name = Some(name.into());
        self
    }

    /// Whether the child is killed (`SIGKILL`) when this process ends,
    /// however it ends (default `false`: it runs on). See the
    /// [module docs](super#daemons).
    pub fn daemon(mut self, daemon: bool) -> ProcessBuilder<A, R> {
        self.daemon = daemon;
        self
    }

    /// Starts the child and sends it the argument; does not wait for the
    /// function to run.
    ///
    /// Must be called inside a runtime, or under
    /// [`Handle::enter`](crate::Handle::enter): the child is watched by its
    /// reactor. It blocks
    /// only as long as `std`'s own `spawn` (until the child has executed
    /// the program) and, for an argument larger than the socket's buffer
    /// (a few hundred KiB), until the child has read it.
    ///
    /// # Errors
    /// `InvalidInput` if the function is not in the program's executable;
    /// the errors of starting a process (out of processes, memory or
    /// descriptors); an error outside a runtime, checked before anything
    /// is started.
    pub fn start(self) -> io::Result<Process<R>> {
        if std::env::var_os(entry::ENV).is_some() {
            // The load-time hook did not run: this process is a child that
            // got as far as `main`. Starting more would repeat that forever.
            return Err(io::Error::other(
                "this process was started as a spindle Process but its entry did not run \
                 before main; refusing to start another",
            ));
        }
        if context::current_shared().is_none() {
            return Err(io::Error::other(
                "a spindle Process must be started inside a runtime (in block_on, a task, \
                 or under Handle::enter)",
            ));
        }
        let site = call::call_site(self.function)
            .map_err(|why| io::Error::new(io::ErrorKind::InvalidInput, why))?;
        let name = self.name.unwrap_or_else(program_name);
        // NAME, then TASK with the argument and its descriptors.
        let mut out = Vec::with_capacity(64);
        frame::push_frame(&mut out, frame::NAME, 0, name.as_bytes());
        let task = frame::begin(&mut out, frame::TASK, 0);
        site.encode(&mut out);
        self.arg.encode(&mut out);
        let fds = take_outgoing_fds();
        frame::set_fds(&mut out, task, fds.len());
        frame::finish(&mut out, task);
        let mut attached = if fds.is_empty() {
            Vec::new()
        } else {
            vec![(task, fds)]
        };

        let (sock, child_end) = UnixStream::pair()?;
        let mut cmd = Command::new("/proc/self/exe");
        let mut args = std::env::args_os();
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        cmd.args(args)
            .env(
                entry::ENV,
                format!("{}:{}", child_end.as_raw_fd(), std::process::id()),
            )
            .stdin(Stdio::null());
        startup::configure_child(&mut cmd, vec![child_end.as_raw_fd()], self.daemon);
        // The std `Child` is dropped without waiting: `reap::Exit` watches
        // and reaps the pid from here on.
        let pid = if self.daemon {
            daemon::spawn_on_lasting_thread(cmd)?
        } else {
            cmd.spawn()?
        }
        .id();
        drop(child_end);
        let exit = match reap::Exit::new(pid) {
            Ok(exit) => exit,
            Err(e) => {
                // Not watched, not reaped: the pid is still this child's.
                let _ = crate::sys::process::send_sigkill(pid, None);
                reap::reap_on_thread(pid);
                return Err(e);
            }
        };
        let sent = frame::send_blocking(sock.as_fd(), &out, &mut attached)
            .or_else(|e| match e.kind() {
                // The child is dead already: `join` will say how it ended.
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => Ok(()),
                _ => Err(e),
            })
            .and_then(|()| sock.set_nonblocking(true));
        if let Err(e) = sent {
            let _ = exit.kill();
            exit.orphan();
            return Err(e);
        }
        Ok(Process {
            pid,
            name,
            exit: Some(exit),
            status: Mutex::new(None),
            conn: Conn::new(sock),
            joined: None,
            _result: PhantomData,
        })
    }
}

impl<R: Wire + 'static> Process<R> {
    /// Waits for the child to end, reaps it, and returns its function's
    /// result, or how it ended without one: an exit status, a signal, or
    /// the panic message ([`ProcessError`]).
    ///
    /// The result is read while the child runs, so a large one cannot
    /// stall it. Once the result has arrived, `join` returns it even if the
    /// child was then killed before it could exit. Cancel-safe: a `join`
    /// dropped halfway (under a timeout, say) loses nothing, and the next
    /// call continues. After it has returned, it returns the same error
    /// again, or [`ProcessError::AlreadyJoined`] for a result handed out.
    ///
    /// Await it inside a spindle runtime.
    pub async fn join(&mut self) -> Result<R, ProcessError> {
        poll_fn(|cx| self.poll_join(cx)).await
    }

    fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Result<R, ProcessError>> {
        match &self.joined {
            Some(Ok(())) => return Poll::Ready(Err(ProcessError::AlreadyJoined)),
            Some(Err(e)) => return Poll::Ready(Err(e.clone())),
            None => {}
        }
        // Read while the child runs: it may be blocked writing its result.
        if let Poll::Ready(Err(e)) = self.conn.poll_read(cx, self.exit.as_ref()) {
            // Outside a runtime: nothing is decided, `join` may be retried.
            return Poll::Ready(Err(ProcessError::Io(e.to_string())));
        }
        let status = match self.exit_status() {
            Some(status) => Ok(status),
            None => match self.exit.as_mut() {
                Some(exit) => ready!(exit.poll_exit(cx)).map_err(|e| e.to_string()),
                None => Err("the process was reaped elsewhere".to_string()),
            },
        };
        if let Ok(status) = status {
            *self.lock_status() = Some(status);
            // Reaped: the pid may name another process from now on.
            self.exit = None;
        }
        // Everything the child wrote is in the socket by now.
        self.conn.read_now();
        let result = self.conn.outcome::<R>(status);
        self.joined = Some(result.as_ref().map(drop).map_err(Clone::clone));
        Poll::Ready(result)
    }

    /// True until the child has exited. (A child that ended is reaped
    /// here, and its status kept for [`exit_status`](Self::exit_status).)
    pub fn is_alive(&self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// The child's process id (the number stays the child's until it has
    /// been reaped: by `join`, `is_alive`, `exit_status`, or the background
    /// reaper after a drop).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The process's name (see [`ProcessBuilder::name`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How the child ended, once it has (reaping it if it has just
    /// exited); `None` while it runs. Python's `exitcode`: `code()` for an
    /// exit, `signal()` (through `ExitStatusExt`) for a signal.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        self.try_status().ok().flatten()
    }

    /// The exit status if the child has ended (reaping it if it has just
    /// exited), `Ok(None)` while it runs, `Err` if it was reaped elsewhere.
    fn try_status(&self) -> Result<Option<ExitStatus>, ()> {
        let mut status = self.lock_status();
        if status.is_none() {
            match &self.exit {
                Some(exit) => *status = exit.try_reap().map_err(drop)?,
                None => return Err(()),
            }
        }
        Ok(*status)
    }

    /// Sends `SIGTERM` (Python's `terminate()`), and returns at once;
    /// [`join`](Self::join) then reports [`ProcessError::Signaled`]`(15)`
    /// unless the child handles the signal. `Ok` if it has already ended.
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(libc::SIGTERM)
    }

    /// Sends `SIGKILL` (Python's `kill()`), and returns at once;
    /// [`join`](Self::join) then reports [`ProcessError::Signaled`]`(9)`.
    /// `Ok` if it has already ended.
    pub fn kill(&self) -> io::Result<()> {
        self.signal(libc::SIGKILL)
    }

    fn signal(&self, signal: libc::c_int) -> io::Result<()> {
        // Held while signalling: nobody reaps the child meanwhile.
        let status = self.lock_status();
        match (&self.exit, *status) {
            (Some(exit), None) => exit.signal(signal),
            _ => Ok(()), // reaped: the pid is not ours to signal
        }
    }
}

impl<R> Process<R> {
    fn lock_status(&self) -> MutexGuard<'_, Option<ExitStatus>> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<R> Drop for Process<R> {
    fn drop(&mut self) {
        if let Some(exit) = self.exit.take() {
            if self.lock_status().is_none() {
                // Detached: reaped in the background once it exits.
                exit.orphan();
            }
        }
    }
}

/// The program's file name: a child's default name.
fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "spindle-process".into())
}

impl<A, R> fmt::Debug for ProcessBuilder<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessBuilder")
            .field("function", &(self.function as usize as *const ()))
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .finish_non_exhaustive()
    }
}

impl<R> fmt::Debug for Process<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid)
            .field("name", &self.name)
            .field("status", &*self.lock_status())
            .finish_non_exhaustive()
    }
}
