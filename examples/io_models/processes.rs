//! Process-per-core (the notes' multiprocessing server, 多进程 + 异步): one
//! child process per CPU, each with its own current-thread spindle runtime
//! and its own `SO_REUSEPORT` listener on the same port, each serving
//! exactly as `spindle_async.rs` does. `sharded.rs` with processes for
//! threads: nginx's workers, or Python's `multiprocessing` server with an
//! event loop in every worker.
//!
//! ```rust,ignore
//! for cpu in allowed_cpus {                                    // the parent
//!     Process::new(worker, (cpu, addr, ..)).daemon(true).start()?;
//! }
//! fn worker(..) {                                              // each child
//!     pin(cpu);
//!     Runtime::builder().current_thread().build()?.block_on(async {
//!         let listener = TcpListener::bind_reuseport(addr).await?;
//!         accept_loop_on(listener).await                       // as spindle-epoll
//!     })
//! }
//! ```
//!
//! # Where it blocks
//!
//! As `spindle-sharded`: every worker's only thread sleeps in its own
//! `epoll_wait`, for its own connections. The kernel picks the worker of a
//! connection before any wakes: `SO_REUSEPORT` puts the listeners into one
//! group and hashes each new connection's addresses and ports to one of
//! their accept queues.
//!
//! ```text
//!   parent: starts the workers, then waits for them (serves nothing)
//!                   kernel: hash(client addr, port) -> one of the queues
//!             ┌───────────────────────┴───────────────────────┐
//!   worker 0 (CPU 0): listener 0, epoll_wait,    worker 1 (CPU 1): listener 1, epoll_wait,
//!          tasks of its connections                     tasks of its connections
//! ```
//!
//! # Against threads (`spindle-sharded`)
//!
//! The same code and the same kernel paths; what differs is what the
//! workers share. Shards are threads of one process: one address space,
//! one descriptor table, one allocator, and a crash in one shard ends them
//! all. Workers are processes: each has its own memory and descriptors (a
//! descriptor table, and the mm's locks, that no other worker ever
//! touches), a worker's crash cannot corrupt another's memory, and each
//! pays for its own copy of the program's memory (the RSS column). (This
//! server still stops as a whole when a worker dies, as the sharded one
//! does when a shard fails; a long-lived server would start a new worker
//! instead.) Starting one is an `exec` of this program (spindle's `Process`
//! re-runs the program, which enters the worker before `main`), not a
//! thread spawn: a few milliseconds, once.
//!
//! # The first listener, and the parent
//!
//! `io_models::serve` hands every model one bound, listening socket. As in
//! `sharded.rs` it gets `SO_REUSEPORT` (Linux accepts it on a listening
//! socket) and goes to worker 0, passed as a descriptor in the `Process`'s
//! argument; the parent then closes its copy, so no listener is left in
//! the group that nobody accepts on. The other workers bind their own
//! with `TcpListener::bind_reuseport` and raise the backlog to the
//! showdown's 65535.
//!
//! A connection stays in the accept queue the kernel hashed it to, and a
//! listener joins the group only once its worker has bound it: a few
//! milliseconds after the start (an `exec` and a runtime), long enough for
//! a client that connects at once (the showdown opens all its connections
//! as soon as it reads the address) to put every connection on worker 0.
//! So the server announces its address only once every worker listens:
//! each releases a permit of an [`ipc::Semaphore`](spindle::ipc::Semaphore)
//! when it is ready, and the parent takes one per worker before it calls
//! the `announce` of `io_models::serve_announced` (which prints the
//! `listening on ADDR` line).
//!
//! The workers are daemons: they die (`SIGKILL`, from the kernel) when the
//! parent dies, however it dies, so killing the server's pid stops them
//! all. The parent waits for them on a current-thread runtime and returns
//! the first worker's failure. Every worker stays in the parent's process
//! group, which is what the showdown samples for the server's CPU time.
//!
//! The workers are as many as the CPUs the parent may run on, each pinned
//! to one of them: with the showdown's `--pin` (server on CPU 0) that is
//! one.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};

use spindle::ipc::Semaphore;
use spindle::net::TcpListener;
use spindle::pool::{DecodeError, Wire};
use spindle::process::{Process, ProcessError};
use spindle::task::JoinSet;
use spindle::{Backend, JoinError, Runtime};

use super::sharded::{set_reuseport, BACKLOG};
use super::spindle_async::accept_loop_on;

/// What a worker process is told: the argument of its `Process`.
struct Worker {
    /// The CPU to pin itself to.
    cpu: usize,
    /// The address every worker's listener binds.
    addr: SocketAddr,
    /// Worker 0's listener: the one the server was handed.
    listener: Option<OwnedFd>,
    /// Gets a permit from each worker once it listens.
    ready: Semaphore,
}

