//! What the side-by-side measuring programs (`echo.rs`, `hyper.rs`, `scale.rs`, `mt.rs`,
//! `uring_file.rs`) share:
//! starting this same binary again as a pinned child process, reading a
//! process's CPU time and memory from `/proc`, waiting for a quiet machine,
//! and taking medians.
//!
//! How a measurement goes: the parent starts a server child pinned to CPU 0
//! and a load child pinned to CPU 1 (`taskset -c`, or `--cpu N` and
//! `sched_setaffinity` in the child when taskset is missing). The load
//! prints `START` when its warm-up is over and `END ...` when its window
//! closes; the parent takes a [`CpuSample`] at each, and the difference
//! ([`CpuSample::window_since`]) is the CPU the server and the load used in
//! the window, and how much the rest of the machine used (other engineers'
//! builds, which disturb the figures). [`least_disturbed`] repeats a run
//! that was disturbed too much and keeps the quietest.
//!
//! Each program compiles this module as its own copy and uses a part of it,
//! hence the `dead_code` allowance.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second: the unit of the times in `/proc/<pid>/stat`.
pub fn clk_tck() -> f64 {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// utime + stime of a process, in seconds, from /proc/<pid>/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    // Fields after the command name, which is in parentheses: state is
    // field 3, utime field 14 and stime field 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f[11].parse().unwrap();
    let stime: f64 = f[12].parse().unwrap();
    (utime + stime) / clk_tck()
}

/// Busy time of the whole machine (all CPUs), in seconds, from /proc/stat:
/// user + nice + system + irq + softirq + steal.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("read /proc/stat");
    let cpu = stat.lines().next().expect("cpu line");
    let f: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / clk_tck()
}

/// user + sys CPU seconds of all waited-for children of this process.
pub fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// user + sys CPU seconds of this process so far, all its threads.
pub fn self_cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the zeroed struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The CPU the rest of the machine used while one child process ran to
/// its end: the machine's busy time minus what this process's waited-for
/// children used, over the wall time. Start it just before the child.
pub struct OthersDuring {
    busy0: f64,
    children0: f64,
    start: Instant,
}

impl OthersDuring {
    /// Takes the starting sample.
    pub fn start() -> OthersDuring {
        OthersDuring {
            busy0: machine_busy_seconds(),
            children0: children_cpu_seconds(),
            start: Instant::now(),
        }
    }

    /// The share of one CPU others used since `start` (call it after the
    /// child was waited for).
    pub fn share(&self) -> f64 {
        let wall = self.start.elapsed().as_secs_f64();
        let others =
            (machine_busy_seconds() - self.busy0) - (children_cpu_seconds() - self.children0);
        others.max(0.0) / wall
    }
}

/// Waits (up to `max`) until other processes use less than 15% of one CPU
/// over one second, so a measurement does not start in the middle of
/// someone's build. Returns how long it waited.
pub fn wait_quiet(max: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let b0 = machine_busy_seconds();
        std::thread::sleep(Duration::from_secs(1));
        let busy = machine_busy_seconds() - b0;
        if busy < 0.15 || start.elapsed() >= max {
            return start.elapsed();
        }
    }
}

/// VmRSS of a process in KiB, from /proc/<pid>/status.
pub fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

/// Raises the soft open-file limit to the hard limit.
pub fn raise_nofile() {
    // SAFETY: plain syscalls on a local struct.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Pins this process to one CPU (used when `taskset` is not installed).
pub fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; sched_setaffinity(0, ..) is this process.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!(
                "sched_setaffinity({cpu}) failed: {}",
                io::Error::last_os_error()
            );
        }
    }
}

/// True when the `taskset` program can be run.
pub fn has_taskset() -> bool {
    has_program("taskset", "-V")
}

/// True when `program arg` runs and exits successfully.
pub fn has_program(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A command for this binary, pinned to `cpu`: through `taskset` when it
/// is there, else by passing `--cpu N` (the binary pins itself, see
/// [`pin_to_cpu`]). Unpinned on a machine with a single CPU.
pub fn pinned(cpu: usize, taskset: bool) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    if ncpu < 2 {
        return Command::new(exe);
    }
    if taskset {
        let mut c = Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(exe);
        c
    } else {
        let mut c = Command::new(exe);
        c.arg("--cpu").arg(cpu.to_string());
        c
    }
}

