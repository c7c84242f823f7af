//! Every `unsafe` of the pool module: calling a function by its offset,
//! the shared "running task" word, and the process plumbing (pre-exec
//! hook, fork, wait, kill).
//!
//! # Calling `fn(A) -> R` in another process
//!
//! A function pointer is an address, and addresses differ between two runs
//! of a program (ASLR loads the executable at a random base). But *both
//! processes run the same file*, so every function sits at the same
//! distance from every other one. The parent therefore sends
//! `address(f) - address(worker_main)`, and the worker adds its own
//! `address(worker_main)` back. With `fork` the address space is copied and
//! the offsets work the same way. Functions must live in the executable
//! itself (the Rust default; not in a shared library loaded separately).
//!
//! The worker cannot know `A` and `R`, so the parent also sends the offset
//! of `trampoline::<A, R>`, the monomorphized glue that decodes an `A`,
//! calls the function and encodes the `R`. The glue first compares a hash
//! of the types it was compiled for with the hash the parent computed for
//! the call; before any task, the parent checks the worker's HELLO "probe"
//! offset against its own, which fails if the worker is a different build.

use std::any::{type_name, TypeId};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::i64_at;
use super::wire::{from_bytes, Wire};

/// The type-erased signature every `trampoline::<A, R>` has.
type Trampoline = fn(usize, u64, &[u8], &mut Vec<u8>) -> Result<(), String>;
/// The signature of [`invoke`], whose offset is the HELLO probe.
type Invoke = fn(&[u8], &mut Vec<u8>) -> Result<(), String>;

/// What a TASK frame says about the function to call.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallSite {
    pub(super) trampoline: i64,
    pub(super) function: i64,
    pub(super) type_hash: u64,
}

/// The reference point: a function both processes have at the same offset.
fn anchor() -> usize {
    super::worker_main as fn() as usize
}

fn offset_of(address: usize) -> i64 {
    address.wrapping_sub(anchor()) as i64
}

fn address_of(offset: i64) -> usize {
    anchor().wrapping_add(offset as usize)
}

/// Describes a call of `function` for a TASK frame.
pub(super) fn call_site<A: Wire + 'static, R: Wire + 'static>(function: fn(A) -> R) -> CallSite {
    CallSite {
        trampoline: offset_of(trampoline::<A, R> as Trampoline as usize),
        function: offset_of(function as usize),
        type_hash: type_hash::<A, R>(),
    }
}

/// The offset the worker reports in HELLO and the parent checks.
pub(super) fn probe() -> i64 {
    offset_of(invoke as Invoke as usize)
}

/// A hash of `fn(A) -> R`: FNV-1a of the type's name, mixed with its `TypeId`.
pub(super) fn type_hash<A: 'static, R: 'static>() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in type_name::<fn(A) -> R>().bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    // `DefaultHasher::new()` uses fixed keys: the same in every process.
    let mut sip = DefaultHasher::new();
    TypeId::of::<fn(A) -> R>().hash(&mut sip);
    hash ^ sip.finish()
}

/// The glue run in the worker: check, decode, call, encode.
fn trampoline<A: Wire + 'static, R: Wire + 'static>(
    function: usize,
    hash: u64,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let name = type_name::<fn(A) -> R>;
    if hash != type_hash::<A, R>() {
        return Err(format!("type check failed (the glue is for `{}`)", name()));
    }
    let arg: A = from_bytes(input)
        .map_err(|e| format!("the argument of a `{}` did not decode: {e}", name()))?;
    // SAFETY: `function` is `anchor + offset`, where the parent computed the
    // offset in `call_site::<A, R>` from a real `fn(A) -> R` (never null) in
    // the same executable (checked through the HELLO probe), so it is that
    // function's address in this process. The type hash just matched, so
    // `A` and `R` are the types it was cast from. `fn` pointers are
    // pointer-sized.
    let function = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    function(arg).encode(out);
    Ok(())
}

