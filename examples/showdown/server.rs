//! The server side of the showdown: starting a model's server as a child
//! process, reading its resource use from `/proc`, and killing it (and its
//! whole process group) afterwards, even on panic or Ctrl-C.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long a child may take to print `listening on ADDR`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of the child's stderr kept to explain a failure.
const KEEP_LINES: usize = 20;

/// The process group of the server now running, for the signal handler.
static CURRENT_GROUP: AtomicI32 = AtomicI32::new(0);

/// A model's server, running in a child process that leads its own group.
pub struct Server {
    child: Child,
    pid: i32,
    addr: SocketAddr,
    stderr: Arc<Mutex<VecDeque<String>>>,
    killed: bool,
}

/// What the server's process group used, at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// CPU time of the group in nanoseconds: see [`group_sample`].
    pub cpu_ns: u64,
    /// VmRSS summed over the group.
    pub rss_kb: u64,
    /// Threads summed over the group.
    pub threads: u64,
    /// Processes in the group.
    pub procs: u64,
}

impl Server {
    /// Starts `showdown --serve MODEL` and waits for its address.
    pub fn start(model: &str, pin: bool) -> io::Result<Server> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(exe);
        cmd.args(["--serve", model, "--addr", "127.0.0.1:0"]);
        if pin {
            cmd.args(["--cpu", "0"]);
        }
        // The model decides its backend, not a variable left in the shell.
        cmd.env_remove("SPINDLE_POLLER");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe. If this program dies without
        // cleaning up, the kernel kills the server.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id() as i32;
        CURRENT_GROUP.store(pid, Ordering::SeqCst);

        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(err) = child.stderr.take() {
            keep_lines(err, Arc::clone(&stderr), None);
        }
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            keep_lines(out, Arc::new(Mutex::new(VecDeque::new())), Some(tx));
        }
        let mut server = Server {
            child,
            pid,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr,
            killed: false,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                thread::sleep(Duration::from_millis(50));
                let why = server.explain("no `listening on ADDR` line".to_string());
                return Err(io::Error::other(why));
            }
        };
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| io::Error::other(format!("unexpected first line {line:?}")))?;
        server.addr = addr;
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True while the server process has not exited.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `what`, plus how the server ended and its last words, if it did.
    pub fn explain(&mut self, what: String) -> String {
        let mut text = what;
        if let Ok(Some(status)) = self.child.try_wait() {
            text.push_str(&format!("; server {status}"));
        }
        let lines = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(last) = lines.back() {
            text.push_str(&format!(": {last}"));
        }
        text
    }

    /// CPU time, memory and threads of the server's process group now.
    pub fn sample(&self) -> Sample {
        group_sample(self.pid)
    }

    /// Kills the whole group and reaps every process of it.
    pub fn kill(&mut self) {
        if self.killed {
            return;
        }
        self.killed = true;
        // SAFETY: plain system calls on our own child's group.
        unsafe {
            libc::kill(-self.pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        // We are a child subreaper (see `install_cleanup`): the fork model's
        // children, orphaned by the kill, are ours now. Reap them.
        loop {
            // SAFETY: waitpid with a null status pointer is allowed.
            let r = unsafe { libc::waitpid(-self.pid, std::ptr::null_mut(), 0) };
            if r <= 0 {
                break;
            }
        }
        let _ = CURRENT_GROUP.compare_exchange(self.pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `from` line by line on a thread: the first line goes to `first`,
/// the last few are kept in `keep`. Draining also keeps the child from
/// blocking on a full pipe.
fn keep_lines(
    from: impl Read + Send + 'static,
    keep: Arc<Mutex<VecDeque<String>>>,
    first: Option<mpsc::Sender<String>>,
) {
    thread::spawn(move || {
        let mut first = first;
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if let Some(tx) = first.take() {
                let _ = tx.send(line);
                continue;
            }
            let mut lines = keep.lock().unwrap_or_else(|e| e.into_inner());
            if lines.len() == KEEP_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    });
}

/// Sums the `/proc` figures of every process whose process group is `pgid`.
///
/// CPU time per process is `utime + stime + cutime + cstime` of
/// `/proc/PID/stat`. Those are in clock ticks (10 ms), each rounded down
/// per process: harmless for one big process, but the fork model's
/// thousand children each use a few milliseconds, and a thousand
/// round-downs lose most of it. So for a single-threaded process the exact
/// figure is taken instead, `/proc/PID/schedstat`'s first field (ns on the
/// CPU: the same clock utime + stime are derived from).
fn group_sample(pgid: i32) -> Sample {
    let mut sample = Sample::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return sample;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Some(stat) = read_stat(pid) else { continue };
        if stat.pgrp != pgid {
            continue;
        }
        sample.procs += 1;
        let tick_ns = 1e9 / ticks_per_sec();
        let own = match (stat.threads, read_schedstat_ns(pid)) {
            (1, Some(ns)) => ns,
            _ => ((stat.utime + stat.stime) as f64 * tick_ns) as u64,
        };
        sample.cpu_ns += own + ((stat.cutime + stat.cstime) as f64 * tick_ns) as u64;
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            sample.rss_kb += status_field(&status, "VmRSS:");
            sample.threads += status_field(&status, "Threads:");
        }
    }
    sample
}

struct Stat {
    pgrp: i32,
    utime: u64,
    stime: u64,
    cutime: u64,
    cstime: u64,
    threads: u64,
}

/// Nanoseconds the process's main thread has run (`/proc/PID/schedstat`).
fn read_schedstat_ns(pid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// The fields of `/proc/PID/stat` we need. The command name (field 2) is in
/// parentheses and may contain spaces, so fields are counted from the last `)`.
fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    // rest[0] is field 3 (state), so field k is rest[k - 3].
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |k: usize| f.get(k - 3).and_then(|s| s.parse::<i64>().ok());
    Some(Stat {
        pgrp: num(5)? as i32,
        utime: num(14)?.max(0) as u64,
        stime: num(15)?.max(0) as u64,
        cutime: num(16)?.max(0) as u64,
        cstime: num(17)?.max(0) as u64,
        threads: num(20)?.max(0) as u64,
    })
}

/// `Key:   123 kB` -> 123 (0 if absent, as for a zombie's VmRSS).
fn status_field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The whole machine's CPU time from the first line of `/proc/stat`, in ns:
/// (busy: user + nice + system + irq + softirq, steal).
pub fn machine_cpu_ns() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let tick_ns = 1e9 / ticks_per_sec();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let busy = at(0) + at(1) + at(2) + at(5) + at(6);
    (
        (busy as f64 * tick_ns) as u64,
        (at(7) as f64 * tick_ns) as u64,
    )
}

/// Clock ticks per second, the unit of `/proc/PID/stat` times.
pub fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// This process's own CPU time (all its threads: the load generator), in ns.
pub fn self_cpu_ns() -> u64 {
    // SAFETY: getrusage fills a local struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(usage.ru_utime) + us(usage.ru_stime)) * 1000
}

/// Binds the listener with a long accept queue (the kernel caps it at
/// `net.core.somaxconn`), so thousands of connects in a row do not overflow
/// it while a slow server (fork) catches up.
pub fn bind(addr: &str) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    // Calling listen again on a listening socket only changes its backlog.
    // SAFETY: a valid socket descriptor we own.
    if unsafe { libc::listen(listener.as_raw_fd(), 65535) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(listener)
}

/// Raises this process's soft limit on open files to the hard limit.
pub fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Pins the calling thread (and the threads it starts later) to one CPU.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays in bounds
    // for cpu < CPU_SETSIZE, which the kernel checks anyway.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

pub fn online_cpus() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

/// Makes this process a child subreaper (so the fork model's orphans come
/// back to it to be reaped) and kills the running server's group on
/// Ctrl-C, SIGTERM or SIGHUP before exiting.
pub fn install_cleanup() {
    extern "C" fn on_signal(sig: libc::c_int) {
        let group = CURRENT_GROUP.load(Ordering::SeqCst);
        // SAFETY: kill and _exit are async-signal-safe.
        unsafe {
            if group > 0 {
                libc::kill(-group, libc::SIGKILL);
            }
            libc::_exit(128 + sig);
        }
    }
    // SAFETY: prctl and sigaction with a handler that only calls
    // async-signal-safe functions.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}
