//! Synchronization and channel benchmarks: spindle vs tokio's
//! current-thread runtime, both in the same criterion group (and, for the
//! producer-consumer pipeline, spindle's `Queue` vs OS threads over
//! `std::sync::mpsc::sync_channel`).
//!
//! ```text
//! cargo bench -p spindle-benches --bench sync
//! cargo bench -p spindle-benches --bench sync -- mpsc_bounded     # the two mpsc groups
//! cargo bench -p spindle-benches --bench sync -- pipeline
//! ```
//!
//! | group | one iteration |
//! |-------|---------------|
//! | `mpsc_bounded_1p` | 100k `u64` sent task -> task through `channel(128)` |
//! | `mpsc_bounded_4p` | 4 producer tasks x 25k into one `channel(128)` |
//! | `oneshot_ping_pong` | 10k round trips between two tasks, two fresh oneshots each |
//! | `mutex_contended` | 64 tasks x 100 times: lock, `yield_now` holding it, unlock |
//! | `semaphore_single` | one task, 10k acquire + release, never contended |
//! | `semaphore_contended` | 64 tasks x 100 times: acquire one of 8 permits, `yield_now`, release |
//! | `pipeline_4p4c` | 4 producers, 4 consumers, capacity 64, 100k items; spindle `Queue` vs OS threads |
//!
//! Each runtime is built once per group, outside the measured loop; one
//! iteration is one `rt.block_on(..)` of the case (for the OS-thread
//! pipeline: spawning and joining its 8 threads).

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

const MPSC_MESSAGES: u64 = 100_000;
const MPSC_CAP: usize = 128;
const MPSC_PRODUCERS: u64 = 4;
const PING_PONGS: u64 = 10_000;
const LOCK_TASKS: usize = 64;
const LOCKS_PER_TASK: usize = 100;
const SEM_SINGLE: usize = 10_000;
const SEM_PERMITS: usize = 8;
const PIPE_PRODUCERS: u64 = 4;
const PIPE_CONSUMERS: usize = 4;
const PIPE_CAP: usize = 64;
const PIPE_ITEMS: u64 = 100_000;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn spindle_rt() -> spindle::Runtime {
    spindle::Runtime::new().expect("spindle runtime")
}