/// A command for this binary, on no CPU in particular (the scheduler
/// places it, and may move it).
pub fn unpinned() -> Command {
    Command::new(std::env::current_exe().expect("current_exe"))
}

/// Reads one line of a child's stdout, trimmed; panics if the child closed it.
pub fn read_line(out: &mut BufReader<ChildStdout>, what: &str) -> String {
    let mut line = String::new();
    let n = out.read_line(&mut line).expect("read child stdout");
    assert!(n > 0, "{what}: child closed its stdout");
    line.trim().to_string()
}

/// A server child of this binary (`--serve KIND`), pinned to CPU 0: killed
/// when this is dropped.
pub struct ServerChild {
    /// The child process.
    pub child: KillOnDrop,
    /// Its process id, for [`CpuSample::take`] and [`vm_rss_kb`].
    pub pid: u32,
    /// The address it listens on, from the `LISTENING <addr>` line it
    /// prints first.
    pub addr: String,
}

impl ServerChild {
    /// Starts `--serve kind --addr 127.0.0.1:0` on CPU 0 and waits for its
    /// `LISTENING` line.
    pub fn start(kind: &str, taskset: bool) -> ServerChild {
        ServerChild::start_from(pinned(0, taskset), kind)
    }

    /// Starts `server` (this binary, pinned or not, with any options of its
    /// own already added) with `--serve kind --addr 127.0.0.1:0`, and waits
    /// for its `LISTENING` line.
    pub fn start_from(mut server: Command, kind: &str) -> ServerChild {
        server
            .args(["--serve", kind, "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped());
        let mut child = KillOnDrop(server.spawn().expect("start server"));
        let pid = child.0.id();
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        let line = read_line(&mut out, "server");
        let addr = line
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("server said {line:?}"))
            .to_string();
        ServerChild { child, pid, addr }
    }
}

/// The value of `name` (e.g. `count=`) in a line of `name=value` words.
pub fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// A child process that is killed (and reaped) when this is dropped, so a
/// panicking parent leaves no server behind.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU seconds used so far by the server, the load (if it is a process of
/// its own) and the whole machine, taken at one instant.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    server: f64,
    load: f64,
    machine: f64,
}

/// What a window between two [`CpuSample`]s cost, in CPU seconds.
#[derive(Clone, Copy, Debug)]
pub struct CpuWindow {
    /// CPU the server used.
    pub server: f64,
    /// CPU the load generator used.
    pub load: f64,
    /// CPU every other process on the machine used.
    pub foreign: f64,
}

impl CpuSample {
    /// Samples the server, the load (`None`: not a process, e.g. in-process),
    /// and the machine.
    pub fn take(server_pid: u32, load_pid: Option<u32>) -> CpuSample {
        CpuSample {
            server: cpu_seconds(server_pid),
            load: load_pid.map_or(0.0, cpu_seconds),
            machine: machine_busy_seconds(),
        }
    }

    /// The CPU used from `start` to this sample.
    pub fn window_since(&self, start: &CpuSample) -> CpuWindow {
        let server = self.server - start.server;
        let load = self.load - start.load;
        let machine = self.machine - start.machine;
        CpuWindow {
            server,
            load,
            foreign: (machine - server - load).max(0.0),
        }
    }
}

/// spindle's multi-threaded runtime with `workers` workers.
pub fn spindle_multi_thread(workers: usize) -> spindle::Runtime {
    spindle::Runtime::builder()
        .multi_thread()
        .worker_threads(workers)
        .build()
        .expect("spindle runtime")
}

/// The median over rounds of `f(a's run) / f(b's run)`, run `r` of each
/// being one round: a "paired" ratio, out of which a slow spell of the
/// machine that spans a round cancels.
pub fn paired_ratio<T>(a: &[T], b: &[T], f: impl Fn(&T) -> f64) -> f64 {
    median(a.iter().zip(b).map(|(x, y)| f(x) / f(y)).collect())
}

