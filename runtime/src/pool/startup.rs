//! How the pool's processes (and [`Process`](crate::process::Process)
//! children) start: the pre-exec hook of a spawned child, the forking of a
//! worker by the fork server, adopting inherited descriptors, and the hook
//! that runs when the program is loaded.
//!
//! The system calls themselves are the runtime's (`crate::sys`); what is
//! here is the pool's use of them. (Calling a function by its offset, and
//! the shared "running job" word, are in `call.rs`.)
//!
//! # Writes that cannot kill the parent
//!
//! Writing to a socket whose reader is gone raises `SIGPIPE`, whose default
//! action ends the process. Rust programs ignore it from `main` on, but a
//! program may restore the default (so that `prog | head` ends it quietly),
//! and the fork server's workers never ran `main` at all. So every write
//! of the pool goes through `send`/`sendmsg` with `MSG_NOSIGNAL`
//! (`crate::sys::socket`): a dead reader is an `EPIPE` error, handled like
//! the EOF that follows it.
//!
//! # The load-time hook: no ceremony in `main`
//!
//! [`AT_LOAD`] is an entry of the ELF `.init_array` section: the dynamic
//! loader (or, in a static executable, the C library's startup code)
//! calls it in every process of this program before `main`, while the
//! process still has a single thread. Every child spindle starts by
//! running the program again is told apart by an environment variable,
//! which the hook looks up (three `getenv`s, in this order):
//!
//! * `SPINDLE_POOL_FORKSERVER`: the process is a pool's fork server
//!   (`forkserver.rs`): it serves, forking workers, and exits;
//! * `SPINDLE_POOL_WORKER`: a spawned pool worker (`worker.rs`): it serves
//!   jobs until the pool closes its connection, and exits;
//! * `SPINDLE_PROCESS`: a [`Process`](crate::process::Process) child: it
//!   runs its one function and exits.
//!
//! The variable is removed first, so the child's own children do not
//! inherit it. None of these processes ever reaches `main`: a program
//! using pools or `Process` needs nothing special in `main`, and a test
//! binary, whose `main` is libtest's, works the same. In every other
//! process the hook returns at once.
//!
//! What runs in such a child is the program as it is before `main`:
//! statics at their initial values, Rust's standard library ready (its
//! own load-time hook, which records the command line, runs before this
//! one), but nothing of Rust's `main` prologue: the hook ignores
//! `SIGPIPE` itself, as the prologue does; no handler reports a stack
//! overflow (the child dies of `SIGSEGV`), and the main thread has no
//! name in panic messages. A constructor of the program's own that sorts
//! before this one (an `.init_array.NNNNN` priority section) runs in the
//! children too.

use std::ffi::CString;
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::sys::process::{self as sys_process, Forked};
use crate::sys::{fd as sys_fd, signal as sys_signal};

/// Takes ownership of a descriptor this process inherited from the parent
/// that started it (named in an environment variable, or passed to `fork`).
///
/// Close-on-exec is set again so that a job's own children do not inherit it.
pub(crate) fn adopt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::other(format!("bad inherited descriptor {fd}")));
    }
    // SAFETY: only borrowed for the fcntl, which fails with EBADF unless
    // the descriptor is open.
    sys_fd::set_cloexec(unsafe { BorrowedFd::borrow_raw(fd) }, true)?;
    // SAFETY: the parent opened this descriptor for us (and cleared
    // close-on-exec on it only); no other code in this process knows its
    // number, and each caller adopts a given number once.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// In a worker: takes ownership of its socket and run-slot descriptors.
pub(super) fn adopt_worker_fds(sock: RawFd, slot: RawFd) -> io::Result<(UnixStream, OwnedFd)> {
    if sock == slot {
        return Err(io::Error::other("bad worker descriptors"));
    }
    Ok((UnixStream::from(adopt_fd(sock)?), adopt_fd(slot)?))
}

/// Makes `cmd`'s child inherit no descriptor but `keep` and, if
/// `die_with_parent`, die with this process (`PR_SET_PDEATHSIG`: strictly,
/// with the thread that spawns it).
pub(crate) fn configure_child(cmd: &mut Command, mut keep: Vec<RawFd>, die_with_parent: bool) {
    keep.sort_unstable();
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec. `child_setup`
    // makes only async-signal-safe system calls (prctl, getppid,
    // close_range, fcntl) and neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || child_setup(&keep, parent, true, die_with_parent));
    }
}

