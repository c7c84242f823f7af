//! The worker side of a [`ProcessPool`](super::ProcessPool): how a worker
//! process starts serving, and the loop that serves tasks.
//!
//! # Entry
//!
//! A spawned worker is this program run again with `SPINDLE_POOL_WORKER`
//! in its environment. The load-time hook (`startup.rs`, an `.init_array`
//! constructor) calls [`at_program_start`] before `main`, in every process
//! of the program: it looks the variable up, and in a worker it serves
//! until the pool closes the connection, then exits, so the worker never
//! reaches `main`. The program's `main` needs no special first line.
//! [`worker_main`] remains for programs written when it did: it does the
//! same from `main`, and finds nothing to do once the hook has run.
//!
//! # The loop
//!
//! The loop is plain blocking code (a worker has nothing else to do): read
//! whatever the socket holds, run every complete TASK frame in it, append
//! each answer (OK, PANIC or REJECT) to an output buffer, and write that
//! buffer out, many answers per `write`. The buffer is flushed before the
//! next `read`, and also between tasks once an answer has waited 100 µs or
//! the last task took more than 20 µs, so a slow task does not hold back
//! the answers computed before it. Descriptors in an argument arrive
//! beside its bytes and go into its decoding; those in a result leave
//! with its answer frame (see `frame.rs`).
//!
//! Before each task the worker stores the task's id in the shared
//! `RunSlot`, and 0 after it. If the worker dies, the parent reads the slot
//! to learn which task was running: that task fails, the others are sent
//! again to another worker.
//!
//! A panic in the function is caught (`catch_unwind`) and answered with a
//! PANIC frame; the worker keeps serving. EOF on the socket (the parent
//! closed it, or died) ends the worker with exit status 0.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::call::{self, RunSlot};
use super::error::panic_message;
use super::frame::{self, FrameBuf};
use super::spawn::ENV;
use super::startup;
use crate::sys::process as sys_process;

/// Serves as a pool worker if this process was started as one, and then
/// exits; otherwise returns at once. Called by the load-time hook, before
/// `main`, while the process has one thread.
pub(super) fn at_program_start() {
    let Some(value) = startup::take_env_before_main(ENV) else {
        return;
    };
    // What Rust's `main` prologue would have done for the jobs' sake.
    startup::ignore_sigpipe();
    let code = match catch_unwind(AssertUnwindSafe(|| serve_from_env(OsStr::new(&value)))) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("spindle pool worker {}: {e}", std::process::id());
            1
        }
        Err(_) => 1,
    };
    std::process::exit(code)
}

/// Turns this process into a [`ProcessPool`](super::ProcessPool) worker if
/// it was started as one; otherwise returns at once. **No longer needed.**
///
/// Workers now start serving before `main` runs, from a hook the loader
/// calls when the program starts (see the [module docs](super) and
/// docs/guide.md): a program that uses a `ProcessPool` or a
/// [`Process`](crate::process::Process) needs nothing special in `main`,
/// and test binaries with libtest's `main` work too. Programs that still
/// call this function keep working: by the time `main` runs the hook has
/// done its part, and this call costs one environment lookup.
///
/// It serves only where the hook could not run (a program whose `main`
/// was entered with the worker's environment variable still set): then it
/// serves tasks until the pool closes the connection and exits the process.
///
/// ```no_run
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// fn main() {
///     // No `worker_main()` call needed: workers branch off before `main`.
///     spindle_runtime::block_on(async {
///         let pool = spindle_runtime::pool::ProcessPool::new(2).unwrap();
///         assert_eq!(pool.submit(double, 21).await, Ok(42));
///     });
/// }
/// ```
pub fn worker_main() {
    let Some(value) = std::env::var_os(ENV) else {
        return;
    };
    // Not for our own children (a task may start processes, or a pool).
    std::env::remove_var(ENV);
    let code = match serve_from_env(&value) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("spindle pool worker {}: {e}", std::process::id());
            1
        }
    };
    std::process::exit(code);
}

/// Parses `<sock fd>:<slot fd>:<parent pid>` and serves.
fn serve_from_env(value: &OsStr) -> io::Result<()> {
    let bad = || io::Error::other(format!("malformed {ENV}={value:?}"));
    let text = value.to_str().ok_or_else(bad)?;
    let mut parts = text.split(':').map(str::parse::<u32>);
    let (Some(Ok(sock)), Some(Ok(slot)), Some(Ok(parent)), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !startup::parent_is(parent) {
        // The parent died between our fork and now: nobody to serve.
        return Ok(());
    }
    if let Some(name) = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        sys_process::set_thread_name(&name);
    }
    serve_on(sock as RawFd, slot as RawFd)
}