/// The median of some figures (the mean of the middle two for an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The options that make this binary one of the children the parent
/// starts (`#[command(flatten)]` into a program's arguments).
#[derive(clap::Args, Clone, Debug)]
pub struct ChildArgs {
    /// Be a server: `spindle` or `tokio` (current-thread), or, where the
    /// program has them, `spindle-mt` or `tokio-mt` (multi-threaded), or
    /// `spindle-uring`, `spindle-uring-multi` (multishot receive into a
    /// provided-buffer ring) or `monoio` (current-thread, io_uring completions),
    /// or `spindle-uring-mt`, `spindle-uring-multi-mt` (the same two spindle
    /// servers, multi-threaded), or `raw-epoll-mt`, `raw-uring-mt` (the
    /// echo program's servers with no runtime, one loop per worker).
    /// Prints `LISTENING <addr>`.
    #[arg(long, value_name = "RUNTIME", value_parser = ["spindle", "tokio", "spindle-mt", "tokio-mt", "spindle-uring", "spindle-uring-mt", "spindle-uring-multi", "spindle-uring-multi-mt", "monoio", "raw-epoll-mt", "raw-uring-mt"])]
    pub serve: Option<String>,
    /// The server's address (with --serve, or a load's).
    #[arg(long, value_name = "HOST:PORT")]
    pub addr: Option<String>,
    /// Pin this process to CPU N (children, when taskset is missing).
    #[arg(long, value_name = "N")]
    pub cpu: Option<usize>,
}

/// How hard [`least_disturbed`] tries for an undisturbed run: options of
/// every measuring program (`#[command(flatten)]` into its arguments).
#[derive(clap::Args, Clone, Copy, Debug)]
pub struct Quiet {
    /// Seconds to wait for other processes to use < 15% of a CPU before each run.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub quiet_wait: f64,
    /// Repeat a run during which other processes used more than this many CPUs.
    #[arg(long, value_name = "CPUS", default_value_t = 0.10)]
    pub max_other: f64,
    /// Runs tried per measurement, keeping the least disturbed.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub attempts: usize,
}

/// What `cargo bench` passes to every bench target, which a measuring
/// program takes and ignores (`#[command(flatten)]` into its arguments).
#[derive(clap::Args, Clone, Debug)]
pub struct CargoBenchArgs {
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
    /// Ignored: `cargo bench -- FILTER` passes its filter to every bench,
    /// and the filters are meant for the criterion benches.
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
}

/// One kept run of a measurement: waits for a quiet machine, runs, and runs
/// again (up to `quiet.attempts` times in all) while other processes used
/// more than `quiet.max_other` of a CPU during the run (`other(&result)`,
/// as a share of one CPU); keeps the least disturbed run. `report` sees
/// every attempt with its number.
pub fn least_disturbed<P>(
    quiet: Quiet,
    mut run: impl FnMut() -> P,
    other: impl Fn(&P) -> f64,
    report: impl Fn(&P, usize),
) -> P {
    let mut best: Option<P> = None;
    for attempt in 1..=quiet.attempts.max(1) {
        if quiet.quiet_wait > 0.0 {
            let waited = wait_quiet(Duration::from_secs_f64(quiet.quiet_wait));
            if waited > Duration::from_millis(1500) {
                println!(
                    "  (waited {:.0} s for other processes to quiet down)",
                    waited.as_secs_f64()
                );
            }
        }
        let p = run();
        report(&p, attempt);
        let foreign = other(&p);
        if best.as_ref().is_none_or(|b| foreign < other(b)) {
            best = Some(p);
        }
        if foreign <= quiet.max_other {
            break;
        }
    }
    best.unwrap()
}

/// The `spawn` case, the same code for every runtime: spawn `tasks` tasks
/// that return their index with `$spawn`, then await each handle (`$h` names
/// it in `$join`, which yields the `u64`); the time is of those two loops.
#[allow(unused_macros)]
macro_rules! spawn_case {
    ($tasks:expr, $spawn:expr, $h:ident => $join:expr) => {{
        let tasks: u64 = $tasks;
        let start = Instant::now();
        let mut handles = Vec::with_capacity(tasks as usize);
        for i in 0..tasks {
            handles.push($spawn(async move { i }));
        }
        let mut sum = 0u64;
        for $h in handles {
            sum += $join;
        }
        let elapsed = start.elapsed();
        assert_eq!(sum, tasks * (tasks - 1) / 2);
        elapsed
    }};
}
#[allow(unused_imports)]
pub(crate) use spawn_case;