// Field by field; the listener travels as a descriptor beside the bytes.
impl Wire for Worker {
    fn encode(&self, out: &mut Vec<u8>) {
        self.cpu.encode(out);
        self.addr.to_string().encode(out);
        self.listener.encode(out);
        self.ready.encode(out);
    }

    fn decode(input: &mut &[u8]) -> Result<Worker, DecodeError> {
        Ok(Worker {
            cpu: Wire::decode(input)?,
            addr: String::decode(input)?
                .parse()
                .map_err(|_| DecodeError::new("not a socket address"))?,
            listener: Wire::decode(input)?,
            ready: Wire::decode(input)?,
        })
    }
}

/// Serves the echo protocol with one worker process per CPU, forever:
/// calls `announce` with the address once every worker listens; returns
/// when a worker ends (with its failure) or cannot be started.
pub fn serve(
    listener: std::net::TcpListener,
    announce: impl FnOnce(SocketAddr) -> io::Result<()>,
) -> io::Result<()> {
    set_reuseport(&listener)?;
    let addr = listener.local_addr()?;
    let cpus = allowed_cpus()?;
    let ready = Semaphore::new(0)?;
    let runtime = Runtime::builder()
        .current_thread()
        .poller(Backend::Epoll)
        .build()?;
    runtime.block_on(async move {
        let mut first = Some(OwnedFd::from(listener));
        let mut workers = JoinSet::new();
        for (index, &cpu) in cpus.iter().enumerate() {
            let worker = Worker {
                cpu,
                addr,
                listener: first.take(),
                ready: ready.clone(),
            };
            let mut process = Process::new(work, worker)
                .name(format!("echo-worker-{index}"))
                .daemon(true)
                .start()?;
            // `start` sent a duplicate of the listener and dropped the
            // argument: the parent holds no listener any more.
            workers.spawn(async move { (index, process.join().await) });
        }
        // A permit from every worker, unless one ends first.
        let all_ready = async {
            for _ in 0..cpus.len() {
                ready.acquire().await.forget();
            }
        };
        spindle::select! {
            () = all_ready => {}
            ended = workers.join_next() => return Err(worker_ended(ended)),
        }
        // stderr: stdout's first line is the `listening on` line.
        eprintln!("running {} worker processes, one per CPU", cpus.len());
        announce(addr)?;
        // The workers serve forever: the first to end is a failure.
        Err(worker_ended(workers.join_next().await))
    })
}

/// What the parent's [`JoinSet`] said when a worker ended.
type Ended = Option<Result<(usize, Result<Result<(), String>, ProcessError>), JoinError>>;

/// The error for a worker that ended: workers end only on failure.
fn worker_ended(ended: Ended) -> io::Error {
    match ended {
        Some(Ok((index, Ok(Err(why))))) => io::Error::other(format!("worker {index}: {why}")),
        Some(Ok((index, Ok(Ok(()))))) => io::Error::other(format!("worker {index} returned")),
        Some(Ok((index, Err(ended)))) => io::Error::other(format!("worker {index}: {ended}")),
        Some(Err(e)) => io::Error::other(e),
        None => io::Error::other("no CPU to run a worker on"),
    }
}

/// A worker process: pins itself, binds its listener (worker 0 has been
/// handed one) and serves until it fails.
fn work(worker: Worker) -> Result<(), String> {
    serve_worker(worker).map_err(|e| e.to_string())
}

fn serve_worker(worker: Worker) -> io::Result<()> {
    pin_to(worker.cpu)?;
    let runtime = Runtime::builder()
        .current_thread()
        .poller(Backend::Epoll)
        .build()?;
    runtime.block_on(async move {
        let listener = match worker.listener {
            Some(fd) => TcpListener::from_std(std::net::TcpListener::from(fd))?,
            None => {
                let listener = TcpListener::bind_reuseport(worker.addr).await?;
                // SAFETY: `listen` on a socket descriptor we own.
                if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                listener
            }
        };
        worker.ready.release(); // listening: clients may come
        accept_loop_on(listener).await
    })
}

/// The CPUs this process may run on (its affinity mask), in order.
fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity
    // fills at most `size_of::<cpu_set_t>()` bytes of it; CPU_ISSET reads
    // within it for every index below CPU_SETSIZE.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
            .collect())
    }
}

/// Pins this process (its only thread so far, and those it starts later)
/// to `cpu`.
fn pin_to(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET stays in bounds
    // for cpu < CPU_SETSIZE (the kernel rejects the rest).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
