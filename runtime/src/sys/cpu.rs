//! CPUs: which ones this thread may run on, pinning a thread to one, and
//! which one it is running on now (`sched_getaffinity`,
//! `sched_setaffinity`, `sched_getcpu`). Used by `shard`, which puts one
//! runtime on each CPU, and by the ipc pipe, which spins before it sleeps
//! only on a machine with more than one CPU.
//!
//! A CPU set is a fixed-size bitmap (`cpu_set_t`, `CPU_SETSIZE` = 1024
//! bits); CPU numbers are the kernel's (as in `/proc/cpuinfo`), which need
//! not be contiguous: a container or `taskset` may allow CPUs 2 and 5 only.

use std::io;
use std::mem;

use super::cvt;

/// The CPUs the calling thread may run on, in increasing order
/// (`sched_getaffinity(0)`). A new thread inherits its creator's set, so
/// on the main thread this is the set the process was started with
/// (`taskset`, cgroup cpusets).
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a live cpu_set_t of the size passed; the kernel
    // writes at most that many bytes.
    cvt(unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    let mut cpus = Vec::new();
    for cpu in 0..8 * mem::size_of::<libc::cpu_set_t>() {
        // SAFETY: `cpu` is below the bit size of `set`.
        if unsafe { libc::CPU_ISSET(cpu, &set) } {
            cpus.push(cpu);
        }
    }
    Ok(cpus)
}

/// Whether the machine has more than one CPU online
/// (`sysconf(_SC_NPROCESSORS_ONLN)`, asked once per process and kept).
pub(crate) fn several_online() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not asked yet; 1: one CPU; 2: several.
    static SEVERAL: AtomicU8 = AtomicU8::new(0);
    match SEVERAL.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: sysconf takes a plain integer and returns one.
            let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
            let several = online > 1;
            SEVERAL.store(1 + u8::from(several), Ordering::Relaxed);
            several
        }
        known => known == 2,
    }
}

/// Pins the calling thread to `cpu` alone (`sched_setaffinity(0)`); threads
/// it starts afterwards inherit the pin. `EINVAL` if `cpu` is not one the
/// process may use.
pub(crate) fn pin_current_thread(cpu: usize) -> io::Result<()> {
    if cpu >= 8 * mem::size_of::<libc::cpu_set_t>() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("CPU {cpu} is beyond CPU_SETSIZE"),
        ));
    }
    // SAFETY: an all-zero cpu_set_t is a valid, empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `cpu` was checked to be below the bit size of `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a live cpu_set_t of the size passed; the kernel only
    // reads it.
    cvt(unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) })?;
    Ok(())
}

/// The CPU the calling thread is running on at this instant
/// (`sched_getcpu`); without a pin it may change right after the call.
pub(crate) fn current_cpu() -> io::Result<usize> {
    // SAFETY: no arguments; returns a CPU number or -1 with errno.
    cvt(unsafe { libc::sched_getcpu() }).map(|cpu| cpu as usize)
}
