//! Every `unsafe` of the pool's process plumbing: starting children
//! (pre-exec hook, fork, descriptor cleanup), waiting for them, signals,
//! socket writes that cannot raise `SIGPIPE`, passing descriptors between
//! processes, and the hook that runs when the program is loaded.
//!
//! (The other half of the pool's `unsafe`, calling a function by its
//! offset and the shared "running task" word, is in `sys.rs`.)
//!
//! # Writes that cannot kill the parent
//!
//! Writing to a socket whose reader is gone raises `SIGPIPE`, whose default
//! action ends the process. Rust programs ignore it from `main` on, but a
//! program may restore the default (so that `prog | head` ends it quietly),
//! and the fork server's workers never ran `main` at all. So every write
//! of the pool goes through `send`/`sendmsg` with `MSG_NOSIGNAL`: a dead
//! reader is an `EPIPE` error, handled like the EOF that follows it.
//!
//! # The load-time hook
//!
//! [`AT_LOAD`] is an entry of the ELF `.init_array` section: the dynamic
//! loader calls it in every process of this program before `main`, while
//! the process still has a single thread. It costs one `getenv`; only in
//! a process started as a fork server (see `forkserver.rs`) does it do
//! anything.

use std::ffi::CString;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;

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

/// Takes ownership of a descriptor this process inherited from the parent
/// that started it (named in an environment variable, or passed to `fork`).
///
/// Close-on-exec is set again so that a job's own children do not inherit it.
pub(super) fn adopt_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::other(format!("bad inherited descriptor {fd}")));
    }
    // Fails with EBADF unless the descriptor is open.
    set_cloexec(fd, true)?;
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

/// Makes `cmd`'s child die with this process and inherit no descriptor but `keep`.
pub(super) fn configure_child(cmd: &mut Command, mut keep: Vec<RawFd>) {
    keep.sort_unstable();
    let parent = std::process::id();
    // SAFETY: the hook runs in the forked child before exec. `child_setup`
    // makes only async-signal-safe system calls (prctl, getppid,
    // close_range, fcntl) and neither allocates nor takes locks.
    unsafe {
        cmd.pre_exec(move || child_setup(&keep, parent, true));
    }
}

/// In a new child: die with the parent; close (fork) or mark close-on-exec
/// (exec) every descriptor from 3 up except `keep`, which stays inherited.
/// `keep` must be sorted.
fn child_setup(keep: &[RawFd], parent: u32, exec: bool) -> io::Result<()> {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // If the parent died before prctl, the signal will never come.
    // SAFETY: getppid cannot fail.
    if unsafe { libc::getppid() } as u32 != parent {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
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
    // SAFETY: fork has no memory-safety preconditions, and the caller is
    // single-threaded (see above), so the child's copy of memory holds no
    // lock owned by a thread that does not exist there. The child never
    // returns from this function.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            let result = child_setup(&keep, parent, false).and_then(|()| run());
            let code = match result {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("spindle pool worker {}: {e}", std::process::id());
                    1
                }
            };
            std::process::exit(code)
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

impl Exit {
    /// Nothing is known (reaped by someone else, or lost with the fork server).
    pub(super) const UNKNOWN: Exit = Exit {
        signal: None,
        code: None,
    };
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
        Exit::UNKNOWN
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
                    Some(libc::ECHILD) => return Ok(Some(Exit::UNKNOWN)),
                    _ => return Err(e),
                }
            }
            _ => return Ok(Some(decode_status(status))),
        }
    }
}

/// Reaps child `pid` if it has exited.
pub(super) fn try_wait(pid: u32) -> io::Result<Option<Exit>> {
    waitpid(pid, libc::WNOHANG)
}

/// Blocks until child `pid` exits and reaps it.
pub(super) fn wait(pid: u32) -> Exit {
    match waitpid(pid, 0) {
        Ok(Some(exit)) => exit,
        _ => Exit::UNKNOWN,
    }
}

/// Sends `SIGKILL` to a child we started and have not reaped yet (so the
/// pid cannot have been reused).
pub(super) fn kill(pid: u32) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

/// Sets this process's name as `ps` and `top` show it (at most 15 bytes).
/// A process started from `/proc/self/exe` would otherwise be called "exe".
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