/// Runs the call described by a TASK body, appending the encoded result to `out`.
pub(super) fn invoke(body: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let (Some(trampoline), Some(function), Some(hash)) =
        (i64_at(body, 0), i64_at(body, 8), i64_at(body, 16))
    else {
        return Err("truncated task header".into());
    };
    let (trampoline, function) = (address_of(trampoline), address_of(function));
    if trampoline == 0 || function == 0 {
        return Err("null function offset".into());
    }
    // SAFETY: TASK frames come only from our parent, which runs the same
    // executable (it checked our HELLO probe) and wrote this offset in
    // `call_site` from `trampoline::<A, R> as Trampoline` for some `A`, `R`:
    // the address is such a function, and every instance has exactly the
    // `Trampoline` signature. The trampoline checks the rest.
    let trampoline = unsafe { std::mem::transmute::<usize, Trampoline>(trampoline) };
    trampoline(function, hash as u64, &body[24..], out)
}

/// Eight bytes of memory shared by the parent and one worker: the id of
/// the task the worker is running (0 between tasks). When a worker dies,
/// the parent reads it to know which task to blame.
pub(super) struct RunSlot {
    word: NonNull<AtomicU64>,
}

// SAFETY: the mapping is only accessed through the atomic; it is owned by
// this value and unmapped once, in Drop.
unsafe impl Send for RunSlot {}
// SAFETY: as above: shared access is atomic.
unsafe impl Sync for RunSlot {}

const SLOT_LEN: usize = 8;

impl RunSlot {
    /// A new memfd-backed slot (the fd is close-on-exec) and its mapping.
    pub(super) fn create() -> io::Result<(RunSlot, OwnedFd)> {
        // SAFETY: the name is a NUL-terminated literal; the result is a new
        // descriptor or -1.
        let fd = unsafe { libc::memfd_create(c"spindle-pool-slot".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and belongs to nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: plain system call on a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), SLOT_LEN as libc::off_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((RunSlot::map(&fd)?, fd))
    }

    /// Maps the slot behind `fd` (the worker's side).
    pub(super) fn map(fd: &OwnedFd) -> io::Result<RunSlot> {
        // SAFETY: a fresh shared mapping of the memfd's 8 bytes, at an address
        // the kernel picks; nothing else refers to that memory yet.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SLOT_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let word = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(RunSlot { word })
    }

    fn word(&self) -> &AtomicU64 {
        // SAFETY: the mapping is page-aligned, 8 bytes long and lives until
        // Drop; both processes use it only through atomic operations.
        unsafe { self.word.as_ref() }
    }

    pub(super) fn set(&self, task: u64) {
        self.word().store(task, Ordering::Release);
    }

    pub(super) fn get(&self) -> u64 {
        self.word().load(Ordering::Acquire)
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, once.
        unsafe { libc::munmap(self.word.as_ptr().cast(), SLOT_LEN) };
    }
}

/// Sets or clears close-on-exec on `fd`.
fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on an integer; an invalid fd is an EBADF error. This is
    // async-signal-safe (it runs in the pre-exec hook too).
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        let flags = if on {
            flags | libc::FD_CLOEXEC
        } else {
            flags & !libc::FD_CLOEXEC
        };
        if libc::fcntl(fd, libc::F_SETFD, flags) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In a worker started by exec: takes ownership of the socket and slot
/// descriptors named in its environment, and maps the slot.
pub(super) fn adopt_worker_fds(sock: RawFd, slot: RawFd) -> io::Result<(UnixStream, RunSlot)> {
    if sock < 3 || slot < 3 || sock == slot {
        return Err(io::Error::other("bad worker descriptors"));
    }
    // Both must be open before anything takes ownership of them.
    set_cloexec(sock, true)?;
    set_cloexec(slot, true)?;
    // SAFETY: the parent opened these for us and cleared close-on-exec on
    // them only (pre-exec hook); no other code in this process knows them,
    // so each gets exactly one owner here. Close-on-exec is set again so a
    // task's own child processes do not inherit them.
    let (sock, slot) = unsafe { (UnixStream::from_raw_fd(sock), OwnedFd::from_raw_fd(slot)) };
    let run = RunSlot::map(&slot)?;
    Ok((sock, run))
}

/// Makes `cmd`'s child die with its parent and inherit no descriptor but `keep`.
pub(super) fn configure_child(cmd: &mut Command, keep: [RawFd; 2]) {
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec. `child_setup`
    // makes only async-signal-safe system calls (prctl, getppid,
    // close_range, fcntl) and neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || child_setup(keep, parent, true));
    }
}

