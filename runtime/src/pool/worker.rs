//! The worker side of a [`ProcessPool`](super::ProcessPool): [`worker_main`]
//! and the loop that serves tasks.
//!
//! The loop is plain blocking code (a worker has nothing else to do): read
//! whatever the socket holds, run every complete TASK frame in it, append
//! each answer (OK, PANIC or REJECT) to an output buffer, and write that
//! buffer out, many answers per `write`. The buffer is flushed before the
//! next `read`, and also between tasks once an answer has waited 100 µs or
//! the last task took more than 20 µs, so a slow task does not hold back
//! the answers computed before it.
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
use std::io::{self, Read};
use std::os::fd::{AsFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use super::call::{self, RunSlot};
use super::error::panic_message;
use super::frame::{self, FrameBuf};
use super::spawn::ENV;
use super::startup;
use crate::sys::process as sys_process;
use crate::sys::socket as sys_socket;

/// Turns this process into a [`ProcessPool`](super::ProcessPool) worker if
/// it was started as one; otherwise returns at once.
///
/// **Call it first thing in `main`** of every program that creates a
/// `ProcessPool` with the default start method: workers are started by
/// running the program's own executable again (`/proc/self/exe`), with an
/// environment variable that this function looks for. In a worker it never
/// returns: it serves tasks until the pool closes the connection, then
/// exits the process. In any other process it costs one environment lookup.
///
/// ```no_run
/// fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// fn main() {
///     spindle_runtime::pool::worker_main(); // first: workers branch off here
///     spindle_runtime::block_on(async {
///         let pool = spindle_runtime::pool::ProcessPool::new(2).unwrap();
///         assert_eq!(pool.submit(double, 21).await, Ok(42));
///     });
/// }
/// ```
///
/// Anything `main` does before this call also runs in every worker, and if
/// `main` does not call it at all, each worker runs your whole program
/// again (the pool then fails to start with an error naming this function).
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
fn serve(mut sock: &UnixStream, slot: &RunSlot) -> io::Result<()> {
    let mut out = Vec::with_capacity(64 << 10);
    let start = frame::begin(&mut out, frame::HELLO, u64::from(std::process::id()));
    out.extend_from_slice(&call::probe().to_le_bytes());
    frame::finish(&mut out, start);
    sys_socket::send_all(sock.as_fd(), &out)?;
    out.clear();

    let mut input = FrameBuf::new();
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
            let stale = oldest.is_some_and(|t| t.elapsed() >= FLUSH_AGE);
            if !out.is_empty() && (last_was_long || stale || out.len() >= FLUSH_BYTES) {
                flush(sock, &mut out)?;
                oldest = None;
            }
            let began = Instant::now();
            run_task(f.id, input.bytes(f.body), slot, &mut out);
            let now = Instant::now();
            last_was_long = now - began >= LONG_TASK;
            oldest.get_or_insert(now);
        }
        if !out.is_empty() {
            flush(sock, &mut out)?;
            oldest = None;
        }
        let n = match sock.read(input.spare()?) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            // The parent closed its end (shutdown) or is gone.
            return Ok(());
        }
        input.filled(n);
    }
}

fn flush(sock: &UnixStream, out: &mut Vec<u8>) -> io::Result<()> {
    sys_socket::send_all(sock.as_fd(), out)?;
    out.clear();
    if out.capacity() > 4 * FLUSH_BYTES {
        // A huge answer went out: give the memory back.
        *out = Vec::with_capacity(64 << 10);
    }
    Ok(())
}

/// Runs one task, appending its answer frame to `out`.
fn run_task(id: u64, body: &[u8], slot: &RunSlot, out: &mut Vec<u8>) {
    slot.set(id);
    let start = frame::begin(out, frame::OK, id);
    let outcome = catch_unwind(AssertUnwindSafe(|| call::invoke(body, out)));
    slot.set(0);
    match outcome {
        Ok(Ok(())) => frame::finish(out, start),
        Ok(Err(reason)) => {
            out.truncate(start);
            frame::push_frame(out, frame::REJECT, id, reason.as_bytes());
        }
        Err(payload) => {
            out.truncate(start);
            let message = panic_message(&*payload);
            frame::push_frame(out, frame::PANIC, id, message.as_bytes());
        }
    }
}
