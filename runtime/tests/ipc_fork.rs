//! `ipc::pipe` and `ipc::Queue` between processes: children made with
//! `fork(2)`, which inherit the pipe's and queue's descriptors, and killed
//! with `SIGKILL` while they wait.
//!
//! This file is its own `main` (`harness = false` in runtime/Cargo.toml):
//! it forks from its only thread, so each child is a faithful copy. A
//! child runs only blocking ipc calls on objects no runtime has touched
//! (an inherited reactor registration would be the parent's), then
//! `_exit`s without running any destructor. Every child dies with the
//! parent (`PR_SET_PDEATHSIG`), and `alarm(2)` bounds each case.

use std::collections::HashSet;
use std::io::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use spindle_runtime::ipc::{self, GetError, PutError, Queue};
use spindle_runtime::Runtime;

/// A forked child: killed and reaped on drop if the test did not wait.
struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

/// Forks a child that runs `body` and exits with its code (101 if it
/// panics). `body` borrows from the parent's stack: the child's copy of
/// it is never dropped.
fn fork_child(body: impl FnOnce() -> i32) -> Child {
    // SAFETY: this test binary has one thread when it forks (no harness,
    // no runtime alive: each case drops its runtime before it forks again
    // or forks before starting one); the child runs `body`, then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: plain integer arguments; then the child exits at once
        // without unwinding into the parent's frames.
        unsafe {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            let code = catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            libc::_exit(code);
        }
    }
    Child { pid, reaped: false }
}

/// Drops, in a forked child, the child's copy of a value the parent owns
/// (say, the parent's end of a pipe, so that only the parent holds it).
fn drop_in_child<T>(value: &T) {
    // SAFETY: called only in a forked child, which `_exit`s and so never
    // drops the original: the bitwise copy is dropped exactly once, and
    // it closes the child's copies of the descriptors (no runtime has
    // registered them before the fork).
    drop(unsafe { std::ptr::read(value) });
}

