//! `shard`: thread-per-core shard sets and `TcpListener::bind_reuseport`.
//!
//! Shards serve echo on one `SO_REUSEPORT` port and the kernel spreads the
//! clients over them; each shard knows its index, count and CPU and runs
//! pinned there; a panicking shard cancels the others and `run` returns
//! its error, while a shard's `Err` value stops nobody; a shard's runtime
//! is always current-thread; the listeners are close-on-exec and
//! non-blocking. Everything
//! on loopback, under a watchdog.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use spindle_runtime::channel::watch;
use spindle_runtime::io::{AsyncReadExt, AsyncWriteExt};
use spindle_runtime::net::TcpListener;
use spindle_runtime::shard::{self, ShardError};
use spindle_runtime::sync::CancellationToken;
use support::{bounded, counter, OnDrop};

/// The CPUs this thread may run on (what `shard` pins to), from the test's
/// side: `sched_getaffinity` read directly.
fn allowed_cpus() -> Vec<usize> {
    let mut cpus = Vec::new();
    // SAFETY: an all-zero cpu_set_t is an empty set; the kernel fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set),
            0
        );
        for cpu in 0..libc::CPU_SETSIZE as usize {
            if libc::CPU_ISSET(cpu, &set) {
                cpus.push(cpu);
            }
        }
    }
    cpus
}

/// How many connections each round of clients opens.
const CLIENTS_PER_ROUND: usize = 64;

/// N shards serve echo on one port (shard 0 binds port 0, the others bind
/// the port it got); rounds of 64 clients connect, each is echoed, and the
/// per-shard accept counts show the kernel spread them over more than one
/// shard. A new round (new source ports, so new hashes) runs only if one
/// shard took every connection, which with 64 connections is a 2^-63
/// chance for two shards: the test cannot flake on it.
#[test]
fn shards_share_a_reuseport_port_and_the_kernel_spreads_connections() {
    let shards = allowed_cpus().len().max(2);
    let accepted: Arc<Vec<AtomicUsize>> =
        Arc::new((0..shards).map(|_| AtomicUsize::new(0)).collect());
    let stop = CancellationToken::new();
    let (port_tx, port_rx) = watch::channel(None::<SocketAddr>);

    // The clients, on a plain thread: they wait for the port, then connect.
    let clients = {
        let accepted = accepted.clone();
        let stop = stop.clone();
        let mut port_rx = port_rx.clone();
        thread::spawn(move || {
            // Cancels the shards when this thread ends, even by a failed
            // assertion, so a failure here is reported, not a hang.
            let _stop_shards = stop.drop_guard();
            let addr = loop {
                if let Some(addr) = *port_rx.borrow_and_update() {
                    break addr;
                }
                port_rx
                    .blocking_changed()
                    .expect("the shards keep the sender");
            };
            let mut rounds = 0;
            loop {
                rounds += 1;
                for i in 0..CLIENTS_PER_ROUND {
                    let mut stream = TcpStream::connect(addr).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(5)))
                        .unwrap();
                    let message = format!("client {i} of round {rounds}");
                    stream.write_all(message.as_bytes()).unwrap();
                    let mut echoed = vec![0u8; message.len()];
                    stream.read_exact(&mut echoed).unwrap();
                    assert_eq!(echoed, message.as_bytes(), "every client is echoed");
                }
                // Each echo above came from a shard that had counted its
                // accept first, so the counts are complete here.
                let busy = accepted.iter().filter(|n| n.load(SeqCst) > 0).count();
                if busy > 1 || rounds == 5 {
                    return (rounds, busy);
                }
            }
        })
    };

    let accepted_in_shards = accepted.clone();
    let per_shard = bounded(30, move || {
        shard::Builder::new()
            .shards(shards)
            .run(|ctx| {
                let accepted = accepted_in_shards.clone();
                let stop = stop.clone();
                let port_tx = &port_tx;
                let mut port_rx = port_rx.clone();
                async move {
                    let listener = if ctx.index() == 0 {
                        let listener = TcpListener::bind_reuseport("127.0.0.1:0").await?;
                        let _ = port_tx.send(Some(listener.local_addr()?));
                        listener
                    } else {
                        let addr = port_rx.wait_for(Option::is_some).await.unwrap().unwrap();
                        TcpListener::bind_reuseport(addr).await?
                    };
                    let mut served = 0;
                    loop {
                        spindle_runtime::select! {
                            _ = stop.cancelled() => break,
                            accept = listener.accept() => {
                                let (mut stream, _) = accept?;
                                accepted[ctx.index()].fetch_add(1, SeqCst);
                                served += 1;
                                spindle_runtime::spawn_local(async move {
                                    let mut buf = [0u8; 256];
                                    while let Ok(n) = stream.read(&mut buf).await {
                                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                                            break;
                                        }
                                    }
                                });
                            }
                        }
                    }
                    Ok::<usize, std::io::Error>(served)
                }
            })
            .expect("no shard fails")
    });

    let (rounds, busy) = clients.join().expect("the clients finish");
    let per_shard: Vec<usize> = per_shard.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(per_shard.len(), shards);
    assert_eq!(
        per_shard.iter().sum::<usize>(),
        rounds * CLIENTS_PER_ROUND,
        "every connection was accepted by exactly one shard: {per_shard:?}"
    );
    for (i, n) in per_shard.iter().enumerate() {
        assert_eq!(*n, accepted[i].load(SeqCst));
    }
    assert!(
        busy > 1,
        "the kernel spread {} connections over more than one of {shards} shards: {per_shard:?}",
        rounds * CLIENTS_PER_ROUND
    );
}

