//! Uncontended lock + unlock of the process locks in `spindle::ipc`
//! (issue 15 asks for under 50 ns for `ipc::Mutex`), beside
//! `std::sync::Mutex` as a yardstick.
//!
//! ```text
//! cargo bench -p spindle-benches --bench ipc_lock
//! ```
//!
//! | case | one iteration |
//! |------|---------------|
//! | `ipc_mutex/blocking_lock` | `blocking_lock()`, drop the guard |
//! | `ipc_mutex/try_lock` | `try_lock()`, drop the guard |
//! | `ipc_mutex/lock_await` | `lock().await`, drop the guard, inside one `block_on` |
//! | `ipc_mutex/std_mutex` | `std::sync::Mutex<()>::lock()`, drop the guard |
//! | `ipc_semaphore/try_acquire` | `try_acquire()`, drop the permit |
//!
//! Nothing else touches the locks, so every case takes the fast path: one
//! compare-and-swap in shared memory to take, one swap to release.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use spindle::ipc::{Mutex, Semaphore};

fn ipc_mutex(c: &mut Criterion) {
    let mut group = c.benchmark_group("ipc_mutex");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));

    let lock = Mutex::new().expect("ipc::Mutex");
    group.bench_function("blocking_lock", |b| {
        b.iter(|| drop(black_box(lock.blocking_lock().expect("no owner died"))))
    });
    group.bench_function("try_lock", |b| {
        b.iter(|| drop(black_box(lock.try_lock().expect("free"))))
    });
    let rt = spindle::Runtime::new().expect("runtime");
    group.bench_function("lock_await", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    drop(black_box(lock.lock().await.expect("no owner died")));
                }
                start.elapsed()
            })
        })
    });
    let std_lock = std::sync::Mutex::new(());
    group.bench_function("std_mutex", |b| {
        b.iter(|| drop(black_box(std_lock.lock().unwrap())))
    });
    group.finish();

    let mut group = c.benchmark_group("ipc_semaphore");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let sem = Semaphore::new(4).expect("ipc::Semaphore");
    group.bench_function("try_acquire", |b| {
        b.iter(|| drop(black_box(sem.try_acquire().expect("a permit"))))
    });
    group.finish();
}

criterion_group!(benches, ipc_mutex);
criterion_main!(benches);
