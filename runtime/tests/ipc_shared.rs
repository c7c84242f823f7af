//! `ipc::Shared` and `ipc::SharedArray` across processes: forked children
//! write what the parent reads, updates from several processes at once all
//! count, and a process killed while it holds a value's lock holds up no
//! one.

mod fork_support;
mod support;

use std::time::{Duration, Instant};

use fork_support::{fork, Ended};
use spindle_runtime::ipc::{Event, Shared, SharedArray};
use support::bounded;

const CHILDREN: usize = 4;
const UPDATES: u64 = 20_000;

#[test]
fn child_writes_parent_reads() {
    bounded(30, || {
        let value = Shared::new(1u64).unwrap();
        let pair = Shared::new((7u32, -1.5f64)).unwrap();
        let array = SharedArray::<i32>::new(8).unwrap();
        assert_eq!(array.to_vec(), [0; 8], "a new array is zeroed");

        let child = fork(|| {
            if value.get() != 1 || pair.get() != (7, -1.5) {
                return 2;
            }
            value.set(42);
            pair.set((8, 2.5));
            for i in 0..array.len() {
                array.set(i, (i * i) as i32);
            }
            0
        });
        child.success();

        assert_eq!(value.get(), 42);
        assert_eq!(pair.get(), (8, 2.5));
        assert_eq!(array.to_vec(), [0, 1, 4, 9, 16, 25, 36, 49]);
        assert_eq!(array.get(3), 9);
        assert_eq!(format!("{value:?}"), "Shared { value: 42 }");
    });
}

#[test]
fn clones_share_the_value() {
    let a = Shared::new(5i64).unwrap();
    let b = a.clone();
    assert_eq!(b.update(|v| v * 3), 15);
    assert_eq!(a.get(), 15);

    let xs = SharedArray::<[u8; 3]>::new(2).unwrap();
    let ys = xs.clone();
    ys.set(1, [1, 2, 3]);
    assert_eq!(xs.get(1), [1, 2, 3]);
    assert_eq!(xs.update(1, |[a, b, c]| [c, b, a]), [3, 2, 1]);
    assert!(!xs.is_empty());
    assert!(SharedArray::<u8>::new(0).unwrap().is_empty());
}

#[test]
#[should_panic(expected = "out of bounds")]
fn array_index_out_of_bounds_panics() {
    let xs = SharedArray::<u16>::new(3).unwrap();
    xs.get(3);
}

#[test]
fn huge_array_is_an_error_not_a_crash() {
    let err = SharedArray::<u64>::new(usize::MAX / 4).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn updates_from_many_processes_sum_exactly() {
    bounded(60, || {
        let total = Shared::new(0u64).unwrap();
        let slots = SharedArray::<u64>::new(2).unwrap();
        let children: Vec<_> = (0..CHILDREN)
            .map(|_| {
                fork(|| {
                    for _ in 0..UPDATES {
                        total.update(|v| v + 1);
                        slots.update(1, |v| v + 2);
                    }
                    0
                })
            })
            .collect();
        // The parent takes part too.
        for _ in 0..UPDATES {
            total.update(|v| v + 1);
        }
        for child in children {
            child.success();
        }
        assert_eq!(total.get(), (CHILDREN as u64 + 1) * UPDATES);
        assert_eq!(slots.to_vec(), [0, 2 * CHILDREN as u64 * UPDATES]);
    });
}

/// A child SIGKILLed inside `update` (so holding the value's lock): the
/// parent's next access takes the lock over and returns promptly.
#[test]
fn killed_inside_update_holds_up_no_one() {
    bounded(30, || {
        let value = Shared::new(10u32).unwrap();
        let inside = Event::new().unwrap();
        let child = fork(|| {
            value.update(|_| {
                inside.set();
                loop {
                    // SAFETY: pause is async-signal-safe; SIGKILL ends it.
                    unsafe { libc::pause() };
                }
            });
            3
        });
        assert!(inside.blocking_wait_timeout(Duration::from_secs(10)));
        child.kill();
        // Not reaped yet: the owner is a zombie, which counts as dead.
        let start = Instant::now();
        assert_eq!(value.get(), 10);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "took {:?}",
            start.elapsed()
        );
        value.set(11);
        assert_eq!(value.get(), 11);
        assert_eq!(
            child.wait_for(Duration::from_secs(10)),
            Ended::Signaled(libc::SIGKILL)
        );
    });
}
