//! Every IO model of `examples/io_models/` echoes correctly, and the
//! select-based ones refuse connections past `FD_SETSIZE` without hanging.
//!
//! Each server runs in a child process: the `io_model` example binary, which
//! `cargo test` builds into `target/<profile>/examples/` before it runs the
//! tests. (`cargo test --test io_models` alone does not build examples: run
//! `cargo build --examples` first.) A child process is required by the fork
//! model and keeps each model's threads and descriptors apart.

// Uses only part of the module.
#[allow(dead_code)]
#[path = "../examples/io_models/mod.rs"]
mod io_models;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use io_models::Model;

/// Bound on every blocking step, so a broken server fails a test instead
/// of hanging it.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Message sizes each client sends, one at a time, waiting for each echo.
const SIZES: [usize; 8] = [1, 64, 2, 1000, 4096, 65_536, 100_000, 64];

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// Starts `io_model --model NAME --addr 127.0.0.1:0` and reads the
    /// address from its `listening on ADDR` line.
    fn start(model: &Model) -> Server {
        Server::start_under(model, &[])
    }

    /// As [`start`](Server::start), run through `wrapper` (a command and
    /// its arguments that then runs the server, as `prlimit ... --`).
    fn start_under(model: &Model, wrapper: &[&str]) -> Server {
        let bin = example_binary();
        let name = model.name();
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let mut child = command
            .args(["--model", &name, "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Reads the first line, then keeps draining so the server never
        // writes into a closed pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("{name}: no `listening on` line from the server: {other:?}");
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"));
        Server { child, addr }
    }

    /// Panics if the server process has exited.
    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            panic!("the server exited: {status}");
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `target/<profile>/examples/io_model`, next to this test's `deps/` dir.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary in target/<profile>/deps");
    let bin = profile_dir.join("examples").join("io_model");
    assert!(
        bin.exists(),
        "{} not found: the io_models tests run the `io_model` example, which \
         `cargo test` builds but `cargo test --test io_models` does not; \
         run `cargo build --examples` first (same profile and target dir)",
        bin.display()
    );
    bin
}

/// Connects with bounded timeouts for connect, read and write.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// A message that differs per client, round and position.
fn message(client: usize, round: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + client * 7 + round * 13) as u8)
        .collect()
}

/// Sends `msg` (from a second thread, so a large message cannot deadlock
/// against its own echo) and checks that exactly `msg` comes back.
fn echo_once(stream: &mut TcpStream, msg: &[u8], what: &str) {
    let mut writer = stream.try_clone().expect("try_clone");
    let mut got = vec![0u8; msg.len()];
    std::thread::scope(|s| {
        let sender = s.spawn(move || writer.write_all(msg));
        stream
            .read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{what}: reading the echo of {} bytes: {e}", msg.len()));
        sender.join().unwrap().expect("write");
    });
    assert!(got == msg, "{what}: wrong echo for {} bytes", msg.len());
}

/// One client's conversation: every size in [`SIZES`], then close.
fn conversation(addr: SocketAddr, client: usize, model: &str) {
    let mut stream = connect(addr);
    for (round, &len) in SIZES.iter().enumerate() {
        let what = format!("{model}, client {client}, round {round}");
        echo_once(&mut stream, &message(client, round, len), &what);
    }
}

/// Three clients, concurrently (one after the other for the loop server,
/// which serves one at a time by design).
fn check_model(model: Model) {
    let mut server = Server::start(&model);
    let name = model.name();
    if model == Model::Blocking {
        for client in 0..3 {
            conversation(server.addr, client, &name);
        }
    } else {
        std::thread::scope(|s| {
            for client in 0..3 {
                let (addr, name) = (server.addr, &name);
                s.spawn(move || conversation(addr, client, name));
            }
        });
    }
    server.assert_alive();
    if model == Model::Forked {
        check_no_zombies(&mut server);
    }
}

/// The fork server reaps its children: once the clients have left, one more
/// accept collects them, leaving at most that newest child's zombie.
fn check_no_zombies(server: &mut Server) {
    std::thread::sleep(Duration::from_millis(200));
    conversation(server.addr, 9, "fork");
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id();
    let zombies: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                return false;
            };
            // "pid (comm) state ppid ...": parse after the last ')'.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let mut fields = rest.split_whitespace();
            let state = fields.next();
            let ppid = fields.next().and_then(|f| f.parse::<u32>().ok());
            state == Some("Z") && ppid == Some(pid)
        })
        .collect();
    assert!(zombies.len() <= 1, "fork server left zombies: {zombies:?}");
}

macro_rules! model_tests {
    ($($test:ident: $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_model(Model::parse($name).expect("a model name"));
            }
        )*

        /// The tests above cover exactly the models the module offers.
        #[test]
        fn every_model_is_tested() {
            let mut offered: Vec<String> = Model::all().iter().map(Model::name).collect();
            offered.extend(Model::async_all().iter().map(Model::name));
            offered.extend(Model::multi_core().iter().map(Model::name));
            offered.sort();
            offered.dedup();
            let mut tested = vec![$($name.to_string()),*];
            tested.sort();
            assert_eq!(offered, tested);
        }
    };
}

