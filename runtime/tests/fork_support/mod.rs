//! Forked children for the tests of `ipc`'s shared memory and process
//! locks: the mapping is inherited by `fork`, so a child shares the
//! parent's `Shared`, `Mutex`, ... without any transport.
//!
//! The test binary has many threads (libtest's, runtimes' and pools'), so
//! a child may only do async-signal-safe things: the `ipc` types' blocking
//! methods (atomics and futex, pidfd and poll system calls; nothing
//! allocates), then `_exit`. It reports through its exit code, never by
//! panicking (a panic allocates, and another thread may have held the
//! allocator's lock at the fork).
#![allow(dead_code)]

use std::time::Duration;

/// A forked child that has not been reaped yet.
#[derive(Debug)]
pub struct Child {
    pub pid: libc::pid_t,
}

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Forks; the child runs `f` and `_exit`s with the code it returns.
pub fn fork(f: impl FnOnce() -> i32) -> Child {
    // SAFETY: the child only runs `f`, which keeps to
    // async-signal-safe calls (see the module docs), then `_exit`s.
    match unsafe { libc::fork() } {
        -1 => panic!("fork: {}", std::io::Error::last_os_error()),
        0 => {
            let code = f();
            // SAFETY: ends the child without running the parent's
            // cleanup.
            unsafe { libc::_exit(code) }
        }
        pid => Child { pid },
    }
}

impl Child {
    /// Sends SIGKILL.
    pub fn kill(&self) {
        // SAFETY: plain integer arguments, our own unreaped child.
        assert_eq!(unsafe { libc::kill(self.pid, libc::SIGKILL) }, 0);
    }

    /// Waits at most `limit` for the child to end (it is SIGKILLed and the
    /// test fails past that), reaps it and says how it ended.
    pub fn wait_for(self, limit: Duration) -> Ended {
        // SAFETY: plain integer arguments.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid, 0) } as libc::c_int;
        if pidfd >= 0 {
            let mut pfd = libc::pollfd {
                fd: pidfd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, limit.as_millis() as libc::c_int) };
            // SAFETY: our pidfd, closed once.
            unsafe { libc::close(pidfd) };
            if n == 0 {
                self.kill();
                let _ = self.reap();
                panic!("child {} still running after {limit:?}", self.pid);
            }
        }
        self.reap()
    }

    /// Waits (at most 20 s) for the child; it must exit with code 0.
    pub fn success(self) {
        let pid = self.pid;
        assert_eq!(
            self.wait_for(Duration::from_secs(20)),
            Ended::Exited(0),
            "child {pid}"
        );
    }

    fn reap(&self) -> Ended {
        let mut status = 0;
        // SAFETY: our child, a writable status.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        if libc::WIFEXITED(status) {
            Ended::Exited(libc::WEXITSTATUS(status))
        } else {
            Ended::Signaled(libc::WTERMSIG(status))
        }
    }
}

/// A `u64` in anonymous shared memory, read and written with plain
/// (non-atomic) loads and stores: a counter that loses updates unless a
/// lock serializes its users.
pub struct RawCounter {
    ptr: *mut u64,
}

// SAFETY: the tests serialize access with the lock under test.
unsafe impl Send for RawCounter {}
// SAFETY: as above.
unsafe impl Sync for RawCounter {}

impl RawCounter {
    pub fn new() -> RawCounter {
        // SAFETY: a fresh anonymous shared mapping of one page.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        RawCounter { ptr: ptr.cast() }
    }

    /// Reads, yields the CPU a little, writes back plus one: a window for
    /// another process's increment to be lost.
    pub fn increment(&self) {
        // SAFETY: the mapping is live; volatile so the compiler keeps
        // the load and the store apart.
        unsafe {
            let v = self.ptr.read_volatile();
            for _ in 0..10 {
                std::hint::spin_loop();
            }
            self.ptr.write_volatile(v + 1);
        }
    }

    pub fn get(&self) -> u64 {
        // SAFETY: the mapping is live.
        unsafe { self.ptr.read_volatile() }
    }
}

impl Drop for RawCounter {
    fn drop(&mut self) {
        // SAFETY: our mapping, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), 4096) };
    }
}