fn configure(group: &mut Group<'_>) {
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

// ---------------------------------------------------------------- mpsc

/// `producers` tasks send `0..total` (split between them) into one bounded
/// channel; the calling task receives and sums.
async fn spindle_mpsc(total: u64, producers: u64, cap: usize) -> u64 {
    let (tx, mut rx) = spindle::channel::mpsc::channel::<u64>(cap);
    for p in 0..producers {
        let tx = tx.clone();
        spindle::spawn(async move {
            for i in (p..total).step_by(producers as usize) {
                tx.send(i).await.unwrap();
            }
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    assert_eq!(sum, total * (total - 1) / 2);
    sum
}

async fn tokio_mpsc(total: u64, producers: u64, cap: usize) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(cap);
    for p in 0..producers {
        let tx = tx.clone();
        tokio::spawn(async move {
            for i in (p..total).step_by(producers as usize) {
                tx.send(i).await.unwrap();
            }
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    assert_eq!(sum, total * (total - 1) / 2);
    sum
}

fn mpsc_group(c: &mut Criterion, name: &str, producers: u64) {
    let mut group = c.benchmark_group(name);
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| rt.block_on(spindle_mpsc(MPSC_MESSAGES, producers, MPSC_CAP)))
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio_mpsc(MPSC_MESSAGES, producers, MPSC_CAP)))
    });
    group.finish();
}

fn mpsc_bounded_1p(c: &mut Criterion) {
    mpsc_group(c, "mpsc_bounded_1p", 1);
}

fn mpsc_bounded_4p(c: &mut Criterion) {
    mpsc_group(c, "mpsc_bounded_4p", MPSC_PRODUCERS);
}

// ------------------------------------------------------------- oneshot

/// The two message types of the ping-pong: each carries the sender of the
/// fresh oneshot the answer must come back on.
mod pingpong {
    pub struct SPing(pub u64, pub spindle::channel::oneshot::Sender<SPong>);
    pub struct SPong(pub u64, pub spindle::channel::oneshot::Sender<SPing>);
    pub struct TPing(pub u64, pub tokio::sync::oneshot::Sender<TPong>);
    pub struct TPong(pub u64, pub tokio::sync::oneshot::Sender<TPing>);
}
use pingpong::{SPing, SPong, TPing, TPong};

async fn spindle_ping_pong(rounds: u64) -> u64 {
    use spindle::channel::oneshot;
    let (ping_tx, ping_rx) = oneshot::channel::<SPing>();
    let ponger = spindle::spawn(async move {
        let mut rx = ping_rx;
        let mut answered = 0;
        // Ends when the pinger drops the last sender instead of pinging.
        while let Ok(SPing(n, reply)) = rx.await {
            let (tx, next) = oneshot::channel();
            let _ = reply.send(SPong(n, tx));
            rx = next;
            answered += 1;
        }
        answered
    });
    let mut ping_tx = ping_tx;
    for n in 0..rounds {
        let (pong_tx, pong_rx) = oneshot::channel();
        let _ = ping_tx.send(SPing(n, pong_tx));
        let SPong(m, next) = pong_rx.await.unwrap();
        debug_assert_eq!(m, n);
        ping_tx = next;
    }
    drop(ping_tx);
    let answered = ponger.await.unwrap();
    assert_eq!(answered, rounds);
    answered
}

async fn tokio_ping_pong(rounds: u64) -> u64 {
    use tokio::sync::oneshot;
    let (ping_tx, ping_rx) = oneshot::channel::<TPing>();
    let ponger = tokio::spawn(async move {
        let mut rx = ping_rx;
        let mut answered = 0;
        while let Ok(TPing(n, reply)) = rx.await {
            let (tx, next) = oneshot::channel();
            let _ = reply.send(TPong(n, tx));
            rx = next;
            answered += 1;
        }
        answered
    });
    let mut ping_tx = ping_tx;
    for n in 0..rounds {
        let (pong_tx, pong_rx) = oneshot::channel();
        let _ = ping_tx.send(TPing(n, pong_tx));
        let TPong(m, next) = pong_rx.await.unwrap();
        debug_assert_eq!(m, n);
        ping_tx = next;
    }
    drop(ping_tx);
    let answered = ponger.await.unwrap();
    assert_eq!(answered, rounds);
    answered
}

fn oneshot_ping_pong(c: &mut Criterion) {
    let mut group = c.benchmark_group("oneshot_ping_pong");
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| rt.block_on(spindle_ping_pong(PING_PONGS)))
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio_ping_pong(PING_PONGS)))
    });
    group.finish();
}

// --------------------------------------------------------------- mutex

/// `tasks` tasks each take the lock `per_task` times, yield while holding
/// it (so every other task queues behind it), and release it.
async fn spindle_mutex(tasks: usize, per_task: usize) -> usize {
    let m = Arc::new(spindle::sync::Mutex::new(0usize));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let m = m.clone();
            spindle::spawn(async move {
                for _ in 0..per_task {
                    let mut g = m.lock().await;
                    *g += 1;
                    spindle::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let n = *m.lock().await;
    assert_eq!(n, tasks * per_task);
    n
}

async fn tokio_mutex(tasks: usize, per_task: usize) -> usize {
    let m = Arc::new(tokio::sync::Mutex::new(0usize));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let m = m.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let mut g = m.lock().await;
                    *g += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    let n = *m.lock().await;
    assert_eq!(n, tasks * per_task);
    n
}

fn mutex_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("mutex_contended");
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| rt.block_on(spindle_mutex(LOCK_TASKS, LOCKS_PER_TASK)))
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio_mutex(LOCK_TASKS, LOCKS_PER_TASK)))
    });
    group.finish();
}

// ----------------------------------------------------------- semaphore

async fn spindle_sem_single(n: usize) {
    let sem = spindle::sync::Semaphore::new(1);
    for _ in 0..n {
        let permit = sem.acquire().await.unwrap();
        drop(permit);
    }
    assert_eq!(sem.available_permits(), 1);
}

async fn tokio_sem_single(n: usize) {
    let sem = tokio::sync::Semaphore::new(1);
    for _ in 0..n {
        let permit = sem.acquire().await.unwrap();
        drop(permit);
    }
    assert_eq!(sem.available_permits(), 1);
}