/// What a shard saw of itself.
#[derive(Debug)]
struct Seen {
    index: usize,
    count: usize,
    cpu: Option<usize>,
    running_on: usize,
    affinity: Vec<usize>,
}

/// The calling thread's affinity, read directly.
fn thread_affinity() -> Vec<usize> {
    allowed_cpus()
}

/// The CPU the calling thread runs on, from `/proc/self/task/TID/stat`
/// (field 39, `processor`): a second opinion beside `sched_getcpu`.
fn proc_stat_cpu() -> usize {
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() };
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    // The command name (field 2) may hold spaces: count from after its ')'.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.split(' ').nth(39 - 3).unwrap().parse().unwrap()
}

/// Each shard gets its index, the count and its CPU, and its thread runs
/// pinned there: its affinity is that one CPU, and both `sched_getcpu` and
/// /proc say it runs on it.
#[test]
fn each_shard_knows_itself_and_runs_pinned_on_its_cpu() {
    let cpus = allowed_cpus();
    let n = cpus.len();
    let seen = bounded(10, move || {
        shard::Builder::new()
            .run(|ctx| async move {
                // Yield once, so the check is made after the runtime ran.
                spindle_runtime::yield_now().await;
                let running_on = shard::current_cpu().unwrap();
                assert_eq!(running_on, proc_stat_cpu());
                Seen {
                    index: ctx.index(),
                    count: ctx.count(),
                    cpu: ctx.cpu(),
                    running_on,
                    affinity: thread_affinity(),
                }
            })
            .unwrap()
    });
    assert_eq!(seen.len(), n, "one shard per allowed CPU by default");
    for (i, s) in seen.iter().enumerate() {
        assert_eq!(s.index, i, "outputs come back in shard order");
        assert_eq!(s.count, n);
        assert_eq!(
            s.cpu,
            Some(cpus[i]),
            "shard i is pinned to the i-th allowed CPU"
        );
        assert_eq!(s.running_on, cpus[i]);
        assert_eq!(s.affinity, vec![cpus[i]]);
    }
    // The caller's own affinity is untouched.
    assert_eq!(allowed_cpus(), cpus);
}

/// More shards than CPUs wrap around the CPUs; `pin(false)` pins nothing.
#[test]
fn more_shards_than_cpus_wrap_and_unpinned_shards_have_no_cpu() {
    let cpus = allowed_cpus();
    let n = cpus.len() + 1;
    let pinned = bounded(10, move || {
        shard::Builder::new()
            .shards(n)
            .run(|ctx| async move { (ctx.index(), ctx.count(), ctx.cpu(), thread_affinity()) })
            .unwrap()
    });
    for (i, (index, count, cpu, affinity)) in pinned.into_iter().enumerate() {
        assert_eq!((index, count), (i, n));
        assert_eq!(cpu, Some(cpus[i % cpus.len()]));
        assert_eq!(affinity, vec![cpus[i % cpus.len()]]);
    }

    let all = allowed_cpus();
    let unpinned = bounded(10, move || {
        shard::Builder::new()
            .shards(3)
            .pin(false)
            .run(|ctx| async move { (ctx.index(), ctx.count(), ctx.cpu(), thread_affinity()) })
            .unwrap()
    });
    for (i, (index, count, cpu, affinity)) in unpinned.into_iter().enumerate() {
        assert_eq!((index, count, cpu), (i, 3, None));
        assert_eq!(affinity, all, "an unpinned shard keeps the caller's CPUs");
    }
}

/// A shard that panics while the others serve forever: `run` returns the
/// panic as `ShardError::Panicked` with its index and message, the other
/// shards' futures were dropped (cancelled), and nothing hangs.
#[test]
fn a_panicking_shard_cancels_the_others_and_run_returns_its_error() {
    let dropped = counter();
    let dropped_in = dropped.clone();
    let result = bounded(10, move || {
        shard::Builder::new()
            .shards(3)
            .pin(false)
            .run(|ctx| {
                let guard = OnDrop(dropped_in.clone());
                async move {
                    let _guard = guard;
                    if ctx.index() == 1 {
                        panic!("shard one gives up");
                    }
                    // A server that never returns by itself.
                    let listener = TcpListener::bind_reuseport("127.0.0.1:0").await.unwrap();
                    loop {
                        drop(listener.accept().await);
                    }
                }
            })
            .map(|_: Vec<()>| ())
    });
    match result {
        Err(ShardError::Panicked { index, message }) => {
            assert_eq!(index, 1);
            assert_eq!(message, "shard one gives up");
        }
        other => panic!("expected shard 1's panic, got {other:?}"),
    }
    assert_eq!(dropped.load(SeqCst), 3, "every shard's future was dropped");
    let e = ShardError::Panicked {
        index: 1,
        message: "shard one gives up".into(),
    };
    assert_eq!(e.to_string(), "shard 1 panicked: shard one gives up");
}