/// In a new child: die with the parent if asked; close (fork) or mark
/// close-on-exec (exec) every descriptor from 3 up except `keep`, which
/// stays inherited. `keep` must be sorted. Async-signal-safe.
fn child_setup(keep: &[RawFd], parent: u32, exec: bool, die_with_parent: bool) -> io::Result<()> {
    if die_with_parent {
        sys_process::set_parent_death_signal(libc::SIGKILL)?;
        // If the parent died before prctl, the signal will never come.
        if sys_process::parent_pid() != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    let flags = if exec { libc::CLOSE_RANGE_CLOEXEC } else { 0 };
    let mut low = 3;
    for &fd in keep {
        if fd > low {
            close_range(low, fd - 1, flags);
        }
        low = low.max(fd + 1);
    }
    close_range(low, RawFd::MAX, flags);
    for &fd in keep {
        // SAFETY: `fd` is one of the descriptors this child must inherit,
        // open for as long as the borrow (the fcntl).
        sys_fd::set_cloexec(unsafe { BorrowedFd::borrow_raw(fd) }, false)?;
    }
    Ok(())
}

fn close_range(low: RawFd, high: RawFd, flags: libc::c_uint) {
    // SAFETY: we are in a new child, before exec or in the fork server's
    // forked copy: the descriptors in range belong to code that will never
    // run here again (with CLOSE_RANGE_CLOEXEC nothing is closed now). On
    // kernels without close_range (before 5.9/5.11) it fails with ENOSYS;
    // then the close-on-exec flag every descriptor in spindle is born with
    // is the protection, so the error is ignored.
    let _ = unsafe { sys_fd::close_range(low as libc::c_uint, high as libc::c_uint, flags) };
}

/// Forks a child that keeps only the descriptors `keep` (sorted), dies
/// with this process, runs `run` and exits; returns its pid.
///
/// **Only for a single-threaded process** (the fork server): the child of
/// a multi-threaded process is a copy of the calling thread alone, and any
/// lock another thread held at that moment would stay locked in it. With
/// one thread there is no such lock, and the child may run any code.
pub(super) fn fork_child(
    keep: [RawFd; 2],
    run: impl FnOnce() -> io::Result<()>,
) -> io::Result<u32> {
    let parent = std::process::id();
    let mut keep = keep;
    keep.sort_unstable();
    // SAFETY: the caller is single-threaded (see above), so the child's copy
    // of memory holds no lock owned by a thread that does not exist there.
    // The child never returns from this function.
    match unsafe { sys_process::fork() }? {
        Forked::Child => {
            let result = child_setup(&keep, parent, false, true).and_then(|()| run());
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("spindle pool worker {}: {e}", std::process::id());
                    1
                }
            };
            std::process::exit(code)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

/// True if our parent is still the process `pid` (not re-parented to init).
pub(crate) fn parent_is(pid: u32) -> bool {
    sys_process::parent_pid() == pid
}

/// Ignores `SIGPIPE`, as a Rust `main` does before it starts (the fork
/// server never runs `main`; its workers' jobs expect Rust's usual setup).
pub(crate) fn ignore_sigpipe() {
    // Cannot fail for a valid signal number and SIG_IGN.
    let _ = sys_signal::ignore(libc::SIGPIPE);
}

/// Reads and removes environment variable `name`, using only libc: this
/// runs before `main`, in a process with one thread, where std's
/// environment lock may not be ready yet.
pub(crate) fn take_env_before_main(name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    // SAFETY: `name` is NUL-terminated. Before `main` the process has one
    // thread, so nothing can change the environment while we read it, and
    // the value is copied out before `unsetenv` frees it.
    unsafe {
        let value = libc::getenv(name.as_ptr());
        if value.is_null() {
            return None;
        }
        let copy = std::ffi::CStr::from_ptr(value)
            .to_string_lossy()
            .into_owned();
        libc::unsetenv(name.as_ptr());
        Some(copy)
    }
}

extern "C" fn at_load() {
    // Each returns at once unless this process was started as that kind
    // of child; if it was, it never returns (the process exits).
    super::forkserver::at_program_start();
    super::worker::at_program_start();
    crate::process::multiprocess_at_program_start();
}

/// Runs [`at_load`] when the program is loaded, before `main` (the dynamic
/// loader calls every function pointer in `.init_array`).
// SAFETY: `.init_array` holds function pointers the loader calls with
// (argc, argv, envp); a C function that ignores its arguments may be
// called that way. `at_load` does not unwind (each entry catches panics)
// and, in an ordinary process, returns after three `getenv`s.
#[used]
#[unsafe(link_section = ".init_array")]
static AT_LOAD: extern "C" fn() = at_load;
