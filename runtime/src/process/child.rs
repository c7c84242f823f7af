//! [`Child`]: a running child process, its pipes, and its exit status.
//!
//! A `Child` owns the duty to *reap* its process (collect the exit status
//! with `waitpid`, which frees the zombie). [`wait`](Child::wait) does it
//! when the child exits; if the `Child` is dropped first, the duty passes to
//! a background reaper (`reap.rs`), so no zombie is ever left behind.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::pin;
use std::process::{ExitStatus, Output};
use std::task::{Context, Poll};

use super::reap::{self, Exit};
use super::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::io::{AsyncRead, AsyncReadExt};
use crate::sys::process as sys_process;

/// A child process spawned by [`Command::spawn`](super::Command::spawn).
///
/// The pipes requested with [`Stdio::piped`](super::Stdio::piped) are in
/// the public fields; take them out (`child.stdout.take()`) to use them
/// while the `Child` is borrowed by [`wait`](Child::wait).
///
/// Dropping a `Child` does not kill the process (unless
/// [`kill_on_drop`](super::Command::kill_on_drop) was set); it runs on, and
/// is reaped in the background when it exits.
pub struct Child {
    /// Our end of the child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// Our end of the child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// Our end of the child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    /// `Some` until the child is reaped.
    running: Option<Exit>,
    /// `Some` once it is.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

impl Child {
    /// Takes over a child std just spawned: its pid and its pipes. If that
    /// fails, the child is killed and reaped, and the error returned.
    pub(super) fn from_std(mut std: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let pid = std.id();
        let exit = match Exit::new(pid) {
            Ok(exit) => exit,
            // ESRCH: the kernel has already reaped the child (SIGCHLD is
            // ignored in this process), so its pid may belong to someone
            // else by now: neither signal nor wait for it.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Err(e),
            Err(e) => {
                // Not reaped yet, so the pid is still this child's.
                let _ = sys_process::send_sigkill(pid, None);
                reap::reap_on_thread(pid);
                return Err(e);
            }
        };
        let pipes = (|| {
            Ok::<_, io::Error>((
                std.stdin.take().map(ChildStdin::from_std).transpose()?,
                std.stdout.take().map(ChildStdout::from_std).transpose()?,
                std.stderr.take().map(ChildStderr::from_std).transpose()?,
            ))
        })();
        match pipes {
            Ok((stdin, stdout, stderr)) => Ok(Child {
                stdin,
                stdout,
                stderr,
                running: Some(exit),
                status: None,
                kill_on_drop,
            }),
            Err(e) => {
                let _ = exit.kill();
                exit.orphan();
                Err(e)
            }
        }
    }

    /// The child's process id, or `None` once it has been reaped (the number
    /// may then belong to another process).
    pub fn id(&self) -> Option<u32> {
        self.running.as_ref().map(Exit::pid)
    }

    /// Waits for the child to exit, reaps it, and returns its status.
    ///
    /// Closes the child's stdin first (drops [`stdin`](Child::stdin)), so a
    /// child that reads until end of input can finish. Does not read stdout
    /// or stderr: a child that fills a pipe nobody reads blocks forever; use
    /// [`wait_with_output`](Child::wait_with_output) to collect them.
    ///
    /// Cancel-safe, and may be called again after it returned: it then
    /// returns the same status.
    ///
    /// # Errors
    /// `ECHILD` if someone else reaped the child: `waitpid(-1)` elsewhere in
    /// the program, or `SIGCHLD` set to `SIG_IGN` (which makes the kernel
    /// reap children at once and throw their statuses away).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        poll_fn(|cx| self.poll_wait(cx)).await
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(status) = self.status {
            return Poll::Ready(Ok(status));
        }
        let exit = self
            .running
            .as_mut()
            .expect("a Child is running until reaped");
        let status = std::task::ready!(exit.poll_exit(cx))?;
        self.reaped(status);
        Poll::Ready(Ok(status))
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        self.running = None; // closes the pidfd
    }

    /// Reaps the child if it has exited (`Some(status)`), or returns
    /// `None` at once if it is still running. Never waits.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let exit = self
            .running
            .as_ref()
            .expect("a Child is running until reaped");
        let status = exit.try_reap()?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    /// True if this child's exit is awaited through `SIGCHLD`, not a pidfd.
    #[cfg(test)]
    pub(super) fn uses_sigchld(&self) -> bool {
        self.running.as_ref().is_some_and(Exit::uses_sigchld)
    }

    /// Sends `SIGKILL` to the child and returns at once, without waiting
    /// for it to die; [`wait`](Child::wait) afterwards to reap it (its
    /// status then reports signal 9). `Ok` if it had already exited.
    ///
    /// With a pidfd the signal goes through it, so it can never reach an
    /// unrelated process that reused the pid.
    pub fn kill(&mut self) -> io::Result<()> {
        match &self.running {
            Some(exit) => exit.kill(),
            None => Ok(()),
        }
    }

    /// Same as [`kill`](Child::kill) (the name other runtimes use for the
    /// variant that does not wait).
    pub fn start_kill(&mut self) -> io::Result<()> {
        self.kill()
    }

    /// Waits for the child to exit while reading all of its stdout and
    /// stderr (those that were piped), and returns everything.
    ///
    /// The reads and the wait make progress together, so a child that
    /// writes more than a pipe holds (64 KiB) cannot deadlock. Stdin is
    /// closed first.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let mut out = pin!(read_all(self.stdout.take()));
        let mut err = pin!(read_all(self.stderr.take()));
        let (mut stdout, mut stderr, mut status) = (None, None, None);
        poll_fn(|cx| {
            if stdout.is_none() {
                stdout = poll_some(out.as_mut(), cx);
            }
            if stderr.is_none() {
                stderr = poll_some(err.as_mut(), cx);
            }
            if status.is_none() {
                status = match self.poll_wait(cx) {
                    Poll::Ready(res) => Some(res),
                    Poll::Pending => None,
                };
            }
            if stdout.is_some() && stderr.is_some() && status.is_some() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        let none = "all three finished";
        Ok(Output {
            status: status.expect(none)?,
            stdout: stdout.expect(none)?,
            stderr: stderr.expect(none)?,
        })
    }
}

fn poll_some<F: Future>(fut: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> Option<F::Output> {
    match fut.poll(cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

async fn read_all<R: AsyncRead + Unpin>(reader: Option<R>) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    if let Some(mut reader) = reader {
        reader.read_to_end(&mut buf).await?;
    }
    Ok(buf)
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Some(exit) = self.running.take() {
            if self.kill_on_drop {
                let _ = exit.kill();
            }
            exit.orphan();
        }
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
