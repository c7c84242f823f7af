//! Child processes: `std::process::Command`, made async; and [`Process`],
//! a function of this program run in a child process (the `process-pool`
//! feature, see [below](#your-own-function-in-a-child-process-process)).
//!
//! [`Command`] is std's builder (it wraps one, and spawning is std's job:
//! `fork`/`exec` or `posix_spawn`, close-on-exec pipes, a missing program
//! reported as [`NotFound`](std::io::ErrorKind::NotFound)). What spindle
//! adds is *waiting without blocking*: the [`Child`]'s pipes become async
//! streams ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]), and
//! [`Child::wait`] parks the task, not the thread.
//!
//! ```
//! # spindle_runtime::block_on(async {
//! use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
//! use spindle_runtime::process::{Command, Stdio};
//!
//! let mut sort = Command::new("sort").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
//! let mut input = sort.stdin.take().unwrap();
//! input.write_all(b"pear\napple\n").await?;
//! input.shutdown().await?; // end of input: sort can start printing
//! let mut sorted = String::new();
//! sort.stdout.take().unwrap().read_to_string(&mut sorted).await?;
//! assert_eq!(sorted, "apple\npear\n");
//! assert!(sort.wait().await?.success());
//! # Ok::<(), std::io::Error>(())
//! # });
//! ```
//!
//! # Exit, zombies and reaping
//!
//! When a process exits, the kernel keeps a small record of it (pid, exit
//! status, resource usage) until its parent collects it with `wait`/
//! `waitpid`. In between, the process is a *zombie* (state `Z` in `ps`).
//! Collecting it is called *reaping*. A parent that never reaps leaks one
//! process-table entry per child, and enough of them stop `fork` from
//! working. (The opposite case, a parent that exits first, leaves an
//! *orphan*: the child is adopted by `init` or the nearest subreaper, which
//! reaps it. Orphans are harmless; zombies are the parent's fault. The
//! classic shortcuts, a "double fork" that makes the grandchild an orphan,
//! or setting `SIGCHLD` to `SIG_IGN`, avoid zombies by throwing the exit
//! status away; spindle keeps it.)
//!
//! spindle reaps every child it spawns, exactly once, by its pid:
//!
//! * [`Child::wait`] waits for the exit through a **pidfd** (a descriptor
//!   for the process that becomes readable when it exits, registered with
//!   the reactor like a socket), or on kernels without `pidfd_open`, through
//!   **`SIGCHLD`** (a signal the kernel sends the parent at each child
//!   exit: on each one, `waitpid(pid, WNOHANG)` is tried again). Then it
//!   reaps the child with `waitpid`.
//! * A [`Child`] dropped before being reaped is handed to a reaper: a small
//!   task on the current runtime that waits the same way, or, outside a
//!   runtime (or if that runtime shuts down first), a detached thread
//!   blocked in `waitpid`. So a dropped child is reaped as soon as it exits
//!   (on the reaper task's runtime's next turn), not when we exit.
//!
//! Two things defeat reaping, and are documented rather than prevented:
//! setting `SIGCHLD` to `SIG_IGN` (the kernel then reaps children itself, the
//! status is lost, and [`Child::wait`] fails with `ECHILD`), and calling
//! `waitpid(-1)` elsewhere in the program (it steals spindle's children).
//! Either also frees the pid for reuse while spindle still holds it, which
//! is why [`Child::kill`] signals through the pidfd when there is one.
//!
//! # Writing to a child that has gone: `SIGPIPE`
//!
//! Writing to a pipe whose reading end is closed raises `SIGPIPE`, whose
//! default action kills the writer. For sockets that is avoided per call
//! (`MSG_NOSIGNAL`); for pipes no such flag exists, and spindle does not
//! change the process's signal dispositions behind your back. It does not
//! need to in Rust programs: the std runtime sets `SIGPIPE` to ignored
//! before `main` (and puts it back to the default in the children it
//! spawns, so `sort` or `cat` behave as usual). With `SIGPIPE` ignored the
//! write fails with `EPIPE`, which [`ChildStdin`] reports as
//! [`BrokenPipe`](std::io::ErrorKind::BrokenPipe). A program that keeps the
//! default disposition (built with `-Zon-broken-pipe=kill`, or a C `main`
//! embedding Rust code) is killed by such a write instead, as it would be by
//! any pipe write; ignore `SIGPIPE` yourself there if that matters.
//!
//! # Your own function in a child process: [`Process`]
//!
//! [`Process`] runs one function of this program in a child process of its
//! own: Python's `multiprocessing.Process`.
//!
//! ```
//! use spindle_runtime::process::Process;
//!
//! fn greet(name: String) -> String {
//!     format!("hello {name} from process {}", std::process::id())
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! spindle_runtime::block_on(async {
//!     let mut p = Process::new(greet, "bob".to_string()).name("greeter").start()?;
//!     println!("started {} ({})", p.pid(), p.name());
//!     let reply = p.join().await?;
//!     assert!(!p.is_alive());
//!     println!("{reply}; exit status {:?}", p.exit_status());
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## The child is this program, run again
//!
//! Like Python's "spawn" start method (and the pool's default), the child
//! is a fresh run of the program's own executable (`/proc/self/exe`), not
//! a `fork` of the parent: a runtime has threads, and the child of `fork`
//! in a multi-threaded process may find any lock held forever. The child
//! is told what to do by an environment variable, and a hook the loader
//! runs before `main` (see `pool/startup.rs` and `process/multiprocess/entry.rs`) turns it into
//! the child right away, so `main` needs no special first line and never
//! runs in the child. The child sees the program as it is before `main`
//! (statics at their initial values, the parent's command-line arguments
//! and environment), inherits stdout and stderr, and gets `/dev/null` as
//! stdin, as Python's children do.
//!
//! ## Calling the function there
//!
//! The function is a plain `fn(A) -> R` and `A`, `R` are [`Wire`](crate::pool::Wire) types:
//! the argument is encoded, sent over a unix socket pair with the
//! function's offset in the executable, and decoded in the child, which
//! sends the result back the same way; both use the process pool's
//! machinery (`pool/call.rs`, `pool/frame.rs`). Descriptors in the
//! argument or the result (an `OwnedFd`, a pipe end, a socket) travel
//! beside the bytes as `SCM_RIGHTS`, so the child gets its own copy of
//! each (see `pool/wire.rs`).
//!
//! ## Waiting, ending, reaping
//!
//! [`join`](Process::join) reads the result as it arrives while waiting
//! for the child to exit (through a pidfd registered with the runtime,
//! as [`Child::wait`] does), then reaps it and says how it ended:
//! [`ProcessError`] names the exit status, the signal or the panic message.
//! [`terminate`](Process::terminate) and [`kill`](Process::kill) send
//! `SIGTERM` and `SIGKILL` through the pidfd, so they can never reach a
//! process that reused the number.
//!
//! A `Process` dropped without `join` is *detached*: the child runs on, and
//! when it exits it is reaped in the background (the runtime's reaper, as
//! for a dropped [`Child`]), so it never stays a zombie, and
//! the drop never blocks. Its result, if any, is thrown away.
//!
//! ## Daemons
//!
//! [`daemon(true)`](ProcessBuilder::daemon) makes the child die with its
//! parent, however the parent ends (even `kill -9`): the child asks the
//! kernel, between `fork` and `exec`, for `SIGKILL` when its parent dies
//! (`PR_SET_PDEATHSIG`), then checks that the parent is still the process
//! that started it (it may have died before the request). The kernel sends
//! that signal when the *thread* that forked the child ends, so daemons are
//! forked by one thread kept for that purpose for the life of the process
//! (started by the first daemon), never by a runtime's worker or a
//! `spawn_blocking` thread that may retire while the program runs on.
//!
//! A process that is not a daemon outlives its parent if the parent ends
//! first (it is then an orphan, adopted by `init`). Python instead joins
//! such processes when the interpreter exits: `join` them before `main`
//! returns to get that behaviour.
//!
//! # Requirements
//!
//! [`Command::spawn`] must be called inside a runtime: the pipes and the
//! pidfd are registered with its reactor, and the `Child` is meant to be
//! awaited there.

mod child;
#[cfg(feature = "process-pool")]
mod multiprocess;
pub(crate) mod reap;
mod stdio;

#[cfg(test)]
mod tests;

pub use child::Child;
#[cfg(feature = "process-pool")]
pub(crate) use multiprocess::at_program_start as multiprocess_at_program_start;
#[cfg(feature = "process-pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "process-pool")))]
pub use multiprocess::{Process, ProcessBuilder, ProcessError};
pub use std::process::{ExitStatus, Output, Stdio};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout};

use std::ffi::OsStr;
use std::io;
use std::path::Path;

use crate::executor::context;

/// A process builder: std's [`Command`](std::process::Command) whose
/// [`spawn`](Command::spawn) gives an async [`Child`].
///
/// Configuration methods return `&mut Command` for chaining, as in std.
///
/// Defaults, as in std: [`spawn`](Command::spawn) and
/// [`status`](Command::status) inherit stdin, stdout and stderr;
/// [`output`](Command::output) pipes stdout and stderr and gives the child
/// an empty stdin, unless they were set explicitly.
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A command to run `program`: a path, or a name looked up in `PATH`.
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds one argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// What the child's stdin is: [`Stdio::piped`] gives a [`ChildStdin`].
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// What the child's stdout is: [`Stdio::piped`] gives a [`ChildStdout`].
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// What the child's stderr is: [`Stdio::piped`] gives a [`ChildStderr`].
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] before it was reaped sends it
    /// `SIGKILL` (default `false`: it runs on, and is reaped in the
    /// background when it exits, either way).
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// The std command inside, for settings spindle does not wrap (on unix:
    /// `uid`, `gid`, `process_group`, `pre_exec` through
    /// `std::os::unix::process::CommandExt`).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child.
    ///
    /// # Errors
    /// What std's `spawn` reports ([`NotFound`](io::ErrorKind::NotFound) for
    /// a missing program, `PermissionDenied`, ...), or an error if called
    /// outside a runtime (checked before anything is started).
    pub fn spawn(&mut self) -> io::Result<Child> {
        let Some(shared) = context::current_io_shared() else {
            return Err(io::Error::other(
                "spindle::process::Command::spawn must be called inside a runtime \
                 (in block_on, a task, a spawn_blocking closure or under Handle::enter)",
            ));
        };
        // Under the `Handle` of a runtime that has shut down, the child's
        // pipes and exit could not be registered: refuse before the child
        // starts, rather than start it and kill it. (A runtime shutting
        // down after this look still gets that: `Child::from_std`.)
        if shared.io.is_shut_down() {
            return Err(crate::driver::registered_after_shutdown());
        }
        let child = self.std.spawn()?;
        Child::from_std(child, self.kill_on_drop)
    }

    /// Runs the child to completion and returns its exit status. The
    /// standard streams are inherited unless set; pipes, if requested, are
    /// closed at once.
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop((child.stdin.take(), child.stdout.take(), child.stderr.take()));
        child.wait().await
    }

    /// Runs the child to completion and collects its stdout and stderr.
    /// Unless set, stdout and stderr are piped and stdin is empty
    /// (`/dev/null`).
    pub async fn output(&mut self) -> io::Result<Output> {
        let defaults = (!self.stdin_set, !self.stdout_set, !self.stderr_set);
        if defaults.0 {
            self.std.stdin(Stdio::null());
        }
        if defaults.1 {
            self.std.stdout(Stdio::piped());
        }
        if defaults.2 {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Back to what `spawn` uses when nothing was set: inherit.
        if defaults.0 {
            self.std.stdin(Stdio::inherit());
        }
        if defaults.1 {
            self.std.stdout(Stdio::inherit());
        }
        if defaults.2 {
            self.std.stderr(Stdio::inherit());
        }
        child?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a configured std command. Its stdio settings count as "not
    /// set" for [`Command::output`]'s defaults.
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
        }
    }
}
