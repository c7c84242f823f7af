//! ProcessPool tests: the pool's ordinary behaviour. This file is its own
//! `main` (`harness = false` in runtime/Cargo.toml); see `pool_support`
//! for why and for the shared helpers.

mod pool_support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pool_support::*;
use spindle_runtime::pool::{PoolError, ProcessPool, StartMethod};
use spindle_runtime::{spawn_blocking, Runtime};

fn submit_and_map_keep_order() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        assert_eq!(pool.worker_pids().len(), 2);
        let handles: Vec<_> = (0..100u64).map(|i| pool.submit(square, i)).collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), (i * i) as u64);
        }
        let squares = pool.map(square, 0..20_000u64).await.unwrap();
        assert!(squares
            .iter()
            .enumerate()
            .all(|(i, &s)| s == (i * i) as u64));
        assert_eq!(pool.submit(shout, "hi".to_string()).await.unwrap(), "HI");
        assert_eq!(
            pool.submit(sum_pair, (1, vec![2, 3])).await.unwrap(),
            Some(6)
        );
        assert!(pool.map(square, Vec::new()).await.unwrap().is_empty());
        pool.shutdown().await;
        assert!(pool.worker_pids().is_empty());
        let late = pool.submit(square, 3).await;
        assert_eq!(late, Err(PoolError::ShutDown));
    });
}

fn panic_is_an_error_and_the_worker_survives() {
    run(async {
        let pool = ProcessPool::new(1).unwrap();
        let pids = pool.worker_pids();
        let err = pool.submit(odd_panics, 7).await.unwrap_err();
        assert_eq!(
            err.panic_message(),
            Some("deliberate panic (testing a job that panics): odd number 7")
        );
        assert_eq!(pool.submit(odd_panics, 8).await, Ok(4));
        let all = pool.map(odd_panics, [2, 4, 5, 6]).await;
        assert!(matches!(all, Err(PoolError::Panicked(_))));
        assert_eq!(pool.worker_pids(), pids, "a panic must not cost the worker");
        pool.shutdown().await;
    });
}

fn sigkill_mid_task_fails_only_that_task() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let before = pool.worker_pids();
        let fifo = mkfifo("kill");
        let victim = pool.submit(report_then_sleep, fifo.clone());
        // Tasks queued behind the victim on the same worker are sent again.
        let others: Vec<_> = (0..50u64).map(|i| pool.submit(square, i)).collect();
        let f = fifo.clone();
        let pid: u32 = spawn_blocking(move || std::fs::read_to_string(f).unwrap())
            .await
            .unwrap()
            .parse()
            .unwrap();
        assert!(before.contains(&pid), "{pid} is not one of {before:?}");
        // SAFETY: kill(2) on a worker pid of ours that is alive (it just wrote).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let err = victim.await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: Some(9),
                exit_code: None
            }
        );
        assert!(err.to_string().contains("SIGKILL"), "{err}");
        for (i, h) in others.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), (i * i) as u64);
        }
        let squares = pool.map(square, 0..1000u64).await.unwrap();
        assert_eq!(squares[999], 998_001);
        let after = workers_back(&pool, 2).await;
        assert_eq!(after.len(), 2);
        assert!(!after.contains(&pid), "the killed worker was replaced");
        pool.shutdown().await;
        std::fs::remove_file(fifo).unwrap();
    });
}

fn abort_and_exit_are_reported() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let err = pool.submit(abort_now, ()).await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: Some(libc::SIGABRT),
                exit_code: None
            }
        );
        let err = pool.submit(exit_seven, ()).await.unwrap_err();
        assert_eq!(
            err,
            PoolError::WorkerDied {
                signal: None,
                exit_code: Some(7)
            }
        );
        assert_eq!(pool.map(square, 0..10u64).await.unwrap()[9], 81);
        assert_eq!(workers_back(&pool, 2).await.len(), 2);
        pool.shutdown().await;
    });
}

fn large_arguments_and_results() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let big: Vec<u8> = (0..64usize << 20).map(|i| (i % 251) as u8).collect();
        // Three at once: two share a worker, so a 64 MB write and a 64 MB
        // read are in flight on the same socket.
        let handles: Vec<_> = (0..3).map(|_| pool.submit(reverse, big.clone())).collect();
        for h in handles {
            let back = h.await.unwrap();
            assert_eq!(back.len(), big.len());
            assert!(back.iter().rev().eq(big.iter()));
        }
        pool.shutdown().await;
    });
}

/// The descriptors open in this process: number and `flags:` from fdinfo.
fn open_fds() -> Vec<(i32, u32)> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        let fd: i32 = entry.file_name().to_str().unwrap().parse().unwrap();
        let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        if target.ends_with("fdinfo") {
            continue; // the listing's own descriptor
        }
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .unwrap()
            .trim();
        fds.push((fd, u32::from_str_radix(flags, 8).unwrap()));
    }
    fds
}