/// The body of a worker forked by the fork server (`forkserver.rs`): the
/// server is single-threaded and never ran a runtime, so its child can
/// serve right here.
pub(super) fn serve_forked(keep: [RawFd; 2]) -> io::Result<()> {
    serve_on(keep[0], keep[1])
}

/// Adopts the inherited socket and run-slot descriptors and serves.
fn serve_on(sock: RawFd, slot: RawFd) -> io::Result<()> {
    let (sock, slot) = startup::adopt_worker_fds(sock, slot)?;
    let run = RunSlot::map(&slot)?;
    drop(slot);
    serve(&sock, &run)
}

/// Flush answers that have waited this long...
const FLUSH_AGE: Duration = Duration::from_micros(100);
/// ...or after a task this slow...
const LONG_TASK: Duration = Duration::from_micros(20);
/// ...or once this many bytes are waiting.
const FLUSH_BYTES: usize = 1 << 20;

/// Serves tasks until EOF.
fn serve(sock: &UnixStream, slot: &RunSlot) -> io::Result<()> {
    let mut out = Vec::with_capacity(64 << 10);
    // The answers in `out` that carry descriptors: (frame start, descriptors).
    let mut attached = Vec::new();
    let start = frame::begin(&mut out, frame::HELLO, u64::from(std::process::id()));
    out.extend_from_slice(&call::probe().to_le_bytes());
    frame::finish(&mut out, start);
    frame::send_blocking(sock.as_fd(), &out, &mut attached)?;
    out.clear();

    let mut input = FrameBuf::new();
    // Descriptors read and not yet claimed by a complete frame.
    let mut arrived: Vec<OwnedFd> = Vec::new();
    // When the oldest unsent answer was produced, and whether the last task was slow.
    let mut oldest: Option<Instant> = None;
    let mut last_was_long = false;
    loop {
        while let Some(f) = input.next_frame()? {
            if f.kind != frame::TASK {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "expected a TASK frame",
                ));
            }
            let fds = frame::take_fds(&mut arrived, f.fds)?;
            let stale = oldest.is_some_and(|t| t.elapsed() >= FLUSH_AGE);
            if !out.is_empty() && (last_was_long || stale || out.len() >= FLUSH_BYTES) {
                flush(sock, &mut out, &mut attached)?;
                oldest = None;
            }
            let began = Instant::now();
            slot.set(f.id);
            answer(f.id, input.bytes(f.body), fds, &mut out, &mut attached);
            slot.set(0);
            let now = Instant::now();
            last_was_long = now - began >= LONG_TASK;
            oldest.get_or_insert(now);
        }
        if !out.is_empty() {
            flush(sock, &mut out, &mut attached)?;
            oldest = None;
        }
        if input.recv_from(sock.as_fd(), &mut arrived, true)? == 0 {
            // The parent closed its end (shutdown) or is gone.
            return Ok(());
        }
    }
}

fn flush(
    sock: &UnixStream,
    out: &mut Vec<u8>,
    attached: &mut Vec<(usize, Vec<OwnedFd>)>,
) -> io::Result<()> {
    frame::send_blocking(sock.as_fd(), out, attached)?;
    out.clear();
    if out.capacity() > 4 * FLUSH_BYTES {
        // A huge answer went out: give the memory back.
        *out = Vec::with_capacity(64 << 10);
    }
    Ok(())
}

/// Runs the call in a TASK body (`fds`: the descriptors that came with
/// it) and appends its answer frame to `out`: OK with the result, PANIC
/// with the panic message, or REJECT. An OK answer whose result holds
/// descriptors is listed in `attached`. Returns the answer's kind.
pub(crate) fn answer(
    id: u64,
    body: &[u8],
    fds: Vec<OwnedFd>,
    out: &mut Vec<u8>,
    attached: &mut Vec<(usize, Vec<OwnedFd>)>,
) -> u8 {
    let start = frame::begin(out, frame::OK, id);
    match catch_unwind(AssertUnwindSafe(|| call::invoke(body, fds, out))) {
        Ok(Ok(result_fds)) => {
            frame::set_fds(out, start, result_fds.len());
            frame::finish(out, start);
            if !result_fds.is_empty() {
                attached.push((start, result_fds));
            }
            frame::OK
        }
        Ok(Err(reason)) => {
            out.truncate(start);
            frame::push_frame(out, frame::REJECT, id, reason.as_bytes());
            frame::REJECT
        }
        Err(payload) => {
            out.truncate(start);
            let message = panic_message(&*payload);
            frame::push_frame(out, frame::PANIC, id, message.as_bytes());
            frame::PANIC
        }
    }
}
