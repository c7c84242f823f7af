//! The child side of a [`Process`](super::Process): what a process started
//! as one does before `main`, from the program's load-time hook.
//!
//! The parent ran this program again (`/proc/self/exe`) with
//! `SPINDLE_PROCESS=<socket fd>:<parent pid>` in its environment. The
//! loader calls the pool's `.init_array` hook (`pool/startup.rs`) before
//! `main`, which calls [`at_program_start`]; here the variable is found
//! (and removed, so the child's own children do not see it), and the
//! process:
//!
//! 1. adopts its end of the socket (the only descriptor it inherited
//!    besides stdin, stdout and stderr) and ignores `SIGPIPE`, as Rust's
//!    `main` prologue would;
//! 2. reads the NAME frame and gives itself that name (`PR_SET_NAME`: what
//!    `/proc/PID/comm`, `ps` and `top` show), then the TASK frame and the
//!    descriptors that came with it;
//! 3. calls the function through its offset (`pool/call.rs`), catching a
//!    panic, and sends one answer frame back: OK with the result (and the
//!    result's descriptors), PANIC with the message, or REJECT;
//! 4. exits with status 0 after OK, 1 otherwise, through
//!    `std::process::exit`, so that what the function printed is flushed.
//!
//! It never returns to the loader, so the child never runs `main`. A
//! daemon child was also set up, before `exec`, to receive `SIGKILL` when
//! its parent dies (`PR_SET_PDEATHSIG`, which survives `exec`).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::pool::frame::{self, FrameBuf};
use crate::pool::{startup, worker};
use crate::sys::process as sys_process;

/// The environment variable that makes a process a `Process` child.
pub(super) const ENV: &str = "SPINDLE_PROCESS";

/// Exit status of a child whose function did not return (it panicked, or
/// could not be called), or that could not start; Python's is 1 too.
const FAILED: i32 = 1;

/// Runs the child's function and exits if this process was started as a
/// `Process` child; otherwise returns at once. Called by the load-time
/// hook, before `main`, while the process has one thread.
pub(crate) fn at_program_start() {
    let Some(value) = startup::take_env_before_main(ENV) else {
        return;
    };
    startup::ignore_sigpipe();
    let code = match catch_unwind(AssertUnwindSafe(|| run_from_env(&value))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => {
            eprintln!("spindle process {}: {e}", std::process::id());
            FAILED
        }
        Err(_) => FAILED,
    };
    std::process::exit(code)
}

/// Parses `<socket fd>:<parent pid>`, runs the task, returns the exit status.
fn run_from_env(value: &str) -> io::Result<i32> {
    let bad = || io::Error::other(format!("malformed {ENV}={value:?}"));
    let (fd, _parent) = value.split_once(':').ok_or_else(bad)?;
    let fd = fd.parse().map_err(|_| bad())?;
    let sock = UnixStream::from(startup::adopt_fd(fd)?);
    let mut input = FrameBuf::new();
    let mut arrived: Vec<OwnedFd> = Vec::new();
    loop {
        while let Some(f) = input.next_frame()? {
            let fds = frame::take_fds(&mut arrived, f.fds)?;
            match f.kind {
                frame::NAME => {
                    sys_process::set_thread_name(&String::from_utf8_lossy(input.bytes(f.body)));
                }
                frame::TASK => return Ok(run_task(&sock, input.bytes(f.body), fds)),
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "expected a NAME or TASK frame",
                    ))
                }
            }
        }
        if input.recv_from(sock.as_fd(), &mut arrived, true)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the parent closed the connection before sending the task",
            ));
        }
    }
}

/// Calls the function, sends the answer; returns the exit status.
fn run_task(sock: &UnixStream, body: &[u8], fds: Vec<OwnedFd>) -> i32 {
    let mut out = Vec::new();
    let mut attached = Vec::new();
    let kind = worker::answer(0, body, fds, &mut out, &mut attached);
    // A parent that dropped its `Process` (detached it) reads nothing:
    // then the send fails with EPIPE (never SIGPIPE), and that is fine.
    let _ = frame::send_blocking(sock.as_fd(), &out, &mut attached);
    if kind == frame::OK {
        0
    } else {
        FAILED
    }
}