model_tests! {
    blocking: "blocking",
    threads: "threads",
    fork: "fork",
    nonblocking: "nonblocking",
    select: "select",
    poll: "poll",
    epoll: "epoll",
    sigio: "sigio",
    uring_completion: "uring-completion",
    spindle_uring_completion: "spindle-uring-completion",
    spindle_epoll: "spindle-epoll",
    spindle_poll: "spindle-poll",
    spindle_select: "spindle-select",
    spindle_io_uring: "spindle-io_uring",
    spindle_sharded: "spindle-sharded",
    spindle_sharded_uring: "spindle-sharded-uring",
    spindle_mt: "spindle-mt",
    spindle_processes: "spindle-processes",
}

/// Signal-driven IO when the kernel cannot queue the sockets' real-time
/// signals: with `RLIMIT_SIGPENDING` at 0 every one of them fails, and the
/// kernel sends a plain `SIGIO` instead, which does not say which socket is
/// ready. The server must then try every connection; the clients' echoes
/// all come back.
#[test]
fn sigio_serves_through_a_full_signal_queue() {
    let mut server =
        Server::start_under(&Model::SignalDriven, &["prlimit", "--sigpending=0", "--"]);
    std::thread::scope(|s| {
        for client in 0..3 {
            let addr = server.addr;
            s.spawn(move || conversation(addr, client, "sigio, queue full"));
        }
    });
    server.assert_alive();
}

/// The worker processes of `spindle-processes` (`spindle::process` comes
/// with the default `process-pool` feature).
#[cfg(feature = "process-pool")]
mod worker_processes {
    use super::*;

    /// `spindle-processes`: one worker process per CPU, each a child of the
    /// server named `echo-worker-N`. Clients that connect as soon as the
    /// address is printed spread over the workers (the server prints it only
    /// once every worker listens). Killing the server with SIGKILL (no chance
    /// to clean up) kills every worker too (they are daemons).
    #[test]
    fn spindle_processes_workers_die_with_the_server() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut server = Server::start(&Model::Processes);
        // At once, as the showdown does: 32 clients, each echoed once (so
        // accepted). All on one worker would be a 1 in 2^31 chance with two
        // workers, less with more.
        let mut clients: Vec<TcpStream> = (0..32).map(|_| connect(server.addr)).collect();
        for (i, client) in clients.iter_mut().enumerate() {
            echo_once(client, &message(i, 0, 100), "spindle-processes");
        }
        let pid = server.child.id();
        let workers = wait_for(|| {
            let kids = children_of(pid);
            (kids.len() == cpus).then_some(kids)
        })
        .unwrap_or_else(|| panic!("expected {cpus} workers, found {:?}", children_of(pid)));
        let mut names: Vec<String> = workers.iter().map(|w| w.comm.clone()).collect();
        names.sort();
        let expected: Vec<String> = (0..cpus).map(|i| format!("echo-worker-{i}")).collect();
        assert_eq!(names, expected);
        let established = established_tcp_inodes();
        let served: Vec<usize> = workers
            .iter()
            .map(|w| {
                socket_inodes(w.pid)
                    .iter()
                    .filter(|i| established.contains(i))
                    .count()
            })
            .collect();
        assert_eq!(served.iter().sum::<usize>(), 32, "per worker: {served:?}");
        if cpus > 1 {
            let serving = served.iter().filter(|&&n| n > 0).count();
            assert!(serving > 1, "every connection on one worker: {served:?}");
        }
        drop(clients);
        conversation(server.addr, 0, "spindle-processes");

