//! Executor micro-benchmarks: spindle vs tokio's current-thread runtime,
//! both functions of a case in the same criterion group.
//!
//! ```text
//! cargo bench -p spindle-benches --bench runtime
//! cargo bench -p spindle-benches --bench runtime -- spawn_many   # one group
//! cargo bench -p spindle-benches --bench runtime -- echo_round_trip
//! ```
//!
//! Each runtime is created once per benchmark, outside the measured loop;
//! one iteration is one `rt.block_on(..)` of the case.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

const SPAWN_MANY: usize = 10_000;
const YIELD_TASKS: usize = 200;
const YIELDS: usize = 200;
const CHAIN: usize = 1_000;
const TIMERS: usize = 10_000;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn spindle_rt() -> spindle::Runtime {
    spindle::Runtime::new().expect("spindle runtime")
}

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

fn spawn_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("spawn_many");
    configure(&mut group);

    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(SPAWN_MANY);
                for i in 0..SPAWN_MANY {
                    handles.push(spindle::spawn(async move { i }));
                }
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        })
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(SPAWN_MANY);
                for i in 0..SPAWN_MANY {
                    handles.push(tokio::spawn(async move { i }));
                }
                let mut sum = 0;
                for h in handles {
                    sum += h.await.unwrap();
                }
                sum
            })
        })
    });
    group.finish();
}

fn yield_many(c: &mut Criterion) {
    let mut group = c.benchmark_group("yield_many");
    configure(&mut group);

    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(YIELD_TASKS);
                for _ in 0..YIELD_TASKS {
                    handles.push(spindle::spawn(async {
                        for _ in 0..YIELDS {
                            spindle::yield_now().await;
                        }
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(YIELD_TASKS);
                for _ in 0..YIELD_TASKS {
                    handles.push(tokio::spawn(async {
                        for _ in 0..YIELDS {
                            tokio::task::yield_now().await;
                        }
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

type BoxFuture = Pin<Box<dyn Future<Output = usize> + Send>>;

/// Task `n` of the chain spawns task `n - 1` and awaits its handle; task 0
/// returns 0, and each task adds 1 on the way back up.
fn spindle_chain(n: usize) -> BoxFuture {
    Box::pin(async move {
        if n == 0 {
            0
        } else {
            spindle::spawn(spindle_chain(n - 1)).await.unwrap() + 1
        }
    })
}

/// The same chain on tokio (identical structure: a `JoinHandle` chain).
fn tokio_chain(n: usize) -> BoxFuture {
    Box::pin(async move {
        if n == 0 {
            0
        } else {
            tokio::spawn(tokio_chain(n - 1)).await.unwrap() + 1
        }
    })
}

fn chained_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("chained_spawn");
    configure(&mut group);

    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| {
            let depth = rt.block_on(async { spindle::spawn(spindle_chain(CHAIN - 1)).await });
            assert_eq!(depth.unwrap(), CHAIN - 1);
        })
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            let depth = rt.block_on(async { tokio::spawn(tokio_chain(CHAIN - 1)).await });
            assert_eq!(depth.unwrap(), CHAIN - 1);
        })
    });
    group.finish();
}

fn timers(c: &mut Criterion) {
    let mut group = c.benchmark_group("timers");
    configure(&mut group);

    let rt = spindle_rt();
    group.bench_function("spindle", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(TIMERS);
                for _ in 0..TIMERS {
                    handles.push(spindle::spawn(async {
                        spindle::time::sleep(Duration::from_millis(1)).await;
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    });

    let rt = tokio_rt();
    group.bench_function("tokio", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut handles = Vec::with_capacity(TIMERS);
                for _ in 0..TIMERS {
                    handles.push(tokio::spawn(async {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }));
                }
                for h in handles {
                    h.await.unwrap();
                }
            })
        })
    });
    group.finish();
}

const MSG: usize = 64;

/// One loopback connection to an echo task on the same runtime; one
/// iteration is a 64-byte write and the 64 bytes read back. The connection
/// is set up once; `iter_custom` runs a sample's iterations inside one
/// `block_on`, so the figure is the round trip, not `block_on`'s entry cost.
fn echo_round_trip(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_round_trip");
    configure(&mut group);

    {
        use spindle::io::{AsyncReadExt, AsyncWriteExt};
        let rt = spindle_rt();
        let mut client = rt.block_on(async {
            let listener = spindle::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            let addr = listener.local_addr().unwrap();
            spindle::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            let client = spindle::net::TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            client
        });
        group.bench_function("spindle", |b| {
            b.iter_custom(|iters| {
                let client = &mut client;
                rt.block_on(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.write_all(&msg).await.unwrap();
                        client.read_exact(&mut buf).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        drop(client);
    }

    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio_rt();
        let mut client = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                s.set_nodelay(true).unwrap();
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
            let client = tokio::net::TcpStream::connect(addr).await.unwrap();
            client.set_nodelay(true).unwrap();
            client
        });
        group.bench_function("tokio", |b| {
            b.iter_custom(|iters| {
                let client = &mut client;
                rt.block_on(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.write_all(&msg).await.unwrap();
                        client.read_exact(&mut buf).await.unwrap();
                    }
                    start.elapsed()
                })
            })
        });
        drop(client);
    }
    group.finish();
}

criterion_group!(
    benches,
    spawn_many,
    yield_many,
    chained_spawn,
    timers,
    echo_round_trip
);
criterion_main!(benches);