/// Zero shards is refused with a clear error, before any thread starts.
#[test]
fn zero_shards_is_a_clear_error() {
    match shard::Builder::new().shards(0).run(|_| async {}) {
        Err(ShardError::Start(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("at least one shard"), "{e}");
        }
        other => panic!("expected a start error, got {other:?}"),
    }
}

/// A shard's runtime is one current-thread runtime on the shard's thread:
/// no workers, and a spawned task runs on that thread. (CI runs this suite
/// with `SPINDLE_FLAVOR=multi_thread` too, which must not reach shards.)
#[test]
fn a_shard_runtime_is_current_thread_whatever_the_flavor_variable_says() {
    bounded(30, || {
        let names = shard::Builder::new()
            .shards(2)
            .pin(false)
            .run(|_| async {
                let workers = spindle_runtime::Handle::current().metrics().num_workers();
                let here = thread::current().name().map(str::to_owned);
                let there =
                    spindle_runtime::spawn(async { thread::current().name().map(str::to_owned) })
                        .await
                        .unwrap();
                (workers, here, there)
            })
            .unwrap();
        for (i, (workers, here, there)) in names.into_iter().enumerate() {
            assert_eq!(workers, 0, "shard {i} has a multi-threaded runtime");
            assert_eq!(here.as_deref(), Some(format!("spindle-shard-{i}").as_str()));
            assert_eq!(there, here, "shard {i}'s task ran on another thread");
        }
    });
}

/// Asking the shards' runtime builder for workers is refused up front.
#[test]
fn a_multi_threaded_shard_runtime_is_refused() {
    for builder in [
        spindle_runtime::Runtime::builder().multi_thread(),
        spindle_runtime::Runtime::builder().worker_threads(2),
    ] {
        let ran = AtomicUsize::new(0);
        let result = shard::Builder::new().runtime(builder).run(|_| async {
            ran.fetch_add(1, SeqCst);
        });
        match result {
            Err(ShardError::Start(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
                assert!(e.to_string().contains("current-thread"), "{e}");
            }
            other => panic!("expected a start error, got {other:?}"),
        }
        assert_eq!(ran.load(SeqCst), 0, "a shard started");
    }
}

/// A shard whose future returns an `Err` has finished, not failed: the
/// others run to their end and `run` hands back every value.
#[test]
fn a_shard_that_returns_an_error_does_not_stop_the_others() {
    bounded(30, || {
        // Shard 0's future holds the only sender: shard 1 hears it close
        // when that future has returned, and only then returns itself.
        let (tx, rx) = watch::channel(());
        let tx = std::sync::Mutex::new(Some(tx));
        let values = shard::Builder::new()
            .shards(2)
            .pin(false)
            .run(|shard| {
                let mut rx = rx.clone();
                let tx = if shard.index() == 0 {
                    tx.lock().unwrap().take()
                } else {
                    None
                };
                async move {
                    if shard.index() == 0 {
                        drop(tx);
                        return Err(std::io::Error::other("shard 0 could not bind"));
                    }
                    while rx.changed().await.is_ok() {}
                    Ok(shard.index())
                }
            })
            .unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(
            values[0].as_ref().unwrap_err().to_string(),
            "shard 0 could not bind"
        );
        assert_eq!(*values[1].as_ref().unwrap(), 1);
    });
}

fn fd_flags(fd: i32) -> (i32, i32) {
    // SAFETY: fcntl on a descriptor the caller keeps open.
    unsafe {
        (
            libc::fcntl(fd, libc::F_GETFD),
            libc::fcntl(fd, libc::F_GETFL),
        )
    }
}

fn reuseport(fd: i32) -> i32 {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` has room for `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEPORT,
            (&raw mut value).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    value
}

/// `bind_reuseport` listeners are close-on-exec, non-blocking and have
/// `SO_REUSEPORT`; two share a port; a plain `bind` on it is refused.
#[test]
fn reuseport_listeners_are_cloexec_nonblocking_and_share_a_port() {
    support::run(|| async {
        let first = TcpListener::bind_reuseport("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let second = TcpListener::bind_reuseport(addr).await.unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        for listener in [&first, &second] {
            let fd = listener.as_raw_fd();
            let (fd_flags, fl_flags) = fd_flags(fd);
            assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "close-on-exec");
            assert_ne!(fl_flags & libc::O_NONBLOCK, 0, "non-blocking");
            assert_eq!(reuseport(fd), 1);
        }
        let plain = TcpListener::bind(addr).await.unwrap_err();
        assert_eq!(plain.kind(), std::io::ErrorKind::AddrInUse);
        // And the other way round: a plain listener's port is not shared.
        let lone = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let lone_addr = lone.local_addr().unwrap();
        let e = TcpListener::bind_reuseport(lone_addr).await.unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    });
}