impl Child {
    /// Waits for the child to exit; its exit code (or 128 + signal).
    fn wait(&mut self) -> i32 {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; the pid is our child.
        let r = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(r, self.pid, "waitpid: {}", io::Error::last_os_error());
        self.reaped = true;
        if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        }
    }

    /// `SIGKILL`, then reaps it.
    fn kill(&mut self) {
        // SAFETY: plain integer arguments; the pid is our unreaped child.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        assert_eq!(self.wait(), 128 + libc::SIGKILL);
    }

    /// Waits (bounded) until the child sleeps in the kernel: it has gone
    /// from "about to wait" (which it reported) to waiting.
    fn wait_until_sleeping(&self) {
        let start = Instant::now();
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap();
            let state = stat[stat.rfind(')').unwrap() + 2..].chars().next();
            if state == Some('S') {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "child never slept"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: as in `kill`.
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
            let mut status = 0;
            // SAFETY: as in `wait`.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

fn pipe_between_parent_and_child() {
    let (parent_end, child_end) = ipc::pipe::<(u32, String)>().unwrap();
    let mut child = fork_child(|| {
        drop_in_child(&parent_end);
        while let Ok((n, s)) = child_end.blocking_recv() {
            child_end.blocking_send((n + 1, s.to_uppercase())).unwrap();
        }
        0
    });
    drop(child_end); // the child holds its own copy
    Runtime::new().unwrap().block_on(async {
        for n in 0..200 {
            parent_end.send((n, format!("hello {n}"))).await.unwrap();
            assert_eq!(
                parent_end.recv().await.unwrap(),
                (n + 1, format!("HELLO {n}"))
            );
        }
        // A 4 MiB value there and back.
        let big = "x".repeat(4 << 20);
        parent_end.send((0, big.clone())).await.unwrap();
        assert_eq!(parent_end.recv().await.unwrap().1, big.to_uppercase());
    });
    drop(parent_end); // the child's recv ends, and so does the child
    assert_eq!(child.wait(), 0);
}

fn a_dead_child_is_a_clear_error_after_what_it_sent() {
    let (tx, rx) = ipc::pipe_one_way::<u32>().unwrap();
    let (ready_tx, ready_rx) = ipc::pipe_one_way::<()>().unwrap();
    let mut child = fork_child(|| {
        tx.blocking_send(1).unwrap();
        tx.blocking_send(2).unwrap();
        ready_tx.blocking_send(()).unwrap();
        let (_keep_open, never) = ipc::pipe_one_way::<()>().unwrap();
        let _ = never.blocking_recv(); // waits until killed
        0
    });
    drop(tx);
    ready_rx.blocking_recv().unwrap();
    child.kill();
    Runtime::new().unwrap().block_on(async {
        assert_eq!(rx.recv().await.unwrap(), 1);
        assert_eq!(rx.recv().await.unwrap(), 2);
        let e = rx.recv().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    });
}

fn queue_with_producer_and_consumer_processes() {
    const PER_PRODUCER: u32 = 20_000;
    let q = Queue::<(u32, u32)>::new(64).unwrap();
    let (report_tx, report_rx) = ipc::pipe_one_way::<Vec<(u32, u32)>>().unwrap();
    let mut children = Vec::new();
    for _ in 0..2 {
        children.push(fork_child(|| {
            let mut got = Vec::new();
            loop {
                match q.blocking_get() {
                    Ok(item) => got.push(item),
                    Err(GetError::Closed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            report_tx.blocking_send(got).unwrap();
            0
        }));
    }
    for p in 0..2 {
        children.push(fork_child(|| {
            for i in 0..PER_PRODUCER {
                q.blocking_put((p, i)).unwrap();
            }
            0
        }));
    }
    drop(report_tx);
    for producer in &mut children[2..] {
        assert_eq!(producer.wait(), 0);
    }
    q.close().unwrap();
    let mut all = Vec::new();
    for _ in 0..2 {
        all.extend(report_rx.blocking_recv().unwrap());
    }
    for consumer in &mut children[..2] {
        assert_eq!(consumer.wait(), 0);
    }
    assert_eq!(all.len(), 2 * PER_PRODUCER as usize);
    let unique: HashSet<_> = all.into_iter().collect();
    assert_eq!(unique.len(), 2 * PER_PRODUCER as usize);
}

fn a_consumer_killed_in_get_takes_no_item() {
    for maxsize in [0, 4] {
        let q = Queue::<u32>::new(maxsize).unwrap();
        let (ready_tx, ready_rx) = ipc::pipe_one_way::<()>().unwrap();
        let (report_tx, report_rx) = ipc::pipe_one_way::<u32>().unwrap();
        // Two consumers wait in `get`; one will be killed there.
        let mut doomed = fork_child(|| {
            ready_tx.blocking_send(()).unwrap();
            let item = q.blocking_get();
            panic!("the doomed consumer got {item:?}");
        });
        let mut survivor = fork_child(|| {
            ready_tx.blocking_send(()).unwrap();
            let mut sum = 0;
            while let Ok(item) = q.blocking_get() {
                sum += item;
            }
            report_tx.blocking_send(sum).unwrap();
            0
        });
        ready_rx.blocking_recv().unwrap();
        ready_rx.blocking_recv().unwrap();
        doomed.wait_until_sleeping();
        survivor.wait_until_sleeping();
        doomed.kill();
        // Every item reaches the survivor, the bound still holds exactly
        // `maxsize` (the dead consumer took no place), and nobody hangs.
        let mut sum = 0;
        for i in 1..=100 {
            q.blocking_put(i).unwrap();
            sum += i;
        }
        q.close().unwrap();
        assert_eq!(report_rx.blocking_recv().unwrap(), sum);
        assert_eq!(survivor.wait(), 0);
        if maxsize > 0 {
            // A producer killed while it waits for a place takes none.
            let q = Queue::<u32>::new(maxsize).unwrap();
            for i in 0..maxsize as u32 {
                q.put_nowait(i).unwrap();
            }
            let mut producer = fork_child(|| {
                ready_tx.blocking_send(()).unwrap();
                let _ = q.blocking_put(99); // never returns: killed
                0
            });
            ready_rx.blocking_recv().unwrap();
            producer.wait_until_sleeping();
            producer.kill(); // killed waiting for a place: it held none
            for i in 0..maxsize as u32 {
                assert_eq!(q.get_nowait().unwrap(), i);
            }
            for i in 0..maxsize as u32 {
                q.put_nowait(i).unwrap();
            }
            assert!(matches!(q.put_nowait(0), Err(PutError::Full(0))));
        }
    }
}

/// The length of item `i`: some go inline, some out of line (over 64 KiB).
fn item_len(i: u32) -> usize {
    if i.is_multiple_of(50) {
        300_000
    } else {
        100
    }
}

fn an_async_consumer_gets_from_a_child_producer() {
    let q = Queue::<Vec<u8>>::new(8).unwrap();
    let mut child = fork_child(|| {
        for i in 0..500u32 {
            q.blocking_put(vec![(i % 256) as u8; item_len(i)]).unwrap();
        }
        q.close().unwrap();
        0
    });
    Runtime::new().unwrap().block_on(async {
        let mut i = 0u32;
        loop {
            match q.get().await {
                Ok(v) => {
                    assert!(v.len() == item_len(i) && v.iter().all(|&b| b == (i % 256) as u8));
                    i += 1;
                }
                Err(GetError::Closed) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(i, 500);
    });
    assert_eq!(child.wait(), 0);
}

/// What producer `p` puts as its item `i`: every fifth goes through the
/// socket (over 4 KiB), the others in the ring.
fn produced(p: u32, i: u32) -> (u32, u32, Vec<u8>) {
    let len = if i.is_multiple_of(5) { 6000 } else { 16 };
    (p, i, vec![(p * 7 + i) as u8; len])
}

fn a_producer_killed_while_others_put_and_get_loses_no_other_item() {
    // The victim is killed wherever it is in its loop: asleep, holding the
    // ring's lock, between a socket item's send and its marker. None of
    // the survivors' items may be lost or doubled, nobody may hang, and of
    // the victim's items those whose put returned come out once (a prefix
    // of its sequence, perhaps with the one it was putting).
    const PER_SURVIVOR: u32 = 4000;
    const VICTIM: u32 = 2;
    for maxsize in [0, 8] {
        let q = Queue::<(u32, u32, Vec<u8>)>::new(maxsize).unwrap();
        let (report_tx, report_rx) = ipc::pipe_one_way::<Vec<(u32, u32)>>().unwrap();
        let (ready_tx, ready_rx) = ipc::pipe_one_way::<()>().unwrap();
        let mut consumers: Vec<_> = (0..2)
            .map(|_| {
                fork_child(|| {
                    let mut got = Vec::new();
                    loop {
                        match q.blocking_get() {
                            Ok((p, i, bytes)) => {
                                assert!(bytes == produced(p, i).2, "item ({p}, {i}) corrupt");
                                got.push((p, i));
                            }
                            Err(GetError::Closed) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    report_tx.blocking_send(got).unwrap();
                    0
                })
            })
            .collect();
        let mut victim = fork_child(|| {
            for i in 0.. {
                q.blocking_put(produced(VICTIM, i)).unwrap();
                if i == 300 {
                    ready_tx.blocking_send(()).unwrap();
                }
            }
            0
        });
        let mut survivors: Vec<_> = (0..2)
            .map(|p| {
                fork_child(|| {
                    for i in 0..PER_SURVIVOR {
                        q.blocking_put(produced(p, i)).unwrap();
                    }
                    0
                })
            })
            .collect();
        drop(report_tx);
        ready_rx.blocking_recv().unwrap();
        victim.kill();
        for survivor in &mut survivors {
            assert_eq!(survivor.wait(), 0);
        }
        q.close().unwrap();
        let mut all = Vec::new();
        for _ in 0..2 {
            all.extend(report_rx.blocking_recv().unwrap());
        }
        for consumer in &mut consumers {
            assert_eq!(consumer.wait(), 0);
        }
        let unique: HashSet<_> = all.iter().copied().collect();
        assert_eq!(unique.len(), all.len(), "an item came out twice");
        for p in 0..2 {
            for i in 0..PER_SURVIVOR {
                assert!(unique.contains(&(p, i)), "survivor item ({p}, {i}) lost");
            }
        }
        let victims = unique.iter().filter(|&&(p, _)| p == VICTIM).count() as u32;
        assert!(victims > 300, "the victim's first puts returned");
        for i in 0..victims {
            assert!(unique.contains(&(VICTIM, i)), "victim item {i} lost");
        }
        assert_eq!(all.len() as u32, 2 * PER_SURVIVOR + victims);
    }
}

fn main() {
    let cases: &[(&str, fn())] = &[
        (
            "pipe_between_parent_and_child",
            pipe_between_parent_and_child,
        ),
        (
            "a_dead_child_is_a_clear_error_after_what_it_sent",
            a_dead_child_is_a_clear_error_after_what_it_sent,
        ),
        (
            "queue_with_producer_and_consumer_processes",
            queue_with_producer_and_consumer_processes,
        ),
        (
            "a_consumer_killed_in_get_takes_no_item",
            a_consumer_killed_in_get_takes_no_item,
        ),
        (
            "an_async_consumer_gets_from_a_child_producer",
            an_async_consumer_gets_from_a_child_producer,
        ),
        (
            "a_producer_killed_while_others_put_and_get_loses_no_other_item",
            a_producer_killed_while_others_put_and_get_loses_no_other_item,
        ),
    ];
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut failed = 0;
    for &(name, case) in cases {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        print!("test {name} ... ");
        io::stdout().flush().unwrap();
        // SAFETY: plain integer argument: SIGALRM ends a case that hangs.
        unsafe { libc::alarm(60) };
        match catch_unwind(case) {
            Ok(()) => println!("ok"),
            Err(_) => {
                println!("FAILED");
                failed += 1;
            }
        }
        // SAFETY: as above; 0 cancels the alarm.
        unsafe { libc::alarm(0) };
    }
    println!("\ntest result: {failed} failed");
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
