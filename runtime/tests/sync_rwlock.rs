//! `sync::RwLock`: shared reads, exclusive writes, a queued writer is not
//! starved by later readers, and cancellation of readers and writers at
//! every point (queued, partly assigned, granted).

use std::sync::Arc;
use std::task::Poll;

use spindle_runtime::sync::{RwLock, RwLockWriteGuard};
use spindle_runtime::{block_on, spawn, yield_now, Runtime};

mod sync_support;
use sync_support::{counter, poll, wakes};

#[test]
fn readers_share_writers_exclude() {
    let mut lock = RwLock::new(1);
    {
        let r1 = lock.try_read().unwrap();
        let r2 = lock.try_read().unwrap();
        assert_eq!(*r1 + *r2, 2);
        assert!(lock.try_write().is_err());
    }
    {
        let mut w = lock.try_write().unwrap();
        *w = 5;
        assert!(lock.try_read().is_err());
        assert!(lock.try_write().is_err());
        assert_eq!(format!("{lock:?}"), "RwLock { data: <locked> }");
    }
    *lock.get_mut() += 1;
    assert_eq!(format!("{lock:?}"), "RwLock { data: 6 }");
    assert_eq!(lock.into_inner(), 6);
}

#[test]
fn queued_writer_is_not_starved_by_later_readers() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let ((cw, ww), (cr, wr)) = (counter(), counter());
    let mut w = Box::pin(lock.write());
    assert!(poll(w.as_mut(), &ww).is_pending());
    // A reader arriving after the writer queues behind it...
    assert!(lock.try_read().is_err());
    let mut r2 = Box::pin(lock.read());
    assert!(poll(r2.as_mut(), &wr).is_pending());
    // ...and the writer gets in as soon as the earlier reader leaves.
    drop(r1);
    assert_eq!((wakes(&cw), wakes(&cr)), (1, 0));
    let Poll::Ready(mut g) = poll(w.as_mut(), &ww) else {
        panic!("writer was handed the lock")
    };
    *g = 7;
    assert!(poll(r2.as_mut(), &wr).is_pending());
    drop(g);
    assert_eq!(wakes(&cr), 1);
    let Poll::Ready(r) = poll(r2.as_mut(), &wr) else {
        panic!("reader after the writer")
    };
    assert_eq!(*r, 7);
}

#[test]
fn writer_cancelled_with_partial_permits_lets_readers_behind_it_in() {
    let lock = RwLock::new(());
    let (r1, r2) = (lock.try_read().unwrap(), lock.try_read().unwrap());
    let ((_cw, ww), (cr, wr)) = (counter(), counter());
    let mut w = Box::pin(lock.write());
    assert!(poll(w.as_mut(), &ww).is_pending());
    drop(r1); // the writer now holds this read's permit, waiting for r2's
    let mut r3 = Box::pin(lock.read());
    assert!(poll(r3.as_mut(), &wr).is_pending());
    drop(w); // cancelled: its partial permits go to r3
    assert_eq!(wakes(&cr), 1);
    let Poll::Ready(g3) = poll(r3.as_mut(), &wr) else {
        panic!("reader behind a cancelled writer")
    };
    drop((g3, r2));
    assert!(lock.try_write().is_ok());
}

#[test]
fn granted_writer_dropped_before_running_releases_all_readers_behind_it() {
    let lock = RwLock::new(());
    let w0 = lock.try_write().unwrap();
    let (cw, ww) = counter();
    let mut w = Box::pin(lock.write());
    assert!(poll(w.as_mut(), &ww).is_pending());
    let readers: Vec<_> = (0..3).map(|_| counter()).collect();
    let mut rs: Vec<_> = readers.iter().map(|_| Box::pin(lock.read())).collect();
    for (r, (_, wk)) in rs.iter_mut().zip(&readers) {
        assert!(poll(r.as_mut(), wk).is_pending());
    }
    let (cw2, ww2) = counter();
    let mut w2 = Box::pin(lock.write());
    assert!(poll(w2.as_mut(), &ww2).is_pending());
    drop(w0);
    assert_eq!(wakes(&cw), 1);
    drop(w); // granted, dropped unobserved: the three readers get in, not w2
    assert!(readers.iter().all(|(c, _)| wakes(c) == 1));
    assert_eq!(wakes(&cw2), 0);
    let guards: Vec<_> = rs
        .iter_mut()
        .zip(&readers)
        .map(|(r, (_, wk))| match poll(r.as_mut(), wk) {
            Poll::Ready(g) => g,
            Poll::Pending => panic!("reader was granted"),
        })
        .collect();
    assert!(poll(w2.as_mut(), &ww2).is_pending());
    drop(guards);
    assert_eq!(wakes(&cw2), 1);
    assert!(poll(w2.as_mut(), &ww2).is_ready());
}

#[test]
fn downgrade_keeps_writers_out_and_lets_readers_in() {
    let lock = RwLock::new(1);
    let mut w = lock.try_write().unwrap();
    let ((cr, wr), (cw, ww)) = (counter(), counter());
    let mut r = Box::pin(lock.read());
    let mut w2 = Box::pin(lock.write());
    assert!(poll(r.as_mut(), &wr).is_pending());
    assert!(poll(w2.as_mut(), &ww).is_pending());
    *w = 2;
    let d = RwLockWriteGuard::downgrade(w);
    assert_eq!((wakes(&cr), wakes(&cw)), (1, 0));
    let Poll::Ready(r) = poll(r.as_mut(), &wr) else {
        panic!("reader after downgrade")
    };
    assert_eq!(*r + *d, 4);
    drop(d);
    assert_eq!(wakes(&cw), 0);
    drop(r);
    assert_eq!(wakes(&cw), 1);
    assert!(poll(w2.as_mut(), &ww).is_ready());
}

#[test]
fn tasks_and_threads_keep_the_invariant() {
    // Writers keep the two halves equal; readers check it, across four
    // runtimes on four threads and a plain thread using blocking calls.
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let mut threads: Vec<_> = (0..4)
        .map(|_| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                Runtime::new().unwrap().block_on(async move {
                    let tasks: Vec<_> = (0..4)
                        .map(|i| {
                            let lock = lock.clone();
                            spawn(async move {
                                for n in 0..500 {
                                    if (n + i) % 4 == 0 {
                                        let mut w = lock.write().await;
                                        w.0 += 1;
                                        yield_now().await;
                                        w.1 += 1;
                                    } else {
                                        let r = lock.read().await;
                                        assert_eq!(r.0, r.1);
                                    }
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        })
        .collect();
    let plain = lock.clone();
    threads.push(std::thread::spawn(move || {
        for _ in 0..500 {
            let mut w = plain.blocking_write();
            w.0 += 1;
            w.1 += 1;
            drop(w);
            let r = plain.blocking_read();
            assert_eq!(r.0, r.1);
        }
    }));
    for t in threads {
        t.join().unwrap();
    }
    // 4 runtimes x 4 tasks x 125 writes, plus 500 from the plain thread.
    assert_eq!(*block_on(lock.read()), (2500, 2500));
}