fn every_descriptor_is_cloexec_and_workers_inherit_only_their_socket() {
    run(async {
        // Descriptors inherited from whoever started the test are not ours to judge.
        let before: HashSet<i32> = open_fds().into_iter().map(|(fd, _)| fd).collect();
        let pool = ProcessPool::new(2).unwrap();
        assert_eq!(pool.map(square, 0..100u64).await.unwrap().len(), 100);
        let new: Vec<(i32, u32)> = open_fds()
            .into_iter()
            .filter(|(fd, _)| !before.contains(fd))
            .collect();
        let sockets = new
            .iter()
            .filter(|(fd, _)| {
                let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap_or_default();
                target.to_string_lossy().starts_with("socket:")
            })
            .count();
        assert!(sockets >= 2, "expected the pool's sockets among {new:?}");
        for (fd, flags) in new {
            assert!(
                flags & libc::O_CLOEXEC as u32 != 0,
                "fd {fd} lacks O_CLOEXEC"
            );
        }
        for pid in pool.worker_pids() {
            let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().into_string().unwrap())
                .filter(|n| n.parse::<i32>().unwrap() > 2)
                .collect();
            assert_eq!(fds.len(), 1, "worker {pid} holds {fds:?}");
            let target = std::fs::read_link(format!("/proc/{pid}/fd/{}", fds[0])).unwrap();
            assert!(
                target.to_str().unwrap().starts_with("socket:"),
                "{target:?}"
            );
        }
        pool.shutdown().await;
    });
}

fn fork_start_method_works() {
    run(async {
        let pool = ProcessPool::builder()
            .workers(2)
            .start_method(StartMethod::Fork)
            .build()
            .unwrap();
        assert_eq!(
            pool.map(square, 0..5000u64).await.unwrap()[4999],
            4999 * 4999
        );
        assert!(pool.submit(odd_panics, 1).await.is_err());
        let err = pool.submit(abort_now, ()).await.unwrap_err();
        assert!(err.is_worker_died());
        assert_eq!(pool.submit(square, 12).await, Ok(144));
        pool.shutdown().await;
    });
}

fn callbacks_and_plain_thread_waits() {
    run(async {
        let pool = Arc::new(ProcessPool::new(1).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        pool.submit(square, 9).on_done(move |r| tx.send(r).unwrap());
        // One worker answers in order, and answers are delivered in order:
        // once this one is in, the callback above has run.
        assert_eq!(pool.submit(square, 2).await, Ok(4));
        assert_eq!(rx.try_recv().unwrap(), Ok(81));
        let p = pool.clone();
        let waited = spawn_blocking(move || p.submit(square, 5).wait())
            .await
            .unwrap();
        assert_eq!(waited, Ok(25));
        pool.shutdown().await;
    });
}

fn dropping_the_pool_lets_queued_tasks_finish() {
    run(async {
        let pool = ProcessPool::new(2).unwrap();
        let handle = pool.map(square, 0..1000u64);
        let pids = pool.worker_pids();
        drop(pool);
        assert_eq!(handle.await.unwrap()[10], 100);
        for pid in pids {
            assert!(
                wait_gone(pid, Duration::from_secs(20)),
                "worker {pid} outlived its pool"
            );
        }
    });
    // `run` reaped nothing here by hand: the drivers did (no zombies).
}

fn workers_die_with_their_parent() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env("POOL_TEST_MODE", "orphan_mode")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let pids: Vec<u32> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{line:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in pids {
        assert!(
            wait_gone(pid, Duration::from_secs(20)),
            "worker {pid} outlived its parent"
        );
    }
    assert_no_children();
}

/// The child of `workers_die_with_their_parent`: print the pids, wait to be killed.
fn orphan_mode() {
    Runtime::new().unwrap().block_on(async {
        let pool = ProcessPool::new(2).unwrap();
        let pids: Vec<String> = pool.worker_pids().iter().map(u32::to_string).collect();
        println!("{}", pids.join(" "));
        std::io::stdout().flush().unwrap();
        let _ = spawn_blocking(|| std::io::stdin().read_line(&mut String::new())).await;
    });
}

fn main() {
    test_main(
        tests![
            submit_and_map_keep_order,
            panic_is_an_error_and_the_worker_survives,
            sigkill_mid_task_fails_only_that_task,
            abort_and_exit_are_reported,
            large_arguments_and_results,
            every_descriptor_is_cloexec_and_workers_inherit_only_their_socket,
            fork_start_method_works,
            callbacks_and_plain_thread_waits,
            dropping_the_pool_lets_queued_tasks_finish,
            workers_die_with_their_parent,
        ],
        tests![orphan_mode],
    );
}