        server.child.kill().expect("kill the server");
        server.child.wait().expect("reap the server");
        // Gone, or a zombie whose new parent has not reaped it yet: dead either way.
        let dead = |w: &Proc| stat_of(w.pid).is_none_or(|p| p.state == "Z");
        let all_dead = wait_for(|| workers.iter().all(dead).then_some(()));
        if all_dead.is_none() {
            for w in &workers {
                // SAFETY: a plain signal to a pid we just checked is a worker.
                unsafe { libc::kill(w.pid as libc::pid_t, libc::SIGKILL) };
            }
            panic!("workers outlived the server: {workers:?}");
        }
    }

    /// A worker killed (SIGKILL) while serving: the server reports it and
    /// exits with an error, and the other workers end with it.
    #[test]
    fn a_killed_worker_stops_the_server() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut server = Server::start(&Model::Processes);
        conversation(server.addr, 0, "spindle-processes");
        let pid = server.child.id();
        let workers = wait_for(|| {
            let kids = children_of(pid);
            (kids.len() == cpus).then_some(kids)
        })
        .unwrap_or_else(|| panic!("expected {cpus} workers, found {:?}", children_of(pid)));
        // SAFETY: a plain signal to a child of our server.
        let killed = unsafe { libc::kill(workers[0].pid as libc::pid_t, libc::SIGKILL) };
        assert_eq!(killed, 0, "kill the worker");
        let status = wait_for(|| server.child.try_wait().expect("try_wait"))
            .expect("the server did not exit after a worker was killed");
        assert!(!status.success(), "{status}");
        let dead = |w: &Proc| stat_of(w.pid).is_none_or(|p| p.state == "Z");
        assert!(
            wait_for(|| workers.iter().all(dead).then_some(())).is_some(),
            "workers outlived the server: {workers:?}"
        );
    }

    /// The inodes of the sockets process `pid` has open.
    fn socket_inodes(pid: u32) -> Vec<u64> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("/proc/PID/fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|target| {
                let target = target.to_string_lossy().into_owned();
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// The inodes of the established IPv4 TCP sockets (`/proc/net/tcp`, state
    /// `01`).
    fn established_tcp_inodes() -> std::collections::HashSet<u64> {
        std::fs::read_to_string("/proc/net/tcp")
            .expect("/proc/net/tcp")
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if fields.get(3) != Some(&"01") {
                    return None;
                }
                fields.get(9)?.parse().ok()
            })
            .collect()
    }

    /// One process, as `/proc/PID/stat` shows it.
    #[derive(Debug)]
    struct Proc {
        pid: u32,
        comm: String,
        state: String,
        ppid: u32,
    }

    /// `/proc/PID/stat`, if the process exists.
    fn stat_of(pid: u32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // "pid (comm) state ppid ...": the name may hold spaces and parentheses.
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_string();
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.to_string();
        let ppid = fields.next()?.parse().ok()?;
        Some(Proc {
            pid,
            comm,
            state,
            ppid,
        })
    }

    /// The live (not zombie) children of `parent`.
    fn children_of(parent: u32) -> Vec<Proc> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter_map(stat_of)
            .filter(|p| p.ppid == parent && p.state != "Z")
            .collect()
    }

    /// Polls `check` until it gives a value, for at most [`TIMEOUT`].
    fn wait_for<T>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            if let Some(value) = check() {
                return Some(value);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn names_parse_back() {
    for model in Model::all()
        .into_iter()
        .chain(Model::async_all())
        .chain(Model::multi_core())
    {
        assert_eq!(Model::parse(&model.name()), Some(model));
    }
    assert_eq!(Model::parse("nope"), None);
    assert_eq!(Model::parse("spindle-nope"), None);
    assert_eq!(Model::all().len(), 10);
}

// ---------------------------------------------------------------------------
// select's FD_SETSIZE limit
// ---------------------------------------------------------------------------

/// Connections opened against a select server: well past 1024.
const MANY: usize = 1100;

/// Raises this process's soft descriptor limit to the hard limit (children
/// inherit it). Returns the new soft limit.
fn raise_fd_limit() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a live, writable rlimit for the call's duration.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the
        // hard one needs no privilege and affects only descriptor counts.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// Whether the server still holds the connection open: a non-blocking read
/// would block (open) or reports end-of-stream or a reset (closed).
fn is_open(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let open = match stream.read(&mut [0u8; 1]) {
        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
        Ok(0) => false,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
        other => panic!("unexpected read result on an idle connection: {other:?}"),
    };
    stream.set_nonblocking(false).unwrap();
    open
}

/// Opens [`MANY`] connections; the server must serve the first ~1020, close
/// the rest at once, and go on serving.
fn check_select_limit(model: Model) {
    // Two such tests may run at once, plus the others: leave headroom.
    let limit = raise_fd_limit();
    if limit < 3 * MANY as libc::rlim_t {
        eprintln!("skipping the FD_SETSIZE test: RLIMIT_NOFILE is only {limit}");
        return;
    }
    let mut server = Server::start(&model);
    let mut conns: Vec<TcpStream> = (0..MANY).map(|_| connect(server.addr)).collect();

    // The newest connections are past the limit: closed by the server, at
    // once (a read times out after TIMEOUT if the server left them hanging).
    for (i, stream) in conns.iter_mut().enumerate().skip(MANY - 20) {
        match stream.read(&mut [0u8; 1]) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("connection {i} past FD_SETSIZE was not closed: {other:?}"),
        }
    }

    // Exactly a prefix is open: those the server accepted below fd 1024.
    let open: Vec<bool> = conns.iter_mut().map(is_open).collect();
    let n_open = open.iter().take_while(|&&o| o).count();
    assert!(
        open[n_open..].iter().all(|&o| !o),
        "open connections are not a prefix: {open:?}"
    );
    assert!(
        (900..=1021).contains(&n_open),
        "{n_open} connections kept open; expected about 1020"
    );

    // The first, a middle one and the last kept (server fd 1023) still echo.
    for i in [0, n_open / 2, n_open - 1] {
        echo_once(
            &mut conns[i],
            &message(i, 0, 1000),
            &format!("connection {i}"),
        );
    }

    // Closing them all frees the slots; the server is alive and serving.
    drop(conns);
    std::thread::sleep(Duration::from_millis(100));
    server.assert_alive();
    conversation(server.addr, 0, &model.name());
}

#[test]
fn select_refuses_past_fd_setsize() {
    check_select_limit(Model::Select);
}

#[test]
fn spindle_select_refuses_past_fd_setsize() {
    check_select_limit(Model::Async(spindle::Backend::Select));
}