async fn spindle_sem_contended(tasks: usize, per_task: usize, permits: usize) {
    let sem = Arc::new(spindle::sync::Semaphore::new(permits));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            spindle::spawn(async move {
                for _ in 0..per_task {
                    let _permit = sem.acquire().await.unwrap();
                    spindle::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(sem.available_permits(), permits);
}

async fn tokio_sem_contended(tasks: usize, per_task: usize, permits: usize) {
    let sem = Arc::new(tokio::sync::Semaphore::new(permits));
    let handles: Vec<_> = (0..tasks)
        .map(|_| {
            let sem = sem.clone();
            tokio::spawn(async move {
                for _ in 0..per_task {
                    let _permit = sem.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    assert_eq!(sem.available_permits(), permits);
}

fn semaphore_single(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_single");
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| rt.block_on(spindle_sem_single(SEM_SINGLE)))
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio_sem_single(SEM_SINGLE)))
    });
    group.finish();
}

fn semaphore_contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("semaphore_contended");
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| {
            rt.block_on(spindle_sem_contended(
                LOCK_TASKS,
                LOCKS_PER_TASK,
                SEM_PERMITS,
            ))
        })
    });
    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| rt.block_on(tokio_sem_contended(LOCK_TASKS, LOCKS_PER_TASK, SEM_PERMITS)))
    });
    group.finish();
}

// ------------------------------------------------------------ pipeline

/// The `producer_consumer` example's pipeline on spindle: producers put,
/// consumers get + `task_done`; `join`, then `close` ends the consumers.
async fn spindle_pipeline(producers: u64, consumers: usize, cap: usize, items: u64) -> u64 {
    let queue = spindle::channel::Queue::<u64>::new(cap);
    let consumer_tasks: Vec<_> = (0..consumers)
        .map(|_| {
            let queue = queue.clone();
            spindle::spawn(async move {
                let mut sum = 0u64;
                while let Ok(item) = queue.get().await {
                    sum += item;
                    queue.task_done();
                }
                sum
            })
        })
        .collect();
    let producer_tasks: Vec<_> = (0..producers)
        .map(|p| {
            let queue = queue.clone();
            spindle::spawn(async move {
                for item in (p..items).step_by(producers as usize) {
                    queue.put(item).await.unwrap();
                }
            })
        })
        .collect();
    for t in producer_tasks {
        t.await.unwrap();
    }
    queue.join().await;
    queue.close();
    let mut sum = 0;
    for t in consumer_tasks {
        sum += t.await.unwrap();
    }
    assert_eq!(sum, items * (items - 1) / 2);
    sum
}

/// The same pipeline on OS threads: `sync_channel(cap)`, consumers sharing
/// the receiver behind a `std::sync::Mutex`; dropping the senders ends it.
fn threads_pipeline(producers: u64, consumers: usize, cap: usize, items: u64) -> u64 {
    let (tx, rx) = sync_channel::<u64>(cap);
    let rx: Arc<std::sync::Mutex<Receiver<u64>>> = Arc::new(std::sync::Mutex::new(rx));
    let consumer_threads: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let mut sum = 0u64;
                loop {
                    let item = rx.lock().unwrap().recv();
                    match item {
                        Ok(item) => sum += item,
                        Err(_) => break,
                    }
                }
                sum
            })
        })
        .collect();
    let producer_threads: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for item in (p..items).step_by(producers as usize) {
                    tx.send(item).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for t in producer_threads {
        t.join().unwrap();
    }
    let mut sum = 0;
    for t in consumer_threads {
        sum += t.join().unwrap();
    }
    assert_eq!(sum, items * (items - 1) / 2);
    sum
}

fn pipeline_4p4c(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_4p4c");
    configure(&mut group);
    let rt = spindle_rt();
    group.bench_function("spindle_queue", |b| {
        b.iter(|| {
            rt.block_on(spindle_pipeline(
                PIPE_PRODUCERS,
                PIPE_CONSUMERS,
                PIPE_CAP,
                PIPE_ITEMS,
            ))
        })
    });
    group.bench_function("os_threads_sync_channel", |b| {
        b.iter(|| threads_pipeline(PIPE_PRODUCERS, PIPE_CONSUMERS, PIPE_CAP, PIPE_ITEMS))
    });
    group.finish();
}

criterion_group!(
    benches,
    mpsc_bounded_1p,
    mpsc_bounded_4p,
    oneshot_ping_pong,
    mutex_contended,
    semaphore_single,
    semaphore_contended,
    pipeline_4p4c
);
criterion_main!(benches);