/// Ignores `SIGPIPE`, as a Rust `main` does before it starts (the fork
/// server never runs `main`; its workers' jobs expect Rust's usual setup).
pub(super) fn ignore_sigpipe() {
    // SAFETY: sets a disposition to SIG_IGN; no handler is involved.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// One `send(MSG_NOSIGNAL)`: a reader that is gone is `EPIPE`, never `SIGPIPE`.
fn send(sock: &UnixStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Writes all of `buf` to a blocking socket, without `SIGPIPE`.
pub(super) fn send_all(sock: &UnixStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match send(sock, buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One vectored write (`sendmsg(MSG_NOSIGNAL)`): `writev` without `SIGPIPE`.
pub(super) fn send_vectored(sock: &UnixStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is guaranteed to have the layout of `struct iovec`; sendmsg
    // only reads through the pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len();
    // SAFETY: `msg` points at `bufs`, live for the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A connected `SOCK_SEQPACKET` pair (both ends close-on-exec): every
/// `send` arrives as one message, so a fixed-size message is read whole.
pub(super) fn seqpacket_pair() -> io::Result<(UnixStream, UnixStream)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair requires.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair just created both descriptors; nothing else owns
    // them. `UnixStream` is only used for its descriptor and timeouts; the
    // messages go through `send_msg` / `recv_msg`.
    Ok(unsafe {
        (
            UnixStream::from_raw_fd(fds[0]),
            UnixStream::from_raw_fd(fds[1]),
        )
    })
}

/// The ancillary buffer for up to two descriptors, aligned for `cmsghdr`.
#[repr(C)]
struct FdSpace {
    _align: [libc::cmsghdr; 0],
    bytes: [u8; 64],
}

const MAX_PASSED_FDS: usize = 2;

/// Sends one message with `fds` attached (`SCM_RIGHTS`), without `SIGPIPE`.
pub(super) fn send_msg(sock: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<()> {
    assert!(fds.len() <= MAX_PASSED_FDS);
    let mut space = FdSpace {
        _align: [],
        bytes: [0; 64],
    };
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr().cast_mut().cast(),
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let data_len = std::mem::size_of_val(fds);
        // SAFETY: CMSG_SPACE / CMSG_LEN are arithmetic. The control buffer
        // is 64 bytes, more than CMSG_SPACE of two ints (24), and aligned
        // for cmsghdr; CMSG_FIRSTHDR returns its start (non-null since
        // msg_controllen >= one header), and CMSG_DATA points inside it
        // with room for `data_len` bytes.
        unsafe {
            msg.msg_control = space.bytes.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(data_len as u32) as usize;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(data_len as u32) as usize;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr().cast::<u8>(),
                libc::CMSG_DATA(cmsg),
                data_len,
            );
        }
    }
    loop {
        // SAFETY: `msg` points at `iov` and `space`, both live for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receives one message into `buf` and the descriptors attached to it
/// (into `fds`, each received descriptor close-on-exec). `Ok(0)`: the
/// peer is gone. `wait: false` returns `WouldBlock` instead of blocking.
pub(super) fn recv_msg(
    sock: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    wait: bool,
) -> io::Result<usize> {
    let mut space = FdSpace {
        _align: [],
        bytes: [0; 64],
    };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.bytes.as_mut_ptr().cast();
    msg.msg_controllen = space.bytes.len();
    let flags = libc::MSG_CMSG_CLOEXEC | if wait { 0 } else { libc::MSG_DONTWAIT };
    let n = loop {
        // SAFETY: `msg` points at `iov` (over `buf`) and `space`, both live
        // and writable for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, flags) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    // SAFETY: the kernel filled `space` with well-formed control messages
    // up to `msg_controllen`; the CMSG_* macros walk exactly those. Every
    // SCM_RIGHTS descriptor is new in this process and gets one owner.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = data
                        .add(i * std::mem::size_of::<RawFd>())
                        .cast::<RawFd>()
                        .read_unaligned();
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors in one message",
        ));
    }
    Ok(n)
}

/// `pidfd_open(pid)`: a descriptor that becomes readable when child `pid` exits.
pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor
    // (close-on-exec) or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `poll(2)` without a timeout, retried on `EINTR`.
pub(super) fn poll(fds: &mut [libc::pollfd]) -> io::Result<()> {
    loop {
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reads and removes environment variable `name`, using only libc: this
/// runs before `main`, in a process with one thread.
pub(super) fn take_env_before_main(name: &str) -> Option<String> {
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

/// Ends this process now, without running `main`'s cleanup (the fork
/// server never entered `main`).
pub(super) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit ends the process; it has no preconditions.
    unsafe { libc::_exit(code) }
}

extern "C" fn at_load() {
    super::forkserver::at_program_start();
}

/// Runs [`at_load`] when the program is loaded, before `main` (the dynamic
/// loader calls every function pointer in `.init_array`).
// SAFETY: `.init_array` holds function pointers the loader calls with
// (argc, argv, envp); a C function that ignores its arguments may be
// called that way. `at_load` does not unwind (it catches panics) and, in
// an ordinary process, returns after one `getenv`.
#[used]
#[unsafe(link_section = ".init_array")]
static AT_LOAD: extern "C" fn() = at_load;