/// In a new child: die with the parent; close (fork) or mark close-on-exec
/// (exec) every descriptor from 3 up except `keep`, which stays inherited.
fn child_setup(mut keep: [RawFd; 2], parent: u32, exec: bool) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // If the parent died before prctl, the signal will never come.
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } as u32 != parent {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    keep.sort_unstable();
    let flags = if exec { libc::CLOSE_RANGE_CLOEXEC } else { 0 };
    let mut low = 3;
    for fd in keep {
        if fd > low {
            close_range(low, fd - 1, flags);
        }
        low = low.max(fd + 1);
    }
    close_range(low, RawFd::MAX, flags);
    for fd in keep {
        set_cloexec(fd, false)?;
    }
    Ok(())
}

fn close_range(low: RawFd, high: RawFd, flags: libc::c_uint) {
    // SAFETY: close_range only affects this (child) process's descriptor
    // table. On kernels without it (before 5.9/5.11) it fails with ENOSYS;
    // then the close-on-exec flag every descriptor in spindle is born with
    // is the protection.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            low as libc::c_uint,
            high as libc::c_uint,
            flags,
        )
    };
}

/// Forks a worker that runs `run` and exits; returns its pid.
///
/// The child of a multi-threaded process is a copy of the *calling thread
/// only*: a lock another thread held at the fork stays locked forever in
/// the child. `run` therefore starts the worker loop on a fresh thread and
/// does nothing else; see `StartMethod::Fork` for the trade-offs.
pub(super) fn fork_worker(keep: [RawFd; 2], run: impl FnOnce()) -> io::Result<u32> {
    let parent = std::process::id();
    // SAFETY: fork has no memory-safety preconditions. In the child we make
    // async-signal-safe calls (`child_setup`), then run `run`, whose
    // allocations rely on glibc's fork handlers resetting the malloc locks;
    // the child never returns from here: it ends in `_exit`, running no
    // destructor and no atexit handler of the parent's state.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let ok = child_setup(keep, parent, false).is_ok()
                && catch_unwind(AssertUnwindSafe(run)).is_ok();
            // SAFETY: ends the child immediately.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        pid => Ok(pid as u32),
    }
}

/// How a worker process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Exit {
    pub(super) signal: Option<i32>,
    pub(super) code: Option<i32>,
}

fn decode_status(status: libc::c_int) -> Exit {
    if libc::WIFSIGNALED(status) {
        Exit {
            signal: Some(libc::WTERMSIG(status)),
            code: None,
        }
    } else if libc::WIFEXITED(status) {
        Exit {
            signal: None,
            code: Some(libc::WEXITSTATUS(status)),
        }
    } else {
        Exit {
            signal: None,
            code: None,
        }
    }
}

fn waitpid(pid: u32, flags: libc::c_int) -> io::Result<Option<Exit>> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status through a valid pointer.
        let r = unsafe { libc::waitpid(pid as libc::pid_t, &mut status, flags) };
        match r {
            0 => return Ok(None),
            -1 => {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    // Reaped by someone else (SIGCHLD ignored, say): status unknown.
                    Some(libc::ECHILD) => {
                        return Ok(Some(Exit {
                            signal: None,
                            code: None,
                        }))
                    }
                    _ => return Err(e),
                }
            }
            _ => return Ok(Some(decode_status(status))),
        }
    }
}

/// Reaps `pid` if it has exited.
pub(super) fn try_wait(pid: u32) -> io::Result<Option<Exit>> {
    waitpid(pid, libc::WNOHANG)
}

/// Blocks until `pid` exits and reaps it.
pub(super) fn wait(pid: u32) -> io::Result<Exit> {
    waitpid(pid, 0).map(|exit| exit.expect("a blocking waitpid returned no status"))
}

/// Sends `SIGKILL` to a worker we started and have not reaped yet (so the
/// pid cannot have been reused).
pub(super) fn kill(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Sets this process's name as `ps` and `top` show it (at most 15 bytes).
/// A worker started from `/proc/self/exe` would otherwise be called "exe".
pub(super) fn set_process_name(name: &str) {
    let mut buf = [0u8; 16];
    let n = name.len().min(15);
    buf[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, buf.as_ptr()) };
}

/// True if our parent is still the process `pid` (not re-parented to init).
pub(super) fn parent_is(pid: u32) -> bool {
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() as u32 == pid }
}
